"""Resolution of configure() arguments and the standard OTEL_* environment.

Explicit arguments win over the environment, the environment wins over defaults. Every
invalid value raises ``ConfigurationError`` naming the argument or variable and what was
expected.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, TypedDict

from otel_trading.config._entry_points import EXPORTER_GROUPS, load_exporter, registered_names
from otel_trading.config._otlp_env import check_arguments, resolve_signal
from otel_trading.config._parse import MAX_SECONDS

# "x as x": re-exported for the modules that import them from here (mypy --strict needs the form).
from otel_trading.config._parse import ConfigurationError as ConfigurationError  # noqa: PLC0414
from otel_trading.config._parse import env as env  # noqa: PLC0414
from otel_trading.config._parse import parse_bool as parse_bool  # noqa: PLC0414
from otel_trading.config._parse import parse_key_values as parse_key_values  # noqa: PLC0414
from otel_trading.config._parse import parse_number as parse_number  # noqa: PLC0414
from otel_trading.export._local_store import DEFAULT_MAX_FILE_BYTES, DEFAULT_MAX_TOTAL_BYTES, unusable_store_dir
from otel_trading.instrumentation._registry import INSTRUMENTATIONS
from otel_trading.redaction import MIN_SECRET_LENGTH

Signal = Literal["traces", "metrics", "logs"]
SIGNALS: Final[tuple[Signal, ...]] = ("traces", "metrics", "logs")
EXPORTERS: Final[Mapping[Signal, frozenset[str]]] = {
    "traces": frozenset({"otlp", "console", "local", "none"}),
    "metrics": frozenset({"otlp", "console", "prometheus", "local", "none"}),
    "logs": frozenset({"otlp", "console", "local", "none"}),
}
PROTOCOLS: Final = frozenset({"grpc", "http/protobuf"})
LOG_CONSOLE_MODES: Final = frozenset({"json", "pretty", "off"})
LOG_LEVELS: Final = ("debug", "info", "warning", "error", "critical")
# OTEL_LOG_LEVEL names the specification's levels; "warn" is its spelling of warning.
SDK_LOG_LEVELS: Final = {"debug": logging.DEBUG, "info": logging.INFO, "warn": logging.WARNING,
                         "warning": logging.WARNING, "error": logging.ERROR, "critical": logging.CRITICAL}
DEFAULT_ATTRIBUTE_LENGTH: Final = 4096
_LOG = logging.getLogger("otel_trading")


class ConfigureOptions(TypedDict, total=False):
    """The keyword arguments of :func:`otel_trading.configure` (all optional).

    docs/configuration.md lists each with its environment variable and default.
    """

    enabled: bool
    service_name: str
    service_version: str
    environment: str
    resource_attributes: Mapping[str, str]
    traces_exporter: str | Sequence[str]
    metrics_exporter: str | Sequence[str]
    logs_exporter: str | Sequence[str]
    otlp_endpoint: str
    otlp_protocol: Literal["grpc", "http/protobuf"]
    otlp_headers: Mapping[str, str]
    otlp_timeout: float
    otlp_compression: Literal["gzip", "deflate", "none"]
    otlp_insecure: bool
    otlp_certificate_file: str
    sampler: str
    sampler_arg: str
    prometheus_host: str
    prometheus_port: int
    store_dir: str | os.PathLike[str]
    store_max_file_bytes: int
    store_max_total_bytes: int
    log_console: Literal["json", "pretty", "off"]
    log_level: str
    capture_stdlib_logging: bool
    redact_key_patterns: Sequence[str]
    redact_value_patterns: Sequence[str]
    secrets: Sequence[str]
    max_queue_size: int
    max_export_batch_size: int
    schedule_delay: float
    export_timeout: float
    metric_export_interval: float
    shutdown_timeout: float
    max_attribute_length: int | None
    install_signal_handlers: bool
    system_metrics: bool
    instrument: Sequence[str]
    console: bool
    console_host: str
    console_port: int


@dataclass(frozen=True)
class OtlpSettings:
    """Explicit OTLP settings; None fields are left to the exporter's own OTEL_* env handling."""

    endpoint: str | None = None
    protocol: str | None = None
    headers: Mapping[str, str] | None = None
    timeout_s: float | None = None
    compression: str | None = None
    insecure: bool | None = None
    certificate_file: str | None = None


