"""Shadow policy, pure parts: the disagreement record, routing untouched, no content in
the record, identical policies silent, bounded metric labels, and the offline replay."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from sluice.codec import default_codec
from sluice.metrics import create
from sluice.pipeline import Intake, IntakeResult
from sluice.policy import load_policy
from sluice.policy.model import Assessment, HoldSpec
from sluice.settings import load_settings
from sluice.shadow import OUTCOMES, ShadowPolicy, disagreement, effect, hook_for
from sluice.shadow.diff import Stored, format_report, replay
from sluice.shadow.replay import stored_from_held, stored_from_outcome
from sluice.tools.bench.events import make_events
from sluice.topics import Topics
from sluice.worker import build_intake

CODEC = default_codec()
NOW = time.time_ns() // 1_000_000
TOPICS = Topics.with_prefix("")
# Built by concatenation: no scanner bait in the repository.
AWS = "AKIA" + "QWERTYUIOP" + "ASDFGH"
CANARY = "canary-" + "content-7f3a"

LIVE = """
rules:
  - name: secret-found
    when: findings.exists(f, f.kind == "secret")
    deny: {reason: credential}
  - name: routine-tools
    when: event.kind == "TOOL_CALL"
    allow: {}
  - name: prompts
    when: event.kind == "PROMPT"
    allow: {}
default:
  hold: {roles: [security], approvals: 1, ttl: 4h}
"""
# Holds what live passes (tool calls), lets through what live denies (secrets), and
# holds prompts under the same outcome but with two approvals.
CANDIDATE = """
rules:
  - name: tools-reviewed
    when: event.kind == "TOOL_CALL"
    hold: {roles: [security], approvals: 1, ttl: 1h}
  - name: prompts
    when: event.kind == "PROMPT"
    allow: {}
default:
  hold: {roles: [security], approvals: 2, ttl: 4h}
