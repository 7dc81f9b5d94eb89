"""Which fields of an event need a scan of their own (the engine's triage).

The fields of one treatment are looked at together: a field is scanned on its own when
its treatment's rule set matches it, the prompt-injection classifier flags it, it holds
characters to remove, it is not ASCII, its map key names a secret, or the joined fields
may hide a split, marked or encoded secret. Every other field is returned unchanged
without a scan. ``fast=False`` is the triage as it was before issue 16 (one match of the
joined text, then the fields its hits touch), kept to compare against.
"""

from __future__ import annotations

from collections.abc import Sequence

from sluice.sanitize.edits import HTML_SPECIAL
from sluice.sanitize.matching import Budget, Compiled, VariantMatcher, touched
from sluice.sanitize.prompt_injection import classify
from sluice.sanitize.secrets import looks_like_secret_value
from sluice.sanitize.secrets_variants import past_decode_caps
from sluice.sanitize.unicode import prepare
from sluice.sanitize.walk import FieldRef

__all__ = ["triage"]


def triage(
    fields: list[FieldRef],
    compiled_for: dict[str, Compiled],
    variants: VariantMatcher,
    *,
    classifier: bool,
    fast: bool = True,
) -> tuple[list[int], set[int], dict[int, Sequence[int]]]:
    """The fields that need a scan of their own (sorted), those that hold no split,
    marked or encoded secret, and the rules of its set each field was found to match
    (passed on to :func:`~sluice.sanitize.matching.match`, which need not match again).

    The ASCII fields of one treatment are joined for the tests that hold of the whole
    (HTML specials, characters to remove, secret variants); the rule set is matched per
    field, which gives exactly the fields the scan finds candidates in (a field's view is
    its text unless characters are removed, and such fields are scanned anyway).
    """
    no_variants: set[int] = set()
    hits: dict[int, Sequence[int]] = {}
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
        if treatment == "html" and any(c in joined for c in HTML_SPECIAL):
            slow.extend(idxs)
            continue
        compiled = compiled_for[treatment]
        if fast:
            # The joined text almost always has a hit (a trace id is a base64
            # candidate), and finding the fields its hits touch cost more than these
            # Match calls (~1 µs for a short field): 3 of 22 fields per event remain
            # instead of 20 (the markup rules' hits on joined text ran across fields).
            for i in idxs:
                found = compiled.field_hits(fields[i][2])
                if found:
                    slow.append(i)
                    hits[i] = found
        else:
            line_hits = compiled.line_set.Match(joined)
            if line_hits:
                texts = [fields[i][2] for i in idxs]
                slow.extend(touched(compiled, line_hits, joined, texts, idxs))
        if classifier and treatment == "text":
            # prompt-injection classifier: every text field long enough to matter
            slow.extend(i for i in idxs if classify(fields[i][2]) is not None)
        if prepare(joined).removed:
            slow.extend(i for i in idxs if prepare(fields[i][2]).removed)
        if variants.hit(joined):
            slow.extend(idxs)
        elif past_decode_caps(joined):
            # decoded_variant stops after MAX_DECODED_TOKENS tokens: ids in other
            # fields must not use up the joined text's allowance (red team), so each
            # field is tested on its own, within one event allowance of decoded tokens
            # (past it the field is scanned, where the event's Budget flags it)
            allowance = Budget()
            for i in idxs:
                if allowance.decoded_tokens <= 0 or variants.hit(fields[i][2], allowance):
                    slow.append(i)
                else:
                    no_variants.add(i)
        else:
            # the joined text had no split/marked/encoded secret: neither has a field
            no_variants.update(idxs)
    return sorted(set(slow)), no_variants, hits
