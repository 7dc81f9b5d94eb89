"""The shadow policy's cost per event, as docs/policy.md quotes it.

``python scripts/bench_shadow.py [pi|nopi] [N]``. CPU time of this thread (on a shared
machine wall time is mostly waiting). A: the policy alone (``live.assess`` against
``ShadowPolicy.assess`` on the events intake gave it); B: the whole ``Intake.process``
plus the agent's hook, without and with a shadow, alternating, fresh events each round.
Candidates: the default policy again ("agrees") and the default plus a hold on every
TOOL_CALL ("tools held"). Scratch files go to a temporary directory.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from sluice.codec import default_codec
from sluice.metrics import create
from sluice.pipeline import Intake
from sluice.policy import load_policy
from sluice.settings import load_settings
from sluice.shadow import ShadowPolicy, hook_for
from sluice.tools.bench.events import make_events
from sluice.topics import Topics
from sluice.worker import build_intake

CLOCK = time.thread_time
ROUNDS = 6
TOOLS_RULE = (
    'rules:\n  - name: tools-reviewed\n    when: event.kind == "TOOL_CALL"\n'
    "    hold: {roles: [security], approvals: 1, ttl: 1h}\n"
)


def main() -> None:
    pi = sys.argv[1:2] != ["nopi"]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1500
    topics = Topics()
    codec = default_codec()
    now = time.time_ns() // 1_000_000
    tmp = Path(tempfile.mkdtemp(prefix="sluice-shadow-bench-"))
    default = resources.files("sluice.policy").joinpath("default.yaml").read_text()
    (tmp / "same.yaml").write_text(default + "\n# candidate\n")
    (tmp / "tools.yaml").write_text(default.replace("rules:\n", TOOLS_RULE, 1))
    settings = load_settings(fingerprint_key="bench-key", data_dir=str(tmp), pi_classifier=pi)
    base, live = build_intake(settings, topics)
    cands = {
        "agrees": load_policy(tmp / "same.yaml"),
        "tools held": load_policy(tmp / "tools.yaml"),
    }

    def fresh(seed: int) -> list[tuple[bytes, bytes]]:
        evs = make_events(n, held_share=0.05, seed=seed, now_ms=now)
        return [(codec.encode("WorkflowEvent", e), e["run_id"].encode()) for e in evs]

    def make(policy: Any) -> Intake:
        return Intake(base._codec, base._validator, base._sanitizer, policy, topics)  # noqa: SLF001

    class Recorder:
        hash = live.hash

        def __init__(self) -> None:
            self.seen: list[tuple[Any, Any]] = []

        def assess(self, e: Any, f: Any) -> Any:
            self.seen.append((e, f))
            return live.assess(e, f)

    rec = Recorder()
    for i, (v, k) in enumerate(fresh(1)):
        make(rec).process(v, k, (topics.events, 0, i), now, now)
    print(f"pi_classifier={pi} events={n}")

    def policy_only(p: Any) -> float:
        t0 = CLOCK()
        for e, f in rec.seen:
            p.assess(e, f)
        dt = CLOCK() - t0
        getattr(p, "pending", []).clear()
        return dt / len(rec.seen) * 1e6

    a: dict[str, list[float]] = {"live": []} | {k: [] for k in cands}
    for r in range(ROUNDS + 1):
        for k in a:
            x = policy_only(live if k == "live" else ShadowPolicy(live, cands[k]))
            if r:
                a[k].append(x)
    lm = statistics.median(a["live"])
    for k, v in a.items():
        m = statistics.median(v)
        print(f"A policy only {k:11s} {m:7.1f} us/event (+{m - lm:6.1f})")

    # Each variant its own policy objects (their result memos warm separately), and the
    # order rotates each round (the sanitizer's RE2 cache warms on whoever goes first).
    default_path = tmp / "default.yaml"
    default_path.write_text(default)
    paths = {"agrees": tmp / "same.yaml", "tools held": tmp / "tools.yaml"}
    variants: dict[str, tuple[Intake, Any]] = {"no shadow": (make(load_policy(default_path)), None)}
    for k, path in paths.items():
        sp = ShadowPolicy(load_policy(default_path), load_policy(path))
        hook = hook_for(sp, codec, topics.policy_shadow, create(CollectorRegistry()))
        variants[f"shadow {k}"] = (make(sp), hook)
    b: dict[str, list[float]] = {k: [] for k in variants}
    disagreements: dict[str, int] = {}
    names = list(variants)
    for r in range(ROUNDS + 1):
        items = fresh(100 + r)
        for k in names[r % 3 :] + names[: r % 3]:
            intake, hook = variants[k]
            pending: Any = hook.pending if hook is not None else ()
            if hook is not None:
                hook.begin()
            d = 0
            t0 = CLOCK()
            for i, (v, key) in enumerate(items):
                res = intake.process(v, key, (topics.events, 0, i), now, now)
                if pending and hook is not None:
                    d += len(hook.take(res, (topics.events, 0, i), now))
            if r:
                b[k].append((CLOCK() - t0) / n * 1e6)
            disagreements[k] = d
    bm = statistics.median(b["no shadow"])
    for k, v in b.items():
        m = statistics.median(v)
        print(
            f"B pipeline {k:18s} {m:7.1f} us/event (+{m - bm:6.1f}, {(m / bm - 1) * 100:+.1f}%)"
            f" spread {min(v):.0f}-{max(v):.0f}; disagreements {disagreements[k]}/{n}"
        )


if __name__ == "__main__":
    main()
