"""Console access: login token, sessions, CSRF tokens, trusted proxy header."""

from __future__ import annotations

import pytest

from sluice.console.security import CSP, Access, check_csrf, parse_proxies


def test_login_token_checked_in_constant_time_and_only_in_token_mode() -> None:
    access = Access()
    assert access.check_login_token(access.login_token)
    assert not access.check_login_token(access.login_token + "x")
    assert not access.check_login_token("")
    assert not access.check_login_token(None)
    proxied = Access(proxy_header="X-Forwarded-User", trusted_proxies=frozenset({"10.0.0.1"}))
    assert not proxied.check_login_token(proxied.login_token)
    assert access.login_token not in repr(access)


def test_sessions_are_bound_to_this_start_and_user() -> None:
    access = Access()
    session = access.new_session()
    assert access.session_ok(session)
    assert not Access().session_ok(session), "another start's secret"
    assert not access.session_ok(session + "x")
    assert not access.session_ok(None) and not access.session_ok("") and not access.session_ok("a")
    bound = access.new_session("alice")
    assert access.session_ok(bound, "alice") and not access.session_ok(bound, "bob")


def test_csrf_token_per_session() -> None:
    access = Access()
    s1, s2 = access.new_session(), access.new_session()
    t1 = access.csrf_token(s1)
    assert check_csrf(t1, t1)
    assert not check_csrf(t1, access.csrf_token(s2))
    assert not check_csrf(t1, None) and not check_csrf(t1, "")
    assert t1 != s1.split(".")[0]


def test_proxy_header_only_from_trusted_addresses() -> None:
    access = Access(proxy_header="X-Forwarded-User", trusted_proxies=parse_proxies("10.0.0.1, ::1"))
    headers = {"X-Forwarded-User": "alice"}
    assert access.proxy_user("10.0.0.1", headers) == "alice"
    assert access.proxy_user("0:0:0:0:0:0:0:1", headers) == "alice"  # normalised
    assert access.proxy_user("10.0.0.2", headers) is None
    assert access.proxy_user(None, headers) is None
    assert access.proxy_user("10.0.0.1", {}) is None
    assert access.proxy_user("10.0.0.1", {"X-Forwarded-User": "a\r\nb"}) is None
    assert Access().proxy_user("10.0.0.1", headers) is None, "token mode ignores the header"


def test_parse_proxies_rejects_names() -> None:
    assert parse_proxies(None) == frozenset()
    with pytest.raises(ValueError):
        parse_proxies("proxy.example.com")


def test_csp_is_strict() -> None:
    for part in (
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ):
        assert part in CSP
    assert "unsafe" not in CSP
