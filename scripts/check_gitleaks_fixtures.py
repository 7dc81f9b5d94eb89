# ruff: noqa: S311
"""Dev check (not a held-out score): sluice's secret detection on gitleaks' own test cases.

Usage: python scripts/check_gitleaks_fixtures.py GITLEAKS_REPO_DIR

The rules were ported from gitleaks, so this only shows regressions and policy gaps:
* precision on the literal must-not-match lines (``fps``) of cmd/generate/config/rules/*.go
  — every secret finding of any sluice rule counts;
* recall on the sample lines gitleaks generates (``GenerateSampleSecrets``: 26 config and
  source-code shapes around a secret drawn from the rule's own secret regex).
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "streams"))

import port_gitleaks_rules as port  # noqa: E402

from sluice.sanitize import Sanitizer  # noqa: E402
from sluice.sanitize.secrets_rules import expand_template  # noqa: E402

FORMATS = [
    '{i}Token="{s}"', '{i}Token = "{s}"', "{i}Token={s}", "{i}Token = {s}",
    '{\n    "{i}_token": "{s}"\n}', '{"config.ini": "{I}_TOKEN={s}\\nBACKUP_ENABLED=true"}',
    "<{i}Token>\n    {s}\n</{i}Token>", "{i}_token: {s}", "{i}_token: '{s}'",
    '{i}_token: "{s}"', 'string {i}Token = "{s}";', 'var {i}Token string = "{s}"',
    '{i}Token := "{s}"', "{i}Token := `{s}`", 'String {i}Token = "{s}";',
    'var {i}Token = "{s}"', '${i}Token .= "{s}"', "{i}Token = '{s}'", '{i}Token = "{s}"',
    'System.setProperty("{I}_TOKEN", "{s}")', '  "{i}Token" => "{s}"', '{i}_TOKEN = "{s}"',
    '{i}_TOKEN := "{s}"', '{i}_TOKEN ::= "{s}"', '{i}_TOKEN :::= "{s}"', '{i}_TOKEN ?= "{s}"',
]  # fmt: skip
UTILS = {
    "AlphaNumeric": "[a-z0-9]",
    "AlphaNumericExtendedShort": "[a-z0-9_-]",
    "AlphaNumericExtended": "[a-z0-9=_-]",
    "Hex": "[a-f0-9]",
    "Numeric": "[0-9]",
}
_CALL = re.compile(r'GenerateSampleSecrets\("([^"]+)",\s*(.+?)\)\s*$', re.M)
_PART = re.compile(
    r'secrets\.NewSecret\(`([^`]*)`|secrets\.NewSecret\(utils\.(\w+)\("(\d+)"\)|secrets\.NewSecret\("([^"]*)"'
    r'|"([^"]*)"'
)
_STR = re.compile(r'`([^`]*)`|"((?:[^"\\\n]|\\.)*)"')


def _block(src: str, name: str) -> list[str]:
    out: list[str] = []
    for m in re.finditer(name + r"\s*:?=\s*(?:append\(\w+,\s*)?\[\]string\{", src):
        depth, j = 1, m.end()
        while depth and j < len(src):
            c = src[j]
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            elif c == "`":
                j = src.index("`", j + 1)
            elif c == '"':
                k = j + 1
                while src[k] != '"':
                    k += 2 if src[k] == "\\" else 1
                j = k
            j += 1
        body = re.sub(r"//[^\n]*", "", src[m.end() : j - 1])
        for sm in _STR.finditer(body):
            if sm.group(1) is not None:
                out.append(sm.group(1))
            else:
                try:
                    out.append(json.loads('"' + sm.group(2) + '"'))
                except ValueError:
                    pass
    return out


def _generated(src: str, rng: random.Random) -> list[str]:
    out: list[str] = []
    for m in _CALL.finditer(src):
        ident, parts = m.group(1), []
        for p in _PART.finditer(m.group(2)):
            if p.group(1) is not None:
                parts.append(p.group(1))
            elif p.group(2):
                parts.append(UTILS.get(p.group(2), "[a-z0-9]") + "{" + p.group(3) + "}")
            elif p.group(4) is not None:
                parts.append(p.group(4))  # NewSecret("regex")
            elif p.group(5) is not None:
                parts.append(re.escape(p.group(5)))
        if not parts:
            continue
        try:
            secret = expand_template(port.templates("".join(parts))[0], rng)
        except (ValueError, KeyError, re.error):
            continue
        if "<<" in secret or not secret:
            continue
        for f in FORMATS:
            out.append(f.replace("{i}", ident).replace("{I}", ident.upper()).replace("{s}", secret))
    return out


def main() -> None:
    repo = sys.argv[1]
    files = subprocess.run(
        ["git", "-C", repo, "ls-tree", "--name-only", "HEAD", "cmd/generate/config/rules/"],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    s = Sanitizer(b"gitleaks-fixture-check")
    rng = random.Random(5)
    fp = tn = tp = fn = 0
    for path in files:
        src = subprocess.run(
            ["git", "-C", repo, "show", f"HEAD:{path}"], check=True, capture_output=True, text=True
        ).stdout
        for line in _block(src, "fps"):
            hit = any(f.kind.value == "secret" for f in s.scan_text(line)[1])
            fp, tn = fp + hit, tn + (not hit)
        for line in _generated(src, rng):
            hit = any(f.kind.value == "secret" for f in s.scan_text(line)[1])
            tp, fn = tp + hit, fn + (not hit)
    print(json.dumps({"fps_lines": fp + tn, "fps_flagged": fp, "generated_lines": tp + fn,
                      "generated_found": tp, "recall": round(tp / max(1, tp + fn), 4),
                      "fps_clean": round(tn / max(1, fp + tn), 4)}))  # fmt: skip


if __name__ == "__main__":
    main()