@dataclass(frozen=True)
class BatchSettings:
    """The export queue of one signal (``OTEL_BSP_*`` for spans, ``OTEL_BLRP_*`` for log records)."""

    max_queue_size: int
    max_export_batch_size: int
    schedule_delay_s: float
    export_timeout_s: float


@dataclass(frozen=True)
class Settings:
    enabled: bool
    service_name: str
    service_version: str | None
    environment: str | None
    resource_attributes: Mapping[str, str]
    exporters: Mapping[Signal, tuple[str, ...]]
    otlp: Mapping[Signal, OtlpSettings]
    sampler: str | None
    sampler_arg: str | None
    prometheus_host: str
    prometheus_port: int
    store_dir: Path
    store_max_file_bytes: int
    store_max_total_bytes: int
    log_console: str
    log_level: str
    # OTEL_LOG_LEVEL: the level of the OpenTelemetry SDK's own loggers; None leaves them alone.
    sdk_log_level: str | None
    capture_stdlib_logging: bool
    redact_key_patterns: tuple[str, ...]
    redact_value_patterns: tuple[str, ...]
    # Kept out of repr(): the values themselves are the secrets.
    secrets: tuple[str, ...] = field(repr=False)
    span_batch: BatchSettings
    log_batch: BatchSettings
    metric_export_interval_s: float
    shutdown_timeout_s: float
    # Longest string attribute value of spans and of log records; None: no limit.
    span_attribute_length: int | None
    log_attribute_length: int | None
    install_signal_handlers: bool
    system_metrics: bool
    instrument: tuple[str, ...]
    # The live web console (otel_trading.console) served from inside the bot.
    console: bool = False
    console_host: str = "127.0.0.1"
    console_port: int = 9466


def _exporter_list(
    signal: Signal, explicit: str | Sequence[str] | None, environ: Mapping[str, str], otlp_configured: bool
) -> tuple[str, ...]:
    source = f"{signal}_exporter"
    raw: str | Sequence[str] | None = explicit
    if raw is None:
        raw = env(f"OTEL_{signal.upper()}_EXPORTER", environ)
        source = f"OTEL_{signal.upper()}_EXPORTER"
    if raw is None:
        if otlp_configured:
            return ("otlp",)
        return ("prometheus",) if signal == "metrics" else ("local",)
    names = [n.strip().lower() for n in (raw.split(",") if isinstance(raw, str) else raw) if n.strip()]
    ours = EXPORTERS[signal]
    for name in names:
        if name in ours:
            continue
        registered = registered_names(EXPORTER_GROUPS[signal])
        if name not in registered:
            raise ConfigurationError(
                f"{source}: unknown exporter {name!r}; expected one of {sorted(ours | registered)}"
            )
        load_exporter(signal, name, source)  # imported now: a broken plugin fails configure(), not an export
    if "none" in names and len(names) > 1:
        raise ConfigurationError(f"{source}: 'none' cannot be combined with other exporters")
    return tuple(n for n in names if n != "none")


def otlp_endpoint_configured(signal: Signal, args: OtlpSettings, environ: Mapping[str, str]) -> bool:
    return bool(
        args.endpoint
        or env(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT", environ)
        or env("OTEL_EXPORTER_OTLP_ENDPOINT", environ)
    )


def default_service_name() -> str:
    script = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] not in ("", "-c", "-m") else ""
    return script or "trading-bot"


