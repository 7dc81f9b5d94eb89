"""Every prompt-injection rule's samples (rules/prompt_injection.yaml): phrases, their rot13
twins, and the encoded-payload candidates."""

from __future__ import annotations

import codecs

import pytest

from sluice.sanitize import Sanitizer
from sluice.sanitize.prompt_injection import (
    encoded_specs,
    load_phrase_rules,
    phrase_specs,
    prompt_injection_rules,
)

from .rule_samples import rule_fires

RULES = {r.id: r for r in prompt_injection_rules()}
SPECS = phrase_specs() + encoded_specs()
POSITIVES = [(s.id, s.detector, t) for s in SPECS for t in s.positives]
NEGATIVES = [(s.id, s.detector, t) for s in SPECS for t in s.negatives]
#: rot13 twins: rule ``encoded_rot13_<i>`` for the i-th phrase rule, when it is ASCII.
ROT13 = {sp.id: f"encoded_rot13_{i}" for i, sp in enumerate(phrase_specs()) if sp.regex.isascii()}
ROT_POSITIVES = [
    (ROT13[s.id], t) for s in phrase_specs() if s.id in ROT13 for t in s.positives if t.isascii()
]
ROT_NEGATIVES = [
    (ROT13[s.id], t) for s in phrase_specs() if s.id in ROT13 for t in s.negatives if t.isascii()
]


def test_every_rule_has_samples_and_an_engine_rule() -> None:
    for spec in SPECS:
        assert spec.positives, spec.id
        assert spec.negatives, spec.id
        assert spec.id in RULES
    assert [s.check for s in encoded_specs()] == ["base64", "hex"]
    assert set(ROT13.values()) <= set(RULES)


@pytest.mark.parametrize(("rule_id", "detector", "text"), POSITIVES)
def test_positive_found(sanitizer: Sanitizer, rule_id: str, detector: str, text: str) -> None:
    assert rule_fires(RULES[rule_id], text), rule_id
    _, findings = sanitizer.scan_text(text)
    found = [f.detector for f in findings if f.kind.value == "prompt_injection"]
    assert detector in found, (rule_id, found)


@pytest.mark.parametrize(("rule_id", "detector", "text"), NEGATIVES)
def test_negative_not_found(rule_id: str, detector: str, text: str) -> None:
    assert not rule_fires(RULES[rule_id], text), rule_id


@pytest.mark.parametrize(("rule_id", "text"), ROT_POSITIVES)
def test_rot13_twin_finds_rotated_positive(rule_id: str, text: str) -> None:
    assert rule_fires(RULES[rule_id], codecs.encode(text, "rot13")), rule_id


@pytest.mark.parametrize(("rule_id", "text"), ROT_NEGATIVES)
def test_rot13_twin_skips_rotated_negative(rule_id: str, text: str) -> None:
    assert not rule_fires(RULES[rule_id], codecs.encode(text, "rot13")), rule_id


def test_rule_file_is_validated() -> None:
    with pytest.raises(ValueError, match="positives and negatives"):
        load_phrase_rules("rules:\n  - {id: a, detector: x, regex: 'a', weight: 0.5}\n")
    rule = "{id: a, detector: x, regex: 'a', weight: 0.5, positives: [a], negatives: [b]}"
    with pytest.raises(ValueError, match="duplicate"):
        load_phrase_rules(f"rules:\n  - {rule}\n  - {rule}\n")
    with pytest.raises(ValueError, match="check"):
        load_phrase_rules(f"encoded:\n  - {rule}\n", "encoded")
    with pytest.raises(ValueError, match="no check"):
        load_phrase_rules(f"rules:\n  - {rule[:-1]}, check: base64}}\n")
