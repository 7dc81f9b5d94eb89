"""SQL injection detectors: libinjection's token fingerprints, plus named RE2 rules.

The rules are data, in ``rules/sql.yaml`` (each with positive and negative samples, read
once on first use); this module loads them and builds the engine's rules. Fields treated
``sql`` (values interpolated into a query, e.g. HTTP parameter values):

- ``sqli_fingerprint``: the value, and its URL-decoded form when it holds ``%XX`` escapes
  (decoded up to three times, for double encoding), is tokenized and folded by
  :mod:`sluice.sanitize.sqli_fingerprint` (a port of libinjection, BSD) and its token
  fingerprint looked up in libinjection's list. This is what catches boolean-blind
  payloads with comparisons and nested parentheses, function probes (``version()``,
  ``extractvalue``, ``updatexml``), ``-1union(((select``, ``%0A``-separated payloads and
  MySQL versioned comments ``/*!50000UNION*/`` (unparsable comments are themselves SQLi).
- named RE2 rules (tautology, stacked query, comment truncation, UNION, time-based blind,
  boolean probe, subquery, CASE WHEN, function and catalog probes, stored procedure,
  ORDER BY probe, whole statement, bare quote probe) keep explainable detector names and
  catch what the five-token fingerprint misses (e.g. ``EXEC sp_configure``). They see the
  view; ``encoded_sqli`` runs them on the decoded forms (``%XX``, ``\\xNN``, typographic
  quotes; :mod:`sluice.sanitize.sql_decode`). Each reports its first match per field.
- short-probe rules (``quote_breakout``, ``numeric_boolean``, ``statement_end``) judge
  values of at most :data:`PROBE_CHARS` characters on their unfolded tokens
  (:mod:`sluice.sanitize.sql_probes`).

``text`` and ``html`` fields get stricter variants that require an injection context:
a quote break-out (``' or 1=1``, ``'; drop``), a comment-obfuscated ``UNION/**/SELECT`` or
versioned comment, or a stacked ``; DROP TABLE x --``, so that prose and code that merely
mention SQL do not fire.

Why not sqlparse: a non-validating parser ~100x slower per value than one RE2 set match
that tokenises rather than judges. Why RE2 for the named rules: linear time on attacker
input, one-pass ``re2.Set`` with the other families. Tautologies need "left equals right",
which RE2 cannot express (no backreferences), so a validator compares the two operands
(:mod:`sluice.sanitize.sql_checks`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

import yaml

from sluice.errors import ConfigError
from sluice.models.finding import FindingKind, Severity
from sluice.sanitize.base import Check, Rule
from sluice.sanitize.sql_checks import check_fingerprint, tautology_check
from sluice.sanitize.sql_decode import decoded_forms
from sluice.sanitize.sql_probes import PROBE_CHARS, PROBE_NAMES, probe_check
from sluice.sanitize.sql_probes import clear_cache as _clear_probes
from sluice.sanitize.sql_shapes import arithmetic_check, hex_sql_check
from sluice.sanitize.sqli_fingerprint import MAX_CHARS

__all__ = [
    "PROBE_CHARS",
    "SqlSpec",
    "clear_caches",
    "decoded_forms",
    "load_sql_rules",
    "sql_rules",
    "sql_specs",
]

_SQLI = FindingKind.SQL_INJECTION
_TREATMENTS = frozenset({"text", "html", "sql"})
_SCOPES = ("first", "field")
_FRAGMENT = re.compile(r"\{\{(\w+)\}\}")


@dataclass(frozen=True, slots=True)
class SqlSpec:
    """One SQL rule as written in ``rules/sql.yaml``, with its samples."""

    id: str
    detector: str
    description: str
    #: RE2 pattern, fragments expanded and lines joined.
    regex: str
    #: ``first``: reports its first match per field; ``field``: spans the field as written.
    scope: str
    check: str | None
    treatments: frozenset[str]
    severity: Severity
    confidence: float
    priority: int
    positives: tuple[str, ...]
    negatives: tuple[str, ...]


def _decoded_check(treatment: str) -> Callable[[SqlSpec], Check]:
    return lambda spec: _encoded_check(treatment)


#: Named validators (``check:`` in the rule file): each builds a rule's check from its spec.
CHECKS: dict[str, Callable[[SqlSpec], Check]] = {
    "fingerprint": lambda spec: check_fingerprint,
    "tautology": lambda spec: tautology_check(spec.regex),
    "decoded_sql": _decoded_check("sql"),
    "decoded_text": _decoded_check("text"),
    "arithmetic": lambda spec: arithmetic_check,
    "hex_sql": lambda spec: hex_sql_check,
    **{name: (lambda spec: probe_check(spec.check or "")) for name in PROBE_NAMES},
}


def _pattern(raw: Any, fragments: dict[str, str], where: str) -> str:
    """A regex as written (a block's lines joined) with its ``{{name}}`` fragments expanded."""
    text = "".join(str(raw).splitlines())

    def expand(m: re.Match[str]) -> str:
        name = m.group(1)
        if name not in fragments:
            raise ConfigError(f"sql rules: {where}: unknown fragment {{{{{name}}}}}")
        return fragments[name]

    return _FRAGMENT.sub(expand, text)


def load_sql_rules(text: str) -> tuple[SqlSpec, ...]:
    """Parse the SQL rule file (YAML text) into specs.

    Raises:
        ConfigError: malformed file, duplicate id, unknown check, fragment, scope or
            treatment, a rule without samples, or a regex RE2 rejects.
    """
    import re2

    try:
        doc = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
        raw_rules = doc["rules"]
        fragments: dict[str, str] = {}
        for name, raw in (doc.get("fragments") or {}).items():
            fragments[str(name)] = _pattern(raw, fragments, f"fragment {name}")
    except (yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"sql rules: not a rules file ({type(exc).__name__})") from exc
    specs: list[SqlSpec] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_rules):
        try:
            rid = str(raw["id"])
            spec = SqlSpec(
                id=rid,
                detector=str(raw.get("detector", rid)),
                description=str(raw.get("description", "")),
                regex=_pattern(raw["regex"], fragments, rid),
                scope=str(raw.get("scope", "first")),
                check=str(raw["check"]) if raw.get("check") else None,
                treatments=frozenset(str(t) for t in raw["treatments"]),
                severity=Severity(raw.get("severity", "high")),
                confidence=float(raw["confidence"]),
                priority=int(raw["priority"]),
                positives=tuple(str(t) for t in raw.get("positives") or ()),
                negatives=tuple(str(t) for t in raw.get("negatives") or ()),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"sql rules: rule #{i} is malformed ({exc})") from exc
        if rid in seen:
            raise ConfigError(f"sql rules: duplicate id {rid!r}")
        seen.add(rid)
        if spec.check is not None and spec.check not in CHECKS:
            raise ConfigError(f"sql rules: {rid}: unknown check {spec.check!r}")
        if spec.scope not in _SCOPES:
            raise ConfigError(f"sql rules: {rid}: scope is first or field, not {spec.scope!r}")
        if not spec.treatments or not spec.treatments <= _TREATMENTS:
            raise ConfigError(f"sql rules: {rid}: treatments are text, html or sql")
        if not spec.positives or not spec.negatives:
            raise ConfigError(f"sql rules: {rid}: needs positives and negatives")
        try:
            re2.compile(spec.regex)
        except re2.error as exc:
            raise ConfigError(f"sql rules: {rid}: RE2 rejects the regex ({exc})") from exc
        specs.append(spec)
    return tuple(specs)


