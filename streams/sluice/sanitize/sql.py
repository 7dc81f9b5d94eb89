"""SQL injection detectors: libinjection's token fingerprints, plus named RE2 rules.

Fields treated ``sql`` (values interpolated into a query, e.g. HTTP parameter values):

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
  quotes). Each reports its first match per field.

``text`` and ``html`` fields get stricter variants that require an injection context:
a quote break-out (``' or 1=1``, ``'; drop``), a comment-obfuscated ``UNION/**/SELECT`` or
versioned comment, or a stacked ``; DROP TABLE x --``, so that prose and code that merely
mention SQL do not fire.

Why not sqlparse: a non-validating parser ~100x slower per value than one RE2 set match
that tokenises rather than judges. Why RE2 for the named rules: linear time on attacker
input, one-pass ``re2.Set`` with the other families. Tautologies need "left equals right",
which RE2 cannot express (no backreferences), so a validator compares the two operands.
"""

from __future__ import annotations

import functools
import re
import urllib.parse
from dataclasses import replace
from typing import Any

from sluice.models.finding import FindingKind, Severity
from sluice.sanitize.base import Check, Rule
from sluice.sanitize.sqli_fingerprint import MAX_CHARS, detect_sqli

__all__ = ["clear_caches", "decoded_forms", "sql_rules"]

_SQLI = FindingKind.SQL_INJECTION
_SQL_ONLY = frozenset({"sql"})
_PROSE = frozenset({"text", "html"})
_WS = r"(?:\s|/\*[^*]*\*/|\+)+"  # whitespace, inline comments, URL-encoded spaces


def _operand(s: str) -> str:
    return s.strip().strip("'\"`").lower()


#: Candidates a tautology rule validates per field: the rule reports its first match,
#: and when that one is not a tautology (``or 1=2``) the next ones are tried, up to this.
_TAUT_CANDIDATES = 16


def _tautology_check(raw: str) -> Check:
    """A validator for ``(?s)^.*?(<raw>)``: the first candidate, else the next few ones."""
    rx: list[Any] = []

    def check(view: str, m: Any, value: str) -> float | None:
        conf = _judge_tautology(m, 1)
        if conf is not None:
            return conf
        if not rx:
            import re2

            rx.append(re2.compile(raw))
        for n, cand in enumerate(rx[0].finditer(view, m.end())):
            if n >= _TAUT_CANDIDATES:
                break
            conf = _judge_tautology(cand, 0)
            if conf is not None:
                return conf
        return None

    return check


def _judge_tautology(m: Any, base: int) -> float | None:
    left, op, right = m.group(base + 1), m.group(base + 2).lower(), m.group(base + 3)
    a, b = _operand(left), _operand(right)
    if op in ("=", "==", "like", "is", ">=", "<=", "<=>"):
        return 0.9 if a == b else None
    if op in ("<>", "!="):
        quoted = left.strip()[:1] in "'\"" or a.replace(".", "").isdigit()
        return 0.8 if a != b and quoted else None
    return None


_TAUT_TAIL = (
    r"(?:or|\|\||and|&&|xor)" + _WS + r"(?:not" + _WS + r")?(['\"]?[A-Za-z0-9_.]+['\"]?)\s*"
    r"(=|==|<>|!=|<=>|>=|<=|\blike\b|\bis\b)\s*(['\"]?[A-Za-z0-9_.]+['\"]?)"
)
_TAUT = r"(?i)(?:^|['\")\s])\s*" + _TAUT_TAIL
_TAUT_BREAKOUT = r"(?i)['\"]\s*\)*\s*" + _TAUT_TAIL


#: A value worth tokenizing: it has a separator or SQL punctuation somewhere (single
#: words and plain numbers cannot form an injection fingerprint). Spans the whole field.
_SQLISH = r"(?s)^.*[\s'\"`;()#=<>|&*/\\%+,!~^@{}\[\]\-].*"


