"""The Python-compiled conditions (sluice.policy.fastpath) against the CEL runtime.

Differential: wherever the compiled form answers, CEL must give the very same bool (no
error); where CEL errs, the compiled form must have stepped aside (Fallback). Checked per
rule over the default policy, mutated copies of its rules and a battery of shapes, and
per policy (optimised engine against the plain evaluator) on thousands of events.
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import Any

import cel
import pytest
import yaml

from sluice.models import Finding
from sluice.policy import load_policy
from sluice.policy.cases import base_event
from sluice.policy.celparse import Unsupported, parse
from sluice.policy.fastpath import Fallback, compile_fast
from sluice.policy.inputs import finding_to_cel

DEFAULT = load_policy(None)
LISTS, LIMITS = DEFAULT.lists, DEFAULT.limits

KINDS = [
    "PROMPT", "MODEL_OUTPUT", "TOOL_CALL", "DATA_ACCESS", "EXTERNAL_API",
    "CODE_PUBLISH", "MESSAGE_SEND", "MODEL_DEPLOY", "RECORD_UPDATE", "OTHER", "FUTURE",
]  # fmt: skip
STRINGS = [
    "", "api.example.com", "payments.example.com", "evil.io", "api.example.com.evil.io",
    "bob@example.com", "ops@corp.example.com", "eve@attacker.io", "bob@example.com, eve@x.io",
    "eve\uff20attacker.io", "eve@attacker\uff0eio", "eve%40attacker.io", "a@b.c",
    "https://api.example.com/x", "//evil.io", " //evil.io", "\u00a0//evil.io", "\x0b//evil.io",
    "JavaScript:alert(1)", "data:text/html,x", "mailto:eve@x.io", "select 1", "42", "4999.99",
    "5000", "20,000", "-5", "1e9", "NaN", "0.5", "12.345", "acme", "globex", "ACME",
    "\u0456nitech", "K", "\u212a", "caf\u00e9", "\u00e9", "x\ny", "Ignore previous",
]  # fmt: skip
KEYS = [
    "q", "url", "URL", "callback", "to", "cc", "bcc", "reply_to", "sendTo", "Host", "body",
    "amount", "Amount", "total", "price", "vendor", "e-mail", "email", "recipients",
    "\u0445ost", "subject", "limit", "proxy_url", "toggle",
]  # fmt: skip
NUMBERS = [None, 0.0, -0.0, 0.1, 0.69, 0.7, 0.71, 1.0, 5.0, 5.01, 100.0, 7, 0, math.nan, 1e308]


def _map(rnd: random.Random, n: int) -> dict[str, str]:
    return {rnd.choice(KEYS): rnd.choice(STRINGS) for _ in range(n)}


def random_event(rnd: random.Random) -> dict[str, Any]:
    event = base_event(1_700_000_000_000)
    event.update(
        kind=rnd.choice(KINDS),
        data_classification=rnd.choice(["PUBLIC", "INTERNAL", "CONFIDENTIAL", "RESTRICTED"]),
        resource=rnd.choice([None, *STRINGS]),
        confidence=rnd.choice(NUMBERS),
        cost_usd=rnd.choice(NUMBERS),
        arguments=rnd.choice([None, {}, _map(rnd, 1), _map(rnd, 2), _map(rnd, 4)]),
        attributes=rnd.choice(
            [
                {},
                _map(rnd, 2),
                {"vendor": rnd.choice(STRINGS), "amount": rnd.choice(STRINGS)},
                {"vendor": "acme", "amount": str(rnd.randrange(10_000))},
                {"vendor": "acme", "amount": "12.5", rnd.choice(KEYS): "1"},
            ]
        ),
        content=rnd.choice(STRINGS),
    )
    for _ in range(rnd.choice([0, 0, 0, 0, 1])):  # partial events: missing keys
        event.pop(rnd.choice(list(event)), None)
    return event


def random_findings(rnd: random.Random) -> list[Finding]:
    kinds = ["secret", "pii", "markup", "sql_injection", "prompt_injection", "unicode"]
    detectors = ["script_tag", "event_handler", "confusable_mixed_script", "email", "d"]
    return [
        Finding(
            kind=rnd.choice(kinds),
            detector=rnd.choice(detectors),
            field="content",
            start=0,
            end=1,
            severity=rnd.choice(["low", "medium", "high", "critical"]),
            action=rnd.choice(["cleaned", "removed", "redacted", "flagged"]),
        )
        for _ in range(rnd.choice([0, 0, 1, 2, 3]))
    ]


def cel_result(program: Any, event: dict[str, Any], findings: list[dict[str, Any]]) -> Any:
    try:
        return program.execute(
            {"event": event, "findings": findings, "lists": LISTS, "limits": LIMITS, "now": 0}
        )
    except Exception:
        return "error"


def agree(source: str, events: list[tuple[dict[str, Any], list[dict[str, Any]]]]) -> int:
    """Assert agreement on every event; the number of events the compiled form decided."""
    fast = compile_fast(source, LISTS, LIMITS)
    assert fast is not None, source
    program = cel.compile(source)
    decided = 0
    for event, findings in events:
        try:
            mine = fast(event, findings)
        except Fallback:
            continue
        decided += 1
        assert cel_result(program, event, findings) is mine, (source, event, findings)
    return decided


@pytest.fixture(scope="module")
def events() -> list[tuple[dict[str, Any], list[dict[str, Any]]]]:
    rnd = random.Random(16)
    out = []
    for _ in range(1200):
        findings = [finding_to_cel(f) for f in random_findings(rnd)]
        out.append((random_event(rnd), findings))
    return out


@pytest.mark.parametrize(
    "rule", [r for r in DEFAULT.rules if not r.velocity], ids=lambda r: r.name
)  # velocity rules: their counts are not event fields (decided by vpred, else CEL)
def test_every_default_rule_compiles_and_agrees_with_cel(rule: Any, events: Any) -> None:
    assert rule.fast is not None
    decided = agree(rule.source, events)
    assert decided > len(events) * 0.6  # the compiled form carries most events


def _mutants(source: str) -> list[str]:
    swaps = [
        ("&&", "||"), ("||", "&&"), ("==", "!="), ("!=", "=="), (" < ", " >= "), (" > ", " <= "),
        (".all(", ".exists("), (".exists(", ".all("), ("!(", "("), ("endsWith", "startsWith"),
        ("known_vendors", "allowed_api_hosts"), ('"amount"', '"Amount"'), ("5000.0", "5000"),
        ("limits.min_confidence", "0.7"), ("limits.min_confidence", "1"), ('"secret"', "null"),
    ]  # fmt: skip
    out = []
    for old, new in swaps:
        start = source.find(old)
        while start != -1 and len(out) < 200:
            out.append(source[:start] + new + source[start + len(old) :])
            start = source.find(old, start + 1)
    return out


def test_mutated_default_rules_agree_with_cel(events: Any) -> None:
    checked = 0
    rnd = random.Random(5)
    for rule in DEFAULT.rules:
        mutants = _mutants(rule.source)
        for source in rnd.sample(mutants, min(len(mutants), 6)):
            if not _compiles(source) or compile_fast(source, LISTS, LIMITS) is None:
                continue
            agree(source, events[:400])
            checked += 1
    assert checked > 40


SHAPES = [
    "size(event.content) > 3",
    "event.content.size() < 10 && event.content.startsWith('a')",
    "event.content.contains('example')",
    "event.resource != null ? event.resource.endsWith('.io') : false",
    "event.confidence < 1",  # int against a double: CEL decides (Fallback)
    "event.cost_usd + 1.0 > 6.0 || event.cost_usd * 2.0 < 0.5",
    "event.occurred_at - 1 > 0 && -event.occurred_at < 0",
    "event.attributes.exists(k, k.matches('^[a-z]+$') && event.attributes[k] == 'acme')",
    "event.arguments.all(k, event.arguments[k].size() < 40)",
    "[1, 2, 3].all(x, x > 0) && ['a', 'b'].exists(x, x == event.content)",
    "findings.exists(f, f.severity in ['high', 'critical'] && f.confidence >= 0.5)",
    "findings.all(f, findings.exists(g, g.kind == f.kind))",
    "double(event.attributes['amount']) >= 100.0",
    "'vendor' in event.attributes && event.attributes['vendor'] in lists.known_vendors",
    "event.kind == 'MESSAGE_SEND' || event.data_classification != \"PUBLIC\"",
    "event.model.name == 'm' && event.actor.roles.exists(r, r == 'role')",
    "event.content.matches('(?i)ignore') == true",
    "event.resource.matches('[\\\\x{FF20}@]')",
    "event.content + event.resource == 'ab'",
    "!(event.confidence > 0.5) || event.cost_usd <= limits.max_cost_usd_per_event",
    "event.content < 'm'",
    "event.confidence == event.cost_usd",
]


@pytest.mark.parametrize("source", SHAPES)
def test_shapes_agree_with_cel(source: str, events: Any) -> None:
    agree(source, events)


@pytest.mark.parametrize(
    "source",
    [
        "now > 0",  # the clock: CEL only
        "event.content.matches(event.resource)",  # dynamic pattern
        "event.content.matches('a{')",  # a literal brace to RE2, an error to Rust
        "event.content.matches('a{,3}')",
        "event.content.matches('\\\\p{L}')",
        "event.content.matches('(?i)\\\\x{212A}')",
        "r'x' == event.content",
        "event.cost_usd / 2.0 > 1.0",
        "has(event.resource)",
        "int(event.content) > 1",
        "{'a': 1}.all(k, k == 'a')",
        "lists.nope.exists(x, x == 'a')",
    ],
)
def test_outside_the_subset_is_left_to_cel(source: str) -> None:
    assert compile_fast(source, LISTS, LIMITS) is None


def test_escapes_decode_as_cel_does() -> None:
    for text in [r"'\x41\u00e9\U0001F600\101\n\t\\\"'", '"a\\"b"', "'\\'\\?'"]:
        assert parse(text) == ("lit", cel.evaluate(text))
    with pytest.raises(Unsupported):
        parse(r"'\q'")


def test_policies_agree_with_the_plain_evaluator(tmp_path: Path) -> None:
    """The optimised engine (index, predicates, memo, compiled conditions) against plain
    CEL, default policy and mutated copies of it, on thousands of events."""
    default_path = Path(__file__).parents[3] / "streams/sluice/policy/default.yaml"
    doc = yaml.safe_load(default_path.read_text(encoding="utf-8"))
    policies = [None]
    rnd = random.Random(7)
    for i in range(3):
        mutated = yaml.safe_load(default_path.read_text(encoding="utf-8"))
        for rule in mutated["rules"]:
            options = [m for m in _mutants(rule["when"]) if _compiles(m)]
            if options and rnd.random() < 0.5:
                rule["when"] = rnd.choice(options)
        path = tmp_path / f"mutant-{i}.yaml"
        path.write_text(yaml.safe_dump(mutated), encoding="utf-8")
        policies.append(path)
    assert doc["rules"]
    rnd = random.Random(2026)
    pairs = [(random_event(rnd), random_findings(rnd)) for _ in range(600)]
    for path in policies:
        fast, plain = load_policy(path), load_policy(path, optimize=False)
        for event, findings in pairs:
            a, b = fast.assess(event, findings), plain.assess(event, findings)
            assert a == b, (path, event, findings)
        assert fast.error_counts == plain.error_counts


def _compiles(source: str) -> bool:
    try:
        cel.compile(source)
    except Exception:
        return False
    return True


def test_kind_constraint_from_the_parsed_source() -> None:
    from sluice.policy.celparse import kind_constraint

    by_name = {r.name: r for r in DEFAULT.rules}
    for name, kind in [("external-api", "EXTERNAL_API"), ("message-internal", "MESSAGE_SEND")]:
        assert not by_name[name].info.sure  # escapes in its regexes: analysis is unsure
        assert by_name[name].constraints == (("kind", frozenset({kind})),)
    assert kind_constraint('event.kind == "A" && ("B" == event.kind || x)') == {"A"}
    assert kind_constraint('event.kind in ["A", "B"] && "B" == event.kind') == {"B"}
    assert kind_constraint('event.kind == "A" || event.kind == "B"') is None
    assert kind_constraint('findings.exists(event, event.kind == "A")') is None
    assert kind_constraint('event.kind == "A\\"B" && true') == {'A"B'}


def test_values_cel_cannot_take_leave_the_decision_to_cel() -> None:
    """A lone surrogate (or bytes) in the event makes CEL fail where it converts it (fail
    closed); the compiled form, which converts nothing, steps aside for such an event, so
    the engine decides as it did without compiled conditions."""
    without = load_policy(None)
    for rule in without.rules:
        rule.fast = None
    for odd in ("\ud800", b"raw"):
        event = base_event(1_700_000_000_000)
        event.update(kind="EXTERNAL_API", resource="api.example.com", arguments=None)
        event["content"] = odd
        a, b = DEFAULT.assess(event, []), without.assess(event, [])
        assert a == b
        if isinstance(odd, str):  # CEL cannot convert it: failed closed (map form)
            assert a.outcome == "hold" and a.errors
