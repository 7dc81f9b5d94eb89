"""PII detectors: email, phone, payment card, IBAN, national ids, IP address.

RE2 finds short candidates; a validating library then decides (``phonenumbers`` for
phones, Luhn plus issuer prefixes for cards, ``python-stdnum`` for IBANs and national
ids, :mod:`ipaddress` for IPs). Validators only ever see the bounded candidate, never
the whole field, so their cost stays linear in the input.
"""

from __future__ import annotations

import ipaddress
import unicodedata
from typing import Any

import phonenumbers
import re2
from stdnum import iban as std_iban
from stdnum.es import dni as es_dni
from stdnum.us import ssn as us_ssn

from sluice.models.finding import FindingKind, Severity
from sluice.sanitize.base import Rule

__all__ = ["luhn_ok", "pii_rules"]

_PII = FindingKind.PII
_IMAGE_TLDS = frozenset({"png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "js", "css", "map"})


def luhn_ok(digits: str) -> bool:
    """True when ``digits`` (only 0-9) passes the Luhn checksum."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_brand_ok(d: str) -> bool:
    n = len(d)
    if d[0] == "4":
        return n in (13, 16, 19)
    two, three, four = int(d[:2]), int(d[:3]), int(d[:4])
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (34, 37):
        return n == 15
    if d.startswith("6011") or two == 65 or 644 <= three <= 649:
        return 16 <= n <= 19
    if 3528 <= four <= 3589:
        return 15 <= n <= 19
    if two in (36, 38, 39) or 300 <= three <= 305:
        return 14 <= n <= 19
    if two == 62 or 2200 <= four <= 2204:  # UnionPay, Mir
        return 16 <= n <= 19
    if two in (50, 56, 57, 58, 63, 67) or d.startswith("6759"):  # Maestro and co.
        return 12 <= n <= 19
    return False


# NOTE: cards of issuers outside the table (12-19 digits, Luhn) are accepted when written
# like a card (groups of four) or named as one nearby; a bare Luhn-valid digit run is an
# order or reference number one time in ten.
_CARD_GROUPED = re2.compile(
    r"[0-9]{4}(?:[ -][0-9]{4}){2,3}(?:[ -][0-9]{1,4})?|[0-9]{4}[ -][0-9]{6}[ -][0-9]{4,5}"
)
_CARD_WORDS = (
    "card", "kart", "carte", "tarjeta", "cart\u00e3o", "karte", "credit", "debit", "visa",
    "master", "amex", "cc ", "cc:", "cc#", "pan", "payment", "paid", "pay ", "charge",
)  # fmt: skip


def _context(view: str, m: Any, before: int = 40) -> str:
    start = m.start(0)
    return view[max(0, start - before) : start].lower()


def _check_card(view: str, m: Any, value: str) -> float | None:
    seps = {c for c in value if not c.isdigit()}
    if len(seps) > 1:
        return None
    digits = "".join(c for c in value if c.isdigit())
    if not 12 <= len(digits) <= 19 or len(set(digits)) < 2 or not luhn_ok(digits):
        return None
    if _card_brand_ok(digits):
        return 0.95 if seps else 0.85
    if _CARD_GROUPED.fullmatch(value):
        return 0.8
    if any(w in _context(view, m) for w in _CARD_WORDS):
        return 0.75
    return None


def _check_email(view: str, m: Any, value: str) -> float | None:
    tld = value.rsplit(".", 1)[-1].lower()
    if tld in _IMAGE_TLDS:
        return None
    return 0.95


_PHONE_WORDS = (
    "phone", "tel", "call", "mobile", "cell", "fax", "contact", "reach", "dial", "sms",
    "whatsapp", "number", "no.", "nr", "ph", "mob", "hotline", "t:", "m:", "\u260e",
    "telefon", "t\u00e9l", "tel\u00e9f", "handy", "m\u00f3vil", "celular", "cellulare",
    "numero", "n\u00famero", "num\u00e9ro", "\u0442\u0435\u043b", "\u96fb\u8a71",
    "\u7535\u8bdd", "\uc804\ud654",
)  # fmt: skip
_NOT_PHONE_WORDS = (
    "version",
    "ver",
    "v",
    "isbn",
    "issn",
    "doi",
    "$",
    "\u20ac",
    "\u00a3",
    "id",
    "#",
)
_DATE_RE = re2.compile(
    r"[0-9]{4}[-/. ][0-9]{1,2}[-/. ][0-9]{1,2}|[0-9]{1,2}[-/. ][0-9]{1,2}[-/. ][0-9]{2,4}"
)
_NANP_RE = re2.compile(r"(?:\+?1[-. ])?(?:\([0-9]{3}\)|[0-9]{3})[-. ]?[0-9]{3}[-. ][0-9]{4}")
_GROUPED_RE = re2.compile(r"\(?[0-9]{2,5}\)?(?:[-. /][0-9]{2,5}){2,5}")
_EXT_RE = re2.compile(r"\s?(?:x|ext\.?|#)\s?[0-9]{1,5}$")
_CC = phonenumbers.COUNTRY_CODE_TO_REGION_CODE


def _ascii_digits(value: str) -> str:
    if value.isascii():
        return value
    return "".join(str(unicodedata.digit(c)) if c.isdigit() else c for c in value)


def _check_phone(view: str, m: Any, value: str) -> float | None:
    # Structure first (microseconds); no per-candidate phonenumbers.parse on the hot path.
    main = _EXT_RE.sub("", _ascii_digits(value)).strip()
    if main.startswith("(") and ")" not in main:
        main = main[1:]  # "(555.600.0794)": the closing one is outside the match
    digits = "".join(c for c in main if c.isdigit())
    d = len(digits)
    if not 7 <= d <= 15 or len(set(digits)) < 3:
        return None
    before = _context(view, m, 24)
    tail = before.rstrip()
    if tail.endswith(_NOT_PHONE_WORDS):
        return None
    if _DATE_RE.fullmatch(main):
        return None
    if main.startswith(("+", "(+", "00")):
        cc = digits[2:] if main.startswith("00") else digits
        if d >= 8 and any(int(cc[:k]) in _CC for k in (1, 2, 3) if len(cc) >= k):
            return 0.9
        return None
    keyword = any(w in before for w in _PHONE_WORDS)
    if _NANP_RE.fullmatch(main):
        return 0.8
    seps = any(c in " -./()" for c in main)
    if not seps:
        if keyword and 8 <= d <= 13:
            return 0.7
        if main[0] == "0" and 10 <= d <= 11:
            return 0.65
        return None
    if main.count(".") >= 2 and " " not in main and not keyword:
        return None  # dotted: versions, IPs, dates
    if main[0] in "0(" and d >= 8:
        return 0.75
    if keyword:
        return 0.75
    if d >= 8 and _GROUPED_RE.fullmatch(main):
        return 0.6
    return None


def _check_iban(view: str, m: Any, value: str) -> float | None:
    number = value.upper()
    if std_iban.is_valid(number):
        return 0.97
    # Registry formats change (and new countries join); the ISO 7064 check digits alone
    # leave one false positive in 97 of the (rare) two-letters-two-digits runs.
    compact = std_iban.compact(number)
    if 15 <= len(compact) <= 34 and compact.isalnum() and compact.isascii():
        moved = compact[4:] + compact[:4]
        if int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1:
            return 0.8
    return None


def _check_ssn(view: str, m: Any, value: str) -> float | None:
    return 0.9 if us_ssn.is_valid(value) else None


def _check_dni(view: str, m: Any, value: str) -> float | None:
    return 0.9 if es_dni.is_valid(value) else None


def _check_ip(view: str, m: Any, value: str) -> float | None:
    start, end = m.span(0)
    # Dotted quads that are part of longer dotted numbers (OIDs, versions) are not IPs.
    if end < len(view) and view[end] == "." and end + 1 < len(view) and view[end + 1].isdigit():
        return None
    if start > 0 and view[start - 1] in ".vV":
        return None
    before = view[max(0, start - 12) : start].rstrip().lower()
    if before.endswith(("version", "ver", "release", "build", "oid")):
        return None
    try:
        addr = ipaddress.ip_address(value)
    except ValueError:
        return None
    if addr.is_unspecified:
        return None
    return 0.9 if addr.is_global else 0.6


def _check_ipv6(view: str, m: Any, value: str) -> float | None:
    groups = [g for g in value.split(":") if g]
    if len(groups) < 3 or not any(c.isdigit() for c in value):
        return None
    if "::" not in value and len(groups) != 8:
        return None
    return _check_ip(view, m, value)


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"


def pii_rules() -> list[Rule]:
    """The PII rules (RE2 candidates plus validators)."""
    return [
        Rule(
            "email",
            _PII,
            r"\b[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,24}\b",
            Severity.MEDIUM,
            0.95,
            check=_check_email,
            priority=20,
        ),
        Rule(
            "credit_card",
            _PII,
            r"\b(?:[0-9][ \-]?){11,18}[0-9]\b",
            Severity.HIGH,
            0.9,
            check=_check_card,
            priority=10,
        ),
        Rule(
            "iban",
            _PII,
            # upper or lower case, with or without spaces; an all-letter group after the
            # bank code ends it, so "... 4592 send" does not swallow the next word
            r"(?i)\b[a-z]{2}[0-9]{2}[ \-]?[a-z0-9]{4}"
            r"(?:[ \-]?(?:[0-9][a-z0-9]{3}|[a-z][0-9][a-z0-9]{2}|[a-z]{2}[0-9][a-z0-9]"
            r"|[a-z]{3}[0-9])){1,7}"
            r"(?:[ \-]?[0-9]{1,3})?\b",
            Severity.HIGH,
            0.95,
            check=_check_iban,
            priority=10,
        ),
        Rule(
            "us_ssn",
            _PII,
            r"\b[0-9]{3}-[0-9]{2}-[0-9]{4}\b",
            Severity.HIGH,
            0.9,
            check=_check_ssn,
            priority=15,
        ),
        Rule(
            "es_dni",
            _PII,
            r"\b[0-9]{8}-?[A-Z]\b",
            Severity.HIGH,
            0.9,
            check=_check_dni,
            priority=15,
        ),
        Rule(
            "phone",
            _PII,
            # international (+, 00, (+57)), trunk 0, (area code), NANP, three or more
            # separators, a long group, or a bare run: dates, versions and amounts such as
            # 2024-07-18 or 4210.50 are no candidates, so they stay on the fast path
            r"(?:(?:\+\s?\(?|\(\+?|\b00|\b0|\()\p{Nd}[\p{Nd}()\-. /]{5,22}\p{Nd}"
            r"|\b(?:1[-. ])?\p{Nd}{3}[-. ]\p{Nd}{3}[-. ]\p{Nd}{4}"
            r"|\b\p{Nd}{1,5}(?:[-. /]\p{Nd}{1,5}){3,6}"
            r"|\b\p{Nd}{2,4}[-. /]\p{Nd}{2,4}[-. /]\p{Nd}{3,4}\b"
            r"|\b\p{Nd}{2,5}[-. /]\p{Nd}{5,10}"
            r"|\b\p{Nd}{8,15}\b)"
            r"(?:\s?(?:x|ext\.?|#)\s?[0-9]{1,5})?",
            Severity.MEDIUM,
            0.8,
            check=_check_phone,
            priority=30,
        ),
        Rule(
            "ip_address",
            _PII,
            rf"\b{_OCTET}(?:\.{_OCTET}){{3}}\b",
            Severity.LOW,
            0.9,
            check=_check_ip,
            priority=25,
        ),
        Rule(
            "ip_address",
            _PII,
            r"\b(?:[0-9A-Fa-f]{1,4}:){2,7}:?[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{1,4}){0,6}\b",
            Severity.LOW,
            0.9,
            check=_check_ipv6,
            priority=25,
            rule_id="ipv6_address",
        ),
    ]
