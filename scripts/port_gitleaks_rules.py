# ruff: noqa: S311
"""Port gitleaks' default rules (config/gitleaks.toml, MIT) into sluice's rules-as-data layout.

Usage: python scripts/port_gitleaks_rules.py GITLEAKS_TOML OUT_YAML

Each gitleaks rule becomes one entry with its regex (Go regexp syntax is RE2 syntax),
secret group, entropy floor, keywords (checked near the hit, as gitleaks checks them in
the fragment), rule allow-lists (regexes on the secret or the match, stop-words), and
samples: positives are *templates* generated from the regex itself (``<<X:n>>`` random
runs, so no literal credential is stored), negatives are the same template with the
secret run cut short plus a prose line naming the provider. A sample that does not
behave (checked with sluice's own loader) is dropped; a rule left without a positive is
not ported. The file is generated: edit this script, not the output.
"""

from __future__ import annotations

import random
import re
import re._constants as C
import re._parser as P
import sys
import tomllib
from typing import Any

import yaml

# charsets of sluice.sanitize.secrets_rules._CHARSETS, largest first for the subset choice
CHARSETS = {
    "B": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
    "W": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-",
    "A": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
    "K": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "N": "abcdefghijklmnopqrstuvwxyz0123456789",
    "M": "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    "S": "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567",
    "U": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "L": "abcdefghijklmnopqrstuvwxyz",
    "H": "0123456789abcdef",
    "F": "0123456789ABCDEF",
    "D": "0123456789",
}
PRINTABLE = [chr(c) for c in range(32, 127)]
# kubernetes-secret-yaml: (?s:.){0,200}? counters blow up the shared RE2 DFA
SKIP: set[str] = {"kubernetes-secret-yaml"}
#: Detector names kept from sluice's earlier hand-written rules.
RENAME = {"gcp-api-key": "google_api_key"}
#: Rules that are fallbacks, not formats: after every specific rule, with a post-filter.
GENERIC = {"generic-api-key"}
#: Path-scoped in gitleaks (.tf), generic password assignments anywhere else.
AFTER_PASSWORDS = {"hashicorp-tf-password"}


def _class_chars(items: list[Any]) -> set[str]:
    out: set[str] = set()
    negate = False
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            out.add(chr(av))
        elif op is C.RANGE:
            out.update(chr(c) for c in range(av[0], av[1] + 1) if c < 127)
        elif op is C.CATEGORY:
            name = str(av)
            if "DIGIT" in name:
                s = set("0123456789")
            elif "WORD" in name:
                s = set(CHARSETS["A"] + "_")
            elif "SPACE" in name:
                s = set(" \t\n")
            else:
                s = set()
            if "NOT" in name:
                s = set(PRINTABLE) - s
            out |= s
    if negate:
        out = set(PRINTABLE) - out - {"\n"}
    return out


class Gen:
    def __init__(self, rng: random.Random, branch: int, fill_optional: bool) -> None:
        self.rng = rng
        self.branch = branch
        self.fill = fill_optional

    def pick(self, chars: set[str]) -> str:
        for pref in (" ", "_", "a", "A", "0", "-", "=", '"'):
            if pref in chars:
                return pref
        return sorted(chars)[0] if chars else ""

    def run(self, chars: set[str], n: int) -> str:
        if n >= 6:
            for name, cs in CHARSETS.items():
                if set(cs) <= chars:
                    return f"<<{name}:{n}>>"
        pool = sorted(c for c in chars if c.isalnum()) or sorted(chars)
        return "".join(self.rng.choice(pool) for _ in range(n)) if pool else ""

    def seq(self, sub: Any) -> str:
        return "".join(self.node(op, av) for op, av in sub)

    def node(self, op: Any, av: Any) -> str:
        if op is C.LITERAL:
            return chr(av)
        if op is C.NOT_LITERAL:
            return "a" if chr(av) != "a" else "b"
        if op is C.ANY:
            return "."
        if op is C.IN:
            return self.pick(_class_chars(av))
        if op is C.AT:
            return ""
        if op is C.SUBPATTERN:
            return self.seq(av[3])
        if op is C.BRANCH:
            alts = av[1]
            return self.seq(alts[min(self.branch, len(alts) - 1)])
        if op in (C.MAX_REPEAT, C.MIN_REPEAT, C.POSSESSIVE_REPEAT):
            lo, hi, sub = av
            hi = 64 if hi is C.MAXREPEAT else hi
            if lo == 0:
                # fill optional parts, but not the free-form prefix before a keyword
                n = (1 if hi == 1 else min(hi, 24)) if self.fill and hi < 40 else 0
            elif lo == hi:
                n = lo
            else:
                n = max(lo, min(hi, 32))
            if len(sub) == 1 and sub[0][0] is C.IN:
                chars = _class_chars(sub[0][1])
                if " " in chars and n > 3 and lo == 0:
                    n = 0
                return self.run(chars, n)
            return "".join(self.seq(sub) for _ in range(n))
        if op is C.GROUPREF:
            raise ValueError("backreference")
        raise ValueError(f"unsupported {op}")


def _pyparse(regex: str) -> Any:
    pyre = regex.replace("\\z", "\\Z").replace("[[:alnum:]]", "[A-Za-z0-9]")
    try:
        return P.parse(pyre)
    except re.error:
        return P.parse(pyre.replace("(?i)", ""))  # Go allows flags mid-pattern


