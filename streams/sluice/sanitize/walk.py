"""Which fields of a WorkflowEvent are scanned, how, and how changes are written back.

:func:`event_fields` walks an event into ``(location, path, text, treatment, map key)``
tuples; a *location* names where the text lives (``("top", name)``, ``("actor", "id")``,
``("role", i)``, ``("model", name)``, ``("mapkey"|"mapval", map, key)``) and
:func:`apply_changes` writes sanitized texts back by location, copying on write.
:func:`split_across_values` finds provider-format secrets split across map values.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Iterable, Iterator
from typing import Any

from sluice.sanitize.matching import Compiled, match
from sluice.sanitize.spans import Cand
from sluice.sanitize.unicode import view_is_text
from sluice.validate import TOP_LEVEL_TEXT_FIELDS

__all__ = [
    "FIELD_TREATMENTS",
    "NO_PII_REDACTION",
    "FieldRef",
    "apply_changes",
    "default_treatments",
    "event_fields",
    "split_across_values",
]

#: (location, path, text, treatment, map key for map values).
FieldRef = tuple[tuple[Any, ...], str, str, str, str | None]

#: Treatments that override the schema's ``sluice.sanitize`` (explicit ``treatments=`` win).
#: Tool and API call arguments are values a tool may put into a query: they get every
#: SQL rule (stacked queries, comment-obfuscated UNION, ...), not only the quote
#: break-out forms meant for prose, on top of every other family.
FIELD_TREATMENTS = {"arguments": "sql"}
#: Identity fields: PII there is flagged, never redacted (the gate compares them).
NO_PII_REDACTION = frozenset({"actor.id", "on_behalf_of", "workflow_id", "run_id", "trace_id"})
#: Map values longer than this in all are not checked for secrets split across values.
_CROSS_FIELD_MAX = 1 << 20


@functools.cache
def default_treatments() -> dict[str, str]:
    """Field path → treatment from the WorkflowEvent schema's ``sluice.sanitize`` attributes.

    Nested record fields are named ``actor.id``, ``model.name``; maps and arrays by
    their field name (``arguments``, ``actor.roles``).
    """
    from sluice.codec import default_codec

    out: dict[str, str] = {}

    def walk(fields: Iterable[dict[str, Any]], prefix: str) -> None:
        for f in fields:
            name = prefix + f["name"]
            treatment = f.get("sluice.sanitize")
            if isinstance(treatment, str):
                out[name] = treatment
            ftype = f["type"]
            for t in ftype if isinstance(ftype, list) else [ftype]:
                if isinstance(t, dict) and t.get("type") == "record":
                    walk(t["fields"], name + ".")

    walk(default_codec().schema("WorkflowEvent")["fields"], "")
    return out


def _treatment(treatments: dict[str, str], path: str, map_name: str | None = None) -> str:
    t = treatments.get(path)
    if t is None and map_name is not None:
        t = treatments.get(map_name)
    return t or "text"


def event_fields(event: dict[str, Any], treatments: dict[str, str]) -> Iterator[FieldRef]:
    """(location, path, text, treatment, map key for values) for every text field."""
    for name in TOP_LEVEL_TEXT_FIELDS:
        value = event.get(name)
        if isinstance(value, str):
            yield ("top", name), name, value, _treatment(treatments, name), None
    actor = event.get("actor")
    if isinstance(actor, dict):
        if isinstance(actor.get("id"), str):
            t = _treatment(treatments, "actor.id")
            yield ("actor", "id"), "actor.id", actor["id"], t, None
        roles = actor.get("roles")
        if isinstance(roles, list):
            t = _treatment(treatments, "actor.roles")
            for i, role in enumerate(roles):
                if isinstance(role, str):
                    yield ("role", i), f"actor.roles[{i}]", role, t, None
    model = event.get("model")
    if isinstance(model, dict):
        for name in ("name", "version", "provider"):
            value = model.get(name)
            if isinstance(value, str):
                path = f"model.{name}"
                yield ("model", name), path, value, _treatment(treatments, path), None
    for map_name in ("arguments", "attributes"):
        mapping = event.get(map_name)
        if not isinstance(mapping, dict):
            continue
        map_t = _treatment(treatments, map_name)
        for k, v in mapping.items():
            if not isinstance(k, str):
                continue
            # Keys get the map's treatment (a tool may interpolate them too), but are
            # never rewritten as HTML.
            key_t = "text" if map_t == "html" else map_t
            yield ("mapkey", map_name, k), f"{map_name}.{k}#key", k, key_t, None
            if isinstance(v, str):
                path = f"{map_name}.{k}"
                yield ("mapval", map_name, k), path, v, _treatment(treatments, path, map_name), k


def split_across_values(
    fields: list[FieldRef], strict: Compiled
) -> list[tuple[int, int, int, Cand]]:
    """Provider-format secrets split across consecutive map values (``a=ghp_12``,
    ``b=34…``): (field index, start, end, hit) for every piece of such a secret."""
    idxs = [
        i
        for i, (loc, _p, text, t, _k) in enumerate(fields)
        if loc[0] == "mapval" and t != "none" and text and view_is_text(text)
    ]
    if len(idxs) < 2:
        return []
    starts: list[int] = []
    pos = 0
    for i in idxs:
        starts.append(pos)
        pos += len(fields[i][2])
    joined = "".join(fields[i][2] for i in idxs)
    if len(joined) > _CROSS_FIELD_MAX or not strict.field_set.Match(joined):
        return []
    out: list[tuple[int, int, int, Cand]] = []
    for c in match(joined, strict):
        first = bisect.bisect_right(starts, c.start) - 1
        last = bisect.bisect_right(starts, c.end - 1) - 1
        if first == last:
            continue  # inside one value: the per-field scan has it
        for k in range(first, last + 1):
            lo = max(c.start, starts[k]) - starts[k]
            hi = min(c.end, starts[k] + len(fields[idxs[k]][2])) - starts[k]
            out.append((idxs[k], lo, hi, c))
    return out


def apply_changes(event: dict[str, Any], changes: dict[tuple[Any, ...], str]) -> dict[str, Any]:
    """A copy of ``event`` with ``changes`` applied; nested containers copied on write."""
    out = dict(event)
    for loc, new in changes.items():
        if loc[0] == "top":
            out[loc[1]] = new
    if any(loc[0] in ("actor", "role") for loc in changes):
        actor = dict(out["actor"])
        if ("actor", "id") in changes:
            actor["id"] = changes[("actor", "id")]
        if any(loc[0] == "role" for loc in changes):
            roles = list(actor.get("roles") or [])
            for loc, new in changes.items():
                if loc[0] == "role":
                    roles[loc[1]] = new
            actor["roles"] = roles
        out["actor"] = actor
    if any(loc[0] == "model" for loc in changes):
        model = dict(out["model"])
        for loc, new in changes.items():
            if loc[0] == "model":
                model[loc[1]] = new
        out["model"] = model
    for map_name in ("arguments", "attributes"):
        if not any(loc[0] in ("mapkey", "mapval") and loc[1] == map_name for loc in changes):
            continue
        new_map: dict[str, Any] = {}
        for k, v in out[map_name].items():
            nk = changes.get(("mapkey", map_name, k), k)
            nv = changes.get(("mapval", map_name, k), v)
            while nk in new_map:  # two keys redacted to the same placeholder
                nk += "_"
            new_map[nk] = nv
        out[map_name] = new_map
    return out
