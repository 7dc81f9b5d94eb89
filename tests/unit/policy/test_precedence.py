"""Precedence (deny wins, holds combine, allow last), per-role requirements and levels,
and CEL run-time errors failing closed. Each test fails under first-match semantics."""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

import pytest

from sluice.models import Finding
from sluice.policy import HoldSpec, check_policy, load_policy
from sluice.policy.model import Requirement

INJECTION = Finding(
    kind="prompt_injection", detector="instruction_override", field="content", start=0, end=1
)


def errors_of(problems: list[Any]) -> list[str]:
    return [str(p) for p in problems if p.severity == "error"]


def warnings_of(problems: list[Any]) -> list[str]:
    return [str(p) for p in problems if p.severity == "warning"]


# --- 1. per-role requirements, levels, escalation ------------------------------------

REQS = """
rules:
  - name: both
    when: event.kind == "DATA_ACCESS"
    hold: {approvals: {data-steward: 1, security: 2}, ttl: 1h}
  - name: levels
    when: event.kind == "MODEL_DEPLOY"
    hold:
      levels: [{ml-lead: 1}, {platform-lead: 1, security: 1}]
      ttl: 2h
      on_expiry: escalate
      escalate: {approvals: {cto: 1}, ttl: 1h, carry_votes: true}
  - name: pool-escalation
    when: event.kind == "CODE_PUBLISH"
    hold: {roles: [release-manager], approvals: 2, on_expiry: escalate,
           escalate: {roles: [cto, vp], approvals: 1}}
"""


def test_approvals_map_and_levels_become_requirements(write_policy, make_event) -> None:
    policy = load_policy(write_policy(REQS))
    hold = policy.assess(make_event(kind="DATA_ACCESS"), []).hold
    assert hold is not None
    assert hold.requirements == (Requirement("data-steward", 1, 1), Requirement("security", 2, 1))
    assert (hold.roles, hold.approvals) == (("data-steward", "security"), 3)
    hold = policy.assess(make_event(kind="MODEL_DEPLOY"), []).hold
    assert hold is not None
    assert hold.requirements == (
        Requirement("ml-lead", 1, 1),
        Requirement("platform-lead", 1, 2),
        Requirement("security", 1, 2),
    )
    assert hold.escalate_requirements == (Requirement("cto", 1, 1),)
    assert (hold.escalate_roles, hold.escalate_approvals, hold.escalate_carry_votes) == (
        ("cto",),
        1,
        True,
    )
    hold = policy.assess(make_event(kind="CODE_PUBLISH"), []).hold
    assert hold is not None and hold.requirements == () and hold.escalate_requirements == ()
    assert (hold.escalate_roles, hold.escalate_approvals, hold.escalate_carry_votes) == (
        ("cto", "vp"),
        1,
        False,
    )


def test_shipped_restricted_data_needs_a_steward_and_security(make_event) -> None:
    a = load_policy().assess(make_event(kind="DATA_ACCESS", data_classification="RESTRICTED"), [])
    assert a.rule == "restricted-data" and a.hold is not None
    assert a.hold.requirements == (
        Requirement("data-steward", 1, 1),
        Requirement("security", 1, 1),
    )


@pytest.mark.parametrize(
    ("hold", "needle"),
    [
        ("{roles: [a], approvals: {a: 1}}", "roles is implied by the approvals map"),
        ("{approvals: {a: 0}}", "count for 'a' must be an integer >= 1"),
        ("{approvals: {}}", "approvals must be a non-empty map"),
        ("{levels: [{a: 1}], approvals: 1}", "use levels or approvals, not both"),
        ("{levels: []}", "levels must be a non-empty list"),
        ("{levels: [{a: 1}, [b]]}", "levels[1] must be a non-empty map"),
        ("{approvals: {a: true}}", "must be an integer >= 1"),
        (
            "{roles: [a], on_expiry: escalate, escalate: {roles: [b], carry_votes: maybe}}",
            "carry_votes must be true or false",
        ),
        (
            "{roles: [a], on_expiry: escalate, escalate: {approvals: {b: 1}, roles: [b]}}",
            "escalate: roles is implied",
        ),
        ("{roles: [a], on_expiry: escalate, escalate: {roles: [b], levels: [{b: 1}]}}",
         "escalate: unknown key 'levels'"),
    ],
)  # fmt: skip
def test_check_validates_requirements(write_policy, hold, needle) -> None:
    path = write_policy(f"rules:\n  - {{name: r, when: 'false', hold: {hold}}}\n")
    got = "\n".join(errors_of(check_policy(path)))
    assert needle in got


