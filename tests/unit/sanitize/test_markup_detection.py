"""Markup/XSS: the gaps closed for issue 12, the html cleaner's cost bound, public-set scores."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sluice.sanitize import Sanitizer
from sluice.sanitize.markup import MAX_HTML_DEPTH, clean_html, html_depth_exceeds
from sluice.tools.bench.detect.public import ADVERSARIAL_UNITS, adversarial_cost, public_eval

from .conftest import KEY

DATA = Path(__file__).resolve().parents[2] / "data" / "detection"


@pytest.fixture(scope="module")
def san() -> Sanitizer:
    return Sanitizer(KEY)


def _markup(san: Sanitizer, text: str, as_: str = "text") -> list[str]:
    _, findings = san.scan_text(text, as_)
    return [f.detector for f in findings if f.kind.value == "markup"]


@pytest.mark.parametrize(
    ("payload", "detector"),
    [
        ("<script>alert(1)</script>", "script_tag"),
        ("<img src=x onerror=alert(1)>", "event_handler"),
        ("<a href='javascript:alert(1)'>x</a>", "javascript_url"),
        ('x" onerror=alert(1);>', "event_handler"),
        ('"onmouseover=alert(1);a="', "event_handler"),
        ('/#?gad=xxxx"onload="alert(1)"', "event_handler"),
        ("<x style=x:expression(alert(1))>", "css_expression"),
        ('<XSS STYLE="behavior: url(xss.htc);">', "css_expression"),
        ('<meta http-equiv="refresh" content="0;url=http://evil/">', "meta_refresh"),
        ('<animate attributeName="onunload" to="alert(1)"/>', "svg_animate"),
        ("<iframe src=http://ha.ckers.org/scriptlet.html <", "dangerous_tag"),
    ],
)
def test_markup_in_text_fields(san: Sanitizer, payload: str, detector: str) -> None:
    assert detector in _markup(san, payload)


@pytest.mark.parametrize(
    "text",
    [
        "if a < b and c > d: print('ok')",
        "online=true; onboarding = done",
        "the style = relaxed, expression of joy",
        "Send it to John Doe <john@example.com> & co.",
        "std::vector<int> v; v.push_back(42);",
        "Set the meta description for SEO",
    ],
)
def test_prose_and_code_stay_clean(san: Sanitizer, text: str) -> None:
    assert _markup(san, text) == []


def test_one_finding_per_markup_detector(san: Sanitizer) -> None:
    _, findings = san.scan_text("<script>x</script>" * 400, "text")
    assert [f.detector for f in findings if f.kind.value == "markup"] == ["script_tag"]


def test_deep_nesting_is_escaped_not_parsed() -> None:
    deep = "<div>" * 20_000 + "<script>alert(1)</script>"
    assert html_depth_exceeds(deep)
    t0 = time.perf_counter()
    out = clean_html(deep)
    assert time.perf_counter() - t0 < 1.0  # nh3 takes seconds on this
    assert "<" not in out and "&lt;script&gt;" in out
    ordinary = "<div><p>hello <b>world</b></p></div>" * 2_000
    assert not html_depth_exceeds(ordinary)
    assert clean_html(ordinary).startswith("<div><p>hello")
    nested_ok = "<div>" * (MAX_HTML_DEPTH - 1) + "x" + "</div>" * (MAX_HTML_DEPTH - 1)
    assert not html_depth_exceeds(nested_ok)


def test_public_markup_sets(san: Sanitizer) -> None:
    for split, floor in (("dev", 0.97), ("heldout", 0.9)):
        tp = fp = fn = 0
        for line in (DATA / f"markup_{split}.jsonl").open(encoding="utf-8"):
            row = json.loads(line)
            hit = bool(_markup(san, row["text"]))
            tp += hit and row["label"]
            fp += hit and not row["label"]
            fn += (not hit) and row["label"]
        p, r = tp / (tp + fp), tp / (tp + fn)
        assert p >= 0.98 and 2 * p * r / (p + r) >= floor, (split, p, r)


def test_bench_report_shapes(san: Sanitizer) -> None:
    report = public_eval(san)
    for family in ("sql_injection", "markup", "sql_injection_as_text"):
        splits = {"dev", "heldout", "extra"} if family.startswith("sql") else {"dev", "heldout"}
        assert set(report[family]) == splits
        row = report[family]["heldout"]
        assert row["tp"] + row["fn"] > 100 and 0.0 <= row["f1"] <= 1.0
    cost = adversarial_cost(san, sizes=(2_000,))
    assert set(cost["cases"]) == set(ADVERSARIAL_UNITS)
    assert cost["worst_ratio"]["2000"] > 0
