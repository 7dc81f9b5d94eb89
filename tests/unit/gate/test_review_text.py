"""``review show`` as text: fields as blocks, findings marked where they sit in the
sanitized text, invisible characters made visible; and the pure parts of
:mod:`sluice.review` (what ``wait=True`` makes of the gate's records)."""

from __future__ import annotations

from typing import Any

from sluice.gate.entry import Entry
from sluice.gate.marks import Span, field_texts, locate, mark_spans, render_detail, visible
from sluice.review import DecisionResult, check_event_id
from sluice.review_wait import Seen, observe

FP = "0a1b2c3d0a1b2c3d"
EVENT: dict[str, Any] = {
    "event_id": "e1",
    "content": f"diff --git a/x b/x\n+token = [REDACTED:github_token:{FP}]\n",
    "arguments": {"query": "select * from users", "n": 3, "tags": ["a", ""]},
    "model": None,
    "confidence": 0.9,
}


def finding(**kw: Any) -> dict[str, Any]:
    base = {
        "kind": "secret",
        "detector": "github_token",
        "field": "content",
        "start": 28,
        "end": 68,
        "severity": "high",
        "fingerprint": FP,
        "action": "redacted",
    }
    return {**base, **kw}


def test_field_texts_are_dotted_paths_of_non_empty_strings() -> None:
    assert field_texts(EVENT) == [
        ("event_id", "e1"),
        ("content", EVENT["content"]),
        ("arguments.query", "select * from users"),
        ("arguments.tags.0", "a"),
    ]


def test_a_redacted_finding_is_located_at_its_placeholder() -> None:
    text = EVENT["content"]
    start, end = locate(text, finding()) or (0, 0)
    assert text[start:end] == f"[REDACTED:github_token:{FP}]"


def test_received_offsets_are_used_only_where_the_text_is_unchanged() -> None:
    flagged = finding(kind="sql", detector="tautology", fingerprint=None, start=0, end=4)
    assert locate(EVENT["content"], flagged) == (0, 4)
    after = finding(fingerprint=None, start=40, end=45)  # after a placeholder: shifted
    assert locate(EVENT["content"], after) is None
    assert locate("short", finding(fingerprint=None, start=2, end=50)) is None


def test_mark_spans_nests_and_cuts_crossing_spans() -> None:
    assert mark_spans("abcdef", [Span(1, 1, 3)]) == "a⟦bc⟧¹def"
    assert mark_spans("abcdef", [Span(1, 0, 6), Span(2, 2, 4)]) == "⟦ab⟦cd⟧²ef⟧¹"
    assert mark_spans("abcdef", [Span(1, 0, 4), Span(2, 2, 6)]) == "⟦ab⟦cd⟧²⟧¹ef"
    assert mark_spans("abc", [Span(1, 2, 9)]) == "abc", "a span past the end is not drawn"


def test_invisible_characters_are_shown_and_newlines_kept() -> None:
    assert visible("a\u202eb\u200bc\x1b[2J\nd\te") == "a\\u202eb\\u200bc\\u001b[2J\nd\te"
    assert mark_spans("x\u2066y", [Span(1, 0, 1)]) == "⟦x⟧¹\\u2066y"


def test_render_detail_lists_every_finding_and_marks_located_ones() -> None:
    sql = finding(kind="sql", detector="tautology", field="arguments.query", start=0, end=6)
    lost = finding(field="attributes.vendor", fingerprint=None)
    text = render_detail(EVENT, [finding(), sql, lost])
    assert f"⟦[REDACTED:github_token:{FP}]⟧¹" in text
    assert "⟦select⟧² * from users" in text
    assert "── content" in text and "── arguments.query" in text
    assert "arguments.n: 3" in text and "confidence: 0.9" in text
    assert "1. secret/github_token  severity=high  action=redacted  in content [28:68]" in text
    assert "3. secret/github_token" in text and "not marked" in text.splitlines()[-1]
    assert "+token = " in text.splitlines()[text.splitlines().index("── content " + "─" * 53) + 2]


def test_render_detail_without_findings() -> None:
    assert render_detail({"content": "hi"}, []).endswith("── findings (0) " + "─" * 44 + "\n  none")


def test_check_event_id_normalises() -> None:
    eid = "3F2504E0-4F89-11D3-9A0C-0305E82C3301"
    assert check_event_id(eid) == eid.lower()


DEC = "d-1"


def test_wait_folds_counted_then_release() -> None:
    seen = observe(Seen(), "audit", {"transition": "decision_counted", "decision_id": DEC}, DEC)
    assert seen.counted and not seen.final
    other = {"transition": "decision_refused", "decision_id": "d-2", "reason_code": "replay"}
    assert observe(seen, "audit", other, DEC) == seen, "another reviewer's refusal"
    out = {"event_id": "e", "outcome": "APPROVED", "reviewers": ["a", "b"], "reason_code": None}
    done = observe(seen, "approved", out, DEC)
    assert done.status == "approved" and done.counted and done.outcome == out and done.final
    assert observe(done, "rejected", out, DEC) is done, "the first outcome stands"


def test_wait_folds_refusal_and_ignores_refused_duplicates() -> None:
    refused = {"transition": "decision_refused", "decision_id": DEC, "reason_code": "self_approval"}
    seen = observe(Seen(), "audit", refused, DEC)
    assert seen.status == "refused" and seen.refusal == "self_approval"
    dup = {"event_id": "e", "outcome": "REJECTED", "reason_code": "duplicate_event_id"}
    assert observe(Seen(), "rejected", dup, DEC) == Seen()


def test_decision_result_summary() -> None:
    d = {"decision_id": DEC, "event_id": "e"}
    assert DecisionResult(d).summary() == DEC
    assert (
        DecisionResult(d, "refused", refusal="wrong_role").summary() == f"{DEC} refused: wrong_role"
    )
    rel = {"source": "REVIEWER", "reviewers": ["a", "b"], "reason": "ok"}
    assert DecisionResult(d, "approved", outcome=rel).summary() == (
        f"{DEC} approved (source REVIEWER, reviewers a, b): ok"
    )
    assert "pending (counted" in DecisionResult(d, "pending", counted=True).summary()


def test_held_role_label_is_one_registry_role_per_hold() -> None:
    e = Entry("e", "open", roles=("security", "release-manager"))
    assert e.role_label(frozenset({"release-manager", "security"})) == "security"
    assert e.role_label(frozenset({"release-manager"})) == "release-manager"
    assert e.role_label(frozenset()) == "other"
    levels = Entry("e", "open", requirements=(("sec", 1, 2), ("steward", 1, 1)))
    assert levels.role_label(frozenset({"sec", "steward"})) == "steward", "lowest level first"
    esc = Entry("e", "open", roles=("a",), escalated=True, escalate_roles=("b",))
    assert esc.role_label(frozenset({"a", "b"})) == "b"
