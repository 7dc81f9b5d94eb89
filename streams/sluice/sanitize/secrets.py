"""Secret detector: provider credential formats and secrets in secret-looking contexts.

The rules are data, in ``rules/secrets*.yaml``, loaded by
:mod:`sluice.sanitize.secrets_rules`. This module turns them into engine rules, each
with a check that runs the post-filters of :mod:`sluice.sanitize.secrets_filters`
(entropy, keywords, allow-lists, placeholder rejection) on the bounded hit, and
recognises a secret by the map key it is stored under. A secret hit is always redacted
by the engine; split, marked and encoded secrets are :mod:`sluice.sanitize.secrets_variants`.
"""

from __future__ import annotations

import functools
from typing import Any

import re2

from sluice.models.finding import FindingKind, Severity
from sluice.sanitize.base import RE2_QUIET, Check, Rule, shannon_entropy
from sluice.sanitize.secrets_filters import (
    FAKE_MAX_LEN,
    FILTERS,
    any_of,
    high_entropy_value,
    looks_fake,
    not_placeholder,
    password_value,
    stop_re,
)
from sluice.sanitize.secrets_rules import SecretSpec, secret_specs

__all__ = [
    "key_rule",
    "looks_like_secret_value",
    "make_check",
    "rule_fires",
    "secret_rules",
]

#: How far before / after a hit a rule's keyword may occur.
_KEYWORD_BEFORE = 256
_KEYWORD_AFTER = 64


def make_check(spec: SecretSpec) -> Check:
    """The validator of ``spec``'s hits: example values, entropy, keyword window,
    allow-lists, stop-words, then the named filter; returns the confidence or None."""
    flt = FILTERS[spec.filter] if spec.filter else None
    min_entropy = spec.entropy
    keywords = spec.keywords
    allow = any_of(spec.allow)
    allow_match = any_of(spec.allow_match)
    stop = stop_re(spec.stopwords)
    base = spec.confidence
    # A rule whose named group sits in an alternation redacts the whole match (see
    # secrets_rules.redaction_group) but is judged, as gitleaks judges it, on the first
    # group that took part: "curl … Bearer XXXXXXXXXXXX" is a placeholder.
    inner = spec.group == 0 and "(" in spec.regex.replace("(?:", "").replace("\\(", "")

    def check(view: str, match: Any, value: str) -> float | None:
        if inner:
            value = next((g for g in match.groups() if g), value)
        if len(value) <= FAKE_MAX_LEN and looks_fake(value):
            return None
        if min_entropy is not None and shannon_entropy(value) < min_entropy:
            return None
        if keywords:
            s, e = match.span(0)
            window = view[max(0, s - _KEYWORD_BEFORE) : e + _KEYWORD_AFTER].lower()
            if not any(k in window for k in keywords):
                return None
        if allow is not None and allow.search(value):
            return None
        if allow_match is not None:
            # gitleaks' "match" also covered up to 50 word characters before the keyword
            s0, e0 = match.span(0)
            if allow_match.search(view[max(0, s0 - 50) : e0]):
                return None
        if stop is not None and stop.search(value):
            return None
        if flt is not None:
            factor = flt(value)
            if factor is None:
                return None
            return base * factor
        return base

    return check


def rule_fires(spec: SecretSpec, text: str) -> bool:
    """True when ``spec`` alone reports a secret in ``text`` (regex, group and checks)."""
    regex = re2.compile(spec.regex, RE2_QUIET)
    check = make_check(spec)
    for m in regex.finditer(text):
        start, end = m.span(spec.group)
        if start < 0 or end <= start:
            continue
        if check(text, m, text[start:end]) is not None:
            return True
    return False


def secret_rules(specs: tuple[SecretSpec, ...] | None = None) -> list[Rule]:
    """Engine rules for ``specs`` (default: the shipped file)."""
    return [
        Rule(
            detector=s.detector,
            kind=FindingKind.SECRET,
            pattern=s.regex,
            severity=s.severity,
            confidence=s.confidence,
            group=s.group,
            check=make_check(s),
            priority=s.priority,
            rule_id=s.id,
        )
        for s in (specs if specs is not None else secret_specs())
    ]


_SECRET_KEY_RE = re2.compile(
    r"(?i)(?:^|[_.\-])(?:api[_-]?key|apikey|secret|secret[_-]?key|client[_-]?secret|token|"
    r"access[_-]?token|auth[_-]?token|refresh[_-]?token|bearer|password|passwd|pwd|pw|pass|"
    r"pswd|passcode|passphrase|credentials?|private[_-]?key|signing[_-]?key|session[_-]?key|"
    r"authorization|auth|cookie|x[_-]api[_-]key)$"
)
_KEY_HINTS = ("key", "secret", "token", "pass", "pwd", "pw", "cred", "bearer", "auth", "cookie")
#: Header-like keys whose whole value is a credential, after an optional scheme word.
_AUTH_KEY_RE = re2.compile(r"(?i)^(?:proxy[_-]?)?(?:authorization|auth|cookie)$")
_AUTH_SCHEME_RE = re2.compile(
    r"(?i)^(?:bearer|basic|token|digest|apikey|api-key|sso-key|key|ntlm|negotiate|hmac|jwt)\s+"
)


def looks_like_secret_value(key: str, value: str) -> str | None:
    """For a map entry, the detector name if ``key`` names a secret and ``value`` is one.

    Returns ``"password_assignment"`` for password-like keys with a plausible value,
    ``"high_entropy_secret"`` for token/key names with a high-entropy value, else None.
    The key is matched with RE2 (it is attacker text); the cheap substring test first
    keeps the common case fast.
    """
    if len(key) > 128:
        return None
    kind = _key_kind(key)
    if kind is None:
        return None
    if not value or len(value) > 4096 or value.startswith("[REDACTED:"):
        return None
    if kind == "auth":
        cred = _AUTH_SCHEME_RE.sub("", value.strip(), count=1)
        if len(cred) < 8 or not_placeholder(cred) is None or looks_fake(cred):
            return None
        return "authorization_header" if shannon_entropy(cred) >= 2.5 else None
    if any(c.isspace() for c in value):
        return None
    if kind == "password":
        return "password_assignment" if len(value) >= 6 and password_value(value) else None
    if len(value) >= 16 and shannon_entropy(value) >= 3.3 and high_entropy_value(value):
        return "high_entropy_secret"
    return None


@functools.lru_cache(maxsize=4096)
def _key_kind(key: str) -> str | None:
    """What a map key (at most 128 characters) names: ``auth`` (a header-like key whose
    whole value is a credential), ``password``, ``token``, or None (not a secret). Keys
    repeat from event to event: at most 4096 (~1 MB) are remembered."""
    low = key.lower()
    if not any(h in low for h in _KEY_HINTS):
        return None
    if not _SECRET_KEY_RE.search(key):
        return None
    if _AUTH_KEY_RE.search(key):
        return "auth"
    if "pass" in low or "pwd" in low or low.endswith("pw"):
        return "password"
    return "token"


def key_rule(detector: str) -> Rule:
    """The rule a secret recognised by its map key (:func:`looks_like_secret_value`) is
    reported under: the whole value, ahead of the generic keyword rules."""
    return Rule(
        detector,
        FindingKind.SECRET,
        "",
        Severity.HIGH,
        0.85,
        priority=35,
        rule_id=f"{detector}_by_key",
    )