def _pick(options: ConfigureOptions, key: str, environ: Mapping[str, str], *env_names: str) -> tuple[object, str]:
    """The explicit option, else the first set environment variable; with its source name."""
    if key in options:
        return options[key], key  # type: ignore[literal-required]  # keys are ConfigureOptions fields
    for name in env_names:
        value = env(name, environ)
        if value is not None:
            return value, name
    return None, key


def _number(options: ConfigureOptions, key: str, environ: Mapping[str, str], default: float,
            *env_names: str, minimum: float = 0, maximum: float | None = None, integer: bool = False,
            scale: float = 1, unit: str = "") -> float:
    """The argument, else the first set variable, else ``default``; bounds are in the argument's unit."""
    value, source = _pick(options, key, environ, *env_names)
    if value is None:
        return default
    if source == key:
        return parse_number(value, source, minimum=minimum, maximum=maximum, integer=integer, unit=unit)
    # OTEL_BSP_SCHEDULE_DELAY and OTEL_METRIC_EXPORT_INTERVAL are milliseconds; our arguments are
    # seconds. The message states the range in the variable's own unit.
    number = parse_number(value, source, minimum=minimum * scale, integer=integer,
                          maximum=None if maximum is None else maximum * scale, unit="ms" if scale == 1000 else unit)
    return number / scale


def _duration(options: ConfigureOptions, key: str, environ: Mapping[str, str], default: float, env_name: str,
              *, minimum: float, scale: float = 1) -> float:
    """A setting in seconds: finite, from ``minimum`` to MAX_SECONDS."""
    return _number(options, key, environ, default, env_name, minimum=minimum, maximum=MAX_SECONDS, scale=scale,
                   unit="s")


def _host(options: ConfigureOptions, key: str, environ: Mapping[str, str], *env_names: str) -> str:
    """An address to listen on (default loopback); empty or not text is an error naming its source."""
    value, source = _pick(options, key, environ, *env_names)
    if value is None:
        return "127.0.0.1"
    if not isinstance(value, str) or not value.strip() or any(c.isspace() or c in "/?#@" for c in value.strip()):
        raise ConfigurationError(f"{source}: expected an address such as 127.0.0.1 or localhost, got {value!r}")
    return value.strip()


def _flag(options: ConfigureOptions, key: str, environ: Mapping[str, str], default: bool, *env_names: str) -> bool:
    value, source = _pick(options, key, environ, *env_names)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return parse_bool(str(value), source)


def _resolve_signals(
    options: ConfigureOptions, environ: Mapping[str, str]
) -> tuple[dict[Signal, OtlpSettings], dict[Signal, tuple[str, ...]]]:
    """OTLP settings and the exporter list of each signal."""
    headers = options.get("otlp_headers")
    explicit = OtlpSettings(
        endpoint=options.get("otlp_endpoint"),
        headers=dict(headers) if headers is not None else None,
        timeout_s=options.get("otlp_timeout"),  # checked with the rest by check_arguments()
        compression=options.get("otlp_compression"),
        insecure=options.get("otlp_insecure"),
        certificate_file=options.get("otlp_certificate_file"),
    )
    otlp: dict[Signal, OtlpSettings] = {}
    exporters: dict[Signal, tuple[str, ...]] = {}
    for signal in SIGNALS:
        raw_protocol, source = _pick(
            options, "otlp_protocol", environ,
            f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL",
        )
        protocol = str(raw_protocol or "grpc")
        if protocol not in PROTOCOLS:
            raise ConfigurationError(
                f"{source} (OTLP protocol for {signal}): expected one of {sorted(PROTOCOLS)}, got {protocol!r}"
            )
        checked = check_arguments(explicit, protocol)
        configured = otlp_endpoint_configured(signal, checked, environ)
        exporters[signal] = _exporter_list(
            signal, options.get(f"{signal}_exporter"), environ, configured  # type: ignore[arg-type]
        )
        # The OTLP variables of a signal exported otherwise are not read by anything: not checked.
        otlp[signal] = resolve_signal(signal, checked, environ) if "otlp" in exporters[signal] else checked
    metrics_by_default = options.get("metrics_exporter") is None and env("OTEL_METRICS_EXPORTER", environ) is None
    if metrics_by_default and ("local" in exporters["traces"] or "local" in exporters["logs"]):
        # A store with traces or logs keeps the metrics too: charts with history across restarts,
        # and a store that replays all three signals into a Collector.
        exporters["metrics"] = (*exporters["metrics"], "local")
    return otlp, exporters