_QUOTE_FOLD = str.maketrans(
    {"\u2018": "'", "\u2019": "'", "\u2032": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-"}
)
#: Characters of a value that are decoded (``%XX``, ``\\xNN``) for the decoded forms.
DECODE_CHARS = 4096
_HEX_ESCAPE = re.compile(r"\\x([0-9A-Fa-f]{2})")
_PCT_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")


@functools.lru_cache(maxsize=256)
def decoded_forms(view: str) -> tuple[str, ...]:
    """``view`` and the forms an application may turn it into before it reaches SQL.

    URL-decoding (``%XX``, up to three rounds for double encoding), ``\\xNN`` escapes,
    and typographic quotes folded to ASCII ones. Only the first :data:`DECODE_CHARS`
    characters are decoded (URL-length scale; decoding is a Python loop per escape).
    """
    forms = [view]
    cur = view[:DECODE_CHARS]
    for _ in range(3):
        if "%" not in cur:
            break
        nxt = urllib.parse.unquote(cur, errors="replace")
        if nxt == cur:
            break
        cur = nxt
        forms.append(cur)
    if "\\x" in cur:
        cur = _HEX_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), cur)
        forms.append(cur)
    if not cur.isascii():
        folded = cur.translate(_QUOTE_FOLD)
        if folded != cur:
            forms.append(folded)
    return tuple(forms)


def clear_caches() -> None:
    """Forget cached decodings and fingerprints (benchmarks time cold values)."""
    from sluice.sanitize.sqli_fingerprint import _detect_prefix

    decoded_forms.cache_clear()
    _detect_prefix.cache_clear()


def _check_fingerprint(view: str, m: Any, value: str) -> float | None:
    forms = decoded_forms(view)
    # A value with valid escapes reaches SQL decoded: its raw %XX form is not fingerprinted
    # (it only costs: ``%27%27...`` folds token by token up to the cap).
    url_encoded = len(forms) > 1 and _PCT_ESCAPE.search(view[:DECODE_CHARS]) is not None
    for form in forms[1:] if url_encoded else forms:
        r = detect_sqli(form)
        if r is not None:
            return 0.9 if len(r.fingerprint) >= 3 or r.fingerprint == "X" else 0.8
    return None


