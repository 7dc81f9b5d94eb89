"""deploy/k8s/monitoring: the PrometheusRule carries exactly the shipped rules, and the
Grafana sidecar ConfigMap exactly the shipped dashboard."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
MONITORING = ROOT / "deploy" / "k8s" / "monitoring"
RULES = ROOT / "deploy" / "prometheus" / "rules" / "sluice.rules.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "sluice-dashboard.json"


def _docs() -> dict[str, dict[str, Any]]:
    kust = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    out = {}
    for res in kust["resources"]:
        for doc in yaml.safe_load_all((MONITORING / res).read_text()):
            out[doc["kind"]] = doc
    return out


def test_generated_files_are_current() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_k8s_monitoring.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_prometheus_rule_carries_the_rule_file() -> None:
    rule = _docs()["PrometheusRule"]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]


def test_dashboard_configmap_carries_the_dashboard() -> None:
    import kubernetes_validate

    cm = _docs()["ConfigMap"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    (name, text), *rest = cm["data"].items()
    assert not rest and name.endswith(".json")
    assert text == DASHBOARD.read_text(encoding="utf-8")
    assert json.loads(text) == json.loads(DASHBOARD.read_text(encoding="utf-8"))
    kubernetes_validate.validate(cm, kubernetes_validate.latest_version(), strict=True)
