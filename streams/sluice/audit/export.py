"""Audit export for a SIEM: one JSON object per record, and ``--since`` parsing. Pure."""

from __future__ import annotations

import base64
import datetime as dt
import re
from collections.abc import Mapping
from typing import Any

from sluice.audit.chain import ALL_FIELDS

__all__ = ["export_record", "iso_ms", "parse_since"]

_DURATION_RE = re.compile(r"(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_UNIT_S = (7 * 86400, 86400, 3600, 60, 1)


def iso_ms(ms: int) -> str:
    """``ms`` since the epoch as ISO 8601 UTC with milliseconds (``...T12:00:00.123Z``)."""
    t = dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_since(text: str, *, now_ms: int) -> int:
    """The start time ``text`` names, in ms since the epoch.

    ``text`` is an ISO 8601 date or date-time (UTC unless it has an offset), or a
    duration back from now: ``90s``, ``15m``, ``2h``, ``7d``, ``1w``, ``1h30m``.

    Raises:
        ValueError: neither form.
    """
    s = text.strip()
    m = _DURATION_RE.fullmatch(s)
    if s and m is not None and any(m.groups()):
        seconds = sum(int(g) * u for g, u in zip(m.groups(), _UNIT_S, strict=True) if g)
        return now_ms - seconds * 1000
    try:
        t = dt.datetime.fromisoformat(s.replace("Z", "+00:00") if s.endswith("Z") else s)
    except ValueError:
        raise ValueError("expected an ISO 8601 time or a duration such as 15m, 2h, 7d") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return int(t.timestamp() * 1000)


def export_record(record: Mapping[str, Any], *, partition: int, offset: int) -> dict[str, Any]:
    """The JSON object a SIEM gets for one AuditRecord.

    Every schema field as it is (so the hash can be recomputed from the export, with
    ``signature`` base64 here and hex in the hash), plus ``at_iso``, ``topic_partition``
    and ``topic_offset``.
    """
    out: dict[str, Any] = {name: record.get(name) for name in ALL_FIELDS}
    for name, value in record.items():
        if name not in out:
            out[name] = value
    sig = out.get("signature")
    if isinstance(sig, bytes | bytearray):
        out["signature"] = base64.b64encode(sig).decode("ascii")
    at = out.get("at")
    if isinstance(at, int):
        out["at_iso"] = iso_ms(at)
    out["topic_partition"] = partition
    out["topic_offset"] = offset
    return out