_CMP = r"(?:=|<>|!=|<=>|<=|>=|<|>|\blike\b|\brlike\b|\bregexp\b|\bbetween\b)"
_LOGIC = r"(?:\b(?:and|or|xor|having|where|when)\b|&&)"
#: SQL-only structural rules: (detector, rule id, pattern, confidence). They are also run
#: on URL-decoded forms by ``encoded_sqli``.
_STRUCTURAL: tuple[tuple[str, str, str, float], ...] = (
    (
        # AND 7506=9091 / OR 1903=ROTATELEFT( / ' OR x=y -- / and (select ...)='X'
        "boolean_probe",
        "boolean_numeric",
        r"(?i)" + _LOGIC + r"\s*(?:not\s+)?\(*\s*[0-9][0-9.]*\s*\)*\s*" + _CMP,
        0.85,
    ),
    (
        "boolean_probe",
        "boolean_operand",
        r"(?i)"
        + _LOGIC
        + r"\s*(?:not\s+)?\(*\s*(?:['\"][^'\"]{0,40}['\"]|@@?[a-z_]\w*|[a-z_][\w.]*"
        r"(?:\s*\([^()]{0,60}\))?)\s*\)*\s*" + _CMP + r"\s*\(*\s*(?:['\"]|[0-9]|@|"
        r"[a-z_][\w.]*\s*(?:\(|$|--|#|/\*|;|\)))",
        0.8,
    ),
    (
        # (SELECT 4523 FROM / (select substring(@@version / ,(SELECT (CASE
        "subquery",
        "subquery",
        r"(?i)\(\s*select\s+(?:[0-9@*'\"(]|(?:all|distinct|top)\b|[a-z_][\w.$]*\s*(?:\(|,|\bfrom\b))",
        0.85,
    ),
    (
        "case_when",
        "case_when",
        r"(?i)\bcase\s+(?:when\b|[0-9]+\s+when\b)[^;]{0,200}?\bthen\b",
        0.85,
    ),
    (
        # error-based / blind function probes of attack tools
        "function_probe",
        "function_probe",
        r"(?i)\b(?:extractvalue|updatexml|make_set|elt|gtid_subset|gtid_subtract|json_keys|"
        r"uuid_to_bin|rotateleft|bit_shift|to_posixtime|raise_error|xmltype|load_file|"
        r"benchmark|pg_sleep|randomblob|regexp_substring|iif|ctxsys\.drithsx\.sn|"
        r"utl_inaddr\.get_host_name|utl_http\.request|dbms_pipe\.receive_message|"
        r"dbms_xmlgen\.getxml|sys\.fn_sqlvarbasetostr|name_const|polygon|multipoint|"
        r"geometrycollection|exp\s*\(\s*~)\s*\(",
        0.85,
    ),
    (
        "catalog_probe",
        "catalog_probe",
        r"(?i)@@(?:version|servername|datadir|hostname|basedir|microsoftversion)\b|"
        r"\b(?:version|database|schema|user|current_user|session_user|system_user|db_name|"
        r"user_name|suser_sname|host_name)\s*\(\s*\)|"
        r"\b(?:information_schema|sysibm|syscat|sysmaster|sysobjects|syscolumns|sysusers|"
        r"sysservers|pg_shadow|pg_group|pg_user|pg_catalog|all_tables|all_users|user_tables|"
        r"dba_users|sqlite_master|mysql\.user)\b|\brdb\$[a-z_]+|\bmaster\.\.|\bv\$version\b",
        0.85,
    ),
    (
        "stored_procedure",
        "stored_procedure",
        r"(?i)\b(?:exec|execute)\b\s*(?:master\.\.|master\.dbo\.)?(?:sp|xp)_[a-z0-9_]*|"
        r"\bxp_cmdshell\b|\bsp_(?:configure|executesql|oacreate|oamethod|makewebtask|"
        r"addlogin|addsrvrolemember|password)\b",
        0.9,
    ),
    (
        # error probes of scanners: a value that is nothing but a quote or backslash and
        # closing punctuation (', ", '), \\, ''); names (O'Brien, Jones') and sizes (7", 12')
        # have letters or digits around the quote
        "quote_probe",
        "quote_probe",
        r"^\s*['\"\\][\s'\"`\\);#,-]{0,16}$",
        0.6,
    ),
    (
        "order_by_probe",
        "order_by_probe",
        r"(?i)\b(?:order|group)\s+by\s+[0-9]+\s*(?:--|#|/\*|;|,|\)|$)",
        0.8,
    ),
    (
        # a whole statement as a value: select @@version / select * from sysusers
        "full_statement",
        "full_statement",
        r"(?i)^\s*(?:select\s+(?:\*|@@\w+|[\w.]+(?:\s*,\s*[\w.]+)*\s+from\s+[\w.$:]+\s*"
        r"(?:;|$|--|#|\bwhere\b))|create\s+table\s+\w+\s*\(|drop\s+(?:table|database)\s+\w+|"
        r"insert\s+into\s+\w+\s*(?:\(|values\b)|delete\s+from\s+\w+|update\s+\w+\s+set\s+\w+\s*=|"
        r"copy\s+\w+\s+(?:from|to)\s|backup\s+database\s|declare\s+@\w+)",
        0.8,
    ),
)


