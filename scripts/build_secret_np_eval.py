"""Build an independent secrets evaluation set from Nosey Parker's rule examples.

Usage: python scripts/build_secret_np_eval.py NOSEYPARKER_GIT_DIR

Nosey Parker (praetorian-inc/noseyparker, Apache-2.0) is a scanner whose rules sluice did
NOT port (sluice's ported rules come from gitleaks). Each of its rules
(``crates/noseyparker/data/default/builtin/rules/*.yml``) carries ``examples`` (text the
rule must match) and ``negative_examples`` (look-alikes it must not match). Labels:

* examples of rules in Nosey Parker's ``default`` ruleset (secrets) -> label true;
* negative examples of any rule, and examples of its ``np.assets`` rules (public
  identifiers: client ids, bucket names, ARNs, public keys) -> label false, unless one of
  the default rules' own patterns matches the text (a look-alike for one rule that holds
  another rule's secret): such lines are left out;
* left out entirely: ``np.hashes`` (password hashes: policy differs between tools),
  ``np.aws.1`` (an AKIA access key id: an asset to Nosey Parker, a secret to gitleaks and
  to sluice) and rules in no ruleset.

Texts are stored base64-encoded (``text_b64``) so that no provider-shaped token sits in
the repository in plain text (push-protection scanners would block it). Split by CRC32
of the text: even -> ``secrets_np_dev.jsonl`` (looked at while tuning), odd ->
``secrets_np_heldout.jsonl`` (only ever scored).
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import yaml

OUT = Path(__file__).resolve().parent.parent / "streams" / "sluice" / "tools" / "bench" / "data"
RULES_DIR = "crates/noseyparker/data/default/builtin/rules"
RULESETS_DIR = "crates/noseyparker/data/default/builtin/rulesets"
EXCLUDED_RULES = {"np.aws.1"}


def _git(git_dir: str, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True, text=True
    ).stdout


def _ruleset(git_dir: str, name: str) -> set[str]:
    doc = yaml.safe_load(_git(git_dir, "show", f"HEAD:{RULESETS_DIR}/{name}"))
    return {i for rs in doc["rulesets"] for i in rs.get("include_rule_ids", [])}


def _compile(pattern: str) -> re.Pattern[str] | None:
    # Rust regex allows inline flags mid-pattern; Python only at the start (a close
    # enough reading for this cross-check: the flag then applies to the whole pattern)
    flags = "".join(sorted(set("".join(re.findall(r"\(\?([imsx]+)\)", pattern)))))
    body = re.sub(r"\(\?[imsx]+\)", "", pattern)
    try:
        return re.compile(f"(?{flags}){body}" if flags else body)
    except re.error:
        return None


def build(git_dir: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    commit = _git(git_dir, "rev-parse", "HEAD").strip()
    default = _ruleset(git_dir, "default.yml")
    assets = _ruleset(git_dir, "np.assets.yml")
    listing = _git(git_dir, "ls-tree", "--name-only", f"HEAD:{RULES_DIR}/").split()
    files = [f for f in listing if f.endswith(".yml")]
    rules: list[tuple[str, dict[str, Any]]] = []
    for f in sorted(files):
        doc = yaml.safe_load(_git(git_dir, "show", f"HEAD:{RULES_DIR}/{f}"))
        rules += [(f, r) for r in doc.get("rules", [])]
    default_patterns = [p for _, r in rules if r["id"] in default and (p := _compile(r["pattern"]))]
    rows: dict[str, dict[str, Any]] = {}
    stats = {"positives": 0, "negatives": 0, "dropped_cross_rule": 0, "skipped_rules": 0}

    def add(text: str, label: bool, source: str) -> None:
        text = text.rstrip("\n")
        if not text.strip():
            return
        if not label and any(p.search(text) for p in default_patterns):
            stats["dropped_cross_rule"] += 1
            return
        prev = rows.get(text)
        if prev is not None:
            if prev["label"] != label:  # contradictory labels: keep neither
                prev["conflict"] = True
            return
        rows[text] = {"text": text, "label": label, "source": source}

    for f, r in rules:
        rid = r["id"]
        src = f"noseyparker@{commit[:10]}:{f}#{rid}"
        if rid in EXCLUDED_RULES or (rid not in default and rid not in assets):
            stats["skipped_rules"] += 1
            continue
        for ex in r.get("examples") or []:
            add(ex, rid in default, src + ":example")
        for ex in r.get("negative_examples") or []:
            add(ex, False, src + ":negative_example")
    out = [r for r in rows.values() if not r.get("conflict")]
    stats["positives"] = sum(r["label"] for r in out)
    stats["negatives"] = sum(not r["label"] for r in out)
    meta = {"commit": commit, "licence": "Apache-2.0", **stats}
    return out, meta


def main() -> None:
    rows, meta = build(sys.argv[1])
    dev = [r for r in rows if zlib.crc32(r["text"].encode()) % 2 == 0]
    held = [r for r in rows if zlib.crc32(r["text"].encode()) % 2 == 1]
    for name, part in (("secrets_np_dev.jsonl", dev), ("secrets_np_heldout.jsonl", held)):
        with open(OUT / name, "w", encoding="utf-8") as fh:
            for r in part:
                enc = base64.b64encode(r["text"].encode()).decode()
                rec = {"text_b64": enc, "label": r["label"], "source": r["source"]}
                fh.write(json.dumps(rec) + "\n")
        pos = sum(r["label"] for r in part)
        print(name, len(part), "lines:", pos, "positive,", len(part) - pos, "negative")
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
