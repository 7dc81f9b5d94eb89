"""Per-event bounds of issue 12 (cost): the work a whole event of adversarial arguments
may cause, counted (never timed), and the finding a tripped cap leaves (fail closed).

Each row of ``sluice bench detect``'s ``cost_vs_plain`` that rose above 3x plain text
once plain text got faster: look-alike letters, entity-encoded text and zero-width
interleaving, as 128 arguments sharing 250 KB.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import pytest

import sluice.sanitize.engine as engine
import sluice.sanitize.markup_attrs as ma
import sluice.sanitize.secrets_variants as sv
import sluice.sanitize.unicode as uni
from sluice.models.finding import FindingKind
from sluice.sanitize import Sanitizer
from sluice.sanitize.matching import MAX_CHECKS_PER_RULE_PER_EVENT, MAX_SECRET_HITS_PER_EVENT
from sluice.tools.bench.detect.cost import cost_text
from sluice.tools.bench.detect.samples import event

KEY = b"k" * 32
ARGS = 128
PART = 250_000 // ARGS


def _args_event(part: str, n: int = ARGS, last: str | None = None) -> dict[str, Any]:
    ev = event(random.Random(0), "summary")
    ev["arguments"] = {f"a{i}": part for i in range(n)}
    if last is not None:
        ev["arguments"][f"a{n - 1}"] = last
    return ev


# -- zero-width interleaving ----------------------------------------------------------


def test_flooded_fields_spend_the_event_control_allowance(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limits: list[int] = []
    real = engine.strip_flood

    def recording(text: str, limit: int = uni.FLOOD_RUNS) -> uni.Flood | None:
        limits.append(limit)
        return real(text, limit)

    monkeypatch.setattr(engine, "strip_flood", recording)
    part = cost_text("zero_width_interleaved", PART)
    out, findings = Sanitizer(KEY).sanitize_event(_args_event(part))
    # each flooded field used to count its characters up to FLOOD_RUNS again (128 x 257
    # regex matches); now the bulk-stripped characters spend the event's allowance
    counted = sum(max(0, min(lim, uni.FLOOD_RUNS)) + 1 for lim in limits)
    assert counted <= uni.FLOOD_CHARS_PER_EVENT + 2 * ARGS
    # fail closed: every field is stripped and reported
    assert all("\u200b" not in v for v in out["arguments"].values())
    flagged = {f.field for f in findings if f.detector == "zero_width"}
    assert len(flagged) == ARGS


def test_bulk_strip_removes_exactly_the_control_characters() -> None:
    rng = random.Random(7)
    # (joiners are kept in some contexts, e.g. between emoji-range characters such as tag
    # characters: tested with the flood tests)
    controls = [chr(cp) for cp in uni.CONTROL_DELETE if cp not in (0x200C, 0x200D)]
    for _ in range(50):
        pool = controls if rng.random() < 0.5 else ["\u200b", "\u2061", "\x07"]
        text = "".join(
            rng.choice(pool) if rng.random() < 0.5 else rng.choice(string.ascii_letters)
            for _ in range(rng.randrange(300, 2000))
        )
        flood = uni.strip_flood(text, 0)
        if flood is None:
            continue
        assert flood.text == text.translate(uni.CONTROL_DELETE)
        for det, (s, e) in flood.spans.items():
            rx = uni._CLASS_RE[det]
            hits = [m.start() for m in rx.finditer(text)]
            assert (s, e) == (hits[0], hits[-1] + 1)


# -- entity-encoded text ----------------------------------------------------------------


def test_entity_decoding_is_bounded_per_event(monkeypatch: pytest.MonkeyPatch) -> None:
    refs = [0]
    real = ma.html.unescape

    def counting(s: str) -> str:
        refs[0] += s.count("&")
        return real(s)

    monkeypatch.setattr(ma, "html", SimpleNamespace(unescape=counting))
    part = cost_text("encoded_entity", PART)
    hidden = "&#106;&#97;&#118;&#97;&#115;&#99;&#114;&#105;&#112;&#116;&#58;alert(1)"
    first = hidden + " " + part
    ev = _args_event(part)
    ev["arguments"]["a0"] = first
    _, findings = Sanitizer(KEY).sanitize_event(ev)
    # ~41,000 references used to be decoded (each field's first 16 KB, per field); each
    # 16 now count as one check of the rule's per-event budget
    assert refs[0] <= MAX_CHECKS_PER_RULE_PER_EVENT * ma.REFS_PER_CHECK + ma.SCAN_CHARS
    # the encoded scheme in the first field is still found
    assert any(f.detector == "javascript_url" and f.field == "arguments.a0" for f in findings)
    # fail closed: the fields past the budget are flagged in the markup family
    # (the secret family's event allowance of decoded tokens may redact some too:
    # check_cap:decoded_secret, kind secret)
    caps = [f for f in findings if f.detector == "check_cap" and f.kind is FindingKind.MARKUP]
    assert len({f.field for f in caps}) >= ARGS // 2
    assert all(f.action == "flagged" for f in caps)


def test_a_few_entities_cost_one_check() -> None:
    rule = next(r for r in ma.attribute_rules() if r.id == "javascript_url_entities")
    assert rule.check_cost is not None
    assert rule.check_cost("fish &amp; chips &nbsp; here") == 1
    assert rule.check_cost("&#105;" * 320) == 1 + 320 // ma.REFS_PER_CHECK
    _, findings = Sanitizer(KEY).scan_text("ja&Tab;vascript:alert(1) &amp; more")
    assert "check_cap" not in {f.detector for f in findings}
    assert "javascript_url" in {f.detector for f in findings}


# -- look-alike letters -----------------------------------------------------------------


def _ghp() -> str:
    rng = random.Random(13)
    return "ghp_" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(36))


def test_lookalike_tokens_are_bounded_per_event(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = [0]
    real = sv._non_ascii_tokens

    def counting(view: str) -> Iterator[Any]:
        for m in real(view):
            seen[0] += 1
            yield m

    monkeypatch.setattr(sv, "_non_ascii_tokens", counting)
    part = cost_text("confusable_letters", PART)
    tok = _ghp()
    looks = "gh\u0440_" + tok[4:20] + "\u043e" + tok[21:]  # Cyrillic er and o
    _, findings = Sanitizer(KEY).sanitize_event(_args_event(part, last=f"{part} {looks}"))
    # 12,500 tokens used to be looked at (98 per argument); the event's allowance, one
    # more per field to see it is spent, and the triage's look at the joined fields
    assert seen[0] <= sv.MAX_LOOKALIKE_PER_EVENT + 2 * ARGS + 4 * sv.MAX_DECODED_TOKENS
    # fail closed: the last field's look-alike token was not read as Latin, but the rest
    # of that field (token included) is flagged
    caps = [
        f for f in findings if f.detector == "check_cap" and f.field == f"arguments.a{ARGS - 1}"
    ]
    assert caps and caps[0].kind is FindingKind.UNICODE and caps[0].action == "flagged"
    start = len(part) + 1
    assert caps[0].start <= start and caps[0].end == start + len(looks)


def test_one_lookalike_token_is_still_redacted() -> None:
    tok = _ghp()
    looks = "gh\u0440_" + tok[4:20] + "\u043e" + tok[21:]
    part = cost_text("confusable_letters", 600)
    out, findings = Sanitizer(KEY).sanitize_event(_args_event(part, n=4, last=looks))
    assert any(f.detector == "github_token" for f in findings)
    assert "check_cap" not in {f.detector for f in findings}
    assert tok[4:20] not in str(out["arguments"])


def test_confusable_reports_are_bounded_per_event(monkeypatch: pytest.MonkeyPatch) -> None:
    matched = [0]
    real = uni.confusable_spans

    def counting(view: str, limit: int | None = None) -> list[tuple[int, int]]:
        spans = real(view, limit)
        matched[0] += len(spans)
        return spans

    monkeypatch.setattr(uni, "confusable_spans", counting)
    part = cost_text("confusable_letters", PART)
    _, findings = Sanitizer(KEY).sanitize_event(_args_event(part))
    # 128 x 33 tokens used to be matched; now the event's allowance and one per field
    assert matched[0] <= uni.CONFUSABLE_PER_EVENT + uni.CONFUSABLE_FLOOD + 1 + ARGS
    # fail closed: every field is still flagged as mixing scripts
    mixed = {f.field for f in findings if f.detector == "confusable_mixed_script"}
    assert len(mixed) == ARGS


# -- secret-like runs -------------------------------------------------------------------


def test_secret_candidates_are_bounded_per_event() -> None:
    part = cost_text("secret_like_run", PART)
    out, findings = Sanitizer(KEY).sanitize_event(_args_event(part))
    secrets = [f for f in findings if f.kind is FindingKind.SECRET]
    one_by_one = [f for f in secrets if f.detector != "secret_flood"]
    # ~4,700 candidates in the event: at most the event's allowance is checked one by one
    assert 0 < len(one_by_one) <= MAX_SECRET_HITS_PER_EVENT
    # fail closed: every later field is redacted from its first candidate on
    flooded = {f.field for f in secrets if f.detector == "secret_flood"}
    assert len(flooded) >= ARGS - MAX_SECRET_HITS_PER_EVENT // 30
    assert all(f.action == "redacted" for f in secrets)
    assert not any("Zx9Kq2Lm8Np4Rt6Vw1Ys3Bd5Fh7Jk0" in v for v in out["arguments"].values())


def test_control_and_mark_prefilters_agree_with_the_scans() -> None:
    # the RE2 prefilters must say "none" exactly when the re scans find none
    for cp in range(0x80, 0x30000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        text = "\u00e9" + chr(cp)
        assert uni._has_controls(text) == (uni.CONTROL_RE.search(text) is not None), hex(cp)
        assert sv._has_marks(text) == (sv._MARK_RUN.search(text) is not None), hex(cp)
    # a lone surrogate (RE2 cannot read it) falls back to the re scan
    assert uni._has_controls("\u00e9\ud800\u200b") and not uni._has_controls("\u00e9\ud800")
    assert sv._has_marks("\u00e9\ud800\u0301") and not sv._has_marks("\u00e9\ud800")
