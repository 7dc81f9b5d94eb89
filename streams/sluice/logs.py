"""Structured logging: one JSON object per line, ``extra=`` fields included.

Log calls pass ids and codes, never event text or secret values.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

__all__ = ["JsonFormatter", "RedactSaslAuth", "redact_sasl_in_client_logs", "setup_logging"]

_STD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as JSON with ts, level, logger, msg and the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for k, v in record.__dict__.items():
            if k not in _STD and not k.startswith("_"):
                out[k] = v
        if record.exc_info and record.exc_info[0] is not None:
            out["exc_type"] = record.exc_info[0].__name__
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def setup_logging(level: str = "INFO") -> None:
    """JSON lines on stderr at ``level``; aiokafka's chatter only from WARNING."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


class RedactSaslAuth(logging.Filter):
    """Redact aiokafka's DEBUG dump of SASL authentication requests.

    aiokafka logs every request at DEBUG, SaslAuthenticateRequest included; for PLAIN
    its ``auth_bytes`` are the password in clear.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno <= logging.DEBUG:
            try:
                text = record.getMessage()
            except Exception:  # a broken record must not break logging
                return True
            if "SaslAuthenticate" in text or "auth_bytes" in text:
                record.msg, record.args = "SASL authentication request (redacted)", None
        return True


_SASL_REDACTION = RedactSaslAuth()


def redact_sasl_in_client_logs() -> None:
    """Put :class:`RedactSaslAuth` on aiokafka's connection logger (idempotent).

    Installed whenever SASL credentials are handed to a client
    (:meth:`sluice.settings.Settings.kafka_kwargs`), whatever the log setup.
    """
    conn_log = logging.getLogger("aiokafka.conn")
    if _SASL_REDACTION not in conn_log.filters:
        conn_log.addFilter(_SASL_REDACTION)
