# ruff: noqa: S311, S102
"""Build the held-out detection evaluation sets in streams/sluice/tools/bench/data/.

Usage: python scripts/build_secret_pii_eval.py DETECT_SECRETS_REPO_DIR

* ``secrets_eval.jsonl``: every labelled line of Yelp/detect-secrets' plugin tests
  (tests/plugins/*_test.py, Apache-2.0), which no sluice rule was written from (the
  rules come from gitleaks). One record per line: text, label (true = holds a secret),
  source. The high-entropy-string tests are left out: they flag any quoted base64, which
  sluice deliberately does not (ordinary blobs in prose are not secrets).
* ``pii_eval.jsonl``: Faker (MIT) values in many locales (phone numbers in national
  and international formats, card numbers of all Faker's issuers, IBANs written
  lower-case and spaced, e-mails) inside short sentences, with labelled spans; and
  benign texts: docstring paragraphs of the Python standard library (PSF licence) that
  contain digits (versions, dates, sizes, RFC numbers) and no e-mail address.

Both are small (a few hundred KB) and deterministic (fixed seeds).
"""

from __future__ import annotations

import ast
import base64
import inspect
import json
import pkgutil
import random
import re
import string
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

from faker import Faker

OUT = Path(__file__).resolve().parent.parent / "streams" / "sluice" / "tools" / "bench" / "data"
SKIP = {"base_test.py", "high_entropy_strings_test.py", "ip_public_test.py"}
POS_NAMES = ("analyze", "positive", "match", "flag", "find", "detect")
NEG_NAMES = ("negative", "false", "no_", "not_", "ignore", "skip")


def _git_show(repo: str, path: str) -> str:
    return subprocess.run(
        ["git", "-C", repo, "show", f"HEAD:{path}"], check=True, capture_output=True, text=True
    ).stdout


def _param_cases(src: str, path: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    tree = ast.parse(src)
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef | ast.ClassDef):
            continue
        for dec in fn.decorator_list:
            if not (
                isinstance(dec, ast.Call)
                and isinstance(dec.func, ast.Attribute)
                and dec.func.attr == "parametrize"
                and len(dec.args) >= 2
            ):
                continue
            try:
                names = [n.strip() for n in ast.literal_eval(dec.args[0]).split(",")]
                values = ast.literal_eval(dec.args[1])
            except (ValueError, SyntaxError, AttributeError):
                continue
            for v in values:
                row = v if isinstance(v, tuple) else (v,)
                if len(row) != len(names):
                    continue
                texts = [x for x in row if isinstance(x, str)]
                bools = [x for x in row if isinstance(x, bool)]
                if len(texts) != 1:
                    continue
                if bools:
                    label = bools[0]
                else:
                    name = fn.name.lower()
                    if any(k in name for k in NEG_NAMES):
                        label = False
                    elif any(k in name for k in POS_NAMES):
                        label = True
                    else:
                        continue
                out.append({"text": texts[0], "label": label, "source": path})
    return out


def _keyword_cases(src: str, path: str) -> list[dict[str, Any]]:
    tree = ast.parse(src)
    ns: dict[str, Any] = {"base64": base64, "randint": random.randint}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            exec(compile(ast.Module([node], []), path, "exec"), ns)  # literals and format()
    out = []
    for name, val in ns.items():
        if name.endswith("_TEST_CASES") and isinstance(val, list):
            for row in val:
                if isinstance(row, tuple) and len(row) >= 2 and isinstance(row[0], str):
                    if len(row[0]) > 2000:
                        continue  # the 32 KB image line
                    out.append({"text": row[0], "label": row[1] is not None, "source": path})
    return out


_RUN = re.compile(r"([xXzZ0-9*])\1{3,}")


def _instantiate(text: str, rng: random.Random) -> str:
    """Runs such as ``xxxx`` / ``ZZZZ`` (detect-secrets tests shape, not value) become
    random characters of the same case, so that the line holds a plausible value; a
    literal ``xxxx`` is a placeholder and must not fire (gitleaks' policy and sluice's)."""

    def repl(m: re.Match[str]) -> str:
        ch = m.group(1)
        if ch.isdigit():
            pool = string.digits
        elif ch == "*":
            return m.group(0)
        elif ch.isupper():
            pool = string.ascii_uppercase + string.digits
        else:
            pool = string.ascii_lowercase + string.digits
        return "".join(rng.choice(pool) for _ in m.group(0))

    return _RUN.sub(repl, text)


