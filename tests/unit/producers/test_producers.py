"""Producer authentication (sluice.producers) through the pure intake stage.

Every rejection class, attacker cases included: a tag copied onto another body, another
topic or another record key; a key id swapped; a key for one actor claiming another
(or a case, width or whitespace variant of another); truncated, repeated, non-UTF-8
headers. Registry validation: one-line errors, never key material.
"""

from __future__ import annotations

import base64
import logging
import os
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sluice.codec import default_codec
from sluice.errors import ConfigError, ErrorCode
from sluice.pipeline import Intake, IntakeResult
from sluice.producers import (
    HEADER_KEY,
    HEADER_SIG,
    ProducerRegistry,
    ProducerSigner,
    load_producers,
    producers_from_data,
    read_producer_key,
    signing_bytes,
)
from sluice.settings import load_settings
from sluice.tools.bench.events import make_events
from sluice.worker import build_intake

CODEC = default_codec()
NOW = time.time_ns() // 1_000_000
TOPIC = "workflow.events"
SECRET_A = "a-secret-for-invoice-agent-0123456789abcdef"
SECRET_OLD = "a-secret-for-a-revoked-producer-0123456789ab"
ED_PRIV = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ED_PUB_B64 = base64.b64encode(
    ED_PRIV.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
).decode()

INVOICE = ProducerSigner("invoice-agent-1", "hmac-sha256", secret=SECRET_A.encode())
DEPLOYER = ProducerSigner("deployer-1", "ed25519", private_key=ED_PRIV)
OLD = ProducerSigner("old-agent", "hmac-sha256", secret=SECRET_OLD.encode())


def fullwidth(text: str) -> str:
    """ASCII letters as their fullwidth forms (NFKC folds them back)."""
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


def _registry_data() -> dict[str, Any]:
    return {
        "producers": [
            {
                "key_id": "invoice-agent-1",
                "algorithm": "hmac-sha256",
                "secret_file": "invoice.secret",
                "actors": ["invoice-agent"],
                "workflows": ["invoices-*", "payroll"],
            },
            {
                "key_id": "deployer-1",
                "algorithm": "ed25519",
                "public_key": ED_PUB_B64,
                "actors": ["bob"],
                "workflows": ["*"],
            },
            {
                "key_id": "old-agent",
                "algorithm": "hmac-sha256",
                "secret_file": "old.secret",
                "actors": ["invoice-agent"],
                "workflows": ["*"],
                "revoked": True,
            },
        ]
    }


def _write_registry(d: Path, data: dict[str, Any] | None = None) -> Path:
    (d / "invoice.secret").write_text(SECRET_A + "\n")
    (d / "old.secret").write_text(SECRET_OLD)
    path = d / "producers.yaml"
    path.write_text(yaml.safe_dump(data or _registry_data()))
    return path


@pytest.fixture(scope="module")
def intake(tmp_path_factory: pytest.TempPathFactory) -> Intake:
    d = tmp_path_factory.mktemp("producers")
    path = _write_registry(d)
    built, _ = build_intake(
        load_settings(fingerprint_key="unit-" + "key", data_dir=str(d), producers_file=str(path))
    )
    return built


@pytest.fixture(scope="module")
def open_intake(tmp_path_factory: pytest.TempPathFactory) -> Intake:
    d = tmp_path_factory.mktemp("noauth")
    built, _ = build_intake(load_settings(fingerprint_key="unit-" + "key", data_dir=str(d)))
    return built


def _event(**over: Any) -> dict[str, Any]:
    ev = make_events(1, held_share=0.0, seed=3, now_ms=NOW)[0]
    ev.update(
        workflow_id="invoices-eu", actor={"id": "invoice-agent", "type": "AGENT", "roles": []}
    )
    ev.update(over)
    return ev


def _record(signer: ProducerSigner | None = None, **over: Any) -> tuple[bytes, bytes]:
    ev = _event(**over)
    return ev["run_id"].encode(), CODEC.encode("WorkflowEvent", ev)


