"""Build the labelled SQL injection and markup evaluation sets in ``tests/data/detection/``.

Run once (the output is committed); needs local copies of the public sources and ``faker``:

    python scripts/build_detection_eval.py --libinjection DIR --payloadbox DIR \
        --patt DIR [--sqlmap DIR] --out tests/data/detection

Sets (JSON lines ``{"text", "label", "source"}``, label 1 = attack):

- ``sql_dev.jsonl``: payloadbox/sql-injection-payload-list Intruder lists (MIT) and one
  random half of the payloads rendered from sqlmap's ``data/xml/payloads`` templates with
  its boundaries (GPL-2.0, test data only, not shipped), against libinjection's
  ``data/false_positives.txt`` (BSD-3-Clause). Used while developing.
- ``sql_heldout.jsonl``: PayloadsAllTheThings ``SQL Injection/Intruder`` lines (MIT) that are
  not in the dev lists (cheat-sheet annotation lines dropped), plus the other half of the
  rendered sqlmap payloads, against benign values made by Faker (MIT: names,
  addresses, companies, e-mails, dates, numbers, sentences) and Debian package changelog
  lines that contain SQL words (the packages' own free licences). Never tuned against.
- ``markup_dev.jsonl`` / ``markup_heldout.jsonl``: libinjection's ``data/xss-*.txt``
  (BSD-3-Clause) for dev, PayloadsAllTheThings ``XSS Injection/Intruders`` (MIT) for
  held-out, each against benign text that contains ``<``, ``>``, ``&`` or ``on...=``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import urllib.parse
from collections.abc import Iterable
from pathlib import Path

SQL_WORDS = re.compile(
    r"(?i)\b(?:select|drop|union|insert|delete|update|where|from|table|order by|or|and)\b"
)
MARKUP_CHARS = re.compile(r"[<>&]|\bon[a-z]+=")


def _lines(path: Path) -> list[str]:
    out = []
    for raw in path.read_text("utf-8", errors="replace").splitlines():
        line = raw.rstrip("\r\n")
        if not line.strip() or line.startswith("#"):
            continue
        out.append(line)
    return out


def _norm(s: str) -> str:
    return " ".join(s.lower().split())


def _dedup(rows: Iterable[dict[str, object]]) -> list[dict[str, object]]:
    seen: set[str] = set()
    out = []
    for r in rows:
        key = str(r["text"])
        if key in seen:
            continue
        seen.add(key)
        out.append(r)
    return out


def _faker_benign(rng: random.Random, n: int) -> list[str]:
    from faker import Faker

    fakers = [Faker(loc) for loc in ("en_US", "en_IE", "en_GB", "fr_FR", "de_DE")]
    for i, f in enumerate(fakers):
        f.seed_instance(1000 + i)
    out: list[str] = []
    makers = [
        lambda f: f.name(),
        lambda f: f.last_name(),
        lambda f: f.street_address(),
        lambda f: f.address().replace("\n", ", "),
        lambda f: f.company(),
        lambda f: f.email(),
        lambda f: f.user_name(),
        lambda f: f.date(),
        lambda f: f.iso8601(),
        lambda f: str(f.random_int(0, 10**9)),
        lambda f: f"{f.pyfloat(left_digits=4, right_digits=2)}",
        lambda f: f.sentence(),
        lambda f: f.catch_phrase(),
        lambda f: f.uri(),
        lambda f: f.phone_number(),
        lambda f: f.job(),
        lambda f: f.city(),
        lambda f: f.password(length=12),
        lambda f: f.uuid4(),
    ]
    while len(out) < n:
        f = rng.choice(fakers)
        out.append(str(rng.choice(makers)(f)))
    return out


def _changelog_lines(rng: random.Random, n: int, pattern: re.Pattern[str]) -> list[str]:
    lines: list[str] = []
    for path in sorted(Path("/usr/share/doc").glob("*/changelog.Debian.gz")):
        try:
            text = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
        except OSError:
            continue
        for raw in text.splitlines():
            s = raw.strip().lstrip("*-+ ").strip()
            if 12 <= len(s) <= 160 and pattern.search(s):
                lines.append(s)
    lines = sorted(set(lines))
    rng.shuffle(lines)
    return lines[:n]


_SQLMAP_FILL = {
    "[RANDNUM]": lambda r: str(r.randrange(1000, 9999)),
    "[RANDNUM1]": lambda r: str(r.randrange(1000, 9999)),
    "[RANDNUM2]": lambda r: str(r.randrange(1000, 9999)),
    "[RANDNUM3]": lambda r: str(r.randrange(1000, 9999)),
    "[RANDNUM4]": lambda r: str(r.randrange(1000, 9999)),
    "[RANDSTR]": lambda r: "".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(4)),
    "[RANDSTR1]": lambda r: "".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(4)),
    "[RANDSTR2]": lambda r: "".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(4)),
    "[SLEEPTIME]": lambda r: "5",
    "[DELIMITER_START]": lambda r: "0x71786a7171",
    "[DELIMITER_STOP]": lambda r: "0x7170767a71",
    "[INFERENCE]": lambda r: f"{r.randrange(1000, 9999)}={r.randrange(1000, 9999)}",
    "[ORIGVALUE]": lambda r: str(r.randrange(1, 99)),
    "[GENERIC_SQL_COMMENT]": lambda r: "-- -",
    "[QUERY]": lambda r: "SELECT 1",
}


def _sqlmap_payloads(root: Path, rng: random.Random, n: int) -> list[str]:
    """Render sqlmap's test ``<payload>`` templates with one of their boundaries."""
    import xml.etree.ElementTree as ET

    bounds = []
    tree = ET.parse(root / "data/xml/boundaries.xml")  # noqa: S314 - a local checkout
    for b in tree.getroot().iter("boundary"):
        prefix = (b.findtext("prefix") or "").strip()
        suffix = (b.findtext("suffix") or "").strip()
        bounds.append((prefix, suffix))
    out: list[str] = []
    for xml in sorted((root / "data/xml/payloads").glob("*.xml")):
        doc = ET.parse(xml)  # noqa: S314 - a local checkout
        for test in doc.getroot().iter("test"):
            payload = test.findtext("request/payload") or ""
            if not payload.strip():
                continue
            prefix, suffix = rng.choice(bounds)
            s = f"{rng.randrange(1, 99)}{prefix} {payload.strip()} {suffix}".strip()
            for key, fill in _SQLMAP_FILL.items():
                while key in s:
                    s = s.replace(key, fill(rng), 1)
            if "[" in s and re.search(r"\[[A-Z_0-9]+\]", s):
                continue
            out.append(" ".join(s.split()))
    out = sorted(set(out))
    rng.shuffle(out)
    return out[:n]


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    pos = sum(1 for r in rows if r["label"] == 1)
    print(f"{path}: {len(rows)} rows, {pos} attacks, {len(rows) - pos} benign")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--libinjection", type=Path, required=True)
    ap.add_argument("--payloadbox", type=Path, required=True)
    ap.add_argument("--patt", type=Path, required=True)
    ap.add_argument("--sqlmap", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rng = random.Random(20261129)  # noqa: S311 - reproducible sampling, not secrets
    args.out.mkdir(parents=True, exist_ok=True)

    # -- SQL dev ---------------------------------------------------------------------
    dev_pos = []
    for p in sorted(args.payloadbox.rglob("*.txt")):
        if "NoSQL" in str(p):
            continue
        dev_pos += [{"text": t, "label": 1, "source": f"payloadbox/{p.name}"} for t in _lines(p)]
    dev_neg = [
        {"text": t, "label": 0, "source": "libinjection/false_positives.txt"}
        for t in _lines(args.libinjection / "data/false_positives.txt")
    ]
    sqlmap: list[str] = _sqlmap_payloads(args.sqlmap, rng, 800) if args.sqlmap else []
    half = len(sqlmap) // 2
    src = "sqlmap/data/xml/payloads (rendered)"
    dev_pos += [{"text": t, "label": 1, "source": src} for t in sqlmap[:half]]
    _write(args.out / "sql_dev.jsonl", _dedup(dev_pos + dev_neg))
    dev_keys = {_norm(str(r["text"])) for r in dev_pos}

    # -- SQL held-out --------------------------------------------------------------------
    held_pos = []
    for p in sorted((args.patt / "SQL Injection/Intruder").iterdir()):
        for t in _lines(p):
            # cheat-sheet annotations ("Comments:", "'+<TAB>addition ...") are not payloads
            if _norm(t) in dev_keys or "\t" in t or t.rstrip().endswith(":"):
                continue
            held_pos.append({"text": t, "label": 1, "source": f"PayloadsAllTheThings/{p.name}"})
    held_pos += [{"text": t, "label": 1, "source": src} for t in sqlmap[half:]]
    held_neg = [{"text": t, "label": 0, "source": "faker"} for t in _faker_benign(rng, 500)]
    held_neg += [
        {"text": t, "label": 0, "source": "debian changelogs"}
        for t in _changelog_lines(rng, 300, SQL_WORDS)
    ]
    _write(args.out / "sql_heldout.jsonl", _dedup(held_pos + held_neg))

    # -- markup -------------------------------------------------------------------------
    mdev = []
    for p in sorted((args.libinjection / "data").glob("xss-*.txt")):
        for t in _lines(p):
            mdev.append(
                {"text": urllib.parse.unquote(t), "label": 1, "source": f"libinjection/{p.name}"}
            )
    rng.shuffle(mdev)
    mdev = mdev[:600]
    changelog_markup = _changelog_lines(rng, 700, MARKUP_CHARS)
    mdev += [{"text": t, "label": 0, "source": "debian changelogs"} for t in changelog_markup[:350]]
    _write(args.out / "markup_dev.jsonl", _dedup(mdev))
    mheld = []
    skip = {"0xcela_event_handlers.txt", "port_swigger_xss_cheatsheet_event_handlers.txt"}
    for p in sorted((args.patt / "XSS Injection/Intruders").iterdir()):
        if p.name in skip:
            continue
        for t in _lines(p):
            mheld.append({"text": t, "label": 1, "source": f"PayloadsAllTheThings/{p.name}"})
    rng.shuffle(mheld)
    mheld = mheld[:600]
    mheld += [
        {"text": t, "label": 0, "source": "debian changelogs"} for t in changelog_markup[350:]
    ]
    mheld += [{"text": t, "label": 0, "source": "faker"} for t in _faker_benign(rng, 150)]
    _write(args.out / "markup_heldout.jsonl", _dedup(mheld))


if __name__ == "__main__":
    main()
