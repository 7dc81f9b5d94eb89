"""A real Apicurio Registry on loopback for the schema-registry tests (like the Kafka broker).

The server is Apicurio's own distribution of its built Quarkus app,
``io.apicurio:apicurio-registry-app:<version>:tar.gz:all`` on Maven Central, fetched
through ``deploy/local/registry/pom.xml`` with ``mvn dependency:copy-dependencies`` and
unpacked once into ``~/.cache/sluice/registry/<pom digest>/`` (``SLUICE_REGISTRY_CACHE``).
It needs Java 21+ (found via ``SLUICE_REGISTRY_JAVA``, ``JAVA_HOME``, ``java`` on PATH
or ``/usr/lib/jvm/*``). Storage is H2 in a file under the instance's data dir, so a
restart keeps its schema ids (the outage test relies on that). Clients use
``<url>`` = ``http://127.0.0.1:<port>/apis/ccompat/v7`` (the Confluent-compatible API).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tarfile
import time
import urllib.request
from pathlib import Path

from sluice.tools.dev.broker import free_port

__all__ = ["ApicurioRegistry", "RegistryUnavailableHere", "ensure_dist", "find_java"]

REPO = Path(__file__).resolve().parents[1]
POM = REPO / "deploy" / "local" / "registry" / "pom.xml"
CCOMPAT = "/apis/ccompat/v7"


class RegistryUnavailableHere(RuntimeError):
    """The registry cannot be run on this machine (no JDK 21+, no Maven, no artifact)."""


def cache_dir() -> Path:
    env = os.environ.get("SLUICE_REGISTRY_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "sluice" / "registry"


def ensure_dist(cache: Path | None = None) -> Path:
    """Fetch and unpack the registry once; returns the folder holding ``quarkus-run.jar``."""
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()[:12]
    root = (cache or cache_dir()) / digest
    dist = root / "dist"
    if (root / "resolved").exists():
        return dist
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RegistryUnavailableHere("Maven (mvn) is needed to fetch Apicurio Registry")
    download = root / "download"
    download.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    proc = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(POM),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={download}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        raise RegistryUnavailableHere("Maven could not fetch Apicurio: " + " | ".join(tail))
    archives = sorted(download.glob("*.tar.gz"))
    if not archives:
        raise RegistryUnavailableHere(f"no Apicurio archive in {download}")
    shutil.rmtree(dist, ignore_errors=True)
    # Python's tarfile, not Maven's unpack: the archive uses PAX long names, which
    # plexus-archiver truncates (jars named "...-2.23.0-alpha.j" on the class path).
    with tarfile.open(archives[0]) as tar:
        tar.extractall(dist, filter="data")
    for a in archives:
        a.unlink()
    if not (dist / "quarkus-run.jar").is_file():
        raise RegistryUnavailableHere("the Apicurio archive has no quarkus-run.jar")
    (root / "resolved").write_text(f"{time.monotonic() - t0:.0f}s\n")
    return dist


def _java_major(java: str) -> int:
    try:
        out = subprocess.run(
            [java, "-version"], capture_output=True, text=True, check=False, timeout=30
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return 0
    m = re.search(r'version "(\d+)', out)
    return int(m.group(1)) if m else 0


def find_java(minimum: int = 21) -> str:
    """A ``java`` of at least ``minimum`` (Apicurio 3.x is compiled for 21)."""
    candidates = [os.environ.get("SLUICE_REGISTRY_JAVA", "")]
    if os.environ.get("JAVA_HOME"):
        candidates.append(str(Path(os.environ["JAVA_HOME"]) / "bin" / "java"))
    candidates.append(shutil.which("java") or "")
    candidates += sorted(str(p) for p in Path("/usr/lib/jvm").glob("*/bin/java"))
    for java in candidates:
        if java and Path(java).is_file() and _java_major(java) >= minimum:
            return java
    raise RegistryUnavailableHere(
        f"Apicurio Registry needs Java {minimum}+; set SLUICE_REGISTRY_JAVA or JAVA_HOME"
    )


def answers(url: str) -> bool:
    """Whether the Confluent-compatible API at ``url`` answers ``GET /subjects``."""
    try:
        with urllib.request.urlopen(url + "/subjects", timeout=2) as resp:  # noqa: S310
            return resp.status == 200
    except OSError:
        return False


class ApicurioRegistry:
    """One Apicurio Registry process on 127.0.0.1:``port`` (H2 file storage in ``data_dir``)."""

    def __init__(self, port: int, data_dir: Path, heap: str = "384m") -> None:
        self.port = port
        #: Quarkus serves health and metrics on a second port, 9000 unless told: a free one,
        #: so two registries (or anything else on 9000) never collide.
        self.management_port = free_port()
        self.data_dir = Path(data_dir).resolve()
        self.heap = heap
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{CCOMPAT}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "registry.log"

    def start(self, timeout: float = 180.0) -> None:
        if self._proc is not None:
            raise RuntimeError("registry already started")
        dist = ensure_dist()
        java = find_java()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        db = self.data_dir / "h2" / "registry"
        cmd = [
            java,
            f"-Xmx{self.heap}",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            f"-Dquarkus.http.port={self.port}",
            "-Dquarkus.http.host=127.0.0.1",
            f"-Dquarkus.management.port={self.management_port}",
            "-Dquarkus.management.host=127.0.0.1",
            f"-Dapicurio.datasource.url=jdbc:h2:file:{db}",
            f"-Djava.io.tmpdir={self.data_dir}",
            "-Dquarkus.log.level=WARN",
            "-jar",
            str(dist / "quarkus-run.jar"),
        ]
        with open(self.log_file, "ab") as out:
            self._proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.data_dir,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code, self._proc = self._proc.returncode, None
                raise RuntimeError(f"registry exited with {code}; see {self.log_file}")
            if answers(self.url):
                return
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"registry did not answer within {timeout:.0f}s; see {self.log_file}")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 30.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait()
