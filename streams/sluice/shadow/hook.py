"""The shadow policy in the worker: assess with both, route with the live one.

:class:`ShadowPolicy` stands where :class:`sluice.pipeline.Intake` expects its policy.
It returns the live policy's assessment, untouched (routing, the HeldEvent, the
Outcome and the audit record are exactly what they are without a shadow), then
assesses the same sanitized event and findings with the candidate and queues a
:data:`~sluice.shadow.compare.Change` when the two disagree. A candidate that raises
is logged (type only) and counted as no disagreement: it can never change routing.

:class:`ShadowHook` is the intake agent's side: after each record it turns the queued
changes into ``ShadowDisagreement`` records for ``workflow.policy.shadow`` (sent in the
batch's transaction, so they are exactly-once with the outputs) and, after the commit,
counts them in ``sluice_shadow_disagreements_total{live,candidate}`` and
``sluice_shadow_events_total``.

Without ``SLUICE_SHADOW_POLICY_FILE`` nothing here runs: the intake gets the live
policy itself and the agent's per-record check is one falsy test.

Reload: the live policy is read once at worker start (no hot reload); the candidate
is too, so both change together with a restart and never disagree because one of
them was swapped mid-batch.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sluice.codec import Codec
from sluice.metrics import Metrics
from sluice.models.records import RecordName
from sluice.shadow.compare import OUTCOMES, Change, disagreement, disagreement_record, ids_of

if TYPE_CHECKING:
    from sluice.pipeline import IntakeResult
    from sluice.settings import Settings

__all__ = ["ShadowHook", "ShadowPolicy", "load_shadow"]

log = logging.getLogger(__name__)

_RECORD = RecordName.SHADOW_DISAGREEMENT.value
_INVALID = "invalid"


class ShadowPolicy:
    """The live policy with a candidate assessed beside it (see the module doc).

    Attributes the intake or the worker read of a policy (``hash``, ``rules``, ...)
    are the live policy's.
    """

    def __init__(self, live: Any, candidate: Any) -> None:
        self.live = live
        self.candidate = candidate
        self.hash: str = live.hash
        #: Disagreements not yet taken by :meth:`ShadowHook.take` (at most one per event).
        self.pending: list[Change] = []
        #: Events assessed by both since :meth:`ShadowHook.begin`.
        self.assessed = 0
        self._failed = False

    def __getattr__(self, name: str) -> Any:
        if name in ("live", "candidate"):  # not set yet (copy, unpickle): no recursion
            raise AttributeError(name)
        return getattr(self.live, name)

    def assess(self, event: Any, findings: Any, *args: Any, **kwargs: Any) -> Any:
        """The live assessment; the candidate's disagreement, if any, is queued."""
        a = self.live.assess(event, findings, *args, **kwargs)
        try:
            c = self.candidate.assess(event, findings, *args, **kwargs)
            self.assessed += 1
            change = disagreement(a, c)
            if change is not None:
                event_id, kind = ids_of(event)
                self.pending.append((event_id, kind, a, c, change))
        except Exception as exc:  # the candidate must never decide, nor break, routing
            if not self._failed:
                self._failed = True
                log.error(
                    "shadow policy assessment failed; live routing unaffected",
                    extra={"exc_type": type(exc).__name__},
                )
        return a


class ShadowHook:
    """Turns a :class:`ShadowPolicy`'s queued disagreements into records and counts."""

    def __init__(self, shadow: ShadowPolicy, codec: Codec, topic: str) -> None:
        self.shadow = shadow
        self.topic = topic
        self._codec = codec
        #: The queue :class:`ShadowPolicy` fills (the agent tests it after each record).
        self.pending = shadow.pending
        self._counts: dict[tuple[str, str], int] = {}
        self._assessed = 0

    def begin(self) -> None:
        """Start a batch (also a redone one): forget what an aborted attempt queued."""
        self.pending.clear()
        self.shadow.assessed = 0
        self._counts = {}

    def take(
        self, result: IntakeResult, source: tuple[str, int, int], now_ms: int
    ) -> list[tuple[bytes, bytes]]:
        """(key, value) of the disagreement records for the record just processed.

        Nothing when it went to the DLQ (a failure after assessment): only events that
        were routed are compared.
        """
        items = list(self.pending)
        self.pending.clear()
        out: list[tuple[bytes, bytes]] = []
        if result.outcome == _INVALID:
            return out
        src = f"{source[0]}/{source[1]}/{source[2]}"
        for event_id, kind, live, cand, change in items:
            if event_id != result.event_id:  # cannot happen: one assessment per record
                continue
            rec = disagreement_record(event_id, kind, live, cand, change, src, now_ms)
            ck = (rec["live_outcome"], rec["candidate_outcome"])
            self._counts[ck] = self._counts.get(ck, 0) + 1
            out.append((event_id.encode(), self._codec.encode(_RECORD, rec)))
        return out

    def after_commit(self, metrics: Metrics) -> None:
        """Count the committed batch's disagreements and shadow-assessed events."""
        for (live, cand), n in self._counts.items():
            metrics.shadow_disagreements.labels(live, cand).inc(n)
        if self.shadow.assessed:
            metrics.shadow_events.inc(self.shadow.assessed)
        self._counts = {}


def start_series(metrics: Metrics) -> None:
    """The 3x3 disagreement series at 0, so rate() sees the first increment."""
    for live in OUTCOMES:
        for cand in OUTCOMES:
            metrics.shadow_disagreements.labels(live, cand)


def load_shadow(settings: Settings, live: Any) -> ShadowPolicy | None:
    """The live policy with ``SLUICE_SHADOW_POLICY_FILE`` beside it; None when unset.

    Raises:
        ConfigError: the candidate does not load (one line naming the rule), like the
            live policy: a worker asked to shadow a broken policy refuses to start.
    """
    if settings.shadow_policy_file is None:
        return None
    from sluice.policy import load_policy

    candidate = load_policy(settings.shadow_policy_file)
    log.info(
        "shadow policy loaded",
        extra={"live_hash": live.hash, "candidate_hash": candidate.hash},
    )
    return ShadowPolicy(live, candidate)


def hook_for(policy: Any, codec: Codec, topic: str, metrics: Metrics) -> ShadowHook | None:
    """The agent's hook when ``policy`` (the intake's) is a :class:`ShadowPolicy`."""
    if not isinstance(policy, ShadowPolicy):
        return None
    start_series(metrics)
    return ShadowHook(policy, codec, topic)
