"""Static checks of ``collector-config/``, shared by the tests' positive and negative cases.

Each ``check_*`` function takes parsed YAML (and the file name to report) and returns a list
of problems, one sentence each, naming the file and the component. An empty list is a pass.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

CONFIG_DIR: Final = Path(__file__).resolve().parent.parent / "collector-config"
COLLECTOR_FILES: Final = ("agent.yaml", "gateway.yaml")
COLLECTOR_IMAGE: Final = "otel/opentelemetry-collector-contrib"

KINDS: Final = ("receivers", "processors", "exporters", "connectors", "extensions")

# Loki index labels: the only resource attributes allowed to become stream labels.
LOKI_LABELS: Final = frozenset({"service.name", "deployment.environment.name", "host.name"})
# Per-trade/order/request identifiers: structured metadata, never labels.
ID_ATTRIBUTE: Final = re.compile(
    r"(?i)(trade_?id|order\.(client|venue)_id|order_?id|trace_?id|span_?id|correlation_?id)")
LOKI_HINTS: Final = ("loki.resource.labels", "loki.attribute.labels")

# Processors that change or drop data: batching belongs after them, not before.
SHAPING_PROCESSORS: Final = frozenset({
    "tail_sampling", "probabilistic_sampler", "transform", "filter", "resource_detection",
    "resource", "attributes", "redaction", "k8s_attributes", "group_by_attrs",
})

SECRET_KEY: Final = re.compile(r"(?i)(passw(or)?d|token|api[_-]?key|secret|authorization|bearer|credential)")
# A secret is a reference with no default: a default would be a literal secret again.
_COLLECTOR_SECRET: Final = re.compile(r"^\$\{env:[A-Za-z_][A-Za-z0-9_]*\}$")
_COMPOSE_SECRET: Final = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?\?[^}]*)?\}$")
_OTHER_SECRET: Final = re.compile(r"^(\$\{[A-Za-z_][A-Za-z0-9_:]*\}|\$__(env|file)\{[^}]+\})$")
# "${env:NAME:-default}": configurable, with a default.
ENV_WITH_DEFAULT: Final = re.compile(r"^\$\{env:[A-Za-z_][A-Za-z0-9_]*:-[^}]+\}$")
_LOOPBACK_BIND: Final = re.compile(r"^(127\.0\.0\.1|\$\{[A-Za-z_][A-Za-z0-9_]*:-127\.0\.0\.1\})$")
_UNIT_ONE_CLEARED: Final = re.compile(r'set\(\s*metric\.unit\s*,\s*""\s*\)\s+where\s+metric\.unit\s*==\s*"1"')


def load_yaml(path: Path) -> Any:
    """The parsed file (``${env:...}`` references stay strings)."""
    with path.open(encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def yaml_files(root: Path = CONFIG_DIR) -> list[Path]:
    """Every ``*.yaml`` / ``*.yml`` under ``root``, recursively."""
    return sorted(p for p in root.rglob("*") if p.suffix in {".yaml", ".yml"} and p.is_file())


def component_type(component_id: str) -> str:
    """``otlp_grpc/jaeger`` -> ``otlp_grpc``."""
    return component_id.split("/", 1)[0]


def _section(config: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = config.get(key)
    return dict(value) if isinstance(value, Mapping) else {}


def pipelines(config: Mapping[str, Any]) -> dict[str, dict[str, list[str]]]:
    """``service.pipelines`` as {name: {"receivers": [...], "processors": [...], "exporters": [...]}}."""
    found = _section(_section(config, "service"), "pipelines")
    return {name: {role: list((body or {}).get(role) or []) for role in ("receivers", "processors", "exporters")}
            for name, body in found.items()}


# --- components.yaml ----------------------------------------------------------------------


@dataclass(frozen=True)
class Components:
    """The pinned release and its component type names, per kind."""

    release: str
    image: str
    types: Mapping[str, frozenset[str]]
    aliases: Mapping[str, Mapping[str, str]]
    removed: Mapping[str, frozenset[str]]


def load_components(document: Mapping[str, Any]) -> Components:
    """components.yaml, parsed."""
    aliases = document.get("deprecated_aliases") or {}
    removed = document.get("removed") or {}
    return Components(
        release=str(document["release"]),
        image=str(document["image"]),
        types={kind: frozenset(document.get(kind) or ()) for kind in KINDS},
        aliases={kind: dict(aliases.get(kind) or {}) for kind in KINDS},
        removed={kind: frozenset(removed.get(kind) or ()) for kind in KINDS},
    )


def check_components_file(components: Components, where: str) -> list[str]:
    """No type is both valid and a deprecated alias; the image is the release's."""
    problems = []
    for kind in KINDS:
        for old in components.aliases[kind]:
            if old in components.types[kind]:
                problems.append(f"{where}: {kind} '{old}' is listed both as valid and as a deprecated alias")
    if components.image != f"{COLLECTOR_IMAGE}:{components.release}":
        problems.append(f"{where}: image {components.image!r} is not {COLLECTOR_IMAGE}:{components.release}")
    return problems


