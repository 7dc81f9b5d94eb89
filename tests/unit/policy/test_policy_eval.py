"""Evaluation: first match wins, default, run-time errors, hash, risk, fast paths."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path
from typing import Any

import pytest

from sluice.models import Finding
from sluice.policy import Assessment, HoldSpec, load_policy

ORDERED = """
lists:
  known_vendors: [acme, globex]
rules:
  - name: first
    when: event.kind == "TOOL_CALL"
    allow: {}
  - name: second
    when: event.kind == "TOOL_CALL" || event.kind == "PROMPT"
    deny: {reason: "second"}
  - name: third
    when: event.kind == "PROMPT"
    allow: {}
default:
  deny: {reason: "nothing matched"}
"""


def test_deny_wins_over_an_earlier_allow(write_policy, make_event) -> None:
    # Under first-match, rule "first" allowed TOOL_CALLs; a matching deny now wins.
    policy = load_policy(write_policy(ORDERED))
    for kind in ("TOOL_CALL", "PROMPT"):
        a = policy.assess(make_event(kind=kind), [])
        assert (a.outcome, a.rule, a.reason, a.rules) == ("deny", "second", "second", ("second",))


def test_default_applies_when_nothing_matches(write_policy, make_event) -> None:
    a = load_policy(write_policy(ORDERED)).assess(make_event(kind="OTHER"), [])
    assert (a.outcome, a.rule, a.reason, a.hold) == ("deny", "default", "nothing matched", None)


def test_missing_default_is_a_fail_closed_hold(write_policy, make_event) -> None:
    policy = load_policy(write_policy('rules:\n  - {name: a, when: "false", allow: {}}\n'))
    a = policy.assess(make_event(), [])
    assert a.outcome == "hold" and a.rule == "default"
    assert a.hold is not None and a.hold.on_expiry == "REJECT" and a.hold.roles == ("security",)


SPEC_EXAMPLE = """
lists:
  known_vendors: [acme, globex]
rules:                                   # ordered; the first match wins
  - name: secret-found
    when: findings.exists(f, f.kind == "secret")
    deny: {reason: "credential in event"}
  - name: small-invoice-known-vendor
    when: event.kind == "RECORD_UPDATE" && event.attributes["vendor"] in lists.known_vendors
          && double(event.attributes["amount"]) < 5000.0
    allow: {}
  - name: code-publish
    when: event.kind == "CODE_PUBLISH"
    hold: {roles: [release-manager], approvals: 2, ttl: 1h, on_expiry: reject}
default:
  hold: {roles: [security], approvals: 1, ttl: 4h, on_expiry: reject}
