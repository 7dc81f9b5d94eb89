"""The sanitize stage: one pass per field over every detector family, then redaction.

Per field (see :meth:`Sanitizer.scan_text`):

1. :func:`sluice.sanitize.unicode.prepare` removes invisible/bidi/tag/control characters
   and NFKC-folds the rest into the *view*, keeping a map back to the original indices;
2. one ``re2.Set`` (per treatment: text, html, sql) is matched once over the view;
   only the patterns that hit are run again (``re2`` ``finditer``) for their spans, and
   their validators (Luhn, IBAN, entropy, ...) see only the bounded match;
3. overlaps are resolved per family (specific rules first), secrets always become
   ``[REDACTED:<detector>:<fingerprint>]``, PII too when the event's data classification
   asks for it, and ``html`` fields are cleaned with ``nh3``.

Events take a fast path: the ASCII fields of one treatment are joined and matched once
(a multi-line variant of the set, so ``^``/``$`` still match at field edges); when
nothing hits, the event object itself is returned. Every step is linear in the input:
RE2 never backtracks, Python ``re`` is only used with single character classes, and
validators run on bounded candidates.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import re2

from sluice.models.finding import Finding, FindingKind, Severity
from sluice.sanitize.base import ALL_TREATMENTS, Rule, fingerprint, placeholder
from sluice.sanitize.markup import clean_html, markup_rules
from sluice.sanitize.pii import pii_rules
from sluice.sanitize.prompt_injection import (
    CLASSIFIER_RULE,
    classify,
    combine_scores,
    decoded_injection,
    prompt_injection_rules,
)
from sluice.sanitize.secrets import (
    Variant,
    glued_pattern,
    looks_like_secret_value,
    secret_rules,
    secret_variants,
    strict_secret_specs,
)
from sluice.sanitize.sql import sql_rules
from sluice.sanitize.unicode import Flood, Prepared, confusable_spans, prepare, strip_flood
from sluice.validate import TOP_LEVEL_TEXT_FIELDS

__all__ = ["Sanitizer", "all_rules", "default_treatments"]

log = logging.getLogger(__name__)

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
#: the rule stops looking in that field (a limit stated in docs/detection.md).
MAX_CHECKS_PER_RULE_PER_FIELD = 256
MAX_SECRET_HITS_PER_EVENT = 512
_FLOOD_RULE = Rule(
    "secret_flood", FindingKind.SECRET, "", Severity.HIGH, 0.9, priority=0, rule_id="secret_flood"
)
#: Map values longer than this in all are not checked for secrets split across values.
_CROSS_FIELD_MAX = 1 << 20
#: Identity fields: PII there is flagged, never redacted (the gate compares them).
_NO_PII_REDACTION = frozenset({"actor.id", "on_behalf_of", "workflow_id", "run_id", "trace_id"})
_PLACEHOLDER_RE = re2.compile(r"\[REDACTED:[a-z0-9_]+:[0-9a-f]{16}\]")
_HTML_SPECIAL = ("<", ">", "&")
#: Treatments that override the schema's ``sluice.sanitize`` (explicit ``treatments=`` win).
#: Tool and API call arguments are values a tool may put into a query: they get every
#: SQL rule (stacked queries, comment-obfuscated UNION, ...), not only the quote
#: break-out forms meant for prose, on top of every other family.
_FIELD_TREATMENTS = {"arguments": "sql"}
_REDACTING = (FindingKind.SECRET, FindingKind.PII)
_UNICODE_SEVERITY = {
    "zero_width": Severity.MEDIUM,
    "bidi_override": Severity.HIGH,
    "tag_characters": Severity.HIGH,
    "control_character": Severity.MEDIUM,
}


def all_rules() -> list[Rule]:
    """Every rule of every family, in the order the engine indexes them."""
    return [
        *secret_rules(),
        *pii_rules(),
        *markup_rules(),
        *sql_rules(),
        *prompt_injection_rules(),
    ]


@functools.cache
def default_treatments() -> dict[str, str]:
    """Field path → treatment from the WorkflowEvent schema's ``sluice.sanitize`` attributes.

    Nested record fields are named ``actor.id``, ``model.name``; maps and arrays by
    their field name (``arguments``, ``actor.roles``).
    """
    from sluice.codec import default_codec

    out: dict[str, str] = {}

    def walk(fields: Iterable[dict[str, Any]], prefix: str) -> None:
        for f in fields:
            name = prefix + f["name"]
            treatment = f.get("sluice.sanitize")
            if isinstance(treatment, str):
                out[name] = treatment
            ftype = f["type"]
            for t in ftype if isinstance(ftype, list) else [ftype]:
                if isinstance(t, dict) and t.get("type") == "record":
                    walk(t["fields"], name + ".")

    walk(default_codec().schema("WorkflowEvent")["fields"], "")
    return out


@dataclass(slots=True)
class _Budget:
    """Validations left for the current event (shared by its fields)."""

    pii_checks: int = MAX_PII_CHECKS_PER_EVENT
    secret_hits: int = MAX_SECRET_HITS_PER_EVENT


@dataclass(slots=True)
class _Cand:
    rule: Rule
    start: int  # view coordinates
    end: int
    confidence: float
    value: str


class _Compiled:
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


class Sanitizer:
    """Detects and redacts secrets, PII, markup, SQL and prompt injection, Unicode tricks.

    Args:
        fingerprint_key: HMAC key for finding fingerprints (``Settings.fingerprint_key_bytes``).
        re2_max_mem_mb: RE2 memory budget per pattern set (the DFA cache): 256 MiB runs
            ~45 µs/event warm and plateaus near 350 MB RSS; 64 MiB ~60 µs and ~150 MB.
        treatments: field path → ``text|html|sql|none``, overriding the schema defaults;
            map fields may be named by exact path (``arguments.query``) or by map name.
        redact_pii_for: data classifications whose events get PII redacted (others flagged).
        pi_classifier: score text fields with the prompt-injection classifier (on by
            default; off keeps the phrase rules only).

    Raises:
        ValueError: an unknown treatment name.
    """

    def __init__(
        self,
        fingerprint_key: bytes,
        *,
        treatments: dict[str, str] | None = None,
        redact_pii_for: frozenset[str] = frozenset({"PUBLIC"}),
        re2_max_mem_mb: int = 256,
        pi_classifier: bool = True,
    ) -> None:
        self._key = fingerprint_key
        #: Whether the prompt-injection classifier scores text fields (the phrase rules
        #: always run). Off trades recall for speed: see docs/detection.md.
        self._pi_classifier = pi_classifier
        self._treatments = {**default_treatments(), **_FIELD_TREATMENTS, **(treatments or {})}
        for path, t in self._treatments.items():
            if t not in ("text", "html", "sql", "none"):
                raise ValueError(f"treatment for {path}: {t!r} is not text|html|sql|none")
        self._redact_pii_for = redact_pii_for
        rules = all_rules()
        self._compiled = {
            t: _Compiled([r for r in rules if t in r.treatments], re2_max_mem_mb)
            for t in sorted(ALL_TREATMENTS)
        }
        self._secrets_only = _Compiled(
            [r for r in rules if r.kind is FindingKind.SECRET], re2_max_mem_mb
        )
        # Rejoined (split) tokens are matched against distinctive provider formats only.
        strict = {s.id for s in strict_secret_specs()}
        self._secrets_strict = _Compiled(
            [r for r in rules if r.kind is FindingKind.SECRET and r.id in strict],
            re2_max_mem_mb,
        )
        # The same on text whose separators were removed, without leading word boundaries.
        self._secrets_glued = _Compiled(
            [
                dataclasses.replace(r, pattern=glued_pattern(r.pattern))
                for r in self._secrets_strict.rules
            ],
            re2_max_mem_mb,
        )

    # -- public API ------------------------------------------------------------------

    def scan_text(
        self, text: str, as_: str = "text", field: str = "text", *, redact_pii: bool = True
    ) -> tuple[str, list[Finding]]:
        """Sanitize one string as a field of treatment ``as_``.

        Returns the sanitized text (the same object when nothing changed) and the
        findings, with spans in ``text`` as given. ``redact_pii`` chooses between
        redacting and flagging PII (``sluice scan`` redacts, like a PUBLIC event).

        Raises:
            ValueError: ``as_`` is not text, html, sql or none.
        """
        if as_ == "none":
            return text, []
        compiled = self._compiled.get(as_)
        if compiled is None:
            raise ValueError(f"treatment {as_!r} is not text|html|sql|none")
        return self._scan(
            text, compiled, as_, field, redact_pii=redact_pii, context_key=None, budget=_Budget()
        )

    def redact(self, text: str) -> str:
        """``text`` with every secret replaced by its placeholder and control characters gone.

        For anything derived from an event that is about to be printed or logged (DLQ
        previews, error details). Never raises: on any internal failure the whole text
        is withheld and ``[REDACTED:unscannable]`` is returned.
        """
        try:
            if not isinstance(text, str):
                text = str(text)
            out, _ = self._scan(
                text, self._secrets_only, "text", "text", redact_pii=False, context_key=None
            )
            if not out.isascii():
                # Lone surrogates (invalid input) cannot be printed or encoded: replace them.
                out = out.encode("utf-8", "replace").decode("utf-8")
            return out
        except Exception:  # never let a preview leak or crash the caller
            log.warning("redaction failed; text withheld", exc_info=False)
            return "[REDACTED:unscannable]"

    def sanitize_event(self, event: dict[str, Any]) -> tuple[dict[str, Any], list[Finding]]:
        """Sanitize every text field of a (validated) WorkflowEvent dict.

        Returns ``(event, [])`` with the *same* object when nothing changed, else a new
        dict (the input is never mutated) and the findings in field order.
        """
        redact_pii = event.get("data_classification") in self._redact_pii_for
        fields = list(self._fields(event))
        budget = _Budget()
        no_variants: set[int] = set()
        # Fast path: ASCII fields of one treatment, joined and matched once.
        groups: dict[str, list[int]] = {}
        slow: list[int] = []
        for i, (_, _path, text, treatment, ctx_key) in enumerate(fields):
            if treatment == "none":
                continue
            if ctx_key is not None and looks_like_secret_value(ctx_key, text):
                slow.append(i)
            elif text.isascii():
                groups.setdefault(treatment, []).append(i)
            else:
                slow.append(i)
        for treatment, idxs in groups.items():
            joined = "\n".join(fields[i][2] for i in idxs)
            if treatment == "html" and any(c in joined for c in _HTML_SPECIAL):
                slow.extend(idxs)
                continue
            compiled = self._compiled[treatment]
            hits = compiled.line_set.Match(joined)
            if hits:
                slow.extend(_touched(compiled, hits, joined, [fields[i][2] for i in idxs], idxs))
            if self._pi_classifier and treatment == "text":
                # prompt-injection classifier: every text field long enough to matter
                slow.extend(i for i in idxs if classify(fields[i][2]) is not None)
            if prepare(joined).removed:
                slow.extend(i for i in idxs if prepare(fields[i][2]).removed)
            if self._variants_hit(joined):
                slow.extend(idxs)
            else:
                # the joined text had no split/marked/encoded secret: neither has a field
                no_variants.update(idxs)
        slow = sorted(set(slow))
        cross = self._cross_field(fields)
        if not slow and not cross:
            return event, []
        findings: list[Finding] = []
        changes: dict[tuple[Any, ...], str] = {}
        key_paths: dict[tuple[str, str], str] = {}
        # Keys first, so value paths name the sanitized key.
        for i in slow:
            loc, path, text, treatment, ctx_key = fields[i]
            if loc[0] != "mapkey":
                continue
            new, found = self._scan(
                text,
                self._compiled[treatment],
                treatment,
                path,
                redact_pii=redact_pii,
                context_key=None,
                budget=budget,
            )
            if new is not text:
                changes[loc] = new
                key_paths[(loc[1], loc[2])] = new
                findings.extend(
                    f.model_copy(update={"field": f"{loc[1]}.{new}#key"}) for f in found
                )
            else:
                findings.extend(found)
        for i in slow:
            loc, path, text, treatment, ctx_key = fields[i]
            if loc[0] == "mapkey":
                continue
            if loc[0] == "mapval" and (loc[1], loc[2]) in key_paths:
                path = f"{loc[1]}.{key_paths[(loc[1], loc[2])]}"
            pii_here = redact_pii and path not in _NO_PII_REDACTION
            new, found = self._scan(
                text,
                self._compiled[treatment],
                treatment,
                path,
                redact_pii=pii_here,
                context_key=ctx_key,
                budget=budget,
                variants=i not in no_variants,
            )
            findings.extend(found)
            if new is not text:
                changes[loc] = new
        for i, start, end, cand in cross:
            loc, path, text, _t, _k = fields[i]
            if loc in changes or loc[0] == "mapkey":
                continue  # already sanitized on its own
            fp = fingerprint(self._key, cand.value)
            changes[loc] = text[:start] + placeholder(cand.rule.detector, fp) + text[end:]
            findings.append(_cand_finding(cand, path, start, end, fp, "redacted"))
        if not changes:
            return event, findings
        return _apply(event, changes), findings

    # -- internals -------------------------------------------------------------------

    def _treatment(self, path: str, map_name: str | None = None) -> str:
        t = self._treatments.get(path)
        if t is None and map_name is not None:
            t = self._treatments.get(map_name)
        return t or "text"

    def _fields(
        self, event: dict[str, Any]
    ) -> Iterator[tuple[tuple[Any, ...], str, str, str, str | None]]:
        """(location, path, text, treatment, map key for values) for every text field."""
        for name in TOP_LEVEL_TEXT_FIELDS:
            value = event.get(name)
            if isinstance(value, str):
                yield ("top", name), name, value, self._treatment(name), None
        actor = event.get("actor")
        if isinstance(actor, dict):
            if isinstance(actor.get("id"), str):
                yield ("actor", "id"), "actor.id", actor["id"], self._treatment("actor.id"), None
            roles = actor.get("roles")
            if isinstance(roles, list):
                t = self._treatment("actor.roles")
                for i, role in enumerate(roles):
                    if isinstance(role, str):
                        yield ("role", i), f"actor.roles[{i}]", role, t, None
        model = event.get("model")
        if isinstance(model, dict):
            for name in ("name", "version", "provider"):
                value = model.get(name)
                if isinstance(value, str):
                    path = f"model.{name}"
                    yield ("model", name), path, value, self._treatment(path), None
        for map_name in ("arguments", "attributes"):
            mapping = event.get(map_name)
            if not isinstance(mapping, dict):
                continue
            map_t = self._treatment(map_name)
            for k, v in mapping.items():
                if not isinstance(k, str):
                    continue
                # Keys get the map's treatment (a tool may interpolate them too), but are
                # never rewritten as HTML.
                key_t = "text" if map_t == "html" else map_t
                yield ("mapkey", map_name, k), f"{map_name}.{k}#key", k, key_t, None
                if isinstance(v, str):
                    path = f"{map_name}.{k}"
                    yield ("mapval", map_name, k), path, v, self._treatment(path, map_name), k

    def _scan(
        self,
        text: str,
        compiled: _Compiled,
        treatment: str,
        field: str,
        *,
        redact_pii: bool,
        context_key: str | None,
        budget: _Budget | None = None,
        variants: bool = True,
        stripped: bool = False,
    ) -> tuple[str, list[Finding]]:
        flood = None if stripped else strip_flood(text)
        if flood is not None:
            return self._scan_flood(
                flood,
                compiled,
                treatment,
                field,
                redact_pii=redact_pii,
                context_key=context_key,
                budget=budget,
                variants=variants,
            )
        prep = prepare(text)
        view = prep.view
        budget = budget or _Budget()
        cands = self._match(view, compiled, budget)
        if variants:
            found = _Spans(_merged(c for c in cands if c.rule.kind is FindingKind.SECRET))
            for vc in self._variant_cands(view, budget):
                # a secret the plain view already holds whole is not re-taken from glued
                # text, where a variable-length format could run on into the next word
                if not (found.starts and found.overlaps(vc.start, vc.end)):
                    cands.append(vc)
        if self._pi_classifier and treatment == "text" and compiled is not self._secrets_only:
            verdict = classify(view)
            if verdict is not None:
                s, e = verdict.start, verdict.end
                cands.append(_Cand(CLASSIFIER_RULE, s, e, verdict.probability, view[s:e]))
        if context_key is not None:
            det = looks_like_secret_value(context_key, view)
            if det is not None:
                rule = Rule(
                    det,
                    FindingKind.SECRET,
                    "",
                    Severity.HIGH,
                    0.85,
                    priority=35,
                    rule_id=f"{det}_by_key",
                )
                cands.append(_Cand(rule, 0, len(view), 0.85, view))
        if not cands and not prep.removed and not prep.hidden and view.isascii():
            if treatment == "html" and any(c in text for c in _HTML_SPECIAL):
                return _clean_or_same(text), []
            return text, []
        accepted = _resolve(view, cands)
        _score_prompt_injection(accepted)
        return self._emit(text, prep, accepted, treatment, field, redact_pii)

    def _hidden_payload(self, field: str, start: int, end: int, hidden: str) -> Finding:
        """An instruction hidden in tag characters (decoded to ASCII by the unicode stage)."""
        return Finding(
            kind=FindingKind.PROMPT_INJECTION,
            detector="encoded_payload",
            field=field,
            start=start,
            end=end,
            severity=Severity.HIGH,
            confidence=0.95,
            fingerprint=fingerprint(self._key, hidden),
            action="removed",
        )

    def _scan_flood(
        self,
        flood: Flood,
        compiled: _Compiled,
        treatment: str,
        field: str,
        *,
        redact_pii: bool,
        context_key: str | None,
        budget: _Budget | None,
        variants: bool,
    ) -> tuple[str, list[Finding]]:
        """A field flooded with control characters: one finding per class (its span runs
        from the first to the last such character of the original text), then the
        stripped text is scanned like any other. Spans of the other findings refer to the
        stripped text, which is what the sanitized field holds."""
        findings = [
            _control_finding(det, field, s, e) for det, (s, e) in sorted(flood.spans.items())
        ]
        if flood.hidden and decoded_injection(flood.hidden):
            s, e = flood.spans["tag_characters"]
            findings.append(self._hidden_payload(field, s, e, flood.hidden))
        out, more = self._scan(
            flood.text,
            compiled,
            treatment,
            field,
            redact_pii=redact_pii,
            context_key=context_key,
            budget=budget,
            variants=variants,
            stripped=True,
        )
        return out, findings + more

    def _cross_field(
        self, fields: list[tuple[tuple[Any, ...], str, str, str, str | None]]
    ) -> list[tuple[int, int, int, _Cand]]:
        """Provider-format secrets split across consecutive map values (``a=ghp_12``,
        ``b=34…``): (field index, start, end, hit) for every piece of such a secret."""
        idxs = [
            i
            for i, (loc, _p, text, t, _k) in enumerate(fields)
            if loc[0] == "mapval" and t != "none" and text and prepare(text).index_map is None
        ]
        if len(idxs) < 2:
            return []
        starts: list[int] = []
        pos = 0
        for i in idxs:
            starts.append(pos)
            pos += len(fields[i][2])
        joined = "".join(fields[i][2] for i in idxs)
        if len(joined) > _CROSS_FIELD_MAX or not self._secrets_strict.field_set.Match(joined):
            return []
        out: list[tuple[int, int, int, _Cand]] = []
        for c in self._match(joined, self._secrets_strict):
            first = bisect.bisect_right(starts, c.start) - 1
            last = bisect.bisect_right(starts, c.end - 1) - 1
            if first == last:
                continue  # inside one value: the per-field scan has it
            for k in range(first, last + 1):
                lo = max(c.start, starts[k]) - starts[k]
                hi = min(c.end, starts[k] + len(fields[idxs[k]][2])) - starts[k]
                out.append((idxs[k], lo, hi, c))
        return out

    def _variant_set(self, variant: Variant) -> _Compiled:
        return self._secrets_glued if variant.kind.startswith("split") else self._secrets_only

    def _variants_hit(self, text: str) -> bool:
        """True when a split, marked or encoded secret may hide in ``text`` (pre-filter)."""
        return any(self._variant_set(v).line_set.Match(v.text) for v in secret_variants(text))

    def _variant_cands(self, view: str, budget: _Budget | None = None) -> list[_Cand]:
        """Secrets found only once split, marked or encoded tokens are made whole."""
        out: list[_Cand] = []
        for variant in secret_variants(view):
            for c in self._match(variant.text, self._variant_set(variant), budget):
                if c.rule is _FLOOD_RULE:
                    out.append(_Cand(c.rule, variant.view_start(c.start), len(view), 0.9, c.value))
                    continue
                span = variant.to_view(c.start, c.end)
                if span is not None:
                    out.append(_Cand(c.rule, span[0], span[1], c.confidence, c.value))
        return out

    def _match(self, view: str, compiled: _Compiled, budget: _Budget | None = None) -> list[_Cand]:
        hits = compiled.field_set.Match(view)
        if not hits:
            return []
        cands: list[_Cand] = []
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
                        checks_left -= 1
                        if checks_left < 0:
                            break
                    checked = rule.check(view, m, value)
                    if checked is None:
                        continue
                    conf = checked
                cands.append(_Cand(rule, start, end, conf, value))
                n += 1
                if n >= MAX_FINDINGS_PER_FIELD and rule.kind is not FindingKind.SECRET:
                    break
        if flood_at is not None:
            cands.append(
                _Cand(_FLOOD_RULE, flood_at, len(view), 0.9, view[flood_at : flood_at + 256])
            )
        return cands

    def _emit(
        self,
        text: str,
        prep: Prepared,
        accepted: list[_Cand],
        treatment: str,
        field: str,
        redact_pii: bool,
    ) -> tuple[str, list[Finding]]:
        imap = prep.index_map

        def orig(start: int, end: int) -> tuple[int, int]:
            if imap is None:
                return start, end
            if start >= len(imap):
                return len(text), len(text)
            return imap[start], imap[end - 1] + 1

        findings: list[Finding] = []
        edits: list[tuple[int, int, str]] = [(s, e, "") for s, e in prep.removed]
        # Every hit is acted upon; only the first MAX_FINDINGS_PER_FIELD are reported
        # (an attacker must not be able to blow up the findings list).
        budget = MAX_FINDINGS_PER_FIELD
        for det, s, e in prep.hits:
            if budget <= 0:
                break
            budget -= 1
            findings.append(_control_finding(det, field, s, e))
        for s, e, hidden in prep.hidden[:MAX_FINDINGS_PER_FIELD]:
            if decoded_injection(hidden):
                findings.append(self._hidden_payload(field, s, e, hidden))
        if not prep.view.isascii():
            for vs, ve in confusable_spans(prep.view)[:MAX_FINDINGS_PER_FIELD]:
                s, e = orig(vs, ve)
                findings.append(
                    Finding(
                        kind=FindingKind.UNICODE,
                        detector="confusable_mixed_script",
                        field=field,
                        start=s,
                        end=e,
                        severity=Severity.MEDIUM,
                        confidence=0.8,
                    )
                )
        html_changed = False
        # Secrets and PII first so that the reported ones are the most important.
        accepted.sort(
            key=lambda c: (
                c.rule.kind is not FindingKind.SECRET,
                c.rule.kind is not FindingKind.PII,
                c.start,
            )
        )
        reported = 0
        for c in accepted:
            s, e = orig(c.start, c.end)
            kind = c.rule.kind
            redacting = kind is FindingKind.SECRET or (kind is FindingKind.PII and redact_pii)
            if reported >= MAX_FINDINGS_PER_FIELD and not redacting:
                continue
            fp = fingerprint(self._key, c.value)
            action = "flagged"
            if redacting:
                action = "redacted"
                edits.append((s, e, placeholder(c.rule.detector, fp)))
            elif kind is FindingKind.MARKUP and treatment == "html":
                action = "cleaned"
                html_changed = True
            if reported < MAX_FINDINGS_PER_FIELD:
                reported += 1
                findings.append(_cand_finding(c, field, s, e, fp, action))
        findings.sort(key=lambda f: (f.start, f.end, f.detector))
        if len(findings) > MAX_FINDINGS_PER_FIELD:
            findings = _cap(findings)
        out = _apply_edits(text, edits)
        if treatment == "html" and (html_changed or any(c in out for c in _HTML_SPECIAL)):
            out = _clean_or_same(out)
        if out == text:
            out = text
        return out, findings


def _touched(
    compiled: _Compiled, hits: list[int], joined: str, texts: list[str], idxs: list[int]
) -> list[int]:
    """Indices (from ``idxs``) of the joined fields that the hitting rules' matches touch."""
    bounds: list[int] = []
    pos = 0
    for t in texts:
        bounds.append(pos)
        pos += len(t) + 1
    touched: set[int] = set()
    # The joined fields are ASCII here: byte offsets are character offsets, and matching
    # bytes skips the wrapper's offset translation.
    data = joined.encode("ascii")
    for h in hits:
        n = 0
        for m in compiled.line_regexes[h].finditer(data):
            s, e = m.span()
            lo = bisect.bisect_right(bounds, s) - 1
            hi = bisect.bisect_right(bounds, max(s, e - 1)) - 1
            touched.update(range(lo, hi + 1))
            n += 1
            if n >= 1000 or len(touched) == len(texts):
                return idxs
    return [idxs[j] for j in sorted(touched)]