def _store_dir(options: ConfigureOptions, environ: Mapping[str, str], *, uses_store: bool) -> Path:
    """The local store directory; when a local exporter will write there, checked to be (or to be
    creatable as) a writable directory now, rather than failing on every batch later."""
    raw, source = _pick(options, "store_dir", environ, "OTEL_TRADING_STORE_DIR")
    try:
        directory = Path(os.fspath(raw or ".otel-trading"))  # type: ignore[call-overload]
    except TypeError:
        raise ConfigurationError(f"{source}: expected a directory path, got {raw!r}") from None
    problem = unusable_store_dir(directory) if uses_store else None
    if problem is not None:
        raise ConfigurationError(f"{source}: {problem}; expected a writable directory (created if missing)")
    return directory


def _instrumentations(options: ConfigureOptions, environ: Mapping[str, str]) -> tuple[str, ...]:
    """Names of the libraries to instrument: known, installed, each once, in the order given."""
    raw, source = _pick(options, "instrument", environ, "OTEL_TRADING_INSTRUMENT")
    if raw is None:
        return ()
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) for item in items):
        raise ConfigurationError(f"{source}: expected a list of library names such as ['ccxt'], got {raw!r}")
    names = tuple(dict.fromkeys(item.strip().lower() for item in items if item.strip()))
    for name in names:
        known = INSTRUMENTATIONS.get(name)
        if known is None:
            raise ConfigurationError(
                f"{source}: unknown instrumentation {name!r}; expected one of {sorted(INSTRUMENTATIONS)}"
            )
        problem = known.unavailable()
        if problem is not None:
            raise ConfigurationError(f"{source}: instrumenting {name!r} {problem}")
    return names


def _secrets(options: ConfigureOptions) -> tuple[str, ...]:
    """The literal secret values to scrub, checked without ever echoing one in an error."""
    raw = options.get("secrets", ())
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence):
        raise ConfigurationError(f"secrets: expected a list of strings, got a {type(raw).__name__}")
    for index, value in enumerate(raw):
        if not isinstance(value, str):
            raise ConfigurationError(f"secrets[{index}]: expected a string, got a {type(value).__name__}")
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigurationError(
                f"secrets[{index}]: expected at least {MIN_SECRET_LENGTH} characters, got {len(value)} "
                "(a shorter value would cut ordinary words out of every message)"
            )
    return tuple(raw)


def _sdk_disabled(environ: Mapping[str, str]) -> bool:
    """OTEL_SDK_DISABLED as the SDK's providers read it: only ``true`` (any case) disables."""
    raw = env("OTEL_SDK_DISABLED", environ)
    if raw is None or raw.lower() == "false":
        return False
    if raw.lower() == "true":
        return True
    _LOG.warning("OTEL_SDK_DISABLED=%r is neither true nor false: telemetry stays enabled, "
                 "as the OpenTelemetry SDK reads it", raw)
    return False


def _sdk_log_level(environ: Mapping[str, str]) -> str | None:
    raw = env("OTEL_LOG_LEVEL", environ)
    if raw is None:
        return None
    if raw.lower() not in SDK_LOG_LEVELS:
        raise ConfigurationError(
            f"OTEL_LOG_LEVEL (level of the OpenTelemetry SDK's own logs): expected one of "
            f"{list(SDK_LOG_LEVELS)}, got {raw!r}"
        )
    return raw.lower()


