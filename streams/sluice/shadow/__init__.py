"""Shadow policy: run a candidate policy beside the live one, without changing routing.

- In the worker (``SLUICE_SHADOW_POLICY_FILE``): :mod:`sluice.shadow.hook` assesses every
  event with both and sends each disagreement to ``workflow.policy.shadow`` in the
  batch's transaction, with ``sluice_shadow_disagreements_total{live,candidate}``.
- Offline (``sluice policy diff CANDIDATE --since 24h``): :mod:`sluice.shadow.replay`
  replays the sanitized events stored in the outcome and approvals topics through the
  candidate and tabulates the changes by rule (:mod:`sluice.shadow.table`).

What a disagreement is, and its record: :mod:`sluice.shadow.compare`. See
``docs/policy.md``, "Shadow policy".
"""

from sluice.shadow.compare import EFFECTS, OUTCOMES, disagreement, disagreement_record, effect
from sluice.shadow.hook import ShadowHook, ShadowPolicy, hook_for, load_shadow

__all__ = [
    "EFFECTS",
    "OUTCOMES",
    "ShadowHook",
    "ShadowPolicy",
    "disagreement",
    "disagreement_record",
    "effect",
    "hook_for",
    "load_shadow",
]
