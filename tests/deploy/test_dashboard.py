"""The Grafana dashboard: structure, Grafana's schema model, and every PromQL query parses."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry

from sluice.metrics import create

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "sluice-dashboard.json"
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
RULES = sorted((ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))


@pytest.fixture(scope="module")
def dash() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def _panels(dash: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for p in dash["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def _exprs(dash: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in _panels(dash) for t in p.get("targets", [])]


def test_dashboard_structure(dash: dict[str, Any]) -> None:
    assert dash["schemaVersion"] >= 36
    assert dash["uid"] and dash["title"]
    ids = [p["id"] for p in _panels(dash)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    variables = {v["name"] for v in dash["templating"]["list"]}
    for p in _panels(dash):
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24 and g["h"] > 0, p["title"]
        if p["type"] == "row":
            continue
        assert p["datasource"]["type"] == "prometheus", p["title"]
        uid = p["datasource"]["uid"]
        assert uid.startswith("${") and uid[2:-1] in variables, p["title"]
        assert p["targets"], p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert t["expr"].strip(), p["title"]


def test_dashboard_panels_do_not_overlap(dash: dict[str, Any]) -> None:
    cells: set[tuple[int, int]] = set()
    for p in _panels(dash):
        g = p["gridPos"]
        mine = {
            (x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])
        }
        assert not (mine & cells), f"panel {p['title']!r} overlaps another"
        cells |= mine


def test_dashboard_round_trips_through_grafanas_schema_model(dash: dict[str, Any]) -> None:
    # The Grafana foundation SDK's models are generated from Grafana's dashboard schema;
    # a key it does not know is dropped on the round trip, so a misspelt field shows up.
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard

    model = Dashboard.from_json(dash)
    back = json.loads(json.dumps(model, cls=JSONEncoder))
    assert set(dash) - set(back) == set()
    for mine, theirs in zip(dash["panels"], back["panels"], strict=True):
        assert set(mine) - set(theirs) == set(), mine["title"]
        assert [t["expr"] for t in mine.get("targets", [])] == [
            t["expr"] for t in theirs.get("targets", [])
        ]


def test_dashboard_covers_what_operators_need(dash: dict[str, Any]) -> None:
    text = "\n".join(_exprs(dash))
    for needed in (
        "sluice_events_total",  # throughput and outcomes per kind
        "by (job, namespace, kind)",
        "by (job, namespace, outcome)",
        "sluice_findings_total",  # findings per detector
        "sluice_held_events",  # review queue depth
        "sluice_oldest_held_age_seconds",  # and age
        "sluice_decision_wait_seconds_bucket",  # decision latency
        "sluice_dlq_writes_total",  # DLQ by reason
        "sluice_cost_usd_total",  # cost
        "sluice_consumer_lag_records",  # lag
    ):
        assert needed in text, needed


def _declared_metric_names() -> set[str]:
    names: set[str] = set()
    registry = CollectorRegistry()
    create(registry)
    for family in registry.collect():
        for sample in family.samples:
            names.add(sample.name)
    # Histograms: buckets appear only once observed; add the families' suffixes.
    for family in registry.collect():
        if family.type == "histogram":
            names |= {f"{family.name}_bucket", f"{family.name}_sum", f"{family.name}_count"}
        if family.type == "counter":
            names.add(f"{family.name}_total")
        if family.type == "info":
            names.add(f"{family.name}_info")
        names.add(family.name)
    return names


def _recorded_names() -> set[str]:
    out = set()
    for f in RULES:
        for group in yaml.safe_load(f.read_text())["groups"]:
            out |= {r["record"] for r in group["rules"] if "record" in r}
    return out


def test_dashboard_queries_name_only_real_series(dash: dict[str, Any]) -> None:
    declared = _declared_metric_names()
    recorded = _recorded_names()
    for expr in _exprs(dash):
        for name in re.findall(r"\bsluice_[a-z_]+\b", expr):
            assert name in declared, f"{name} is not declared in sluice.metrics"
        for name in re.findall(r"\bsluice:[a-z0-9_:]+", expr):
            assert name in recorded, f"{name} is not a recording rule"


def test_every_dashboard_query_parses(dash: dict[str, Any], tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail(
            "promtool not found: install the Debian package 'prometheus' "
            "(bash .ci/install-system-deps.sh)"
        )
    rules = [
        {"record": f"dashboard:query_{i}", "expr": expr.replace("$__rate_interval", "5m")}
        for i, expr in enumerate(_exprs(dash))
    ]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    proc = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(rules)} rules found" in proc.stdout


def test_provisioning_points_at_the_dashboard() -> None:
    providers = yaml.safe_load((PROVISIONING / "dashboards" / "sluice.yml").read_text())[
        "providers"
    ]
    assert providers[0]["type"] == "file"
    sources = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())[
        "datasources"
    ]
    assert sources[0]["type"] == "prometheus"


_AGGREGATION = re.compile(r"\b(sum|max|min|avg|count)\s*(?:by\s*\(([^)]*)\))?\s*\(")
_SELECTOR = re.compile(r"\b(sluice_[a-z_]+|sluice:[a-z0-9_:]+|up)(\{[^}]*\})?(?![a-z0-9_:{])")


def test_dashboard_is_per_job_and_namespace(dash: dict[str, Any]) -> None:
    # Like the rules: one Grafana over several deployments shows each one separately,
    # picked with the job and namespace variables.
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    for name in ("job", "namespace"):
        assert variables[name]["type"] == "query" and variables[name]["includeAll"], name
        assert "sluice_build_info" in variables[name]["query"], name
    for expr in _exprs(dash):
        for op, by in _AGGREGATION.findall(expr):
            assert {"job", "namespace"} <= {x.strip() for x in by.split(",")}, (op, expr)
        for name, labels in _SELECTOR.findall(expr):
            if name.startswith("sluice:config:"):
                continue  # thresholds: one per Prometheus
            assert 'job=~"$job"' in labels and 'namespace=~"$namespace"' in labels, expr