# --- 2. precedence never weakens a hold ----------------------------------------------


def test_code_publish_with_injection_needs_release_managers_and_security(make_event) -> None:
    """Issue 11: first-match gave one security approval instead of two release managers."""
    a = load_policy().assess(
        make_event(kind="CODE_PUBLISH"), [INJECTION], velocity={"sluice_velocity_actor_300000": 1}
    )
    assert a.outcome == "hold" and a.hold is not None
    assert a.rules == ("injection-found", "code-publish") and a.rule == "injection-found"
    assert set(a.hold.requirements) == {
        Requirement("security", 1, 1),
        Requirement("release-manager", 2, 1),
    }
    assert a.hold.approvals == 3 and a.hold.ttl_ms == 3_600_000
    assert a.hold.on_expiry == "REJECT"


PRECEDENCE = """
rules:
  - name: allow-tools
    when: event.kind == "TOOL_CALL"
    allow: {}
  - name: slow-approve
    when: event.kind == "TOOL_CALL" && event.cost_usd != null && event.cost_usd > 1.0
    hold: {roles: [finance], approvals: 1, ttl: 4h, on_expiry: approve}
  - name: fast-reject
    when: event.kind == "TOOL_CALL" && event.confidence != null && event.confidence < 0.5
    hold: {roles: [finance, ml], approvals: 2, ttl: 30m, on_expiry: reject}
  - name: escalating
    when: event.kind == "TOOL_CALL" && event.resource == "esc"
    hold: {roles: [ops], ttl: 2h, on_expiry: escalate, escalate: {roles: [cto], ttl: 1h}}
  - name: no-secrets
    when: findings.exists(f, f.kind == "secret")
    deny: {reason: "secret"}
default:
  hold: {roles: [security]}
"""


def test_deny_wins_even_when_written_last(write_policy, make_event) -> None:
    policy = load_policy(write_policy(PRECEDENCE))
    secret = Finding(kind="secret", detector="x", field="content", start=0, end=1)
    a = policy.assess(make_event(kind="TOOL_CALL", cost_usd=9.0), [secret])
    assert (a.outcome, a.rule, a.hold) == ("deny", "no-secrets", None)


def test_allow_decides_only_when_no_hold_matches(write_policy, make_event) -> None:
    policy = load_policy(write_policy(PRECEDENCE))
    assert policy.assess(make_event(kind="TOOL_CALL"), []).outcome == "allow"
    a = policy.assess(make_event(kind="TOOL_CALL", cost_usd=9.0), [])
    assert (a.outcome, a.rule) == ("hold", "slow-approve")
    assert a.hold is not None and a.hold.on_expiry == "APPROVE"  # alone: its own expiry


def test_combined_holds_take_the_strictest_of_everything(write_policy, make_event) -> None:
    policy = load_policy(write_policy(PRECEDENCE))
    a = policy.assess(make_event(kind="TOOL_CALL", cost_usd=9.0, confidence=0.1), [])
    assert a.outcome == "hold" and a.rules == ("slow-approve", "fast-reject")
    assert a.hold is not None
    # The "any of finance, ml" pool becomes one requirement per role when combined.
    assert a.hold.requirements == (Requirement("finance", 2, 1), Requirement("ml", 2, 1))
    assert (a.hold.ttl_ms, a.hold.on_expiry) == (1_800_000, "REJECT")
    a = policy.assess(make_event(kind="TOOL_CALL", cost_usd=9.0, resource="esc"), [])
    assert a.hold is not None and a.hold.on_expiry == "ESCALATE"  # escalate beats approve
    assert a.hold.escalate_requirements == (Requirement("cto", 1, 1),)
    assert (a.hold.ttl_ms, a.hold.escalate_ttl_ms) == (2 * 3_600_000, 3_600_000)


