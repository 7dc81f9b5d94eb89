"""Intake, one record at a time, as a pure function: decode → validate → sanitize → assess → route.

No I/O here: :meth:`Intake.process` takes a consumed record's bytes and coordinates and
returns what to produce (one output record and one audit entry) plus what to count.
The agent in :mod:`sluice.agents.intake` batches these into Kafka transactions.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from sluice.codec import Codec
from sluice.errors import ErrorCode, RejectedRecord
from sluice.headers import carry
from sluice.models.event import UUID_PATTERN
from sluice.models.finding import Finding
from sluice.models.records import (
    AuditStage,
    DecisionSource,
    Disposition,
    OutcomeKind,
    PolicyEffect,
    RecordName,
    Transition,
    audit_entry,
    dead_letter_record,
    held_event_record,
    outcome_record,
    requirement_records,
)
from sluice.pipeline_protocols import CounterLike, PolicyLike, QuarantineLike, SanitizerLike
from sluice.topics import Topics
from sluice.validate import Validator
from sluice.velocity.window import WindowCounter

if TYPE_CHECKING:
    from sluice.producers import ProducerKey, ProducerRegistry

__all__ = ["CounterLike", "Intake", "IntakeResult", "PolicyLike", "QuarantineLike", "SanitizerLike"]

log = logging.getLogger(__name__)

_PREVIEW_CHARS = 120
_UUID = re.compile(UUID_PATTERN)

# The words of the hot path as plain str, read once: on Python 3.11 every ``Enum.MEMBER``
# read goes through the enum metaclass's __getattr__ (several times a global read), and
# dict lookups, orjson (audit hashes) and fastavro take an exact str quicker than a
# str subclass.
_EVENT = RecordName.WORKFLOW_EVENT.value
_HELD_EVENT = RecordName.HELD_EVENT.value
_OUTCOME = RecordName.OUTCOME.value
_DEAD_LETTER = RecordName.DEAD_LETTER.value
_HOLD, _ALLOW = PolicyEffect.HOLD.value, PolicyEffect.ALLOW.value
_INTAKE, _POLICY = AuditStage.INTAKE.value, DecisionSource.POLICY.value
_HELD = (Disposition.HELD.value, Transition.HELD.value)
_INVALID, _T_INVALID = Disposition.INVALID.value, Transition.INVALID.value
#: Allowed by the policy? → (what the record became, audit transition, Outcome.outcome).
_DECIDED = {
    True: (Disposition.APPROVED.value, Transition.APPROVED.value, OutcomeKind.APPROVED.value),
    False: (Disposition.REJECTED.value, Transition.REJECTED.value, OutcomeKind.REJECTED.value),
}


@dataclass(slots=True)
class IntakeResult:
    """What one input record became."""

    #: A :class:`~sluice.models.records.Disposition`: approved | rejected | held | invalid.
    outcome: str
    #: StepKind of the event, or "unknown" when it did not decode.
    kind: str
    topic: str
    key: bytes | None
    value: bytes
    #: Fields of the intake audit record (ChainWriter.append(**audit)).
    audit: dict[str, Any]
    findings: list[Finding] = field(default_factory=list)
    error_code: str | None = None
    cost_usd: float = 0.0
    event_id: str | None = None
    #: Policy rules whose condition failed at run time on this event (deny/hold rules fail
    #: closed: they count as matching; allow rules do not match).
    policy_errors: tuple[str, ...] = ()
    #: Kafka headers for the output record: :func:`sluice.headers.carry` of the input's.
    headers: list[tuple[str, bytes]] = field(default_factory=list)


class Intake:
    """The intake stage for one deployment.

    Args:
        codec: shared Avro codec.
        validator: field rules and time window.
        sanitizer: the sanitize stage (secrets, PII, markup, injections, Unicode).
        policy: the loaded policy.
        topics: output topic names.
        max_record_bytes: larger records go to the DLQ unread.
        producers: producers registry; when given, every record must carry a valid
            producer MAC/signature for its actor and workflow (``sluice.producers``).
    """

    def __init__(
        self,
        codec: Codec,
        validator: Validator,
        sanitizer: SanitizerLike,
        policy: PolicyLike,
        topics: Topics,
        *,
        max_record_bytes: int = 512 * 1024,
        producers: ProducerRegistry | None = None,
    ) -> None:
        self._codec = codec
        self._validator = validator
        self._sanitizer = sanitizer
        self._policy = policy
        self._topics = topics
        self._max_bytes = max_record_bytes
        self._producers = producers
        self._event_fp = codec.fingerprint(_EVENT)
        #: Quarantines in force (set by the worker); None: no kill switch.
        self.quarantine: QuarantineLike | None = None
        #: With velocity rules and no counter passed to :meth:`process` (benchmarks, the
        #: pure pipeline in tests): counts of this process alone. Workers pass the counter
        #: of the actor's repartition partition (exact across the group).
        self._local_counter: WindowCounter | None = None
        refs = getattr(policy, "velocity", ())
        if refs:
            self._local_counter = WindowCounter(refs)

    @property
    def sanitizer(self) -> SanitizerLike:
        """The sanitize stage this intake runs (read-only; benchmarks time it alone)."""
        return self._sanitizer

    @property
    def policy(self) -> PolicyLike:
        """The policy this intake assesses with (a ShadowPolicy in shadow mode; read-only)."""
        return self._policy

    @property
    def validator(self) -> Validator:
        """The field rules and time window this intake applies (read-only)."""
        return self._validator

    def with_stages(self, wrap: Callable[[str, Any], Any]) -> Intake:
        """A copy whose stage objects are ``wrap(name, obj)`` (:mod:`sluice.tracing`):
        names ``codec``, ``validator``, ``sanitizer``, ``policy``, ``producers``."""
        p = self._producers
        copy = Intake(
            wrap("codec", self._codec),
            wrap("validator", self._validator),
            wrap("sanitizer", self._sanitizer),
            wrap("policy", self._policy),
            self._topics,
            max_record_bytes=self._max_bytes,
            producers=wrap("producers", p) if p is not None else None,
        )
        # Shared, not copied: the kill switch in force and this process's own counts.
        copy.quarantine = self.quarantine
        copy._local_counter = self._local_counter
        return copy

    def process(
        self,
        value: bytes | None,
        key: bytes | None,
        source: tuple[str, int, int],
        timestamp_ms: int | None,
        now_ms: int,
        headers: Sequence[tuple[str, bytes | None]] | None = None,
        velocity: tuple[CounterLike, int] | None = None,
    ) -> IntakeResult:
        """Route one record. Never raises: every failure becomes a DLQ result.

        ``headers`` are the record's Kafka headers (producer authentication reads them);
        the result carries :func:`sluice.headers.carry` of them for its output record.
        ``velocity`` is (the counter owning this event's actor, its ingest time in epoch
        ms) when the policy has velocity rules; the caller drains the counter into the
        changelog in the same transaction.
        """
        try:
            r = self._process(value, key, source, now_ms, headers, velocity)
        except RejectedRecord as exc:
            r = self._dead_letter(value, key, source, timestamp_ms, now_ms, exc.code, exc.detail)
        except Exception as exc:  # a bug must cost one record, not the partition
            # No traceback: exception messages of libraries may quote event values.
            log.error(
                "intake internal error",
                extra={"source": _src(source), "exc_type": type(exc).__name__},
            )
            r = self._dead_letter(
                value,
                key,
                source,
                timestamp_ms,
                now_ms,
                ErrorCode.INTERNAL_ERROR,
                f"internal error ({type(exc).__name__})",
            )
        if headers:  # no headers (the common case): no work
            r.headers = carry(headers)
        return r

    def _process(
        self,
        value: bytes | None,
        key: bytes | None,
        source: tuple[str, int, int],
        now_ms: int,
        headers: Sequence[tuple[str, bytes | None]] | None = None,
        velocity: tuple[CounterLike, int] | None = None,
    ) -> IntakeResult:
        if value is None:
            raise RejectedRecord(ErrorCode.TRUNCATED, "record has no value (tombstone)")
        if len(value) > self._max_bytes:
            raise RejectedRecord(
                ErrorCode.RECORD_TOO_LARGE, f"{len(value)} bytes > limit {self._max_bytes}"
            )
        producers = self._producers
        producer: ProducerKey | None = None
        if producers is not None:
            # Before decoding: an unauthenticated record costs one MAC, not a parse.
            producer = producers.authenticate(headers, source[0], key, value)
        event = self._codec.decode(_EVENT, value)
        self._validator.validate(event, now_ms)
        if producers is not None and producer is not None:
            producers.authorize(producer, event)
        clean, findings = self._sanitizer.sanitize_event(event)
        if producers is not None and producer is not None and clean is not event:
            # What reviewers and the gate see must be what the key may speak for too.
            producers.authorize(producer, clean)
        producer_key_id = producer.key_id if producer is not None else None
        if clean is not event:
            # What we pass on must still honour the contract (a field of only control
            # characters becomes empty; a redaction mark can exceed a size limit).
            self._validator.validate(clean, now_ms)
        if clean is event and value[2:10] == self._event_fp:
            body = value  # unchanged and already current: pass the bytes on as they came
        else:
            body = self._codec.encode(_EVENT, clean)
        content_hash = hashlib.sha256(body).hexdigest()
        if velocity is None and self._local_counter is None:
            a = self._policy.assess(clean, findings)
        else:
            if velocity is None:
                counter = self._local_counter
                assert counter is not None  # noqa: S101 - checked above
                counts = counter.observe(event, now_ms, now_ms)
                counter.commit()  # nothing to write: this process's own counts
            else:
                counts = velocity[0].observe(event, velocity[1], now_ms)
            # The counting key is the validated event's actor as produced (before
            # sanitizing), the same the router re-keyed it by.
            a = self._policy.assess(clean, findings, velocity=counts)  # type: ignore[call-arg]
        quarantine = self.quarantine
        if quarantine is not None and quarantine.active:
            a = quarantine.override(a, clean, now_ms)
        event_id: str = clean["event_id"]
        kind: str = clean["kind"]
        run_id: str = clean["run_id"]
        workflow_id: str = clean["workflow_id"]
        trace_id: str | None = clean.get("trace_id")
        avro_findings = [f.to_avro() for f in findings]
        ekey = event_id.encode()
        if a.outcome == _HOLD:
            hold = a.hold
            held = held_event_record(
                event_id=event_id,
                run_id=run_id,
                workflow_id=workflow_id,
                kind=kind,
                actor_id=clean["actor"]["id"],
                on_behalf_of=clean.get("on_behalf_of"),
                trace_id=trace_id,
                event=body,
                content_hash=content_hash,
                findings=avro_findings,
                rule=a.rule,
                policy_hash=a.policy_hash,
                reason=a.reason,
                risk_score=float(a.risk_score),
                roles=list(hold.roles),
                approvals=int(hold.approvals),
                on_expiry=hold.on_expiry,
                escalate_roles=list(hold.escalate_roles),
                escalate_ttl_ms=int(hold.escalate_ttl_ms),
                requirements=requirement_records(hold.requirements),
                escalate_approvals=int(hold.escalate_approvals),
                escalate_requirements=requirement_records(hold.escalate_requirements),
                escalate_carry_votes=bool(hold.escalate_carry_votes),
                producer_key_id=producer_key_id,
                received_at=now_ms,
                held_at=now_ms,
                expires_at=now_ms + int(hold.ttl_ms),
            )
            outcome, transition = _HELD
            out = self._codec.encode(_HELD_EVENT, held)
            topic = self._topics.approvals
        else:
            approved = a.outcome == _ALLOW
            outcome, transition, verdict = _DECIDED[approved]
            # Positional, in schema order: binding 18 keywords costs ~1 µs an event.
            outcome_rec = outcome_record(
                event_id,
                run_id,
                workflow_id,
                kind,
                trace_id,
                verdict,  # outcome
                _POLICY,  # source
                a.rule,
                a.policy_hash,
                a.reason,
                [],  # reviewers
                avro_findings,
                body,  # event
                content_hash,
                None,  # reason_code
                producer_key_id,
                now_ms,  # received_at
                now_ms,  # decided_at
            )
            out = self._codec.encode(_OUTCOME, outcome_rec)
            topic = self._topics.approved if approved else self._topics.rejected
        audit = audit_entry(  # positional, in schema order, as outcome_record above
            _INTAKE,
            transition,
            event_id,
            run_id,
            workflow_id,
            trace_id,
            kind,
            outcome,
            clean["actor"]["id"],
            None,  # reviewer_id
            None,  # decision_id
            a.reason,  # reason_code
            a.rule,
            a.policy_hash,
            content_hash,
            sorted({f.detector for f in findings}) if findings else [],  # detectors
            _src(source),
            now_ms,  # at
            producer_key_id,
        )
        return IntakeResult(
            outcome=outcome,
            kind=kind,
            topic=topic,
            key=ekey,
            value=out,
            audit=audit,
            findings=findings,
            cost_usd=float(clean.get("cost_usd") or 0.0),
            event_id=event_id,
            policy_errors=tuple(getattr(a, "errors", ()) or ()),
        )

    def _dead_letter(
        self,
        value: bytes | None,
        key: bytes | None,
        source: tuple[str, int, int],
        timestamp_ms: int | None,
        now_ms: int,
        code: ErrorCode,
        detail: str,
    ) -> IntakeResult:
        payload = value or b""
        fingerprint = (
            payload[2:10].hex() if len(payload) >= 10 and payload[:2] == b"\xc3\x01" else None
        )
        event_id, preview = self._salvage(payload)
        dead = dead_letter_record(  # positional, in schema order, as on the hot path
            code.value,  # error_code
            self._sanitizer.redact(detail)[:500],  # detail
            source[0],  # source_topic
            source[1],  # source_partition
            source[2],  # source_offset
            timestamp_ms,  # source_timestamp
            len(payload),  # payload_size
            hashlib.sha256(payload).hexdigest(),  # payload_sha256
            fingerprint,  # schema_fingerprint
            event_id,
            preview,
            now_ms,  # failed_at
        )
        audit = audit_entry(
            _INTAKE,
            _T_INVALID,
            event_id,
            outcome=_INVALID,
            reason_code=code.value,
            source=_src(source),
            at=now_ms,
        )
        return IntakeResult(
            outcome=_INVALID,
            kind="unknown",
            topic=self._topics.dlq,
            key=self._redact_key(key),
            value=self._codec.encode(_DEAD_LETTER, dead),
            audit=audit,
            error_code=code.value,
            event_id=event_id,
        )

    def _redact_key(self, key: bytes | None) -> bytes | None:
        """The source key (run_id by contract), with any secret in it redacted."""
        if key is None:
            return None
        # Bytes that are not UTF-8 (binary, latin-1, ...) can still carry an ASCII secret:
        # surrogateescape keeps every ASCII byte as it was and turns each undecodable byte
        # into a lone surrogate (not a word character, so it cannot hide a secret's
        # boundary). redact() replaces those surrogates, so such a key always comes out
        # as the redacted UTF-8 text with "?" for the undecodable bytes.
        text = key.decode("utf-8", "surrogateescape")
        clean = self._sanitizer.redact(text)
        return key if clean == text else clean.encode("utf-8")

    def _salvage(self, payload: bytes) -> tuple[str | None, str | None]:
        """Best effort: the event id and a short redacted preview of a bad record."""
        try:
            event = self._codec.decode(_EVENT, payload)
        except Exception:
            return None, None
        eid = event.get("event_id")
        event_id = eid if isinstance(eid, str) and _UUID.match(eid) else None
        try:
            # Redact whole values first, then cut: a cut must never split a secret.
            shown = {
                "kind": self._sanitizer.redact(str(event.get("kind", ""))),
                "step": self._sanitizer.redact(str(event.get("step", ""))),
                "action": self._sanitizer.redact(str(event.get("action", ""))),
            }
            text = orjson.dumps(shown).decode()
        except Exception:
            return event_id, None
        return event_id, text[:_PREVIEW_CHARS]


def _src(source: tuple[str, int, int]) -> str:
    return f"{source[0]}/{source[1]}/{source[2]}"
