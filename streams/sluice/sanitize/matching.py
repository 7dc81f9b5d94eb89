"""Rule matching for the sanitizer: compiled RE2 sets and candidate hits under cost budgets.

A treatment's rules are compiled once into a :class:`Compiled` (one ``re2.Set`` for a
field, a multi-line one for joined fields, and a regex per rule). :func:`match` runs the
set once over a field's view and re-runs only the patterns that hit, validating each
bounded match; the per-field and per-event budgets below keep the validation cost
linear whatever an attacker puts in the event.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Sequence
from dataclasses import dataclass, field

import re2

from sluice.models.finding import FindingKind, Severity
from sluice.sanitize.base import Rule
from sluice.sanitize.secrets_variants import (
    MAX_DECODED_PER_EVENT,
    MAX_LOOKALIKE_PER_EVENT,
    TokenBudget,
    Variant,
    secret_variants,
)
from sluice.sanitize.spans import Cand
from sluice.sanitize.unicode import CONFUSABLE_PER_EVENT, FLOOD_CHARS_PER_EVENT

__all__ = [
    "DECODE_CAP",
    "FLOOD_RULE",
    "LOOKALIKE_CAP",
    "MAX_CHECKS_PER_RULE_PER_EVENT",
    "MAX_CHECKS_PER_RULE_PER_FIELD",
    "MAX_FINDINGS_PER_FIELD",
    "MAX_FLAGS_PER_EVENT",
    "MAX_PII_CHECKS_PER_EVENT",
    "MAX_PII_CHECKS_PER_FIELD",
    "MAX_SECRET_HITS_PER_EVENT",
    "MAX_SECRET_HITS_PER_FIELD",
    "Budget",
    "Compiled",
    "VariantMatcher",
    "check_cap_rule",
    "match",
    "touched",
]

#: At most this many findings are reported per field (all secrets are still redacted).
MAX_FINDINGS_PER_FIELD = 100
#: PII candidates validated per field and per event. Validators (phonenumbers, stdnum)
#: cost microseconds to tens of microseconds each, and a candidate that fails validation
#: costs as much as one that passes, so the budget counts validations, not findings.
MAX_PII_CHECKS_PER_FIELD = 128
MAX_PII_CHECKS_PER_EVENT = 384
#: Secret candidates checked per field and per event; past that the rest of the field is
#: redacted whole as ``secret_flood`` (fail closed, constant time).
MAX_SECRET_HITS_PER_FIELD = 256
#: Candidates any other checked rule (encoded payloads, SQL probes) validates per field:
#: a check that fails costs as much as one that passes, so failures count too. Past it
#: the rule stops looking in that field and flags the rest of it (see below).
MAX_CHECKS_PER_RULE_PER_FIELD = 256
#: The same checks per rule per event (all fields): 128 arguments of 40 encoded payloads
#: each would otherwise decode 5,120 candidates. Past either cap, the rest of the field
#: is one ``check_cap`` finding of the rule's family (flagged, fail closed).
MAX_CHECKS_PER_RULE_PER_EVENT = 512
#: Per event: as many as one field may check (was 512) since plain text got ~2x faster
#: (issue 12): each candidate costs a check and, when it passes, a redaction and finding
#: (~25 us), and 128 arguments of secret-like runs made 3.5x plain text at 512 (3.3x at
#: 384). Every secret rule is anchored on a format or a key name, so real events come
#: nowhere near it; past it each further field is redacted from its first candidate.
MAX_SECRET_HITS_PER_EVENT = 256
#: Bounds of :meth:`Compiled.field_hits`' memo.
MEMO_MAX_CHARS = 64
MEMO_ENTRIES = 8192
#: Hits of unchecked flag-only rules (prompt-injection phrases, SQL and markup patterns)
#: per event; past it each such rule keeps its first hit per field (the field is still
#: flagged by it, its repeats are not reported): 128 arguments of trigger words would
#: otherwise make thousands of findings.
MAX_FLAGS_PER_EVENT = 256
#: The rule a field's secrets are reported under once the secret budget is spent.
FLOOD_RULE = Rule(
    "secret_flood", FindingKind.SECRET, "", Severity.HIGH, 0.9, priority=0, rule_id="secret_flood"
)


#: A field's look-alike tokens past the event's allowance: flagged, not looked at.
LOOKALIKE_CAP = Rule(
    "check_cap",
    FindingKind.UNICODE,
    "",
    Severity.HIGH,
    0.9,
    priority=0,
    rule_id="check_cap:lookalike_secret",
)
#: A field's encoded tokens past the event's allowance: not decoded, so the rest of the
#: field is redacted (fail closed, as ``secret_flood``).
DECODE_CAP = Rule(
    "check_cap",
    FindingKind.SECRET,
    "",
    Severity.HIGH,
    0.9,
    priority=0,
    rule_id="check_cap:decoded_secret",
)


@functools.cache
def check_cap_rule(rule: Rule) -> Rule:
    """The rule a field is flagged under once ``rule``'s checks are spent (its family)."""
    return Rule(
        "check_cap", rule.kind, "", Severity.HIGH, 0.9, priority=0, rule_id=f"check_cap:{rule.id}"
    )