def _run(
    intake: Intake,
    value: bytes,
    key: bytes | None,
    headers: list[tuple[str, Any]] | None,
    topic: str = TOPIC,
) -> IntakeResult:
    return intake.process(value, key, (topic, 0, 7), NOW, NOW, headers)


def _dlq_code(r: IntakeResult) -> str:
    assert r.outcome == "invalid", r.outcome
    dead = CODEC.decode("DeadLetter", r.value)
    assert dead["error_code"] == r.error_code
    return str(r.error_code)


# -- accepted ----------------------------------------------------------------------


@pytest.mark.parametrize("signer", [INVOICE, DEPLOYER], ids=["hmac", "ed25519"])
def test_verified_record_carries_producer_key_id(intake: Intake, signer: ProducerSigner) -> None:
    actor = "invoice-agent" if signer is INVOICE else "bob"
    key, value = _record(actor={"id": actor, "type": "AGENT", "roles": []})
    r = _run(intake, value, key, signer.headers(TOPIC, key, value))
    assert r.outcome in ("approved", "held"), r.error_code
    out = CODEC.decode("HeldEvent" if r.outcome == "held" else "Outcome", r.value)
    assert out["producer_key_id"] == signer.key_id
    assert r.audit["producer_key_id"] == signer.key_id


def test_held_event_records_producer_key_id(intake: Intake) -> None:
    key, value = _record(kind="CODE_PUBLISH", action="git.push")
    r = _run(intake, value, key, INVOICE.headers(TOPIC, key, value))
    assert r.outcome == "held"
    assert CODEC.decode("HeldEvent", r.value)["producer_key_id"] == "invoice-agent-1"


@pytest.mark.parametrize(
    "actor", ["invoice-agent", "Invoice-Agent", "invoice-agent ", fullwidth("invoice") + "-agent"]
)
def test_actor_variants_of_the_authorized_actor_pass(intake: Intake, actor: str) -> None:
    key, value = _record(actor={"id": actor, "type": "AGENT", "roles": []})
    r = _run(intake, value, key, INVOICE.headers(TOPIC, key, value))
    assert r.outcome != "invalid", r.error_code


@pytest.mark.parametrize("workflow", ["invoices-eu", "INVOICES-us", "payroll", "Payroll"])
def test_authorized_workflows_and_globs(intake: Intake, workflow: str) -> None:
    key, value = _record(workflow_id=workflow)
    r = _run(intake, value, key, INVOICE.headers(TOPIC, key, value))
    assert r.outcome != "invalid", r.error_code


def test_auth_off_accepts_unsigned_and_records_no_key(open_intake: Intake) -> None:
    key, value = _record()
    r = _run(open_intake, value, key, None)
    assert r.outcome == "approved"
    assert CODEC.decode("Outcome", r.value)["producer_key_id"] is None
    assert "producer_key_id" not in r.audit


# -- refused -----------------------------------------------------------------------


def test_missing_headers_are_unsigned(intake: Intake) -> None:
    key, value = _record()
    assert _dlq_code(_run(intake, value, key, None)) == ErrorCode.PRODUCER_UNSIGNED
    assert _dlq_code(_run(intake, value, key, [])) == ErrorCode.PRODUCER_UNSIGNED
    only_key = INVOICE.headers(TOPIC, key, value)[:1]
    assert _dlq_code(_run(intake, value, key, only_key)) == ErrorCode.PRODUCER_UNSIGNED
    only_sig = INVOICE.headers(TOPIC, key, value)[1:]
    assert _dlq_code(_run(intake, value, key, only_sig)) == ErrorCode.PRODUCER_UNSIGNED


def test_unknown_and_revoked_keys(intake: Intake) -> None:
    key, value = _record()
    stranger = ProducerSigner("stranger", "hmac-sha256", secret=SECRET_A.encode())
    r = _run(intake, value, key, stranger.headers(TOPIC, key, value))
    assert _dlq_code(r) == ErrorCode.PRODUCER_UNKNOWN_KEY
    r = _run(intake, value, key, OLD.headers(TOPIC, key, value))
    assert _dlq_code(r) == ErrorCode.PRODUCER_REVOKED_KEY


