"""Each evasion that once got a secret past the stage: found and redacted now.

Secrets are built at test time from random characters, so no credential is stored.
"""

from __future__ import annotations

import base64
import random
import string
from typing import Any

import pytest

from sluice.sanitize import Sanitizer
from sluice.sanitize.secrets import looks_like_secret_value
from sluice.sanitize.secrets_filters import looks_fake
from sluice.sanitize.secrets_variants import secret_variants

_ALNUM = string.ascii_letters + string.digits


def _rand(n: int, seed: int = 0, chars: str = _ALNUM) -> str:
    rng = random.Random(seed)
    while True:
        out = "".join(rng.choice(chars) for _ in range(n))
        if not looks_fake(out) and any(c.isdigit() for c in out):
            return out
        seed += 1000


def _ghp(seed: int = 1) -> str:
    return "ghp_" + _rand(36, seed)


def _secrets(s: Sanitizer, text: str) -> tuple[str, list[Any]]:
    out, findings = s.scan_text(text)
    return out, [f for f in findings if f.kind == "secret"]


def _assert_gone(s: Sanitizer, text: str, secret: str, core: str | None = None) -> None:
    out, found = _secrets(s, text)
    assert found, text[:20]
    assert (core or secret) not in out
    for f in found:
        assert f.action == "redacted"


@pytest.mark.parametrize(
    "text_of",
    [
        lambda p: f"password={p[:5]}&{p[5:]}",  # & inside the value
        lambda p: f'{{"password": "{p[:6]}&{p[6:]}"}}',  # JSON value with & (tail after &)
        lambda p: f"pw={p}",
        lambda p: f"PW: {p}",
        lambda p: f"password: ${p}!",  # a value starting with $ that is no variable
        lambda p: f"mysql -u root -p{p} -h db prod",
        lambda p: f"mysql -uroot -p'{p}' -e 'select 1'",
        lambda p: f"curl -u admin:{p} https://api.example.com/v1",
        lambda p: f"curl -s --user 'svc:{p}' https://api.example.com",
        lambda p: f"Authorization: token {p}{p}",
        lambda p: f"password=${{{p}",  # an unclosed ${ is no variable reference
        lambda p: f'password: "${{{p}"',
        lambda p: f"sshpass -p {p} ssh root@10.0.0.4",
        lambda p: f"sshpass -p '{p}' scp dump.sql admin@host:/srv",
        lambda p: f'curl -H "Authorization: Api-Token {p}{p}" https://api.example.com',
        lambda p: f'curl -X POST --header "Api-Token: {p}"',
    ],
)
def test_assignment_evasions(sanitizer: Sanitizer, text_of: Any) -> None:
    pw = _rand(14, 7)
    text = text_of(pw)
    out, found = _secrets(sanitizer, text)
    assert found, "not found"
    assert pw[6:] not in out  # the tail after a & as well


@pytest.mark.parametrize(
    "text",
    [
        "password=${DB_PASSWORD}",
        "password=$DB_PASSWORD",
        "mysql -u root -p -h db",
        "curl -u admin https://api.example.com",
        "Authorization: Bearer ${TOKEN}",
        "key=AIzaSyabcdefghijklmnopqrstuvwxyz1234567",
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE",
        "api_key = <your-key>",
        "token: xxxxxxxxxxxxxxxxxxxxxxxx",
        "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 fixes the build",
        "request id 550e8400-e29b-41d4-a716-446655440000 took 20 ms",
        "sha256 e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "the secret to a good api is a stable key: consistency",
        "password=${DB_PASSWORD:-fallback}",
        'password: "${{ secrets.DB_PASSWORD }}"',
        "curl -u username:token https://api.example.com",
        "curl http://127.0.0.1:5000/file --user user:pass --digest",
        'curl -d x=1 -H "Authorization: Bearer XXXXXXXXXXXX" https://example.com/micropub',
        'password = "somefakekey"',
        'password       = "rootpasswd"',
        '"secret_key" => "sk_abcdefghijklmnopqrstuvwxyz123",',
        "csrf-token=Mj2qykJO5rELyHgezQ69nzUX0i3OH67V7+V4eUrLfpuyOuxmiW9rhROG/Whikle15syazJOkrjJa3U2Ab",
        "snowflake.password=\njdbc.snowflake.url=",
        "sshpass -p $SSH_PASS ssh root@host",
    ],
)
def test_placeholders_and_lookalikes_do_not_fire(sanitizer: Sanitizer, text: str) -> None:
    _, found = _secrets(sanitizer, text)
    assert not found, [f.detector for f in found]