@dataclass(slots=True)
class Budget:
    """Validations left for the current event (shared by its fields)."""

    pii_checks: int = MAX_PII_CHECKS_PER_EVENT
    secret_hits: int = MAX_SECRET_HITS_PER_EVENT
    flags: int = MAX_FLAGS_PER_EVENT
    #: checks made per rule id (see MAX_CHECKS_PER_RULE_PER_EVENT)
    checks: dict[str, int] = field(default_factory=dict)
    #: removed control characters left for the exact (per-run) path; see unicode.py
    control_chars: int = FLOOD_CHARS_PER_EVENT
    #: non-ASCII tokens left for the look-alike secret variant (secrets_variants.py)
    lookalike_tokens: int = MAX_LOOKALIKE_PER_EVENT
    #: look-alike (mixed-script) tokens left to report one by one (unicode.py)
    confusable_tokens: int = CONFUSABLE_PER_EVENT
    #: encoded tokens left to decode (secrets_variants.decoded_variant)
    decoded_tokens: int = MAX_DECODED_PER_EVENT


class Compiled:
    """The rules of one treatment compiled into a field set, a joined-text set and regexes."""

    def __init__(self, rules: list[Rule], max_mem_mb: int = 256) -> None:
        opts = re2.Options()
        # RE2's lazy DFA cache lives in this budget: bigger is faster on varied text
        # (the cache warms over ~100k events) and costs resident memory up to it.
        opts.max_mem = max_mem_mb << 20
        self.rules = rules
        self.regexes = [re2.compile(r.pattern, opts) for r in rules]
        self.field_set = re2.Set.SearchSet(opts)
        self.line_set = re2.Set.SearchSet(opts)
        for r in rules:
            self.field_set.Add(r.pattern)
            # Multi-line so that ^ and $ also match at the edges of joined fields; a
            # superset of the per-field matches, which is all a pre-filter needs.
            self.line_set.Add("(?m)" + r.pattern)
        self.field_set.Compile()
        self.line_set.Compile()
        self.line_regexes = [re2.compile("(?m)" + r.pattern, opts) for r in rules]
        self._memo: dict[str, tuple[int, ...]] = {}

    def field_hits(self, text: str) -> Sequence[int]:
        """``field_set.Match(text)`` (the rules that may hit), remembered for short texts:
        ids, names and enum values repeat from event to event. The memo holds at most
        :data:`MEMO_ENTRIES` texts of at most :data:`MEMO_MAX_CHARS` (~2 MB) and starts
        over when full, so unique values cost one dict insert each."""
        if len(text) > MEMO_MAX_CHARS:
            return self.field_set.Match(text) or ()
        got = self._memo.get(text)
        if got is None:
            got = tuple(self.field_set.Match(text) or ())
            if len(self._memo) >= MEMO_ENTRIES:
                self._memo.clear()
            self._memo[text] = got
        return got


