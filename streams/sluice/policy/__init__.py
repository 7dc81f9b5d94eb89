"""The policy: ordered YAML rules with CEL conditions → allow, hold or deny (SPEC §4).

::

    policy = load_policy(settings.policy_file)     # None: the default shipped here
    a = policy.assess(event_dict, findings)         # Assessment(outcome, rule, hold, ...)

See ``sluice/policy/README.md`` for the file format and the default policy.
"""

from sluice.policy.engine import Policy, risk_score
from sluice.policy.loader import DEFAULT_POLICY, check_policy, check_policy_bytes, load_policy
from sluice.policy.model import Assessment, HoldSpec, Problem, parse_duration_ms

__all__ = [
    "DEFAULT_POLICY",
    "Assessment",
    "HoldSpec",
    "Policy",
    "Problem",
    "check_policy",
    "check_policy_bytes",
    "load_policy",
    "parse_duration_ms",
    "risk_score",
]
