"""Secret detectors: provider credential formats and secrets in secret-looking contexts.

The rules are data, in ``rules/secrets.yaml`` (adapted from gitleaks and detect-secrets,
rewritten for RE2). This module loads them, attaches the named post-filters
(entropy, placeholder rejection) and expands the sample templates that the tests and
the detection benchmark use. A secret hit is always redacted by the engine.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any

import re2
import yaml

from sluice.errors import ConfigError
from sluice.models.finding import FindingKind, Severity
from sluice.sanitize.base import Check, Rule, shannon_entropy

__all__ = [
    "FILTERS",
    "SecretSpec",
    "expand_template",
    "load_secret_rules",
    "rule_fires",
    "looks_like_secret_value",
    "secret_rules",
    "secret_specs",
]

_PLACEHOLDER_PREFIXES = ("${", "$(", "{{", "<", "%(", "%{", "*", "xxx", "XXX", "...", "$")
_PLACEHOLDER_WORDS = frozenset(
    {
        "null",
        "none",
        "nil",
        "true",
        "false",
        "undefined",
        "required",
        "optional",
        "string",
        "password",
        "passwd",
        "secret",
        "redacted",
        "example",
        "changeit",
        "placeholder",
        "hidden",
        "masked",
        "empty",
        "unset",
        "notset",
    }
)


def _not_placeholder(value: str) -> float | None:
    if value.startswith(_PLACEHOLDER_PREFIXES) or value.lower() in _PLACEHOLDER_WORDS:
        return None
    if set(value) <= {"*", "x", "X", "#", ".", "-", "_"}:
        return None
    return 1.0


def _password_value(value: str) -> float | None:
    if _not_placeholder(value) is None:
        return None
    # NOTE: a short all-lowercase word after "secret:" is prose ("the secret: weapons"),
    # not a credential; real passwords mix classes or are long.
    if value.isalpha() and (value.islower() or value.isupper()) and len(value) < 12:
        return None
    if value.endswith(("()", "(")) or "://" in value:
        return None
    return 1.0


def _high_entropy_value(value: str) -> float | None:
    if _not_placeholder(value) is None:
        return None
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    # NOTE: random 32-char alphanumerics lack a digit with p < 0.4 %; identifiers such as
    # getTokenFromEnvironment or your_api_key_here have none.
    if not (has_alpha and (has_digit or len(value) >= 40)):
        return None
    return 1.0


#: Named post-filters a rule may reference with ``filter:``; each returns a confidence
#: multiplier or None to drop the hit.
FILTERS: dict[str, Callable[[str], float | None]] = {
    "not_placeholder": _not_placeholder,
    "password_value": _password_value,
    "high_entropy_value": _high_entropy_value,
}


@dataclass(frozen=True, slots=True)
class SecretSpec:
    """One rule as written in the data file, with its samples."""

    id: str
    detector: str
    description: str
    regex: str
    group: int
    severity: Severity
    confidence: float
    priority: int
    entropy: float | None
    filter: str | None
    positives: tuple[str, ...]
    negatives: tuple[str, ...]
    #: One of these (lower case) must occur near the hit (gitleaks' keywords).
    keywords: tuple[str, ...] = ()
    #: RE2 allow-lists: a secret matching one of ``allow`` (or a whole match one of
    #: ``allow_match``) is not reported; nor is a secret containing a stop-word.
    allow: tuple[str, ...] = ()
    allow_match: tuple[str, ...] = ()
    stopwords: tuple[str, ...] = ()


@functools.cache
def _any_of(patterns: tuple[str, ...]) -> Any:
    """One RE2 regex matching any of ``patterns`` (None for none)."""
    if not patterns:
        return None
    return re2.compile("|".join(f"(?:{p})" for p in patterns), _QUIET)


@functools.cache
def _stop_re(words: tuple[str, ...]) -> Any:
    if not words:
        return None
    return re2.compile("(?i)" + "|".join(re2.escape(w) for w in words), _QUIET)


#: How far before / after a hit a rule's keyword may occur.
_KEYWORD_BEFORE = 256
_KEYWORD_AFTER = 64


def _make_check(spec: SecretSpec) -> Check | None:
    flt = FILTERS[spec.filter] if spec.filter else None
    min_entropy = spec.entropy
    keywords = spec.keywords
    allow = _any_of(spec.allow)
    allow_match = _any_of(spec.allow_match)
    stop = _stop_re(spec.stopwords)
    if flt is None and min_entropy is None and not keywords and allow is None and stop is None:
        if allow_match is None:
            return None
    base = spec.confidence

    def check(view: str, match: Any, value: str) -> float | None:
        if min_entropy is not None and shannon_entropy(value) < min_entropy:
            return None
        if keywords:
            s, e = match.span(0)
            window = view[max(0, s - _KEYWORD_BEFORE) : e + _KEYWORD_AFTER].lower()
            if not any(k in window for k in keywords):
                return None
        if allow is not None and allow.search(value):
            return None
        if allow_match is not None and allow_match.search(match.group(0)):
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


_QUIET = re2.Options()
_QUIET.log_errors = False


def load_secret_rules(text: str) -> list[SecretSpec]:
    """Parse a secrets rule file (YAML text) into specs.

    Raises:
        ConfigError: malformed file, unknown filter, or a regex RE2 rejects.
    """
    try:
        doc = yaml.safe_load(text)
        raw_rules = doc["rules"]
        file_allow = tuple(str(x) for x in doc.get("allow") or ())
        file_stop = tuple(str(x) for x in doc.get("stopwords") or ())
    except (yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"secret rules: not a rules file ({type(exc).__name__})") from exc
    specs: list[SecretSpec] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_rules):
        try:
            rid = str(raw["id"])
            spec = SecretSpec(
                id=rid,
                detector=str(raw.get("detector", rid)),
                description=str(raw.get("description", "")),
                regex=str(raw["regex"]),
                group=int(raw.get("group", 0)),
                severity=Severity(raw.get("severity", "high")),
                confidence=float(raw.get("confidence", 0.95)),
                priority=int(raw.get("priority", 50)),
                entropy=float(raw["entropy"]) if "entropy" in raw else None,
                filter=raw.get("filter"),
                positives=tuple(raw.get("positives") or ()),
                negatives=tuple(raw.get("negatives") or ()),
                keywords=tuple(str(k).lower() for k in raw.get("keywords") or ()),
                allow=tuple(str(x) for x in raw.get("allow") or ()) + file_allow,
                allow_match=tuple(str(x) for x in raw.get("allow_match") or ()),
                stopwords=tuple(str(x) for x in raw.get("stopwords") or ()) + file_stop,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"secret rules: rule #{i} is malformed ({exc})") from exc
        if rid in seen:
            raise ConfigError(f"secret rules: duplicate id {rid!r}")
        seen.add(rid)
        if spec.filter is not None and spec.filter not in FILTERS:
            raise ConfigError(f"secret rules: {rid}: unknown filter {spec.filter!r}")
        try:
            compiled = re2.compile(spec.regex, _QUIET)
        except re2.error as exc:
            raise ConfigError(f"secret rules: {rid}: RE2 rejects the regex ({exc})") from exc
        if spec.group > compiled.groups:
            raise ConfigError(f"secret rules: {rid}: group {spec.group} does not exist")
        for extra in (spec.allow, spec.allow_match):
            try:
                _any_of(extra)
            except re2.error as exc:
                raise ConfigError(f"secret rules: {rid}: RE2 rejects an allow-list") from exc
        specs.append(spec)
    return specs


#: The shipped rule files, in priority of authorship (hand-written first).
RULE_FILES = ("secrets.yaml", "secrets_gitleaks.yaml")


@functools.cache
def secret_specs() -> tuple[SecretSpec, ...]:
    """The shipped rules from ``sluice/sanitize/rules/secrets*.yaml`` (cached).

    Raises:
        ConfigError: two files define the same rule id.
    """
    specs: list[SecretSpec] = []
    for name in RULE_FILES:
        text = (resources.files("sluice.sanitize") / "rules" / name).read_text("utf-8")
        specs.extend(load_secret_rules(text))
    ids = [s.id for s in specs]
    if len(ids) != len(set(ids)):
        raise ConfigError("secret rules: duplicate id across rule files")
    return tuple(specs)


def rule_fires(spec: SecretSpec, text: str) -> bool:
    """True when ``spec`` alone reports a secret in ``text`` (regex, group and checks)."""
    regex = re2.compile(spec.regex, _QUIET)
    check = _make_check(spec)
    for m in regex.finditer(text):
        start, end = m.span(spec.group)
        if start < 0 or end <= start:
            continue
        if check is None or check(text, m, text[start:end]) is not None:
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
            check=_make_check(s),
            priority=s.priority,
            rule_id=s.id,
        )
        for s in (specs if specs is not None else secret_specs())
    ]


_SECRET_KEY_RE = re2.compile(
    r"(?i)(?:^|[_.\-])(?:api[_-]?key|apikey|secret|secret[_-]?key|client[_-]?secret|token|"
    r"access[_-]?token|auth[_-]?token|refresh[_-]?token|bearer|password|passwd|pwd|passphrase|"
    r"credentials?|private[_-]?key|signing[_-]?key|session[_-]?key)$"
)
_KEY_HINTS = ("key", "secret", "token", "pass", "pwd", "cred", "bearer")


def looks_like_secret_value(key: str, value: str) -> str | None:
    """For a map entry, the detector name if ``key`` names a secret and ``value`` is one.

    Returns ``"password_assignment"`` for password-like keys with a plausible value,
    ``"high_entropy_secret"`` for token/key names with a high-entropy value, else None.
    The key is matched with RE2 (it is attacker text); the cheap substring test first
    keeps the common case fast.
    """
    low = key.lower()
    if len(key) > 128 or not any(h in low for h in _KEY_HINTS):
        return None
    if not _SECRET_KEY_RE.search(key):
        return None
    if not value or len(value) > 4096 or any(c.isspace() for c in value):
        return None
    if value.startswith("[REDACTED:"):
        return None
    if "pass" in low or "pwd" in low:
        return "password_assignment" if len(value) >= 6 and _password_value(value) else None
    if len(value) >= 16 and shannon_entropy(value) >= 3.3 and _high_entropy_value(value):
        return "high_entropy_secret"
    return None


# -- sample templates ---------------------------------------------------------------

_CHARSETS = {
    "U": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "L": "abcdefghijklmnopqrstuvwxyz",
    "D": "0123456789",
    "K": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "A": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    "W": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
    "H": "0123456789abcdef",
    "B": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    "S": "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
    "N": "abcdefghijklmnopqrstuvwxyz0123456789",
    "M": "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "F": "0123456789ABCDEF",
}
# The template syntax is fixed and short; Python re is safe on this trusted data.
_TEMPLATE_RE = re.compile(r"<<([A-Z]):(\d{1,4})>>")


def expand_template(template: str, rng: random.Random) -> str:
    """Replace every ``<<X:n>>`` in ``template`` by n random characters of charset X.

    Raises:
        KeyError: unknown charset letter.
    """

    def repl(m: re.Match[str]) -> str:
        chars = _CHARSETS[m.group(1)]
        return "".join(rng.choice(chars) for _ in range(int(m.group(2))))

    return _TEMPLATE_RE.sub(repl, template)
