"""observability/: the Prometheus rules pass ``promtool check rules`` and their unit tests, every
PromQL query of the Grafana dashboard parses, every Salesync metric named there exists in
common/salesync_common/metrics.py, and Fluent Bit reads the Salesync containers' logs only."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.deploy.conftest import REPO, parse_files, require_tool, run_ok

pytestmark = pytest.mark.deploy

OBS = REPO / "observability"
RULES = OBS / "prometheus" / "salesync-rules.yaml"
RULE_TESTS = OBS / "prometheus" / "salesync-rules.test.yaml"
DASHBOARD = OBS / "grafana" / "salesync-overview.json"
FLUENT_BIT = OBS / "fluent-bit" / "values.yaml"


def _rule_groups() -> list[dict]:
    (rule,) = parse_files([RULES])[str(RULES)]
    assert rule["kind"] == "PrometheusRule"
    return rule["spec"]["groups"]


def _write_rules(groups: list[dict], path: Path) -> None:
    # JSON is YAML: promtool reads it as a rule file.
    path.write_text(json.dumps({"groups": groups}, indent=1))


def _defined_metrics() -> set[str]:
    source = (REPO / "common" / "salesync_common" / "metrics.py").read_text()
    names = set(re.findall(r'"(salesync_[a-z_]+)"', source))
    assert names, "common/salesync_common/metrics.py defines the metrics"
    return names


def _used_metrics(text: str) -> set[str]:
    used = set(re.findall(r"\b(salesync_[a-z_]+)\b(?![/.])", text))
    return {re.sub(r"_(bucket|count|sum)$", "", m) for m in used}


def test_promtool_checks_and_unit_tests_the_rules(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    _write_rules(_rule_groups(), tmp_path / "salesync-rules.rules.yaml")
    shutil.copy(RULE_TESTS, tmp_path / RULE_TESTS.name)
    out = run_ok([promtool, "check", "rules", "salesync-rules.rules.yaml"], cwd=tmp_path)
    assert "SUCCESS" in out
    out = run_ok([promtool, "test", "rules", RULE_TESTS.name], cwd=tmp_path)
    assert "SUCCESS" in out


def test_rules_cover_error_rate_and_latency() -> None:
    alerts = {r["alert"]: r for g in _rule_groups() for r in g["rules"] if "alert" in r}
    assert {"SalesyncHighErrorRate", "SalesyncHighLatencyP95"} <= set(alerts)
    for alert in alerts.values():
        assert alert["labels"]["severity"] in {"warning", "critical"}
        assert alert["annotations"]["summary"]
        assert alert.get("for"), "alerts wait before firing"


def test_rules_and_dashboard_use_only_metrics_the_services_export() -> None:
    defined = _defined_metrics()
    for path in (RULES, DASHBOARD):
        missing = _used_metrics(path.read_text()) - defined
        assert not missing, f"{path.name} uses metrics no service exports: {missing}"


def _dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def _panels(dashboard: dict) -> list[dict]:
    out = []
    for panel in dashboard["panels"]:
        out.append(panel)
        out += panel.get("panels", [])
    return out


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    exprs = [
        target["expr"] for panel in _panels(_dashboard()) for target in panel.get("targets", [])
    ]
    assert len(exprs) >= 10
    # Grafana's variables replaced by what they expand to, then parsed by promtool.
    rules = [
        {
            "record": f"dashboard:query_{i}",
            "expr": e.replace("$__rate_interval", "5m").replace("$service", ".*"),
        }
        for i, e in enumerate(exprs)
    ]
    _write_rules([{"name": "dashboard-queries", "rules": rules}], tmp_path / "queries.yaml")
    run_ok([promtool, "check", "rules", "queries.yaml"], cwd=tmp_path)
    recorded = {r["record"] for g in _rule_groups() for r in g["rules"] if "record" in r}
    for expr in exprs:
        for name in re.findall(r"\b(salesync:[a-z0-9_:]+)", expr):
            assert name in recorded, f"dashboard uses recording rule {name} that is not defined"


def test_dashboard_structure() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] == "salesync-overview"
    assert dashboard["title"]
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = _panels(dashboard)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in panels:
        if panel["type"] == "row":
            continue
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        assert panel["gridPos"]["x"] + panel["gridPos"]["w"] <= 24
    titles = " ".join(p["title"].lower() for p in panels)
    for topic in ("latency", "5xx", "requests", "outbox", "consumer"):
        assert topic in titles, topic


def test_dashboard_and_rules_ship_through_kustomize(
    rendered_docs: Callable[[str], list[dict]],
) -> None:
    docs = rendered_docs("observability")
    kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
    assert ("PrometheusRule", "salesync") in kinds
    (cm,) = [d for d in docs if d["kind"] == "ConfigMap"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"][DASHBOARD.name]) == _dashboard()
    assert all(d["metadata"]["namespace"] == "monitoring" for d in docs)


def _sections(config: str) -> list[tuple[str, dict[str, str]]]:
    """Fluent Bit classic config: [SECTION] headers followed by 'Key Value' lines."""
    sections: list[tuple[str, dict[str, str]]] = []
    for raw in config.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            sections.append((line[1:-1].upper(), {}))
            continue
        assert sections, f"key outside a section: {line}"
        key, _, value = line.partition(" ")
        sections[-1][1][key.lower()] = value.strip()
    return sections


def test_fluent_bit_collects_only_salesync_container_logs() -> None:
    (values,) = parse_files([FLUENT_BIT])[str(FLUENT_BIT)]
    config = values["config"]
    inputs = _sections(config["inputs"])
    assert [name for name, _ in inputs] == ["INPUT"], "exactly one input"
    (_, tail) = inputs[0]
    assert tail["name"] == "tail"
    assert tail["path"] == "/var/log/containers/*_salesync_*.log", "the salesync namespace only"
    assert "exclude_path" not in tail
    assert tail["mem_buf_limit"].upper().endswith("MB")
    assert int(tail["mem_buf_limit"][:-2]) <= 64, "bounded memory per input"
    assert tail["db"].startswith("/var/fluent-bit/state/"), "offsets survive restarts"
    assert tail["skip_long_lines"].lower() == "on"
    assert tail["read_from_head"].lower() == "off"
    filters = dict(_sections(config["filters"])[0:1])
    assert filters["FILTER"]["name"] == "kubernetes"
    assert filters["FILTER"]["merge_log"].lower() == "on", "the services log JSON"
    outputs = _sections(config["outputs"])
    assert [s["name"] for _, s in outputs] == ["cloudwatch_logs"]
    out = outputs[0][1]
    assert out["log_group_name"] == "/salesync/${SALESYNC_ENVIRONMENT}/application"
    assert out["auto_create_group"].lower() == "off", "Terraform creates it with a retention"
    service = dict(_sections(config["service"]))["SERVICE"]
    assert service["health_check"].lower() == "on"
    assert values["resources"]["limits"]["memory"]
    sc = values["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    mounts = {m["mountPath"] for m in values["extraVolumeMounts"]}
    assert "/var/fluent-bit/state" in mounts
