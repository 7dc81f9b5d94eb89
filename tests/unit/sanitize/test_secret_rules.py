"""Every secret rule's positive samples are found and redacted; its negatives are not."""

from __future__ import annotations

import random

import pytest

from sluice.errors import ConfigError
from sluice.sanitize import Sanitizer
from sluice.sanitize.base import fingerprint
from sluice.sanitize.secrets import rule_fires
from sluice.sanitize.secrets_rules import expand_template, load_secret_rules, secret_specs

from .conftest import KEY

SPECS = secret_specs()
BY_ID = {s.id: s for s in SPECS}
POSITIVES = [(s.id, s.detector, t) for s in SPECS for t in s.positives]
NEGATIVES = [(s.id, s.detector, t) for s in SPECS for t in s.negatives]


def test_every_rule_has_samples() -> None:
    for spec in SPECS:
        assert spec.positives, spec.id
        assert spec.negatives, spec.id


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("rule_id", "detector", "template"), POSITIVES)
def test_positive_found_and_redacted(
    sanitizer: Sanitizer, rule_id: str, detector: str, template: str, seed: int
) -> None:
    text = expand_template(template, random.Random(f"{rule_id}{seed}"))
    out, findings = sanitizer.scan_text(text)
    secrets = [f for f in findings if f.kind == "secret"]
    # The rule itself fires; in the engine a more specific rule may claim the span first.
    assert rule_fires(BY_ID[rule_id], text), rule_id
    assert secrets, rule_id
    if not rule_id.startswith("gitleaks:"):
        found = [f.detector for f in secrets]
        assert detector in found, (rule_id, found)
    for f in secrets:
        value = text[f.start : f.end]
        assert f.fingerprint == fingerprint(KEY, value)
        assert value not in out
        assert f"[REDACTED:{f.detector}:{f.fingerprint}]" in out
        assert f.action == "redacted"


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize(("rule_id", "detector", "template"), NEGATIVES)
def test_negative_not_found(
    sanitizer: Sanitizer, rule_id: str, detector: str, template: str, seed: int
) -> None:
    text = expand_template(template, random.Random(f"{rule_id}{seed}"))
    _, findings = sanitizer.scan_text(text)
    # A negative must not fire its own rule (a more generic rule may still apply).
    assert not rule_fires(BY_ID[rule_id], text), rule_id
    if rule_id.startswith("gitleaks:"):
        return
    assert not [f for f in findings if f.detector == detector], (rule_id, text[:12])


@pytest.mark.parametrize(
    "bad",
    [
        "rules: [{id: x}]",
        "rules: [{id: x, regex: '(?<=a)b'}]",
        "rules: [{id: x, regex: 'a', filter: nope}]",
        "rules: [{id: x, regex: 'a'}, {id: x, regex: 'b'}]",
        "rules: [{id: x, regex: 'a', group: 2}]",
        "not a mapping",
    ],
)
def test_bad_rule_file_is_refused(bad: str) -> None:
    with pytest.raises(ConfigError):
        load_secret_rules(bad)


def test_templates_expand_to_charset() -> None:
    out = expand_template("AKIA<<S:16>>/<<H:8>>", random.Random(1))
    head, tail = out.split("/")
    assert len(head) == 20 and set(head[4:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
    assert len(tail) == 8 and set(tail) <= set("0123456789abcdef")
