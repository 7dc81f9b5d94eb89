"""The sanitize stage: one pass per field over every detector family, then redaction.

Per field (see :meth:`Sanitizer.scan_text`):

1. :func:`sluice.sanitize.unicode.prepare` removes invisible/bidi/tag/control characters
   and NFKC-folds the rest into the *view*, keeping a map back to the original indices;
2. one ``re2.Set`` (per treatment: text, html, sql) is matched once over the view;
   only the patterns that hit are run again (``re2`` ``finditer``) for their spans, and
   their validators (Luhn, IBAN, entropy, ...) see only the bounded match
   (:mod:`sluice.sanitize.matching`);
3. overlaps are resolved per family, specific rules first (:mod:`sluice.sanitize.spans`),
   secrets always become ``[REDACTED:<detector>:<fingerprint>]``, PII too when the
   event's data classification asks for it, and ``html`` fields are cleaned with ``nh3``
   (:mod:`sluice.sanitize.edits`, findings from :mod:`sluice.sanitize.scoring`).

Events take a fast path (:mod:`sluice.sanitize.triage`): each ASCII field is matched
against its treatment's set (remembered for short, repeating values), the whole-event
tests run once over the joined fields, and only the fields something hit are scanned;
when none is, the event object itself is returned. Which fields are scanned and how
changes are written back is :mod:`sluice.sanitize.walk`. Every step is linear in the
input: RE2 never backtracks, Python ``re`` is only used with single character classes,
and validators run on bounded candidates.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from sluice.models.finding import Finding, FindingKind
from sluice.sanitize.base import ALL_TREATMENTS, Rule, fingerprint, placeholder
from sluice.sanitize.edits import (
    HTML_SPECIAL,
    clean_or_same,
    edited_text,
    redact_and_report,
    to_original,
)
from sluice.sanitize.markup import markup_rules
from sluice.sanitize.matching import Budget, Compiled, VariantMatcher, match
from sluice.sanitize.pii import pii_rules
from sluice.sanitize.prompt_injection import (
    CLASSIFIER_RULE,
    classify,
    decoded_injection,
    prompt_injection_rules,
)
from sluice.sanitize.scoring import (
    cand_finding,
    control_finding,
    hidden_payload_finding,
    in_report,
    score_prompt_injection,
    unicode_findings,
)
from sluice.sanitize.secrets import key_rule, looks_like_secret_value, secret_rules
from sluice.sanitize.secrets_rules import strict_secret_specs
from sluice.sanitize.secrets_variants import glued_pattern
from sluice.sanitize.spans import Cand, Spans, merged, resolve
from sluice.sanitize.sql import sql_rules
from sluice.sanitize.triage import triage
from sluice.sanitize.unicode import FLOOD_RUNS, Flood, Prepared, prepare, strip_flood
from sluice.sanitize.walk import (
    FIELD_TREATMENTS,
    NO_PII_REDACTION,
    FieldRef,
    apply_changes,
    default_treatments,
    event_fields,
    split_across_values,
)

__all__ = ["Sanitizer", "all_rules"]

log = logging.getLogger(__name__)

#: A change to write back: field location → sanitized text.
_Changes = dict[tuple[Any, ...], str]
#: What the triage joins the fields of one treatment with.
_SEP = "\n \n"


def all_rules() -> list[Rule]:
    """Every rule of every family, in the order the engine indexes them."""
    return [
        *secret_rules(),
        *pii_rules(),
        *markup_rules(),
        *sql_rules(),
        *prompt_injection_rules(),
    ]


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
        #: The fast paths of issue 16 (off: the engine as before, for comparisons).
        self.fast = True
        self._treatments = {**default_treatments(), **FIELD_TREATMENTS, **(treatments or {})}
        for path, t in self._treatments.items():
            if t not in ("text", "html", "sql", "none"):
                raise ValueError(f"treatment for {path}: {t!r} is not text|html|sql|none")
        self._redact_pii_for = redact_pii_for
        rules = all_rules()
        self._compiled = {
            t: Compiled([r for r in rules if t in r.treatments], re2_max_mem_mb)
            for t in sorted(ALL_TREATMENTS)
        }
        self._secrets_only = Compiled(
            [r for r in rules if r.kind is FindingKind.SECRET], re2_max_mem_mb
        )
        # Rejoined (split) tokens are matched against distinctive provider formats only.
        strict = {s.id for s in strict_secret_specs()}
        self._secrets_strict = Compiled(
            [r for r in rules if r.kind is FindingKind.SECRET and r.id in strict],
            re2_max_mem_mb,
        )
        # The same on text whose separators were removed, without leading word boundaries.
        self._secrets_glued = Compiled(
            [
                dataclasses.replace(r, pattern=glued_pattern(r.pattern))
                for r in self._secrets_strict.rules
            ],
            re2_max_mem_mb,
        )
        self._variants = VariantMatcher(self._secrets_only, self._secrets_glued)

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
            text, compiled, as_, field, redact_pii=redact_pii, context_key=None, budget=Budget()
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
        fields = list(event_fields(event, self._treatments))
        slow, no_variants, hits = self._triage(fields)
        cross = split_across_values(fields, self._secrets_strict)
        if not slow and not cross:
            return event, []
        budget = Budget()
        findings: list[Finding] = []
        changes: _Changes = {}
        # Keys first, so value paths name the sanitized key.
        key_paths = self._scan_keys(fields, slow, hits, redact_pii, budget, changes, findings)
        self._scan_values(
            fields, slow, no_variants, hits, key_paths, redact_pii, budget, changes, findings
        )
        self._redact_split(fields, cross, changes, findings)
        if not changes:
            return event, findings
        return apply_changes(event, changes), findings

    # -- sanitize_event steps ----------------------------------------------------------

    def _triage(
        self, fields: list[FieldRef]
    ) -> tuple[list[int], set[int], dict[int, Sequence[int]]]:
        """The fields that need a scan of their own (see :func:`triage`)."""
        return triage(
            fields, self._compiled, self._variants, classifier=self._pi_classifier, fast=self.fast
        )

    def _scan_keys(
        self,
        fields: list[FieldRef],
        slow: list[int],
        hits: dict[int, Sequence[int]],
        redact_pii: bool,
        budget: Budget,
        changes: _Changes,
        findings: list[Finding],
    ) -> dict[tuple[str, str], str]:
        """Scan the map keys among ``slow``; returns (map, key) → sanitized key."""
        key_paths: dict[tuple[str, str], str] = {}
        for i in slow:
            loc, path, text, treatment, _ctx_key = fields[i]
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
                hits=hits.get(i),
            )
            if new is not text:
                changes[loc] = new
                key_paths[(loc[1], loc[2])] = new
                findings.extend(
                    f.model_copy(update={"field": f"{loc[1]}.{new}#key"}) for f in found
                )
            else:
                findings.extend(found)
        return key_paths

    def _scan_values(
        self,
        fields: list[FieldRef],
        slow: list[int],
        no_variants: set[int],
        hits: dict[int, Sequence[int]],
        key_paths: dict[tuple[str, str], str],
        redact_pii: bool,
        budget: Budget,
        changes: _Changes,
        findings: list[Finding],
    ) -> None:
        """Scan every other field among ``slow`` (map values named by their new key)."""
        for i in slow:
            loc, path, text, treatment, ctx_key = fields[i]
            if loc[0] == "mapkey":
                continue
            if loc[0] == "mapval" and (loc[1], loc[2]) in key_paths:
                path = f"{loc[1]}.{key_paths[(loc[1], loc[2])]}"
            pii_here = redact_pii and path not in NO_PII_REDACTION
            new, found = self._scan(
                text,
                self._compiled[treatment],
                treatment,
                path,
                redact_pii=pii_here,
                context_key=ctx_key,
                budget=budget,
                variants=i not in no_variants,
                hits=hits.get(i),
            )
            findings.extend(found)
            if new is not text:
                changes[loc] = new

    def _redact_split(
        self,
        fields: list[FieldRef],
        cross: list[tuple[int, int, int, Cand]],
        changes: _Changes,
        findings: list[Finding],
    ) -> None:
        """Redact the pieces of secrets split across map values not sanitized already."""
        for i, start, end, cand in cross:
            loc, path, text, _t, _k = fields[i]
            if loc in changes or loc[0] == "mapkey":
                continue  # already sanitized on its own
            fp = fingerprint(self._key, cand.value)
            changes[loc] = text[:start] + placeholder(cand.rule.detector, fp) + text[end:]
            findings.append(cand_finding(cand, path, start, end, fp, "redacted"))

    # -- one field ---------------------------------------------------------------------

    def _scan(
        self,
        text: str,
        compiled: Compiled,
        treatment: str,
        field: str,
        *,
        redact_pii: bool,
        context_key: str | None,
        budget: Budget | None = None,
        variants: bool = True,
        stripped: bool = False,
        hits: Sequence[int] | None = None,
    ) -> tuple[str, list[Finding]]:
        """``hits``: the rules of ``compiled``'s field set that match ``text``, if known."""
        limit = budget.control_chars if budget else FLOOD_RUNS  # per event (unicode.py)
        flood = None if stripped else strip_flood(text, limit)
        if flood is not None:
            if budget is not None:
                # bulk-stripped characters count against the event's allowance too: 128
                # flooded arguments would otherwise each count theirs up to FLOOD_RUNS
                budget.control_chars -= len(text) - len(flood.text)
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
        budget = budget or Budget()
        budget.control_chars -= sum(e - s for s, e in prep.removed)
        cands = match(view, compiled, budget, hits if view is text else None)
        if variants:
            found = Spans(merged(c for c in cands if c.rule.kind is FindingKind.SECRET))
            for vc in self._variants.cands(view, budget):
                # a secret the plain view already holds whole is not re-taken from glued
                # text, where a variable-length format could run on into the next word
                if not (found.starts and found.overlaps(vc.start, vc.end)):
                    cands.append(vc)
        if self._pi_classifier and treatment == "text" and compiled is not self._secrets_only:
            verdict = classify(view)
            if verdict is not None:
                s, e = verdict.start, verdict.end
                cands.append(Cand(CLASSIFIER_RULE, s, e, verdict.probability, view[s:e]))
        if context_key is not None:
            det = looks_like_secret_value(context_key, view)
            if det is not None:
                cands.append(Cand(key_rule(det), 0, len(view), 0.85, view))
        if not cands and not prep.removed and not prep.hidden and view.isascii():
            if treatment == "html" and any(c in text for c in HTML_SPECIAL):
                return clean_or_same(text), []
            return text, []
        accepted = resolve(view, cands)
        score_prompt_injection(accepted)
        return self._emit(text, prep, accepted, treatment, field, redact_pii, budget)

    def _emit(
        self,
        text: str,
        prep: Prepared,
        accepted: list[Cand],
        treatment: str,
        field: str,
        redact_pii: bool,
        budget: Budget | None = None,
    ) -> tuple[str, list[Finding]]:
        """The sanitized field and its findings, from the accepted hits on its view."""
        orig = to_original(text, prep.index_map)
        findings = unicode_findings(self._key, prep, field, orig, budget)
        edits = [(s, e, "") for s, e in prep.removed]
        html_changed = redact_and_report(
            accepted, self._key, field, treatment, redact_pii, orig, edits, findings
        )
        return edited_text(text, edits, treatment, html_changed), in_report(findings)

    def _scan_flood(
        self,
        flood: Flood,
        compiled: Compiled,
        treatment: str,
        field: str,
        *,
        redact_pii: bool,
        context_key: str | None,
        budget: Budget | None,
        variants: bool,
    ) -> tuple[str, list[Finding]]:
        """A field flooded with control characters: one finding per class (its span runs
        from the first to the last such character of the original text), then the
        stripped text is scanned like any other. Spans of the other findings refer to the
        stripped text, which is what the sanitized field holds."""
        findings = [
            control_finding(det, field, s, e) for det, (s, e) in sorted(flood.spans.items())
        ]
        if flood.hidden and decoded_injection(flood.hidden):
            s, e = flood.spans["tag_characters"]
            findings.append(hidden_payload_finding(self._key, field, s, e, flood.hidden))
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
