"""The console's aiohttp application: routes, access middleware, signed decisions.

State comes from :class:`~sluice.console.state.QueueFeed` (Kafka, never a worker's
memory). Decisions arrive already signed by the reviewer's browser (the private key never
reaches the server); the server checks that the decision binds to the bytes held, that
the signature verifies against the registry when one is configured, and publishes it to
``workflow.decisions`` keyed by event id. The gate worker decides whether it counts.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiokafka import AIOKafkaProducer

from sluice.clock import now_ms
from sluice.console import render, trace
from sluice.console.security import COOKIE_NAME, SECURITY_HEADERS, Access, check_csrf
from sluice.console.state import QueueFeed
from sluice.console.views import QueueView, RegistryFile, filter_entries, refresh_time
from sluice.gate.queue import ReviewError, check_decidable, detail_view, is_own_event

if TYPE_CHECKING:
    from sluice.gate.reviewers import Registry
    from sluice.settings import Settings
    from sluice.topics import Topics

__all__ = ["ConsoleConfig", "build_app"]

log = logging.getLogger(__name__)

#: Rows rendered at most in the queue table (the counts cover every hold).
MAX_ROWS = 500
#: Accepted clock skew of a browser's ``decided_at``.
MAX_SKEW_MS = 10 * 60 * 1000
_STATIC = {"console.js": "text/javascript", "console.css": "text/css"}
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class ConsoleConfig:
    """What the console needs besides the Kafka settings."""

    access: Access
    topics: Topics
    reviewers_file: str | None = None


CONFIG = web.AppKey("config", ConsoleConfig)
FEED = web.AppKey("feed", QueueFeed)
PRODUCER = web.AppKey("producer", AIOKafkaProducer)
REGISTRY = web.AppKey("registry", RegistryFile)
ENTRIES = web.AppKey("entries", QueueView)
TRACE = web.AppKey("trace", trace.TraceReader)
# Typed request storage where aiohttp has it (3.13+), plain keys before.
_KEY: Any = getattr(web, "RequestKey", None)
SESSION: Any = _KEY("session", str) if _KEY else "sluice_session"
USER: Any = _KEY("user", str) if _KEY else "sluice_user"


def _registry(request: web.Request) -> Registry | None:
    # Re-read when the file changes: a key registered while the console runs counts at once.
    return request.app[REGISTRY].get()


# -- access -------------------------------------------------------------------------


def _session(request: web.Request) -> tuple[str | None, str | None]:
    """(session id, user) the middleware established for this request."""
    return request.get(SESSION), request.get(USER)


@web.middleware
async def _access(request: web.Request, handler: _Handler) -> web.StreamResponse:
    access: Access = request.app[CONFIG].access
    if request.path.startswith("/static/"):
        return await handler(request)
    cookie = request.cookies.get(COOKIE_NAME)
    new_cookie: str | None = None
    user: str | None = None
    if access.proxy_mode:
        user = access.proxy_user(request.remote, request.headers)
        if user is None:
            raise web.HTTPForbidden(text="not through the authenticating proxy")
        if not access.session_ok(cookie, user):
            if request.method != "GET":
                raise web.HTTPForbidden(text="no session")
            cookie = new_cookie = access.new_session(user)
    elif request.method == "GET" and "token" in request.query:
        if not access.check_login_token(request.query.get("token")):
            raise web.HTTPForbidden(text="wrong login token")
        login = web.HTTPSeeOther(location=request.path)
        _set_cookie(login, access.new_session())
        raise login
    elif not access.session_ok(cookie):
        if request.method != "GET":
            raise web.HTTPForbidden(text="not logged in")
        page = render.message_page(
            "Log in", "Open the console with the URL (and its token) printed when it started."
        )
        return web.Response(status=403, text=page, content_type="text/html")
    cookie = cookie or ""
    if request.method not in ("GET", "HEAD"):
        sent = request.headers.get("X-CSRF-Token")
        if not check_csrf(access.csrf_token(cookie), sent):
            raise web.HTTPForbidden(text="missing or wrong CSRF token")
    request[SESSION], request[USER] = cookie, user
    resp = await handler(request)
    if new_cookie is not None:
        _set_cookie(resp, new_cookie)
    return resp


def _set_cookie(resp: web.StreamResponse, session: str) -> None:
    resp.set_cookie(COOKIE_NAME, session, httponly=True, samesite="Strict", path="/")


async def _headers(request: web.Request, resp: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        resp.headers.setdefault(name, value)


# -- pages --------------------------------------------------------------------------


def _filters(request: web.Request) -> dict[str, str]:
    return {k: request.query.get(k, "")[:200] for k in render.FILTERS if request.query.get(k)}


def _queue(request: web.Request) -> tuple[str, dict[str, list[str]]]:
    feed: QueueFeed = request.app[FEED]
    registry = _registry(request)
    generation = request.app[REGISTRY].generation
    now = now_ms()
    entries, counts, options = request.app[ENTRIES].get(
        feed.state, feed.version, now, registry, generation
    )
    filters = _filters(request)
    shown = filter_entries(entries, filters)[:MAX_ROWS]
    refresh_time(shown, now)
    fragment = render.queue_fragment(
        shown,
        counts,
        total=len(entries),
        filtered=bool(filters),
        partial=not feed.caught_up,
    )
    return fragment, options


async def queue_page(request: web.Request) -> web.Response:
    session, user = _session(request)
    fragment, options = _queue(request)
    access: Access = request.app[CONFIG].access
    html = render.queue_page(
        fragment, _filters(request), options, csrf=access.csrf_token(session or ""), user=user
    )
    return web.Response(text=html, content_type="text/html")


async def queue_fragment(request: web.Request) -> web.Response:
    fragment, _ = _queue(request)
    return web.Response(text=fragment, content_type="text/html")


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: the queue's version on every change (a ping every 15 s)."""
    feed: QueueFeed = request.app[FEED]
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    version = -1
    while True:
        new = await feed.wait_change(version, 15.0)
        await resp.write(f"data: {new}\n\n".encode() if new != version else b": ping\n\n")
        version = new
        await asyncio.sleep(0.2)  # coalesce bursts of changes


