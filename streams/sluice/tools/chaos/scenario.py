"""One chaos run's environment: the policy file and a freshly keyed reviewers registry.

Test reviewers' keys are generated per run and live only in memory and in the run's
temporary registry file (public halves only).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sluice.codec import default_codec
from sluice.settings import Settings, load_settings
from sluice.topics import Topics

__all__ = ["CHAOS_POLICY", "REVIEWERS", "Scenario", "prepare"]

#: The policy chaos runs use: long holds that reviewers decide, short holds that expire,
#: a deny rule, and allow for the rest. ``{short_ttl}`` is filled in by :func:`prepare`.
#: (A matching deny wins over holds, so the deny leaves code publications and confidential
#: events, which the other rules hold, alone.)
CHAOS_POLICY = """
rules:
  - name: code-publish
    when: event.kind == "CODE_PUBLISH"
    hold: {{roles: [release-manager], approvals: 1, ttl: 1h, on_expiry: reject}}
  - name: confidential-short
    when: event.data_classification == "CONFIDENTIAL"
    hold: {{roles: [security], approvals: 1, ttl: {short_ttl}s, on_expiry: reject}}
  - name: deny-step-13
    when: >-
      event.step == "step-13" && event.kind != "CODE_PUBLISH"
      && event.data_classification != "CONFIDENTIAL"
    deny: {{reason: "step 13 is not allowed"}}
default:
  allow: {{}}
"""

#: reviewer id → roles of the generated registry.
REVIEWERS: dict[str, list[str]] = {
    "rm1": ["release-manager"],
    "rm2": ["release-manager"],
    "sec": ["security"],
    "mallory": ["finance"],
}


@dataclass
class Scenario:
    """One chaos run's environment: topics, generated reviewer keys, policy and registry."""

    env: dict[str, str]
    settings: Settings
    topics: Topics
    workdir: Path
    keys: dict[str, Any]  # reviewer id → Ed25519PrivateKey (in memory only)

    def decision(
        self,
        held: dict[str, Any],
        reviewer: str,
        verdict: str = "APPROVE",
        *,
        reason: str = "",
        signer: str | None = None,
        decision_id: str | None = None,
        content_hash: str | None = None,
    ) -> bytes:
        """A signed, encoded Decision for ``held`` (``signer`` other than ``reviewer`` forges)."""
        from sluice.gate.signatures import build_decision, sign_decision

        d = build_decision(
            event_id=held["event_id"],
            verdict=verdict,
            reviewer_id=reviewer,
            key_id=f"{reviewer}-k1",
            content_hash=content_hash or held["content_hash"],
            reason=reason,
            decision_id=decision_id,
        )
        d["signature"] = sign_decision(d, self.keys[signer or reviewer])
        return default_codec().encode("Decision", d)


def prepare(
    base_env: dict[str, str],
    workdir: Path,
    *,
    short_ttl_s: int = 4,
    policy: str | None = None,
    reviewers: dict[str, list[str]] | None = None,
) -> Scenario:
    """Write the policy and a freshly keyed reviewers registry under ``workdir``.

    ``base_env`` must hold SLUICE_BOOTSTRAP_SERVERS and SLUICE_TOPIC_PREFIX (and group
    ids / data dir as the caller wants). Returns the scenario with the full worker env.
    """
    import yaml
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    workdir.mkdir(parents=True, exist_ok=True)
    roles = reviewers or REVIEWERS
    keys = {rid: Ed25519PrivateKey.generate() for rid in roles}
    registry = {
        "reviewers": [
            {
                "id": rid,
                "roles": r,
                "keys": [
                    {
                        "id": f"{rid}-k1",
                        "public_key": base64.b64encode(
                            keys[rid].public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
                        ).decode(),
                        "revoked": False,
                    }
                ],
            }
            for rid, r in roles.items()
        ]
    }
    (workdir / "reviewers.yaml").write_text(yaml.safe_dump(registry))
    (workdir / "policy.yaml").write_text(policy or CHAOS_POLICY.format(short_ttl=short_ttl_s))
    env = {
        **base_env,
        "SLUICE_REVIEWERS_FILE": str(workdir / "reviewers.yaml"),
        "SLUICE_POLICY_FILE": str(workdir / "policy.yaml"),
    }
    env.setdefault("SLUICE_DATA_DIR", str(workdir / "data"))
    settings = load_settings(
        bootstrap_servers=env["SLUICE_BOOTSTRAP_SERVERS"],
        topic_prefix=env.get("SLUICE_TOPIC_PREFIX", ""),
    )
    return Scenario(env, settings, Topics.with_prefix(settings.topic_prefix), workdir, keys)
