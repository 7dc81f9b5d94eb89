"""The OpenTelemetry side of :mod:`sluice.tracing`: imported only when tracing is on."""

from __future__ import annotations

import importlib
import logging
import os
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from sluice.errors import ConfigError
from sluice.gate.effects import Effect
from sluice.pipeline import Intake, IntakeResult
from sluice.settings import Settings

__all__ = ["JsonLinesExporter", "Otel", "extract", "inject"]

log = logging.getLogger(__name__)

_PROPAGATOR = TraceContextTextMapPropagator()
_TRACE_HEADERS = ("traceparent", "tracestate")
#: Audit transitions that a release / held_refused span already stands for.
_COVERED = frozenset({"approved", "rejected", "held_refused"})
_EVENT = "WorkflowEvent"
#: Effect fields a gate span may carry as attributes (ids and codes, never content).
_GATE_ATTRS = {
    "outcome": "sluice.outcome",
    "reason_code": "sluice.reason_code",
    "reason": "sluice.reason_code",
    "reviewer_id": "sluice.reviewer_id",
    "decision_id": "sluice.decision_id",
    "source": "sluice.decision_source",
    "rule": "sluice.rule",
}
_OTLP = {
    "grpc": "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    "http/protobuf": "opentelemetry.exporter.otlp.proto.http.trace_exporter",
}

Headers = Sequence[tuple[str, bytes]]


class _HeaderGetter(Getter[Headers]):
    """Reads W3C trace context from Kafka headers (names case-insensitive)."""

    def get(self, carrier: Headers, key: str) -> list[str] | None:
        values = [
            v.decode("ascii", "replace")
            for n, v in carrier
            if isinstance(n, str) and n.lower() == key and isinstance(v, bytes)
        ]
        return values or None

    def keys(self, carrier: Headers) -> list[str]:
        return [n for n, _ in carrier if isinstance(n, str)]


_GETTER = _HeaderGetter()


def extract(headers: Headers | None) -> Context:
    """The trace context of ``headers`` (an empty context when none or malformed)."""
    if not headers:
        return Context()
    return _PROPAGATOR.extract(headers, context=Context(), getter=_GETTER)


def inject(headers: Headers, span: Span) -> list[tuple[str, bytes]]:
    """``headers`` with ``traceparent``/``tracestate`` set to ``span``'s context (first)."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span, Context()))
    rest = [(n, v) for n, v in headers if n.lower() not in _TRACE_HEADERS]
    return [(k, v.encode("ascii")) for k, v in carrier.items()] + rest


def _stage(tracer: Tracer, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` inside a child span ``name``; an exception sets ERROR with its type only."""

    def traced(*args: Any, **kwargs: Any) -> Any:
        if not trace.get_current_span().is_recording():
            return fn(*args, **kwargs)  # an unsampled event: no stage spans
        with tracer.start_as_current_span(
            name, record_exception=False, set_status_on_exception=False
        ) as span:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                code = getattr(getattr(exc, "code", None), "value", None)
                if isinstance(code, str):
                    span.set_attribute("sluice.error_code", code)
                raise

    return traced


class _Proxy:
    """``target`` with some methods replaced (everything else read through)."""

    def __init__(self, target: Any, methods: Mapping[str, Callable[..., Any]]) -> None:
        self._target = target
        for name, fn in methods.items():
            setattr(self, name, fn)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


