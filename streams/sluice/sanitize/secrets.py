"""Secret detectors: provider credential formats and secrets in secret-looking contexts.

The rules are data, in ``rules/secrets.yaml`` (adapted from gitleaks and detect-secrets,
rewritten for RE2). This module loads them, attaches the named post-filters
(entropy, placeholder rejection) and expands the sample templates that the tests and
the detection benchmark use. A secret hit is always redacted by the engine.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import functools
import html
import random
import re
import urllib.parse
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from re import _parser as _sre_parse  # type: ignore[attr-defined]
from typing import Any

import re2
import yaml

from sluice.errors import ConfigError
from sluice.models.finding import FindingKind, Severity
from sluice.sanitize.base import Check, Rule, shannon_entropy

__all__ = [
    "FILTERS",
    "SecretSpec",
    "Variant",
    "decoded_variant",
    "expand_template",
    "glued_pattern",
    "load_secret_rules",
    "looks_fake",
    "looks_like_secret_value",
    "rule_fires",
    "secret_rules",
    "secret_specs",
    "secret_variants",
    "strict_secret_specs",
]

_PLACEHOLDER_PREFIXES = ("${", "$(", "{{", "<", "%(", "%{", "*", "xxx", "XXX", "...")
# NOTE: a value starting with "$" is a variable only when the rest is one identifier in a
# single case ($DB_PASSWORD, $db_pass, $1); "$ecretP4ss!" is a password (as in gitleaks).
_VARIABLE_RE = re2.compile(r"^\$(?:[A-Z_][A-Z0-9_]*|[a-z_][a-z0-9_]*|[0-9]+|\{[^}]*\}|\([^)]*\))$")
# Documentation and template values: never a live credential.
_FAKE_RE = re2.compile(
    r"(?i)example|x{4,}|\*{3,}|#{4,}|\.\.\.|\x{2026}|\[redacted|\bhere\b|abcdefghij|bcdefghijk|0123456789|1234567890|9876543210|"
    r"placeholder|changeme|change_me|your[_-]?(?:api[_-]?)?(?:key|token|secret|password)|"
    r"redacted|dummy|<[a-z_ -]+>"
)
# Shortened or masked values (docs, logs): "ops_eyJ..", "abc…", "####", "[Redacted]".
_ELIDED_RE = re2.compile(r"\.\.\.|\x{2026}|\.\.$|#{4,}")
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
        "test",
        "testing",
        "user",
        "username",
        "admin",
        "foo",
        "bar",
        "foobar",
        "demo",
        "sample",
        "placeholder",
        "hidden",
        "masked",
        "empty",
        "unset",
        "notset",
    }
)


#: Longer values (PEM blocks, JWTs) are not checked for example words: random base64
#: of that length contains "xxxx" by chance.
_FAKE_MAX_LEN = 200


def looks_fake(value: str) -> bool:
    """True for documentation, template and example values (``AKIA…EXAMPLE``, ``xxxx``).

    A marker word only makes a value fake when little else is left, or when the value
    starts or ends with "example": a real secret with "example" glued inside is still
    redacted. (Sequential runs alone do not make a value fake: scanners' own fixtures use
    ``12345678ABCDEFH…`` as real-format tokens; published example keys are allow-listed.)
    """
    chars = set(value)
    if len(chars) <= 2 or _ELIDED_RE.search(value):
        return True
    n = len(value)
    if n >= 8 and max(map(value.count, chars)) * 5 >= n * 3:
        return True  # one character is most of it: AIzaaaaaaaaaa…, 1111-1111-…
    if not _FAKE_RE.search(value):
        return False
    rest = _FAKE_RE.sub("", value)
    if sum(c.isalnum() for c in rest) < 10:
        return True
    low = value.lower()
    return low.endswith("example") or low.startswith("example")


def _not_placeholder(value: str) -> float | None:
    if value.startswith(_PLACEHOLDER_PREFIXES) or value.lower() in _PLACEHOLDER_WORDS:
        return None
    if value.endswith(">") or value.strip("<>[]{}'\"`").lower() in _PLACEHOLDER_WORDS:
        return None
    if value.startswith("$") and _VARIABLE_RE.search(value):
        return None
    if set(value) <= {"*", "x", "X", "#", ".", "-", "_"}:
        return None
    return 1.0


# Code, not a credential: snake_case / camelCase / dotted names (real_key, dbPassword,
# process.env.DB_PASS, self.password), and UI prose ("Please enter your password").
_IDENTIFIER_RE = re2.compile(
    r"^(?:[a-z]+(?:_[a-z]+)+|[A-Z]+(?:_[A-Z]+)+|[a-z]+(?:[A-Z][a-z]+)+"
    r"|[A-Z][A-Z0-9]*(?:[-_][A-Z0-9]+){2,}"
    r"|[A-Za-z_$][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+)$"
)
_PROSE_RE = re2.compile(
    r"(?i)\b(?:your|enter|please|must|should|required|invalid|incorrect|forgot|reset)\b"
    r"|environ|getenv|process\.env|\bsecrets\.|\bvars\."
)


def _password_value(value: str) -> float | None:
    if _not_placeholder(value) is None:
        return None
    # NOTE: a short all-lowercase word after "secret:" is prose ("the secret: weapons"),
    # not a credential; real passwords mix classes or are long.
    if value.isalpha() and (value.islower() or value.isupper()) and len(value) < 12:
        return None
    if value.endswith(("()", "(", ")")) or "://" in value:
        return None
    if _IDENTIFIER_RE.search(value) or _PROSE_RE.search(value):
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


_NOT_GENERIC_RE = re2.compile(
    r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"  # UUID
    r"|[0-9a-f]{40}|[0-9A-F]{40}|[0-9a-f]{64}|[0-9A-F]{64}|[0-9a-f]{128}"  # SHA-1/256/512
    r"|[0-9]+|[0-9.:/_-]+"  # numbers, dates, versions
    r"|[A-Za-z]+(?:[._-][A-Za-z]+)*"  # identifiers and words
    r")$|://|^/|^\\.\\.?/"
)


def _generic_value(value: str) -> float | None:
    # NOTE: the keyword+entropy fallback sees hashes, ids and paths after "key:" far more
    # often than credentials; those shapes are left to the specific rules.
    if _not_placeholder(value) is None or _NOT_GENERIC_RE.search(value):
        return None
    if not any(c.isdigit() for c in value) and len(value) < 20:
        return None
    return 1.0


#: Named post-filters a rule may reference with ``filter:``; each returns a confidence
#: multiplier or None to drop the hit.
FILTERS: dict[str, Callable[[str], float | None]] = {
    "not_placeholder": _not_placeholder,
    "password_value": _password_value,
    "high_entropy_value": _high_entropy_value,
    "generic_value": _generic_value,
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


def _make_check(spec: SecretSpec) -> Check:
    flt = FILTERS[spec.filter] if spec.filter else None
    min_entropy = spec.entropy
    keywords = spec.keywords
    allow = _any_of(spec.allow)
    allow_match = _any_of(spec.allow_match)
    stop = _stop_re(spec.stopwords)
    base = spec.confidence

    def check(view: str, match: Any, value: str) -> float | None:
        if len(value) <= _FAKE_MAX_LEN and looks_fake(value):
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


_QUIET = re2.Options()
_QUIET.log_errors = False


def _redaction_group(regex: str, group: int) -> int:
    """The group whose span is redacted: ``group``, or 0 (the whole match) when that
    group cannot hold the whole secret.

    A group inside a repetition (``([a-z0-9]{4}-){3}``) captures only its last round, and
    one inside an alternation (``(?:(?P<alg>...)|(?P<typ>...))``) only the branch taken;
    redacting it would leave the rest of the secret in the output. Such rules (ported
    from scanners where the capture is a hint, not the secret) redact the whole match.
    """
    if group == 0:
        return 0
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "possible nested set": RE2 reads it plainly
            tree = _sre_parse.parse(regex.replace("\\x60", "`"))
    except Exception:  # RE2-only syntax: keep the rule's own choice
        return group

    def walk(items: Any, risky: bool) -> bool | None:
        for op, av in items:
            name = str(op)
            if name == "SUBPATTERN":
                gid, _, _, sub = av
                if gid == group:
                    return risky
                found = walk(sub, risky)
                if found is not None:
                    return found
            elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                _lo, hi, sub = av
                found = walk(sub, risky or hi != 1)
                if found is not None:
                    return found
            elif name == "BRANCH":
                for alt in av[1]:
                    found = walk(alt, True)
                    if found is not None:
                        return found
            elif name in ("ASSERT", "ASSERT_NOT"):
                found = walk(av[1], risky)
                if found is not None:
                    return found
        return None

    return 0 if walk(tree, False) else group


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
                group=_redaction_group(str(raw["regex"]), int(raw.get("group", 0))),
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
            check=_make_check(s),
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
    low = key.lower()
    if len(key) > 128 or not any(h in low for h in _KEY_HINTS):
        return None
    if not _SECRET_KEY_RE.search(key):
        return None
    if not value or len(value) > 4096 or value.startswith("[REDACTED:"):
        return None
    if _AUTH_KEY_RE.search(key):
        cred = _AUTH_SCHEME_RE.sub("", value.strip(), count=1)
        if len(cred) < 8 or _not_placeholder(cred) is None or looks_fake(cred):
            return None
        return "authorization_header" if shannon_entropy(cred) >= 2.5 else None
    if any(c.isspace() for c in value):
        return None
    if "pass" in low or "pwd" in low or low.endswith("pw"):
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


# -- evasions: split, marked and encoded secrets ------------------------------------------
#
# An attacker who knows the formats splits a token ("ghp_abc 123…", across lines or with
# hyphens), puts a combining mark inside it, or encodes it (base64, hex, percent, HTML
# entities). ``secret_variants`` derives, from the matching view of a field, the texts in
# which those tokens are whole again; the engine matches them against the secret rules
# and maps hits back to the view. Every step is RE2 or a C-level codec on a bounded number
# of bounded tokens, so the cost stays linear in the field.

# Separator runs removed to rejoin a split token (whitespace; with hyphens in a second
# variant), and combining marks. Single character classes with Python's re: the C-level
# sub is linear and fast, which RE2's Python wrapper (a Python loop per match) is not.
# \s is str.isspace(), the same characters str.split() removes: the C-level
# "".join(view.split()) builds the variant, the regex maps positions back (on a hit only).
_WS_RUN = re.compile(r"\s+")
_WS_HYPHEN_RUN = re.compile(r"[\s\-]+")
_MARK_RUN = re.compile(
    r"[\u0300-\u036f\u0483-\u0489\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]+"
)
_ENCODED_HINT = re.compile(r"[A-Za-z0-9+/_-]{20}|%[0-9A-Fa-f]{2}|&#?[A-Za-z0-9]{1,8};")
# One pass finds base64, base64url and hex tokens (hex is a subset of the class); a
# single character class, on which Python's re is linear and cheaper per call than the
# RE2 wrapper. 20 characters: the base64 of a 15-byte secret.
_B64_TOKEN = re.compile(r"[A-Za-z0-9+/_-]{20,}={0,2}")
_PCT_TOKEN = re2.compile(r"[^\s%]*(?:%[0-9A-Fa-f]{2}[^\s%]*){3,}", _QUIET)
_ENT_TOKEN = re2.compile(r"[^\s&]*(?:&#?[A-Za-z0-9]{1,8};[^\s&]*){3,}", _QUIET)
#: At most this many encoded tokens are decoded per field (and decoded bytes in all).
MAX_DECODED_TOKENS = 32
MAX_DECODED_CHARS = 65536


@dataclass(slots=True)
class Variant:
    """A derived text and how its positions map back to the view.

    ``runs`` (removal variants): the removed (start, end) view spans, in order; a position
    in ``text`` maps to the view by adding the lengths removed before it. ``pieces``
    (decoded variants): (variant start, variant end, view start, view end) per token; a
    hit inside a piece maps to the whole encoded token.
    """

    kind: str
    text: str
    view: str = ""
    regex: Any = None
    pieces: list[tuple[int, int, int, int]] | None = None
    _vpos: list[int] | None = None
    _cum: list[int] | None = None

    def _index(self) -> tuple[list[int], list[int]]:
        """Variant position of each removed run and the length removed before it.

        Computed on the first hit only (hits are rare), in O(n); each mapping is then a
        binary search, so many hits in one field stay linear.
        """
        if self._vpos is None or self._cum is None:
            vpos: list[int] = []
            cum = [0]
            for m in self.regex.finditer(self.view):
                s, e = m.span()
                vpos.append(s - cum[-1])
                cum.append(cum[-1] + e - s)
            self._vpos, self._cum = vpos, cum
        return self._vpos, self._cum

    def view_start(self, pos: int) -> int:
        """The view position of variant position ``pos`` (for decoded text: its token's)."""
        if self.pieces is not None:
            for vs, ve, os_, _oe in self.pieces:
                if pos < ve or vs >= pos:
                    return os_
            return self.pieces[-1][2] if self.pieces else 0
        vpos, cum = self._index()
        return pos + cum[bisect.bisect_right(vpos, pos)]

    def to_view(self, start: int, end: int) -> tuple[int, int] | None:
        """The view span of variant span [start, end), or None when it needs no variant."""
        if self.pieces is not None:
            for vs, ve, os_, oe in self.pieces:
                if vs <= start < ve:
                    return os_, oe
            return None
        vpos, cum = self._index()
        k_start = bisect.bisect_right(vpos, start)
        k_end = bisect.bisect_right(vpos, end - 1)
        if k_end == k_start:
            return None  # nothing was removed inside the hit: the plain scan has it
        return start + cum[k_start], end + cum[k_end]


def _removal(kind: str, view: str, regex: Any) -> Variant | None:
    if regex is _WS_RUN:
        text = "".join(view.split())
    elif regex is _WS_HYPHEN_RUN:
        text = "".join(view.replace("-", " ").split())
    else:
        text = regex.sub("", view)
    if len(text) == len(view):
        return None
    return Variant(kind, text, view=view, regex=regex)


def _printable(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) < 8:
        return None
    bad = sum(1 for c in text if not (c.isprintable() or c in "\n\r\t"))
    return text if bad * 20 <= len(text) else None


_HEX_CHARS = "0123456789abcdefABCDEF-"


def _decode_b64(tok: str) -> str | None:
    if len(tok) < 16 or not tok.strip(_HEX_CHARS) or tok.islower() or tok.isupper():
        # short, hex / UUID (ids and hashes, decoded as hex if at all), or one case only
        # (slugs, words): base64 of text always mixes cases
        return None
    core = tok.rstrip("=")
    # hashes, ids and words are rarely valid base64 of printable text
    try:
        raw = base64.urlsafe_b64decode(
            core.replace("+", "-").replace("/", "_") + "=" * (-len(core) % 4)
        )
    except (ValueError, binascii.Error):
        return None
    return _printable(raw)


def _decode_b64_or_hex(tok: str) -> str | None:
    if len(tok) >= 20 and not tok.strip("0123456789abcdefABCDEF"):
        return _decode_hex(tok)
    return _decode_b64(tok)


def _decode_hex(tok: str) -> str | None:
    if len(tok) % 2:
        return None
    try:
        return _printable(bytes.fromhex(tok))
    except ValueError:
        return None


def _decode_pct(tok: str) -> str | None:
    if "%" not in tok:
        return None
    try:
        out = urllib.parse.unquote(tok, errors="strict")
    except UnicodeDecodeError:  # %F6 alone is not UTF-8: not an encoded key
        return None
    return out if out and out != tok else None


def _decode_entities(tok: str) -> str | None:
    out = html.unescape(tok)
    return out if out != tok else None


def decoded_variant(view: str) -> Variant | None:
    """Encoded tokens of ``view`` decoded, one per line, each mapped to its token span."""
    if not _ENCODED_HINT.search(view):
        return None
    parts: list[str] = []
    pieces: list[tuple[int, int, int, int]] = []
    pos = 0
    budget = MAX_DECODED_TOKENS
    for regex, decode, hint in (
        (_PCT_TOKEN, _decode_pct, "%"),
        (_ENT_TOKEN, _decode_entities, "&"),
        (_B64_TOKEN, _decode_b64_or_hex, None),
    ):
        if hint is not None and hint not in view:
            continue
        for m in regex.finditer(view):
            if budget <= 0 or pos >= MAX_DECODED_CHARS:
                break
            budget -= 1
            if m.end() - m.start() > 8192:
                continue
            decoded = decode(m.group(0))
            if not decoded:
                continue
            decoded = decoded[: MAX_DECODED_CHARS - pos]
            s, e = m.span()
            pieces.append((pos, pos + len(decoded), s, e))
            parts.append(decoded)
            pos += len(decoded) + 1
    if not parts:
        return None
    return Variant("decoded", "\n".join(parts), pieces=pieces)


def secret_variants(view: str) -> list[Variant]:
    """Derived texts of ``view`` in which split, marked or encoded tokens are whole."""
    out: list[Variant] = []
    split = _removal("split", view, _WS_RUN)
    if split is not None:
        out.append(split)
    if "-" in view:
        hyphen = _removal("split_hyphen", view, _WS_HYPHEN_RUN)
        if hyphen is not None and (split is None or hyphen.text != split.text):
            out.append(hyphen)
    if not view.isascii():
        marked = _removal("marked", view, _MARK_RUN)
        if marked is not None:
            out.append(marked)
    d = decoded_variant(view)
    if d is not None:
        out.append(d)
    return out


def glued_pattern(pattern: str) -> str:
    """``pattern`` without a leading word boundary, for text whose separators are gone
    (a word before the token is glued to it: "token ghp_…" becomes "tokenghp_…")."""
    for head in ("(?i)\\b", "\\b"):
        if pattern.startswith(head):
            return pattern[: len(head) - 2] + pattern[len(head) :]
    return pattern


def strict_secret_specs() -> tuple[SecretSpec, ...]:
    """The rules trusted on rejoined text: distinctive provider formats only.

    Keyword-gated and assignment-style rules would see words of prose glued together
    (``passwordis…``), so only rules with a fixed prefix and no keyword gate qualify.
    """
    return tuple(
        s
        for s in secret_specs()
        if s.priority <= 25
        and all(k in s.regex.lower() for k in s.keywords)
        and "{0,50}?" not in s.regex
        and s.filter is None
        and not s.id.startswith("private_key")
    )