def _event_id(request: web.Request) -> str:
    try:
        return str(uuid.UUID(request.match_info["event_id"]))
    except ValueError:
        raise web.HTTPNotFound(text="not an event id") from None


def _view(request: web.Request, event_id: str) -> dict[str, Any]:
    """The detail view of ``event_id`` with votes checked as the gate will.

    Raises:
        ReviewError: no such hold, or its event does not decode.
    """
    feed: QueueFeed = request.app[FEED]
    view = detail_view(feed.state, event_id, now_ms(), _registry(request))
    held = feed.state.held[event_id]
    for vote in view["votes"]:  # the gate refuses these too; say so before it does
        if vote["valid"] is not False and is_own_event(held, vote["reviewer_id"] or ""):
            vote["valid"], vote["refusal"] = False, "self_approval (separation of duties)"
    for verdict, name in (("APPROVE", "approvals"), ("REJECT", "rejections")):
        view[name] = len(
            {
                v["reviewer_id"]
                for v in view["votes"]
                if v["verdict"] == verdict and v["valid"] is not False
            }
        )
    return view


def _not_found(exc: ReviewError) -> web.Response:
    page = render.message_page("Not found", str(exc))
    return web.Response(status=404, text=page, content_type="text/html")


async def detail(request: web.Request) -> web.Response:
    session, user = _session(request)
    event_id = _event_id(request)
    feed: QueueFeed = request.app[FEED]
    try:
        view = _view(request, event_id)
    except ReviewError as exc:
        return _not_found(exc)
    held = feed.state.held[event_id]
    held_b64 = base64.b64encode(held["event"]).decode("ascii")
    at = int(held.get("received_at") or held["held_at"])
    steps = feed.runs.earlier(view["run_id"], event_id, at)
    run = trace.run_steps(view["run_id"], steps, at, feed.state.held)
    access: Access = request.app[CONFIG].access
    html = render.detail_page(
        view, held_b64, csrf=access.csrf_token(session or ""), user=user, run=run
    )
    return web.Response(text=html, content_type="text/html")


async def detail_facts(request: web.Request) -> web.Response:
    """The live part of the detail page (reloaded on server-sent events)."""
    try:
        view = _view(request, _event_id(request))
    except ReviewError as exc:
        return _not_found(exc)
    return web.Response(text=render.detail_facts(view), content_type="text/html")


async def _timeline(request: web.Request) -> tuple[str, list[dict[str, Any]], str | None]:
    event_id = _event_id(request)
    held = request.app[FEED].state.held.get(event_id)
    run_id = held["run_id"] if held is not None else None
    timeline, error = await request.app[TRACE].timeline(event_id, run_id)
    return event_id, timeline, error


async def trace_view(request: web.Request) -> web.Response:
    """What ``sluice trace`` shows for the event, as escaped text, and its audit records."""
    session, user = _session(request)
    event_id, timeline, error = await _timeline(request)
    access: Access = request.app[CONFIG].access
    html = trace.trace_page(
        event_id, timeline, error, csrf=access.csrf_token(session or ""), user=user
    )
    return web.Response(text=html, content_type="text/html")


async def audit_records(request: web.Request) -> web.Response:
    """The event's audit records (a fragment the detail page loads)."""
    _, timeline, error = await _timeline(request)
    return web.Response(text=trace.audit_fragment(timeline, error), content_type="text/html")


async def keys(request: web.Request) -> web.Response:
    session, user = _session(request)
    access: Access = request.app[CONFIG].access
    html = render.keys_page(csrf=access.csrf_token(session or ""), user=user)
    return web.Response(text=html, content_type="text/html")


