"""The detection benchmark's labelled set scores every family (small n, no timing asserted)."""

from __future__ import annotations

import random

from sluice.bench.detect import FAMILIES, _quality
from sluice.sanitize import Sanitizer

from .conftest import KEY


def test_quality_report_shape_and_secret_targets() -> None:
    report = _quality(Sanitizer(KEY), 40, random.Random(7))
    assert set(report) == set(FAMILIES)
    for fam, row in report.items():
        assert row["tp"] + row["fn"] == 40, fam
        assert 0.0 <= row["precision"] <= 1.0 and 0.0 <= row["recall"] <= 1.0
    assert report["secret"]["recall"] >= 0.97
    assert report["secret"]["precision"] >= 0.97
