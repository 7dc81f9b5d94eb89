"""Prompt-injection detectors: a trained classifier, with phrase rules as a fast first pass.

- ``classifier``: logistic regression over hashed character and word n-grams, trained on
  public labelled data and shipped in the package (:mod:`sluice.sanitize.pi_classifier`,
  ``scripts/train_prompt_classifier.py``). It scores every text field of at least
  ``MIN_CHARS`` characters (the whole field and windows of it); a field at or above the
  model's threshold gets one finding whose span is the best window and whose confidence
  is the probability. It decides the score: phrase findings in a flagged field take its
  probability when it is higher.
- Phrase rules, data in ``rules/prompt_injection.yaml`` (each with positive and negative
  samples): ``instruction_override`` ("ignore ... previous instructions", "you are now
  DAN", prompt-leak requests, in ten languages), ``role_spoofing`` (fake turns and
  delimiters: ``<|im_start|>system``, ``[INST]``, ``<<SYS>>``, ``"role": "system"``),
  ``exfiltration`` (send secrets to a URL, data-carrying markdown images, ``curl`` with
  command substitution).
- ``encoded_payload``: base64, hex and rot13 text that, once decoded, matches a phrase
  rule (decoded with a size cap, re-scanned with the same RE2 set). The base64 and hex
  candidates are data too (``encoded:`` in the same file, with samples); the rot13 rules
  are the ASCII phrase patterns with their letters rotated.

When several phrase detectors hit one field, their confidence is raised to the noisy-or
``1 - prod(1 - w_i)``.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import re2
import yaml

from sluice.models.finding import FindingKind, Severity
from sluice.sanitize.base import Check, Rule
from sluice.sanitize.pi_classifier import MIN_CHARS, Verdict, load_model

__all__ = [
    "CLASSIFIER_RULE",
    "classify",
    "combine_scores",
    "decoded_injection",
    "encoded_specs",
    "load_phrase_rules",
    "phrase_specs",
    "prompt_injection_rules",
    "rot13_pattern",
]

_PI = FindingKind.PROMPT_INJECTION
_MAX_DECODE = 16 * 1024
# The base64 check wants both cases close together: base64 of text almost always has
# them; lowercase hex ids (trace ids, hashes) and words do not.
_MIXED_CASE = re.compile(r"[A-Z][A-Za-z0-9+/]{0,16}[a-z]|[a-z][A-Za-z0-9+/]{0,16}[A-Z]")


@dataclass(frozen=True, slots=True)
class PhraseSpec:
    """One rule as written in ``rules/prompt_injection.yaml``, with its samples."""

    id: str
    detector: str
    regex: str
    weight: float
    severity: Severity
    positives: tuple[str, ...]
    negatives: tuple[str, ...]
    #: Named check of an ``encoded:`` rule (``base64``, ``hex``); phrase rules have none.
    check: str | None = None


def load_phrase_rules(text: str, section: str = "rules") -> tuple[PhraseSpec, ...]:
    """Parse one section of the rule file: ``rules`` (phrases) or ``encoded``.

    Raises:
        ValueError: malformed file, duplicate id, a rule without samples, or a check
            missing from an ``encoded`` rule (or present on a phrase rule).
    """
    try:
        doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
        specs = tuple(
            PhraseSpec(
                id=str(r["id"]),
                detector=str(r["detector"]),
                regex=str(r["regex"]),
                weight=float(r["weight"]),
                severity=Severity(r.get("severity", "high")),
                positives=tuple(r.get("positives") or ()),
                negatives=tuple(r.get("negatives") or ()),
                check=str(r["check"]) if r.get("check") else None,
            )
            for r in doc[section]
        )
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"prompt_injection.yaml: {exc}") from exc
    seen: set[str] = set()
    for sp in specs:
        if sp.id in seen:
            raise ValueError(f"prompt_injection.yaml: duplicate id {sp.id}")
        seen.add(sp.id)
        if not sp.positives or not sp.negatives:
            raise ValueError(f"prompt_injection.yaml: {sp.id} needs positives and negatives")
        if section == "encoded" and sp.check not in _CHECK_NAMES:
            raise ValueError(f"prompt_injection.yaml: {sp.id}: check is one of {_CHECK_NAMES}")
        if section != "encoded" and sp.check is not None:
            raise ValueError(f"prompt_injection.yaml: {sp.id}: phrase rules take no check")
    return specs


@functools.cache
def _rule_text() -> str:
    res = resources.files("sluice.sanitize") / "rules" / "prompt_injection.yaml"
    return res.read_text("utf-8")


@functools.cache
def phrase_specs() -> tuple[PhraseSpec, ...]:
    """The shipped phrase rules (cached)."""
    return load_phrase_rules(_rule_text())


@functools.cache
def encoded_specs() -> tuple[PhraseSpec, ...]:
    """The shipped encoded-payload candidates, base64 and hex (cached)."""
    return load_phrase_rules(_rule_text(), "encoded")


def _b64_check(view: str, m: Any, value: str) -> float | None:
    # NOTE: a letters-only run is a word or identifier far more often than base64.
    if value.isalpha() and len(value) < 40:
        return None
    if _MIXED_CASE.search(value, 0, _MAX_DECODE) is None:
        return None
    raw = value[:_MAX_DECODE].rstrip("=")
    if len(raw) % 4 == 1:
        raw = raw[:-1]
    try:
        decoded = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None
    return _decoded_hit(decoded)


def _hex_check(view: str, m: Any, value: str) -> float | None:
    try:
        decoded = bytes.fromhex(value[: _MAX_DECODE - _MAX_DECODE % 2])
    except ValueError:
        return None
    return _decoded_hit(decoded)


def _decoded_hit(data: bytes) -> float | None:
    if len(data) < 12:
        return None
    text = data.decode("utf-8", "replace")
    printable = sum(c.isprintable() or c in "\n\r\t" for c in text)
    if printable < 0.85 * len(text):
        return None
    return 0.9 if decoded_injection(text) else None


#: Named checks of the ``encoded:`` rules: decode the candidate, re-scan the phrases.
_CHECK_NAMES = ("base64", "hex")


def _named_check(name: str) -> Check:
    # Looked up when the rules are built (not bound at import), as a test counts calls.
    return {"base64": _b64_check, "hex": _hex_check}[name]


@functools.cache
def _phrase_set() -> Any:
    opts = re2.Options()
    opts.max_mem = 64 << 20
    s = re2.Set.SearchSet(opts)
    for sp in phrase_specs():
        s.Add(sp.regex)
    s.Compile()
    return s


#: The rule a classifier finding is reported under (the classifier has no pattern).
CLASSIFIER_RULE = Rule("classifier", _PI, "", Severity.HIGH, 0.0, priority=25, rule_id="classifier")


def classify(view: str) -> Verdict | None:
    """The classifier's verdict on one text field when it says *injection*, else None.

    Fields shorter than :data:`~sluice.sanitize.pi_classifier.MIN_CHARS`, and ASCII
    fields of fewer than three words (ids, paths, tokens), are not scored.
    The verdict's span is the highest-scoring window and its probability the finding's
    confidence.
    """
    if len(view) < MIN_CHARS:
        return None
    if view.isascii() and view.count(" ") < 2 and "\n" not in view:
        return None  # an id, a path, a token: fewer than three words cannot instruct
    return _verdict(view)


@functools.lru_cache(maxsize=8)
def _verdict(view: str) -> Verdict | None:
    # The engine asks twice for a field that needs the slow path (once to decide that it
    # does, once while scanning it): the second answer comes from here.
    model = load_model()
    v = model.score(view)
    return v if v.probability >= model.threshold else None


def decoded_injection(text: str) -> bool:
    """True when ``text`` (already decoded) contains any prompt-injection phrase."""
    if not text:
        return False
    return _phrase_set().Match(text) is not None


def combine_scores(weights: list[float]) -> float:
    """Noisy-or of independent signal weights, in [0, 1]."""
    miss = 1.0
    for w in weights:
        miss *= 1.0 - w
    return 1.0 - miss


def prompt_injection_rules() -> list[Rule]:
    """Phrase rules plus the encoded-payload rules (base64, hex, rot13)."""
    rules = [
        Rule(sp.detector, _PI, sp.regex, sp.severity, sp.weight, priority=20, rule_id=sp.id)
        for sp in phrase_specs()
    ]
    rules += [
        Rule(
            sp.detector,
            _PI,
            sp.regex,
            sp.severity,
            sp.weight,
            check=_named_check(sp.check or ""),
            priority=30,
            rule_id=sp.id,
        )
        for sp in encoded_specs()
    ]
    # rot13: the ASCII phrase patterns themselves, letters rotated (rot13 is its own inverse,
    # so a rotated pattern matches exactly the rotated phrases).
    rules += [
        Rule(
            "encoded_payload",
            _PI,
            rot13_pattern(pattern),
            Severity.HIGH,
            min(0.9, weight),
            priority=30,
            rule_id=f"encoded_rot13_{i}",
        )
        for i, (pattern, weight) in enumerate((sp.regex, sp.weight) for sp in phrase_specs())
        if pattern.isascii()
    ]
    return rules


def rot13_pattern(pattern: str) -> str:
    """``pattern`` with its literal letters rot13-rotated; escapes, classes, flags and
    repetition counts are kept as they are."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
        elif ch == "[":
            j = i + 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 2 if pattern[j] == "\\" else 1
            out.append(_rot_class(pattern[i : j + 1]))
            i = j + 1
        elif ch == "(" and pattern.startswith("(?", i):
            j = i + 2
            while j < n and pattern[j] not in ":)":
                j += 1
            out.append(pattern[i : j + 1])
            i = j + 1
        elif ch == "{":
            j = pattern.index("}", i)
            out.append(pattern[i : j + 1])
            i = j + 1
        else:
            out.append(codecs.encode(ch, "rot13") if ch.isascii() and ch.isalpha() else ch)
            i += 1
    return "".join(out)


def _rot_class(cls: str) -> str:
    # Classes of whole letter ranges are rot13-invariant; single letters inside are rotated.
    if "-" in cls.strip("[]^").replace("\\-", ""):
        return cls
    out: list[str] = []
    i = 0
    while i < len(cls):
        if cls[i] == "\\":
            out.append(cls[i : i + 2])
            i += 2
            continue
        c = cls[i]
        out.append(codecs.encode(c, "rot13") if c.isascii() and c.isalpha() else c)
        i += 1
    return "".join(out)
