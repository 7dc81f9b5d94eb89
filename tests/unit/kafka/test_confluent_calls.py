"""A librdkafka call that never returns (librdkafka#5456: send_offsets_to_transaction while
the group coordinator is away) must neither stall the stage for good nor keep the worker
from exiting on SIGTERM. Without a broker: the blocking call is a stand-in that waits on
an event nobody sets."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from typing import Any

import pytest

import sluice.kafka.confluent as ck
from sluice.kafka.confluent import CkProducer
from sluice.kafka.confluent_calls import CallStuck, DaemonCalls
from sluice.settings import load_settings

BASE: dict[str, Any] = {"fingerprint_key": "k" * 8, "bootstrap_servers": "127.0.0.1:1"}


async def test_result_and_exception_come_back_and_threads_are_reused() -> None:
    calls = DaemonCalls("t")
    assert await calls.run(5, lambda a, b: a + b, 2, 3) == 5
    with pytest.raises(ZeroDivisionError):
        await calls.run(5, lambda: 1 / 0)
    for _ in range(5):
        await calls.run(5, lambda: None)
    assert calls.threads == 1
    calls.close()


async def test_a_call_past_its_bound_is_abandoned_and_others_go_on() -> None:
    never = threading.Event()
    calls = DaemonCalls("t")
    with pytest.raises(CallStuck):
        await calls.run(0.2, never.wait)
    # The blocked thread is not handed the next call.
    assert await calls.run(5, lambda: "next") == "next"
    assert calls.threads == 2
    never.set()
    calls.close()


class _StuckProducer:
    """librdkafka's Producer as seen in the stall: send_offsets_to_transaction never
    returns; every other call does."""

    def __init__(self) -> None:
        self.never = threading.Event()
        self.calls: list[str] = []

    def send_offsets_to_transaction(self, *_a: Any) -> None:
        self.calls.append("send_offsets")
        self.never.wait()

    def abort_transaction(self, *_a: Any) -> None:
        self.calls.append("abort")

    def begin_transaction(self) -> None:
        self.calls.append("begin")

    def flush(self, *_a: Any) -> int:
        self.calls.append("flush")
        return 0


async def test_stuck_transactional_call_abandons_the_producer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ck, "_CALL_TIMEOUT_S", 0.1)
    monkeypatch.setattr(ck, "_GRACE_S", 0.1)
    settings = load_settings(**BASE, kafka_client="confluent")
    prod = CkProducer(settings, lambda: object(), **{"transactional.id": "t"})
    fake = _StuckProducer()
    prod._p = fake  # the stand-in for librdkafka
    offsets = {ck.TopicPartition("in", 0): (10, "")}
    with pytest.raises(CallStuck):
        await prod.send_offsets_to_transaction(offsets, "g")
    assert prod.stuck == "send_offsets_to_transaction"
    # Every later transactional call fails at once: librdkafka still runs the stuck one
    # (a second call would conflict), so the stage replaces this producer.
    with pytest.raises(CallStuck):
        await prod.abort_transaction()
    with pytest.raises(CallStuck):
        await prod.begin_transaction()
    await prod.stop()  # no flush behind the stuck call; returns
    assert fake.calls == ["send_offsets"]
    fake.never.set()


def test_sigterm_exits_while_a_librdkafka_call_is_stuck() -> None:
    # The worker's shape: the loop awaits a call that never returns; SIGTERM sets the
    # stop event, the stage task is cancelled, asyncio.run returns, and the interpreter
    # exits. On a ThreadPoolExecutor it then joined the stuck thread forever.
    script = textwrap.dedent(
        """
        import asyncio, os, signal, threading
        from sluice.kafka.confluent_calls import DaemonCalls

        async def main():
            stop = asyncio.Event()
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
            calls = DaemonCalls("stuck")
            stage = asyncio.create_task(calls.run(None, threading.Event().wait))
            await asyncio.sleep(0.2)
            os.kill(os.getpid(), signal.SIGTERM)
            await stop.wait()
            stage.cancel()
            calls.close()
            print("stopped", flush=True)

        asyncio.run(main())
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "stopped"