def _clean_or_same(text: str) -> str:
    cleaned = clean_html(text)
    return text if cleaned == text else cleaned


def _cap(findings: list[Finding]) -> list[Finding]:
    redacted = [f for f in findings if f.action == "redacted"]
    rest = [f for f in findings if f.action != "redacted"]
    keep = redacted[:MAX_FINDINGS_PER_FIELD]
    keep += rest[: max(0, MAX_FINDINGS_PER_FIELD - len(keep))]
    keep.sort(key=lambda f: (f.start, f.end, f.detector))
    return keep


def _merged(cands: Iterable[_Cand]) -> list[tuple[int, int]]:
    """The union of the candidates' spans as sorted, non-overlapping spans."""
    out: list[tuple[int, int]] = []
    for st, en in sorted((c.start, c.end) for c in cands):
        if out and st < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], en))
        else:
            out.append((st, en))
    return out


class _Spans:
    """Non-overlapping accepted spans with O(log n) overlap tests (attackers control n)."""

    __slots__ = ("ends", "starts")

    def __init__(self, spans: Iterable[tuple[int, int]] = ()) -> None:
        self.starts: list[int] = []
        self.ends: list[int] = []
        for st, en in sorted(spans):
            self.starts.append(st)
            self.ends.append(en)

    def overlaps(self, start: int, end: int) -> bool:
        i = bisect.bisect_right(self.starts, start)
        if i > 0 and self.ends[i - 1] > start:
            return True
        return i < len(self.starts) and self.starts[i] < end

    def contains(self, start: int, end: int) -> bool:
        i = bisect.bisect_right(self.starts, start) - 1
        return i >= 0 and self.ends[i] >= end

    def add(self, start: int, end: int) -> None:
        i = bisect.bisect_right(self.starts, start)
        self.starts.insert(i, start)
        self.ends.insert(i, end)