async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in _STATIC:
        raise web.HTTPNotFound()
    body = resources.files("sluice.console").joinpath("static", name).read_bytes()
    return web.Response(body=body, content_type=_STATIC[name])


# -- deciding -----------------------------------------------------------------------


def _signed_decision(body: Any, event_id: str, now: int) -> dict[str, Any]:
    """The Decision record from a browser's JSON, checked for shape (HTTP 400 if not)."""
    from sluice.gate.signatures import DECISION_FIELDS

    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="expected a JSON object")
    decision: dict[str, Any] = {}
    for name in DECISION_FIELDS:
        value = body.get(name)
        ok = isinstance(value, int) if name == "decided_at" else isinstance(value, str)
        if not ok or isinstance(value, bool):
            raise web.HTTPBadRequest(text=f"field {name} is missing or mistyped")
        decision[name] = value
    try:
        decision["signature"] = base64.b64decode(str(body.get("signature", "")), validate=True)
        uuid.UUID(decision["decision_id"])
    except (binascii.Error, ValueError):
        raise web.HTTPBadRequest(text="bad signature or decision_id encoding") from None
    if decision["event_id"] != event_id:
        raise web.HTTPBadRequest(text="decision is for another event")
    if decision["verdict"] not in ("APPROVE", "REJECT"):
        raise web.HTTPBadRequest(text="verdict must be APPROVE or REJECT")
    if decision["verdict"] == "REJECT" and not decision["reason"].strip():
        raise web.HTTPBadRequest(text="a rejection needs a reason")
    if abs(decision["decided_at"] - now) > MAX_SKEW_MS:
        raise web.HTTPBadRequest(text="decided_at is too far from the server's clock")
    return decision


async def decide(request: web.Request) -> web.Response:
    from sluice.codec import default_codec
    from sluice.identity import fold_id

    _, user = _session(request)
    config: ConsoleConfig = request.app[CONFIG]
    event_id = _event_id(request)
    now = now_ms()
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="expected JSON") from None
    decision = _signed_decision(body, event_id, now)
    if user is not None and fold_id(decision["reviewer_id"]) != fold_id(user):
        raise web.HTTPForbidden(text="you may sign only as yourself")
    feed: QueueFeed = request.app[FEED]
    try:
        held = check_decidable(feed.state, event_id, now)
    except ReviewError as exc:
        return web.json_response({"error": str(exc)}, status=409)
    if decision["content_hash"] != held["content_hash"]:
        return web.json_response({"error": "signed content hash is not the held one"}, status=409)
    registry = _registry(request)
    if registry is not None:
        refusal = registry.check(decision)
        if refusal is not None:
            return web.json_response({"error": f"signature refused: {refusal}"}, status=422)
    producer: AIOKafkaProducer = request.app[PRODUCER]
    value = default_codec().encode("Decision", decision)
    await producer.send_and_wait(config.topics.decisions, value, key=event_id.encode())
    log.info(
        "published decision",
        extra={"decision_id": decision["decision_id"], "event_id": event_id},
    )
    out: dict[str, Any] = {"decision_id": decision["decision_id"], "published": True}
    if is_own_event(held, decision["reviewer_id"]):
        out["warning"] = "you are this event's actor or principal: the gate will refuse it"
    return web.json_response(out)


# -- the application ----------------------------------------------------------------


def build_app(
    settings: Settings,
    config: ConsoleConfig,
    *,
    feed: QueueFeed | None = None,
    producer: AIOKafkaProducer | None = None,
) -> web.Application:
    """The console application. ``feed`` / ``producer`` default to real Kafka clients
    started with the app (tests pass their own)."""
    app = web.Application(middlewares=[_access], client_max_size=4 * 1024 * 1024)
    app[CONFIG] = config
    app[FEED] = feed or QueueFeed(settings, config.topics)
    app[REGISTRY] = RegistryFile(config.reviewers_file)
    app[ENTRIES] = QueueView()
    app[TRACE] = trace.TraceReader(settings)
    app.on_response_prepare.append(_headers)

    async def lifecycle(app: web.Application) -> Any:
        from sluice.kafka import make_producer

        own = producer is None
        app[PRODUCER] = producer or make_producer(settings, linger_ms=0)
        if own:
            await app[PRODUCER].start()
        if feed is None:
            app[FEED].start()
        yield
        if feed is None:
            await app[FEED].stop()
        if own:
            await app[PRODUCER].stop()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/", queue_page)
    app.router.add_get("/queue/fragment", queue_fragment)
    app.router.add_get("/events", events)
    app.router.add_get("/keys", keys)
    app.router.add_get("/event/{event_id}", detail)
    app.router.add_get("/event/{event_id}/facts", detail_facts)
    app.router.add_get("/event/{event_id}/trace", trace_view)
    app.router.add_get("/event/{event_id}/audit", audit_records)
    app.router.add_post("/event/{event_id}/decide", decide)
    app.router.add_get("/static/{name}", static)
    return app