class Otel:
    """Spans for one process, made with ``tracer``."""

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer
        self._intakes: weakref.WeakKeyDictionary[Intake, Callable[..., IntakeResult]] = (
            weakref.WeakKeyDictionary()
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Otel:
        """The global SDK provider when the application set one, else a new one with the
        exporters of ``OTEL_TRACES_EXPORTER`` and ``settings.otel_file``."""
        provider = trace.get_tracer_provider()
        own = not isinstance(provider, TracerProvider)
        if not isinstance(provider, TracerProvider):
            attrs: dict[str, str] = {"service.instance.id": settings.worker_id}
            if not os.environ.get("OTEL_SERVICE_NAME"):
                attrs["service.name"] = "sluice"
            provider = TracerProvider(resource=Resource.create(attrs))
            for exporter in _exporters(settings.otel_file is not None):
                provider.add_span_processor(BatchSpanProcessor(exporter))
            trace.set_tracer_provider(provider)
        if settings.otel_file is not None:
            provider.add_span_processor(BatchSpanProcessor(JsonLinesExporter(settings.otel_file)))
        log.info(
            "opentelemetry spans on",
            extra={
                "provider": "own" if own else "the application's",
                "exporters": os.environ.get("OTEL_TRACES_EXPORTER") or "default",
                "span_file": str(settings.otel_file) if settings.otel_file else None,
            },
        )
        return cls(provider.get_tracer("sluice"))

    # -- intake ----------------------------------------------------------------------

    def intake_process(self, intake: Intake) -> Callable[..., IntakeResult]:
        """``intake.process`` with a span per record and per stage."""
        traced = self._intakes.get(intake)
        if traced is None:
            traced = self._intakes[intake] = self._trace_intake(intake)
        return traced

    def _wrap(self, name: str, obj: Any) -> Any:
        t = self.tracer
        if name == "codec":
            route = _stage(t, "sluice.route", obj.encode)
            plain = obj.encode

            def encode(record: str, value: Any) -> bytes:
                # The re-encoded sanitized event is part of sanitize, not of routing.
                return plain(record, value) if record == _EVENT else route(record, value)

            return _Proxy(obj, {"decode": _stage(t, "sluice.decode", obj.decode), "encode": encode})
        methods = {
            "validator": ("validate", "sluice.validate"),
            "sanitizer": ("sanitize_event", "sluice.sanitize"),
            "policy": ("assess", "sluice.assess"),
            "producers": ("authenticate", "sluice.authenticate"),
        }
        method, span = methods[name]
        return _Proxy(obj, {method: _stage(t, span, getattr(obj, method))})

    def _trace_intake(self, intake: Intake) -> Callable[..., IntakeResult]:
        process = intake.with_stages(self._wrap).process
        tracer = self.tracer

        def traced(
            value: bytes | None,
            key: bytes | None,
            source: tuple[str, int, int],
            timestamp_ms: int | None,
            now_ms: int,
            headers: Headers | None = None,
            velocity: Any = None,
        ) -> IntakeResult:
            with tracer.start_as_current_span(
                "sluice.intake",
                context=extract(headers),
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.operation.type": "process",
                    "messaging.destination.name": source[0],
                    "messaging.destination.partition.id": str(source[1]),
                    "messaging.kafka.offset": source[2],
                },
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                r = process(value, key, source, timestamp_ms, now_ms, headers, velocity)
                if span.is_recording():
                    attrs: dict[str, str] = {
                        "sluice.outcome": r.outcome,
                        "sluice.kind": r.kind,
                        "sluice.output_topic": r.topic,
                    }
                    if r.event_id:
                        attrs["sluice.event_id"] = r.event_id
                    rule = r.audit.get("rule")
                    if isinstance(rule, str):
                        attrs["sluice.rule"] = rule
                    span.set_attributes(attrs)
                if r.error_code is not None:
                    span.set_status(Status(StatusCode.ERROR, r.error_code))
                    span.set_attribute("sluice.error_code", r.error_code)
                r.headers = inject(r.headers, span)
            return r

        return traced

    # -- gate ------------------------------------------------------------------------

    def gate(self, effects: Sequence[Effect], state: Any) -> None:
        """One span per transition among ``effects`` (in the trace of each event's hold);
        sets the ``traceparent`` of the release and refusal outputs to their span's."""
        if not effects:
            return
        known: dict[str, Headers] = {}
        for e in effects:
            h = e.data.get("headers")
            if h:
                known[e.event_id] = h
        entries: Mapping[str, Any] = getattr(state, "entries", None) or {}
        for e in effects:
            kind, data = e.kind, e.data
            if kind == "audit":
                transition = str(data.get("transition") or "")
                if transition in _COVERED:
                    continue
                name = f"sluice.gate.{transition}"
            elif kind == "refused":
                name = "sluice.gate.decision_refused"
            elif kind == "release":
                name = "sluice.gate.release"
            elif kind == "held_refused":
                name = "sluice.gate.held_refused"
            else:
                continue  # changelog, counted (audited), republish (escalated is audited)
            headers = known.get(e.event_id)
            if headers is None:
                entry = entries.get(e.event_id)
                headers = entry.headers if entry is not None else ()
            self._gate_span(name, e, headers)

    def _gate_span(self, name: str, e: Effect, headers: Headers) -> None:
        attrs: dict[str, str] = {"sluice.event_id": e.event_id} if e.event_id else {}
        for field, attr in _GATE_ATTRS.items():
            if field == "reason" and e.kind == "release":
                continue  # free text (a reviewer's words), not a code
            v = e.data.get(field)
            if isinstance(v, str) and v:
                attrs[attr] = v
        output = e.kind in ("release", "held_refused")
        start: int | None = None
        held_at = e.data.get("held_at")
        if e.kind == "release" and isinstance(held_at, int) and held_at > 0:
            start = held_at * 1_000_000  # the span covers the whole hold
        span = self.tracer.start_span(
            name,
            context=extract(headers),
            kind=SpanKind.PRODUCER if output else SpanKind.INTERNAL,
            attributes=attrs,
            start_time=start,
        )
        try:
            if output:
                e.data["headers"] = inject(headers, span)
        finally:
            span.end()


def _exporters(have_file: bool) -> list[SpanExporter]:
    """The exporters ``OTEL_TRACES_EXPORTER`` names (default ``otlp``; ``none`` with a
    span file)."""
    names = os.environ.get("OTEL_TRACES_EXPORTER") or ("none" if have_file else "otlp")
    out: list[SpanExporter] = []
    for name in (n.strip().lower() for n in names.split(",")):
        if name in ("", "none"):
            continue
        if name == "console":
            out.append(ConsoleSpanExporter())
        elif name == "otlp":
            protocol = (
                os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
                or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
                or "http/protobuf"
            )
            module = _OTLP.get(protocol)
            if module is None:
                raise ConfigError(f"OTLP protocol {protocol!r}: use grpc or http/protobuf")
            try:
                exporter_cls = importlib.import_module(module).OTLPSpanExporter
            except ImportError:
                raise ConfigError(
                    "OTEL_TRACES_EXPORTER=otlp needs the OTLP exporter: "
                    "pip install opentelemetry-exporter-otlp (or set SLUICE_OTEL_FILE, "
                    "OTEL_TRACES_EXPORTER=console or none)"
                ) from None
            out.append(exporter_cls())
        else:
            raise ConfigError(f"OTEL_TRACES_EXPORTER {name!r}: use otlp, console or none")
    return out


class JsonLinesExporter(SpanExporter):
    """Appends each finished span as one JSON line (``ReadableSpan.to_json``) to a file
    (mode 0600: span attributes name events and reviewers)."""

    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        self._file: IO[str] = os.fdopen(fd, "a", encoding="utf-8")
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            if self._file.closed:
                return SpanExportResult.FAILURE
            self._file.writelines(s.to_json(indent=None) + "\n" for s in spans)
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._file.close()
