"""Notifications to reviewers: held, escalated, expiring soon, decided.

:mod:`sluice.notify.config` reads the sinks file, :mod:`sluice.notify.messages` builds
what is said (ids, rule, roles and times only: never event content),
:mod:`sluice.notify.sinks` delivers it (signed webhook, Slack, SMTP) and
:mod:`sluice.notify.service` follows the gate's changelog with its own consumer group
and delivers each transition once per sink.
"""

from sluice.notify.config import NotifyConfig, load_notify_config
from sluice.notify.service import Notifier
from sluice.notify.sinks import make_sink, sign, verify_signature

__all__ = [
    "Notifier",
    "NotifyConfig",
    "load_notify_config",
    "make_sink",
    "sign",
    "verify_signature",
]
