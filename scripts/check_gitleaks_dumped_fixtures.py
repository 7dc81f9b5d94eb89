"""Dev check (not a held-out score): sluice's secret detection on gitleaks' exact fixtures.

Usage: python scripts/check_gitleaks_dumped_fixtures.py FIXTURES_JSONL [t|f|tf]

``check_gitleaks_fixtures.py`` rebuilds the fixtures from Go source and cannot evaluate
concatenations such as ``"key := \\"p8e-" + secrets.NewSecret(...) + "\\""``. This script
reads them as Go builds them. To dump them from a gitleaks checkout (Go toolchain; the
module proxy fetches gitleaks' own dependencies):

1. in ``cmd/generate/config/utils/validate.go``, make ``Validate`` (and
   ``ValidateWithPaths``) append ``{"id": rule id, "tps": [...], "fps": [...]}`` as one
   JSON line to a file and return the rule without checking it;
2. ``go run ./cmd/generate/config /tmp/out.toml`` (every rule function runs once).

Prints recall on the ``tps`` lines and the share of clean ``fps`` lines (any secret
finding of any sluice rule counts); ``t``/``f`` list the misses / the flagged lines.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "streams"))

from sluice.sanitize import Sanitizer


def main() -> None:
    s = Sanitizer(b"gitleaks-fixture-check")
    mode = sys.argv[2] if len(sys.argv) > 2 else ""
    tp = fn = fp = tn = 0
    misses: list[str] = []
    flagged: list[str] = []
    for line in Path(sys.argv[1]).read_text("utf-8").splitlines():
        row = json.loads(line)
        for text in row.get("tps") or ():
            if any(f.kind.value == "secret" for f in s.scan_text(text)[1]):
                tp += 1
            else:
                fn += 1
                misses.append(f"{row['id']}: {text[:200]!r}")
        for text in row.get("fps") or ():
            found = [f.detector for f in s.scan_text(text)[1] if f.kind.value == "secret"]
            if found:
                fp += 1
                flagged.append(f"{row['id']}: {text[:200]!r} {found}")
            else:
                tn += 1
    summary = {
        "tps_lines": tp + fn,
        "tps_found": tp,
        "recall": round(tp / max(1, tp + fn), 4),
        "fps_lines": fp + tn,
        "fps_flagged": fp,
        "fps_clean": round(tn / max(1, fp + tn), 4),
    }
    print(json.dumps(summary))
    for m in misses if "t" in mode else ():
        print("MISS", m)
    for m in flagged if "f" in mode else ():
        print("FLAGGED", m)


if __name__ == "__main__":
    main()