def _resolve(view: str, cands: list[_Cand]) -> list[_Cand]:
    """Drop hits within existing placeholders; one hit per span per family (specific first)."""
    if not cands:
        return []
    blocked = _Spans()
    if "[REDACTED:" in view:
        blocked = _Spans(m.span() for m in _PLACEHOLDER_RE.finditer(view))
    by_kind: dict[FindingKind, list[_Cand]] = {}
    for c in cands:
        by_kind.setdefault(c.rule.kind, []).append(c)
    accepted: list[_Cand] = []
    secret_spans = _Spans()
    for kind in (
        FindingKind.SECRET,
        FindingKind.PII,
        FindingKind.MARKUP,
        FindingKind.SQL_INJECTION,
        FindingKind.PROMPT_INJECTION,
    ):
        group = by_kind.get(kind)
        if not group:
            continue
        group.sort(key=lambda c: (c.rule.priority, -(c.end - c.start), c.start))
        taken: dict[str, _Spans] = {}
        for c in group:
            if kind in _REDACTING:
                # A hit that is exactly an earlier placeholder is not redacted again; one
                # that extends past it is (a forged placeholder must not shield a secret).
                if blocked.starts and blocked.contains(c.start, c.end):
                    continue
                if kind is FindingKind.PII and secret_spans.overlaps(c.start, c.end):
                    continue
                # Redacting families: no two hits may overlap (one replacement per span).
                scope = "*"
            else:
                scope = c.rule.detector
            spans = taken.get(scope)
            if spans is None:
                spans = taken[scope] = _Spans()
            if spans.overlaps(c.start, c.end):
                continue
            spans.add(c.start, c.end)
            accepted.append(c)
            if kind is FindingKind.SECRET:
                secret_spans.add(c.start, c.end)
    return accepted


