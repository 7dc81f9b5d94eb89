"""deploy/: the compose file, the Dockerfile, the Kubernetes base and the Strimzi examples.

No container engine or cluster is available here, so these check what can be checked
offline: files parse, every path they name exists, images are pinned, built-in
Kubernetes objects validate against the schemas bundled in the ``kubernetes-validate``
package, ACLs give each principal only what it needs, and the wheel the Dockerfile
installs builds and runs from a clean venv.
"""

from __future__ import annotations

import re
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest
import yaml

from sluice.topics import Topics

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE = COMPOSE_DIR / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
K8S_BASE = ROOT / "deploy" / "k8s" / "base"
STRIMZI = ROOT / "deploy" / "k8s" / "strimzi"


# -- compose -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_has_the_stack(compose: dict[str, Any]) -> None:
    assert {"kafka", "sluice", "prometheus", "alertmanager", "grafana"} <= set(compose["services"])
    kafka = compose["services"]["kafka"]["environment"]
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    assert "9464" in " ".join(compose["services"]["sluice"]["command"])


def _images(compose: dict[str, Any]) -> list[str]:
    return [s["image"] for s in compose["services"].values() if "image" in s]


def test_compose_images_are_pinned(compose: dict[str, Any]) -> None:
    images = _images(compose)
    assert len(images) >= 5
    for image in images:
        if "@sha256:" in image:
            continue
        name, sep, tag = image.rpartition(":")
        assert sep and name and "/" not in tag, f"{image} has no tag"
        assert tag != "latest", f"{image} uses latest"
        assert re.search(r"\d", tag), f"{image} tag is not a version"


def _host_paths(compose: dict[str, Any]) -> list[str]:
    paths = []
    for svc in compose["services"].values():
        build = svc.get("build")
        if isinstance(build, dict):
            paths.append(build["context"])
            paths.append(str(Path(build["context"]) / build.get("dockerfile", "Dockerfile")))
        for vol in svc.get("volumes", []):
            src = vol.split(":", 1)[0]
            if src.startswith((".", "/")):
                paths.append(src)
    return paths


def test_compose_paths_exist(compose: dict[str, Any]) -> None:
    paths = _host_paths(compose)
    assert any("rules" in p for p in paths) and any("sluice-dashboard.json" in p for p in paths)
    for p in paths:
        assert (COMPOSE_DIR / p).exists(), f"compose names {p}, which does not exist"


def test_compose_secrets_are_documented_not_committed(compose: dict[str, Any]) -> None:
    readme = (COMPOSE_DIR / "secrets" / "README.md").read_text()
    for name, spec in compose["secrets"].items():
        path = COMPOSE_DIR / spec["file"]
        assert path.parent.is_dir(), name
        assert path.name in readme, f"secrets/README.md does not say how to create {path.name}"
    ignore = (COMPOSE_DIR / "secrets" / ".gitignore").read_text().split()
    assert "*" in ignore


def test_compose_mounts_match_prometheus_and_grafana_config(compose: dict[str, Any]) -> None:
    prom = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    mounts = {v.split(":")[1] for v in compose["services"]["prometheus"]["volumes"]}
    for pattern in prom["rule_files"]:
        assert str(Path(pattern).parent) in mounts
    targets = [
        t
        for job in prom["scrape_configs"]
        if job["job_name"] == "sluice"
        for sc in job["static_configs"]
        for t in sc["targets"]
    ]
    assert targets == ["sluice:9464"]
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/sluice.yml").read_text()
    )
    dash_dir = provider["providers"][0]["options"]["path"]
    gmounts = [v.split(":")[1] for v in compose["services"]["grafana"]["volumes"]]
    assert any(m.startswith(dash_dir + "/") for m in gmounts)


# -- Dockerfile ----------------------------------------------------------------------


def test_dockerfile_builds_wheel_and_runs_non_root() -> None:
    text = DOCKERFILE.read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(froms) >= 2, "multi-stage build expected"
    for image in froms:
        assert ":" in image and not image.endswith(":latest"), image
    assert "python -m build" in text
    assert re.search(r"pip install .*\.whl", text)
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users, "no USER instruction"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert re.search(r'^ENTRYPOINT \["sluice"\]', text, re.M)
    for src in re.findall(r"^COPY (?!--from)(\S+)", text, re.M):
        assert (ROOT / src).exists(), f"Dockerfile copies missing {src}"


# -- Kubernetes ----------------------------------------------------------------------


def _docs(folder: Path) -> list[dict[str, Any]]:
    kust = yaml.safe_load((folder / "kustomization.yaml").read_text())
    out: list[dict[str, Any]] = []
    for res in kust["resources"]:
        assert (folder / res).is_file(), res
        out.extend(d for d in yaml.safe_load_all((folder / res).read_text()) if d)
    for gen in kust.get("configMapGenerator", []):
        for f in gen["files"]:
            assert (folder / f).is_file(), f
    return out


BUILTIN = {"Namespace", "ServiceAccount", "Deployment", "Service", "PodDisruptionBudget"}


def test_k8s_builtin_objects_validate_offline() -> None:
    import kubernetes_validate

    version = kubernetes_validate.latest_version()
    docs = _docs(K8S_BASE)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "ServiceMonitor", "PodDisruptionBudget"} <= kinds
    for doc in docs:
        if doc["kind"] in BUILTIN:
            kubernetes_validate.validate(doc, version, strict=True)


