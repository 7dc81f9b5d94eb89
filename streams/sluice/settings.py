"""Settings: one frozen object read from ``SLUICE_*`` environment variables.

Secrets may be given inline (``SLUICE_SASL_PASSWORD``) or as a file path
(``SLUICE_SASL_PASSWORD_FILE``); they are held as :class:`pydantic.SecretStr` and
shown in clear only by :meth:`Settings.kafka_kwargs`, which hands them to clients.
"""

from __future__ import annotations

import logging
import os
import secrets
import ssl
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sluice.errors import ConfigError
from sluice.logs import redact_sasl_in_client_logs

__all__ = ["Settings", "load_settings"]

log = logging.getLogger(__name__)

#: Secret settings that may also come from ``<NAME>_FILE``.
_FILE_SECRETS = ("fingerprint_key", "sasl_password", "ssl_key_password")


class Settings(BaseSettings):
    """Everything a sluice process is configured with (``SLUICE_`` prefix)."""

    model_config = SettingsConfigDict(env_prefix="SLUICE_", frozen=True, extra="ignore")

    bootstrap_servers: str = "127.0.0.1:19092"
    topic_prefix: str = ""
    partitions: int = Field(default=4, ge=1, le=1024)
    replication_factor: int = Field(default=1, ge=1, le=16)

    policy_file: Path | None = None
    #: A candidate policy run beside the live one (sluice.shadow): disagreements go to
    #: workflow.policy.shadow and a metric; routing never changes. Unset: no shadow.
    shadow_policy_file: Path | None = None
    reviewers_file: Path | None = None
    #: Producers registry (sluice.producers); unset: producer authentication is off.
    producers_file: Path | None = None
    #: The Emitter's producer key file (sluice emit --producer-key).
    producer_key_file: Path | None = None
    metrics_port: int = Field(default=9464, ge=0, le=65535)
    metrics_host: str = "0.0.0.0"  # noqa: S104 - a scrape target must be reachable
    data_dir: Path = Path(".sluice")

    fingerprint_key: SecretStr | None = None
    fingerprint_key_file: Path | None = None
    audit_key_file: Path | None = None
    checkpoint_every: int = Field(default=1000, ge=1)

    group_id: str = "sluice-intake"
    gate_group_id: str = "sluice-gate"
    #: Stable id of this worker (transactional ids derive from it). Empty: claim a
    #: free slot ``<hostname>-<n>`` under data_dir (see sluice.worker.claim_worker_id).
    worker_id: str = ""

    # Validation limits.
    max_record_bytes: int = Field(default=512 * 1024, ge=1024)
    max_content_chars: int = Field(default=256 * 1024, ge=1)
    max_text_chars: int = Field(default=4096, ge=1)
    max_map_entries: int = Field(default=128, ge=1)
    max_map_value_chars: int = Field(default=32 * 1024, ge=1)
    max_past_seconds: int = Field(default=7 * 24 * 3600, ge=1)
    max_future_seconds: int = Field(default=300, ge=0)

    # Intake batching.
    batch_max_records: int = Field(default=2000, ge=1)
    batch_timeout_ms: int = Field(default=50, ge=1)
    #: Kafka transaction timeout of each stage's producer: the broker aborts (and fences)
    #: a transaction left open longer; the stage then starts a new producer.
    transaction_timeout_ms: int = Field(default=30_000, ge=1000, le=900_000)
    #: Linger of each stage's transactional producer. 0: the outbox already builds
    #: whole batches, so waiting for more records only adds latency (docs/performance.md).
    stage_linger_ms: int = Field(default=0, ge=0, le=1000)
    #: Backoff of each stage's producer before retrying a request. Kafka 4 answers a
    #: produce into a transaction still being verified, or an AddPartitions right after
    #: a commit, with a retriable error; aiokafka's 100 ms default then sits in every
    #: such batch's latency (docs/performance.md).
    stage_retry_backoff_ms: int = Field(default=10, ge=1, le=1000)
    #: Longest the broker holds a stage's fetch with no new records (aiokafka's 500: at
    #: 100, tests/reliability/test_rebalance.py saw no expiry move to the new owner).
    stage_fetch_max_wait_ms: int = Field(default=500, ge=1, le=5000)
    #: aiokafka stages keep fetching into a local buffer while a batch's transaction runs
    #: (aiokafka fetches again only once the last fetch is taken): records then wait for
    #: one transaction, not two (sluice.kafka.prefetch, docs/performance.md).
    stage_prefetch: bool = True
    #: Kafka client of the stages' consume → produce → commit path: ``confluent``
    #: (librdkafka, the default: KIP-447 fencing of a stalled worker's stale batch, lower
    #: latency) or ``aiokafka`` (pure Python; docs/performance.md, "The Kafka client lever").
    kafka_client: Literal["aiokafka", "confluent"] = "confluent"

    #: /readyz reports ready once the intake is this close to the end of its partitions.
    ready_max_lag: int = Field(default=10_000, ge=0)

    #: RE2 memory budget of the sanitize pattern sets (speed vs resident memory).
    re2_max_mem_mb: int = Field(default=256, ge=8, le=4096)
    #: Score text fields with the prompt-injection classifier (SLUICE_PI_CLASSIFIER=false:
    #: phrase rules only, several times faster, far lower recall; docs/detection.md).
    pi_classifier: bool = True

    # Gate.
    early_decision_ttl_seconds: int = Field(default=3600, ge=1)
    expiry_interval_ms: int = Field(default=250, ge=10)
    #: Tolerated clock skew for a decision's decided_at (vs the hold and its arrival).
    decision_clock_skew_seconds: int = Field(default=120, ge=0, le=3600)
    #: How often the worker looks at the reviewers registry file for changes (SIGHUP: now).
    registry_poll_seconds: float = Field(default=3.0, gt=0, le=3600)

    # Notifications (sluice.notify); unset file: ``sluice notify`` refuses to start.
    #: The sinks file (YAML, README "Notifications").
    notify_file: Path | None = None
    notify_group_id: str = "sluice-notify"
    #: Notify reviewers this long before a hold expires (0: no expiry warnings).
    notify_expiry_warning_seconds: int = Field(default=900, ge=0)
    #: Base URL of the review console; notifications link to ``<url>/events/<id>``.
    console_url: str = ""

    # Schema registry (sluice.codec.registry); unset URL: single-object encoding only.
    #: Base URL of a Confluent-compatible registry API (for Apicurio: .../apis/ccompat/v7).
    schema_registry_url: str = ""
    #: Subject naming: ``topic`` (TopicNameStrategy, ``<topic>-value``), ``record``
    #: (``sluice.v1.<Name>``) or ``topic_record`` (``<topic>-sluice.v1.<Name>``).
    schema_registry_subject_strategy: Literal["topic", "record", "topic_record"] = "topic"
    schema_registry_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    #: Framing of the records written to the approved/rejected topics.
    output_framing: Literal["single-object", "confluent"] = "single-object"

    # OpenTelemetry spans (sluice.tracing, the `otel` extra; docs/operating.md "Traces").
    #: Off: opentelemetry is never imported; headers are carried unchanged.
    otel: bool = False
    #: With otel: also write every finished span as one JSON line to this file.
    otel_file: Path | None = None

    # Kafka security.
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    sasl_password_file: Path | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_key_password: SecretStr | None = None
    ssl_key_password_file: Path | None = None

    log_level: str = "INFO"

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        for name in _FILE_SECRETS:
            path = data.get(f"{name}_file")
            if path and not data.get(name):
                try:
                    data[name] = Path(path).read_text(encoding="utf-8").strip()
                except OSError as exc:
                    raise ValueError(f"cannot read {name}_file: {exc.strerror}") from exc
        return data

    # -- derived -----------------------------------------------------------------

    def fingerprint_key_bytes(self) -> bytes:
        """The HMAC key for finding fingerprints.

        From ``SLUICE_FINGERPRINT_KEY[_FILE]``; failing that, a random key kept in
        ``<data_dir>/fingerprint.key`` (mode 0600) so fingerprints stay stable on this
        machine. Production sets the key explicitly so workers agree.
        """
        if self.fingerprint_key is not None:
            return self.fingerprint_key.get_secret_value().encode()
        path = self.data_dir / "fingerprint.key"
        try:
            return path.read_bytes().strip()
        except FileNotFoundError:
            pass
        self.data_dir.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32).encode()
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another worker on this data dir made it first
            time.sleep(0.05)
            return path.read_bytes().strip()
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
        log.warning("no SLUICE_FINGERPRINT_KEY set; generated one", extra={"path": str(path)})
        return key

    def kafka_kwargs(self) -> dict[str, Any]:
        """Connection arguments for every aiokafka client sluice creates."""
        kw: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            ctx = ssl.create_default_context(
                cafile=str(self.ssl_cafile) if self.ssl_cafile else None
            )
            if self.ssl_certfile:
                ctx.load_cert_chain(
                    str(self.ssl_certfile),
                    str(self.ssl_keyfile) if self.ssl_keyfile else None,
                    self.ssl_key_password.get_secret_value() if self.ssl_key_password else None,
                )
            kw["ssl_context"] = ctx
        if self.security_protocol.startswith("SASL"):
            if not self.sasl_mechanism or not self.sasl_username or self.sasl_password is None:
                raise ConfigError(
                    "SASL needs SLUICE_SASL_MECHANISM, SLUICE_SASL_USERNAME and "
                    "SLUICE_SASL_PASSWORD (or SLUICE_SASL_PASSWORD_FILE)"
                )
            redact_sasl_in_client_logs()
            kw["sasl_mechanism"] = self.sasl_mechanism
            kw["sasl_plain_username"] = self.sasl_username
            kw["sasl_plain_password"] = self.sasl_password.get_secret_value()
        return kw


def load_settings(**overrides: Any) -> Settings:
    """Read settings from the environment; ``overrides`` (CLI flags) win when not None.

    Raises:
        ConfigError: a setting is invalid (the message names it, never its value).
    """
    clean = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings(**clean)
    except ValueError as exc:
        # pydantic's message may echo the input value; name only the fields.
        errors = getattr(exc, "errors", None)
        if callable(errors):
            names = ", ".join(
                "SLUICE_" + ".".join(str(p) for p in e["loc"]).upper() + f" ({e['type']})"
                for e in errors()
            )
            raise ConfigError(f"invalid setting: {names}") from None
        raise ConfigError("invalid settings") from None
