"""The OTLP settings of each signal, checked as the OpenTelemetry exporters will read them.

The exporters parse their ``OTEL_EXPORTER_OTLP_*`` variables when they are built and misread
bad values quietly or late: a header item without ``=`` is logged, value and all, then dropped;
an unknown compression raises out of the gRPC exporter (and so does ``none``, the documented
value) while the HTTP one falls back to none; ``INSECURE=maybe`` means false; a timeout of
``abc`` raises or falls back, ``0`` or ``nan`` expire every export; an endpoint with an
impossible port fails every export; an unknown metrics temporality or histogram aggregation
is logged and replaced by the default. Each becomes a ``ConfigurationError`` at configure() here.

Timeout and compression are resolved here and always handed to the exporter explicitly (the
gRPC exporter raises on an empty compression or timeout variable it would otherwise read); the
endpoint, headers and insecure flag are left to the exporter's own reading, which these checks
make safe.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from opentelemetry.util.re import parse_env_headers

from otel_trading._otel_compat import HEADER_DELIMITER, LIBERAL_HEADER
from otel_trading.config._parse import MAX_SECONDS, ConfigurationError, env, parse_number
from otel_trading.redaction import Redactor

if TYPE_CHECKING:
    from otel_trading.config._settings import OtlpSettings, Signal

COMPRESSIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "grpc": ("gzip", "none"),  # the gRPC exporter reads no other (grpc's deflate is not offered)
    "http/protobuf": ("deflate", "gzip", "none"),
}
MIN_TIMEOUT_S: Final = 0.001
DEFAULT_TIMEOUT_S: Final = 10.0  # the OTLP exporters' own default
_HOST_NAME = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.\-]*[A-Za-z0-9_.])?")
_PORT = re.compile(r"[0-9]{1,5}")
# What the OTLP metric exporters accept (temporality: any case, spaces around; aggregation: exactly).
TEMPORALITY_PREFERENCES: Final = ("cumulative", "delta", "lowmemory")
HISTOGRAM_AGGREGATIONS: Final = ("explicit_bucket_histogram", "base2_exponential_bucket_histogram")
_URL_SCRUBBER = Redactor()  # an endpoint may carry user:password@ or a token in its query


def check_endpoint(value: str, source: str, protocol: str) -> None:
    """ConfigurationError unless ``value`` is an endpoint the ``protocol`` exporter can send to.

    Both take ``http://`` and ``https://`` URLs; gRPC also a bare ``host:port`` (TLS unless
    insecure). Credentials in the URL are never shown in the error.
    """
    has_scheme = "://" in value
    forms = "http://host:port or https://host:port" + (", or host:port for grpc" if protocol == "grpc" else "")

    def fail(problem: str) -> ConfigurationError:
        return ConfigurationError(f"{source}: {_URL_SCRUBBER.scrub_text(value)!r}: {problem}; expected {forms}")

    if not has_scheme and protocol != "grpc":
        raise fail(f"no http:// or https:// scheme (OTLP {protocol})")
    try:
        parts = urlsplit(value if has_scheme else f"//{value}")
    except ValueError:
        raise fail("not a URL") from None
    if has_scheme and parts.scheme.lower() not in ("http", "https"):
        raise fail(f"scheme {parts.scheme!r} is not http or https")
    host_port = parts.netloc.rpartition("@")[2]
    host = parts.hostname
    if not host:
        raise fail("no host")
    after_host = host_port.rpartition("]")[2] if host_port.startswith("[") else host_port
    if ":" in after_host:
        port = after_host.partition(":")[2]
        if not _PORT.fullmatch(port) or not 1 <= int(port) <= 65535:
            raise fail(f"port {port!r} is not a number from 1 to 65535")
    if not _is_host(host):
        raise fail(f"host {host!r} is not a host name or IP address")


def _is_host(host: str) -> bool:
    if ":" not in host:
        return bool(_HOST_NAME.fullmatch(host))
    try:
        ipaddress.IPv6Address(host.partition("%")[0])  # an optional %zone follows a link-local address
    except ValueError:
        return False
    return True


def parse_headers(value: str, source: str) -> dict[str, str]:
    """The headers in an ``OTEL_EXPORTER_OTLP_*HEADERS`` value, exactly as the exporters parse them.

    An item the exporters would log (value included) and drop is a ConfigurationError that
    names its position only: a header value is usually a credential.
    """
    items = [item for item in HEADER_DELIMITER.split(value) if item]
    for index, item in enumerate(items, start=1):
        if not LIBERAL_HEADER.fullmatch(item.strip()):
            raise ConfigurationError(
                f"{source}: item {index} is not of the form name=value (a header name, '=', then the value; "
                "percent-encode commas in values)"
            )
    return dict(parse_env_headers(value, liberal=True))


def header_names(value: str) -> list[str | None]:
    """The name of each item of a headers value as written; None for a malformed item (never shown:
    it may be a credential without its name)."""
    names: list[str | None] = []
    for item in (item for item in HEADER_DELIMITER.split(value) if item):
        valid = LIBERAL_HEADER.fullmatch(item.strip())
        names.append(item.partition("=")[0].strip() if valid else None)
    return names


def _check_insecure(value: str, source: str) -> None:
    # The exporters take "true" (any case) as true and anything else as false: "1" or "yes"
    # would silently mean TLS, so only the two words are accepted.
    if value.lower() not in ("true", "false"):
        raise ConfigurationError(f"{source}: expected true or false, got {value!r}")


def _check_metric_preferences(environ: Mapping[str, str]) -> None:
    temporality = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE"
    value = env(temporality, environ)
    if value is not None and value.lower() not in TEMPORALITY_PREFERENCES:
        raise ConfigurationError(
            f"{temporality}: expected one of {', '.join(TEMPORALITY_PREFERENCES)} (any case), got {value!r}")
    aggregation = "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION"
    value = environ.get(aggregation)
    if value and value not in HISTOGRAM_AGGREGATIONS:
        raise ConfigurationError(
            f"{aggregation}: expected {' or '.join(HISTOGRAM_AGGREGATIONS)} exactly (lower case, no spaces), "
            f"got {value!r}")


def _compression(value: str, source: str, protocol: str) -> str:
    lowered = value.strip().lower()
    allowed = COMPRESSIONS[protocol]
    if lowered not in allowed:
        raise ConfigurationError(f"{source}: expected one of {', '.join(allowed)} for OTLP {protocol}, got {value!r}")
    return lowered


def _timeout(value: object, source: str) -> float:
    return parse_number(value, source, minimum=MIN_TIMEOUT_S, maximum=MAX_SECONDS, unit="s")


def check_arguments(explicit: OtlpSettings, protocol: str) -> OtlpSettings:
    """The otlp_* arguments checked for ``protocol`` (whether or not a signal exports with OTLP)."""
    if explicit.endpoint:
        check_endpoint(explicit.endpoint, "otlp_endpoint", protocol)
    compression = explicit.compression
    if compression is not None:
        compression = _compression(compression, "otlp_compression", protocol)
    timeout = None if explicit.timeout_s is None else _timeout(explicit.timeout_s, "otlp_timeout")
    return dataclasses.replace(explicit, protocol=protocol, compression=compression, timeout_s=timeout)


def resolve_signal(signal: Signal, checked: OtlpSettings, environ: Mapping[str, str]) -> OtlpSettings:
    """The settings of a signal exported with OTLP: every variable that applies to it checked, the
    timeout and compression resolved (argument, then the signal's variable, then the generic one,
    then the exporters' defaults)."""
    protocol = checked.protocol or "grpc"
    signal_timeout = f"OTEL_EXPORTER_OTLP_{signal.upper()}_TIMEOUT"
    if protocol == "grpc" and signal_timeout in environ and env(signal_timeout, environ) is None:
        # The gRPC exporter converts this one with float() whatever else is given.
        raise ConfigurationError(
            f"{signal_timeout}: set but empty, which the gRPC exporter cannot read; unset it or give seconds "
            f"from {MIN_TIMEOUT_S} to {MAX_SECONDS:g}"
        )

    def variables(setting: str) -> list[tuple[str, str]]:
        """The set ones of the signal's variable and the generic one, in precedence order."""
        names = (f"OTEL_EXPORTER_OTLP_{signal.upper()}_{setting}", f"OTEL_EXPORTER_OTLP_{setting}")
        return [(name, value) for name in names if (value := env(name, environ)) is not None]

    for name in (f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"):
        raw = environ.get(name, "")
        if raw != raw.strip():
            # The exporters use the value as it is: " " or "http://collector:4317 " is sent to as such.
            raise ConfigurationError(f"{name}: has spaces around it, which the OTLP exporter would keep; remove them")
    for name, value in variables("ENDPOINT"):
        check_endpoint(value, name, protocol)
    for name, value in variables("HEADERS"):
        parse_headers(value, name)
    for name, value in variables("INSECURE"):
        _check_insecure(value, name)
    if signal == "metrics":
        _check_metric_preferences(environ)
    timeouts = [_timeout(value, name) for name, value in variables("TIMEOUT")]
    compressions = [_compression(value, name, protocol) for name, value in variables("COMPRESSION")]
    return dataclasses.replace(
        checked,
        timeout_s=next(t for t in (checked.timeout_s, *timeouts, DEFAULT_TIMEOUT_S) if t is not None),
        compression=next(c for c in (checked.compression, *compressions, "none") if c is not None),
    )