def _batch(options: ConfigureOptions, environ: Mapping[str, str], prefix: str) -> BatchSettings:
    """One signal's export queue: the argument, else ``{prefix}_*`` (milliseconds), else our default."""
    queue = int(_number(options, "max_queue_size", environ, 262_144, f"{prefix}_MAX_QUEUE_SIZE",
                        minimum=1, integer=True))
    batch = int(_number(options, "max_export_batch_size", environ, 512, f"{prefix}_MAX_EXPORT_BATCH_SIZE",
                        minimum=1, integer=True))
    if batch > queue:
        raise ConfigurationError(f"max_export_batch_size ({batch}) must not exceed max_queue_size ({queue}) "
                                 f"(or {prefix}_MAX_EXPORT_BATCH_SIZE, {prefix}_MAX_QUEUE_SIZE)")
    return BatchSettings(
        max_queue_size=queue,
        max_export_batch_size=batch,
        # At least 1 ms: a zero delay would make the exporter threads spin on an idle bot.
        schedule_delay_s=_duration(options, "schedule_delay", environ, 1.0, f"{prefix}_SCHEDULE_DELAY",
                                   minimum=0.001, scale=1000),
        export_timeout_s=_duration(options, "export_timeout", environ, 30.0, f"{prefix}_EXPORT_TIMEOUT",
                                   minimum=0.001, scale=1000),
    )


def _attribute_length(options: ConfigureOptions, environ: Mapping[str, str], specific: str) -> int | None:
    """The argument (None: no limit), else the signal's variable, else the generic one, else our default."""
    if "max_attribute_length" in options and options["max_attribute_length"] is None:
        return None
    return int(_number(options, "max_attribute_length", environ, DEFAULT_ATTRIBUTE_LENGTH, specific,
                       "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", minimum=1, integer=True))


