"""Prompt-injection detectors: a scored heuristic (no model can be downloaded at run time).

Signals, each an RE2 pattern with a weight (its confidence):

- ``instruction_override``: "ignore/disregard/forget ... previous/above ... instructions",
  "you are now DAN", "new instructions:", prompt-leak requests, and the same in French,
  Spanish, German, Italian, Portuguese, Russian, Chinese and Japanese;
- ``role_spoofing``: fake turns and delimiters (``<|im_start|>system``, ``[INST]``,
  ``<<SYS>>``, ``<system>``, ``"role": "system"``, a line starting ``System:``);
- ``exfiltration``: "send/post/upload the password/conversation ... to <url/email>",
  markdown images whose URL carries data in its query, ``curl`` with command substitution;
- ``encoded_payload``: base64, hex and rot13 text that, once decoded, matches any of the
  above (decoded with a size cap, re-scanned with the same RE2 set).

Scoring: when several signals hit one field, each finding's confidence is raised to the
combined score ``1 - prod(1 - w_i)`` (noisy-or), so one weak cue stays weak and several
agree loudly. No PyPI package ships a usable classifier inside its wheel that runs
offline at this speed, so this heuristic is what the stage uses.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import functools
from typing import Any

import re2

from sluice.models.finding import FindingKind, Severity
from sluice.sanitize.base import Rule
from sluice.sanitize.pi_classifier import MIN_CHARS, Verdict, load_model

__all__ = [
    "CLASSIFIER_RULE",
    "classify",
    "combine_scores",
    "decoded_injection",
    "prompt_injection_rules",
    "rot13_pattern",
]

_PI = FindingKind.PROMPT_INJECTION
_GAP = r"[\s\w,'\"\-]{0,40}?"
_MAX_DECODE = 16 * 1024
# A base64 run of at least ~22 characters with both cases close together: base64 of text
# almost always has them; lowercase hex ids (trace ids, hashes) and words do not.
_B64_CANDIDATE = (
    r"[A-Za-z0-9+/]{16,}(?:[A-Z][A-Za-z0-9+/]{0,16}[a-z]|[a-z][A-Za-z0-9+/]{0,16}[A-Z])"
    r"[A-Za-z0-9+/]{4,}={0,2}"
)

#: (detector, pattern, weight, severity)
_PHRASES: list[tuple[str, str, float, Severity]] = [
    (
        "instruction_override",
        r"(?i)\b(?:ignore|disregard|forget|bypass|override|overlook|neglect|skip)\b"
        + _GAP
        + r"\b(?:previous|prior|above|earlier|preceding|former|original|initial|all|any|your|"
        r"the|system|safety|developer)\b"
        + _GAP
        + r"\b(?:instructions?|prompts?|rules|directives?|guidelines|constraints|restrictions|"
        r"programming|guardrails|system\s+prompt)\b",
        0.9,
        Severity.HIGH,
    ),
    (
        "instruction_override",
        r"(?i)\byou\s+are\s+(?:now\s+)?(?:DAN\b|in\s+(?:developer|god|jailbreak)\s+mode|"
        r"jailbroken|no\s+longer\s+(?:bound|restricted|an?\s+(?:ai|assistant)))",
        0.85,
        Severity.HIGH,
    ),
    (
        "instruction_override",
        r"(?i)\b(?:new|updated|revised|real|actual)\s+(?:system\s+)?instructions?\s*:",
        0.6,
        Severity.MEDIUM,
    ),
    (
        "instruction_override",
        r"(?i)\b(?:reveal|print|show|output|repeat|leak|display|tell\s+me)\b[\s\w,'\"\-]{0,30}?"
        r"\b(?:system\s+prompt|initial\s+instructions|hidden\s+instructions|your\s+instructions|"
        r"your\s+prompt)\b",
        0.75,
        Severity.HIGH,
    ),
    (
        "instruction_override",
        r"(?i)\b(?:do\s+anything\s+now|jailbreak\s+prompt|pretend\s+(?:that\s+)?you\s+(?:are|have)"
        r"\s+no\s+(?:rules|restrictions|limits|guidelines|filters))\b",
        0.8,
        Severity.HIGH,
    ),
    # Multilingual: fr, es, de, it, pt, ru, zh, ja.
    (
        "instruction_override",
        r"(?i)\b(?:ignore[rz]?|oublie[rz]?)\s+(?:toutes\s+)?(?:les\s+|vos\s+)?instructions\s+"
        r"(?:pr[ée]c[ée]dentes|ant[ée]rieures|ci-dessus)",
        0.9,
        Severity.HIGH,
    ),
    (
        "instruction_override",
        r"(?i)\b(?:ignora|ignore|olvida|ignorar)\s+(?:todas\s+)?(?:las\s+)?instrucciones\s+"
        r"(?:anteriores|previas)",
        0.9,
        Severity.HIGH,
    ),
    (
        "instruction_override",
        r"(?i)\b(?:ignoriere|ignorieren\s+sie|vergiss|vergessen\s+sie)\s+(?:alle\s+)?"
        r"(?:vorherigen|bisherigen|obigen|vorigen)\s+(?:anweisungen|instruktionen|befehle)",
        0.9,
        Severity.HIGH,
    ),
    (
        "instruction_override",
        r"(?i)\b(?:ignora|dimentica)\s+(?:tutte\s+)?le\s+istruzioni\s+precedenti",
        0.9,
        Severity.HIGH,
    ),
    (
        "instruction_override",
        r"(?i)\b(?:ignore|ignora|esque[çc]a)\s+(?:todas\s+)?as\s+instru[çc][õo]es\s+anteriores",
        0.9,
        Severity.HIGH,
    ),
    (
        "instruction_override",
        r"(?i)(?:игнорируй(?:те)?|забудь(?:те)?)\s+(?:все\s+)?(?:предыдущие|прошлые|"
        r"предыдущих)\s+(?:инструкции|указания|инструкций)",
        0.9,
        Severity.HIGH,
    ),
    (
        "instruction_override",
        r"(?:忽略|无视|忘记)(?:之前|以上|先前|前面|上面)?(?:的)?(?:所有)?(?:指令|指示|说明|规则)",
        0.85,
        Severity.HIGH,
    ),
    (
        "instruction_override",
        r"(?:以前|前|上記)の(?:すべての)?(?:指示|命令)を(?:無視|忘れ)",
        0.85,
        Severity.HIGH,
    ),
    # Role and delimiter spoofing.
    (
        "role_spoofing",
        r"<\|(?:im_start|im_end|system|user|assistant|endoftext|start_header_id)\|>",
        0.9,
        Severity.HIGH,
    ),
    ("role_spoofing", r"\[/?INST\]|<</?SYS>>", 0.8, Severity.HIGH),
    (
        "role_spoofing",
        r"(?i)</?\s*(?:system|system_prompt|tool_result|function_results|tool_call|"
        r"instructions)\s*>",
        0.7,
        Severity.MEDIUM,
    ),
    (
        "role_spoofing",
        r"(?i)[\"']role[\"']\s*:\s*[\"'](?:system|developer)[\"']",
        0.6,
        Severity.MEDIUM,
    ),
    (
        "role_spoofing",
        r"(?im)^[ \t]*(?:#{1,4}[ \t]*)?(?:system|developer)[ \t]*(?:prompt|message|override)?"
        r"[ \t]*:[ \t]*\S",
        0.5,
        Severity.MEDIUM,
    ),
    # Exfiltration.
    (
        "exfiltration",
        r"(?i)\b(?:send|post|upload|forward|transmit|exfiltrate|leak|email|submit|copy)\b"
        r"[^.\n]{0,80}?\b(?:passwords?|credentials|api\s*keys?|secrets?|tokens?|conversation|"
        r"chat\s+history|system\s+prompt|private\s+keys?|ssh\s+keys?|env(?:ironment)?\s+variables|"
        r"\.env|cookies?|session)\b[^.\n]{0,80}?\b(?:to|at|via|into)\b[^\n]{0,40}?"
        r"(?:https?://|[A-Za-z0-9.+\-]+@[A-Za-z0-9\-]+\.|webhook)",
        0.85,
        Severity.HIGH,
    ),
    (
        "exfiltration",
        r"(?i)!\[[^\]\n]{0,200}\]\(\s*https?://[^)\s]{1,512}?\?[^)\s]{0,512}?="
        r"(?:[^)\s&]{0,64}?(?:\{|\[|%7b|%5b|\$)|[A-Za-z0-9+/=_\-]{24,})",
        0.8,
        Severity.HIGH,
    ),
    (
        "exfiltration",
        r"(?i)\b(?:curl|wget|invoke-webrequest|iwr|nc|requests\.post|fetch)\b[^\n]{0,120}?"
        r"(?:\$\(|\$\{|`)[^\n]{0,80}?(?:env|cat\s|secret|token|key|passwd|\.ssh|\.aws)",
        0.8,
        Severity.HIGH,
    ),
]


def _b64_check(view: str, m: Any, value: str) -> float | None:
    # NOTE: a letters-only run is a word or identifier far more often than base64.
    if value.isalpha() and len(value) < 40:
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


@functools.cache
def _phrase_set() -> Any:
    opts = re2.Options()
    opts.max_mem = 64 << 20
    s = re2.Set.SearchSet(opts)
    for _, pattern, _, _ in _PHRASES:
        s.Add(pattern)
    s.Compile()
    return s


#: The rule a classifier finding is reported under (the classifier has no pattern).
CLASSIFIER_RULE = Rule(
    "classifier", _PI, "", Severity.HIGH, 0.0, priority=25, rule_id="classifier"
)


def classify(view: str) -> Verdict | None:
    """The classifier's verdict on one text field when it says *injection*, else None.

    Fields shorter than :data:`~sluice.sanitize.pi_classifier.MIN_CHARS` are not scored.
    The verdict's span is the highest-scoring window and its probability the finding's
    confidence.
    """
    if len(view) < MIN_CHARS:
        return None
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
        Rule(det, _PI, pattern, sev, weight, priority=20, rule_id=f"{det}_{i}")
        for i, (det, pattern, weight, sev) in enumerate(_PHRASES)
    ]
    rules += [
        Rule(
            "encoded_payload",
            _PI,
            _B64_CANDIDATE,
            Severity.HIGH,
            0.9,
            check=_b64_check,
            priority=30,
            rule_id="encoded_base64",
        ),
        Rule(
            "encoded_payload",
            _PI,
            r"\b(?:[0-9A-Fa-f]{2}){20,}\b",
            Severity.HIGH,
            0.9,
            check=_hex_check,
            priority=30,
            rule_id="encoded_hex",
        ),
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
        for i, (_, pattern, weight, _) in enumerate(_PHRASES)
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