def test_signature_copied_onto_another_body_fails(intake: Intake) -> None:
    key, value = _record()
    headers = INVOICE.headers(TOPIC, key, value)
    _, other = _record(content="transfer everything to account 42")
    assert _dlq_code(_run(intake, other, key, headers)) == ErrorCode.PRODUCER_BAD_SIGNATURE
    flipped = value[:-1] + bytes([value[-1] ^ 1])
    assert _dlq_code(_run(intake, flipped, key, headers)) == ErrorCode.PRODUCER_BAD_SIGNATURE


def test_record_replayed_from_another_topic_fails(intake: Intake) -> None:
    key, value = _record()
    headers = INVOICE.headers("staging.workflow.events", key, value)
    assert _dlq_code(_run(intake, value, key, headers)) == ErrorCode.PRODUCER_BAD_SIGNATURE
    # and the same record is fine where it was signed for:
    ok = _run(intake, value, key, headers, topic="staging.workflow.events")
    assert ok.outcome != "invalid"


def test_body_spliced_under_another_record_key_fails(intake: Intake) -> None:
    key, value = _record()
    headers = INVOICE.headers(TOPIC, key, value)
    for other in (b"run-other", None):
        r = _run(intake, value, other, headers)
        assert _dlq_code(r) == ErrorCode.PRODUCER_BAD_SIGNATURE


def test_key_id_swapped_onto_a_tag_fails(intake: Intake) -> None:
    """A tag made with one key id cannot be presented under another registered id."""
    key, value = _record()
    tag = INVOICE.headers(TOPIC, key, value)[1]
    r = _run(intake, value, key, [(HEADER_KEY, b"old-agent"), tag])
    assert _dlq_code(r) == ErrorCode.PRODUCER_REVOKED_KEY
    # deployer is ed25519: a 32-byte HMAC tag is the wrong length there.
    r = _run(intake, value, key, [(HEADER_KEY, b"deployer-1"), tag])
    assert _dlq_code(r) == ErrorCode.PRODUCER_MALFORMED


def test_forged_hmac_with_wrong_secret_fails(intake: Intake) -> None:
    key, value = _record()
    forger = ProducerSigner("invoice-agent-1", "hmac-sha256", secret=b"x" * 40)
    r = _run(intake, value, key, forger.headers(TOPIC, key, value))
    assert _dlq_code(r) == ErrorCode.PRODUCER_BAD_SIGNATURE


@pytest.mark.parametrize(
    "claimed",
    ["bob", "Bob", "bob ", " BOB", fullwidth("BOB"), "b\u200bob", "\u202ebob"],
)
def test_key_for_one_actor_cannot_claim_another(intake: Intake, claimed: str) -> None:
    """invoice-agent's valid key, actor set to (a variant of) bob: refused."""
    key, value = _record(actor={"id": claimed, "type": "HUMAN", "roles": []})
    r = _run(intake, value, key, INVOICE.headers(TOPIC, key, value))
    assert _dlq_code(r) == ErrorCode.PRODUCER_NOT_AUTHORIZED
    dead = CODEC.decode("DeadLetter", r.value)
    assert "actor" in dead["detail"]


@pytest.mark.parametrize("workflow", ["deploy-prod", "xinvoices-eu", "payroll2", "invoices"])
def test_workflow_outside_the_key_is_refused(intake: Intake, workflow: str) -> None:
    key, value = _record(workflow_id=workflow)
    r = _run(intake, value, key, INVOICE.headers(TOPIC, key, value))
    assert _dlq_code(r) == ErrorCode.PRODUCER_NOT_AUTHORIZED