# --- Collector configs ----------------------------------------------------------------------


def check_references(config: Mapping[str, Any], where: str) -> list[str]:
    """Every component a pipeline or service.extensions names is defined; connectors join two pipelines."""
    if not pipelines(config):
        return [f"{where}: service.pipelines is empty"]
    problems = []
    for name, pipeline in pipelines(config).items():
        problems += _check_pipeline_references(config, name, pipeline, where)
    extensions = _section(config, "extensions")
    for component in _section(config, "service").get("extensions") or []:
        if component not in extensions:
            problems.append(f"{where}: extension '{component}' in service.extensions is not defined")
    return problems + _check_connectors(config, where)


def _check_pipeline_references(config: Mapping[str, Any], name: str, pipeline: Mapping[str, list[str]],
                               where: str) -> list[str]:
    connectors = _section(config, "connectors")
    defined = {
        "receivers": set(_section(config, "receivers")) | set(connectors),  # a connector receives too
        "processors": set(_section(config, "processors")),
        "exporters": set(_section(config, "exporters")) | set(connectors),  # and exports
    }
    problems = []
    if not pipeline["receivers"] or not pipeline["exporters"]:
        problems.append(f"{where}: pipeline '{name}' needs at least one receiver and one exporter")
    for role, known in defined.items():
        problems += [f"{where}: {role[:-1]} '{component}' used in pipeline '{name}' is not defined"
                     for component in pipeline[role] if component not in known]
    return problems


def _check_connectors(config: Mapping[str, Any], where: str) -> list[str]:
    """A connector is the exporter of one pipeline and the receiver of another."""
    problems = []
    for connector in _section(config, "connectors"):
        as_exporter = [n for n, p in pipelines(config).items() if connector in p["exporters"]]
        as_receiver = [n for n, p in pipelines(config).items() if connector in p["receivers"]]
        if as_exporter and not as_receiver:
            problems.append(f"{where}: connector '{connector}' is an exporter of {as_exporter} "
                            "but no pipeline receives from it")
        if as_receiver and not as_exporter:
            problems.append(f"{where}: connector '{connector}' is a receiver of {as_receiver} "
                            "but no pipeline exports to it")
    return problems


def check_unused(config: Mapping[str, Any], where: str) -> list[str]:
    """Every defined component is used somewhere (no dead config)."""
    used: dict[str, set[str]] = {kind: set() for kind in KINDS}
    for pipeline in pipelines(config).values():
        used["receivers"].update(pipeline["receivers"])
        used["processors"].update(pipeline["processors"])
        used["exporters"].update(pipeline["exporters"])
        used["connectors"].update(pipeline["receivers"] + pipeline["exporters"])
    used["extensions"].update(_section(config, "service").get("extensions") or [])
    return [f"{where}: {kind[:-1]} '{component}' is defined but not used"
            for kind in KINDS for component in _section(config, kind) if component not in used[kind]]


