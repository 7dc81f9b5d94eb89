"""`sluice emit` reports per line and keeps going past bad lines; `sluice tail` decodes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest

from sluice.cli.main import main
from sluice.kafka import create_topics
from tests.helpers import settings_from_env, topics_for

pytestmark = pytest.mark.integration

GOOD = {
    "workflow_id": "wf",
    "run_id": "run-1",
    "step": "s",
    "kind": "PROMPT",
    "action": "llm.complete",
    "actor": {"id": "agent", "type": "AGENT"},
    "data_classification": "INTERNAL",
    "content": "hello",
}


def test_emit_then_tail(
    sluice_env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    topics = topics_for(sluice_env)
    asyncio.run(create_topics(settings_from_env(sluice_env), names=[topics.events]))
    lines = [
        orjson.dumps(GOOD).decode(),
        "{not json",
        orjson.dumps({**GOOD, "kind": "TELEPORT"}).decode(),
        orjson.dumps({**GOOD, "event_id": "nope"}).decode(),
        orjson.dumps({**GOOD, "run_id": "run-2"}).decode(),
    ]
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(lines) + "\n")
    assert main(["emit", "--topic", topics.events, str(source), "--json"]) == 1  # some lines failed
    out = [orjson.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["line"] for r in out] == [1, 2, 3, 4, 5]
    assert [r["ok"] for r in out] == [True, False, False, False, True]
    assert out[1]["error"] == "not valid JSON"
    assert "invalid_enum" in out[2]["error"] and "invalid_uuid" in out[3]["error"]

    assert main(["tail", topics.events, "--from-beginning", "-n", "2", "--json"]) == 0
    tailed = [orjson.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert sorted(r["value"]["event_id"] for r in tailed) == sorted(
        r["event_id"] for r in out if r["ok"]
    )
    assert all(r["schema"] == "WorkflowEvent" for r in tailed)


def test_emit_unreadable_file_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["emit", "/nonexistent/file.jsonl"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sluice: error: cannot read")
