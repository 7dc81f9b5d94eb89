"""A real Apache Kafka (KRaft, combined broker+controller) on loopback for dev and tests.

The jars come from Maven Central through ``deploy/local/kafka/pom.xml`` (resolved once
into a cache directory); no tarball, no container. Data lives in ``data_dir`` and
survives clean restarts; storage is formatted on first start only.
"""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import uuid
from importlib import resources
from pathlib import Path
from types import TracebackType

from sluice.errors import ConfigError
from sluice.tools import repo_root

__all__ = ["KafkaBroker", "ensure_jars", "free_port", "kafka_answers", "pom_path"]

log = logging.getLogger(__name__)

DEFAULT_HEAP = "512m"


def pom_path() -> Path:
    """The pom.xml that pins the Kafka version (in the wheel, else in the repo)."""
    packaged = resources.files("sluice") / "_kafka" / "pom.xml"
    if packaged.is_file():
        return Path(str(packaged))
    repo = repo_root() / "deploy" / "local" / "kafka" / "pom.xml"
    if repo.is_file():
        return repo
    raise ConfigError("deploy/local/kafka/pom.xml not found")


def cache_dir() -> Path:
    """Where resolved jars are kept (``SLUICE_KAFKA_CACHE``, default ~/.cache/sluice/kafka)."""
    env = os.environ.get("SLUICE_KAFKA_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "sluice" / "kafka"


def ensure_jars(cache: Path | None = None) -> Path:
    """Resolve Kafka's jars from Maven Central once; return the folder holding them.

    Raises:
        ConfigError: Maven is missing or the resolution failed.
    """
    pom = pom_path()
    pom_text = pom.read_bytes()
    import hashlib

    digest = hashlib.sha256(pom_text).hexdigest()[:12]
    libs = (cache or cache_dir()) / digest / "libs"
    marker = libs.parent / "resolved"
    if marker.exists():
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise ConfigError(
            "Maven (mvn) is needed to fetch Kafka's jars; install it (apt-get install maven)"
        )
    libs.mkdir(parents=True, exist_ok=True)
    log.info("resolving Kafka jars from Maven Central", extra={"dir": str(libs)})
    proc = subprocess.run(
        [
            mvn,
            "-q",
            "-B",
            "-f",
            str(pom),
            "dependency:copy-dependencies",
            f"-DoutputDirectory={libs}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr).strip().splitlines()[-3:]
        raise ConfigError("Maven could not resolve Kafka's jars: " + " | ".join(tail))
    marker.write_text(digest)
    return libs


def free_port(pair: bool = False) -> int:
    """A free TCP port on 127.0.0.1 (with ``pair``, one whose successor is free too)."""
    for _ in range(100):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not pair or _is_free(port + 1):
            return port
    raise RuntimeError("no free port pair found")


def _is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_LOG4J = """log4j.rootLogger=WARN, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File={log}
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.server.KafkaServer=INFO
log4j.logger.kafka.server.BrokerServer=INFO
"""


class KafkaBroker:
    """One Apache Kafka process in KRaft mode on 127.0.0.1.

    Args:
        port: client port (PLAINTEXT); the controller listens on ``controller_port``
            (default ``port + 1``).
        data_dir: log dirs, config and broker log live here.
        heap: JVM heap (-Xmx), small by default so tests fit beside it.
        extra_properties: added to server.properties (e.g. SASL listeners).
        listeners: override the listener map, name → (port, protocol); the first is
            the one clients use by default.
        scram_users: name → password, created as SCRAM-SHA-256 and SCRAM-SHA-512
            credentials when storage is formatted (first start only; for tests and dev:
            the password is passed on the format tool's command line).
        cluster_id: format storage with this cluster id (to join another node's
            cluster); default: a new random one.
    """

    def __init__(
        self,
        port: int = 19092,
        data_dir: Path | str = Path(".sluice/kafka"),
        *,
        controller_port: int | None = None,
        heap: str = DEFAULT_HEAP,
        extra_properties: dict[str, str] | None = None,
        extra_listeners: dict[str, tuple[int, str]] | None = None,
        jvm_options: list[str] | None = None,
        scram_users: dict[str, str] | None = None,
        cluster_id: str | None = None,
    ) -> None:
        self.port = port
        self._cluster_id = cluster_id
        self.controller_port = controller_port or port + 1
        self.data_dir = Path(data_dir).resolve()
        self.heap = heap
        self.extra_properties = extra_properties or {}
        self.extra_listeners = extra_listeners or {}
        self.jvm_options = jvm_options or []
        self.scram_users = dict(scram_users or {})
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """``host:port`` for clients."""
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        """The broker's own log."""
        return self.data_dir / "logs" / "server.log"

    @property
    def cluster_id(self) -> str | None:
        """The cluster id storage was formatted with (None before the first start)."""
        meta = self.data_dir / "logs-data" / "meta.properties"
        try:
            lines = meta.read_text().splitlines()
        except OSError:
            return None
        for line in lines:
            key, _, value = line.partition("=")
            if key.strip() == "cluster.id":
                return value.strip()
        return None

    def joining_broker(
        self, node_id: int, port: int, data_dir: Path | str, *, heap: str = "256m"
    ) -> KafkaBroker:
        """A broker-only node that joins this node's cluster (for replication faults).

        Start this node first; the new one uses its controller and cluster id.
        """
        return KafkaBroker(
            port,
            data_dir,
            controller_port=self.controller_port,
            heap=heap,
            cluster_id=self.cluster_id,
            extra_properties={
                "process.roles": "broker",
                "node.id": str(node_id),
                "listeners": f"PLAINTEXT://127.0.0.1:{port}",
                "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            },
        )

    def _properties(self) -> str:
        listeners = {"PLAINTEXT": (self.port, "PLAINTEXT"), **self.extra_listeners}
        names = ",".join(f"{n}://127.0.0.1:{p}" for n, (p, _) in listeners.items())
        proto = ",".join(f"{n}:{pr}" for n, (_, pr) in listeners.items())
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"{names},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": names,
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": f"{proto},CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir / "logs-data"),
            "num.partitions": "4",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "8",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "8",
            "group.initial.rebalance.delay.ms": "0",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "log.segment.bytes": str(64 * 1024 * 1024),
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
            "message.max.bytes": str(16 * 1024 * 1024),
            "transaction.max.timeout.ms": "900000",
        }
        props.update(self.extra_properties)
        return "".join(f"{k}={v}\n" for k, v in props.items())

    def _java(self) -> str:
        java_home = os.environ.get("JAVA_HOME")
        java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
        if not java:
            raise ConfigError(
                "Java 17+ is needed for the local Kafka (apt-get install openjdk-17-jre-headless)"
            )
        return java

    def start(self, timeout: float = 90.0) -> None:
        """Resolve jars, format storage on first start, launch, wait until it answers.

        Raises:
            RuntimeError: already started, or the broker did not come up in time.
            ConfigError: Java or Maven missing, or jars unresolvable.
        """
        if self._proc is not None:
            raise RuntimeError("broker already started")
        libs = ensure_jars()
        java = self._java()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "logs").mkdir(exist_ok=True)
        config = self.data_dir / "server.properties"
        config.write_text(self._properties())
        log4j = self.data_dir / "log4j.properties"
        log4j.write_text(_LOG4J.format(log=self.log_file))
        classpath = f"{libs}/*"
        common = [f"-Dlog4j.configuration=file:{log4j}", "-Djava.awt.headless=true"]
        if not (self.data_dir / "logs-data" / "meta.properties").exists():
            cluster_id = self._cluster_id or _cluster_id()
            scram = [
                arg
                for name, password in self.scram_users.items()
                for mech in ("SCRAM-SHA-256", "SCRAM-SHA-512")
                for arg in ("--add-scram", f"{mech}=[name={name},password={password}]")
            ]
            proc = subprocess.run(
                [
                    java,
                    "-Xmx256m",
                    *common,
                    "-cp",
                    classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(config),
                    *scram,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode != 0:
                raise RuntimeError("kafka storage format failed: " + proc.stderr.strip()[-300:])
        cmd = [
            java,
            f"-Xmx{self.heap}",
            f"-Xms{self.heap}",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-XX:+ExitOnOutOfMemoryError",
            "-Xss512k",
            "-XX:TieredStopAtLevel=1" if os.environ.get("SLUICE_KAFKA_FAST_START") else "-server",
            *common,
            *self.jvm_options,
            "-cp",
            classpath,
            "kafka.Kafka",
            str(config),
        ]
        out = open(self.data_dir / "logs" / "stdout.log", "ab")
        self._proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        out.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise RuntimeError(
                    f"kafka exited with code {code} during start; see {self.log_file}"
                )
            if kafka_answers(self.port):
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"kafka did not answer on port {self.port} within {timeout:.0f}s")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM and wait (SIGKILL after ``timeout``); safe to call twice."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def request_stop(self, kill_after: float = 30.0) -> None:
        """SIGTERM without waiting (safe inside a signal handler); SIGKILL after ``kill_after``.

        ``stop`` waits on the process, which deadlocks when called from a signal handler
        that interrupted ``wait`` in the same thread (``Popen``'s wait lock is not
        reentrant); this only signals, and ``wait`` returns once Kafka has shut down.
        """
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)

        def _kill() -> None:
            if proc.poll() is None:
                proc.kill()

        timer = threading.Timer(kill_after, _kill)
        timer.daemon = True
        timer.start()

    def kill(self) -> None:
        """SIGKILL, for fault tests."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def wait(self) -> int:
        """Block until the process exits; returns its exit code."""
        if self._proc is None:
            return 0
        return self._proc.wait()

    def __enter__(self) -> KafkaBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


#: UUIDs Kafka never hands out as random ids (``Uuid.RESERVED``: the zero UUID and the
#: metadata topic id 0:1).
_RESERVED_UUIDS = frozenset({bytes(16), bytes(15) + b"\x01"})


def kafka_uuid_string(raw: bytes) -> str:
    """Kafka's ``Uuid.toString()`` of 16 bytes: URL-safe base64 without padding (22 chars)."""
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _cluster_id() -> str:
    """A cluster id the way Kafka's ``Uuid.randomUuid()`` (``kafka-storage random-uuid``) makes one.

    A random (version 4) UUID, drawn again while it is reserved or its string form starts
    with ``-``: such an id would read as an option to ``kafka-storage format -t`` (the
    former one-in-64 first-start failure).
    """
    while True:
        raw = uuid.uuid4().bytes
        text = kafka_uuid_string(raw)
        if raw not in _RESERVED_UUIDS and not text.startswith("-"):
            return text


def kafka_answers(port: int) -> bool:
    """True once a Kafka broker on 127.0.0.1:``port`` accepts a connection and answers an
    ApiVersions request (whether one is already running there, or up yet)."""
    with (
        contextlib.suppress(OSError),
        socket.create_connection(("127.0.0.1", port), timeout=1) as s,
    ):
        # ApiVersionsRequest v0: size, api_key=18, version=0, correlation_id=1, client_id=null
        s.sendall(b"\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x01\xff\xff")
        s.settimeout(2)
        head = s.recv(4)
        return len(head) == 4
    return False