def test_combine_holds_merges_same_role_and_level_by_max() -> None:
    from sluice.policy.model import combine_holds

    a = HoldSpec(("sec",), 1, 60_000, requirements=(Requirement("sec", 1, 1),))
    b = HoldSpec(("sec", "x"), 3, 30_000, requirements=(
        Requirement("sec", 2, 1), Requirement("x", 1, 2)))  # fmt: skip
    c = combine_holds([a, b])
    assert c.requirements == (Requirement("sec", 2, 1), Requirement("x", 1, 2))
    assert (c.approvals, c.ttl_ms, c.roles) == (3, 30_000, ("sec", "x"))
    assert combine_holds([a]) is a


# --- 3. CEL run-time errors fail closed ----------------------------------------------

ERRORS = """
lists:
  known_vendors: [acme]
rules:
  - name: big-invoice
    when: event.kind == "RECORD_UPDATE" && double(event.attributes["amount"]) >= 5000.0
    hold: {roles: [finance], approvals: 2}
  - name: blocked-vendor
    when: event.kind == "RECORD_UPDATE" && event.attributes["vendor"] == "mallory"
    deny: {reason: "blocked vendor"}
  - name: invoices
    when: event.kind == "RECORD_UPDATE" && double(event.attributes["amount"]) > 0.0
    allow: {}
default:
  allow: {}
"""


@pytest.mark.parametrize("optimize", [True, False])
@pytest.mark.parametrize(
    ("attributes", "outcome", "rule"),
    [
        ({"vendor": "acme", "amount": "100"}, "allow", "invoices"),
        ({"vendor": "acme", "amount": "20000"}, "hold", "big-invoice"),
        # "20,000" fails double(): the hold matches (fail closed), the allow does not.
        ({"vendor": "acme", "amount": "20,000"}, "hold", "big-invoice"),
        # No vendor key: the deny's condition fails, which counts as a deny.
        ({"amount": "100"}, "deny", "blocked-vendor"),
        ({"vendor": "mallory", "amount": "1"}, "deny", "blocked-vendor"),
    ],
)
def test_runtime_errors_fail_closed(write_policy, make_event, optimize, attributes, outcome, rule):
    policy = load_policy(write_policy(ERRORS), optimize=optimize)
    for _ in range(2):  # the second time from the memo
        a = policy.assess(make_event(kind="RECORD_UPDATE", attributes=attributes), [])
        assert (a.outcome, a.rule) == (outcome, rule)
    if attributes.get("amount") == "20,000":
        assert a.errors == ("big-invoice",)  # allows are not evaluated once a hold matched
        assert a.reason is not None and "fail closed" in a.reason
    if "vendor" not in attributes:
        assert a.errors == ("blocked-vendor",) and a.reason is not None
        assert a.reason.startswith("blocked vendor;")


def test_missing_amount_key_is_held_not_allowed(write_policy, make_event) -> None:
    policy = load_policy(write_policy(ERRORS))
    a = policy.assess(make_event(kind="RECORD_UPDATE", attributes={"vendor": "acme"}), [])
    assert (a.outcome, a.rule) == ("hold", "big-invoice")
    assert policy.error_counts["big-invoice"] == 1


def test_check_warns_on_conversions_of_producer_text(write_policy) -> None:
    got = warnings_of(check_policy(write_policy(ERRORS)))
    assert any("'big-invoice': double() of producer-supplied text" in m for m in got)
    assert any("'invoices': double() of producer-supplied text" in m for m in got)
    guarded = ERRORS.replace(
        'double(event.attributes["amount"]) > 0.0',
        'event.attributes["amount"].matches("^[0-9]+$")'
        ' && double(event.attributes["amount"]) > 0.0',
    )
    got = warnings_of(check_policy(write_policy(guarded)))
    assert not any("'invoices': double()" in m for m in got)
    assert "policy default: allow: an event no rule matches is approved" in " ".join(got)
    numeric = "rules:\n  - {name: n, when: 'double(event.cost_usd) > 1.0', hold: {roles: [a]}}\n"
    assert not any("double()" in m for m in warnings_of(check_policy(write_policy(numeric))))


