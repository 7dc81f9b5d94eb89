"""The Strimzi ACLs of the human-facing principals fit what their tools touch.

The topics are derived from the code, not restated: every ``Topics`` field a tool's
modules name (``topics.decisions``, ``Topics.with_prefix(...).audit``), split into the
ones named in a function that sends (written) and the others (read). A tool that starts
naming another topic, or stops naming one, fails here until ``kafka-users.yaml`` follows.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from sluice.settings import Settings
from sluice.topics import Topics

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "streams" / "sluice"
USERS = ROOT / "deploy" / "k8s" / "strimzi" / "kafka-users.yaml"
FIELDS = {f.name for f in dataclasses.fields(Topics)}
DEFAULT = Topics()

#: The modules behind each principal's commands (those that exist on this tree).
REVIEW_MODULES = ["cli/review.py", "review.py", "review_wait.py", "gate/queue.py"]
TRACE_MODULES = ["cli/trace.py", "audit/trace.py", "audit/topic.py"]
AUDIT_MODULES = ["cli/audit.py", "audit/topic.py", "audit/resume.py"]


def _trees(modules: list[str]) -> list[ast.AST]:
    paths = [PKG / m for m in modules if (PKG / m).is_file()]
    assert paths, modules
    return [ast.parse(p.read_text(encoding="utf-8")) for p in paths]


def _topic_fields(node: ast.AST) -> set[str]:
    """``Topics`` fields named under ``node``: ``topics.x`` or ``Topics.with_prefix(..).x``."""
    out = set()
    for n in ast.walk(node):
        if not isinstance(n, ast.Attribute) or n.attr not in FIELDS:
            continue
        v = n.value
        named = isinstance(v, ast.Name) and v.id == "topics"
        built = (
            isinstance(v, ast.Call)
            and isinstance(v.func, ast.Attribute)
            and v.func.attr == "with_prefix"
        )
        if named or built:
            out.add(n.attr)
    return out


def _sends(fn: ast.AST) -> bool:
    for n in ast.walk(fn):
        if isinstance(n, ast.Call):
            f = n.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            if name.lstrip("_").startswith(("send", "publish", "produce")):
                return True
    return False


def _read_write(modules: list[str]) -> tuple[set[str], set[str]]:
    """(topics read, topics written) by ``modules``, as default topic names."""
    read: set[str] = set()
    written: set[str] = set()
    for tree in _trees(modules):
        for fn in ast.walk(tree):
            if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                (written if _sends(fn) else read).update(_topic_fields(fn))
    return {getattr(DEFAULT, f) for f in read}, {getattr(DEFAULT, f) for f in written}


def _uses_a_group(modules: list[str]) -> bool:
    for tree in _trees(modules):
        for n in ast.walk(tree):
            if isinstance(n, ast.keyword) and n.arg == "group_id":
                return True
            if isinstance(n, ast.Attribute) and n.attr in {"group_id", "gate_group_id"}:
                return True
    return False


def _acls(user: str) -> list[dict[str, Any]]:
    for doc in yaml.safe_load_all(USERS.read_text()):
        if doc and doc["kind"] == "KafkaUser" and doc["metadata"]["name"] == user:
            acls: list[dict[str, Any]] = doc["spec"]["authorization"]["acls"]
            return acls
    pytest.fail(f"no KafkaUser {user}")


def _topic_ops(user: str) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for acl in _acls(user):
        if acl["resource"]["type"] == "topic":
            assert acl["resource"]["patternType"] == "literal"
            out.setdefault(acl["resource"]["name"], set()).update(acl["operations"])
    return out


def _groups(user: str) -> dict[str, set[str]]:
    return {
        a["resource"]["name"]: set(a["operations"])
        for a in _acls(user)
        if a["resource"]["type"] == "group"
    }


def test_read_topic_uses_no_consumer_group() -> None:
    # What makes a group ACL unnecessary for the read-only tools below.
    from sluice.kafka import reads as kafka_io

    tree = ast.parse(Path(kafka_io.__file__).read_text(encoding="utf-8"))
    fn = next(
        n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef) and n.name == "read_topic"
    )
    kws = [k for n in ast.walk(fn) if isinstance(n, ast.Call) for k in n.keywords]
    group = [k for k in kws if k.arg == "group_id"]
    assert group and all(isinstance(k.value, ast.Constant) and k.value.value is None for k in group)


def test_reviewers_acls_are_exactly_what_sluice_review_touches() -> None:
    read, written = _read_write(REVIEW_MODULES)
    assert DEFAULT.approvals in read and written == {DEFAULT.decisions}  # the derivation works
    expected = {t: {"Describe"} for t in read | written}
    for t in read:
        expected[t].add("Read")
    for t in written:
        expected[t].add("Write")
    assert _topic_ops("reviewers") == expected
    assert not _uses_a_group(REVIEW_MODULES)
    assert _groups("reviewers") == {}, "review reads without a consumer group"


def test_auditor_reads_what_audit_and_trace_read_and_writes_nothing() -> None:
    trace_read, trace_written = _read_write(TRACE_MODULES)
    audit_read, audit_written = _read_write(AUDIT_MODULES)
    assert not trace_written and not audit_written
    assert DEFAULT.audit in trace_read and DEFAULT.dlq in trace_read
    ops = _topic_ops("auditor")
    # trace reads every topic it names except the raw events topic, whose partition count
    # it only describes (to find the audit partition); audit verify|export read the audit
    # topic and only describe the others (partition counts of the chained sources). Raw
    # events are unsanitized: auditors never read them.
    from sluice.audit.trace import KEYED_ROLES

    assert "events" not in KEYED_ROLES
    # The velocity repartition topic (raw events re-keyed) is described like the events
    # topic: with velocity rules, intake's chains follow its partitions.
    described = {DEFAULT.events, DEFAULT.velocity_repartition}
    readable = (trace_read - described) | {DEFAULT.audit}
    assert {t for t, o in ops.items() if "Read" in o} == readable
    assert set(ops) == readable | audit_read
    assert all(o <= {"Read", "Describe"} for o in ops.values())
    # audit verify reads the workers' committed heads: Describe on their groups, no more.
    assert _uses_a_group(AUDIT_MODULES)
    groups = _groups("auditor")
    for group in (Settings.model_fields[k].default for k in ("group_id", "gate_group_id")):
        assert any(group.startswith(p) for p in groups), group
    assert all(o == {"Describe"} for o in groups.values())
