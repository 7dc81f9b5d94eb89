"""Signed control records (``sluice.control.v1``) on the compacted ``workflow.controls`` topic.

A control record is one operator action signed by one reviewer key of the reviewers
registry: ``add`` engages a quarantine of one subject (an actor, a workflow or a run);
``lift`` is one vote to lift it (the policy names how many distinct votes, from which
roles: :mod:`sluice.quarantine.config`).

Record value: UTF-8 JSON with the fields of :data:`CONTROL_FIELDS` plus ``signature``
(standard base64 of the 64-byte Ed25519 signature). Signing bytes, as for decisions
(:mod:`sluice.gate.signatures`)::

    b"sluice.control.v1\\n"
    + for each field in CONTROL_FIELDS order:
        4-byte big-endian length of the value's UTF-8 bytes + those bytes

integers (``until``, ``issued_at``) as base-10 ASCII. The domain tag keeps a control
signature from ever verifying as a Decision (and the reverse).

Kafka key: ``<subject_type>:<subject>/<quarantine_id>/<action>[/<reviewer_id>]``: the
subject first (SPEC §2), and distinct per record, so compaction never drops the ``add``
of a quarantine a lift vote follows. Controls go to partition 0 (one ordered log).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.clock import now_ms

__all__ = [
    "CONTROL_FIELDS",
    "CONTROL_FORMAT",
    "DOMAIN_TAG",
    "MAX_REASON_CHARS",
    "Action",
    "Mode",
    "SubjectType",
    "build_control",
    "control_bytes",
    "control_key",
    "decode_control",
    "encode_control",
    "sign_control",
]

#: ``format`` of every control record.
CONTROL_FORMAT = "sluice.control.v1"
#: Domain separation tag, first bytes of every signed control.
DOMAIN_TAG = b"sluice.control.v1\n"
#: Longest ``reason`` accepted (characters).
MAX_REASON_CHARS = 1000
#: Longest subject id accepted (characters).
MAX_SUBJECT_CHARS = 256
#: Largest record value read (bytes); larger ones are malformed, never parsed.
MAX_RECORD_BYTES = 16 * 1024

#: Signed fields, in signing order (every field but ``signature``).
CONTROL_FIELDS: tuple[str, ...] = (
    "format",
    "control_id",
    "action",
    "quarantine_id",
    "subject_type",
    "subject",
    "mode",
    "until",
    "reason",
    "issued_at",
    "reviewer_id",
    "key_id",
)
_INT_FIELDS = frozenset({"until", "issued_at"})


class Action(StrEnum):
    """What a control does."""

    ADD = "add"
    LIFT = "lift"


class SubjectType(StrEnum):
    """What a quarantine covers: every event of one actor, workflow or run."""

    ACTOR = "actor"
    WORKFLOW = "workflow"
    RUN = "run"


class Mode(StrEnum):
    """What happens to a new event of a quarantined subject."""

    #: Held for review under rule ``quarantine`` (the normal held path).
    HOLD = "hold"
    #: Rejected at intake under rule ``quarantine``.
    REJECT = "reject"


def control_bytes(control: Mapping[str, Any]) -> bytes:
    """The bytes a control's signature covers (format in the module docstring).

    Raises:
        ValueError: a field is missing or mistyped (the message names the field only).
    """
    parts = [DOMAIN_TAG]
    for name in CONTROL_FIELDS:
        if name not in control:
            raise ValueError(f"control field {name} is missing")
        value = control[name]
        if name in _INT_FIELDS:
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"control field {name} must be an integer (ms)")
            raw = str(int(value)).encode("ascii")
        else:
            if not isinstance(value, str):
                raise ValueError(f"control field {name} must be a string")
            try:
                raw = value.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError(f"control field {name} is not valid Unicode") from None
        parts.append(len(raw).to_bytes(4, "big"))
        parts.append(raw)
    return b"".join(parts)


def build_control(
    *,
    action: Action | str,
    subject_type: SubjectType | str,
    subject: str,
    reviewer_id: str,
    key_id: str,
    reason: str,
    quarantine_id: str | None = None,
    mode: Mode | str = Mode.HOLD,
    until: int = 0,
    issued_at: int | None = None,
    control_id: str | None = None,
) -> dict[str, Any]:
    """An unsigned control (sign it with :func:`sign_control`).

    An ``add``'s quarantine id is its own control id; a ``lift`` names the quarantine.
    ``until`` is epoch ms (0: until lifted).
    """
    cid = control_id or str(uuid.uuid4())
    action = Action(action)
    if action == Action.LIFT and not quarantine_id:
        raise ValueError("a lift names the quarantine it lifts")
    return {
        "format": CONTROL_FORMAT,
        "control_id": cid,
        "action": action.value,
        "quarantine_id": cid if action == Action.ADD else str(quarantine_id),
        "subject_type": SubjectType(subject_type).value,
        "subject": subject,
        "mode": Mode(mode).value if action == Action.ADD else "",
        "until": int(until),
        "reason": reason,
        "issued_at": now_ms() if issued_at is None else issued_at,
        "reviewer_id": reviewer_id,
        "key_id": key_id,
        "signature": b"",
    }


def sign_control(control: dict[str, Any], private_key: Ed25519PrivateKey) -> bytes:
    """Sign ``control`` in place (``control["signature"]``) and return the signature."""
    signature = private_key.sign(control_bytes(control))
    control["signature"] = signature
    return signature


def control_key(control: Mapping[str, Any]) -> bytes:
    """The Kafka key of a control record (module docstring)."""
    key = f"{control['subject_type']}:{control['subject']}/{control['quarantine_id']}/"
    key += str(control["action"])
    if control["action"] == Action.LIFT:
        key += f"/{control['reviewer_id']}"
    return key.encode("utf-8")


def encode_control(control: Mapping[str, Any]) -> bytes:
    """The record value: JSON, the signature as base64."""
    out = {name: control[name] for name in CONTROL_FIELDS}
    out["signature"] = base64.b64encode(bytes(control["signature"])).decode("ascii")
    return orjson.dumps(out, option=orjson.OPT_SORT_KEYS)


def decode_control(value: bytes | None) -> dict[str, Any] | None:
    """A control from a record value, or None when it is not one (never raises).

    Only the shape is checked here (fields present, typed, bounded); who signed it and
    whether it may act is :class:`sluice.quarantine.state.Controls`' business.
    """
    if value is None or len(value) > MAX_RECORD_BYTES:
        return None
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(raw, dict) or raw.get("format") != CONTROL_FORMAT:
        return None
    out: dict[str, Any] = {}
    for name in CONTROL_FIELDS:
        v = raw.get(name)
        if name in _INT_FIELDS:
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                return None
        elif not isinstance(v, str):
            return None
        out[name] = v
    try:
        out["signature"] = base64.b64decode(str(raw.get("signature", "")), validate=True)
    except (binascii.Error, ValueError):
        return None
    if (
        out["action"] not in {a.value for a in Action}
        or out["subject_type"] not in {s.value for s in SubjectType}
        or not out["subject"].strip()
        or len(out["subject"]) > MAX_SUBJECT_CHARS
        or len(out["reason"]) > MAX_REASON_CHARS
        or not out["control_id"]
        or len(out["control_id"]) > 64
        or len(out["quarantine_id"]) > 64
    ):
        return None
    if out["action"] == Action.ADD and (
        out["mode"] not in {m.value for m in Mode} or out["quarantine_id"] != out["control_id"]
    ):
        return None
    return out


def value_hash(value: bytes) -> str:
    """Hex SHA-256 of a record value (the audit record's ``content_hash``)."""
    return hashlib.sha256(value).hexdigest()
