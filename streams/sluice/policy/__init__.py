"""The policy: YAML rules with CEL conditions → allow, hold or deny (SPEC §4).

Deny wins; otherwise every matching hold applies together; allow only when nothing
stricter matches; CEL run-time errors fail closed (``docs/policy.md``).

::

    policy = load_policy(settings.policy_file)     # None: the default shipped here
    a = policy.assess(event_dict, findings)         # Assessment(outcome, rule, hold, rules...)

See ``docs/policy.md`` for the file format and the default policy.
"""

from sluice.policy.engine import Policy
from sluice.policy.inputs import risk_score
from sluice.policy.loader import DEFAULT_POLICY, check_policy, check_policy_bytes, load_policy
from sluice.policy.model import (
    Assessment,
    HoldSpec,
    Problem,
    Requirement,
    combine_holds,
    parse_duration_ms,
)

__all__ = [
    "DEFAULT_POLICY",
    "Assessment",
    "HoldSpec",
    "Policy",
    "Problem",
    "Requirement",
    "check_policy",
    "check_policy_bytes",
    "combine_holds",
    "load_policy",
    "parse_duration_ms",
    "risk_score",
]
