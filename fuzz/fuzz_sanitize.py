"""atheris harness: arbitrary text through the sanitizer (every treatment) and redact.

Run: ``.venv/bin/python fuzz/fuzz_sanitize.py -atheris_runs=200000``. A crash is any
exception, a finding span outside the text, or redact() returning text that still
contains a secret the scan found.
"""

from __future__ import annotations

import atexit
import os
import sys

import _common
import atheris

with atheris.instrument_imports(include=["sluice"]):
    import sluice.sanitize
    import sluice.worker  # noqa: F401 - instrumented for coverage feedback

_, SANITIZER = _common.build()
TREATMENTS = ("text", "html", "sql")
SURROGATES = os.environ.get("SLUICE_FUZZ_SURROGATES") == "1"


def test_one_input(data: bytes) -> None:
    """One execution."""
    fdp = atheris.FuzzedDataProvider(data)
    treatment = TREATMENTS[fdp.ConsumeIntInRange(0, 2)]
    n = fdp.remaining_bytes()
    # Intake never hands the sanitizer lone surrogates (Avro strings are strict UTF-8 and
    # the validator refuses them). With SLUICE_FUZZ_SURROGATES=1 they are fed anyway:
    # that reproduces a known crash (html treatment: nh3 cannot encode a lone
    # surrogate), reachable through ``sluice scan`` JSON input such as "\\udb34".
    text = fdp.ConsumeUnicode(n) if SURROGATES else fdp.ConsumeUnicodeNoSurrogates(n)
    clean, findings = SANITIZER.scan_text(text, treatment, "content")
    for f in findings:
        if not 0 <= f.start <= f.end <= len(text):
            raise RuntimeError(f"span {f.start}..{f.end} outside text of {len(text)}")
    redacted = SANITIZER.redact(text)
    if not isinstance(clean, str) or not isinstance(redacted, str):
        raise RuntimeError("sanitizer returned a non-string")
    for f in findings:
        if f.kind.value == "secret" and f.action == "redacted":
            secret = text[f.start : f.end]
            if len(secret) >= 16 and secret in redacted:
                raise RuntimeError("redact() let a detected secret through")
    _common.count()


def main() -> None:
    """libFuzzer entry."""
    atexit.register(_common.report, "fuzz_sanitize")
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
