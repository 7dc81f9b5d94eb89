"""The shipped deployments sign audit checkpoints by default (tamper-evident trail).

Compose generates the service key in a one-shot init service into a volume the worker
mounts; Kubernetes mounts a Secret whose creation is documented. Both point
``SLUICE_AUDIT_KEY_FILE`` at the key, which is what turns the signed checkpoints on.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "compose" / "compose.yaml"
K8S_BASE = ROOT / "deploy" / "k8s" / "base"


def _volume_of(mounts: list[str], target_dir: str) -> tuple[str, str]:
    """(source, options) of the mount whose target contains ``target_dir``."""
    for m in mounts:
        src, dst, *opts = m.split(":")
        if target_dir == dst or target_dir.startswith(dst.rstrip("/") + "/"):
            return src, ",".join(opts)
    raise AssertionError(f"nothing mounted at {target_dir}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_worker_signs_with_a_key_generated_on_first_start(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    worker = services["sluice"]
    key_file = worker["environment"]["SLUICE_AUDIT_KEY_FILE"]
    volume, opts = _volume_of(worker["volumes"], str(Path(key_file).parent))
    assert volume in compose["volumes"], "the key lives in a named volume"
    assert "ro" in opts.split(","), "the worker only reads the key"

    # The init service that writes that volume runs keygen, keeps an existing key, and
    # the worker waits until it completed.
    (init_name,) = [
        name
        for name, svc in services.items()
        if svc.get("command", [""])[0] != "run"  # the workers (plaintext, tls) read it
        and any(m.split(":")[0] == volume for m in svc.get("volumes", []))
    ]
    init = services[init_name]
    cmd = init["command"]
    assert cmd[:2] == ["audit", "keygen"] and "--if-missing" in cmd and "--force" not in cmd
    out = cmd[cmd.index("--out") + 1]
    src, init_opts = _volume_of(init["volumes"], str(Path(out).parent))
    assert src == volume and "ro" not in init_opts.split(",")
    # Same file name on both sides of the volume.
    assert Path(out).name == Path(key_file).name
    assert init["image"] == worker["image"]
    assert init.get("restart") == "no"
    dep = worker["depends_on"][init_name]
    assert dep["condition"] == "service_completed_successfully"


def test_compose_init_mounts_on_a_directory_the_image_user_owns(compose: dict[str, Any]) -> None:
    """A fresh named volume takes the owner of the image directory it is mounted on: the
    sluice user's home, so keygen (uid 10001) can write the key."""
    init = next(s for s in compose["services"].values() if "keygen" in s.get("command", []))
    dockerfile = (ROOT / "Dockerfile").read_text()
    home = dockerfile.split("--home-dir", 1)[1].split()[0]
    cmd = init["command"]
    assert str(Path(cmd[cmd.index("--out") + 1]).parent) == home


def _deployment() -> dict[str, Any]:
    kust = yaml.safe_load((K8S_BASE / "kustomization.yaml").read_text())
    for res in kust["resources"]:
        for doc in yaml.safe_load_all((K8S_BASE / res).read_text()):
            if doc and doc["kind"] == "Deployment":
                return doc
    raise AssertionError("no Deployment")


def test_k8s_worker_reads_the_audit_key_from_a_required_secret() -> None:
    pod = _deployment()["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    env = {e["name"]: e for e in c["env"]}
    path = env["SLUICE_AUDIT_KEY_FILE"]["value"]
    mount = next(m for m in c["volumeMounts"] if path.startswith(m["mountPath"].rstrip("/") + "/"))
    assert mount.get("readOnly") is True
    vol = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    secret = vol["secret"]
    assert secret.get("optional") is not True, "pods must not start unsigned"
    assert secret["defaultMode"] & 0o077 == 0
    rel = path[len(mount["mountPath"].rstrip("/")) + 1 :]
    keys = {i["key"]: i["path"] for i in secret.get("items", [])} or {rel: rel}
    assert rel in keys.values()
    # The Secret's creation is documented where operators look, with the same names.
    text = (K8S_BASE / "deployment.yaml").read_text() + (ROOT / "deploy" / "README.md").read_text()
    key_name = next(k for k, p in keys.items() if p == rel)
    assert "sluice audit keygen" in text
    assert f"create secret generic {secret['secretName']} --from-file={key_name}=" in text


def test_the_documented_keygen_writes_a_key_the_worker_loads(tmp_path: Path) -> None:
    """The command both deployments run produces what SLUICE_AUDIT_KEY_FILE expects, and
    running it again (every compose start) keeps the key."""
    from sluice.audit.keys import load_signer

    out = tmp_path / "audit.key"
    run = [sys.executable, "-m", "sluice", "audit", "keygen", "--out", str(out), "--if-missing"]
    subprocess.run(run, check=True, capture_output=True, timeout=60)
    first = load_signer(out).key_id
    subprocess.run(run, check=True, capture_output=True, timeout=60)
    assert load_signer(out).key_id == first