def _score_prompt_injection(accepted: list[_Cand]) -> None:
    pi = [c for c in accepted if c.rule.kind is FindingKind.PROMPT_INJECTION]
    if len(pi) < 2:
        return
    best: dict[str, float] = {}
    # The classifier's finding carries its own probability; the noisy-or is for phrases.
    pi = [c for c in pi if c.rule is not CLASSIFIER_RULE]
    for c in pi:
        best[c.rule.detector] = max(best.get(c.rule.detector, 0.0), c.confidence)
    if len(best) < 2:
        return
    score = combine_scores(list(best.values()))
    for c in pi:
        c.confidence = max(c.confidence, score)


def _cand_finding(c: _Cand, field: str, start: int, end: int, fp: str, action: str) -> Finding:
    """The finding a detector's accepted candidate reports (original-text span)."""
    return Finding(
        kind=c.rule.kind,
        detector=c.rule.detector,
        field=field,
        start=start,
        end=end,
        severity=c.rule.severity,
        confidence=round(min(c.confidence, 1.0), 4),
        fingerprint=fp,
        action=action,
    )


def _control_finding(det: str, field: str, start: int, end: int) -> Finding:
    """A removed run of invisible, bidi, control or tag characters."""
    return Finding(
        kind=FindingKind.UNICODE,
        detector=det,
        field=field,
        start=start,
        end=end,
        severity=_UNICODE_SEVERITY[det],
        confidence=1.0,
        action="removed",
    )