"""


def test_spec_example_verbatim(write_policy, make_event) -> None:
    policy = load_policy(write_policy(SPEC_EXAMPLE))
    invoice = make_event(kind="RECORD_UPDATE", attributes={"vendor": "acme", "amount": "4999"})
    assert policy.assess(invoice, []).rule == "small-invoice-known-vendor"
    big = make_event(kind="RECORD_UPDATE", attributes={"vendor": "acme", "amount": "5000"})
    assert policy.assess(big, []).rule == "default"
    secret = Finding(kind="secret", detector="aws_access_key", field="content", start=0, end=4)
    a = policy.assess(invoice, [secret])
    assert (a.outcome, a.rule, a.risk_score) == ("deny", "secret-found", 1.0)
    a = policy.assess(make_event(kind="CODE_PUBLISH"), [])
    assert a.hold == HoldSpec(("release-manager",), 2, 3_600_000, "REJECT")


def test_runtime_error_is_no_match_and_counted(write_policy, make_event) -> None:
    policy = load_policy(write_policy(SPEC_EXAMPLE))
    # No vendor attribute: the condition raises (missing key) -> not matching, counted.
    no_vendor = make_event(kind="RECORD_UPDATE", attributes={})
    a = policy.assess(no_vendor, [])
    assert a.rule == "default"
    assert a.errors == ("small-invoice-known-vendor",)
    bad_amount = make_event(kind="RECORD_UPDATE", attributes={"vendor": "acme", "amount": "x"})
    assert policy.assess(bad_amount, []).errors == ("small-invoice-known-vendor",)
    assert policy.assess(no_vendor, []).errors == ("small-invoice-known-vendor",)  # memo hit
    assert policy.error_counts == {"small-invoice-known-vendor": 3}
    assert policy.errors_total == 3
    # A clean event does not count.
    policy.assess(make_event(kind="PROMPT"), [])
    assert policy.errors_total == 3


def test_missing_fields_and_none_never_raise(write_policy) -> None:
    policy = load_policy(write_policy(SPEC_EXAMPLE))
    # A missing `kind` makes `event.kind == "CODE_PUBLISH"` fail: that hold applies.
    a = policy.assess({}, [])
    assert (a.outcome, a.rule) == ("hold", "code-publish") and "code-publish" in a.errors
    for event in ({"kind": None}, {"kind": 3, "attributes": None}):
        assert policy.assess(event, []).outcome == "hold"
    a = policy.assess({"kind": "RECORD_UPDATE"}, [])
    assert (a.outcome, a.rule, a.errors) == ("hold", "default", ("small-invoice-known-vendor",))


def test_non_bool_result_is_an_error_not_a_match(write_policy, make_event) -> None:
    # `event.attributes["flag"]` is a string at run time; the probe cannot see that.
    policy = load_policy(
        write_policy("rules:\n  - {name: s, when: 'event.attributes[\"flag\"]', allow: {}}\n")
    )
    a = policy.assess(make_event(attributes={"flag": "yes"}), [])
    assert a.rule == "default" and a.errors == ("s",)


def test_now_is_epoch_ms(write_policy, make_event) -> None:
    policy = load_policy(
        write_policy(
            "rules:\n  - name: stale\n    when: now - event.occurred_at > 3600000\n"
            "    deny: {reason: stale}\n"
        )
    )
    event = make_event(occurred_at=1_000_000_000_000)
    assert policy.assess(event, [], now_ms=1_000_000_000_000 + 3_600_001).rule == "stale"
    assert policy.assess(event, [], now_ms=1_000_000_000_000 + 10).rule == "default"


def test_hash_is_sha256_of_the_file_bytes(write_policy, make_event) -> None:
    path = write_policy(ORDERED)
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    policy = load_policy(path)
    assert policy.hash == expected == load_policy(path).hash
    assert policy.assess(make_event(), []).policy_hash == expected
    other = load_policy(write_policy(ORDERED + "\n# a comment changes the content\n"))
    assert other.hash != expected


def test_default_policy_hash_is_the_packaged_file() -> None:
    data = (Path(__file__).parents[3] / "streams/sluice/policy/default.yaml").read_bytes()
    assert load_policy(None).hash == hashlib.sha256(data).hexdigest()


def test_risk_score(write_policy, make_event) -> None:
    policy = load_policy(write_policy(ORDERED.replace('TOOL_CALL" ||', 'MODEL_OUTPUT" ||')))
    clean = policy.assess(make_event(kind="TOOL_CALL"), [])
    assert (clean.outcome, clean.risk_score) == ("allow", 0.0)
    pii = Finding(kind="pii", detector="email", field="content", start=0, end=1, severity="high")
    one = policy.assess(make_event(kind="TOOL_CALL"), [pii]).risk_score
    two = policy.assess(make_event(kind="TOOL_CALL"), [pii, pii]).risk_score
    assert 0.0 < one < two < 1.0
    assert policy.assess(make_event(kind="PROMPT"), []).risk_score == 1.0  # deny
    held = load_policy(None).assess(make_event(kind="CODE_PUBLISH"), [])
    assert held.risk_score == 0.5


def test_findings_may_be_avro_dicts(write_policy, make_event) -> None:
    policy = load_policy(write_policy(SPEC_EXAMPLE))
    avro = Finding(kind="secret", detector="x", field="content", start=0, end=1).to_avro()
    assert policy.assess(make_event(), [avro]).outcome == "deny"


def test_assessment_is_frozen(make_event) -> None:
    a = load_policy().assess(make_event(kind="PROMPT"), [])
    assert isinstance(a, Assessment)
    with pytest.raises(AttributeError):
        a.outcome = "deny"  # type: ignore[misc]


# --- the fast paths must agree with plain CEL evaluation, event by event -------------

KINDS = [
    "PROMPT", "MODEL_OUTPUT", "TOOL_CALL", "DATA_ACCESS", "EXTERNAL_API",
    "CODE_PUBLISH", "MESSAGE_SEND", "MODEL_DEPLOY", "RECORD_UPDATE", "OTHER",
]  # fmt: skip


def _random_event(rnd: random.Random, make_event: Any) -> dict[str, Any]:
    event = make_event(
        kind=rnd.choice([*KINDS, "FUTURE_KIND"]),
        data_classification=rnd.choice(["PUBLIC", "INTERNAL", "CONFIDENTIAL", "RESTRICTED"]),
        resource=rnd.choice([None, "api.example.com", "a@example.com", "b@evil.test", "x"]),
        confidence=rnd.choice([None, 0.1, 0.69, 0.7, 0.71, 1.0, rnd.random(), 1]),
        cost_usd=rnd.choice([None, 0.0, 5.0, 5.01, 100.0, rnd.random() * 10, 7]),
        attributes=rnd.choice(
            [
                {},
                {"vendor": "acme"},
                {"vendor": "acme", "amount": str(rnd.randrange(10_000))},
                {"vendor": "globex", "amount": "12.5"},
                {"vendor": "mallory", "amount": "1"},
                {"vendor": "acme", "amount": "lots"},
            ]
        ),
    )
    # Some events are partial or oddly typed: exactness must hold for them too.
    for _ in range(rnd.choice([0, 0, 0, 1, 2])):
        event.pop(rnd.choice(list(event)), None)
    if rnd.random() < 0.05:
        event["kind"] = None
    return event


def _random_findings(rnd: random.Random) -> list[Finding]:
    kinds = ["secret", "pii", "markup", "sql_injection", "prompt_injection", "unicode"]
    return [
        Finding(
            kind=rnd.choice(kinds),
            detector="d",
            field="content",
            start=0,
            end=1,
            severity=rnd.choice(["low", "medium", "high", "critical"]),
        )
        for _ in range(rnd.choice([0, 0, 0, 0, 1, 2]))
    ]


@pytest.mark.parametrize("source", ["default", "spec"])
def test_fast_paths_agree_with_plain_cel(source, write_policy, make_event) -> None:
    path = None if source == "default" else write_policy(SPEC_EXAMPLE)
    fast, plain = load_policy(path), load_policy(path, optimize=False)
    rnd = random.Random(20261125)
    for _ in range(600):
        event = _random_event(rnd, make_event)
        findings = _random_findings(rnd)
        a, b = fast.assess(event, findings), plain.assess(event, findings)
        assert (a.outcome, a.rule, a.errors, a.risk_score) == (
            b.outcome,
            b.rule,
            b.errors,
            b.risk_score,
        ), event
    assert fast.error_counts == plain.error_counts
    if source == "spec":  # the run-time error path was exercised, not only clean matches
        assert plain.errors_total > 0