def check_types(config: Mapping[str, Any], components: Components, where: str) -> list[str]:
    """Every component type exists in the pinned release, under its current (not deprecated) name."""
    problems = []
    for kind in KINDS:
        for component in _section(config, kind):
            kind_type = component_type(component)
            if kind_type in components.aliases[kind]:
                problems.append(f"{where}: {kind[:-1]} '{component}': '{kind_type}' is a deprecated alias in "
                                f"{components.release}, use '{components.aliases[kind][kind_type]}'")
            elif kind_type in components.removed[kind]:
                problems.append(f"{where}: {kind[:-1]} '{component}': '{kind_type}' was removed from the distribution")
            elif kind_type not in components.types[kind]:
                problems.append(f"{where}: {kind[:-1]} '{component}': type '{kind_type}' is not among the "
                                f"{kind} of release {components.release} in components.yaml")
    return problems


def check_processor_order(config: Mapping[str, Any], where: str) -> list[str]:
    """memory_limiter first in every pipeline; batch after everything that samples or transforms."""
    problems = []
    for name, pipeline in pipelines(config).items():
        types = [component_type(p) for p in pipeline["processors"]]
        if not types or types[0] != "memory_limiter":
            problems.append(f"{where}: pipeline '{name}' must start with memory_limiter, has {pipeline['processors']}")
        if "batch" in types:
            late = [p for p in pipeline["processors"][types.index("batch") + 1:]
                    if component_type(p) in SHAPING_PROCESSORS]
            if late:
                problems.append(f"{where}: pipeline '{name}' batches before {late}; batch goes after them")
    return problems


def check_tail_sampling(config: Mapping[str, Any], where: str) -> list[str]:
    """Errors, slow trades, risk denials and a probabilistic share are kept; thresholds come from env."""
    samplers = {k: v or {} for k, v in _section(config, "processors").items() if component_type(k) == "tail_sampling"}
    if not samplers:
        return [f"{where}: no tail_sampling processor"]
    problems = []
    for name, sampler in samplers.items():
        policies = list(_flatten_policies(sampler.get("policies") or []))
        by_type: dict[str, list[Mapping[str, Any]]] = {}
        for policy in policies:
            by_type.setdefault(str(policy.get("type")), []).append(policy.get(str(policy.get("type"))) or {})
        if not any("ERROR" in (p.get("status_codes") or []) for p in by_type.get("status_code", [])):
            problems.append(f"{where}: {name} has no status_code policy keeping ERROR traces")
        latency = [p.get("threshold_ms") for p in by_type.get("latency", [])]
        if not any(isinstance(t, str) and ENV_WITH_DEFAULT.match(t) for t in latency):
            problems.append(f"{where}: {name} needs a latency policy whose threshold_ms is ${{env:NAME:-default}}, "
                            f"has {latency}")
        if not any(p.get("key") == "trading.risk.denied" and p.get("value") is True
                   for p in by_type.get("boolean_attribute", [])):
            problems.append(f"{where}: {name} has no boolean_attribute policy keeping trading.risk.denied = true")
        shares = [p.get("sampling_percentage") for p in by_type.get("probabilistic", [])]
        if not any(isinstance(s, str) and ENV_WITH_DEFAULT.match(s) for s in shares):
            problems.append(f"{where}: {name} needs a probabilistic policy whose sampling_percentage is "
                            f"${{env:NAME:-default}}, has {shares}")
    return problems


def _flatten_policies(policies: list[Any]) -> Iterator[Mapping[str, Any]]:
    for policy in policies:
        if not isinstance(policy, Mapping):
            continue
        yield policy
        nested = policy.get(str(policy.get("type"))) or {}
        for key in ("and_sub_policy", "composite_sub_policy", "drop_sub_policy"):
            yield from _flatten_policies(list(nested.get(key) or []))


