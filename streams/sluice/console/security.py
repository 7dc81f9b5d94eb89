"""Who may use the console: login token, session cookie, CSRF token, trusted proxy.

Pure functions and one small class, no I/O (the aiohttp middleware in
:mod:`sluice.console.app` calls them).

- **Token mode** (the default, bound to 127.0.0.1): a random login token is made at start
  and printed once; ``/?token=...`` with the right token sets a session cookie
  (``HttpOnly; SameSite=Strict``). As notebook servers do.
- **Proxy mode** (a team deployment behind an authenticating proxy): the identity header
  (e.g. ``X-Forwarded-User``) is believed only when the TCP peer is one of the configured
  proxy addresses; from anyone else the request is refused.
- **Sessions and CSRF**: a session id is ``<random>.<hmac(secret, random)>`` (no server
  state; the secret is per start, so a restart logs everyone out); the CSRF token of a
  session is another HMAC of its random part. Every POST must carry it in the
  ``X-CSRF-Token`` header or a ``csrf`` form field; missing or wrong is a 403.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = [
    "COOKIE_NAME",
    "CSP",
    "SECURITY_HEADERS",
    "Access",
    "check_csrf",
    "parse_proxies",
]

#: Session cookie name.
COOKIE_NAME = "sluice_console"

#: Content-Security-Policy of every response: no inline script, nothing from elsewhere.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

#: Headers on every response.
SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}


def parse_proxies(text: str | Iterable[str] | None) -> frozenset[str]:
    """Trusted proxy addresses from ``10.0.0.1,10.0.0.2`` (each normalised).

    Raises:
        ValueError: an entry is not an IP address.
    """
    if text is None:
        return frozenset()
    items = text.split(",") if isinstance(text, str) else list(text)
    out = set()
    for item in items:
        item = item.strip()
        if item:
            out.add(str(ipaddress.ip_address(item)))
    return frozenset(out)


def _norm_ip(peer: str | None) -> str | None:
    if not peer:
        return None
    try:
        return str(ipaddress.ip_address(peer))
    except ValueError:
        return None


def check_csrf(expected: str, sent: str | None) -> bool:
    """Whether the CSRF token ``sent`` with a POST is the session's (constant time)."""
    return bool(sent) and hmac.compare_digest(expected.encode(), (sent or "").encode())


@dataclass
class Access:
    """The console's access settings and per-start secrets."""

    #: Identity header set by the authenticating proxy (None: token mode).
    proxy_header: str | None = None
    #: TCP peers allowed to set :attr:`proxy_header`.
    trusted_proxies: frozenset[str] = frozenset()
    #: The one-time-printed login token (token mode).
    login_token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    #: HMAC key of session ids and CSRF tokens; per start.
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def __repr__(self) -> str:  # keep the token and secret out of logs
        return f"Access(proxy_header={self.proxy_header!r}, proxies={sorted(self.trusted_proxies)})"

    @property
    def proxy_mode(self) -> bool:
        """Identity comes from a trusted proxy header, not from a login token."""
        return self.proxy_header is not None

    def _mac(self, purpose: str, raw: str) -> str:
        msg = f"{purpose}:{raw}".encode()
        return hmac.new(self.secret, msg, hashlib.sha256).hexdigest()[:40]

    def check_login_token(self, sent: str | None) -> bool:
        """Whether ``sent`` is this start's login token (constant time)."""
        return (
            not self.proxy_mode
            and bool(sent)
            and hmac.compare_digest(self.login_token.encode(), (sent or "").encode())
        )

    def new_session(self, user: str = "") -> str:
        """A fresh session id (the cookie value), bound to ``user`` in proxy mode."""
        raw = secrets.token_urlsafe(18)
        return f"{raw}.{self._mac('session:' + user, raw)}"

    def session_ok(self, session: str | None, user: str = "") -> bool:
        """Whether ``session`` was made by :meth:`new_session` this start (for ``user``)."""
        if not session or session.count(".") != 1:
            return False
        raw, mac = session.split(".")
        return hmac.compare_digest(mac.encode(), self._mac("session:" + user, raw).encode())

    def csrf_token(self, session: str) -> str:
        """The CSRF token of ``session`` (embedded in pages, sent back with POSTs)."""
        return self._mac("csrf", session.split(".")[0])

    def proxy_user(self, peer: str | None, headers: Mapping[str, str]) -> str | None:
        """The user named by the proxy header, only when ``peer`` is a trusted proxy.

        Returns None in token mode, from an untrusted peer, or without the header (or
        with an empty or multi-line one).
        """
        if self.proxy_header is None:
            return None
        ip = _norm_ip(peer)
        if ip is None or ip not in self.trusted_proxies:
            return None
        user = (headers.get(self.proxy_header) or "").strip()
        if not user or any(c in user for c in "\r\n\0") or len(user) > 256:
            return None
        return user
