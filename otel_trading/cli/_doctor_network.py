"""``otel-trading doctor``: reachability of the OTLP endpoints and the state of the Prometheus port.

Every probe has a short timeout (``NETWORK_TIMEOUT_S`` per step, at most 2 s per check) and
the checks run in parallel, so the doctor never hangs on a collector that does not answer.
URLs are shown through the redactor (no userinfo) and header values are never shown.
"""

from __future__ import annotations

import errno
import http.client
import socket
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from otel_trading.cli._doctor_checks import CheckResult, Status
from otel_trading.config._settings import (
    SIGNALS,
    ConfigurationError,
    OtlpSettings,
    Settings,
    Signal,
    env,
    parse_key_values,
)
from otel_trading.redaction import Redactor

NETWORK_TIMEOUT_S: Final = 1.0
_DEFAULT_PORTS: Final = {"grpc": 4317, "http/protobuf": 4318}
_HTTP_PATHS: Final = {"traces": "/v1/traces", "metrics": "/v1/metrics", "logs": "/v1/logs"}
_WILDCARD_HOSTS: Final = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 - mapping, not a bind


@dataclass(frozen=True)
class OtlpTarget:
    """Where the OTLP exporter of one signal sends, resolved as the exporter itself does."""

    signals: tuple[Signal, ...]
    protocol: str
    url: str
    """For http/protobuf the full URL of the first signal (traces when it is among them)."""
    host: str
    port: int
    headers: Mapping[str, str]
    certificate_file: str | None


def _endpoint(signal: Signal, otlp: OtlpSettings, environ: Mapping[str, str]) -> str:
    """The exporter's precedence: argument, per-signal variable, generic variable (+ path), default."""
    upper = signal.upper()
    http = otlp.protocol == "http/protobuf"
    if otlp.endpoint:
        base = otlp.endpoint.rstrip("/")
        return base + _HTTP_PATHS[signal] if http and not base.endswith(_HTTP_PATHS[signal]) else base
    specific = env(f"OTEL_EXPORTER_OTLP_{upper}_ENDPOINT", environ)
    if specific:
        return specific
    generic = env("OTEL_EXPORTER_OTLP_ENDPOINT", environ)
    if http:
        return (generic.rstrip("/") if generic else "http://localhost:4318") + _HTTP_PATHS[signal]
    return generic or "http://localhost:4317"


def _headers(signal: Signal, otlp: OtlpSettings, environ: Mapping[str, str]) -> dict[str, str]:
    if otlp.headers is not None:
        return dict(otlp.headers)
    for name in (f"OTEL_EXPORTER_OTLP_{signal.upper()}_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS"):
        raw = env(name, environ)
        if raw:
            return parse_key_values(raw, name)
    return {}


def otlp_targets(settings: Settings, environ: Mapping[str, str]) -> list[OtlpTarget]:
    """One target per distinct (protocol, host, port) among the signals exported with OTLP.

    Raises ConfigurationError for an endpoint that is not a URL or host:port.
    """
    grouped: dict[tuple[str, str, int], list[tuple[Signal, str, dict[str, str], OtlpSettings]]] = {}
    for signal in SIGNALS:
        if "otlp" not in settings.exporters[signal]:
            continue
        otlp = settings.otlp[signal]
        protocol = otlp.protocol or "grpc"
        url = _endpoint(signal, otlp, environ)
        parsed = urlsplit(url if "://" in url else f"http://{url}")  # gRPC also takes a bare host:port
        try:
            port = parsed.port or (443 if parsed.scheme == "https" else _DEFAULT_PORTS[protocol])
        except ValueError:
            raise ConfigurationError(f"OTLP endpoint for {signal}: invalid port in {url!r}") from None
        if not parsed.hostname:
            raise ConfigurationError(f"OTLP endpoint for {signal}: no host in {url!r}")
        grouped.setdefault((protocol, parsed.hostname, port), []).append(
            (signal, url, _headers(signal, otlp, environ), otlp))
    targets = []
    for (protocol, host, port), members in grouped.items():
        first = next((m for m in members if m[0] == "traces"), members[0])
        targets.append(OtlpTarget(tuple(m[0] for m in members), protocol, first[1], host, port, first[2],
                                  first[3].certificate_file))
    return targets