def check_load_balancing(config: Mapping[str, Any], where: str) -> list[str]:
    """Traces reach tail sampling only through a load_balancing exporter routing by traceID."""
    balancers = {k: v or {} for k, v in _section(config, "exporters").items() if component_type(k) == "load_balancing"}
    if not balancers:
        return [f"{where}: no load_balancing exporter in front of tail sampling"]
    problems = []
    for name, balancer in balancers.items():
        if balancer.get("routing_key") != "traceID":
            problems.append(f"{where}: {name} routes by {balancer.get('routing_key')!r}, not 'traceID'")
        resolver = balancer.get("resolver") or {}
        if len([r for r in ("static", "dns", "k8s") if r in resolver]) != 1:
            problems.append(f"{where}: {name} needs exactly one resolver (static, dns or k8s), has {sorted(resolver)}")
    all_pipelines = pipelines(config)
    balanced = {n for n, p in all_pipelines.items() if set(p["exporters"]) & set(balancers)}
    balanced_inputs = {r for n in balanced for r in all_pipelines[n]["receivers"]}
    for name, pipeline in all_pipelines.items():
        if not any(component_type(p) == "tail_sampling" for p in pipeline["processors"]):
            continue
        if name in balanced:
            problems.append(f"{where}: pipeline '{name}' samples and load-balances; sampling must come after routing")
        shared = balanced_inputs & set(pipeline["receivers"])
        if shared:
            problems.append(f"{where}: pipeline '{name}' receives from {sorted(shared)} straight from the agents; "
                            "tail sampling must only see spans routed by trace id")
        problems += _check_balancer_port(config, balancers, name, pipeline["receivers"], where)
    return problems


def _check_balancer_port(config: Mapping[str, Any], balancers: Mapping[str, Any], sampling_pipeline: str,
                         receivers: list[str], where: str) -> list[str]:
    endpoints = [str(protocol.get("endpoint", "")) for r in receivers
                 for protocol in ((_section(config, "receivers").get(r) or {}).get("protocols") or {}).values()
                 if isinstance(protocol, Mapping)]
    problems = []
    for name, balancer in balancers.items():
        dns = (balancer.get("resolver") or {}).get("dns")
        if isinstance(dns, Mapping) and not any(e.endswith(f":{dns.get('port', '4317')}") for e in endpoints):
            problems.append(f"{where}: {name} sends to port {dns.get('port', '4317')}, but pipeline "
                            f"'{sampling_pipeline}' listens on {endpoints}")
    return problems


def check_metric_parity(config: Mapping[str, Any], where: str) -> list[str]:
    """Pipelines into a prometheus exporter clear unit "1" (no _ratio); exemplars on; no resource labels."""
    problems = []
    exporters, processors = _section(config, "exporters"), _section(config, "processors")
    for name, settings in exporters.items():
        if component_type(name) != "prometheus":
            continue
        exporter = settings or {}
        if exporter.get("enable_open_metrics") is not True:
            problems.append(f"{where}: exporter '{name}' needs enable_open_metrics: true (exemplars)")
        if (exporter.get("resource_to_telemetry_conversion") or {}).get("enabled"):
            problems.append(f"{where}: exporter '{name}' turns resource attributes into labels "
                            "(resource_to_telemetry_conversion); keep it off")
        for pipeline_name, pipeline in pipelines(config).items():
            if name not in pipeline["exporters"]:
                continue
            statements = [s for p in pipeline["processors"] if component_type(p) == "transform"
                          for s in ((processors.get(p) or {}).get("metric_statements") or []) if isinstance(s, str)]
            if not any(_UNIT_ONE_CLEARED.search(s) for s in statements):
                problems.append(f"{where}: pipeline '{pipeline_name}' exports to '{name}' without a transform "
                                'that runs set(metric.unit, "") where metric.unit == "1": gauges would get _ratio')
    return problems


def check_loki_log_limits(config: Mapping[str, Any], where: str) -> list[str]:
    """Logs bound for Loki lose the long exception.stacktrace attribute and get truncated attributes.

    Loki refuses a line whose structured metadata (the log attributes) passes 64KB or 128
    entries, and the exporter drops the batch.
    """
    problems = []
    exporters, processors = _section(config, "exporters"), _section(config, "processors")
    lokis = {n for n, e in exporters.items() if "loki" in n or "loki" in str((e or {}).get("endpoint", ""))}
    for name, pipeline in pipelines(config).items():
        if not lokis & set(pipeline["exporters"]):
            continue
        statements = " ".join(s for p in pipeline["processors"] if component_type(p) == "transform"
                              for s in ((processors.get(p) or {}).get("log_statements") or []) if isinstance(s, str))
        if 'delete_key(log.attributes, "exception.stacktrace")' not in statements:
            problems.append(f"{where}: pipeline '{name}' sends exception.stacktrace to Loki as an attribute")
        if "truncate_all(log.attributes" not in statements:
            problems.append(f"{where}: pipeline '{name}' sends untruncated log attributes to Loki")
    return problems