def match(
    view: str,
    compiled: Compiled,
    budget: Budget | None = None,
    hits: Sequence[int] | None = None,
) -> list[Cand]:
    """The validated hits of ``compiled``'s rules on ``view`` (view coordinates).

    ``hits``: ``compiled.field_set.Match(view)`` when the caller has it already.

    PII validations and secret candidates are drawn from the field's and ``budget``'s
    allowance; once secrets run out, the rest of the field becomes one ``secret_flood``
    candidate (fail closed).
    """
    if hits is None:
        hits = compiled.field_set.Match(view)
    if not hits:
        return []
    cands: list[Cand] = []
    pii_checks = MAX_PII_CHECKS_PER_FIELD
    secret_hits = MAX_SECRET_HITS_PER_FIELD
    flood_at: int | None = None
    for idx in hits:
        rule = compiled.rules[idx]
        regex = compiled.regexes[idx]
        n = 0
        bounded = rule.kind is FindingKind.PII and rule.check is not None
        secret = rule.kind is FindingKind.SECRET
        checks_left = MAX_CHECKS_PER_RULE_PER_FIELD
        flag_only = rule.check is None and not secret and rule.kind is not FindingKind.PII
        for m in regex.finditer(view):
            start, end = m.span(rule.group)
            if start < 0 or end <= start:
                continue
            if bounded:
                if pii_checks <= 0 or (budget is not None and budget.pii_checks <= 0):
                    break
                pii_checks -= 1
                if budget is not None:
                    budget.pii_checks -= 1
            elif secret:
                if flood_at is not None and start >= flood_at:
                    break
                if secret_hits <= 0 or (budget is not None and budget.secret_hits <= 0):
                    # Fail closed: past the budget the rest of the field is redacted
                    # whole, in constant time (a flood of secrets is itself the leak).
                    flood_at = start if flood_at is None else min(flood_at, start)
                    break
                secret_hits -= 1
                if budget is not None:
                    budget.secret_hits -= 1
            value = view[start:end]
            conf = rule.confidence
            if rule.check is not None:
                if not (bounded or secret):
                    used = budget.checks.get(rule.id, 0) if budget is not None else 0
                    if checks_left <= 0 or used >= MAX_CHECKS_PER_RULE_PER_EVENT:
                        # Fail closed: the rest of the field is flagged, unchecked.
                        cands.append(Cand(check_cap_rule(rule), start, len(view), 0.9, value))
                        break
                    cost = 1 if rule.check_cost is None else rule.check_cost(view)
                    checks_left -= cost
                    if budget is not None:
                        budget.checks[rule.id] = used + cost
                checked = rule.check(view, m, value)
                if checked is None:
                    continue
                conf = checked
            cands.append(Cand(rule, start, end, conf, value))
            n += 1
            if flag_only and budget is not None:
                budget.flags -= 1
                if budget.flags < 0:
                    break  # budget spent: this rule's first hit flags the field
            if n >= MAX_FINDINGS_PER_FIELD and rule.kind is not FindingKind.SECRET:
                break
    if flood_at is not None:
        cands.append(Cand(FLOOD_RULE, flood_at, len(view), 0.9, view[flood_at : flood_at + 256]))
    return cands


def touched(
    compiled: Compiled, hits: list[int], joined: str, texts: list[str], idxs: list[int]
) -> list[int]:
    """Indices (from ``idxs``) of the joined fields that the hitting rules' matches touch."""
    bounds: list[int] = []
    pos = 0
    for t in texts:
        bounds.append(pos)
        pos += len(t) + 1
    found: set[int] = set()
    # The joined fields are ASCII here: byte offsets are character offsets, and matching
    # bytes skips the wrapper's offset translation.
    data = joined.encode("ascii")
    for h in hits:
        n = 0
        for m in compiled.line_regexes[h].finditer(data):
            s, e = m.span()
            lo = bisect.bisect_right(bounds, s) - 1
            hi = bisect.bisect_right(bounds, max(s, e - 1)) - 1
            found.update(range(lo, hi + 1))
            n += 1
            if n >= 1000 or len(found) == len(texts):
                return idxs
    return [idxs[j] for j in sorted(found)]


class VariantMatcher:
    """Secrets found only once split, marked or encoded tokens are made whole.

    Rejoined (split) text is matched with ``glued`` (strict provider formats without
    leading word boundaries), marked and decoded text with ``secrets`` (every secret rule).
    """

    def __init__(self, secrets: Compiled, glued: Compiled) -> None:
        self._secrets = secrets
        self._glued = glued

    def _set(self, variant: Variant) -> Compiled:
        return self._glued if variant.kind.startswith("split") else self._secrets

    def hit(self, text: str, budget: TokenBudget | None = None) -> bool:
        """True when a split, marked or encoded secret may hide in ``text`` (pre-filter);
        also when ``budget`` ran out before all of ``text``'s tokens were looked at."""
        return any(
            v.capped_at is not None or self._set(v).line_set.Match(v.text)
            for v in secret_variants(text, budget)
        )

    def cands(self, view: str, budget: Budget | None = None) -> list[Cand]:
        """The secrets of ``view``'s variants, as candidates in view coordinates."""
        out: list[Cand] = []
        for variant in secret_variants(view, budget):
            if variant.capped_at is not None:
                # fail closed: the rest of the field is flagged (look-alike prose is
                # flagged as confusable too; this says its secrets were not looked for)
                s = variant.capped_at
                cap = DECODE_CAP if variant.kind == "decoded" else LOOKALIKE_CAP
                out.append(Cand(cap, s, len(view), 0.9, view[s : s + 256]))
            for c in match(variant.text, self._set(variant), budget):
                if c.rule is FLOOD_RULE:
                    out.append(Cand(c.rule, variant.view_start(c.start), len(view), 0.9, c.value))
                    continue
                span = variant.to_view(c.start, c.end)
                if span is not None:
                    out.append(Cand(c.rule, span[0], span[1], c.confidence, c.value))
        return out
