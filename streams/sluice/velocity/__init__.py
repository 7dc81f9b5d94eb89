"""Velocity rules: per-actor counts over sliding windows (``docs/velocity.md``).

:mod:`sluice.velocity.window` is the pure counter with its changelog encoding; the
Kafka stages that feed it (repartition by actor, count-then-assess) are in
:mod:`sluice.agents.velocity`.
"""

from typing import Any

from sluice.velocity.window import WindowCounter, actor_key

__all__ = ["VELOCITY_CHAIN", "WindowCounter", "actor_key", "velocity_group"]

#: Audit chain (and stage) name of intake when it runs after the repartition by actor:
#: chains ``intake-velocity:<p>``, one per partition of ``workflow.velocity.repartition``.
VELOCITY_CHAIN = "intake-velocity"


def velocity_group(settings: Any) -> str:
    """Consumer group of intake on ``workflow.velocity.repartition`` (the router keeps
    ``settings.group_id`` on ``workflow.events``)."""
    return f"{settings.group_id}-velocity"
