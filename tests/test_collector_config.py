"""Static validation of collector-config/: Collector graphs, component names, secrets, labels, images.

No Collector, Loki or Docker runs here. Real ``promtool`` and ``amtool`` check the Prometheus and
Alertmanager files (``tests/binaries.py``: a failure in CI, a skip elsewhere). Every rule also
has a negative test: a deliberately broken copy of the config must be reported.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from binaries import require
from collector_checks import (
    COLLECTOR_FILES,
    CONFIG_DIR,
    Components,
    check_components_file,
    check_images,
    check_load_balancing,
    check_loki_hints,
    check_loki_labels,
    check_loki_log_limits,
    check_metric_parity,
    check_processor_order,
    check_prometheus,
    check_published_ports,
    check_references,
    check_tail_sampling,
    check_types,
    check_unused,
    find_literal_secrets,
    load_components,
    load_yaml,
    secret_style,
    yaml_files,
)

GATEWAY_EXPORTER_PORT = 8889


@pytest.fixture(scope="module")
def components() -> Components:
    return load_components(load_yaml(CONFIG_DIR / "components.yaml"))


def collector(name: str) -> dict[str, Any]:
    config = load_yaml(CONFIG_DIR / name)
    assert isinstance(config, dict), f"{name} is not a mapping"
    return config


def gateway() -> dict[str, Any]:
    return collector("gateway.yaml")


def relative(path: Path) -> str:
    return str(path.relative_to(CONFIG_DIR))


# --- every file parses ---------------------------------------------------------------------


def test_every_yaml_file_parses() -> None:
    files = yaml_files()
    names = {relative(p) for p in files}
    for expected in ("components.yaml", "agent.yaml", "gateway.yaml", "docker-compose.yaml",
                     "prometheus/prometheus.yml", "loki/loki.yaml", "alertmanager/alertmanager.yml"):
        assert expected in names, f"collector-config/{expected} is missing"
    for path in files:
        try:
            document = load_yaml(path)
        except Exception as error:
            pytest.fail(f"{relative(path)} does not parse: {error}")
        assert document is not None, f"{relative(path)} is empty"


def test_components_file_is_consistent(components: Components) -> None:
    assert components.release.count(".") == 2, components.release
    assert check_components_file(components, "components.yaml") == []


def test_components_file_check_catches_a_wrong_image(components: Components) -> None:
    broken = Components(components.release, "otel/opentelemetry-collector-contrib:0.1.0", components.types,
                        components.aliases, components.removed)
    assert any("image" in p for p in check_components_file(broken, "components.yaml"))


# --- Collector graphs ----------------------------------------------------------------------


@pytest.mark.parametrize("name", COLLECTOR_FILES)
def test_collector_graph_is_complete(name: str) -> None:
    config = collector(name)
    assert check_references(config, name) == []
    assert check_unused(config, name) == []


@pytest.mark.parametrize("name", COLLECTOR_FILES)
def test_collector_types_exist_in_the_pinned_release(name: str, components: Components) -> None:
    assert check_types(collector(name), components, name) == []


@pytest.mark.parametrize("name", COLLECTOR_FILES)
def test_memory_limiter_first_and_batch_after_sampling(name: str) -> None:
    assert check_processor_order(collector(name), name) == []


def test_undefined_processor_is_reported() -> None:
    config = gateway()
    config["service"]["pipelines"]["logs"]["processors"].append("filter/noise")
    assert "gateway.yaml: processor 'filter/noise' used in pipeline 'logs' is not defined" in \
        check_references(config, "gateway.yaml")


def test_undefined_extension_and_exporter_are_reported() -> None:
    config = gateway()
    config["service"]["extensions"].append("file_storage")
    config["service"]["pipelines"]["metrics"]["exporters"].append("otlp_http/mimir")
    problems = check_references(config, "gateway.yaml")
    assert any("extension 'file_storage'" in p for p in problems), problems
    assert any("exporter 'otlp_http/mimir'" in p for p in problems), problems


def test_connector_without_a_receiving_pipeline_is_reported() -> None:
    config = gateway()
    config["service"]["pipelines"]["metrics"]["receivers"].remove("span_metrics")
    assert any("connector 'span_metrics'" in p and "no pipeline receives" in p
               for p in check_references(config, "gateway.yaml"))


def test_dead_config_is_reported() -> None:
    config = gateway()
    config["processors"]["attributes/unused"] = {"actions": []}
    assert check_unused(config, "gateway.yaml") == [
        "gateway.yaml: processor 'attributes/unused' is defined but not used"]


def test_deprecated_alias_is_reported(components: Components) -> None:
    config = gateway()
    config["exporters"]["otlp/jaeger"] = config["exporters"].pop("otlp_grpc/jaeger")
    config["connectors"]["spanmetrics"] = config["connectors"].pop("span_metrics")
    problems = check_types(config, components, "gateway.yaml")
    assert any("'otlp/jaeger'" in p and "use 'otlp_grpc'" in p for p in problems), problems
    assert any("'spanmetrics'" in p and "use 'span_metrics'" in p for p in problems), problems


def test_removed_and_unknown_types_are_reported(components: Components) -> None:
    config = gateway()
    config["exporters"]["loki"] = {"endpoint": "http://loki:3100/loki/api/v1/push"}
    config["extensions"]["bearertokenauth/vendor"] = {"token": "${env:VENDOR_TOKEN}"}
    problems = check_types(config, components, "gateway.yaml")
    assert any("'loki'" in p and "removed" in p for p in problems), problems
    assert any("'bearertokenauth/vendor'" in p and "not among the extensions" in p for p in problems), problems


def test_memory_limiter_not_first_is_reported() -> None:
    config = collector("agent.yaml")
    config["service"]["pipelines"]["traces"]["processors"] = ["batch", "memory_limiter"]
    assert any("pipeline 'traces' must start with memory_limiter" in p
               for p in check_processor_order(config, "agent.yaml"))


def test_batch_before_sampling_is_reported() -> None:
    config = gateway()
    config["service"]["pipelines"]["traces/sample"]["processors"] = ["memory_limiter", "batch", "tail_sampling"]
    assert any("batches before ['tail_sampling']" in p for p in check_processor_order(config, "gateway.yaml"))


# --- tail sampling behind trace-id load balancing --------------------------------------------


def test_tail_sampling_keeps_errors_slow_trades_risk_denials_and_a_share() -> None:
    assert check_tail_sampling(gateway(), "gateway.yaml") == []


def test_load_balancing_routes_by_trace_id_in_front_of_sampling() -> None:
    assert check_load_balancing(gateway(), "gateway.yaml") == []


def test_missing_sampling_policies_are_reported() -> None:
    config = gateway()
    config["processors"]["tail_sampling"]["policies"] = [
        {"name": "risk", "type": "boolean_attribute",
         "boolean_attribute": {"key": "trading.risk.denied", "value": "true"}},  # a string, not a boolean
        {"name": "slow", "type": "latency", "latency": {"threshold_ms": 2000}},  # not configurable
    ]
    problems = check_tail_sampling(config, "gateway.yaml")
    assert len(problems) == 4, problems
    assert any("status_code" in p for p in problems)
    assert any("trading.risk.denied" in p for p in problems)
    assert any("latency" in p for p in problems)
    assert any("probabilistic" in p for p in problems)


def test_sampling_policies_inside_an_and_policy_count() -> None:
    config = gateway()
    policies = config["processors"]["tail_sampling"]["policies"]
    config["processors"]["tail_sampling"]["policies"] = [
        {"name": "all", "type": "and", "and": {"and_sub_policy": policies}}]
    assert check_tail_sampling(config, "gateway.yaml") == []


def test_load_balancing_by_service_is_reported() -> None:
    config = gateway()
    config["exporters"]["load_balancing"]["routing_key"] = "service"
    assert any("routes by 'service'" in p for p in check_load_balancing(config, "gateway.yaml"))


def test_sampling_spans_straight_from_the_agents_is_reported() -> None:
    config = gateway()
    config["service"]["pipelines"]["traces/sample"]["receivers"] = ["otlp"]
    problems = check_load_balancing(config, "gateway.yaml")
    assert any("straight from the agents" in p for p in problems), problems
    assert any("listens on" in p for p in problems), problems  # 4319 is no longer received


def test_sampling_without_a_balancer_is_reported() -> None:
    config = gateway()
    del config["exporters"]["load_balancing"]
    assert check_load_balancing(config, "gateway.yaml") == ["gateway.yaml: no load_balancing exporter in front of "
                                                            "tail sampling"]


# --- Prometheus names and labels ----------------------------------------------------------


def test_prometheus_path_has_the_sdk_metric_names() -> None:
    assert check_metric_parity(gateway(), "gateway.yaml") == []


def test_ratio_suffix_and_resource_labels_are_reported() -> None:
    config = gateway()
    config["processors"]["transform/metrics"]["metric_statements"] = []
    config["exporters"]["prometheus"]["resource_to_telemetry_conversion"] = {"enabled": True}
    config["exporters"]["prometheus"]["enable_open_metrics"] = False
    problems = check_metric_parity(config, "gateway.yaml")
    assert any("_ratio" in p for p in problems), problems
    assert any("resource_to_telemetry_conversion" in p for p in problems), problems
    assert any("enable_open_metrics" in p for p in problems), problems


def test_prometheus_config_loads_rules_alerts_and_honors_labels() -> None:
    prometheus = load_yaml(CONFIG_DIR / "prometheus/prometheus.yml")
    assert check_prometheus(prometheus, GATEWAY_EXPORTER_PORT, "prometheus.yml") == []


def test_prometheus_config_without_honor_labels_or_rules_is_reported() -> None:
    prometheus = load_yaml(CONFIG_DIR / "prometheus/prometheus.yml")
    prometheus["rule_files"] = ["alerts.yml"]
    for job in prometheus["scrape_configs"]:
        job.pop("honor_labels", None)
    problems = check_prometheus(prometheus, GATEWAY_EXPORTER_PORT, "prometheus.yml")
    assert any("rules/*.yaml" in p for p in problems), problems
    assert any("honor_labels" in p for p in problems), problems


def test_alert_pack_is_where_the_rules_glob_looks() -> None:
    # Written by `otel-trading rules export` (another change); the glob above must find it.
    assert list((CONFIG_DIR / "prometheus").glob("rules/*.yaml")), "no rules/*.yaml next to prometheus.yml"


def promtool_check_config(config_text: str, directory: Path) -> subprocess.CompletedProcess[str]:
    """`promtool check config` on a copy in ``directory``, with the rule files that exist now (none is fine)."""
    promtool = require("promtool")
    (directory / "prometheus.yml").write_text(config_text, encoding="utf-8")
    (directory / "rules").mkdir(exist_ok=True)
    for rules in (CONFIG_DIR / "prometheus").glob("rules/*.yaml"):
        shutil.copy(rules, directory / "rules" / rules.name)
    return subprocess.run([promtool, "check", "config", str(directory / "prometheus.yml")],
                          capture_output=True, text=True, check=False, timeout=60)


def test_prometheus_config_passes_promtool(tmp_path: Path) -> None:
    check = promtool_check_config((CONFIG_DIR / "prometheus/prometheus.yml").read_text(encoding="utf-8"), tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr


def test_promtool_rejects_a_broken_config(tmp_path: Path) -> None:
    text = (CONFIG_DIR / "prometheus/prometheus.yml").read_text(encoding="utf-8")
    check = promtool_check_config(text.replace("honor_labels: true", "honor_labels: sometimes"), tmp_path)
    assert check.returncode != 0, check.stdout


def test_compose_prometheus_keeps_exemplars() -> None:
    compose = load_yaml(CONFIG_DIR / "docker-compose.yaml")
    assert "--enable-feature=exemplar-storage" in compose["services"]["prometheus"]["command"]


# --- Alertmanager ------------------------------------------------------------------------


def amtool_check_config(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require("amtool"), "check-config", str(path)],
                          capture_output=True, text=True, check=False, timeout=60)


def test_alertmanager_config_passes_amtool() -> None:
    check = amtool_check_config(CONFIG_DIR / "alertmanager/alertmanager.yml")
    assert check.returncode == 0, check.stdout + check.stderr


def test_amtool_rejects_a_route_to_an_undefined_receiver(tmp_path: Path) -> None:
    text = (CONFIG_DIR / "alertmanager/alertmanager.yml").read_text(encoding="utf-8")
    broken = tmp_path / "alertmanager.yml"
    broken.write_text(text.replace("receiver: blackhole", "receiver: oncall", 1), encoding="utf-8")
    check = amtool_check_config(broken)
    assert check.returncode != 0, check.stdout


# --- Loki -------------------------------------------------------------------------------


def test_loki_indexes_only_low_cardinality_resource_attributes() -> None:
    assert check_loki_labels(load_yaml(CONFIG_DIR / "loki/loki.yaml"), "loki/loki.yaml") == []


@pytest.mark.parametrize("name", COLLECTOR_FILES)
def test_collector_sets_no_loki_label_hints_with_ids(name: str) -> None:
    assert check_loki_hints(collector(name), name) == []


def test_logs_for_loki_fit_its_structured_metadata_limits() -> None:
    assert check_loki_log_limits(gateway(), "gateway.yaml") == []


def test_stack_trace_left_as_loki_metadata_is_reported() -> None:
    config = gateway()
    config["processors"]["transform/logs"]["log_statements"] = []
    assert check_loki_log_limits(config, "gateway.yaml") == [
        "gateway.yaml: pipeline 'logs' sends exception.stacktrace to Loki as an attribute",
        "gateway.yaml: pipeline 'logs' sends untruncated log attributes to Loki"]


def test_id_as_loki_label_is_reported() -> None:
    loki = load_yaml(CONFIG_DIR / "loki/loki.yaml")
    resource = loki["limits_config"]["otlp_config"]["resource_attributes"]
    resource["attributes_config"][0]["attributes"].append("trading.trade_id")
    resource["ignore_defaults"] = False
    problems = check_loki_labels(loki, "loki/loki.yaml")
    assert any("'trading.trade_id' is an index label (an id)" in p for p in problems), problems
    assert any("ignore_defaults" in p for p in problems), problems


def test_loki_label_hint_with_an_id_is_reported() -> None:
    config = gateway()
    config["processors"]["transform/logs"]["log_statements"].append(
        'set(log.attributes["loki.attribute.labels"], "trading.trade_id, correlation_id")')
    problems = check_loki_hints(config, "gateway.yaml")
    assert problems == ["gateway.yaml: a Loki label hint names id attributes ['correlation_id', 'trade_id']; "
                        "ids stay structured metadata"]


# --- secrets ------------------------------------------------------------------------------


def test_no_literal_secrets_in_any_yaml_file() -> None:
    problems = [p for path in yaml_files()
                for p in find_literal_secrets(load_yaml(path), relative(path), secret_style(path))]
    assert problems == []


def test_literal_collector_token_is_reported() -> None:
    config = gateway()
    config["extensions"]["bearertokenauth/vendor"] = {"token": "s3cr3t"}
    config["exporters"]["otlp_http/loki"]["headers"] = {"Authorization": "${env:LOKI_AUTH:-Basic dXNlcjpwYXNz}"}
    problems = find_literal_secrets(config, "gateway.yaml", "collector")
    assert problems == ["gateway.yaml: 'token' holds a literal value; use ${env:NAME}",
                        "gateway.yaml: 'Authorization' holds a literal value; use ${env:NAME}"]


def test_literal_compose_password_is_reported() -> None:
    compose = load_yaml(CONFIG_DIR / "docker-compose.yaml")
    compose["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] = "${GRAFANA_ADMIN_PASSWORD:-admin}"
    compose["services"]["loki"]["environment"] = ["AWS_SECRET_ACCESS_KEY=abc123"]
    problems = find_literal_secrets(compose, "docker-compose.yaml", "compose")
    assert any("'GF_SECURITY_ADMIN_PASSWORD'" in p for p in problems), problems
    assert any("'AWS_SECRET_ACCESS_KEY'" in p for p in problems), problems


def test_alertmanager_secret_outside_a_file_is_reported() -> None:
    alertmanager = load_yaml(CONFIG_DIR / "alertmanager/alertmanager.yml")
    alertmanager["receivers"].append({"name": "relay", "webhook_configs": [{
        "url": "http://relay:8080/", "http_config": {"authorization": {"credentials": "${RELAY_TOKEN}"}}}]})
    alertmanager["receivers"].append({"name": "mail", "email_configs": [{
        "to": "ops@example.com", "auth_password_file": "/etc/alertmanager/secrets/smtp"}]})
    problems = find_literal_secrets(alertmanager, "alertmanager.yml", "alertmanager")
    assert problems == ["alertmanager.yml: 'credentials' holds a literal value; use a *_file path"]


# --- docker compose ------------------------------------------------------------------------


def test_compose_images_are_pinned_and_match_the_release(components: Components) -> None:
    compose = load_yaml(CONFIG_DIR / "docker-compose.yaml")
    assert check_images(compose, components, "docker-compose.yaml") == []
    services = compose["services"]
    for name in ("jaeger", "prometheus", "loki", "grafana", "alertmanager"):
        assert name in services, f"docker-compose.yaml has no '{name}' service"
    collectors = [s for s, body in services.items() if body["image"] == components.image]
    assert sorted(collectors) == ["otel-agent", "otel-gateway"]


def test_unpinned_and_mismatched_images_are_reported(components: Components) -> None:
    compose = copy.deepcopy(load_yaml(CONFIG_DIR / "docker-compose.yaml"))
    compose["services"]["jaeger"]["image"] = "jaegertracing/jaeger:latest"
    compose["services"]["loki"]["image"] = "grafana/loki"
    compose["services"]["otel-agent"]["image"] = "otel/opentelemetry-collector-contrib:0.150.0"
    problems = check_images(compose, components, "docker-compose.yaml")
    assert any("'jaeger'" in p and "not pinned" in p for p in problems), problems
    assert any("'loki'" in p and "not pinned" in p for p in problems), problems
    assert any("'otel-agent' runs Collector 0.150.0" in p for p in problems), problems


def test_compose_ports_bind_loopback_by_default() -> None:
    assert check_published_ports(load_yaml(CONFIG_DIR / "docker-compose.yaml"), "docker-compose.yaml") == []


def test_port_on_every_interface_is_reported() -> None:
    compose = load_yaml(CONFIG_DIR / "docker-compose.yaml")
    compose["services"]["grafana"]["ports"] = ["3000:3000", "0.0.0.0:3001:3000"]
    compose["services"]["loki"]["ports"] = [{"target": 3100, "published": 3100}]
    problems = check_published_ports(compose, "docker-compose.yaml")
    assert len(problems) == 3, problems


def published_host_ports(compose: dict[str, Any]) -> dict[int, str]:
    """Host port -> service, from '${BIND:-127.0.0.1}:HOST:CONTAINER' entries."""
    return {int(str(port).rsplit(":", 2)[-2]): service
            for service, body in compose["services"].items() for port in (body or {}).get("ports") or []}


def test_deploy_docs_list_every_published_port() -> None:
    documented = {int(row.group(1)): row.group(2) for row in
                  re.finditer(r"^\| (\d+) \| ([\w-]+) \|", (CONFIG_DIR.parent / "docs" / "deploy.md").read_text(),
                              re.MULTILINE)}
    assert documented == published_host_ports(load_yaml(CONFIG_DIR / "docker-compose.yaml"))
