"""``velocity.<dim>("<window>")`` in policy conditions: parse, check, rewrite.

A condition may read counts over sliding windows, all scoped to the event's actor
(the repartition key, so every count is exact across the consumer group):

- ``velocity.actor("5m")``: this actor's events in the last 5 minutes;
- ``velocity.workflow("1h")``, ``velocity.run("1h")``, ``velocity.kind("10m")``: this
  actor's events in the same workflow, the same run, of the same kind;
- ``velocity.spend("1h")``: the sum of ``cost_usd`` of this actor's events in the same
  workflow (a double).

Each count includes the event being assessed. The call is rewritten into a flat
variable (``sluice_velocity_actor_300000``) that the engine sets per event; a
``velocity`` used any other way (a variable window, ``velocity["actor"]``) is a check
error, so the set of windows to maintain is known when the policy loads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sluice.policy.analysis import mask_literals
from sluice.policy.model import parse_duration_ms

__all__ = [
    "DIMENSIONS",
    "MAX_WINDOW_MS",
    "VAR_PREFIX",
    "VelocityRef",
    "rewrite_velocity",
    "sample_value",
    "var_name",
]

#: What a window can count (see the module doc).
DIMENSIONS = ("actor", "workflow", "run", "kind", "spend")
#: Prefix of the flat variables the calls become.
VAR_PREFIX = "sluice_velocity_"
#: Longest window: state per actor grows with it.
MAX_WINDOW_MS = 24 * 3_600_000

_CALL = re.compile(r"(?<![\w.])velocity\s*\.\s*([A-Za-z_]\w*)\s*\(\s*\x00(\d+)\x00\s*\)")
_WORD = re.compile(r"(?<![\w.])velocity\b")
_PLACEHOLDER = re.compile(r"\x00(\d+)\x00")


@dataclass(frozen=True, slots=True, order=True)
class VelocityRef:
    """One ``velocity.<dim>("<window>")`` a rule reads."""

    dim: str
    window_ms: int

    @property
    def var(self) -> str:
        return var_name(self.dim, self.window_ms)


def var_name(dim: str, window_ms: int) -> str:
    """The flat CEL variable that stands for ``velocity.<dim>`` over ``window_ms``."""
    return f"{VAR_PREFIX}{dim}_{window_ms}"


def sample_value(ref: VelocityRef) -> int | float:
    """A value of the right CEL type for probing a condition (spend is a double)."""
    return 0.5 if ref.dim == "spend" else 1


def rewrite_velocity(source: str) -> tuple[str, tuple[VelocityRef, ...], list[str]]:
    """(source with the calls as flat variables, the refs, problems).

    A source that does not mention ``velocity`` comes back unchanged with no refs.
    """
    if "velocity" not in source:
        return source, (), []
    masked_lits = mask_literals(source)
    if masked_lits is None:
        return source, (), ["velocity: the condition is too complex to analyse (escapes?)"]
    masked, literals = masked_lits
    problems: list[str] = []
    refs: set[VelocityRef] = set()

    def repl(m: re.Match[str]) -> str:
        dim, lit = m.group(1), literals[int(m.group(2))][1:-1]
        if dim not in DIMENSIONS:
            problems.append(f"velocity.{dim}: unknown; use one of {', '.join(DIMENSIONS)}")
            return m.group(0)
        try:
            ms = parse_duration_ms(lit)
        except ValueError as exc:
            problems.append(f"velocity.{dim}: {exc}")
            return m.group(0)
        if ms < 1000 or ms > MAX_WINDOW_MS:
            problems.append(f"velocity.{dim}({lit!r}): a window is between 1s and 24h")
            return m.group(0)
        ref = VelocityRef(dim, ms)
        refs.add(ref)
        return ref.var

    out = _CALL.sub(repl, masked)
    if not problems and _WORD.search(out):
        problems.append(
            'velocity is only read as velocity.<dim>("<window>"), e.g. velocity.actor("5m")'
        )
    text = _PLACEHOLDER.sub(lambda m: literals[int(m.group(1))], out)
    return text, tuple(sorted(refs)), problems
