"""Intake outputs on a fixed corpus are byte-for-byte what they were before the
performance work (issue 16): outcome, topic, key, output record (sanitized event bytes,
findings, rule, reason, policy hash, hold requirements) and audit fields.

The digest was computed with the code of main before the change (commit 8ea3831, the
corpus module copied beside it), with that commit's default policy, kept as
``tests/data/policies/golden-8ea3831.yaml`` so that later edits of the shipped policy
(new rules, a new ``controls:`` section: a new policy hash) do not move it: this test
pins what the engine and the detectors do. A change to detection or to the engine that
is meant to change outputs must update it and say why.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson

from sluice.codec import default_codec
from sluice.settings import load_settings
from sluice.tools.bench.corpus import NOW_MS, mixed_corpus
from sluice.worker import build_intake

POLICY = Path(__file__).resolve().parents[1] / "data" / "policies" / "golden-8ea3831.yaml"
#: sha256 over every result of the corpus below (see module doc).
# Moved once since 8ea3831, by approve-with-amendments: the Outcome schema gained the
# optional ``amended_fields`` (and hashes) fields, so approved/rejected Outcome bytes
# carry their defaults; every other output field compared equal, decoded, on all 800.
# Moved again by issue 12's SQL/markup breadth work (h/sqlpi): 31 of 800 events gain a
# finding (29 ``js_breakout`` on events already held as active-markup, 3
# ``comment_truncation`` on events already held for injection); every outcome, topic and
# rule is unchanged (compared per event against d9c804f).
# Moved again by issue 12's prompt-injection breadth work (h/pi-quality, new classifier
# weights and threshold): 8 of 800 events, all already held for injection, gain (5) or
# re-score (3) a ``classifier`` finding; every outcome, topic and rule is unchanged
# (compared per event against fb12b32).
GOLDEN = "c92014f54e0e4a932af335c253eb1f8e233f4e42a6d3102fd0fef4761bf8970d"
#: The outcome counts behind it (a readable cross-check when the digest moves).
GOLDEN_COUNTS = {
    "approved:external-api-allowlisted": 1,
    "approved:routine": 503,
    "approved:small-invoice-known-vendor": 3,
    "held:active-markup": 28,
    "held:code-publish": 43,
    "held:confidential-data": 55,
    "held:default": 16,
    "held:external-api": 6,
    "held:injection-found": 35,
    "held:low-confidence": 7,
    "held:message-send": 8,
    "held:model-deploy": 37,
    "held:obfuscated-text": 15,
    "held:over-budget": 2,
    "held:record-update": 2,
    "held:restricted-data": 36,
    "rejected:secret-found": 3,
}


def intake_digest(n: int = 800) -> tuple[str, dict[str, int]]:
    intake, _ = build_intake(
        load_settings(fingerprint_key="golden-key", data_dir="/nonexistent", policy_file=POLICY)
    )
    codec = default_codec()
    h = hashlib.sha256()
    counts: dict[str, int] = {}
    for i, event in enumerate(mixed_corpus(n)):
        payload = codec.encode("WorkflowEvent", event)
        r = intake.process(payload, event["run_id"].encode(), ("in", 0, i), NOW_MS, NOW_MS)
        counts[f"{r.outcome}:{r.audit.get('rule')}"] = (
            counts.get(f"{r.outcome}:{r.audit.get('rule')}", 0) + 1
        )
        findings = [f.to_avro() for f in r.findings]
        for part in (
            r.outcome.encode(),
            r.topic.encode(),
            r.key or b"",
            r.value,
            orjson.dumps(r.audit, option=orjson.OPT_SORT_KEYS),
            orjson.dumps(findings, option=orjson.OPT_SORT_KEYS),
            repr(r.policy_errors).encode(),
        ):
            h.update(len(part).to_bytes(4, "big") + part)
    return h.hexdigest(), counts


def test_intake_outputs_are_unchanged() -> None:
    digest, counts = intake_digest()
    assert counts == GOLDEN_COUNTS
    assert digest == GOLDEN


if __name__ == "__main__":  # print the figures to pin
    d, c = intake_digest()
    print(repr(d))
    print(repr(dict(sorted(c.items()))))
