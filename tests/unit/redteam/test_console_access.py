"""Red team: the console's new routes (trace, audit records, run steps, live updates)
without a session, through path tricks that start with ``/static/``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from sluice.console.security import Access
from tests.unit.console.test_app import Console, _serve


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[Console]:
    async for c in _serve(tmp_path, Access()):
        yield c


async def _raw_get(base: str, target: str) -> tuple[int, bytes]:
    u = urlsplit(base)
    reader, writer = await asyncio.open_connection(u.hostname, u.port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    status = int(data.split(b" ", 2)[1])
    return status, data


@pytest.mark.parametrize(
    "template",
    [
        "/event/{eid}/trace",
        "/event/{eid}/audit",
        "/event/{eid}/facts",
        "/events",
        "/static/../event/{eid}/audit",
        "/static/%2e%2e/event/{eid}/audit",
        "/static/..%2fevent%2f{eid}%2faudit",
        "/static//../event/{eid}/trace",
        "//static/../event/{eid}",
    ],
)
async def test_no_session_reads_nothing(console: Console, template: str) -> None:
    eid = console.held["event_id"]
    status, body = await _raw_get(console.base, template.format(eid=eid))
    assert status in (403, 404), (status, body[:200])
    assert eid.encode() not in body


def test_trace_and_audit_fields_are_escaped() -> None:
    """Amended map keys, reasons and ids reach the trace: all text, never markup."""
    from sluice.console.trace import audit_fragment, trace_page

    evil = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    item = {
        "at": evil,
        "at_ms": 1,
        "elapsed_ms": 0,
        "delta_ms": 0,
        "role": "audit",
        "topic": evil,
        "partition": 0,
        "offset": 0,
        "type": "AuditRecord",
        "label": evil,
        "fields": {
            "actor_id": evil,
            "reason_code": evil,
            "detectors": [evil],
            "amended_fields": [f"arguments.{evil}"],
            "original_content_hash": evil,
            "content_hash": evil,
            "chain": evil,
            "seq": evil,
        },
    }
    for html in (
        audit_fragment([item], evil),
        trace_page(evil, [item], evil, csrf=evil, user=evil),
    ):
        assert "<script>alert" not in html and "<img" not in html
        assert 'onerror=alert(2)">' not in html
