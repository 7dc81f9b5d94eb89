"""Red team: ``sluice review show`` prints votes read from workflow.decisions, which any
reviewer principal can write. A forged vote's ``amended_hash`` must not reach the
reviewer's terminal as escape sequences (``ESC[8m`` conceals everything printed after
it: the event itself)."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from sluice.cli.main import app


def _view() -> dict[str, Any]:
    vote = {
        "reviewer_id": "mallory",
        "verdict": "APPROVE",
        "valid": False,
        "refusal": "bad_signature",
        "reason": "",
        "amended_hash": "\x1b[8m\x1b]0;x\x07",
    }
    return {
        "event_id": "e-1",
        "status": "held",
        "kind": "TOOL_CALL",
        "actor_id": "agent-1",
        "on_behalf_of": None,
        "rule": "r",
        "reason": None,
        "risk": {"score": 0.5},
        "approvals_required": 2,
        "roles": ["security"],
        "on_expiry": "REJECT",
        "expired": False,
        "time_left_s": 60,
        "requirements": [],
        "content_hash": "h",
        "approvals": 0,
        "rejections": 0,
        "votes": [vote],
        "event": {"content": "rm -rf /"},
        "findings": [],
    }


def test_a_forged_amended_hash_prints_no_escape_sequence(monkeypatch: pytest.MonkeyPatch) -> None:
    import sluice.review

    monkeypatch.setattr(sluice.review, "show", lambda *a, **k: _view())
    result = CliRunner().invoke(app, ["review", "show", "e-1"])
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "amended \\u001b[8m" in result.output  # shown, as text
