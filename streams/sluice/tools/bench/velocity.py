"""What velocity rules add per event (``velocity_*`` in ``sluice bench``'s ``stages``).

In process, no Kafka: the router's work (decode for the actor id, normalize it), the
counter (``WindowCounter.observe``: count and read every window), the changelog
encoding per batch, and the policy with its velocity rules against the same policy
without them. The second Kafka hop (one more produce, fetch and transaction per batch)
is in the end-to-end figures, not here.
"""

from __future__ import annotations

import time
from typing import Any

from sluice.codec import default_codec
from sluice.policy.engine import Policy
from sluice.velocity import WindowCounter, actor_key

__all__ = ["assess_with_counts", "measure_velocity"]


def assess_with_counts(policy: Policy) -> Any:
    """``assess(event, findings)`` that counts each event first when the policy reads
    velocity (one process: the way the pure pipeline runs without Kafka)."""
    if not policy.velocity:
        return policy.assess
    counter = WindowCounter(policy.velocity)
    clock = [1_700_000_000_000]

    def assess(event: dict[str, Any], findings: Any = ()) -> Any:
        clock[0] += 1
        # 1000 actors, one event a ms: ~150 events per actor in 5 minutes.
        actor = f"bench-{clock[0] % 1000}"
        counts = counter.observe(event, clock[0], clock[0], actor=actor)
        counter.commit()
        return policy.assess(event, findings, velocity=counts)

    return assess


def _without_velocity(policy: Policy) -> Policy:
    """The same policy without its velocity rules (same compiled rules and memos)."""
    rules = [r for r in policy.rules if not r.velocity]
    return Policy(rules, policy.default, policy.hash, lists=policy.lists, limits=policy.limits)


def measure_velocity(
    policy: Policy, pairs: list[tuple[dict[str, Any], list[Any]]], actors: int = 1000
) -> dict[str, float]:
    """µs per event; empty when the policy has no velocity rule (it then costs nothing).

    ``velocity_route_us``: decode + actor key (the router, per event);
    ``velocity_count_us``: ``observe`` over ``actors`` actors;
    ``velocity_changelog_us``: the changelog records of a 500-event batch, per event;
    ``velocity_policy_us``: assess with the velocity rules minus assess without them;
    ``velocity_added_us``: the sum (what velocity adds in process);
    ``velocity_added_per_decode``: that sum over ``velocity_route_us``.
    CPU time of this process, best of 3 passes each.
    """
    if not policy.velocity:
        return {}
    codec = default_codec()
    events = []
    for i, (e, _) in enumerate(pairs):
        events.append({**e, "actor": {**e["actor"], "id": f"agent-{i % actors}"}})
    payloads = [codec.encode("WorkflowEvent", e) for e in events]
    n = len(events)
    clock = time.process_time  # CPU time of this process: less noise from other load

    def best(fn: Any) -> float:
        """µs per event, best of 3 passes."""
        times = []
        for _ in range(3):
            t = clock()
            fn()
            times.append((clock() - t) / n * 1e6)
        return min(times)

    def route() -> None:
        for b in payloads:
            actor_key(codec.decode("WorkflowEvent", b)["actor"]["id"]).encode()

    counts: list[dict[str, int | float]] = []
    now = 1_700_000_000_000

    def count() -> None:
        counter = WindowCounter(policy.velocity)
        counts.clear()
        for i, e in enumerate(events):
            counts.append(counter.observe(e, now + i, now + i))
            counter.commit()

    def changelog() -> None:
        counter = WindowCounter(policy.velocity)
        for i, e in enumerate(events):
            counter.observe(e, now + i, now + i)
            if i % 500 == 499:
                counter.drain()

    plain = _without_velocity(policy)

    def clear() -> None:
        for r in policy.rules:
            if r.memo is not None:
                r.memo.clear()

    def with_velocity() -> None:
        clear()
        for (e, f), c in zip(pairs, counts, strict=True):
            policy.assess(e, f, velocity=c)

    def without_velocity() -> None:
        clear()
        for e, f in pairs:
            plain.assess(e, f)

    route_us = best(route)
    count_us = best(count)
    changelog_us = max(0.0, best(changelog) - count_us)
    policy_us = max(0.0, best(with_velocity) - best(without_velocity))
    out = {
        "velocity_route_us": route_us,
        "velocity_count_us": count_us,
        "velocity_changelog_us": changelog_us,
        "velocity_policy_us": policy_us,
    }
    out["velocity_added_us"] = sum(out.values())
    # On a loaded machine every figure grows alike: the ratio to the router's decode
    # (about one fastavro decode, ~9 us on an idle core) travels between machines.
    out["velocity_added_per_decode"] = out["velocity_added_us"] / route_us
    return out
