"""Secret rule data: loading and validating ``rules/secrets*.yaml`` into specs.

The rules are data (adapted from gitleaks and detect-secrets, rewritten for RE2). This
module parses a rule file into :class:`SecretSpec` objects, rejecting what RE2 or the
filters cannot run, chooses the group a hit redacts, selects the rules trusted on
rejoined text, and expands the sample templates that the tests and the detection
benchmark use. :mod:`sluice.sanitize.secrets` turns the specs into engine rules.
"""

from __future__ import annotations

import functools
import random
import re
import warnings
from dataclasses import dataclass
from importlib import resources
from re import _parser as _sre_parse  # type: ignore[attr-defined]
from typing import Any

import re2
import yaml

from sluice.errors import ConfigError
from sluice.models.finding import Severity
from sluice.sanitize.base import RE2_QUIET
from sluice.sanitize.secrets_filters import FILTERS, any_of

__all__ = [
    "RULE_FILES",
    "SecretSpec",
    "expand_template",
    "load_secret_rules",
    "redaction_group",
    "secret_specs",
    "strict_secret_specs",
]


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


def redaction_group(regex: str, group: int) -> int:
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
            # inline flags mid-pattern ("...(?i)...", RE2 reads them) do not change the
            # structure; Python's parser rejects them, so they are dropped for the walk
            plain = re.sub(r"\(\?[imsU]+\)", "", regex.replace("\\x60", "`"))
            plain = plain.replace("\\z", "\\Z")  # RE2's end of text
            tree = _sre_parse.parse(plain)
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
                group=redaction_group(str(raw["regex"]), int(raw.get("group", 0))),
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
            compiled = re2.compile(spec.regex, RE2_QUIET)
        except re2.error as exc:
            raise ConfigError(f"secret rules: {rid}: RE2 rejects the regex ({exc})") from exc
        if spec.group > compiled.groups:
            raise ConfigError(f"secret rules: {rid}: group {spec.group} does not exist")
        for extra in (spec.allow, spec.allow_match):
            try:
                any_of(extra)
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