def _tag_b64(key: bytes, value: bytes) -> bytes:
    return INVOICE.headers(TOPIC, key, value)[1][1]


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(
            lambda t: [(HEADER_KEY, b"invoice-agent-1"), (HEADER_SIG, t[:20])], id="truncated-b64"
        ),
        pytest.param(
            lambda t: [
                (HEADER_KEY, b"invoice-agent-1"),
                (HEADER_SIG, base64.b64encode(base64.b64decode(t)[:31])),
            ],
            id="truncated-tag",
        ),
        pytest.param(
            lambda t: [(HEADER_KEY, b"invoice-agent-1"), (HEADER_SIG, b"")], id="empty-sig"
        ),
        pytest.param(
            lambda t: [(HEADER_KEY, b"invoice-agent-1"), (HEADER_SIG, None)], id="null-sig"
        ),
        pytest.param(lambda t: [(HEADER_KEY, b"\xff\xfeinv"), (HEADER_SIG, t)], id="non-utf8-key"),
        pytest.param(
            lambda t: [(HEADER_KEY, (fullwidth("i") + "nvoice-agent-1").encode()), (HEADER_SIG, t)],
            id="fullwidth-key",
        ),
        pytest.param(lambda t: [(HEADER_KEY, b""), (HEADER_SIG, t)], id="empty-key"),
        pytest.param(
            lambda t: [(HEADER_KEY, b"invoice-agent-1"), (HEADER_SIG, b"\xff" + t)],
            id="non-ascii-sig",
        ),
        pytest.param(
            lambda t: [(HEADER_KEY, b"invoice-agent-1"), (HEADER_SIG, t), (HEADER_SIG, t)],
            id="repeated-sig",
        ),
        pytest.param(
            lambda t: [
                (HEADER_KEY, b"deployer-1"),
                (HEADER_KEY, b"invoice-agent-1"),
                (HEADER_SIG, t),
            ],
            id="repeated-key",
        ),
        pytest.param(
            lambda t: [(HEADER_KEY, b"invoice-agent-1"), (HEADER_SIG, t[:-2] + b"B=")],
            id="non-canonical-b64",
        ),
        pytest.param(
            lambda t: [(HEADER_KEY, b"invoice-agent-1"), (HEADER_SIG, t + b"\n")],
            id="trailing-newline",
        ),
    ],
)
def test_malformed_headers(intake: Intake, headers: Any) -> None:
    key, value = _record()
    r = _run(intake, value, key, headers(_tag_b64(key, value)))
    assert _dlq_code(r) == ErrorCode.PRODUCER_MALFORMED


