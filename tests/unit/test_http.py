"""The worker's HTTP endpoint: prometheus_client's /metrics handler and the probes."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, Counter

from sluice.http import Health, MetricsServer


@pytest.fixture
async def served() -> AsyncIterator[tuple[str, Health]]:
    registry = CollectorRegistry()
    Counter("sluice_demo", "A demo counter.", ["kind"], registry=registry).labels("PROMPT").inc(3)
    health = Health(stall_after_s=60.0)
    server = MetricsServer(registry, health, "127.0.0.1", 0)
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}", health
    finally:
        await server.stop()
        await server.stop()  # safe twice


async def test_metrics_text_format(served: tuple[str, Health]) -> None:
    base, _ = served
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        async with s.get(f"{base}/metrics", headers={"Accept-Encoding": "identity"}) as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
            body = (await r.read()).decode()
    assert 'sluice_demo_total{kind="PROMPT"} 3.0' in body
    assert "# EOF" not in body


async def test_metrics_negotiates_openmetrics(served: tuple[str, Health]) -> None:
    base, _ = served
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{base}/metrics", headers={"Accept": accept}) as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("application/openmetrics-text")
            body = await r.text()
    assert 'sluice_demo_total{kind="PROMPT"} 3.0' in body
    assert body.rstrip().endswith("# EOF")


async def test_metrics_gzip_when_accepted(served: tuple[str, Health]) -> None:
    base, _ = served
    async with aiohttp.ClientSession(auto_decompress=False) as s:
        async with s.get(f"{base}/metrics", headers={"Accept-Encoding": "gzip"}) as r:
            assert r.status == 200
            assert r.headers.get("Content-Encoding") == "gzip"
            raw = await r.read()
    assert b"sluice_demo_total" in gzip.decompress(raw)


async def test_metrics_name_filter(served: tuple[str, Health]) -> None:
    base, _ = served
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{base}/metrics", params={"name[]": "nothing_here"}) as r:
            assert r.status == 200
            assert "sluice_demo" not in await r.text()


async def test_probes(served: tuple[str, Health]) -> None:
    base, health = served
    async with aiohttp.ClientSession() as s:
        async with s.get(f"{base}/readyz") as r:
            assert r.status == 503  # no stage has reported yet
        health.ready["intake"] = True
        health.beat("intake")
        async with s.get(f"{base}/readyz") as r:
            assert r.status == 200
            assert (await r.json())["stages"] == {"intake": True}
        async with s.get(f"{base}/healthz") as r:
            assert r.status == 200
            assert (await r.json())["ok"] is True
        health.heartbeat["intake"] -= 120  # the loop has not turned for two minutes
        async with s.get(f"{base}/healthz") as r:
            assert r.status == 503