def _connect_error(exc: OSError) -> str:
    if isinstance(exc, socket.timeout):
        return f"no answer within {NETWORK_TIMEOUT_S:g}s"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host ({exc.strerror or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (nothing listens there)"
    return exc.strerror or str(exc)


def tcp_connect(host: str, port: int) -> str | None:
    """None when a TCP connection opens, else why not."""
    try:
        with socket.create_connection((host, port), timeout=NETWORK_TIMEOUT_S):
            return None
    except OSError as exc:
        return _connect_error(exc)


def _post_empty_export(target: OtlpTarget, redactor: Redactor) -> tuple[Status, str, int | None]:
    """POSTs an empty Export*ServiceRequest (zero bytes of protobuf is a valid one)."""
    import requests

    try:
        # requests, as the OTLP/HTTP exporter: userinfo becomes basic auth, proxies and CAs the same.
        response = requests.post(
            target.url, data=b"", headers={"Content-Type": "application/x-protobuf", **target.headers},
            timeout=(NETWORK_TIMEOUT_S, NETWORK_TIMEOUT_S), allow_redirects=False,
            verify=target.certificate_file or True,
        )
    except requests.Timeout:
        return "fail", f"POST {urlsplit(target.url).path}: no answer within {NETWORK_TIMEOUT_S:g}s", None
    except requests.RequestException as exc:
        return "fail", f"POST {urlsplit(target.url).path}: {redactor.scrub_text(str(exc))}", None
    path = urlsplit(target.url).path
    status = response.status_code
    if 200 <= status < 300:
        return "ok", f"POST {path}: {status}", status
    hint = {401: " (credentials refused: check OTEL_EXPORTER_OTLP_HEADERS)", 403: " (forbidden: check the "
            "credentials)", 404: " (no OTLP/HTTP receiver at this path)", 405: " (no OTLP/HTTP receiver at this "
            "path)"}.get(status, "")
    return "fail", f"POST {path}: HTTP {status}{hint}", status


def target_name(target: OtlpTarget) -> str:
    return f"otlp {','.join(target.signals)}"


def check_otlp_target(target: OtlpTarget, redactor: Redactor) -> CheckResult:
    shown = redactor.scrub_text(target.url)
    name = target_name(target)
    data: dict[str, Any] = {"signals": list(target.signals), "protocol": target.protocol, "endpoint": shown,
                            "host": target.host, "port": target.port,
                            "headers": sorted(target.headers)}  # names only, never values
    refused = tcp_connect(target.host, target.port)
    if refused is not None:
        data["tcp"] = refused
        return CheckResult(name, "fail", f"{shown} ({target.protocol}): TCP {target.host}:{target.port}: {refused}",
                           ["telemetry for these signals is dropped until a collector listens there"], data)
    data["tcp"] = "ok"
    if target.protocol != "http/protobuf":
        return CheckResult(name, "ok", f"{shown} ({target.protocol}): TCP connect ok", data=data)
    status, message, code = _post_empty_export(target, redactor)
    data["http_status"] = code
    return CheckResult(name, status, f"{shown} ({target.protocol}): TCP ok; {message}", data=data)


# -- Prometheus ---------------------------------------------------------------------------------


def _scrape(host: str, port: int) -> tuple[int | None, str]:
    display_host = f"[{host}]" if ":" in host else host
    try:
        with urllib.request.urlopen(f"http://{display_host}:{port}/metrics",
                                    timeout=NETWORK_TIMEOUT_S) as response:
            return response.status, response.read(2_000_000).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except urllib.error.URLError as exc:
        return None, _connect_error(exc.reason) if isinstance(exc.reason, OSError) else str(exc.reason)
    except OSError as exc:  # a timeout or reset while reading
        return None, _connect_error(exc)
    except http.client.HTTPException as exc:  # something that does not speak HTTP
        return None, f"{type(exc).__name__}: {exc}"


def _service_of(body: str) -> str | None:
    for line in body.splitlines():
        if line.startswith("target_info{") and 'service_name="' in line:
            return line.split('service_name="', 1)[1].split('"', 1)[0]
    return None


def _bind_probe(host: str, port: int) -> str | None:
    """None when host:port could be bound now, else why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        if sys.platform != "win32":  # as the Prometheus server does; on Windows it would allow stealing
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            return "address in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
    return None


def check_prometheus(settings: Settings) -> CheckResult:
    host, port = settings.prometheus_host, settings.prometheus_port
    data: dict[str, Any] = {"host": host, "port": port}
    if "prometheus" not in settings.exporters["metrics"]:
        return CheckResult("prometheus", "info", "not used (metrics exporters: "
                           f"{','.join(settings.exporters['metrics']) or 'none'})", data=data)
    if port == 0:
        return CheckResult("prometheus", "info", f"{host}:0: the bot binds a free port at start; nothing to check",
                           data=data)
    connect_host = _WILDCARD_HOSTS.get(host, host)
    if tcp_connect(connect_host, port) is None:
        status, body = _scrape(connect_host, port)
        data["http_status"] = status
        ours = 'telemetry_distro_name="otel-trading"' in body or (
            "target_info" in body and ("\ntrading_" in body or "\notel_trading_" in body))
        if status == 200 and ours:
            data["serving"] = "otel-trading"
            service = _service_of(body)
            return CheckResult("prometheus", "ok", f"{host}:{port} serves otel-trading metrics"
                               + (f" (service {service})" if service else "") + ": a bot is running there", data=data)
        if status == 200 and "# TYPE " in body:
            data["serving"] = "prometheus"
            return CheckResult("prometheus", "fail", f"{host}:{port} is taken by another Prometheus exporter "
                               "(no otel-trading names): the bot cannot serve its metrics there",
                               ["set prometheus_port / OTEL_EXPORTER_PROMETHEUS_PORT to a free port"], data)
        data["serving"] = "other"
        what = f"HTTP {status} on /metrics" if status is not None else f"no HTTP answer: {body}"
        return CheckResult("prometheus", "fail", f"{host}:{port} is taken by something else ({what})",
                           ["set prometheus_port / OTEL_EXPORTER_PROMETHEUS_PORT to a free port"], data)
    refused = _bind_probe(host, port)
    if refused is None:
        data["serving"] = None
        return CheckResult("prometheus", "ok", f"{host}:{port} is free: the bot can serve /metrics there", data=data)
    return CheckResult("prometheus", "fail", f"cannot bind {host}:{port}: {refused}", data=data)
