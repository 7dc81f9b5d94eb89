"""The service key: files, formats, ids."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest

from sluice.audit.keys import (
    CheckpointSigner,
    key_id_for,
    load_public_key,
    load_public_keys,
    public_key_raw,
    verify_signature,
    write_key_pair,
)
from sluice.errors import ConfigError


def test_write_key_pair(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    signer = write_key_pair(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = CheckpointSigner.from_file(path)
    assert loaded.key_id == signer.key_id
    pub = load_public_key(tmp_path / "audit.key.pub")
    assert key_id_for(pub) == signer.key_id
    assert verify_signature(pub, loaded.sign(b"m"), b"m")
    assert not verify_signature(pub, loaded.sign(b"m"), b"n")
    with pytest.raises(ConfigError, match="exists"):
        write_key_pair(path)
    assert write_key_pair(path, force=True).key_id != signer.key_id


def test_raw_and_text_seeds(tmp_path: Path) -> None:
    seed = bytes(range(32))
    for name, content in (
        ("raw", seed),
        ("b64", base64.b64encode(seed) + b"\n"),
        ("hex", seed.hex().encode()),
    ):
        (tmp_path / name).write_bytes(content)
        signer = CheckpointSigner.from_file(tmp_path / name)
        assert signer.key_id == CheckpointSigner.from_file(tmp_path / "raw").key_id


def test_public_key_forms(tmp_path: Path) -> None:
    signer = write_key_pair(tmp_path / "k")
    raw = public_key_raw(signer.public_key)
    (tmp_path / "raw.pub").write_bytes(raw)
    (tmp_path / "b64.pub").write_text(base64.b64encode(raw).decode())
    paths = (tmp_path / "k", tmp_path / "k.pub", tmp_path / "raw.pub", tmp_path / "b64.pub")
    for p in paths:
        assert key_id_for(load_public_key(p)) == signer.key_id
    assert list(load_public_keys(paths)) == [signer.key_id]


@pytest.mark.parametrize(
    "content", [b"", b"not a key", b"-----BEGIN PRIVATE KEY-----\nxx\n", b"x" * 40000]
)
def test_bad_files_are_config_errors(tmp_path: Path, content: bytes) -> None:
    p = tmp_path / "bad"
    p.write_bytes(content)
    with pytest.raises(ConfigError) as err:
        CheckpointSigner.from_file(p)
    assert "xx" not in str(err.value)
    with pytest.raises(ConfigError):
        load_public_key(p)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        CheckpointSigner.from_file(tmp_path / "nope")
