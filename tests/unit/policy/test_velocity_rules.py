"""velocity.<dim>("<window>") in conditions: static checks, evaluation, fail closed."""

from __future__ import annotations

from typing import Any

import pytest

from sluice.policy import check_policy_bytes, load_policy
from sluice.policy.cases import base_event
from sluice.policy.velocity import VelocityRef, rewrite_velocity

ACTOR = "sluice_velocity_actor_300000"

POLICY = """
version: 1
limits: {burst: 3}
rules:
  - name: burst
    when: velocity.actor("5m") > limits.burst
    hold: {roles: [security], approvals: 1, ttl: 1h}
  - name: tool-spend
    when: event.kind == "TOOL_CALL" && velocity.spend('1h') > 10.0
    hold: {roles: [finance], approvals: 1, ttl: 1h}
  - name: routine
    when: event.kind in ["PROMPT", "TOOL_CALL"]
    allow: {}
default:
  deny: {reason: "no rule matched"}
"""


def _policy(tmp_path: Any, text: str = POLICY, **kw: Any) -> Any:
    p = tmp_path / "p.yaml"
    p.write_text(text, encoding="utf-8")
    return load_policy(p, **kw)


def _event(kind: str = "PROMPT") -> dict[str, Any]:
    e = base_event(1_700_000_000_000)
    e["kind"] = kind
    return e


def test_rewrite_names_the_windows_and_keeps_strings_intact() -> None:
    src, refs, problems = rewrite_velocity(
        'velocity.actor("5m") > 1 && event.step != "velocity.actor(\\"1h\\")"'
    )
    assert problems == ["velocity: the condition is too complex to analyse (escapes?)"]
    src, refs, problems = rewrite_velocity(
        'velocity.run("90s") > 1 && velocity . kind ( "1h" ) > 2 && event.step == "velocity.x"'
    )
    assert problems == []
    assert refs == (VelocityRef("kind", 3_600_000), VelocityRef("run", 90_000))
    assert src.endswith('event.step == "velocity.x"')
    assert "sluice_velocity_run_90000 > 1" in src
    assert rewrite_velocity("event.kind == 'PROMPT'") == ("event.kind == 'PROMPT'", (), [])


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("velocity.actor(event.step) > 1", 'only read as velocity.<dim>("<window>")'),
        ('velocity["actor"] > 1', "only read as"),
        ("velocity > 1", "only read as"),
        ('velocity.total("5m") > 1', "velocity.total: unknown"),
        ('velocity.actor("5 parsecs") > 1', "bad duration"),
        ('velocity.actor("500ms") > 1', "between 1s and 24h"),
        ('velocity.actor("2d") > 1', "between 1s and 24h"),
    ],
)
def test_check_refuses_what_cannot_be_counted(when: str, message: str) -> None:
    text = POLICY.replace('velocity.actor("5m") > limits.burst', when)
    problems = [str(p) for p in check_policy_bytes(text.encode())]
    assert any(message in p and "'burst'" in p for p in problems), problems


def test_check_accepts_the_velocity_rules_and_the_shipped_default() -> None:
    assert check_policy_bytes(POLICY.encode()) == []
    default = load_policy()
    assert default.velocity == (VelocityRef("actor", 300_000),)
    burst = next(r for r in default.rules if r.name == "actor-burst")
    assert burst.source.startswith("velocity.actor(")  # as written, for reports


@pytest.mark.parametrize("optimize", [True, False])
def test_threshold_holds_only_past_the_limit(tmp_path: Any, optimize: bool) -> None:
    policy = _policy(tmp_path, optimize=optimize)
    vel = {ACTOR: 3, "sluice_velocity_spend_3600000": 0.0}
    assert policy.assess(_event(), velocity=vel).rule == "routine"
    vel[ACTOR] = 4
    a = policy.assess(_event(), velocity=vel)
    assert (a.outcome, a.rule) == ("hold", "burst")
    vel = {ACTOR: 1, "sluice_velocity_spend_3600000": 10.5}
    assert policy.assess(_event("TOOL_CALL"), velocity=vel).rule == "tool-spend"
    assert policy.assess(_event("PROMPT"), velocity=vel).rule == "routine"


@pytest.mark.parametrize("optimize", [True, False])
def test_missing_counts_fail_closed(tmp_path: Any, optimize: bool) -> None:
    """No counts (a caller that forgot them, or a window it lacks) holds: never allows."""
    policy = _policy(tmp_path, optimize=optimize)
    a = policy.assess(_event())
    assert a.outcome == "hold" and "burst" in a.errors
    a = policy.assess(_event(), velocity={"sluice_velocity_spend_3600000": 0.0})
    assert a.outcome == "hold" and "burst" in a.errors


def test_counts_of_the_last_event_never_leak_into_the_next(tmp_path: Any) -> None:
    """The CEL context is reused per thread: a value set for one event must not stay."""
    policy = _policy(tmp_path)
    assert policy.assess(_event(), velocity={ACTOR: 1, "sluice_velocity_spend_3600000": 0.0})
    a = policy.assess(_event(), velocity={})
    assert a.outcome == "hold" and a.errors


def test_velocity_rules_are_not_memoised(tmp_path: Any) -> None:
    policy = _policy(tmp_path)
    burst = next(r for r in policy.rules if r.name == "burst")
    assert burst.memo is None
    outs = [
        policy.assess(_event(), velocity={ACTOR: n, "sluice_velocity_spend_3600000": 0.0}).rule
        for n in (1, 9, 1, 9)
    ]
    assert outs == ["routine", "burst", "routine", "burst"]


def test_a_policy_without_velocity_pays_nothing(tmp_path: Any) -> None:
    text = POLICY.replace('velocity.actor("5m") > limits.burst', "event.confidence != null")
    text = text.replace(" && velocity.spend('1h') > 10.0", "")
    policy = _policy(tmp_path, text=text)
    assert policy.velocity == () and not policy.uses_velocity


def test_python_decided_comparison_agrees_with_cel(tmp_path: Any) -> None:
    """The fast path (no CEL for ``velocity.x("w") > bound``) against plain evaluation,
    on counts around the bound, doubles, a missing count and a non-number."""
    import random

    fast, plain = _policy(tmp_path), _policy(tmp_path, optimize=False)
    burst = next(r for r in fast.rules if r.name == "burst")
    assert burst.vpred is not None
    rnd = random.Random(5)
    values: list[Any] = [0, 2, 3, 4, 3.0, 3.5, -1, 10**12, None, "4", True]
    for _ in range(200):
        vel: dict[str, Any] = {"sluice_velocity_spend_3600000": rnd.choice([0.0, 10.0, 10.5])}
        v = rnd.choice(values)
        if v is not None:
            vel[ACTOR] = v
        e = _event(rnd.choice(["PROMPT", "TOOL_CALL", "OTHER"]))
        a, b = fast.assess(e, velocity=vel), plain.assess(e, velocity=vel)
        assert (a.outcome, a.rules, a.errors) == (b.outcome, b.rules, b.errors), (v, vel)