def check_loki_hints(config: Any, where: str) -> list[str]:
    """No loki.*.labels hint makes an id a label (hints are a leftover of the removed loki exporter)."""
    problems = []
    for node in _walk_nodes(config):
        texts = list(_scalars(node))
        if any(hint in text for text in texts for hint in LOKI_HINTS):
            ids = sorted({m.group(0) for text in texts for m in ID_ATTRIBUTE.finditer(text)})
            if ids:
                problems.append(f"{where}: a Loki label hint names id attributes {ids}; ids stay structured metadata")
    return problems


def _walk_nodes(node: Any) -> Iterator[Any]:
    yield node
    children = node.values() if isinstance(node, Mapping) else node if isinstance(node, list) else []
    for child in children:
        yield from _walk_nodes(child)


def _scalars(node: Any) -> Iterator[str]:
    """A string itself, or the strings directly in one mapping (a hint and its value are siblings).

    The strings of a list are separate nodes: one OTTL statement is not another's value.
    """
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        yield from (v for v in node.values() if isinstance(v, str))


# --- Loki --------------------------------------------------------------------------------


def check_loki_labels(loki: Mapping[str, Any], where: str) -> list[str]:
    """Only service.name, deployment.environment.name and host.name become index labels."""
    otlp = ((loki.get("limits_config") or {}).get("otlp_config")) or {}
    resource = otlp.get("resource_attributes") or {}
    problems = []
    if resource.get("ignore_defaults") is not True:
        problems.append(f"{where}: otlp_config.resource_attributes.ignore_defaults must be true: Loki's default "
                        "label list includes service.instance.id (a new UUID per bot start)")
    labels: set[str] = set()
    for rule in resource.get("attributes_config") or []:
        if rule.get("action") != "index_label":
            continue
        if rule.get("regex"):
            problems.append(f"{where}: index_label by regex {rule['regex']!r}: list the attributes instead")
        labels.update(rule.get("attributes") or [])
    for extra in sorted(labels - LOKI_LABELS):
        kind = "an id" if ID_ATTRIBUTE.search(extra) else "not allowed"
        problems.append(f"{where}: '{extra}' is an index label ({kind}); only {sorted(LOKI_LABELS)} may be")
    for section in ("log_attributes", "scope_attributes"):
        for rule in otlp.get(section) or []:
            if rule.get("action") == "index_label":
                problems.append(f"{where}: {section} cannot hold index_label rules")
    return problems


# --- secrets --------------------------------------------------------------------------------


def secret_style(path: Path) -> str:
    """How a file refers to secrets: collector, compose, alertmanager or other."""
    if path.name in COLLECTOR_FILES:
        return "collector"
    if path.name.startswith(("docker-compose", "compose")):
        return "compose"
    if "alertmanager" in path.parts or path.name.startswith("alertmanager"):
        return "alertmanager"
    return "other"


def find_literal_secrets(document: Any, where: str, style: str) -> list[str]:
    """Secret-named keys whose value is not a reference (env var, or a *_file path)."""
    problems = []
    for key, value in _pairs(document, style):
        if not SECRET_KEY.search(key) or value is None or isinstance(value, bool | Mapping | list):
            continue
        if key.endswith("_file") and style != "collector":
            if not str(value).startswith(("/", "./")):
                problems.append(f"{where}: '{key}' must be a path to a secret file, not {value!r}")
            continue
        if not _is_reference(str(value), style):
            expected = {"collector": "${env:NAME}", "compose": "${NAME} or ${NAME:?message}",
                        "alertmanager": "a *_file path", "other": "${NAME} or $__file{path}"}[style]
            problems.append(f"{where}: '{key}' holds a literal value; use {expected}")
    return problems


