"""The detection benchmark's labelled set scores every family (small n, no timing asserted)."""

from __future__ import annotations

import random

from sluice.sanitize import Sanitizer
from sluice.tools.bench.detect.samples import FAMILIES, quality

KEY = b"unit-test-fingerprint-key"


def test_quality_report_shape_and_secret_targets() -> None:
    report = quality(Sanitizer(KEY), 40, random.Random(7))
    assert set(report) == set(FAMILIES)
    for fam, row in report.items():
        assert row["tp"] + row["fn"] == 40, fam
        assert 0.0 <= row["precision"] <= 1.0 and 0.0 <= row["recall"] <= 1.0
    assert report["secret"]["recall"] >= 0.97
    assert report["secret"]["precision"] >= 0.97


def test_heldout_sets_score_secrets_and_pii() -> None:
    from sluice.tools.bench.detect.heldout import heldout_quality

    report = heldout_quality(Sanitizer(KEY))
    for split in ("heldout", "dev"):
        sec = report["secrets"][split]
        assert sec["lines"] > 90 and sec["tp"] + sec["fn"] > 40
        pii = report["pii"][split]
        assert pii["spans"] > 200 and pii["benign_texts"] > 150
    # floors well below today's figures: a regression, not noise, trips them
    assert report["pii"]["heldout"]["span_recall"] >= 0.9
    assert report["pii"]["heldout"]["benign_clean"] >= 0.9
    assert report["secrets"]["heldout"]["precision"] >= 0.7
    # the Nosey Parker set (rules sluice did not port): stored base64, decoded for scoring
    for split in ("heldout", "dev"):
        np_ = report["secrets_np"][split]
        assert np_["lines"] > 200 and np_["tp"] + np_["fn"] > 150 and np_["fp"] + np_["tn"] > 40
    assert report["secrets_np"]["heldout"]["precision"] >= 0.9
    assert report["secrets_np"]["heldout"]["recall"] >= 0.7


def test_adversarial_cost_report_shape() -> None:
    from sluice.tools.bench.detect.speed import COST_KINDS, adversarial_cost

    report = adversarial_cost(Sanitizer(KEY), size=8_000, args=8)
    assert set(report["cases"]) == set(COST_KINDS)
    assert report["worst_ratio_to_plain"] >= max(
        max(c["ratio_field"], c["ratio_args"]) for c in report["cases"].values()
    )


def test_unicode_public_sets_score_attacks_and_benign_scripts() -> None:
    from sluice.tools.bench.detect.unicode_eval import unicode_quality

    report = unicode_quality(Sanitizer(KEY))
    for split in ("heldout", "dev"):
        row = report[split]
        assert row["lines"] > 1000 and row["tp"] + row["fn"] > 200
        by = row["correct_by_source"]
        # every attack class and every script of the benign side is present
        for src in ("trojan-source", "badchars-invisible", "badchars-reorder", "ud-fa", "emoji"):
            assert src in by, (split, src)
    # floors below today's figures (1.0 / 0.99): a regression, not noise, trips them
    assert report["heldout"]["precision"] >= 0.97
    assert report["heldout"]["recall"] >= 0.95
    # Persian needs ZWNJ and emoji need ZWJ: legitimate joiners are not tricks
    assert report["heldout"]["correct_by_source"]["ud-fa"] >= 0.97
    assert report["heldout"]["correct_by_source"]["emoji"] >= 0.97
