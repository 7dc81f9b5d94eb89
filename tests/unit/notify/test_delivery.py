"""The notifier's delivery loop without Kafka: retries, dead letter, no resend."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from prometheus_client import CollectorRegistry

from sluice.codec import default_codec
from sluice.metrics import create
from sluice.notify.config import NotifyConfig, RetryConfig, SinkConfig
from sluice.notify.messages import Notice
from sluice.notify.service import Notifier
from sluice.notify.sinks import SinkError
from sluice.settings import load_settings


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []

    async def send_and_wait(self, topic: str, value: bytes, key: bytes) -> None:
        self.sent.append((topic, value, key))


class _Sink:
    def __init__(self, name: str, fail: int) -> None:
        self.config = SinkConfig(name=name, type="webhook", url="http://x", secret="s")
        self.fail = fail
        self.calls = 0

    async def send(self, notice: Notice) -> None:
        self.calls += 1
        if self.calls <= self.fail:
            raise SinkError("HTTP 500")

    async def close(self) -> None:
        pass


def _notice() -> Notice:
    now = int(time.time() * 1000)
    return Notice("e1", "held", "CODE_PUBLISH", "r", ("ops",), 1, now, now + 60_000, False, "")


def test_retry_then_sent_dead_letter_and_no_resend() -> None:
    ok, flaky, dead = _Sink("ok", 0), _Sink("flaky", 2), _Sink("dead", 99)
    registry = CollectorRegistry()
    producer = _Producer()
    n = Notifier(
        load_settings(),
        NotifyConfig((ok.config, flaky.config, dead.config), retry=RetryConfig(3, 0.001, 0.01)),
        [ok, flaky, dead],
        default_codec(),
        create(registry),
        producer=producer,  # type: ignore[arg-type]
    )
    asyncio.run(n.deliver(_notice(), (0, 5, 10, "00" * 32)))
    assert (ok.calls, flaky.calls, dead.calls) == (1, 3, 3)
    topics = [t for t, _, _ in producer.sent]
    assert topics.count("workflow.notify.state") == 3 and topics.count("workflow.dlq") == 1
    dlq = next(v for t, v, _ in producer.sent if t == "workflow.dlq")
    letter: dict[str, Any] = default_codec().decode("DeadLetter", dlq)
    assert letter["error_code"] == "notify_failed" and letter["source_offset"] == 5
    assert "dead" in letter["detail"] and "HTTP 500" in letter["detail"]

    asyncio.run(n.deliver(_notice(), (0, 6, 10, "00" * 32)))  # the same transition again
    assert (ok.calls, flaky.calls, dead.calls) == (1, 3, 3)

    def value(sink: str, result: str) -> float:
        v = registry.get_sample_value(
            "sluice_notifications_total", {"sink": sink, "result": result}
        )
        return v or 0.0

    assert value("ok", "sent") == 1 and value("flaky", "failed") == 2
    assert value("dead", "dead_letter") == 1 and value("ok", "duplicate") == 1


def test_stage_for_sluice_run(tmp_path: Any, monkeypatch: Any) -> None:
    import pytest

    from sluice.errors import ConfigError
    from sluice.notify.stage import NotifyStage
    from sluice.topics import Topics

    metrics = create(CollectorRegistry())
    with pytest.raises(ConfigError):
        NotifyStage(load_settings(), default_codec(), metrics, Topics())
    f = tmp_path / "notify.yaml"
    f.write_text("sinks:\n  - {name: s, type: slack, url: 'http://127.0.0.1:9/x'}\n")
    monkeypatch.setenv("SLUICE_CONSOLE_URL", "https://c.example/")
    stage = NotifyStage(load_settings(notify_file=f), default_codec(), metrics, Topics())
    assert stage.name == "notify"
    assert stage.notifier.config.console_url == "https://c.example"
    assert [s.config.name for s in stage.notifier.sinks] == ["s"]