def _apply_edits(text: str, edits: list[tuple[int, int, str]]) -> str:
    if not edits:
        return text
    edits.sort(key=lambda e: (e[0], -(e[1] - e[0])))
    parts: list[str] = []
    pos = 0
    for s, e, repl in edits:
        if s < pos:  # inside an earlier edit (e.g. a control char within a secret)
            if e > pos:
                pos = e
            continue
        parts.append(text[pos:s])
        parts.append(repl)
        pos = e
    parts.append(text[pos:])
    return "".join(parts)


def _apply(event: dict[str, Any], changes: dict[tuple[Any, ...], str]) -> dict[str, Any]:
    """A copy of ``event`` with ``changes`` applied; nested containers copied on write."""
    out = dict(event)
    for loc, new in changes.items():
        if loc[0] == "top":
            out[loc[1]] = new
    if any(loc[0] in ("actor", "role") for loc in changes):
        actor = dict(out["actor"])
        if ("actor", "id") in changes:
            actor["id"] = changes[("actor", "id")]
        if any(loc[0] == "role" for loc in changes):
            roles = list(actor.get("roles") or [])
            for loc, new in changes.items():
                if loc[0] == "role":
                    roles[loc[1]] = new
            actor["roles"] = roles
        out["actor"] = actor
    if any(loc[0] == "model" for loc in changes):
        model = dict(out["model"])
        for loc, new in changes.items():
            if loc[0] == "model":
                model[loc[1]] = new
        out["model"] = model
    for map_name in ("arguments", "attributes"):
        if not any(loc[0] in ("mapkey", "mapval") and loc[1] == map_name for loc in changes):
            continue
        new_map: dict[str, Any] = {}
        for k, v in out[map_name].items():
            nk = changes.get(("mapkey", map_name, k), k)
            nv = changes.get(("mapval", map_name, k), v)
            while nk in new_map:  # two keys redacted to the same placeholder
                nk += "_"
            new_map[nk] = nv
        out[map_name] = new_map
    return out
