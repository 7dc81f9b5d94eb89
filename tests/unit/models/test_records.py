"""``sluice.models.records`` against the schemas: builders, vocabularies, derived field lists."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest

from sluice.audit import trace
from sluice.audit.chain import ALL_FIELDS, LATER_FIELDS, ChainWriter, record_hash
from sluice.codec import default_codec
from sluice.emitter import prepare_event
from sluice.models import records
from sluice.models.event import event_model
from sluice.models.records import (
    AuditStage,
    DecisionSource,
    Disposition,
    ExpiryAction,
    OutcomeKind,
    PolicyEffect,
    RecordName,
    Transition,
    Verdict,
    audit_entry,
    dead_letter_record,
    event_field_names,
    event_optional_fields,
    held_event_record,
    outcome_of_held,
    outcome_record,
)
from sluice.policy.model import EVENT_FIELDS, OUTCOMES

CODEC = default_codec()
SCHEMAS = Path(__file__).resolve().parents[3] / "schemas"


def avsc(name: str) -> dict[str, Any]:
    """The schema file itself, read without sluice (what the derived lists must match)."""
    return json.loads((SCHEMAS / f"{name}.avsc").read_text(encoding="utf-8"))


def fields_of(name: str) -> list[str]:
    return [f["name"] for f in avsc(name)["fields"]]


def enum_symbols(record: str, field: str) -> list[str]:
    (f,) = [f for f in avsc(record)["fields"] if f["name"] == field]
    return list(f["type"]["symbols"])


def dummy(builder: Any) -> dict[str, Any]:
    """Call ``builder`` with a distinct dummy value per parameter, by keyword."""
    params = inspect.signature(builder).parameters
    return builder(**{name: f"v-{name}" for name in params})


# -- builders --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("builder", "schema"),
    [
        (outcome_record, "Outcome"),
        (held_event_record, "HeldEvent"),
        (dead_letter_record, "DeadLetter"),
    ],
)
def test_builder_parameters_and_keys_are_the_schema_fields_in_order(
    builder: Any, schema: str
) -> None:
    # In order: intake's hot path passes them by position.
    assert list(inspect.signature(builder).parameters) == fields_of(schema)
    rec = dummy(builder)
    assert list(rec) == fields_of(schema)
    assert all(rec[k] == f"v-{k}" for k in rec)  # each parameter lands in its own field


def test_audit_entry_parameters_are_the_settable_fields_in_schema_order() -> None:
    owned = {"chain", "seq", "prev_hash", "hash", "key_id", "signature"}
    settable = [f for f in fields_of("AuditRecord") if f not in owned and f != "stage"]
    params = list(inspect.signature(audit_entry).parameters)
    assert params == ["stage", *settable]
    rec = dummy(audit_entry)
    assert set(rec) == {"stage", *settable}
    assert all(rec[k] == f"v-{k}" for k in rec)


def test_audit_entry_leaves_out_what_only_some_records_carry() -> None:
    rec = audit_entry(AuditStage.INTAKE, Transition.INVALID, "e", reason_code="bad_magic", at=1)
    assert not {"reviewer_id", "decision_id", "producer_key_id"} & set(rec)
    # ...which the chain writer fills with nulls: the same record and hash as if given.
    w1, w2 = ChainWriter("intake:0", None), ChainWriter("intake:0", None)
    (a,) = w1.append_fields(rec)
    (b,) = w2.append_fields({**rec, "reviewer_id": None, "decision_id": None})
    assert a == b and a["hash"] == record_hash(b)
    assert "producer_key_id" in audit_entry(AuditStage.GATE, Transition.HELD, producer_key_id="k")


def _held() -> dict[str, Any]:
    return held_event_record(
        event_id="00000000-0000-4000-8000-000000000001",
        run_id="run-1",
        workflow_id="wf-1",
        kind="TOOL_CALL",
        actor_id="agent-1",
        on_behalf_of=None,
        trace_id="t-1",
        event=b"body",
        content_hash="c" * 64,
        findings=[],
        rule="needs-review",
        policy_hash="p" * 64,
        reason="why",
        risk_score=0.5,
        roles=["security"],
        approvals=1,
        on_expiry=ExpiryAction.REJECT,
        escalate_roles=[],
        escalate_ttl_ms=0,
        requirements=records.requirement_records([]),
        escalate_approvals=0,
        escalate_requirements=[],
        escalate_carry_votes=False,
        producer_key_id="pk-1",
        received_at=10,
        held_at=11,
        expires_at=99,
    )


def test_records_built_with_enum_members_encode_as_their_strings() -> None:
    held = _held()
    raw = CODEC.encode(RecordName.HELD_EVENT, held)
    back = CODEC.decode("HeldEvent", raw)
    assert back == held and type(back["on_expiry"]) is str
    out = outcome_of_held(
        back,
        outcome=OutcomeKind.REJECTED,
        source=DecisionSource.EXPIRY,
        reason="hold expired",
        reviewers=[],
        reason_code=records.ReasonCode.EXPIRY,
        decided_at=100,
    )
    plain = {**out, "outcome": "REJECTED", "source": "EXPIRY", "reason_code": "expiry"}
    assert CODEC.encode("Outcome", out) == CODEC.encode("Outcome", plain)
    decoded = CODEC.decode("Outcome", CODEC.encode("Outcome", out))
    # Not amended: the amendment fields are left out and decode as their defaults.
    assert "original_content_hash" not in out
    assert decoded == {**plain, "original_content_hash": None, "amended_fields": []}
    assert decoded["producer_key_id"] == "pk-1"
    assert (decoded["received_at"], decoded["decided_at"]) == (10, 100)


def test_audit_hash_is_the_same_with_enum_members_or_strings() -> None:
    fields = audit_entry(
        AuditStage.GATE,
        Transition.DECISION_REFUSED,
        "e-1",
        outcome=Disposition.REFUSED,
        reason_code="replay",
        at=5,
    )
    plain = {
        **fields,
        "stage": "gate",
        "transition": "decision_refused",
        "outcome": "refused",
    }
    (a,) = ChainWriter("gate:0", None).append_fields(fields)
    (b,) = ChainWriter("gate:0", None).append_fields(plain)
    assert a["hash"] == b["hash"]
    assert CODEC.encode("AuditRecord", a) == CODEC.encode("AuditRecord", b)


# -- vocabularies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("enum", "record", "field"),
    [
        (OutcomeKind, "Outcome", "outcome"),
        (DecisionSource, "Outcome", "source"),
        (Verdict, "Decision", "verdict"),
        (ExpiryAction, "HeldEvent", "on_expiry"),
    ],
)
def test_vocabularies_are_the_schema_enums(enum: Any, record: str, field: str) -> None:
    assert [m.value for m in enum] == enum_symbols(record, field)


def test_record_names_are_the_schemas() -> None:
    assert sorted(m.value for m in RecordName) == CODEC.names()
    assert sorted(p.stem for p in SCHEMAS.glob("*.avsc")) == CODEC.names()


def test_policy_effects() -> None:
    assert OUTCOMES == (PolicyEffect.ALLOW, PolicyEffect.HOLD, PolicyEffect.DENY)
    assert OUTCOMES == ("allow", "hold", "deny")


def _doc(record: str, field: str) -> str:
    (f,) = [f for f in avsc(record)["fields"] if f["name"] == field]
    return str(f["doc"])


def test_transitions_and_stages_cover_the_schema_doc() -> None:
    documented = {w.strip() for w in _doc("AuditRecord", "transition").split(",")}
    # received and assessed are documented but written by no stage today.
    assert documented - {t.value for t in Transition} <= {"received", "assessed"}
    stages = {w.strip() for w in _doc("AuditRecord", "stage").split("|")}
    assert stages == {s.value for s in AuditStage}


# -- field lists derived from the schemas ------------------------------------------------


def test_event_field_list_is_the_schema_and_the_model() -> None:
    assert event_field_names() == tuple(fields_of("WorkflowEvent"))
    assert event_field_names() == tuple(event_model().model_fields)
    assert frozenset(fields_of("WorkflowEvent")) == EVENT_FIELDS


def test_optional_event_fields_are_those_defaulting_to_null() -> None:
    expected = [f["name"] for f in avsc("WorkflowEvent")["fields"] if f.get("default", "x") is None]
    assert list(event_optional_fields()) == expected
    assert "attributes" not in expected and "kind" not in expected  # defaults, but not null
    # The emitter fills them: a minimal event encodes, every optional field null.
    minimal = {
        "workflow_id": "wf",
        "run_id": "run",
        "step": "s",
        "kind": "PROMPT",
        "actor": {"id": "a", "type": "AGENT"},
        "action": "act",
        "data_classification": "PUBLIC",
    }
    ev = CODEC.decode("WorkflowEvent", prepare_event(minimal, CODEC))
    assert all(ev[name] is None for name in expected)


def test_audit_field_lists_are_the_schema() -> None:
    assert ALL_FIELDS + LATER_FIELDS == tuple(fields_of("AuditRecord"))


def test_trace_shows_only_fields_its_records_have() -> None:
    # An allow-list on purpose (a new schema field stays hidden): check its names.
    shown = trace._SHOWN
    times = trace._TIME_FIELD
    assert set(shown) == set(times) <= {m.value for m in RecordName}
    for name, names in shown.items():
        assert set(names) <= set(fields_of(name)), name
        assert times[name] in fields_of(name)
