"""Soak, short CI form: a steady rate against one worker; nothing lost, lag back to 0.

RSS growth is printed (a figure, not an assertion: 35 s is too short to judge a leak);
``sluice chaos soak --duration 600`` runs the long form.
"""

from __future__ import annotations

import json

import pytest

from sluice.tools.chaos.runs import soak
from sluice.tools.chaos.scenario import Scenario

pytestmark = [pytest.mark.integration, pytest.mark.reliability]


async def test_soak_short(scenario: Scenario) -> None:
    report = await soak(scenario, duration_s=35, rate=400, held_share=0.05, warmup_s=8)
    figures = {k: v for k, v in report.__dict__.items() if k != "samples"}
    print("\nsoak:", json.dumps(figures))
    assert report.sent >= 400 * 30
    assert report.lost == 0 and report.released_twice == 0
    assert report.accounted == report.sent
    assert report.lag_end == 0
    assert report.rss_start_kb > 0 and report.rss_end_kb > 0
