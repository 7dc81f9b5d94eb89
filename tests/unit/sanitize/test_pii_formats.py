"""PII formats beyond the common ones, and the bound on validation work."""

from __future__ import annotations

from typing import Any

import pytest

from sluice.sanitize import Sanitizer, matching
from sluice.sanitize.pii import luhn_ok


def _pii(s: Sanitizer, text: str) -> list[tuple[str, str]]:
    _, findings = s.scan_text(text)
    return [(f.detector, text[f.start : f.end]) for f in findings if f.kind == "pii"]


@pytest.mark.parametrize(
    "phone",
    [
        "0151 496 0373",  # UK national
        "+44(0)8081570430",
        "030 12345678",  # DE, trunk prefix
        "06434/16220802",
        "+49 (0) 7202 838016",
        "+33 (0)4 27 20 34 20",
        "06 12 34 56 78",  # FR national
        "(029) 780 1230",  # NZ
        "08 1890 0101",  # AU
        "+91 6558938576",
        "090-4046-9688",  # JP
        "8 (437) 437-94-63",  # RU
        "00420 604 863 872",  # CZ with 00
        "(+57)3240153612",
        "+৮৮০-৮৬৭-৮০৯-৪৩৩",  # Bengali digits
        "220.536.8816x9099",  # NANP with extension
        "1-564-979-9544",
    ],
)
def test_national_and_international_phones(sanitizer: Sanitizer, phone: str) -> None:
    found = _pii(sanitizer, f"Contact: {phone} (office)")
    assert any(d == "phone" and v.strip("()") in phone for d, v in found), found


@pytest.mark.parametrize(
    "text",
    [
        "released in version 3.11.7 on 2024-01-02",
        "the mask is 255 and 10.0 ms later 12.5 km",
        "ISBN 978-3-16-148410-0 is cited",
        "for state in 0, 1, 2, ..., until it returns",
        "order 1234567 shipped",
    ],
)
def test_number_prose_is_not_a_phone(sanitizer: Sanitizer, text: str) -> None:
    assert not [d for d, _ in _pii(sanitizer, text) if d == "phone"]


def _luhn_complete(prefix: str, length: int) -> str:
    body = prefix + "7" * (length - len(prefix) - 1)
    for check in "0123456789":
        if luhn_ok(body + check):
            return body + check
    raise AssertionError


@pytest.mark.parametrize("length", [12, 13, 16, 19])
def test_cards_beyond_common_brands(sanitizer: Sanitizer, length: int) -> None:
    # an issuer outside the brand table, written like a card or named as one
    num = _luhn_complete("8", length)
    grouped = " ".join(num[i : i + 4] for i in range(0, len(num), 4))
    assert ("credit_card", grouped) in _pii(sanitizer, f"ref {grouped} ok")
    assert ("credit_card", num) in _pii(sanitizer, f"card number {num}")
    # a bare Luhn-valid run with no card context is an order number
    assert not _pii(sanitizer, f"order {num} shipped")


def test_maestro_12_digits(sanitizer: Sanitizer) -> None:
    num = _luhn_complete("5018", 12)
    assert ("credit_card", num) in _pii(sanitizer, f"maestro {num}")


@pytest.mark.parametrize(
    "iban",
    [
        "GB82 WEST 1234 5698 7654 32",
        "gb82west12345698765432",
        "de89 3704 0044 0532 0130 00",
        "FR14 2004 1010 0505 0001 3M02 606",
        "NL91ABNA0417164300",
    ],
)
def test_iban_any_case_and_spacing(sanitizer: Sanitizer, iban: str) -> None:
    found = _pii(sanitizer, f"Transfer to {iban} before Friday")
    assert ("iban", iban) in found, found


def test_iban_does_not_swallow_next_word(sanitizer: Sanitizer) -> None:
    text = "pay GB82 WEST 1234 5698 7654 32 send it"
    assert ("iban", "GB82 WEST 1234 5698 7654 32") in _pii(sanitizer, text)


def test_validation_work_is_bounded_per_field(sanitizer: Sanitizer) -> None:
    calls = {"n": 0}
    rule = next(r for r in sanitizer._compiled["text"].rules if r.detector == "phone")
    orig = rule.check
    assert orig is not None

    def counting(view: str, m: Any, value: str) -> float | None:
        calls["n"] += 1
        return orig(view, m, value)

    # candidates that FAIL validation ("ver ..." is never a phone) count too
    text = "ver 1 2 3 4 5 6 7 8 9; " * 5000
    object.__setattr__(rule, "check", counting)
    try:
        sanitizer.scan_text(text)
    finally:
        object.__setattr__(rule, "check", orig)
    assert 0 < calls["n"] <= matching.MAX_PII_CHECKS_PER_FIELD


def test_validation_work_is_bounded_per_event(sanitizer: Sanitizer) -> None:
    part = "+1 (555) 010-2233 call 0151 496 0373 or 06 12 34 56 78, " * 30
    event: dict[str, Any] = {
        "data_classification": "PUBLIC",
        "arguments": {f"a{i}": part for i in range(64)},
    }
    _, findings = sanitizer.sanitize_event(event)
    phones = [f for f in findings if f.detector == "phone"]
    assert 0 < len(phones) <= matching.MAX_PII_CHECKS_PER_EVENT


def test_secret_flood_fails_closed(sanitizer: Sanitizer) -> None:
    import random
    import string

    rng = random.Random(3)
    toks = [
        "ghp_" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(36))
        for _ in range(matching.MAX_SECRET_HITS_PER_FIELD + 50)
    ]
    text = " ".join(toks)
    out, findings = sanitizer.scan_text(text)
    assert not any(t in out for t in toks)
    assert any(f.detector == "secret_flood" for f in findings)