def templates(regex: str) -> list[str]:
    tree = _pyparse(regex)
    out: list[str] = []
    for branch in (0, 1, 2):
        for fill in (False, True):
            t = Gen(random.Random(f"{regex}{branch}{fill}"), branch, fill).seq(tree)
            if t and t not in out:
                out.append(t)
    return out


def shorten(template: str) -> str | None:
    runs = list(re.finditer(r"<<([A-Z]):(\d+)>>", template))
    if not runs:
        return None
    longest = max(runs, key=lambda m: int(m.group(2)))
    n = int(longest.group(2))
    return template[: longest.start()] + f"<<{longest.group(1)}:{max(3, n // 3)}>>" + template[
        longest.end() :
    ]


def convert(raw: dict[str, Any]) -> dict[str, Any] | None:
    # path-scoped rules (.tf, nuget.config, k8s YAML, PHP) apply to any event text here
    if "regex" not in raw or raw["id"] in SKIP:
        return None
    rid = raw["id"]
    det = RENAME.get(rid) or re.sub(r"[^a-z0-9]+", "_", rid.lower()).strip("_")
    rule: dict[str, Any] = {
        "id": f"gitleaks:{rid}",
        "detector": det,
        "description": raw.get("description", "").strip(),
        # The lazy free-form prefix [\w.-]{0,50}? can match nothing, so dropping it finds
        # the same secrets; kept, its counter multiplies RE2's DFA states ~50-fold and
        # the shared pattern set falls back to the slow NFA on every event.
        "regex": raw["regex"].replace("[\\w.-]{0,50}?", ""),
    }
    groups = _pyparse(raw["regex"]).state.groups - 1
    group = int(raw.get("secretGroup", 1 if groups else 0))
    if group:
        rule["group"] = group
    rule["severity"] = "critical" if "private" in rid or "secret-key" in rid else "high"
    rule["confidence"] = 0.9
    rule["priority"] = 25
    if rid in AFTER_PASSWORDS:
        rule["priority"] = 32  # a password assignment: sluice's password rules first
        rule["filter"] = "quoted_password"  # "rootpasswd", "somefakekey": not passwords
    if rid in GENERIC:
        rule["confidence"] = 0.7
        rule["priority"] = 45
        rule["filter"] = "generic_value"
    if "entropy" in raw:
        rule["entropy"] = float(raw["entropy"])
    if raw.get("keywords"):
        rule["keywords"] = [k.lower() for k in raw["keywords"]]
    allow: list[str] = []
    allow_match: list[str] = []
    stop: list[str] = []
    for al in raw.get("allowlists", []):
        if al.get("paths") or al.get("commits") or al.get("condition"):
            continue
        target = al.get("regexTarget", "secret")
        if target == "secret":
            allow += al.get("regexes", [])
        elif target == "match":
            allow_match += al.get("regexes", [])
        stop += al.get("stopwords", [])
    if allow:
        rule["allow"] = allow
    if allow_match:
        rule["allow_match"] = allow_match
    if stop:
        rule["stopwords"] = stop
    rule["positives"] = templates(rule["regex"])
    kws = rule.get("keywords", [])
    if kws and not any(k in t.lower() for t in rule["positives"] for k in kws):
        # gitleaks needs a keyword in the fragment; say which provider it is
        rule["positives"] = [f"{kws[0]}: {t}" for t in rule["positives"]]
    neg = [shorten(t) for t in rule["positives"][:1]]
    rule["negatives"] = [n for n in neg if n] + [
        f"rotate the {det.split('_')[0]} credentials from the settings page"
    ]
    return rule


def main() -> None:
    sys.path.insert(0, "streams")
    from sluice.sanitize.secrets import rule_fires
    from sluice.sanitize.secrets_rules import expand_template, load_secret_rules

    doc = tomllib.load(open(sys.argv[1], "rb"))
    rules = [r for r in (convert(x) for x in doc["rules"]) if r]
    gal = doc.get("allowlist", {})
    out = {
        "source": "gitleaks config/gitleaks.toml (MIT, Copyright (c) 2019 Zachary Rice)",
        "allow": gal.get("regexes", []),
        "stopwords": gal.get("stopwords", []),
        "rules": rules,
    }
    kept = []
    for r in rules:
        spec = load_secret_rules(yaml.safe_dump({**out, "rules": [r]}))[0]
        pos = []
        for t in r["positives"]:
            ok = all(
                rule_fires(spec, expand_template(t, random.Random(f"{r['id']}{s}")))
                for s in range(6)
            )
            if ok:
                pos.append(t)
        negs = [
            t
            for t in r["negatives"]
            if not any(
                rule_fires(spec, expand_template(t, random.Random(f"{r['id']}{s}")))
                for s in range(6)
            )
        ]
        if not pos or not negs:
            print("dropped", r["id"], file=sys.stderr)
            continue
        r["positives"], r["negatives"] = pos[:3], negs
        kept.append(r)
    out["rules"] = kept
    header = (
        "# GENERATED by scripts/port_gitleaks_rules.py from gitleaks config/gitleaks.toml\n"
        "# (MIT licence, Copyright (c) 2019 Zachary Rice). Do not edit by hand.\n"
        "# Layout: see secrets.yaml. Extra keys: keywords (one must occur near the hit),\n"
        "# allow / allow_match (RE2 allow-lists on the secret / the whole match), stopwords.\n"
    )
    with open(sys.argv[2], "w", encoding="utf-8") as fh:
        fh.write(header)
        yaml.safe_dump(out, fh, sort_keys=False, allow_unicode=False, width=200)
    print(f"{len(kept)} of {len(doc['rules'])} rules ported", file=sys.stderr)


if __name__ == "__main__":
    main()