def test_dlq_and_logs_never_show_secrets_or_tags(
    intake: Intake, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key, value = _record()
    tag = _tag_b64(key, value)
    for headers in (
        [(HEADER_KEY, b"invoice-agent-1"), (HEADER_SIG, tag[:-4])],
        [(HEADER_KEY, SECRET_A.encode()), (HEADER_SIG, tag)],
    ):
        r = _run(intake, value[:-1] + b"\x00", key, headers)
        blob = r.value + repr(r.audit).encode()
        assert SECRET_A.encode() not in blob
        assert tag not in blob and tag[:-4] not in blob
    assert SECRET_A not in caplog.text
    assert SECRET_A not in repr(INVOICE) and SECRET_A not in repr(intake._producers)


# -- signing bytes -------------------------------------------------------------------


def test_signing_bytes_are_injective_at_field_boundaries() -> None:
    assert signing_bytes("k", "ab", b"c", b"v") != signing_bytes("k", "a", b"bc", b"v")
    assert signing_bytes("k", "t", None, b"v") != signing_bytes("k", "t", b"", b"v")
    assert signing_bytes("ka", "t", b"", b"v") != signing_bytes("k", "at", b"", b"v")
    assert signing_bytes("k", "t", b"x", b"v").startswith(b"sluice.producer.v1\n")


def test_documented_format_reproduced_without_sluice() -> None:
    """A client in any language: this is everything it needs (README, header format)."""
    import hashlib
    import hmac
    import struct

    key, value, topic = b"run-1", b"\xc3\x01payload", "workflow.events"
    kid = b"invoice-agent-1"
    msg = (
        b"sluice.producer.v1\n"
        + struct.pack(">I", len(kid))
        + kid
        + struct.pack(">I", len(topic))
        + topic.encode()
        + b"\x01"
        + struct.pack(">I", len(key))
        + key
        + value
    )
    expected = base64.b64encode(hmac.new(SECRET_A.encode(), msg, hashlib.sha256).digest())
    assert INVOICE.headers(topic, key, value) == [(HEADER_KEY, kid), (HEADER_SIG, expected)]


# -- registry validation ------------------------------------------------------------


def _entry(**over: Any) -> dict[str, Any]:
    e: dict[str, Any] = {
        "key_id": "k1",
        "algorithm": "hmac-sha256",
        "secret_file": "invoice.secret",
        "actors": ["a"],
        "workflows": ["*"],
    }
    e.update(over)
    return {k: v for k, v in e.items() if v is not None}


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ([], "mapping with only a 'producers' list"),
        ({"producers": []}, "non-empty list"),
        ({"producers": [_entry()], "extra": 1}, "only a 'producers' list"),
        ({"producers": [_entry(secret=SECRET_A)]}, "inline 'secret' is refused"),
        ({"producers": [_entry(actor=["a"])]}, "unknown field(s) actor"),
        ({"producers": [_entry(key_id="bad id")]}, "key_id must match"),
        ({"producers": [_entry(key_id=fullwidth("k") + "1")]}, "key_id must match"),
        ({"producers": [_entry(algorithm="hmac-md5")]}, "algorithm must be one of"),
        ({"producers": [_entry(actors=[])]}, "actors must be a non-empty list"),
        ({"producers": [_entry(actors=["\u200b"])]}, "actors must be a non-empty list"),
        ({"producers": [_entry(workflows=None)]}, "workflows must be a non-empty list"),
        ({"producers": [_entry(revoked="no")]}, "revoked must be true or false"),
        ({"producers": [_entry(secret_file="short.secret")]}, "at least 32 bytes"),
        ({"producers": [_entry(secret_file="missing.secret")]}, "cannot read secret_file"),
        ({"producers": [_entry(public_key=ED_PUB_B64)]}, "public_key is for ed25519"),
        (
            {"producers": [_entry(algorithm="ed25519", secret_file=None, public_key="nope!")]},
            "public_key is not valid base64",
        ),
        (
            {"producers": [_entry(algorithm="ed25519", public_key=ED_PUB_B64)]},
            "secret_file is for hmac-sha256",
        ),
        (
            {"producers": [_entry(), _entry(key_id="K1", secret_file="other.secret")]},
            "key ids 'k1' and 'K1' collide",
        ),
        (
            {"producers": [_entry(), _entry(key_id="k2")]},
            "share the same key material",
        ),
    ],
)
def test_registry_refuses_bad_files(tmp_path: Path, data: Any, fragment: str) -> None:
    (tmp_path / "invoice.secret").write_text(SECRET_A)
    (tmp_path / "other.secret").write_text(SECRET_OLD)
    (tmp_path / "short.secret").write_text("too-short")
    with pytest.raises(ConfigError) as info:
        producers_from_data(data, source="p.yaml", base_dir=tmp_path)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message
    assert SECRET_A not in message and SECRET_OLD not in message


def test_registry_loads_and_folds(tmp_path: Path) -> None:
    reg = load_producers(_write_registry(tmp_path))
    assert isinstance(reg, ProducerRegistry) and len(reg) == 3
    k = reg.key("invoice-agent-1")
    assert k is not None and k.may_speak_for(fullwidth("INVOICE") + "-AGENT", "Invoices-x") is None
    assert k.may_speak_for("invoice-agent", "invoices") == "workflow"
    assert k.may_speak_for(None, "payroll") == "actor"
    assert SECRET_A not in repr(k)


# -- producer key files ---------------------------------------------------------------


def test_producer_key_files_round_trip(tmp_path: Path) -> None:
    hm = tmp_path / "hmac.key"
    hm.write_text(
        yaml.safe_dump(
            {
                "format": "sluice.producer-key.v1",
                "key_id": "invoice-agent-1",
                "algorithm": "hmac-sha256",
                "secret": SECRET_A,
            }
        )
    )
    ed = tmp_path / "ed.key"
    seed = ED_PRIV.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    ed.write_text(
        yaml.safe_dump(
            {
                "format": "sluice.producer-key.v1",
                "key_id": "deployer-1",
                "algorithm": "ed25519",
                "private_key": base64.b64encode(seed).decode(),
            }
        )
    )
    for path in (hm, ed):
        os.chmod(path, 0o600)
    reg = load_producers(_write_registry(tmp_path))
    for path in (hm, ed):
        signer = read_producer_key(path)
        h = signer.headers(TOPIC, b"k", b"v")
        assert reg.authenticate(h, TOPIC, b"k", b"v").key_id == signer.key_id