def test_authorization_map_key(sanitizer: Sanitizer) -> None:
    value = "Bearer " + _rand(32, 3)
    assert looks_like_secret_value("authorization", value) == "authorization_header"
    assert looks_like_secret_value("Authorization", "Bearer ${TOKEN}") is None
    event: dict[str, Any] = {"arguments": {"authorization": value, "q": "weather"}}
    out, findings = sanitizer.sanitize_event(event)
    assert value[7:] not in out["arguments"]["authorization"]
    assert any(f.kind == "secret" for f in findings)


@pytest.mark.parametrize(
    "split",
    [
        lambda t: f"token {t[:12]} {t[12:]}",
        lambda t: f"here\n{t[:10]}\n{t[10:25]}\n{t[25:]}",
        lambda t: f"{t[:14]}-{t[14:28]}-{t[28:]}",
        lambda t: f"{t[:6]}\t{t[6:20]}\r\n{t[20:]}",
    ],
)
def test_split_token(sanitizer: Sanitizer, split: Any) -> None:
    tok = _ghp(2)
    out, found = _secrets(sanitizer, split(tok))
    assert any(f.detector == "github_token" for f in found)
    assert tok[14:28] not in out and tok[28:] not in out


def test_split_does_not_glue_prose(sanitizer: Sanitizer) -> None:
    # words glued together must not make a token out of prose
    _, found = _secrets(sanitizer, "ask ghp team about the AKIA prefix docs today")
    assert not found
    v = secret_variants("see ghp_" + "ab12 cd34")[0]
    assert v.text == "seeghp_ab12cd34"
    assert v.to_view(3, 15) == (4, 17) and v.to_view(0, 3) is None


def test_token_split_across_two_arguments(sanitizer: Sanitizer) -> None:
    tok = _ghp(4)
    event: dict[str, Any] = {"arguments": {"a": tok[:20], "b": tok[20:], "c": "- hello"}}
    out, findings = sanitizer.sanitize_event(event)
    assert tok[:20] not in str(out) and tok[20:] not in str(out)
    assert {f.field for f in findings if f.kind == "secret"} == {"arguments.a", "arguments.b"}
    assert out["arguments"]["c"] == "- hello"
    # values that only make a token when glued in another order stay
    calm: dict[str, Any] = {"arguments": {"a": tok[20:], "b": "x"}}
    assert sanitizer.sanitize_event(calm)[0] is calm


def test_combining_mark_inside_token(sanitizer: Sanitizer) -> None:
    tok = _ghp(5)
    text = f"use {tok[:9]}\u0301{tok[9:20]}\u0308{tok[20:]} now"
    out, found = _secrets(sanitizer, text)
    assert any(f.detector == "github_token" for f in found)
    assert tok[20:] not in out and out.startswith("use [REDACTED:github_token:")