@functools.cache
def _named_rules(treatment: str) -> tuple[Any, list[tuple[Any, Rule]]]:
    """The named rules of ``treatment`` (not fingerprint or decoding) as one RE2 set."""
    import re2

    opts = re2.Options()
    opts.max_mem = 32 << 20
    rules = [
        r
        for r in _sql_rules()
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


def _first_only(rule: Rule) -> Rule:
    """``rule`` reporting only its first match in a field (one finding per detector).

    One SQL finding per detector and field is all a reviewer or a policy needs, and it
    bounds the work on adversarial input (``union select`` a hundred thousand times) to one
    match per rule instead of a hundred findings with their fingerprints. Rules with a
    validator keep every candidate (the first one may fail its check).
    """
    if rule.check is not None or rule.pattern.startswith("(?s)^"):
        return rule
    return replace(rule, pattern=f"(?s)^.*?({rule.pattern})", group=1)


def sql_rules() -> list[Rule]:
    """The SQL injection rules (``sql`` fields get all; prose fields the break-out forms)."""
    return [_first_only(r) for r in _sql_rules()]


def _sql_rules() -> list[Rule]:
    return [
        # -- token fingerprint (libinjection) -------------------------------------------
        Rule(
            "sqli_fingerprint",
            _SQLI,
            _SQLISH,
            Severity.HIGH,
            0.9,
            check=_check_fingerprint,
            treatments=_SQL_ONLY,
            priority=15,
        ),
        *(
            Rule(
                det, _SQLI, pat, Severity.HIGH, conf, treatments=_SQL_ONLY, priority=25, rule_id=rid
            )
            for det, rid, pat, conf in _STRUCTURAL
        ),
        Rule(
            "encoded_sqli",
            _SQLI,
            # one match per field (the check decodes the whole view): %XX, \\xNN, typographic
            # quotes; the finding's span is the first escape
            r"(?s)^.*?(%[0-9A-Fa-f]{2}|\\x[0-9A-Fa-f]{2}|[\x{2018}\x{2019}\x{2032}\x{201c}\x{201d}])",
            Severity.HIGH,
            0.85,
            group=1,
            check=_encoded_check("sql"),
            treatments=_SQL_ONLY,
            priority=26,
        ),
        Rule(
            # tool-call arguments carry URLs: x%27%20UNION%2F%2A%2A%2FSELECT... decoded, then
            # judged by the strict free-text rules
            "encoded_sqli",
            _SQLI,
            r"(?s)^.*?((?i:%2[27f]|%3b|%23|\\x27))",
            Severity.HIGH,
            0.85,
            group=1,
            check=_encoded_check("text"),
            treatments=_PROSE,
            priority=26,
            rule_id="encoded_sqli_text",
        ),
        # -- tautology -------------------------------------------------------------
        Rule(
            "tautology",
            _SQLI,
            f"(?s)^.*?({_TAUT})",
            Severity.HIGH,
            0.9,
            group=1,
            check=_tautology_check(_TAUT),
            treatments=_SQL_ONLY,
            priority=20,
        ),
        Rule(
            "tautology",
            _SQLI,
            f"(?s)^.*?({_TAUT_BREAKOUT})",
            Severity.HIGH,
            0.9,
            group=1,
            check=_tautology_check(_TAUT_BREAKOUT),
            treatments=_PROSE,
            priority=20,
            rule_id="tautology_breakout",
        ),
        Rule(
            "tautology",
            _SQLI,
            r"(?i)(?:^|['\")\s])\s*or" + _WS + r"(?:true|not" + _WS + r"false|[1-9][0-9]*)"
            r"\s*(?:--|#|/\*|;|\))",
            Severity.HIGH,
            0.85,
            treatments=_SQL_ONLY,
            priority=20,
            rule_id="tautology_true",
        ),
        Rule(
            "tautology",
            _SQLI,
            r"(?i)'\s*or\s*'[^']*'\s*=\s*'",
            Severity.HIGH,
            0.95,
            priority=20,
            rule_id="tautology_empty_string",
        ),
        # -- stacked queries ---------------------------------------------------------
        Rule(
            "stacked_query",
            _SQLI,
            r"(?i);\s*(?:select\s+[\w*@('\"]|insert\s+into\b|update\s+\w+\s+set\b|delete\s+from\b|"
            r"drop\s+(?:table|database|user|view|procedure|function|schema)\b|"
            r"alter\s+(?:table|user|database|login)\b|"
            r"create\s+(?:table|user|database|procedure|function|view|login)\b|truncate\s+table\b|"
            r"exec(?:ute)?\s*(?:\(|@|master\.|xp_|sp_|\w+\s*['\"@])|shutdown\b|declare\s+@|"
            r"grant\s+\w+\s+(?:on|to)\b|revoke\s+\w+|waitfor\s+delay\b|call\s+\w+\s*\(|i?if\s*\(|"
            r"begin\s+declare\b|backup\s+database\b|copy\s+\w+\s+(?:from|to)\b|set\s+@)",
            Severity.HIGH,
            0.9,
            treatments=_SQL_ONLY,
            priority=20,
        ),
        Rule(
            "stacked_query",
            _SQLI,
            r"(?i)['\"]\s*\)*\s*;\s*(?:drop|delete|insert|update|truncate|alter|exec|execute|"
            r"shutdown|select|create|grant)\b",
            Severity.HIGH,
            0.9,
            treatments=_PROSE,
            priority=20,
            rule_id="stacked_breakout",
        ),
        # -- comment truncation ------------------------------------------------------
        Rule(
            "comment_truncation",
            _SQLI,
            r"['\"`]\s*\)*\s*(?:--(?:\s|$)|#(?:\s|$)|/\*)",
            Severity.MEDIUM,
            0.8,
            treatments=_SQL_ONLY,
            priority=30,
        ),
        Rule(
            "comment_truncation",
            _SQLI,
            r"/\*![0-9]*|[A-Za-z0-9'\")]/\*[^*]{0,64}\*/\s*[A-Za-z0-9(@'\"]",
            Severity.MEDIUM,
            0.7,
            treatments=_SQL_ONLY,
            priority=31,
            rule_id="comment_anywhere",
        ),
        Rule(
            "comment_truncation",
            _SQLI,
            r"[A-Za-z0-9]['\"]\s*\)*\s*(?:--|#)(?:\s|$)",
            Severity.MEDIUM,
            0.7,
            treatments=_PROSE,
            priority=30,
            rule_id="comment_breakout",
        ),
        # -- UNION-based extraction ----------------------------------------------------
        Rule(
            "union_select",
            _SQLI,
            r"(?i)\bunion" + _WS + r"(?:all" + _WS + r"|distinct" + _WS + r")?select\b",
            Severity.HIGH,
            0.95,
            treatments=_SQL_ONLY,
            priority=10,
        ),
        Rule(
            "union_select",
            _SQLI,
            r"(?i)(?:['\")]|\b[0-9]+)\s*union"
            + _WS
            + r"(?:all"
            + _WS
            + r"|distinct"
            + _WS
            + r")?select\b",
            Severity.HIGH,
            0.9,
            treatments=_PROSE,
            priority=10,
            rule_id="union_breakout",
        ),
        # -- strong forms in free text (tool-call arguments, prompts) ------------------------
        Rule(
            # UNION/**/SELECT, /*!50000UNION*/ SELECT: nobody obfuscates prose with comments
            "union_select",
            _SQLI,
            r"(?i)\bunion\s*(?:/\*[^*]{0,64}\*/\s*)+(?:all\s*(?:/\*[^*]{0,64}\*/\s*)*)?select\b|"
            r"/\*!\d*\s*union\b|\bunion\s*/\*!\d*\s*(?:all\s+)?select\b",
            Severity.HIGH,
            0.95,
            treatments=_PROSE,
            priority=10,
            rule_id="union_obfuscated",
        ),
        Rule(
            # UNION SELECT NULL,NULL / 1,2,3 / @@version / concat( / * FROM
            "union_select",
            _SQLI,
            r"(?i)\bunion(?:\s|/\*[^*]{0,64}\*/)+(?:all(?:\s|/\*[^*]{0,64}\*/)+)?select"
            r"(?:\s|/\*[^*]{0,64}\*/)+(?:null\s*(?:,|--|#|/\*|from\b|$)|[0-9]+\s*(?:,|--|#|from\b)|"
            r"@@\w+|(?:concat|group_concat|char|version|database|user|table_name|column_name)\s*\(|"
            r"0x[0-9a-f]+|\*\s+from\b|\w+\s*,\s*\w+\s+from\s+(?:information_schema|mysql\.|sys)|"
            r"(?:table_name|column_name|username|password|passwd)\b[^;\n]{0,60}\bfrom\b)",
            Severity.HIGH,
            0.9,
            treatments=_PROSE,
            priority=10,
            rule_id="union_select_payload",
        ),
        Rule(
            # id=5; DROP TABLE users / 5; DROP TABLE users -- / ...; TRUNCATE TABLE x;--
            "stacked_query",
            _SQLI,
            r"(?i)(?:[0-9]\s*;\s*(?:drop|truncate)\s+(?:table|database)\s+[\w.`\"\[\]]+|"
            r";\s*(?:drop|truncate)\s+(?:table|database)\s+[\w.`\"\[\]]+\s*;?\s*(?:--|#|/\*)|"
            r";\s*(?:exec|execute)\s+(?:master\.\.)?xp_cmdshell\b|;\s*shutdown\s*(?:--|#|;|$))",
            Severity.HIGH,
            0.9,
            treatments=_PROSE,
            priority=20,
            rule_id="stacked_drop",
        ),
        Rule(
            # ' or true-- / " or 1# / ') or ('1
            "tautology",
            _SQLI,
            r"(?i)['\"]\s*\)*\s*(?:or|\|\|)\s+(?:true|[1-9][0-9]*)\s*(?:--|#|/\*|;)|"
            r"['\"]\)+\s*or\s*\(+\s*['\"]?[0-9a-z]+['\"]?\s*=\s*\(*\s*['\"]?[0-9a-z]+",
            Severity.HIGH,
            0.85,
            treatments=_PROSE,
            priority=20,
            rule_id="tautology_quoted",
        ),
        Rule(
            "stored_procedure",
            _SQLI,
            r"(?i)\bxp_cmdshell\b|['\";]\s*(?:exec|execute)\s+(?:master\.\.)?(?:sp|xp)_[a-z0-9_]+",
            Severity.HIGH,
            0.9,
            treatments=_PROSE,
            priority=20,
            rule_id="stored_procedure_breakout",
        ),
        # -- time-based blind ------------------------------------------------------------
        Rule(
            "time_based_blind",
            _SQLI,
            r"(?i)\b(?:sleep|pg_sleep)\s*\(\s*[0-9]|\bwaitfor\s+delay\s+['\"]|"
            r"\bbenchmark\s*\(\s*[0-9]+\s*,|\bdbms_(?:lock\.sleep|pipe\.receive_message)\b",
            Severity.HIGH,
            0.9,
            treatments=_SQL_ONLY,
            priority=10,
        ),
        Rule(
            "time_based_blind",
            _SQLI,
            r"(?i)(?:['\"]|\b(?:and|or)\b)\s*\(?\s*(?:select\s+)?(?:sleep|pg_sleep)\s*\(\s*[0-9]"
            r"|\bwaitfor\s+delay\s+['\"][0-9:]+['\"]|\bdbms_(?:lock\.sleep|pipe\.receive_message)\b",
            Severity.HIGH,
            0.85,
            treatments=_PROSE,
            priority=10,
            rule_id="blind_breakout",
        ),
    ]
