"""atheris harness: arbitrary bytes through the codec and the whole intake stage.

Run: ``.venv/bin/python fuzz/fuzz_codec.py -atheris_runs=200000`` (libFuzzer flags
apply; add a corpus directory to keep findings). A crash is any exception escaping
``Codec.decode_any``/``Codec.decode`` other than DecodeError, or intake ending a
record in ``internal_error`` (a bug swallowed by its last-resort handler).
"""

from __future__ import annotations

import atexit
import sys

import _common
import atheris

with atheris.instrument_imports(include=["sluice"]):
    import sluice.pipeline
    import sluice.validate
    import sluice.worker  # noqa: F401 - instrumented for coverage feedback
    from sluice.codec import default_codec
    from sluice.errors import DecodeError

CODEC = default_codec()
INTAKE, _ = _common.build()
SEED = CODEC.encode(
    "WorkflowEvent",
    __import__("sluice.tools.bench.events", fromlist=["x"]).make_events(
        1, seed=1, now_ms=_common.NOW
    )[0],
)


def test_one_input(data: bytes) -> None:
    """One execution."""
    if data[:1] == b"\x01":  # steer half the inputs into a valid header + body prefix
        data = SEED[: 10 + (data[1] if len(data) > 1 else 0)] + data[2:]
    try:
        CODEC.decode_any(data)
    except DecodeError:
        pass
    r = INTAKE.process(data, None, ("fuzz", 0, 0), None, _common.NOW)
    if r.error_code == "internal_error":
        raise RuntimeError("intake swallowed an internal error")
    _common.count()


def main() -> None:
    """libFuzzer entry."""
    atexit.register(_common.report, "fuzz_codec")
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
