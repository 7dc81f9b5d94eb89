"""Red team: velocity counting keys vs the identity fold producer authorization uses.

A producer key bound to actor ``bob`` is authorized for every id that
:func:`sluice.identity.fold_id` folds to ``bob`` (``bob`` + U+200B, ``bob `` ...); intake
accepts those ids and the sanitizer strips the invisible characters, so downstream the
events read as ``bob``. The counter must count them as ``bob`` too, else one authorized
producer spreads a burst over invisible spellings and never crosses a threshold.
"""

from __future__ import annotations

import pytest

from sluice.identity import fold_id
from sluice.policy.velocity import VelocityRef
from sluice.velocity import WindowCounter, actor_key

T0 = 1_700_000_000_000
ACTOR = VelocityRef("actor", 300_000).var

#: Spellings producer authorization treats as ``bob`` (fold_id equal).
INVISIBLE_SPELLINGS = [
    "bob\u200b",  # zero-width space
    "b\u200cob",  # zero-width non-joiner
    "bo\u00adb",  # soft hyphen
    "\u200ebob",  # left-to-right mark
    "bob\u2060",  # word joiner
    "bob\ufeff",  # BOM
    "bob ",  # trailing space
    " bob",
    "bob\u00a0",  # no-break space
    "bob\u3000",  # ideographic space
    "BOB\u200b",
]


@pytest.mark.parametrize("alias", INVISIBLE_SPELLINGS)
def test_invisible_spellings_of_an_actor_count_as_that_actor(alias: str) -> None:
    assert fold_id(alias) == fold_id("bob")  # the producer key for bob may send it
    assert actor_key(alias) == actor_key("bob")
    c = WindowCounter([VelocityRef("actor", 300_000)])
    c.observe({"actor": {"id": "bob"}}, T0, T0)
    assert c.observe({"actor": {"id": alias}}, T0, T0)[ACTOR] == 2


def test_a_burst_spread_over_invisible_spellings_is_one_actor_burst() -> None:
    c = WindowCounter([VelocityRef("actor", 300_000)])
    last = 0
    for alias in ["bob", *INVISIBLE_SPELLINGS]:
        last = int(c.observe({"actor": {"id": alias}}, T0, T0)[ACTOR])
    assert last == len(INVISIBLE_SPELLINGS) + 1
    assert len(c) == 1


# -- one actor, many runs: the changelog value must stay writable ----------------------

#: Kafka's default largest record (message.max.bytes, 1 MiB): a bigger changelog value
#: is refused by the broker, the batch's transaction aborts and is retried for ever.
KAFKA_DEFAULT_MAX_RECORD = 1_048_588


@pytest.mark.parametrize("dim", ["run", "workflow"])
def test_distinct_runs_of_one_actor_keep_its_changelog_record_small(dim: str) -> None:
    """A producer picks run ids (and workflow ids its key may use) freely: 40 000 events
    in 10 minutes, each of a new run, must not make the actor's state unwritable, and no
    run's count may be lower than the truth (the repeated run below)."""

    ref = VelocityRef(dim, 600_000)
    c = WindowCounter([ref])
    field = "run_id" if dim == "run" else "workflow_id"
    for i in range(40_000):
        e = {"actor": {"id": "bob"}, "workflow_id": "wf", "run_id": "r", field: f"x-{i:08d}"}
        c.observe(e, T0 + i * 15, T0 + i * 15)
        if i % 4000 == 0:  # one run seen again and again among them
            c.observe(
                {"actor": {"id": "bob"}, "workflow_id": "wf", "run_id": "r", field: "same"},
                T0 + i * 15,
                T0 + i * 15,
            )
    at = T0 + 40_000 * 15
    same = {"actor": {"id": "bob"}, "workflow_id": "wf", "run_id": "r", field: "same"}
    assert c.observe(same, at, at)[ref.var] >= 11  # 10 before + this one: never fewer
    ((_, value),) = c.drain()
    assert value is not None and len(value) < KAFKA_DEFAULT_MAX_RECORD // 2
