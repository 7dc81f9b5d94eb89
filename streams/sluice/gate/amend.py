"""Approve with amendments: what an amendment may change, and the checks it must pass.

A reviewer may approve a held event *with changes* (redact a line, drop an argument,
change a recipient, shorten content). The Decision then carries the full amended
event (``amended_event``: Avro single-object bytes of the WorkflowEvent, in the
canonical form of :func:`encode_amended`) and its SHA-256 (``amended_hash``), signed in
the ``sluice.decision.v2`` form (:mod:`sluice.gate.signatures`).

Why the full event and not a patch on the wire: the signature then binds exactly the
bytes that will be released (the gate applies nothing, so no two gates or clients can
apply a patch differently), and two reviewers who make the same change sign the same
hash, which is what the quorum counts. Reviewers *write* amendments as a JSON merge
patch (RFC 7396, :func:`merge_patch`) against the sanitized event they were shown;
:func:`prepare` turns that into the canonical bytes.

Rules, checked by the client before signing (:func:`prepare`) and again by the gate
(:class:`AmendmentChecker`), with one :class:`~sluice.gate.votes.Refusal` each:

* ``amendment_hash_mismatch``: the bytes do not hash to ``amended_hash``;
* ``amendment_invalid``: the bytes do not decode as a WorkflowEvent of the current
  schema, are not in canonical form, fail the intake field rules (sizes, NUL bytes,
  enums...), change a field outside :data:`AMENDABLE_FIELDS`, or change nothing;
* ``amendment_unsafe``: re-sanitizing the amended event would change a field the
  amendment changed (a secret, PII of a PUBLIC event, control characters...), or finds
  in one a high or critical finding (prompt injection, a script tag, SQL injection...)
  that the held event did not have (same detector and fingerprint). The amendment is
  refused, never released re-sanitized: the released bytes are always bytes every
  counted vote signed. Findings that are only flagged at low or medium severity (an
  email address as a new recipient of an INTERNAL event) are allowed and carried in
  the Outcome, as they would be for an event that arrived so.

The policy is not re-run: the reviewers who approve the amended bytes are its judges.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sluice.codec import default_codec
from sluice.errors import DecodeError, ValidationError
from sluice.gate.entry import Amendment, Entry
from sluice.gate.votes import Refusal
from sluice.models.finding import Finding
from sluice.models.records import RecordName
from sluice.validate import Validator

if TYPE_CHECKING:
    from sluice.sanitize import Sanitizer
    from sluice.settings import Settings

__all__ = [
    "AMENDABLE_FIELDS",
    "AmendmentChecker",
    "AmendmentError",
    "Checked",
    "Sanitizing",
    "amendment_checker",
    "changed_fields",
    "checked_amendment",
    "encode_amended",
    "examine",
    "merge_patch",
    "prepare",
    "prepare_for",
    "sanitizer_for",
    "validator_for",
]

#: Top-level WorkflowEvent fields an amendment may change; every other field (ids,
#: kind, actor, on_behalf_of, classification, times, step, action, model...) is bound.
AMENDABLE_FIELDS: frozenset[str] = frozenset({"content", "arguments", "resource", "attributes"})
_MAPS = ("arguments", "attributes")
#: Severities of a new finding that make an amendment unsafe even when only flagged.
_BLOCKING = frozenset({"high", "critical"})
_EVENT = RecordName.WORKFLOW_EVENT.value


class Sanitizing(Protocol):
    """What the checks need of :class:`sluice.sanitize.Sanitizer`."""

    def sanitize_event(self, event: dict[str, Any]) -> tuple[dict[str, Any], list[Finding]]: ...


class AmendmentError(ValueError):
    """An amendment that does not pass; ``refusal`` is the gate's reason, the message
    says why in words (field names and detector names, never values)."""

    def __init__(self, refusal: Refusal, message: str) -> None:
        super().__init__(message)
        self.refusal = refusal


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: ``patch`` applied to ``target`` (neither is mutated).

    An object patch merges key by key (``null`` removes the key); anything else
    replaces the target.
    """
    if not isinstance(patch, Mapping):
        return patch
    out = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def _canonical(event: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(event)
    for name in _MAPS:
        value = out.get(name)
        if isinstance(value, Mapping):
            out[name] = dict(sorted(value.items()))
    return out


def encode_amended(event: Mapping[str, Any]) -> bytes:
    """The canonical bytes of an amended event: current WorkflowEvent schema,
    single-object framed, the keys of ``arguments`` and ``attributes`` sorted."""
    return default_codec().encode(_EVENT, _canonical(event))


def changed_fields(original: Mapping[str, Any], amended: Mapping[str, Any]) -> list[str]:
    """The fields ``amended`` changes, sorted: top-level names, and ``map.key`` for
    each entry of ``arguments``/``attributes`` added, removed or changed."""
    out: list[str] = []
    for name in sorted(set(original) | set(amended)):
        a, b = original.get(name), amended.get(name)
        if a == b:
            continue
        if name in _MAPS and isinstance(a, Mapping) and isinstance(b, Mapping):
            out += [f"{name}.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        else:
            out.append(name)
    return out


def _top(path: str) -> str:
    return path.split(".", 1)[0].split("[", 1)[0]


def _finding_key(f: Any) -> tuple[str, str]:
    get = f.get if isinstance(f, Mapping) else lambda k: getattr(f, k, None)
    fp = get("fingerprint")
    return (str(get("detector")), str(fp) if fp is not None else "field:" + str(get("field")))


def examine(
    original: Mapping[str, Any],
    held_findings: list[Any],
    amended: dict[str, Any],
    *,
    validator: Validator,
    sanitizer: Sanitizing,
    received_at: int,
) -> tuple[list[str], list[Finding]]:
    """Check the decoded ``amended`` event against the held ``original`` (rules in the
    module docstring); ``received_at`` dates the field rules' time window as intake did.

    Returns:
        The changed fields (:func:`changed_fields`) and the amended event's findings.

    Raises:
        AmendmentError: amendment_invalid or amendment_unsafe.
    """
    try:
        validator.validate(amended, received_at)
    except ValidationError as exc:
        raise AmendmentError(
            Refusal.AMENDMENT_INVALID, f"the amended event breaks a field rule ({exc.field})"
        ) from None
    changed = changed_fields(original, amended)
    if not changed:
        raise AmendmentError(Refusal.AMENDMENT_INVALID, "the amendment changes nothing")
    bound = sorted({_top(c) for c in changed} - AMENDABLE_FIELDS)
    if bound:
        raise AmendmentError(
            Refusal.AMENDMENT_INVALID,
            f"field(s) {', '.join(bound)} may not be amended "
            f"(amendable: {', '.join(sorted(AMENDABLE_FIELDS))})",
        )
    touched = {_top(c) for c in changed}
    sanitized, findings = sanitizer.sanitize_event(amended)
    redacted = sorted(f for f in touched if sanitized.get(f) != amended.get(f))
    known = {_finding_key(f) for f in held_findings}
    new = sorted(
        {
            f"{f.detector} in {_top(f.field)}"
            for f in findings
            if _top(f.field) in touched
            and str(f.severity) in _BLOCKING
            and _finding_key(f) not in known
        }
    )
    if redacted or new:
        what = "; ".join(new) if new else "sanitizing changes " + ", ".join(redacted)
        raise AmendmentError(
            Refusal.AMENDMENT_UNSAFE,
            f"the amendment adds content the sanitizer flags or redacts ({what}); remove it",
        )
    return changed, findings


def prepare(
    held: Mapping[str, Any],
    patch: Mapping[str, Any],
    *,
    validator: Validator,
    sanitizer: Sanitizing,
) -> tuple[bytes, list[str]]:
    """Client side: apply the merge ``patch`` to the decoded HeldEvent ``held``'s event.

    Returns:
        The canonical amended bytes to sign (:func:`encode_amended`) and the fields
        changed.

    Raises:
        AmendmentError: the patch is not an object, or the result fails a check.
    """
    if not isinstance(patch, Mapping):
        raise AmendmentError(Refusal.AMENDMENT_INVALID, "the amendment must be a JSON object")
    original = default_codec().decode(_EVENT, held["event"])
    amended = _canonical(merge_patch(original, patch))
    unknown = sorted(set(amended) - set(original))
    if unknown:
        raise AmendmentError(
            Refusal.AMENDMENT_INVALID, f"not WorkflowEvent field(s): {', '.join(unknown)}"
        )
    try:
        raw = encode_amended(amended)
    except (ValueError, TypeError, AttributeError, KeyError):
        raise AmendmentError(
            Refusal.AMENDMENT_INVALID, "the amended event does not fit the WorkflowEvent schema"
        ) from None
    decoded = default_codec().decode(_EVENT, raw)
    changed, _ = examine(
        original,
        list(held.get("findings") or ()),
        decoded,
        validator=validator,
        sanitizer=sanitizer,
        received_at=int(held["received_at"]),
    )
    return raw, changed


def prepare_for(settings: Settings, held: Mapping[str, Any], patch: Mapping[str, Any]) -> bytes:
    """:func:`prepare` with intake's field rules and sanitizer from ``settings``; the
    amended bytes only (the reviewer's client: :func:`sluice.review.adecide`).

    Raises:
        AmendmentError: the amendment does not pass.
    """
    raw, _ = prepare(
        held, patch, validator=validator_for(settings), sanitizer=sanitizer_for(settings)
    )
    return raw


@dataclass(frozen=True)
class Checked:
    """A gate-side check that passed: the fields changed and the amended findings."""

    changed: tuple[str, ...]
    findings: list[dict[str, Any]]


class AmendmentChecker:
    """The gate's side (:class:`sluice.gate.quorum.GateState` calls :meth:`check`).

    Args:
        validator: intake's field rules (same limits as intake).
        sanitizer: a sanitizer, or a no-argument factory for one (built on first use:
            a gate that never sees an amendment never compiles the detectors).
    """

    def __init__(
        self, validator: Validator, sanitizer: Sanitizing | Callable[[], Sanitizing]
    ) -> None:
        self._validator = validator
        self._sanitizer: Sanitizing | None = None
        self._factory: Callable[[], Sanitizing] | None = None
        if callable(sanitizer) and not hasattr(sanitizer, "sanitize_event"):
            self._factory = sanitizer
        else:
            self._sanitizer = sanitizer  # type: ignore[assignment]

    def sanitizer(self) -> Sanitizing:
        """The sanitizer (built now if it was given as a factory)."""
        if self._sanitizer is None and self._factory is not None:
            self._sanitizer = self._factory()
        if self._sanitizer is None:  # unreachable: __init__ sets one of the two
            raise RuntimeError("no sanitizer")
        return self._sanitizer

    def check(self, held_raw: bytes, amended: Any, amended_hash: Any) -> Checked:
        """Check a decision's ``amended_event`` against the HeldEvent bytes ``held_raw``.

        Raises:
            AmendmentError: with the refusal (module docstring).
        """
        if not isinstance(amended, bytes | bytearray) or not isinstance(amended_hash, str):
            raise AmendmentError(Refusal.AMENDMENT_INVALID, "no amended event")
        amended = bytes(amended)
        if hashlib.sha256(amended).hexdigest() != amended_hash:
            raise AmendmentError(
                Refusal.AMENDMENT_HASH_MISMATCH, "amended_event does not hash to amended_hash"
            )
        codec = default_codec()
        held = codec.decode(RecordName.HELD_EVENT.value, held_raw)
        try:
            event = codec.decode(_EVENT, amended)
            canonical = encode_amended(event) == amended
        except (DecodeError, ValueError, TypeError):
            raise AmendmentError(
                Refusal.AMENDMENT_INVALID, "amended_event is not a WorkflowEvent"
            ) from None
        if not canonical:
            raise AmendmentError(Refusal.AMENDMENT_INVALID, "amended_event is not canonical")
        original = codec.decode(_EVENT, held["event"])
        changed, findings = examine(
            original,
            list(held.get("findings") or ()),
            event,
            validator=self._validator,
            sanitizer=self.sanitizer(),
            received_at=int(held["received_at"]),
        )
        return Checked(tuple(changed), [f.to_avro() for f in findings])


def checked_amendment(
    checker: AmendmentChecker | None, e: Entry, dec: Mapping[str, Any], target: str
) -> Amendment:
    """The checked amendment of an APPROVE for the open entry ``e`` (bytes, changed
    fields, findings); ``target``: its ``amended_hash``.

    Raises:
        AmendmentError: it does not pass (None ``checker``: amendment_invalid).
    """
    if checker is None or e.held is None:
        raise AmendmentError(Refusal.AMENDMENT_INVALID, "amendments are not checked here")
    known = e.amendments.get(target)
    if known is not None and dec.get("amended_event") == known[0]:
        return known  # the same bytes already passed
    checked = checker.check(e.held, dec.get("amended_event"), target)
    return (bytes(dec["amended_event"]), checked.changed, checked.findings)


def validator_for(settings: Settings) -> Validator:
    """Intake's field rules and time window, from ``settings`` (what intake applies)."""
    from sluice.models.event import Limits

    return Validator(
        Limits(
            max_text_chars=settings.max_text_chars,
            max_content_chars=settings.max_content_chars,
            max_map_entries=settings.max_map_entries,
            max_map_value_chars=settings.max_map_value_chars,
        ),
        max_past_ms=settings.max_past_seconds * 1000,
        max_future_ms=settings.max_future_seconds * 1000,
    )


def sanitizer_for(settings: Settings) -> Sanitizer:
    """Intake's sanitizer, from ``settings`` (compiling the detectors takes seconds and
    memory: one per distinct configuration is kept for the process)."""
    return _sanitizer(
        settings.fingerprint_key_bytes(), settings.re2_max_mem_mb, settings.pi_classifier
    )


@functools.lru_cache(maxsize=2)
def _sanitizer(key: bytes, re2_max_mem_mb: int, pi_classifier: bool) -> Sanitizer:
    from sluice.sanitize import Sanitizer

    return Sanitizer(key, re2_max_mem_mb=re2_max_mem_mb, pi_classifier=pi_classifier)


def amendment_checker(settings: Settings, sanitizer: Sanitizing | None = None) -> AmendmentChecker:
    """The gate's checker from ``settings``; ``sanitizer``: intake's when this worker
    runs one (else one is built on the first amendment)."""
    return AmendmentChecker(
        validator_for(settings),
        sanitizer if sanitizer is not None else (lambda: sanitizer_for(settings)),
    )
