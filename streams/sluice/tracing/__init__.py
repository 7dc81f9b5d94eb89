"""OpenTelemetry spans for intake stages and gate transitions: off unless ``SLUICE_OTEL``.

Off (the default) this package imports nothing from ``opentelemetry``: :func:`setup`
returns at once, :func:`intake_process` hands back ``Intake.process`` itself (one call a
batch, nothing an event) and the gate tests :data:`active` (one attribute read a record).
Input headers are then carried exactly as :mod:`sluice.headers` says.

On (``SLUICE_OTEL=1``, the ``otel`` extra installed), :mod:`sluice.tracing.otel` makes

- for every intake record a ``sluice.intake`` span (kind CONSUMER) whose parent is the
  W3C ``traceparent``/``tracestate`` of the record's headers (a new trace when there is
  none or it is malformed), with one child span per stage: ``sluice.authenticate`` (when
  producer authentication is on), ``sluice.decode``, ``sluice.validate``,
  ``sluice.sanitize``, ``sluice.assess``, ``sluice.route``;
- for every gate transition a ``sluice.gate.<transition>`` span (``held``,
  ``decision_counted``, ``decision_refused``, ``expired``, ``escalated``, ...) in the
  trace of the held event (the ``traceparent`` its HeldEvent record carried, stored
  with the hold), and a ``sluice.gate.release`` span (kind PRODUCER) from the hold's
  start to its release or rejection;
- outputs whose ``traceparent``/``tracestate`` are those of the sluice span that wrote
  them, so consumers continue the trace.

Spans carry ids, kinds, outcomes, rule names and reason codes, never event content nor
exception messages (a library's message may quote a value).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sluice.errors import ConfigError

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from sluice.pipeline import Intake, IntakeResult
    from sluice.settings import Settings
    from sluice.tracing.otel import Otel

__all__ = ["active", "disable", "enable", "intake_process", "setup"]

#: The tracer in use, or None (tracing off: the default).
active: Otel | None = None


def setup(settings: Settings) -> None:
    """Turn tracing on when ``settings.otel`` (exporters from ``OTEL_*``); else nothing.

    Raises:
        ConfigError: an exporter is asked for that is not installed or not known.
    """
    global active
    if not settings.otel:
        return
    try:
        from sluice.tracing.otel import Otel
    except ImportError as exc:
        raise ConfigError(
            f"SLUICE_OTEL=1 needs OpenTelemetry ({exc.name} is missing): "
            "pip install 'sluice-gate[otel]'"
        ) from None
    active = Otel.from_settings(settings)


def enable(provider: TracerProvider) -> None:
    """Trace with ``provider`` (tests, and applications that embed the intake)."""
    global active
    from sluice.tracing.otel import Otel

    active = Otel(provider.get_tracer("sluice"))


def disable() -> None:
    """Back to off (spans already started still end)."""
    global active
    active = None


def intake_process(intake: Intake) -> Callable[..., IntakeResult]:
    """``intake.process``, or when tracing is on, the same with spans (cached per intake)."""
    on = active
    if on is None:
        return intake.process
    return on.intake_process(intake)
