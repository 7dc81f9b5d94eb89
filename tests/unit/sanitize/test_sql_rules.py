"""Every SQL rule's positive samples are found and its negatives are not (rules/sql.yaml)."""

from __future__ import annotations

import pytest

from sluice.errors import ConfigError
from sluice.sanitize import Sanitizer
from sluice.sanitize.sql import load_sql_rules, sql_rules, sql_specs

from .rule_samples import rule_fires

SPECS = sql_specs()
RULES = {r.id: r for r in sql_rules()}
#: The treatment a rule's samples are scanned as: ``sql`` when it runs there, else text.
AS = {s.id: "sql" if "sql" in s.treatments else "text" for s in SPECS}
POSITIVES = [(s.id, s.detector, t) for s in SPECS for t in s.positives]
NEGATIVES = [(s.id, s.detector, t) for s in SPECS for t in s.negatives]


def test_every_rule_has_samples_and_an_engine_rule() -> None:
    assert len(SPECS) == len(RULES)
    for spec in SPECS:
        assert spec.positives, spec.id
        assert spec.negatives, spec.id
        assert spec.id in RULES


@pytest.mark.parametrize(("rule_id", "detector", "text"), POSITIVES)
def test_positive_found(sanitizer: Sanitizer, rule_id: str, detector: str, text: str) -> None:
    assert rule_fires(RULES[rule_id], text), rule_id
    _, findings = sanitizer.scan_text(text, AS[rule_id])
    found = [f.detector for f in findings if f.kind.value == "sql_injection"]
    assert detector in found, (rule_id, found)


@pytest.mark.parametrize(("rule_id", "detector", "text"), NEGATIVES)
def test_negative_not_found(sanitizer: Sanitizer, rule_id: str, detector: str, text: str) -> None:
    # A negative must not fire its own rule (another rule of the detector may still apply).
    assert not rule_fires(RULES[rule_id], text), rule_id


@pytest.mark.parametrize(
    "bad",
    [
        "rules: [{id: x}]",
        "not a mapping",
        "rules: [{id: x, regex: '(?<=a)b', treatments: [sql], confidence: 0.5, priority: 1,"
        " positives: [a], negatives: [b]}]",
        "rules: [{id: x, regex: 'a', check: nope, treatments: [sql], confidence: 0.5,"
        " priority: 1, positives: [a], negatives: [b]}]",
        "rules: [{id: x, regex: 'a{{nope}}', treatments: [sql], confidence: 0.5, priority: 1,"
        " positives: [a], negatives: [b]}]",
        "rules: [{id: x, regex: 'a', treatments: [sql], confidence: 0.5, priority: 1}]",
        "rules: [{id: x, regex: 'a', treatments: [none], confidence: 0.5, priority: 1,"
        " positives: [a], negatives: [b]}]",
        "rules: [{id: x, regex: 'a', scope: all, treatments: [sql], confidence: 0.5,"
        " priority: 1, positives: [a], negatives: [b]}]",
    ],
)
def test_bad_rule_file_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        load_sql_rules(bad)


def test_duplicate_id_is_refused() -> None:
    rule = (
        "{id: x, regex: 'a', treatments: [sql], confidence: 0.5, priority: 1,"
        " positives: [a], negatives: [b]}"
    )
    with pytest.raises(ConfigError, match="duplicate"):
        load_sql_rules(f"rules: [{rule}, {rule}]")


def test_fragments_and_blocks() -> None:
    text = (
        "fragments:\n  ws: '\\s+'\n  pair: 'a{{ws}}b'\n"
        "rules:\n  - id: x\n    regex: |-\n      ^{{pair}}|\n      c{{ws}}d$\n"
        "    treatments: [sql]\n    confidence: 0.5\n    priority: 1\n"
        "    positives: [a b]\n    negatives: [ab]\n"
    )
    (spec,) = load_sql_rules(text)
    assert spec.regex == "^a\\s+b|c\\s+d$"
    assert spec.scope == "first"
    assert spec.detector == "x"
