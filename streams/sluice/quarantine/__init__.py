"""Quarantine (kill switch): signed controls that hold or reject every new event of a subject.

- :mod:`sluice.quarantine.records`: the signed ``sluice.control.v1`` record and its key.
- :mod:`sluice.quarantine.config`: who may add and lift (the policy's ``controls:``).
- :mod:`sluice.quarantine.state`: the quarantines in force, folded from controls (pure).

The worker side (follow ``workflow.controls``, audit, metrics) is
:mod:`sluice.agents.quarantine`; the operator side (publish, list) is
:mod:`sluice.quarantine.client`.
"""

from sluice.quarantine.config import QuarantineConfig, load_quarantine_config
from sluice.quarantine.records import Action, Mode, SubjectType
from sluice.quarantine.state import RULE, Applied, ControlRefusal, Controls, Quarantine

__all__ = [
    "RULE",
    "Action",
    "Applied",
    "ControlRefusal",
    "Controls",
    "Mode",
    "Quarantine",
    "QuarantineConfig",
    "SubjectType",
    "load_quarantine_config",
]
