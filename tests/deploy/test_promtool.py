"""The shipped Prometheus rules, their promtool unit tests, and the Alertmanager routing.

promtool/amtool come from the Debian packages ``prometheus`` and
``prometheus-alertmanager`` (installed by ``.ci/install-system-deps.sh``). A missing tool
fails these tests: the rules must never ship untested.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy" / "prometheus"
RULE_FILES = sorted((PROM / "rules").glob("*.yml"))
TEST_FILES = sorted((PROM / "tests").glob("*.yml"))
ALERTMANAGER = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"


def _tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found: install the Debian package {package!r} "
            "(bash .ci/install-system-deps.sh)"
        )
    return path


@pytest.fixture(scope="module")
def promtool() -> str:
    return _tool("promtool", "prometheus")


@pytest.fixture(scope="module")
def amtool() -> str:
    return _tool("amtool", "prometheus-alertmanager")


def _run(*cmd: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=cwd, timeout=300)


def _alerts() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for f in RULE_FILES:
        for group in yaml.safe_load(f.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    out[rule["alert"]] = rule
    return out


def test_rule_files_exist() -> None:
    assert RULE_FILES, "no rule files under deploy/prometheus/rules"
    assert TEST_FILES, "no promtool tests under deploy/prometheus/tests"


def test_promtool_check_rules(promtool: str) -> None:
    proc = _run(promtool, "check", "rules", *map(str, RULE_FILES))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_test_rules(promtool: str) -> None:
    proc = _run(promtool, "test", "rules", *(p.name for p in TEST_FILES), cwd=PROM / "tests")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("SUCCESS") == len(TEST_FILES)


def test_generated_promtool_tests_are_current() -> None:
    proc = _run(sys.executable, str(ROOT / "scripts" / "gen_promtool_tests.py"), "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for f in TEST_FILES:
        for group in yaml.safe_load(f.read_text())["tests"]:
            for case in group.get("alert_rule_test", []):
                (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    alerts = set(_alerts())
    assert alerts - fires == set(), "alerts never shown to fire"
    assert alerts - quiet == set(), "alerts never shown to stay quiet"


REQUIRED_ALERTS = {
    "SluiceErrorRateHigh",
    "SluiceIntakeLatencyRegression",
    "SluiceHeldBacklogHigh",
    "SluiceOldestHeldTooOld",
    "SluiceThroughputStalled",
    "SluiceWorkerDown",
    "SluiceWorkerAbsent",
    "SluiceFindingsSpike",
    "SluiceEventRateAnomaly",
    "SluiceDailyCostOverBudget",
    "SluiceRefusedDecisionsBurst",
}


def test_alerts_are_complete_and_documented() -> None:
    alerts = _alerts()
    assert set(alerts) >= REQUIRED_ALERTS
    docs = (ROOT / "docs" / "operating.md").read_text().lower()
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in {"critical", "warning"}, name
        for key in ("summary", "description", "runbook", "runbook_url"):
            assert rule["annotations"].get(key), f"{name} lacks {key}"
        anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
        assert f"### {name.lower()}" in docs, (
            f"docs/operating.md has no section for {name} (#{anchor})"
        )


def test_prometheus_example_config(promtool: str) -> None:
    proc = _run(promtool, "check", "config", "--syntax-only", str(PROM / "prometheus.yml"))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_alertmanager_config(amtool: str) -> None:
    proc = _run(amtool, "check-config", str(ALERTMANAGER))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["severity=critical"], {"sre-pager"}),
        (["severity=warning"], {"sre-tickets"}),
        (["severity=critical", "team=security"], {"security-oncall", "sre-pager"}),
        (["severity=warning", "team=security"], {"security-oncall", "sre-tickets"}),
        (
            ["alertname=SluiceReviewWaiting", "severity=warning", "role=security"],
            {"security-reviewers", "sre-tickets"},
        ),
        (
            ["alertname=SluiceReviewWaiting", "severity=warning", "role=release-manager"],
            {"release-managers", "sre-tickets"},
        ),
        (["alertname=SluiceReviewWaiting", "severity=warning", "role=other"], {"sre-tickets"}),
    ],
)
def test_alertmanager_routes_by_severity(
    amtool: str, labels: list[str], receivers: set[str]
) -> None:
    proc = _run(amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels)
    assert proc.returncode == 0, proc.stderr
    assert set(proc.stdout.strip().split(",")) == receivers


def test_every_alert_reaches_a_receiver(amtool: str) -> None:
    for name, rule in _alerts().items():
        labels = [f"alertname={name}", *(f"{k}={v}" for k, v in rule["labels"].items())]
        proc = _run(amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER}", *labels)
        got = set(proc.stdout.strip().split(","))
        expected = "sre-pager" if rule["labels"]["severity"] == "critical" else "sre-tickets"
        assert expected in got, (name, got)


#: The base of every runbook_url: a template each deployment replaces (docs/operating.md).
RUNBOOK_BASE = "https://github.com/example/sluice/blob/main/docs/operating.md#"
_AGGREGATION = re.compile(r"\b(sum|max|min|avg|count|stddev|stdvar)\s*(?:by\s*\(([^)]*)\))?\s*\(")


def test_runbook_urls_are_absolute_and_documented_as_a_template() -> None:
    docs = (ROOT / "docs" / "operating.md").read_text()
    assert RUNBOOK_BASE.split("/docs/")[0] in docs  # where the template is explained
    for name, rule in _alerts().items():
        url = rule["annotations"]["runbook_url"]
        assert url == RUNBOOK_BASE + name.lower(), name


def test_every_aggregation_keeps_job_and_namespace() -> None:
    for f in RULE_FILES:
        for group in yaml.safe_load(f.read_text())["groups"]:
            if group["name"] == "sluice-config":
                continue  # constants, compared with on() group_left
            for rule in group["rules"]:
                name = rule.get("record") or rule["alert"]
                found = _AGGREGATION.findall(rule["expr"])
                for op, by in found:
                    labels = {x.strip() for x in by.split(",")}
                    assert {"job", "namespace"} <= labels, f"{name}: {op} by ({by})"