@pytest.mark.parametrize(
    "encode",
    [
        lambda t: base64.b64encode(t.encode()).decode(),
        lambda t: base64.urlsafe_b64encode(f"key={t}".encode()).decode().rstrip("="),
        lambda t: t.encode().hex(),
        lambda t: "".join(f"%{b:02X}" for b in t.encode()),
        lambda t: "".join(f"&#{b};" for b in t.encode()),
        lambda t: "".join(f"&#x{b:x};" for b in t.encode()),
    ],
)
def test_encoded_token(sanitizer: Sanitizer, encode: Any) -> None:
    tok = _ghp(6)
    enc = encode(tok)
    out, found = _secrets(sanitizer, f"payload {enc} end")
    assert any(f.detector == "github_token" for f in found)
    assert enc not in out
    # the fingerprint is the decoded secret's, so it correlates with the plain leak
    _, plain = _secrets(sanitizer, tok)
    assert {f.fingerprint for f in found} == {f.fingerprint for f in plain}


def test_ordinary_base64_and_hex_in_prose_stay(sanitizer: Sanitizer) -> None:
    rng = random.Random(9)
    blob = base64.b64encode(bytes(rng.getrandbits(8) for _ in range(90))).decode()
    text = f"image {blob} and digest {rng.getrandbits(256):064x} plus b64 of prose " + (
        base64.b64encode(b"the weather is fine today in the valley").decode()
    )
    out, found = _secrets(sanitizer, text)
    assert not found and out == text


def test_secret_never_in_error_or_finding(sanitizer: Sanitizer) -> None:
    tok = _ghp(8)
    _, findings = sanitizer.scan_text(f"x {tok}")
    assert tok not in repr(findings)


def test_unclosed_variable_is_a_password_not_a_placeholder() -> None:
    # the attacker's "$…" values: only one whole ${NAME} / $NAME / $(cmd) is a reference
    from sluice.sanitize.secrets_filters import not_placeholder

    pw = _rand(14, 11)
    assert not_placeholder("${" + pw) == 1.0
    assert not_placeholder("$" + pw + "}") == 1.0
    assert not_placeholder("${" + pw + "}x") == 1.0
    assert not_placeholder("${DB_PASSWORD}") is None
    assert not_placeholder("$(cat /run/secret)") is None
    assert not_placeholder("${{ secrets.X }}") is None


def test_alternation_rule_judged_on_the_secret_redacts_whole_match(sanitizer: Sanitizer) -> None:
    # curl-auth-header keeps its secret in one of several groups: the placeholder check
    # reads that group, the redaction covers the whole match
    tok = _rand(40, 12)
    out, found = _secrets(sanitizer, f'curl -H "Authorization: Api-Token {tok}" https://x.io')
    assert found and tok not in out and tok[:12] not in out


def test_lookalike_letters_inside_token(sanitizer: Sanitizer) -> None:
    # Cyrillic er and o drawn like Latin p and o: the token is whole to a reader
    tok = _ghp(13)
    text = "use gh\u0440_" + tok[4:20] + "\u043e" + tok[21:] + " now"
    out, found = _secrets(sanitizer, text)
    assert any(f.detector == "github_token" for f in found)
    assert tok[4:20] not in out and tok[21:] not in out
    # Russian prose with look-alike letters stays
    prose = "Сегодня хорошая погода, мы поехали на море с коллегами"  # noqa: RUF001
    assert not _secrets(sanitizer, prose)[1]


@pytest.mark.parametrize(
    "text_of",
    [
        lambda r: f"STRIPE_WEBHOOK_SECRET=whsec_{r[:32]}",
        lambda r: f'"client_secret": "GOCSPX-{r[:28]}"',
        lambda r: f"tskey-auth-{r[:17]}-{r[17:49]}",
        lambda r: f"docker login -u me -p dckr_pat_{r[:27]}",
        lambda r: f"use acme_live_{r[:36]} for prod",  # a vendor no rule names
        lambda r: f"token=eyJhbGciOiJub25lIn0.eyJ{r[:40]}",  # unsigned JWT
    ],
)
def test_fresh_provider_formats(sanitizer: Sanitizer, text_of: Any) -> None:
    r = _rand(60, 21)
    out, found = _secrets(sanitizer, text_of(r))
    assert found
    assert r[:27] not in out