def resolve_settings(options: ConfigureOptions, environ: Mapping[str, str] | None = None) -> Settings:
    environ = os.environ if environ is None else environ
    unknown = set(options) - set(ConfigureOptions.__annotations__)
    if unknown:
        raise ConfigurationError(
            f"configure(): unknown argument(s) {sorted(unknown)}; see docs/configuration.md"
        )
    enabled = not _sdk_disabled(environ)
    if "enabled" in options:
        enabled = bool(options["enabled"])

    resource_attributes: dict[str, str] = {}
    raw_resource = env("OTEL_RESOURCE_ATTRIBUTES", environ)
    if raw_resource:
        resource_attributes.update(parse_key_values(raw_resource, "OTEL_RESOURCE_ATTRIBUTES"))
    resource_attributes.update({str(k): str(v) for k, v in options.get("resource_attributes", {}).items()})
    service_name = (
        options.get("service_name")
        or env("OTEL_SERVICE_NAME", environ)
        or resource_attributes.get("service.name")
        or default_service_name()
    )

    otlp, exporters = _resolve_signals(options, environ)

    raw_console, source = _pick(options, "log_console", environ, "OTEL_TRADING_LOG_CONSOLE")
    log_console = str(raw_console or "json").lower()
    if log_console not in LOG_CONSOLE_MODES:
        raise ConfigurationError(f"{source}: expected one of {sorted(LOG_CONSOLE_MODES)}, got {log_console!r}")
    raw_level, source = _pick(options, "log_level", environ, "OTEL_TRADING_LOG_LEVEL")
    log_level = str(raw_level or "info")
    if log_level.lower() not in LOG_LEVELS:
        raise ConfigurationError(f"{source}: expected one of {list(LOG_LEVELS)}, got {log_level!r}")

    store_dir = _store_dir(options, environ, uses_store=enabled and any("local" in exporters[s] for s in SIGNALS))
    sampler, _ = _pick(options, "sampler", environ, "OTEL_TRACES_SAMPLER")
    sampler_arg, _ = _pick(options, "sampler_arg", environ, "OTEL_TRACES_SAMPLER_ARG")
    max_file = int(_number(options, "store_max_file_bytes", environ, DEFAULT_MAX_FILE_BYTES,
                           "OTEL_TRADING_STORE_MAX_FILE_BYTES", minimum=1024, integer=True))
    max_total = int(_number(options, "store_max_total_bytes", environ, max(DEFAULT_MAX_TOTAL_BYTES, max_file),
                            "OTEL_TRADING_STORE_MAX_TOTAL_BYTES", minimum=1024, integer=True))
    if max_total < max_file:
        raise ConfigurationError(
            f"store_max_total_bytes ({max_total}) must be at least store_max_file_bytes ({max_file})"
        )
    port = int(_number(options, "prometheus_port", environ, 9464, "OTEL_EXPORTER_PROMETHEUS_PORT",
                       maximum=65535, integer=True))
    if any(name in ("otlp", "console", "local") for name in exporters["metrics"]):
        # Read by the SDK's periodic metric reader itself, which takes nan, inf or -1 silently.
        _duration({}, "metric_export_timeout", environ, 30.0, "OTEL_METRIC_EXPORT_TIMEOUT", minimum=0.001, scale=1000)
    return Settings(
        enabled=enabled,
        service_name=service_name,
        service_version=options.get("service_version") or resource_attributes.get("service.version"),
        environment=(
            options.get("environment")
            or env("OTEL_TRADING_ENVIRONMENT", environ)
            or resource_attributes.get("deployment.environment.name")
        ),
        resource_attributes=resource_attributes,
        exporters=exporters,
        otlp=otlp,
        sampler=str(sampler) if sampler is not None else None,
        sampler_arg=str(sampler_arg) if sampler_arg is not None else None,
        prometheus_host=str(
            _pick(options, "prometheus_host", environ, "OTEL_EXPORTER_PROMETHEUS_HOST")[0] or "127.0.0.1"
        ),
        prometheus_port=port,
        store_dir=store_dir,
        store_max_file_bytes=max_file,
        store_max_total_bytes=max_total,
        log_console=log_console,
        log_level=log_level.lower(),
        sdk_log_level=_sdk_log_level(environ),
        capture_stdlib_logging=_flag(options, "capture_stdlib_logging", environ, True,
                                     "OTEL_TRADING_CAPTURE_STDLIB_LOGGING"),
        redact_key_patterns=tuple(options.get("redact_key_patterns", ())),
        redact_value_patterns=tuple(options.get("redact_value_patterns", ())),
        secrets=_secrets(options),
        span_batch=_batch(options, environ, "OTEL_BSP"),
        log_batch=_batch(options, environ, "OTEL_BLRP"),
        metric_export_interval_s=_duration(options, "metric_export_interval", environ, 15.0,
                                           "OTEL_METRIC_EXPORT_INTERVAL", minimum=0.01, scale=1000),
        shutdown_timeout_s=_duration(options, "shutdown_timeout", environ, 5.0, "OTEL_TRADING_SHUTDOWN_TIMEOUT",
                                     minimum=0),
        span_attribute_length=_attribute_length(options, environ, "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT"),
        log_attribute_length=_attribute_length(options, environ, "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT"),
        install_signal_handlers=_flag(options, "install_signal_handlers", environ, True),
        system_metrics=_flag(options, "system_metrics", environ, True, "OTEL_TRADING_SYSTEM_METRICS"),
        instrument=_instrumentations(options, environ),
        console=_flag(options, "console", environ, False, "OTEL_TRADING_CONSOLE"),
        console_host=_host(options, "console_host", environ, "OTEL_TRADING_CONSOLE_HOST"),
        console_port=int(_number(options, "console_port", environ, 9466, "OTEL_TRADING_CONSOLE_PORT",
                                 maximum=65535, integer=True)),
    )