@functools.cache
def sql_specs() -> tuple[SqlSpec, ...]:
    """The shipped rules from ``sluice/sanitize/rules/sql.yaml`` (read once)."""
    text = (resources.files("sluice.sanitize") / "rules" / "sql.yaml").read_text("utf-8")
    return load_sql_rules(text)


def clear_caches() -> None:
    """Forget cached decodings and fingerprints (benchmarks time cold values)."""
    from sluice.sanitize.sqli_fingerprint import clear_cache as clear_fingerprints

    decoded_forms.cache_clear()
    _clear_probes()
    clear_fingerprints()


def _base_rule(spec: SqlSpec) -> Rule:
    """The rule of ``spec`` as the named-rule runner sees it (first match not forced yet).

    A rule with a check and scope ``first`` is wrapped here (its check reads the groups
    of the wrapped pattern); one without a check is wrapped by :func:`sql_rules` only, so
    that ``encoded_sqli`` matches its bare pattern on the decoded forms.
    """
    check = CHECKS[spec.check](spec) if spec.check else None
    pattern, group = spec.regex, 0
    if check is not None and spec.scope == "first":
        pattern, group = f"(?s)^.*?({spec.regex})", 1
    return Rule(
        spec.detector,
        _SQLI,
        pattern,
        spec.severity,
        spec.confidence,
        group=group,
        check=check,
        treatments=spec.treatments,
        priority=spec.priority,
        rule_id=spec.id if spec.id != spec.detector else "",
    )


@functools.cache
def _base_rules() -> tuple[tuple[SqlSpec, Rule], ...]:
    return tuple((spec, _base_rule(spec)) for spec in sql_specs())


@functools.cache
def _named_rules(treatment: str) -> tuple[Any, list[tuple[Any, Rule]]]:
    """The named rules of ``treatment`` (not fingerprint or decoding) as one RE2 set."""
    import re2

    opts = re2.Options()
    opts.max_mem = 32 << 20
    rules = [
        r
        for _, r in _base_rules()
        if treatment in r.treatments and r.detector not in ("sqli_fingerprint", "encoded_sqli")
    ]
    rset = re2.Set.SearchSet(opts)
    for r in rules:
        rset.Add(r.pattern)
    rset.Compile()
    return rset, [(re2.compile(r.pattern, opts), r) for r in rules]


def _encoded_check(treatment: str) -> Check:
    """Runs the named rules of ``treatment`` on the decoded forms of the view."""

    def check(view: str, m: Any, value: str) -> float | None:
        forms = decoded_forms(view)
        if len(forms) < 2:
            return None
        rset, compiled = _named_rules(treatment)
        for form in forms[1:]:
            head = form[:MAX_CHARS]
            for idx in sorted(rset.Match(head) or ()):
                rx, rule = compiled[idx]
                hit = rx.search(head)
                if hit is None:
                    continue
                if rule.check is None:
                    return rule.confidence
                conf = rule.check(head, hit, hit.group(rule.group))
                if conf is not None:
                    return conf
        return None

    return check


def _first_only(spec: SqlSpec, rule: Rule) -> Rule:
    """``rule`` reporting only its first match in a field (one finding per detector).

    One SQL finding per detector and field is all a reviewer or a policy needs, and it
    bounds the work on adversarial input (``union select`` a hundred thousand times) to one
    match per rule instead of a hundred findings with their fingerprints. Rules with a
    validator keep every candidate (the first one may fail its check).
    """
    if rule.check is not None or spec.scope == "field":
        return rule
    return replace(rule, pattern=f"(?s)^.*?({rule.pattern})", group=1)


def sql_rules() -> list[Rule]:
    """The SQL injection rules (``sql`` fields get all; prose fields the break-out forms)."""
    return [_first_only(spec, r) for spec, r in _base_rules()]
