"""Post-filters for secret hits: placeholders, example values, identifiers, allow-lists.

A rule's regex finds a candidate; these decide whether it is a live credential or
documentation (``AKIA…EXAMPLE``, ``xxxx``, ``$DB_PASSWORD``, ``getTokenFromEnv``). The
named filters in :data:`FILTERS` are what a rule's ``filter:`` in ``rules/secrets*.yaml``
refers to; :func:`any_of` and :func:`stop_re` compile a rule's allow-lists and stop-words.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import re2

from sluice.sanitize.base import RE2_QUIET

__all__ = [
    "FAKE_MAX_LEN",
    "FILTERS",
    "any_of",
    "generic_value",
    "high_entropy_value",
    "looks_fake",
    "not_placeholder",
    "password_value",
    "quoted_password",
    "random_token",
    "sequential_run",
    "stop_re",
]

_PLACEHOLDER_PREFIXES = ("${{", "{{", "<", "%(", "%{", "*", "xxx", "XXX", "...", "&lt;", "#{")
# NOTE: a value starting with "$" is a variable only when the rest is one identifier in a
# single case ($DB_PASSWORD, $db_pass, $1), or one whole ${...} / $(...) reference;
# "$ecretP4ss!" and an unclosed "${Xk9p…" are passwords (as in gitleaks).
_VARIABLE_RE = re2.compile(r"^\$(?:[A-Z_][A-Z0-9_]*|[a-z_][a-z0-9_]*|[0-9]+|\{[^}]*\}|\([^)]*\))$")
# Also references: a Windows %VAR%, an upper-case $VAR or ${VAR} followed by a path
# ($BASE_URL/reset), and a command substitution cut at its first space ("$(dirname",
# "$($(cmd)"): what follows "$(" is a command name, not a password.
_REFERENCE_RE = re2.compile(
    r"^(?:%[A-Za-z_][A-Za-z0-9_]*%|\$(?:[A-Z_][A-Z0-9_]*|\{[^}]*\})/|\$\((?:\$\(|[a-z][a-z0-9_.-]*$))"
)
# Documentation and template values: never a live credential.
_FAKE_RE = re2.compile(
    r"(?i)example|x{4,}|\*{3,}|#{4,}|\.\.\.|\x{2026}|\[redacted|\bhere\b|abcdefghij|bcdefghijk|0123456789|1234567890|9876543210|"
    r"placeholder|changeme|change_me|your[_-]?(?:api[_-]?)?(?:key|token|secret|password)|"
    r"redacted|dummy|\bfake|fake(?:key|token|secret|pass)|<[a-z_ -]+>"
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
FAKE_MAX_LEN = 200


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


def _credential_tail(text: str) -> bool:
    """Whether what follows a reference prefix (``$VAR/``, ``$($(``, ``#{``, ``&lt;``,
    the inside of ``%…%``) mixes lower case, upper case and digits over 8+ characters:
    a password or token put behind the prefix, not a path, command or variable name."""
    return (
        len(text) >= 8
        and any(c.islower() for c in text)
        and any(c.isupper() for c in text)
        and any(c.isdigit() for c in text)
    )


def not_placeholder(value: str) -> float | None:
    """None for a template, variable or stock word (``${X}``, ``<token>``, ``null``), else 1.0."""
    tail = value[4:] if value.startswith("&lt;") else value[2:] if value[:2] == "#{" else ""
    if tail and _credential_tail(tail.removesuffix("}").removesuffix("&gt;")):
        return 1.0  # a real password behind a reference prefix (red team)
    if value.startswith(_PLACEHOLDER_PREFIXES) or value.lower() in _PLACEHOLDER_WORDS:
        return None
    if value.endswith(">") or value.strip("<>[]{}'\"`").lower() in _PLACEHOLDER_WORDS:
        return None
    if value.startswith("\\$"):  # an escaped "$" in code text (\$_POST) is still a variable
        value = value[1:]
    if value.startswith("$") and _VARIABLE_RE.search(value):
        return None
    ref = _REFERENCE_RE.search(value)
    if ref is not None:
        # %VAR% is all of the match: its inside; else what follows the reference
        rest = value[1:-1] if ref.end() == len(value) else value[ref.end() :]
        if not _credential_tail(rest):
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


_ROUTE_RE = re2.compile(r"^/?[a-z_.-]+(?:/[a-z_.#:-]+)+/?$")

_ALPHABET = "abcdefghijklmnopqrstuvwxyz"
#: Every run of 10 consecutive letters: "sk_abcdefghijklmnopqrstuvwxyz123" is a template.
_ALPHABET_RUNS = tuple(_ALPHABET[i : i + 10] for i in range(len(_ALPHABET) - 9))


def sequential_run(value: str) -> bool:
    """True when ``value`` holds 10 consecutive letters of the alphabet (any case)."""
    low = value.lower()
    return any(r in low for r in _ALPHABET_RUNS)


def password_value(value: str) -> float | None:
    """None unless ``value`` is plausibly a password rather than code or prose, else 1.0."""
    if not_placeholder(value) is None or sequential_run(value):
        return None
    # NOTE: a short all-lowercase word after "secret:" is prose ("the secret: weapons"),
    # not a credential; real passwords mix classes or are long.
    if value.isalpha() and (value.islower() or value.isupper()) and len(value) < 12:
        return None
    if value.endswith(("()", "(", ")")) or "://" in value:
        return None
    if _ROUTE_RE.search(value):  # a route or path of words: "cms/sites/passwords#edit"
        return None
    if _IDENTIFIER_RE.search(value) or _PROSE_RE.search(value):
        return None
    return 1.0


def quoted_password(value: str) -> float | None:
    """:func:`password_value` of a hit that keeps its quotes (``"rootpasswd"``)."""
    return password_value(value.strip("\"'`"))


def high_entropy_value(value: str) -> float | None:
    """None unless ``value`` mixes letters with digits (or is long), else 1.0."""
    if not_placeholder(value) is None or sequential_run(value):
        return None
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    # NOTE: random 32-char alphanumerics lack a digit with p < 0.4 %; identifiers such as
    # getTokenFromEnvironment or your_api_key_here have none.
    if not (has_alpha and (has_digit or len(value) >= 40)):
        return None
    return 1.0


def random_token(value: str) -> float | None:
    """None unless the body after a short ``vendor_`` / ``vendor-`` prefix looks machine-made:
    upper and lower case letters and at least two digits, no alphabet run, no words
    joined in camelCase (``getUserAccountSettings2024``)."""
    body = value.rsplit("_", 1)[-1].rsplit("-", 1)[-1]
    if sum(c.isdigit() for c in body) < 2 or body.startswith("eyJ"):
        return None  # too few digits; base64 JSON is the JWT rules' (or elided: "ops_eyJ…")
    if sum(c.isalpha() and c not in "abcdefABCDEF" for c in body) < 4:
        return None  # (mostly) hex in mixed case: a look-alike ("sgp_local_d45b6G86aBb0…")
    if not any(c.isupper() for c in body) or not any(c.islower() for c in body):
        return None
    if sequential_run(body) or _CAMEL_RE.search(body):
        return None
    return 1.0


# Three or more capitalised words in a row: code identifiers, not random tokens.
_CAMEL_RE = re2.compile(r"(?:[A-Z][a-z]{2,}){3}")


_NOT_GENERIC_RE = re2.compile(
    r"^(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"  # UUID
    r"|[0-9a-f]{40}|[0-9A-F]{40}|[0-9a-f]{64}|[0-9A-F]{64}|[0-9a-f]{128}"  # SHA-1/256/512
    r"|[0-9]+|[0-9.:/_-]+"  # numbers, dates, versions
    r"|[A-Za-z]+(?:[._-][A-Za-z]+)*"  # identifiers and words
    r")$|://|^/|^\\.\\.?/"
)


def generic_value(value: str) -> float | None:
    """None for hashes, ids, numbers, words and paths after a generic keyword, else 1.0."""
    # NOTE: the keyword+entropy fallback sees hashes, ids and paths after "key:" far more
    # often than credentials; those shapes are left to the specific rules.
    if not_placeholder(value) is None or _NOT_GENERIC_RE.search(value) or sequential_run(value):
        return None
    if not any(c.isdigit() for c in value) and len(value) < 20:
        return None
    return 1.0


#: Named post-filters a rule may reference with ``filter:``; each returns a confidence
#: multiplier or None to drop the hit.
_NRAL_RE = re2.compile(r"^(?:[a-z]{2}[0-9]{2}xx[0-9a-f]{30}|[0-9a-f]{36})NRAL$")


def azdo_pat(value: str) -> float | None:
    """An Azure DevOps PAT is 84 characters with AZDO at 76 (the regex leaves length
    to this check so that the shared RE2 set keeps no 76-state counter)."""
    return 1.0 if len(value) == 84 and value[76:80] == "AZDO" else None


def newrelic_license(value: str) -> float | None:
    """A New Relic license key: 36 hex (or region ``eu01xx`` + 30 hex), then NRAL."""
    return 1.0 if _NRAL_RE.search(value) else None


def mailchimp_key(value: str) -> float | None:
    """A Mailchimp key: exactly 32 hex before ``-us<datacenter>``."""
    return 1.0 if value.find("-us") == 32 else None


FILTERS: dict[str, Callable[[str], float | None]] = {
    "azdo_pat": azdo_pat,
    "mailchimp_key": mailchimp_key,
    "newrelic_license": newrelic_license,
    "not_placeholder": not_placeholder,
    "password_value": password_value,
    "quoted_password": quoted_password,
    "high_entropy_value": high_entropy_value,
    "generic_value": generic_value,
    "random_token": random_token,
}


@functools.cache
def any_of(patterns: tuple[str, ...]) -> Any:
    """One RE2 regex matching any of ``patterns`` (None for none)."""
    if not patterns:
        return None
    return re2.compile("|".join(f"(?:{p})" for p in patterns), RE2_QUIET)


@functools.cache
def stop_re(words: tuple[str, ...]) -> Any:
    """One case-insensitive RE2 regex matching any of ``words`` (None for none)."""
    if not words:
        return None
    return re2.compile("(?i)" + "|".join(re2.escape(w) for w in words), RE2_QUIET)