def _pairs(node: Any, style: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield str(key), value
            yield from _pairs(value, style)
    elif isinstance(node, list):
        for item in node:
            if style == "compose" and isinstance(item, str) and "=" in item:  # environment: [KEY=value]
                key, _, value = item.partition("=")
                yield key, value
            yield from _pairs(item, style)


def _is_reference(value: str, style: str) -> bool:
    if style == "collector":
        return bool(_COLLECTOR_SECRET.match(value))
    if style == "compose":
        return bool(_COMPOSE_SECRET.match(value))
    if style == "alertmanager":
        return False  # Alertmanager expands no variables: only *_file fields
    return bool(_OTHER_SECRET.match(value))


# --- docker compose ---------------------------------------------------------------------


def check_images(compose: Mapping[str, Any], components: Components, where: str) -> list[str]:
    """Every image has a version tag (not latest); the Collector image is the pinned release."""
    problems = []
    for service, body in (compose.get("services") or {}).items():
        image = str((body or {}).get("image") or "")
        repository, _, tag = image.rpartition(":") if ":" in image.rsplit("/", 1)[-1] else (image, "", "")
        if not tag or tag == "latest" or not re.search(r"\d", tag):
            problems.append(f"{where}: service '{service}' image {image!r} is not pinned to a version tag")
        elif repository == COLLECTOR_IMAGE and tag != components.release:
            problems.append(f"{where}: service '{service}' runs Collector {tag}, components.yaml pins "
                            f"{components.release}")
    return problems


def check_published_ports(compose: Mapping[str, Any], where: str) -> list[str]:
    """Published ports bind 127.0.0.1 by default."""
    problems = []
    for service, body in (compose.get("services") or {}).items():
        for port in (body or {}).get("ports") or []:
            host_ip = str(port.get("host_ip", "")) if isinstance(port, Mapping) else _host_ip(str(port))
            if not _LOOPBACK_BIND.match(host_ip):
                problems.append(f"{where}: service '{service}' publishes {port!r} on {host_ip or 'every interface'}"
                                "; bind 127.0.0.1 by default")
    return problems


def _host_ip(spec: str) -> str:
    """'${X:-127.0.0.1}:4317:4317' -> '${X:-127.0.0.1}'; '4317:4317' -> ''."""
    if spec.startswith("${"):
        return spec[:spec.index("}") + 1]
    parts = spec.split(":")
    return parts[0] if len(parts) == 3 else ""


# --- Prometheus -------------------------------------------------------------------------------


def check_prometheus(prometheus: Mapping[str, Any], exporter_port: int, where: str) -> list[str]:
    """The alert pack is loaded from rules/, alerts go to Alertmanager, the gateway is scraped with honor_labels."""
    problems = []
    if "rules/*.yaml" not in (prometheus.get("rule_files") or []):
        problems.append(f"{where}: rule_files must load rules/*.yaml (the exported alert pack)")
    alertmanagers = [t for am in ((prometheus.get("alerting") or {}).get("alertmanagers") or [])
                     for sc in am.get("static_configs") or [] for t in sc.get("targets") or []]
    if "alertmanager:9093" not in alertmanagers:
        problems.append(f"{where}: alerting must target alertmanager:9093, has {alertmanagers}")
    scrapes = [job for job in prometheus.get("scrape_configs") or [] if _scrapes_port(job, exporter_port)]
    if not scrapes:
        problems.append(f"{where}: no scrape job for the gateway's prometheus exporter (port {exporter_port})")
    for job in scrapes:
        if job.get("honor_labels") is not True:
            problems.append(f"{where}: scrape job '{job.get('job_name')}' needs honor_labels: true "
                            "(job/instance come from the exporter)")
    return problems


def _scrapes_port(job: Mapping[str, Any], port: int) -> bool:
    static = [t for sc in job.get("static_configs") or [] for t in sc.get("targets") or []]
    dns = [sd.get("port") for sd in job.get("dns_sd_configs") or []]
    return any(str(t).endswith(f":{port}") for t in static) or port in dns