def test_gate_release_keeps_producer_key_id(intake: Intake) -> None:
    """A held event released by reviewers still names the producer key on its Outcome."""
    from sluice.agents.gate import GateAgent
    from sluice.gate.quorum import Effect
    from sluice.topics import Topics

    key, value = _record(kind="CODE_PUBLISH", action="git.push")
    r = _run(intake, value, key, INVOICE.headers(TOPIC, key, value))
    assert r.outcome == "held"
    agent = GateAgent.__new__(GateAgent)  # only _outcome's collaborators are needed
    agent.codec = CODEC
    agent.topics = Topics.with_prefix("")
    effect = Effect(
        "release",
        str(r.event_id),
        {"outcome": "APPROVED", "source": "REVIEWER", "reviewers": ["carol"], "held": r.value},
    )
    topic, out = agent._outcome(effect, NOW)
    assert topic == agent.topics.approved
    assert CODEC.decode("Outcome", out)["producer_key_id"] == "invoice-agent-1"


def _crafted_batch(header_name: bytes, value: bytes, base_offset: int = 0) -> bytes:
    """A well-formed v2 batch whose one record has a header named ``header_name`` (bytes)."""
    import struct

    from aiokafka.record.default_records import DefaultRecordBatchBuilder
    from aiokafka.record.util import calc_crc32c

    placeholder = b"Q" * len(header_name)
    b = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=0,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    b.append(0, timestamp=None, key=b"k", value=value, headers=[(placeholder.decode(), b"x")])
    buf = bytearray(b.build())
    struct.pack_into(">q", buf, 0, base_offset)
    i = buf.find(placeholder)
    buf[i : i + len(header_name)] = header_name
    struct.pack_into(">I", buf, 17, calc_crc32c(bytes(buf[21:])))
    return bytes(buf)


@pytest.mark.xfail(
    strict=True,
    raises=UnicodeDecodeError,
    reason="aiokafka 0.14 decodes header names as strict UTF-8 while fetching: a record "
    "whose header name is not UTF-8 (the broker stores it) makes every getmany on its "
    "partition raise. sluice.kafka.records works around it; when this passes, drop it.",
)
def test_non_utf8_header_name_is_readable_by_the_consumer() -> None:
    """Reproducer: the record batch parser aiokafka's consumer uses, on such a record."""
    from aiokafka.record.default_records import DefaultRecordBatch

    batch = DefaultRecordBatch(_crafted_batch(b"\xff\xfe", b"v"))
    assert batch.validate_crc()  # a well-formed batch: the broker accepts and stores it
    assert [r.value for r in batch] == [b"v"]


def test_tolerant_fetch_reads_a_batch_with_a_non_utf8_header_name() -> None:
    """The fetcher's records (sluice.kafka.records): the bad batch and the next one read."""
    from aiokafka.consumer import fetcher

    import sluice.kafka  # noqa: F401 - installs the tolerant records
    from sluice.kafka.records import TolerantMemoryRecords

    assert fetcher.MemoryRecords is TolerantMemoryRecords
    data = _crafted_batch(b"\xff\xfe", b"bad", 0) + _crafted_batch(b"ok", b"good", 1)
    records = TolerantMemoryRecords(data)
    seen = []
    while records.has_next():
        batch = records.next_batch()
        assert batch.validate_crc()
        seen.extend((r.offset, r.value, r.headers) for r in batch)
    assert seen == [(0, b"bad", [("\udcff\udcfe", b"x")]), (1, b"good", [("ok", b"x")])]


def test_escaped_header_name_is_unsigned_not_a_crash(intake: Intake) -> None:
    key, value = _record()
    tag = _tag_b64(key, value)
    r = _run(intake, value, key, [("\udcff\udcfe", b"x"), (HEADER_SIG, tag)])
    assert _dlq_code(r) == ErrorCode.PRODUCER_UNSIGNED