def test_k8s_validator_rejects_a_broken_object() -> None:
    # Guard that the validator really checks something.
    import kubernetes_validate

    deployment = next(d for d in _docs(K8S_BASE) if d["kind"] == "Deployment")
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, kubernetes_validate.latest_version(), strict=True)


def _by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind)


def test_k8s_deployment_probes_resources_and_file_secrets() -> None:
    docs = _docs(K8S_BASE)
    dep = _by_kind(docs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    secret_mounts = {
        m["mountPath"]
        for m in c["volumeMounts"]
        if any(v["name"] == m["name"] and "secret" in v for v in pod["volumes"])
    }
    env = {e["name"]: e.get("value") for e in c["env"]}
    file_vars = [k for k in env if k.endswith("_FILE") and "SECRET" not in k]
    assert {"SLUICE_SASL_PASSWORD_FILE", "SLUICE_FINGERPRINT_KEY_FILE"} <= set(file_vars)
    for name in ("SLUICE_SASL_PASSWORD_FILE", "SLUICE_FINGERPRINT_KEY_FILE", "SLUICE_SSL_CAFILE"):
        assert any(env[name].startswith(m + "/") for m in secret_mounts), name
    # No secret given inline.
    for name in env:
        assert not re.search(r"PASSWORD$|_KEY$", name), name
    # Labels line up: Deployment pods ← Service ← ServiceMonitor; PDB selects the pods.
    labels = dep["spec"]["template"]["metadata"]["labels"]
    svc = _by_kind(docs, "Service")
    assert svc["spec"]["selector"].items() <= labels.items()
    sm = _by_kind(docs, "ServiceMonitor")
    assert sm["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["endpoints"][0]["port"] == svc["spec"]["ports"][0]["name"]
    assert svc["metadata"]["name"] == "sluice"  # job="sluice" in the alert rules
    pdb = _by_kind(docs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def _writes(user: dict[str, Any]) -> set[str]:
    return {
        a["resource"]["name"]
        for a in user["spec"]["authorization"]["acls"]
        if a["resource"]["type"] == "topic" and {"Write", "All"} & set(a["operations"])
    }


def test_strimzi_topics_cover_sluice_topics() -> None:
    docs = _docs(STRIMZI)
    topics = {d["spec"]["topicName"] for d in docs if d["kind"] == "KafkaTopic"}
    t = Topics()
    expected = {
        t.events,
        t.approvals,
        t.decisions,
        t.approved,
        t.rejected,
        t.dlq,
        t.audit,
        t.gate_state,
    }
    assert expected <= topics
    for d in docs:
        assert d["apiVersion"] == "kafka.strimzi.io/v1beta2"
        assert d["metadata"]["labels"]["strimzi.io/cluster"]


def test_strimzi_acls_are_least_privilege() -> None:
    t = Topics()
    users = {d["metadata"]["name"]: d for d in _docs(STRIMZI) if d["kind"] == "KafkaUser"}
    assert _writes(users["upstream"]) == {t.events}
    assert _writes(users["reviewers"]) == {t.decisions}
    for name, user in users.items():
        assert user["spec"]["authentication"]["type"] == "scram-sha-512"
        for acl in user["spec"]["authorization"]["acls"]:
            assert "All" not in acl["operations"], name
            assert (
                acl["resource"]["patternType"] == "literal" or acl["resource"]["type"] != "topic"
            ), name
        if name != "sluice":
            assert not _writes(user) & {
                t.approved,
                t.rejected,
                t.audit,
                t.dlq,
                t.approvals,
                t.gate_state,
            }, name
    assert {t.approved, t.rejected, t.audit, t.dlq, t.approvals} <= _writes(users["sluice"])
    assert t.events not in _writes(users["sluice"]) and t.decisions not in _writes(users["sluice"])


# -- the wheel -----------------------------------------------------------------------


def test_wheel_force_includes_schemas_and_pom() -> None:
    import tomllib

    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())
    inc = conf["tool"]["hatch"]["build"]["targets"]["wheel"]["force-include"]
    assert inc["schemas"] == "sluice/_schemas"
    assert inc["deploy/local/kafka/pom.xml"] == "sluice/_kafka/pom.xml"


@pytest.mark.slow
def test_wheel_installs_and_runs_from_a_clean_venv(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (wheel,) = dist.glob("*.whl")
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = env_dir / "bin" / "python"
    proc = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", f"{wheel}[worker]"],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    sluice = env_dir / "bin" / "sluice"
    proc = subprocess.run(
        [str(sluice), "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "run" in proc.stdout and "topics" in proc.stdout
    probe = (
        "import sluice, sluice.codec as c, sluice.tools.dev.broker as b; from pathlib import Path;"
        "pkg = Path(sluice.__file__).parent; s = Path(c.schema_dir()); p = b.pom_path();"
        "assert pkg in s.parents, s; assert pkg in p.parents, p;"
        "assert (s / 'WorkflowEvent.avsc').is_file() or any(s.glob('*.avsc'));"
        "print(s, p)"
    )
    proc = subprocess.run(
        [str(py), "-c", probe],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "_schemas" in proc.stdout and "_kafka" in proc.stdout
