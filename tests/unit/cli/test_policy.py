"""``sluice policy check|test`` through Typer, with the exit codes SPEC §7 gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from sluice.cli.main import app as root_app
from sluice.errors import ConfigError
from sluice.policy.cases import load_cases

ROOT = Path(__file__).parents[3]
DEFAULT = str(ROOT / "streams/sluice/policy/default.yaml")
DEFAULT_CASES = str(ROOT / "tests/data/policies/default_cases.yaml")


@pytest.fixture(scope="module")
def app() -> typer.Typer:
    """The real root app (CliRunner keeps the exception main() would turn into exit 2)."""
    return root_app


def run(app: typer.Typer, *args: str):
    return CliRunner().invoke(app, ["policy", *args])


def test_check_default_ok(app) -> None:
    result = run(app, "check", DEFAULT, "--json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"file": DEFAULT, "ok": True, "problems": []}


def test_check_problems_exit_1_one_per_line(app, write_policy) -> None:
    path = write_policy("bogus: 1\nrules:\n  - {name: a, when: 'event.kind ==', allow: {}}\n")
    result = run(app, "check", str(path))
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"{path}: error: policy") for line in lines)
    assert any("policy rule 'a': CEL error at 1:" in line for line in lines)


def test_check_warnings_pass_unless_strict(app, write_policy) -> None:
    path = write_policy("rules:\n  - {name: a, when: 'event.confidence < 0.5', allow: {}}\n")
    assert run(app, "check", str(path)).exit_code == 0
    assert run(app, "check", str(path), "--strict").exit_code == 1


def test_check_unreadable_is_config_error(app, tmp_path) -> None:
    result = run(app, "check", str(tmp_path / "nope.yaml"))
    assert isinstance(result.exception, ConfigError)  # main() turns this into exit 2


def test_default_cases_all_pass(app) -> None:
    result = run(app, "test", DEFAULT, DEFAULT_CASES, "--json")
    assert result.exit_code == 0, result.stdout
    payload = json.loads(result.stdout)
    assert payload["failed"] == 0 and payload["passed"] >= 20


def test_default_cases_cover_every_default_rule() -> None:
    from sluice.policy import load_policy

    cases = load_cases(DEFAULT_CASES)
    covered = {c.get("rule") for c in cases}
    assert {r.name for r in load_policy(DEFAULT).rules} | {"default"} <= covered


def test_failing_case_exit_1_and_jsonl(app, tmp_path) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        json.dumps({"name": "ok", "event": {"kind": "CODE_PUBLISH"}, "expect": "hold"})
        + "\n"
        + json.dumps({"name": "wrong", "event": {"kind": "PROMPT"}, "expect": "deny"})
        + "\n"
        + json.dumps(
            {"name": "wrong-rule", "event": {"kind": "PROMPT"}, "expect": "allow", "rule": "x"}
        )
        + "\n",
        encoding="utf-8",
    )
    result = run(app, "test", DEFAULT, str(cases))
    assert result.exit_code == 1
    out = result.stdout.splitlines()
    assert out[0] == "PASS ok: hold (code-publish)"
    assert out[1] == "FAIL wrong: expected deny, got allow (routine)"
    assert out[2] == "FAIL wrong-rule: expected allow (x), got allow (routine)"


def test_case_rules_check_every_rule_of_a_combined_hold(app, tmp_path) -> None:
    finding = {"kind": "sql_injection", "detector": "union_select"}
    base = {"event": {"kind": "CODE_PUBLISH"}, "findings": [finding], "expect": "hold"}
    cases = tmp_path / "cases.jsonl"
    cases.write_text(
        json.dumps({"name": "both", **base, "rules": ["code-publish", "injection-found"]})
        + "\n"
        + json.dumps({"name": "one", **base, "rules": ["code-publish"]})
        + "\n",
        encoding="utf-8",
    )
    result = run(app, "test", DEFAULT, str(cases))
    assert result.exit_code == 1
    out = result.stdout.splitlines()
    assert out[0] == "PASS both: hold (injection-found, code-publish)"
    assert out[1] == "FAIL one: expected hold, got hold (injection-found, code-publish)"


def test_bad_cases_and_bad_policy_are_config_errors(app, tmp_path, write_policy) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- {name: x, expect: maybe}\n", encoding="utf-8")
    assert isinstance(run(app, "test", DEFAULT, str(bad)).exception, ConfigError)
    broken = write_policy("rules:\n  - {name: a, when: '(', allow: {}}\n")
    result = run(app, "test", str(broken), DEFAULT_CASES)
    assert isinstance(result.exception, ConfigError)
    assert "policy rule 'a'" in str(result.exception)