def test_check_reports_rules_that_can_weaken(write_policy) -> None:
    problems = check_policy(write_policy(PRECEDENCE))
    assert any(
        "'slow-approve': can weaken a stricter rule: on_expiry approve" in m
        for m in warnings_of(problems)
    )
    shadowed = write_policy(
        "rules:\n"
        "  - {name: hold-all, when: 'event.kind == \"CODE_PUBLISH\"', hold: {roles: [rm]}}\n"
        "  - name: small\n"
        '    when: event.kind == "CODE_PUBLISH" && event.cost_usd < 1.0\n'
        "    allow: {}\n"
        "  - {name: deny-later, when: 'event.kind == \"CODE_PUBLISH\"', deny: {reason: blocked}}\n"
    )
    got = errors_of(check_policy(shadowed))
    assert any(m.startswith("policy rule 'small': unreachable: hold rule 'hold-all'") for m in got)
    assert any(
        m.startswith("policy rule 'hold-all': unreachable: deny rule 'deny-later'") for m in got
    )
    assert check_policy(None) == []


# --- assess never raises; fast paths agree with plain CEL under the new semantics ------


class _Hostile(Mapping[str, Any]):
    """A mapping that fails on access: assess must still answer, fail closed."""

    def __getitem__(self, key: str) -> Any:
        raise RuntimeError("boom")

    def __iter__(self) -> Any:
        raise RuntimeError("boom")

    def __len__(self) -> int:
        return 1

    def get(self, key: str, default: Any = None) -> Any:
        raise RuntimeError("boom")


@pytest.mark.parametrize("optimize", [True, False])
def test_assess_never_raises_and_fails_closed(write_policy, optimize) -> None:
    for policy in (
        load_policy(optimize=optimize),
        load_policy(write_policy(ERRORS), optimize=optimize),
    ):
        a = policy.assess(_Hostile(), [])
        assert a.outcome == "hold" and a.hold is not None and a.hold.on_expiry == "REJECT"


def _random_event(rnd: random.Random, make_event: Any) -> dict[str, Any]:
    event = make_event(
        kind=rnd.choice(["TOOL_CALL", "RECORD_UPDATE", "CODE_PUBLISH", "MESSAGE_SEND", "OTHER"]),
        data_classification=rnd.choice(["PUBLIC", "INTERNAL", "RESTRICTED"]),
        resource=rnd.choice([None, "esc", "a@example.com", "x@evil.io, b@example.com"]),
        confidence=rnd.choice([None, 0.1, 0.9]),
        arguments=rnd.choice(
            [None, {}, {"cc": "x@evil.io"}, {"to": "a@example.com"}, {"subject": "a @ b"}]
        ),
        cost_usd=rnd.choice([None, 0.5, 9.0]),
        attributes=rnd.choice(
            [
                {},
                {"vendor": "acme"},
                {"vendor": "acme", "amount": "20,000"},
                {"vendor": "mallory", "amount": "1"},
                {"vendor": "acme", "amount": "-5"},
                {"vendor": "acme", "amount": str(rnd.randrange(9000))},
            ]
        ),
    )
    if rnd.random() < 0.1:
        event.pop(rnd.choice(list(event)), None)
    return event


@pytest.mark.parametrize("source", ["default", "precedence", "errors"])
def test_fast_paths_agree_with_plain_cel_under_precedence(source, write_policy, make_event):
    path = {"default": None, "precedence": PRECEDENCE, "errors": ERRORS}[source]
    if path is not None:
        path = write_policy(path)
    fast, plain = load_policy(path), load_policy(path, optimize=False)
    rnd = random.Random(11)
    kinds = ["secret", "prompt_injection", "markup", "unicode", "pii"]
    for _ in range(300):
        event = _random_event(rnd, make_event)
        findings = [
            Finding(kind=rnd.choice(kinds), detector=rnd.choice(["script_tag", "d"]),
                    field="content", start=0, end=1)
            for _ in range(rnd.choice([0, 0, 1]))
        ]  # fmt: skip
        a, b = fast.assess(event, findings), plain.assess(event, findings)
        assert a == b, event
    assert fast.error_counts == plain.error_counts


@pytest.mark.parametrize(
    ("source", "needs"),
    [
        ('findings.exists(f, f.kind == "secret")', True),
        ('event.kind == "A" && (findings.exists(f, f.kind == "x"))', True),
        ("findings.exists(f, true) == false", False),
        ("!findings.exists(f, true)", False),
        ("findings.exists(f, true) || true", False),
        ("findings.exists(f, true).size()", False),
        ("findings.all(f, false)", False),
    ],
)
def test_rules_skipped_without_findings_are_exactly_those_false_then(source, needs) -> None:
    from sluice.policy.analysis import analyze

    assert analyze(source).needs_findings is needs
