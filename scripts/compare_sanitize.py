"""Sanitize and pure-intake µs/event of this tree against a baseline git revision.

    python scripts/compare_sanitize.py --rev fb12b32 [--corpus mixed|bench]
        [--n 1000] [--rounds 7] [--no-classifier]

The baseline's ``streams/sluice`` is extracted (``git archive``) to a temporary
directory; one worker process per tree builds the intake stage (``build_intake``) on the
same events (``mixed``: :func:`sluice.tools.bench.corpus.mixed_corpus`; ``bench``: the
``sluice bench`` stream, :func:`sluice.tools.bench.events.make_events`), checks that both
trees give the same sanitized events and findings, warms up, then runs one round at a
time on request, alternating which tree goes first. Figures: median (min) over rounds,
wall clock and process CPU time, with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WORKER = r"""
import hashlib, json, sys, time
import orjson
from sluice.codec import default_codec
from sluice.settings import load_settings
from sluice.tools.bench.corpus import NOW_MS, mixed_corpus
from sluice.tools.bench.events import make_events
from sluice.worker import build_intake

corpus, n, pi = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
settings = load_settings(
    fingerprint_key="compare-key", data_dir="/nonexistent", pi_classifier=pi
)
intake, _ = build_intake(settings)
codec = default_codec()
events = mixed_corpus(n) if corpus == "mixed" else make_events(n, seed=16, now_ms=NOW_MS)
payloads = [codec.encode("WorkflowEvent", e) for e in events]
san = intake.sanitizer.sanitize_event
digest = hashlib.sha256()
for e in events:
    out, found = san(e)
    digest.update(orjson.dumps(out, option=orjson.OPT_SORT_KEYS))
    digest.update(orjson.dumps([f.model_dump(mode="json") for f in found]))
print(json.dumps({"digest": digest.hexdigest()}), flush=True)

def timed(fn, items):
    w, c = time.perf_counter(), time.process_time()
    for x in items:
        fn(x)
    return ((time.perf_counter() - w) / len(items) * 1e6,
            (time.process_time() - c) / len(items) * 1e6)

for line in sys.stdin:
    r = {}
    r["sanitize"] = timed(san, events)
    r["intake total"] = timed(
        lambda ib: intake.process(ib[1], None, ("cmp", 0, ib[0]), NOW_MS, NOW_MS),
        list(enumerate(payloads)),
    )
    print(json.dumps(r), flush=True)
"""


def _extract(rev: str, into: Path) -> Path:
    data = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev, "streams", "schemas"],
        check=True,
        capture_output=True,
    ).stdout
    tar = into / "base.tar"
    tar.write_bytes(data)
    with tarfile.open(tar) as tf:
        tf.extractall(into, filter="data")
    return into / "streams"


def _start(streams: Path, args: argparse.Namespace) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": f"{streams}{os.pathsep}{ROOT}"}
    pi = "0" if args.no_classifier else "1"
    cmd = [sys.executable, "-c", WORKER, args.corpus, str(args.n), pi]
    return subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _read(proc: subprocess.Popen[str]) -> dict[str, object]:
    line = proc.stdout.readline() if proc.stdout is not None else ""
    if not line:
        raise SystemExit("worker died")
    out: dict[str, object] = json.loads(line)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rev", required=True, help="baseline git revision")
    ap.add_argument("--corpus", choices=("mixed", "bench"), default="mixed")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--no-classifier", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        procs = {
            "base": _start(_extract(args.rev, Path(tmp)), args),
            "new": _start(ROOT / "streams", args),
        }
        digests = {k: _read(p)["digest"] for k, p in procs.items()}
        same = digests["base"] == digests["new"]
        load0 = os.getloadavg()
        rows: dict[tuple[str, str, int], list[float]] = {}
        for rnd in range(args.rounds):
            order = list(procs) if rnd % 2 == 0 else list(procs)[::-1]
            for name in order:  # one tree at a time: they do not compete for a core
                proc = procs[name]
                if proc.stdin is None:
                    raise SystemExit("worker has no stdin")
                proc.stdin.write("round\n")
                proc.stdin.flush()
                for stage, pair in _read(proc).items():
                    for k, v in enumerate(pair):  # type: ignore[call-overload]
                        rows.setdefault((stage, name, k), []).append(v)
        for p in procs.values():
            if p.stdin is not None:
                p.stdin.close()
            p.wait()
    load1 = os.getloadavg()
    pi = "off" if args.no_classifier else "on"
    print(
        f"corpus {args.corpus} n={args.n} classifier {pi} rounds {args.rounds}; "
        f"outputs identical: {same}; load {load0[0]:.1f} -> {load1[0]:.1f}"
    )
    print(f"| stage | clock | {args.rev} | this tree | ratio |")
    print("|---|---|---|---|---|")
    for stage in ("sanitize", "intake total"):
        for k, clock in enumerate(("wall", "cpu")):
            b, n = rows[(stage, "base", k)], rows[(stage, "new", k)]
            mb, mn = statistics.median(b), statistics.median(n)
            print(
                f"| {stage} | {clock} | {mb:.0f} (min {min(b):.0f}) "
                f"| {mn:.0f} (min {min(n):.0f}) | {mn / mb:.2f} |"
            )
    if not same:
        raise SystemExit("outputs differ")


if __name__ == "__main__":
    main()
