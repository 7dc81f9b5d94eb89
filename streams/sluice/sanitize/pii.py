"""PII detectors: email, phone, payment card, IBAN, national ids, IP address.

RE2 finds short candidates; a validating library then decides (``phonenumbers`` for
phones, Luhn plus issuer prefixes for cards, ``python-stdnum`` for IBANs and national
ids, :mod:`ipaddress` for IPs). Validators only ever see the bounded candidate, never
the whole field, so their cost stays linear in the input.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import phonenumbers
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
    two, four = int(d[:2]), int(d[:4])
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (34, 37):
        return n == 15
    if d.startswith("6011") or two == 65 or 644 <= int(d[:3]) <= 649:
        return 16 <= n <= 19
    if 3528 <= four <= 3589:
        return 16 <= n <= 19
    if two in (36, 38, 39) or 300 <= int(d[:3]) <= 305:
        return 14 <= n <= 19
    if two == 62:
        return 16 <= n <= 19
    return False


def _check_card(view: str, m: Any, value: str) -> float | None:
    seps = {c for c in value if not c.isdigit()}
    if len(seps) > 1:
        return None
    digits = "".join(c for c in value if c.isdigit())
    if not 13 <= len(digits) <= 19 or len(set(digits)) < 2:
        return None
    if not (luhn_ok(digits) and _card_brand_ok(digits)):
        return None
    return 0.95 if seps else 0.85


def _check_email(view: str, m: Any, value: str) -> float | None:
    tld = value.rsplit(".", 1)[-1].lower()
    if tld in _IMAGE_TLDS:
        return None
    return 0.95


def _check_phone(view: str, m: Any, value: str) -> float | None:
    digits = sum(c.isdigit() for c in value)
    if not 8 <= digits <= 15:
        return None
    plus = value.startswith("+")
    # NOTE: an unformatted digit run is an id or a timestamp far more often than a phone
    # number; without a leading + require some phone-like formatting.
    if not plus and not any(c in value for c in " ()-."):
        return None
    if not plus and value.count(".") >= 2 and " " not in value:
        return None  # dotted: versions, IPs, dates
    try:
        num = phonenumbers.parse(value, None if plus else "US")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(num):
        return None
    return 0.9 if plus else 0.75


def _check_iban(view: str, m: Any, value: str) -> float | None:
    return 0.97 if std_iban.is_valid(value) else None


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
            r"\b(?:[0-9][ \-]?){12,18}[0-9]\b",
            Severity.HIGH,
            0.9,
            check=_check_card,
            priority=10,
        ),
        Rule(
            "iban",
            _PII,
            r"\b[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]){11,30}\b",
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
            r"\+[0-9][0-9 ().\-]{6,20}[0-9]\b|\(?\b[0-9]{3}\)?[ .\-]?[0-9]{3}[ .\-][0-9]{4}\b"
            r"|\b0[0-9]{1,4}[ \-/][0-9]{3,8}(?:[ \-][0-9]{2,4})?\b",
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