"""


def _policy(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("policies")
    return _policy(tmp, "live.yaml", LIVE), _policy(tmp, "cand.yaml", CANDIDATE)


@pytest.fixture(scope="module")
def wired(policies: tuple[Path, Path]) -> Intake:
    """The worker's own wiring (build_intake) with SLUICE_SHADOW_POLICY_FILE set; its
    codec, validator and sanitizer are reused below (building a sanitizer takes seconds)."""
    live, cand = policies
    settings = load_settings(
        fingerprint_key="shadow-" + "unit",
        data_dir="/nonexistent",
        policy_file=str(live),
        shadow_policy_file=str(cand),
    )
    intake, policy = build_intake(settings, TOPICS)
    assert policy.hash == load_policy(live).hash  # the live policy is what the worker reports
    return intake


_WIRED: list[Intake] = []


@pytest.fixture(autouse=True)
def _parts(wired: Intake) -> None:
    _WIRED[:] = [wired]


def _intake(live: Path, shadow: Path | None) -> Intake:
    """An intake with the wired parts and these policies (a ShadowPolicy when ``shadow``)."""
    parts = _WIRED[0]
    policy: Any = load_policy(live)
    if shadow is not None:
        policy = ShadowPolicy(policy, load_policy(shadow))
    return Intake(parts._codec, parts._validator, parts._sanitizer, policy, TOPICS)


def _event(**over: Any) -> dict[str, Any]:
    ev = make_events(1, held_share=0.0, seed=5, now_ms=NOW)[0]
    ev.update(over)
    return ev


def _events() -> list[dict[str, Any]]:
    """A mix: tool calls, prompts, other kinds, and a secret-bearing tool call."""
    evs = make_events(40, held_share=0.3, seed=21, now_ms=NOW)
    for i, ev in enumerate(evs[:12]):
        ev["kind"] = ("TOOL_CALL", "PROMPT", "CODE_PUBLISH")[i % 3]
    evs.append(_event(kind="TOOL_CALL", content=f"key {AWS} and {CANARY}"))
    return evs


def _process(intake: Intake, ev: dict[str, Any], offset: int = 7) -> IntakeResult:
    value = CODEC.encode("WorkflowEvent", ev)
    return intake.process(value, ev["run_id"].encode(), (TOPICS.events, 1, offset), NOW, NOW)


def _drain(intake: Intake, evs: list[dict[str, Any]]) -> tuple[list[IntakeResult], list[Any]]:
    """Process like the agent: results, and the (key, value) shadow records."""
    metrics = create(CollectorRegistry())
    hook = hook_for(intake.policy, CODEC, TOPICS.policy_shadow, metrics)
    assert hook is not None
    hook.begin()
    results, records = [], []
    for i, ev in enumerate(evs):
        r = _process(intake, ev, offset=i)
        results.append(r)
        records += hook.take(r, (TOPICS.events, 1, i), NOW)
    return results, records


def test_routing_is_the_live_policys_byte_for_byte(
    policies: tuple[Path, Path], wired: Intake
) -> None:
    live, _ = policies
    plain, shadowed = _intake(live, None), wired
    assert isinstance(shadowed.policy, ShadowPolicy)
    assert not isinstance(plain.policy, ShadowPolicy)
    for ev in _events():
        a, b = _process(plain, ev), _process(shadowed, ev)
        assert (a.outcome, a.topic, a.key, a.value, a.audit) == (
            b.outcome,
            b.topic,
            b.key,
            b.value,
            b.audit,
        )


def test_disagreement_record_fields(policies: tuple[Path, Path]) -> None:
    live, cand = policies
    intake = _intake(live, cand)
    ev = _event(kind="TOOL_CALL")
    results, records = _drain(intake, [ev])
    assert results[0].topic == TOPICS.approved  # live allowed it: routing unchanged
    ((key, value),) = records
    assert key == ev["event_id"].encode()
    rec = CODEC.decode("ShadowDisagreement", value)
    assert rec == {
        "event_id": ev["event_id"],
        "kind": "TOOL_CALL",
        "change": "outcome",
        "live_outcome": "allow",
        "live_rule": "routine-tools",
        "live_rules": ["routine-tools"],
        "live_policy_hash": load_policy(live).hash,
        "candidate_outcome": "hold",
        "candidate_rule": "tools-reviewed",
        "candidate_rules": ["tools-reviewed"],
        "candidate_policy_hash": load_policy(cand).hash,
        "candidate_errors": [],
        "source": f"{TOPICS.events}/1/0",
        "at": NOW,
    }


def test_same_outcome_other_requirements_is_a_disagreement(
    policies: tuple[Path, Path],
) -> None:
    live, cand = policies
    ev = _event(kind="CODE_PUBLISH")  # both: default hold; 1 vs 2 approvals
    _, records = _drain(_intake(live, cand), [ev])
    ((_, value),) = records
    rec = CODEC.decode("ShadowDisagreement", value)
    assert (rec["change"], rec["live_outcome"], rec["candidate_outcome"]) == (
        "requirements",
        "hold",
        "hold",
    )


def test_a_secret_or_content_never_reaches_the_shadow_record(
    policies: tuple[Path, Path],
) -> None:
    live, cand = policies
    ev = _event(
        kind="TOOL_CALL",
        content=f"deploy with {AWS} -- {CANARY}",
        arguments={"token": AWS, "note": CANARY},
        attributes={"k": CANARY},
        step=CANARY,
        action=CANARY,
    )
    results, records = _drain(_intake(live, cand), [ev])
    assert results[0].topic == TOPICS.rejected  # live denies the secret...
    ((_, value),) = records  # ...the candidate would hold it: a disagreement
    rec = CODEC.decode("ShadowDisagreement", value)
    assert (rec["live_rule"], rec["candidate_rule"]) == ("secret-found", "tools-reviewed")
    for needle in (AWS, CANARY, "QWERTYUIOP", "canary"):
        assert needle.encode() not in value
        assert needle not in repr(rec)


def test_identical_policies_give_no_records(policies: tuple[Path, Path], tmp_path: Path) -> None:
    live, _ = policies
    same = _policy(tmp_path, "same.yaml", LIVE + "\n# a comment: another hash\n")
    results, records = _drain(_intake(live, same), _events())
    assert records == []
    assert len(results) == len(_events())


def test_metric_labels_stay_bounded(policies: tuple[Path, Path], tmp_path: Path) -> None:
    # A candidate with a rule per event kind and another per classification: many rules,
    # still at most outcomes x outcomes series, never a rule name or an id.
    rules = "\n".join(
        f'  - name: r-{k.lower()}\n    when: event.kind == "{k}"\n    deny: {{reason: x}}'
        for k in ("TOOL_CALL", "PROMPT", "CODE_PUBLISH", "DATA_ACCESS", "MESSAGE_SEND")
    )
    cand = _policy(tmp_path, "many.yaml", f"rules:\n{rules}\ndefault:\n  allow: {{}}\n")
    live, _ = policies
    intake = _intake(live, cand)
    registry = CollectorRegistry()
    metrics = create(registry)
    hook = hook_for(intake.policy, CODEC, TOPICS.policy_shadow, metrics)
    assert hook is not None
    hook.begin()
    evs = make_events(300, held_share=0.3, seed=9, now_ms=NOW)
    n = sum(
        len(hook.take(_process(intake, ev, i), (TOPICS.events, 0, i), NOW))
        for i, ev in enumerate(evs)
    )
    hook.after_commit(metrics)
    samples = [
        s
        for fam in registry.collect()
        if fam.name == "sluice_shadow_disagreements"
        for s in fam.samples
        if s.name.endswith("_total")
    ]
    assert n > 50
    assert len(samples) <= len(OUTCOMES) ** 2
    assert {tuple(sorted(s.labels)) for s in samples} == {("candidate", "live")}
    assert {v for s in samples for v in s.labels.values()} <= set(OUTCOMES)
    assert sum(s.value for s in samples) == n
    assert registry.get_sample_value("sluice_shadow_events_total") == len(evs)


def test_a_failing_candidate_never_changes_routing(policies: tuple[Path, Path]) -> None:
    live, _ = policies

    class Boom:
        hash = "b" * 64

        def assess(self, *a: Any, **kw: Any) -> Any:
            raise RuntimeError(f"boom {AWS}")

    real = load_policy(live)
    shadow = ShadowPolicy(real, Boom())
    ev = _event(kind="TOOL_CALL")
    assert shadow.assess(ev, []) == real.assess(ev, [])
    assert shadow.pending == []


def test_a_record_sent_to_the_dlq_after_assessment_gives_no_shadow_record(
    policies: tuple[Path, Path],
) -> None:
    live, cand = policies
    intake = _intake(live, cand)
    hook = hook_for(intake.policy, CODEC, TOPICS.policy_shadow, create(CollectorRegistry()))
    assert hook is not None
    hook.begin()
    ev = _event(kind="TOOL_CALL")
    intake.policy.assess(ev, [])  # assessed, then (say) encoding failed: DLQ
    dead = IntakeResult("invalid", "unknown", TOPICS.dlq, None, b"", {}, event_id=ev["event_id"])
    assert hook.take(dead, (TOPICS.events, 0, 0), NOW) == []
    assert hook.pending == []


def test_begin_forgets_an_aborted_attempt(policies: tuple[Path, Path]) -> None:
    live, cand = policies
    intake = _intake(live, cand)
    registry = CollectorRegistry()
    metrics = create(registry)
    hook = hook_for(intake.policy, CODEC, TOPICS.policy_shadow, metrics)
    assert hook is not None
    hook.begin()
    ev = _event(kind="TOOL_CALL")
    hook.take(_process(intake, ev), (TOPICS.events, 0, 0), NOW)
    hook.begin()  # the transaction aborted; the batch is redone
    hook.take(_process(intake, ev), (TOPICS.events, 0, 0), NOW)
    hook.after_commit(metrics)
    assert (
        registry.get_sample_value(
            "sluice_shadow_disagreements_total", {"live": "allow", "candidate": "hold"}
        )
        == 1
    )
    assert registry.get_sample_value("sluice_shadow_events_total") == 1


def test_disagreement_and_effect() -> None:
    spec = HoldSpec(roles=("security",), approvals=1, ttl_ms=1000)

    def a(outcome: str, rule: str, hold: HoldSpec | None = None) -> Assessment:
        return Assessment(outcome, rule, None, hold, "h", 0.0, (), (rule,))

    assert disagreement(a("allow", "x"), a("allow", "x")) is None
    assert disagreement(a("allow", "x"), a("hold", "x", spec)) == "outcome"
    assert disagreement(a("allow", "x"), a("allow", "y")) == "rule"
    two = HoldSpec(roles=("security",), approvals=2, ttl_ms=1000)
    assert disagreement(a("hold", "x", spec), a("hold", "x", two)) == "requirements"
    assert effect("allow", "hold") == effect("deny", "hold") == "newly_held"
    assert effect("hold", "allow") == "released"
    assert effect("allow", "deny") == effect("hold", "deny") == "newly_denied"
    assert effect("deny", "allow") == "newly_allowed"
    assert effect("hold", "hold") == "same_outcome"


# -- offline replay ------------------------------------------------------------------------


def _stored(policies: tuple[Path, Path]) -> list[Stored]:
    """Stored decisions as intake wrote them (HeldEvent / Outcome records, decoded)."""
    live, _ = policies
    intake = _intake(live, None)
    out = []
    for ev in _events():
        r = _process(intake, ev)
        name, rec = CODEC.decode_any(r.value)
        s = stored_from_held(CODEC, rec) if name == "HeldEvent" else stored_from_outcome(CODEC, rec)
        assert s is not None
        out.append(s)
    return out


def test_replay_counts_changes_by_rule(policies: tuple[Path, Path]) -> None:
    live, cand = policies
    stored = _stored(policies)
    report = replay(stored, load_policy(cand), since_ms=NOW - 1, until_ms=NOW)
    tools = sum(1 for s in stored if s.event["kind"] == "TOOL_CALL" and s.live_outcome == "allow")
    assert report.replayed == len(stored)
    assert report.rows[("routine-tools", "allow", "tools-reviewed", "hold")] == tools > 0
    assert report.rows[("secret-found", "deny", "tools-reviewed", "hold")] == 1
    assert report.effects["newly_held"] == tools + 1
    # The worker's comparison (--live) agrees with the worker path on the same events.
    _, records = _drain(_intake(live, cand), _events())
    both = replay(stored, load_policy(cand), since_ms=0, until_ms=NOW, live=load_policy(live))
    assert both.changed == len(records)
    text = format_report(report)
    assert "routine-tools" in text and "tools-reviewed" in text
    assert f"{report.changed} would change" in text
    js = report.to_json()
    assert js["changed"] == report.changed and js["rows"][0]["events"] >= 1


def test_replay_of_the_live_policy_itself_changes_nothing(policies: tuple[Path, Path]) -> None:
    live, _ = policies
    report = replay(_stored(policies), load_policy(live), since_ms=0, until_ms=NOW)
    assert report.replayed > 0 and report.changed == 0 and report.rows == {}


def test_gate_outcomes_are_not_replayed_as_intake_decisions() -> None:
    ev = CODEC.encode("WorkflowEvent", _event())
    base = {"event_id": "e", "kind": "TOOL_CALL", "outcome": "APPROVED", "event": ev}
    assert stored_from_outcome(CODEC, {**base, "source": "REVIEWER", "reason_code": None}) is None
    assert stored_from_outcome(CODEC, {**base, "source": "POLICY", "reason_code": "x"}) is None
    s = stored_from_outcome(CODEC, {**base, "source": "POLICY", "reason_code": None})
    assert s is not None and s.live_outcome == "allow"