def build_secrets(repo: str) -> list[dict[str, Any]]:
    files = subprocess.run(
        ["git", "-C", repo, "ls-tree", "--name-only", "HEAD", "tests/plugins/"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    rows: list[dict[str, Any]] = []
    for path in sorted(files):
        if not path.endswith("_test.py") or Path(path).name in SKIP:
            continue
        src = _git_show(repo, path)
        rows += _keyword_cases(src, path) if "keyword" in path else _param_cases(src, path)
    rng = random.Random(7)
    for r in rows:
        r["text"] = _instantiate(r["text"], rng)
    seen: set[str] = set()
    uniq = []
    for r in rows:
        if r["text"] not in seen:
            seen.add(r["text"])
            uniq.append(r)
    return uniq


_LOCALES = [
    "en_US", "en_GB", "en_CA", "en_AU", "en_IN", "en_NZ", "en_IE", "en_PH", "de_DE",
    "de_AT", "de_CH", "fr_FR", "fr_CH", "fr_CA", "it_IT", "es_ES", "es_MX", "es_AR",
    "es_CO", "es_CL", "pt_PT", "pt_BR", "nl_NL", "nl_BE", "sv_SE", "no_NO", "da_DK",
    "fi_FI", "pl_PL", "cs_CZ", "sk_SK", "hu_HU", "ro_RO", "bg_BG", "el_GR", "tr_TR",
    "ru_RU", "uk_UA", "he_IL", "ar_AA", "fa_IR", "hi_IN", "ja_JP", "ko_KR", "zh_CN",
    "zh_TW", "th_TH", "vi_VN", "id_ID", "hr_HR", "sl_SI", "lt_LT", "lv_LV", "et_EE",
    "ka_GE", "hy_AM", "az_AZ", "bn_BD", "ne_NP", "tl_PH", "en_TH",
]  # fmt: skip
_TEMPLATES = [
    "Please call {v} before noon.",
    "Contact: {v}",
    "You can reach the site office on {v} or by mail.",
    "{name}, {v}, asked for a callback about ticket {n}.",
    "tel {v}",
    "Emergency number for the team: {v}.",
    "Customer {name} ({v}) confirmed the order of {n} items.",
    "Paid with card {v} on {date}.",
    "Transfer to {v} by Friday.",
    "Send the report to {v}, thanks!",
]
# The held-out split uses other sentences, another seed and other benign paragraphs.
_HELDOUT_TEMPLATES = [
    "Her number is {v}.",
    "Ring {v} for the reception desk",
    "{name} - mobile: {v}",
    "Reachable at {v} during office hours, ask for {name}.",
    "phone {v} / ref {n}",
    "For urgent issues dial {v} and quote case {n}.",
    "{name} left {v} as a contact on {date}.",
    "The invoice was settled with {v} on {date}.",
    "Account {v} will receive the refund.",
    "Write to {v} if the link expires.",
]
_KIND_TEMPLATES = {
    "phone": [0, 1, 2, 3, 4, 5, 6],
    "card": [7, 1, 3],
    "iban": [8, 1, 3],
    "email": [9, 1, 3],
}


def _place(
    rng: random.Random, fk: Faker, kind: str, value: str, templates: list[str]
) -> dict[str, Any]:
    t = templates[rng.choice(_KIND_TEMPLATES[kind])]
    name = fk.name()
    n = str(rng.randrange(2, 400))
    date = fk.date()
    pre, post = t.split("{v}")
    pre = pre.format(name=name, n=n, date=date)
    post = post.format(name=name, n=n, date=date)
    text = pre + value + post
    return {"text": text, "spans": [[len(pre), len(pre) + len(value), kind]]}


def build_pii(seed: int, templates: list[str], benign_slice: slice) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    Faker.seed(seed)
    rows: list[dict[str, Any]] = []
    for loc in _LOCALES:
        try:
            fk = Faker(loc)
        except AttributeError:
            continue
        try:
            phones = [fk.phone_number() for _ in range(3)]
        except AttributeError:
            phones = []
        rows += [_place(rng, fk, "phone", p, templates) for p in phones]
        iban = fk.iban() if hasattr(fk, "iban") else None
        if iban and rng.random() < 0.7:
            style = rng.randrange(3)
            if style == 1:
                iban = iban.lower()
            elif style == 2:
                iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
            rows.append(_place(rng, fk, "iban", iban, templates))
    en = Faker("en_US")
    for ctype in ["visa13", "visa16", "visa19", "mastercard", "amex", "discover", "jcb15",
                  "jcb16", "diners", "maestro"] * 3:  # fmt: skip
        num = en.credit_card_number(card_type=ctype)
        if rng.random() < 0.5:
            num = " ".join(num[i : i + 4] for i in range(0, len(num), 4))
        rows.append(_place(rng, en, "card", num, templates))
    for _ in range(20):
        loc = rng.choice(_LOCALES)
        rows.append(_place(rng, Faker(loc), "email", Faker(loc).email(), templates))
    for r in rows:
        r["source"] = "faker"
    return rows + _benign(benign_slice)


def _benign(part: slice) -> list[dict[str, Any]]:
    paras: list[str] = []
    import importlib

    for mod in sorted(m.name for m in pkgutil.iter_modules() if not m.name.startswith("_")):
        if mod in {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo"}:
            continue
        if mod not in sys.stdlib_module_names:
            continue
        try:
            m = importlib.import_module(mod)
        except Exception:  # noqa: BLE001, S112 - optional modules
            continue
        for _, obj in inspect.getmembers(m):
            doc = inspect.getdoc(obj) if callable(obj) else None
            if not doc:
                continue
            for p in doc.split("\n\n"):
                p = " ".join(p.split())
                if 60 <= len(p) <= 400 and any(c.isdigit() for c in p) and "@" not in p:
                    paras.append(p)
    paras = sorted(set(paras))
    random.Random(1).shuffle(paras)
    return [{"text": p, "spans": [], "source": "python-stdlib-docstrings"} for p in paras[part]]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    secrets = build_secrets(sys.argv[1])
    # dev: looked at while tuning; heldout: only ever scored (split by a hash of the text)
    dev = [r for r in secrets if zlib.crc32(r["text"].encode()) % 2 == 0]
    held = [r for r in secrets if zlib.crc32(r["text"].encode()) % 2 == 1]
    sets = {
        "secrets_dev.jsonl": dev,
        "secrets_heldout.jsonl": held,
        "pii_dev.jsonl": build_pii(20261129, _TEMPLATES, slice(0, 300)),
        "pii_heldout.jsonl": build_pii(4242, _HELDOUT_TEMPLATES, slice(300, 600)),
    }
    for name, rows in sets.items():
        with open(OUT / name, "w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
        print(name, len(rows))


if __name__ == "__main__":
    main()
