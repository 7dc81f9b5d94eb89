"""The compiled policy: deny wins, matching holds combine, allow only when nothing else.

Precedence (``Policy.assess``; see ``docs/policy.md``, "Precedence"):

1. Deny rules, in file order: the first that matches decides (``deny``).
2. Otherwise every hold rule is evaluated; if any matches, the outcome is ``hold`` and
   the requirements of all of them apply together (:func:`combine_holds`: requirements
   united, shortest ttl, most fail-closed on_expiry). ``Assessment.rule`` is the first of
   them in file order, ``Assessment.rules`` names them all.
3. Otherwise the first allow rule that matches decides (``allow``).
4. Otherwise the default.

A condition that raises at run time (a missing map key, ``double("20,000")``, a null
compared with a number) or returns a non-bool **fails closed**: in a deny rule it counts
as a match (deny), in a hold rule as a match (hold), in an allow rule as no match. It
is counted in ``Policy.error_counts`` and named in ``Assessment.errors``.
``assess`` never raises.

Fast paths never change the result (``docs/policy.md``, "Cost"; ``tests/unit/policy``
checks them against the plain evaluator on randomised events): an index by
``event.kind`` (a top-level ``event.kind == "X"`` conjunct), enum/null/number conjuncts
decided in Python, a memo of each rule's result on the exact values it reads (not for
rules using ``now`` or a bare ``event``), conditions compiled to Python
(:mod:`sluice.policy.fastpath`, stepping aside to CEL off their plain path), and CEL
given only the values a rule reads, as flat variables.

The compiled rule and its Python-decided conjuncts are :mod:`sluice.policy.rule`, the
memo keys :mod:`sluice.policy.memo`, and what rules see of findings (and the risk
score) :mod:`sluice.policy.inputs`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import cel

from sluice.policy.fastpath import answer, convertible
from sluice.policy.inputs import finding_to_cel, risk_score
from sluice.policy.memo import MEMO_LIMIT, Unhashable, freeze
from sluice.policy.model import Assessment, HoldSpec, combine_holds
from sluice.policy.rule import (
    FLAT_PREFIX,
    CompiledRule,
    Phases,
    check_preds,
    check_vpred,
    failed_reason,
    may_be_kind,
    phases,
)

__all__ = ["Policy"]

log = logging.getLogger(__name__)

_MISSING = object()
_MISS = object()
_ERROR = object()


class Policy:
    """A loaded policy. Build with :func:`sluice.policy.load_policy`."""

    def __init__(
        self,
        rules: Sequence[CompiledRule],
        default: CompiledRule,
        policy_hash: str,
        *,
        lists: Mapping[str, Any] | None = None,
        limits: Mapping[str, Any] | None = None,
        source: str = "<policy>",
        optimize: bool = True,
    ) -> None:
        self.hash = policy_hash
        #: Ordered rules (the default is separate: :attr:`default`).
        self.rules: tuple[CompiledRule, ...] = tuple(rules)
        self.default = default
        self.lists: dict[str, Any] = dict(lists or {})
        self.limits: dict[str, Any] = dict(limits or {})
        self.source = source
        self.optimize = optimize
        #: Run-time condition errors per rule name since load (deny/hold: match; allow: not).
        self.error_counts: dict[str, int] = {}
        self._local = threading.local()
        self._uses_now = any(r.uses_now for r in self.rules)
        #: Every ``velocity.<dim>("<window>")`` the rules read (empty: no velocity cost).
        self.velocity = tuple(sorted({ref for r in self.rules for ref in r.velocity}))
        for rule in (*self.rules, default):
            rule.clean = Assessment(
                rule.outcome,
                rule.name,
                rule.reason,
                rule.hold,
                policy_hash,
                risk_score(rule.outcome, ()),
                (),
                (rule.name,),
            )
            if optimize and rule.memo is None and self._memoisable(rule):
                rule.memo = {}
        #: Combined holds by the matching rules' identities: (spec, reason, names).
        self._combos: dict[tuple[int, ...], tuple[HoldSpec, str | None, tuple[str, ...]]] = {}
        self._all = phases(self.rules)
        kinds = {k for r in self.rules for f, vals in r.constraints if f == "kind" for k in vals}
        unconstrained = [r for r in self.rules if not any(f == "kind" for f, _ in r.constraints)]
        by_kind = {k: [r for r in self.rules if may_be_kind(r, k)] for k in kinds}
        self._unconstrained = phases(unconstrained)
        self._by_kind: dict[str, Phases] = {k: phases(rs) for k, rs in by_kind.items()}
        # Without findings, rules with a top-level `findings.exists(...)` conjunct are false.
        self._unconstrained_nf = phases(unconstrained, without_findings=True)
        self._by_kind_nf: dict[str, Phases] = {
            k: phases(rs, without_findings=True) for k, rs in by_kind.items()
        }

    @staticmethod
    def _memoisable(rule: CompiledRule) -> bool:
        return not rule.uses_now and rule.fields is not None and not rule.velocity

    @property
    def uses_velocity(self) -> bool:
        """Whether any rule reads ``velocity.*`` (then intake counts per actor)."""
        return bool(self.velocity)

    @property
    def errors_total(self) -> int:
        """Run-time condition errors since load, all rules."""
        return sum(self.error_counts.values())

    def _context(self) -> cel.Context:
        try:
            ctx: cel.Context = self._local.ctx
        except AttributeError:
            # Constants are converted once per thread; per-event values overwrite variables.
            ctx = cel.Context({"lists": self.lists, "limits": self.limits})
            self._local.ctx = ctx
        return ctx

    def assess(
        self,
        event: Mapping[str, Any],
        findings: Sequence[Any] = (),
        *,
        now_ms: int | None = None,
        velocity: Mapping[str, int | float] | None = None,
    ) -> Assessment:
        """Assess one decoded WorkflowEvent dict and its findings (precedence: module doc).

        ``now_ms`` (epoch ms, for ``now`` in conditions) defaults to the wall clock.
        ``velocity`` maps :attr:`VelocityRef.var <sluice.policy.velocity.VelocityRef>`
        names to this event's window counts; a count it lacks is null in CEL, so a rule
        comparing it fails closed.
        Never raises: a failing condition fails closed (see module doc), and an internal
        error gives the fail-closed :meth:`fallback` assessment.
        """
        try:
            if not self.optimize:
                return self._assess_plain(event, findings, now_ms, velocity)
            return self._assess_fast(event, findings, now_ms, velocity)
        except Exception as exc:  # a bug must not decide an event: fail closed
            log.error(
                "policy assessment failed; event held (fail closed)",
                extra={"exc_type": type(exc).__name__},
            )
            return self.fallback()

    def fallback(self) -> Assessment:
        """What an event gets when assessment itself fails: the default if it holds or
        denies, else a hold for security (1 approval, 4h, reject on expiry)."""
        d = self.default
        if d.outcome != "allow" and d.clean is not None:
            return d.clean
        spec = HoldSpec(roles=("security",), approvals=1, ttl_ms=4 * 3_600_000)
        return Assessment(
            "hold", "default", "policy assessment failed", spec, self.hash, 0.5, (), ("default",)
        )

    def _assess_fast(
        self,
        event: Mapping[str, Any],
        findings: Sequence[Any],
        now_ms: int | None,
        velocity: Mapping[str, int | float] | None = None,
    ) -> Assessment:
        cel_findings: list[dict[str, Any]] | None = None
        fkey: Any = ()
        if findings:
            cel_findings = [finding_to_cel(f) for f in findings]
            fkey = tuple(tuple(f.values()) for f in cel_findings)
        kind = event.get("kind", _MISSING)
        if type(kind) is str:
            if findings:
                denies, holds, allows = self._by_kind.get(kind, self._unconstrained)
            else:
                denies, holds, allows = self._by_kind_nf.get(kind, self._unconstrained_nf)
        else:
            denies, holds, allows = self._all
        errors: list[str] | None = None
        # CEL context, findings set, now set, values all convertible for CEL (None:
        # unknown), velocity counts set
        state: list[Any] = [None, False, False, None, False]

        def run(rule: CompiledRule) -> Any:
            """True, False or _ERROR for one rule on this event (fast paths, then CEL)."""
            if rule.vpred is not None:
                vdecided = check_vpred(rule.vpred, velocity)
                if vdecided is not None:
                    return vdecided
            decided = check_preds(rule.preds, event)
            if decided is False:
                return False
            # No conjunct is false. All true (and nothing else in the condition)?
            if rule.pure and decided:
                return True
            key: Any = None
            memo = rule.memo
            if memo is not None:
                try:
                    key = tuple(freeze(event.get(f, _MISSING)) for f in rule.fields or ())
                    if rule.uses_findings:
                        key = (key, fkey)
                except Unhashable:
                    key = None
                else:
                    hit = memo.get(key, _MISS)
                    if hit is not _MISS:
                        return hit
            result: Any = None
            if rule.fast is not None:  # compiled to Python: None when CEL must decide
                if state[3] is None:
                    state[3] = convertible(event, cel_findings)
                if state[3]:
                    result = answer(rule.fast, event, cel_findings)
            if result is None:
                ctx = state[0]
                if ctx is None:
                    ctx = state[0] = self._context()
                if rule.uses_findings and not state[1]:
                    ctx.add_variable("findings", cel_findings or [])
                    state[1] = True
                if rule.uses_now and not state[2]:
                    ctx.add_variable("now", self._now(now_ms))
                    state[2] = True
                if rule.velocity and not state[4]:
                    # Every window, every event: a stale value from the last event must
                    # not stay.
                    vel = velocity or {}
                    for ref in self.velocity:
                        ctx.add_variable(ref.var, vel.get(ref.var))
                    state[4] = True
                result = self._run(rule, event, ctx)
            if key is not None and memo is not None:
                if len(memo) >= MEMO_LIMIT:
                    memo.clear()
                memo[key] = result
            return result

        for rule in denies:
            result = run(rule)
            if result is _ERROR:
                errors = self._count_error(rule, errors, None)
            if result is not False:
                return self._result(rule, cel_findings, errors, errored=result is _ERROR)
        matched: list[CompiledRule] | None = None
        failed: list[CompiledRule] | None = None
        for rule in holds:
            result = run(rule)
            if result is False:
                continue
            if matched is None:
                matched = []
            matched.append(rule)
            if result is _ERROR:
                errors = self._count_error(rule, errors, None)
                failed = [rule] if failed is None else [*failed, rule]
        if matched is not None:
            return self._held(matched, failed, cel_findings, errors)
        for rule in allows:
            result = run(rule)
            if result is True:
                return self._result(rule, cel_findings, errors)
            if result is _ERROR:
                errors = self._count_error(rule, errors, None)
        return self._result(self.default, cel_findings, errors)

    def _run(self, rule: CompiledRule, event: Mapping[str, Any], ctx: cel.Context) -> Any:
        """Run one condition; True, False or ``_ERROR``. Missing fields force the map form."""
        try:
            flat = rule.flat
            fields = rule.fields
            if flat is not None and fields is not None and all(f in event for f in fields):
                for f in fields:
                    ctx.add_variable(FLAT_PREFIX + f, event[f])
                out = flat.execute(ctx)
            else:
                ctx.add_variable("event", dict(event))
                out = rule.program.execute(ctx)
        except Exception as exc:  # any CEL run-time error means "does not match"
            self._note_error(rule, exc)
            return _ERROR
        if out is True or out is False:
            return out
        self._note_error(rule, None)
        return _ERROR

    def _note_error(self, rule: CompiledRule, exc: Exception | None) -> None:
        if rule.name not in self.error_counts:
            # Once per rule: the type only, never the message (it may quote event data).
            error = type(exc).__name__ if exc is not None else "non-bool result"
            log.warning(
                "policy rule %r: condition failed at run time (%s); fails closed",
                rule.name,
                error,
                extra={"rule": rule.name, "error": error},
            )

    def _count_error(
        self, rule: CompiledRule, errors: list[str] | None, exc: Exception | None
    ) -> list[str]:
        self.error_counts[rule.name] = self.error_counts.get(rule.name, 0) + 1
        if errors is None:
            errors = []
        errors.append(rule.name)
        return errors

    @staticmethod
    def _now(now_ms: int | None) -> int:
        return now_ms if now_ms is not None else time.time_ns() // 1_000_000

    def _result(
        self,
        rule: CompiledRule,
        cel_findings: list[dict[str, Any]] | None,
        errors: list[str] | None,
        *,
        errored: bool = False,
    ) -> Assessment:
        clean = rule.clean
        assert clean is not None  # noqa: S101 - set in __init__
        if not cel_findings and not errors:
            return clean
        reason = rule.reason
        if errored:
            reason = failed_reason(reason)
        return Assessment(
            rule.outcome,
            rule.name,
            reason,
            rule.hold,
            self.hash,
            risk_score(rule.outcome, cel_findings or ()),
            tuple(errors or ()),
            clean.rules,
        )

    def _held(
        self,
        matched: list[CompiledRule],
        failed: list[CompiledRule] | None,
        cel_findings: list[dict[str, Any]] | None,
        errors: list[str] | None,
    ) -> Assessment:
        """The assessment for one or more matching hold rules (requirements combined)."""
        if len(matched) == 1 and failed is None:
            return self._result(matched[0], cel_findings, errors)
        key = tuple(id(r) for r in matched)
        combo = self._combos.get(key)
        if combo is None:
            specs = [r.hold for r in matched if r.hold is not None]
            reasons = list(dict.fromkeys(r.reason for r in matched if r.reason))
            names = tuple(r.name for r in matched)
            reason = "; ".join(reasons) or None
            if len(names) > 1:
                reason = f"rules {', '.join(names)}" + (f": {reason}" if reason else "")
            combo = (combine_holds(specs), reason, names)
            if len(self._combos) >= MEMO_LIMIT:
                self._combos.clear()
            self._combos[key] = combo
        spec, reason, names = combo
        if failed is not None:
            reason = failed_reason(reason, tuple(r.name for r in failed))
        return Assessment(
            "hold",
            names[0],
            reason,
            spec,
            self.hash,
            risk_score("hold", cel_findings or ()),
            tuple(errors or ()),
            names,
        )

    def _assess_plain(
        self,
        event: Mapping[str, Any],
        findings: Sequence[Any],
        now_ms: int | None,
        velocity: Mapping[str, int | float] | None = None,
    ) -> Assessment:
        """Reference evaluation: every rule, full CEL, no index and no memo.

        Same precedence as the fast path: denies in file order (first match or error
        decides), then every hold, then allows in file order, then the default.
        """
        cel_findings = [finding_to_cel(f) for f in findings]
        activation = {
            "event": dict(event),
            "findings": cel_findings,
            "lists": self.lists,
            "limits": self.limits,
            "now": self._now(now_ms),
        }
        for ref in self.velocity:
            activation[ref.var] = (velocity or {}).get(ref.var)
        errors: list[str] | None = None

        def run(rule: CompiledRule) -> Any:
            try:
                out = rule.program.execute(activation)
            except Exception as exc:  # run-time error: fails closed for deny/hold
                self._note_error(rule, exc)
                return _ERROR
            if out is True or out is False:
                return out
            self._note_error(rule, None)
            return _ERROR

        denies, holds, allows = self._all
        for rule in denies:
            result = run(rule)
            if result is _ERROR:
                errors = self._count_error(rule, errors, None)
            if result is not False:
                return self._result(rule, cel_findings, errors, errored=result is _ERROR)
        matched: list[CompiledRule] = []
        failed: list[CompiledRule] = []
        for rule in holds:
            result = run(rule)
            if result is False:
                continue
            matched.append(rule)
            if result is _ERROR:
                errors = self._count_error(rule, errors, None)
                failed.append(rule)
        if matched:
            return self._held(matched, failed or None, cel_findings, errors)
        for rule in allows:
            result = run(rule)
            if result is True:
                return self._result(rule, cel_findings, errors)
            if result is _ERROR:
                errors = self._count_error(rule, errors, None)
        return self._result(self.default, cel_findings, errors)
