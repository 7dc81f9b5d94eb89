"""A real Prometheus scrapes a running ``sluice run`` worker and evaluates the shipped rules.

The Debian ``prometheus`` server runs on a free loopback port with its own storage,
scraping the worker every second and loading ``deploy/prometheus/rules``. Events go
through the real local Kafka; the assertions go through Prometheus's HTTP API.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from sluice.kafka import make_producer
from sluice.settings import load_settings
from sluice.tools.bench.events import make_events
from sluice.tools.dev.broker import free_port
from sluice.topics import Topics

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules"
T = TypeVar("T")


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} not found: install the Debian package 'prometheus' "
            "(bash .ci/install-system-deps.sh)"
        )
    return path


def _get(url: str, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - loopback
            return int(resp.status), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, b""


def _wait_for(what: str, probe: Callable[[], T | None], timeout: float = 90.0) -> T:
    """Poll ``probe`` until it returns something truthy (waiting, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(0.5)
    pytest.fail(f"gave up waiting for {what} after {timeout:.0f}s")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def worker(sluice_env: dict[str, str], tmp_path: Path) -> Iterator[int]:
    """A ``sluice run`` subprocess; yields its metrics port once /readyz answers 200."""
    port = free_port()
    env = {**os.environ, **sluice_env, "SLUICE_METRICS_HOST": "127.0.0.1"}
    create = subprocess.run(
        [sys.executable, "-m", "sluice", "topics", "create"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert create.returncode == 0, create.stderr
    log = open(tmp_path / "worker.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sluice", "run", "--metrics-port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:

        def ready() -> bool:
            if proc.poll() is not None:
                pytest.fail("sluice run exited: " + (tmp_path / "worker.log").read_text()[-2000:])
            return _get(f"http://127.0.0.1:{port}/readyz")[0] == 200

        _wait_for("the worker's /readyz", ready)
        yield port
    finally:
        _stop(proc)
        log.close()


@pytest.fixture
def prometheus(worker: int, tmp_path: Path) -> Iterator[str]:
    """The Debian Prometheus server scraping ``worker`` every second; yields its base URL."""
    binary = _binary("prometheus")
    port = free_port()
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES / "*.yml")],
        "scrape_configs": [
            {"job_name": "sluice", "static_configs": [{"targets": [f"127.0.0.1:{worker}"]}]}
        ],
    }
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(yaml.safe_dump(config))
    log = open(tmp_path / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={cfg}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def up() -> bool:
            if proc.poll() is not None:
                pytest.fail(
                    "prometheus exited: " + (tmp_path / "prometheus.log").read_text()[-2000:]
                )
            return _get(f"{url}/-/ready")[0] == 200

        _wait_for("Prometheus /-/ready", up)
        yield url
    finally:
        _stop(proc)
        log.close()


def _query(base: str, expr: str) -> list[dict[str, Any]]:
    status, body = _get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    if status != 200:
        return []
    data = json.loads(body)
    assert data["status"] == "success", data
    result: list[dict[str, Any]] = data["data"]["result"]
    return result


async def _drive(sluice_env: dict[str, str], n: int, seed: int = 11) -> None:
    """Publish ``n`` valid events and one undecodable record to workflow.events."""
    from sluice.codec import default_codec

    settings = load_settings()
    topic = Topics.with_prefix(sluice_env["SLUICE_TOPIC_PREFIX"]).events
    codec = default_codec()
    producer = make_producer(settings)
    await producer.start()
    try:
        for event in make_events(n, held_share=0.2, seed=seed):
            value = codec.encode("WorkflowEvent", event)
            await producer.send_and_wait(topic, value, key=event["run_id"].encode())
        await producer.send_and_wait(topic, b"not avro at all", key=b"poison")
    finally:
        await producer.stop()


def test_prometheus_scrapes_worker_and_evaluates_rules(
    prometheus: str, worker: int, sluice_env: dict[str, str], tmp_path: Path
) -> None:
    asyncio.run(_drive(sluice_env, 40))

    # Raw series from the worker, through Prometheus.
    def all_counted() -> list[dict[str, Any]] | None:
        got = _query(prometheus, "sum(sluice_events_total)")
        return got if got and float(got[0]["value"][1]) >= 41 else None

    events = _wait_for("all 41 records counted in Prometheus", all_counted)
    assert float(events[0]["value"][1]) >= 41
    outcomes = {r["metric"]["outcome"] for r in _query(prometheus, "sluice_events_total")}
    assert "invalid" in outcomes and outcomes & {"approved", "held", "rejected"}
    assert _query(prometheus, 'up{job="sluice"} == 1')
    assert _query(prometheus, "sluice_build_info")
    assert _query(prometheus, "sluice_processing_seconds_bucket")

    # A recording rule evaluates on the live series. Labelled counters appear with their
    # first increment, so rate() needs a second wave after the first one was scraped.
    asyncio.run(_drive(sluice_env, 20, seed=12))
    rate = _wait_for(
        "recording rule sluice:events:rate5m > 0",
        lambda: _query(prometheus, "sluice:events:rate5m > 0"),
    )
    assert float(rate[0]["value"][1]) > 0
    by_kind = _wait_for(
        "sluice:events:rate5m_by_kind", lambda: _query(prometheus, "sluice:events:rate5m_by_kind")
    )
    assert {r["metric"]["kind"] for r in by_kind}
    # The invalid record makes the error ratio positive.
    ratio = _wait_for(
        "sluice:errors:ratio_rate5m > 0",
        lambda: _query(prometheus, "sluice:errors:ratio_rate5m > 0"),
    )
    assert 0 < float(ratio[0]["value"][1]) < 1

    # Every rule loaded and healthy; the worker is not reported down.
    status, body = _get(f"{prometheus}/api/v1/rules")
    assert status == 200
    rules = [r for g in json.loads(body)["data"]["groups"] for r in g["rules"]]
    assert len(rules) >= 30
    unhealthy = [(r["name"], r.get("lastError")) for r in rules if r["health"] == "err"]
    assert unhealthy == []
    firing = {
        a["labels"]["alertname"]
        for a in json.loads(_get(f"{prometheus}/api/v1/alerts")[1])["data"]["alerts"]
    }
    assert not firing & {"SluiceWorkerDown", "SluiceWorkerAbsent"}

    # The dashboard renderer draws the same queries from this Prometheus. Set
    # SLUICE_DASHBOARD_PNG=docs/dashboard.png to keep the picture for the README.
    out = Path(os.environ.get("SLUICE_DASHBOARD_PNG") or tmp_path / "dashboard.png")
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "render_dashboard.py"),
            "--prometheus",
            prometheus,
            "--out",
            str(out),
            "--minutes",
            "3",
            "--rate-interval",
            "30s",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with_data = int(re.search(r"\((\d+)/\d+ panels with data\)", proc.stdout).group(1))  # type: ignore[union-attr]
    assert with_data >= 5, proc.stdout


def test_live_metrics_pass_promtool_check_metrics(worker: int, sluice_env: dict[str, str]) -> None:
    promtool = _binary("promtool")
    asyncio.run(_drive(sluice_env, 10))

    def scraped() -> bytes | None:
        status, body = _get(f"http://127.0.0.1:{worker}/metrics")
        return body if status == 200 and b"sluice_events_total{" in body else None

    body = _wait_for("events in /metrics", scraped)
    proc = subprocess.run(
        [promtool, "check", "metrics"], input=body, capture_output=True, check=False, timeout=60
    )
    out = (proc.stdout + proc.stderr).decode()
    assert out == "", out
    assert proc.returncode == 0
    # No label carries an id or text: every label value is from a bounded vocabulary.
    for line in body.decode().splitlines():
        if line.startswith("sluice_") and "{" in line:
            labels = line[line.index("{") + 1 : line.index("}")]
            names = {kv.split("=", 1)[0] for kv in labels.split(",") if "=" in kv}
            ids = {"event_id", "actor", "actor_id", "run_id", "workflow_id", "reviewer_id"}
            assert not names & ids, line
