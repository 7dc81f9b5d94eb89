"""Hypothesis properties: idempotence, planted secrets never survive, spans are truthful."""

from __future__ import annotations

import random
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sluice.sanitize import Sanitizer
from sluice.sanitize.secrets_rules import expand_template, secret_specs

from .conftest import KEY

_S = Sanitizer(KEY)
_POSITIVES = [(s.detector, t) for s in secret_specs() for t in s.positives]
# Bodies: printable text with some unicode, controls and look-alike punctuation.
_body = st.text(
    alphabet=st.characters(
        codec="utf-8",
        categories=("L", "N", "P", "S", "Zs", "Cf", "Mn"),
        include_characters="\n\t=:'\"<>/@",
    ),
    max_size=120,
)
_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(st.text(max_size=200), st.sampled_from(["text", "html", "sql"]))
def test_sanitizing_is_idempotent(text: str, as_: str) -> None:
    once, _ = _S.scan_text(text, as_)
    twice, _ = _S.scan_text(once, as_)
    assert twice == once


def _random_parts(template: str, secret: str) -> tuple[str, ...]:
    """The runs of ``secret`` that the ``<<X:n>>`` placeholders of ``template`` made."""
    pattern = re.sub(r"<<[A-Za-z]+:(\d+)>>", lambda m: f"(.{{{m.group(1)}}})", re.escape(template))
    m = re.fullmatch(pattern, secret, re.S)
    assert m is not None, template
    # A sample with no placeholder is a fixed value: its longest token is the secret.
    return m.groups() or (max(secret.split(), key=len),)


@_SETTINGS
@given(_body, _body, st.sampled_from(_POSITIVES), st.integers(0, 2**32))
def test_planted_secret_never_survives(
    before: str, after: str, positive: tuple[str, str], seed: int
) -> None:
    _, template = positive
    secret = expand_template(template, random.Random(seed))
    text = f"{before} {secret} {after}"
    out, _ = _S.scan_text(text)
    # Every long stretch the template's placeholders expanded to must be gone (a fixed
    # key name such as ``administrator_login_password`` may stay: it is not the secret;
    # nor may an 8-character user name beside a redacted password).
    for core in _random_parts(template, secret):
        if len(core) >= 12:  # shorter runs can occur in the surrounding text by chance
            assert core not in out
            assert _S.redact(text).count(core) == 0
    # Idempotent with secrets too.
    assert _S.scan_text(out)[0] == out


@_SETTINGS
@given(_body, _body, st.sampled_from(_POSITIVES), st.integers(0, 2**32))
def test_spans_point_at_what_they_claim(
    before: str, after: str, positive: tuple[str, str], seed: int
) -> None:
    detector, template = positive
    secret = expand_template(template, random.Random(seed))
    text = f"{before} {secret} {after}"
    _, findings = _S.scan_text(text)
    for f in findings:
        assert 0 <= f.start < f.end <= len(text)
        if f.kind == "secret":
            # The reported span holds secret material from the planted sample.
            piece = text[f.start : f.end]
            assert piece.strip() and (
                piece in secret or secret in piece or f.detector not in ("aws_access_key", detector)
            )
        if f.detector in ("zero_width", "bidi_override", "tag_characters"):
            assert not text[f.start : f.end].isascii()


@_SETTINGS
@given(st.text(max_size=300))
def test_scan_never_raises_and_spans_in_range(text: str) -> None:
    out, findings = _S.scan_text(text)
    assert isinstance(out, str)
    for f in findings:
        assert 0 <= f.start <= f.end <= len(text)
