"""SQL injection: the libinjection port, each bypass class of issue 12, benign values, cost.

Every bypass class that was fixed has its own test; the fixtures are payload shapes from
the issue's miss list (attack-tool HTTP parameter values, scanned ``as: sql``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sluice.sanitize import Sanitizer
from sluice.sanitize import sqli_fingerprint as li
from sluice.sanitize.sql import clear_caches, decoded_forms
from sluice.sanitize.sqli_fold import fold
from sluice.sanitize.sqli_lexer import tokenize
from sluice.sanitize.sqli_tokens import QUOTE_NONE, SQL_ANSI, State, Token, keywords

from .conftest import KEY

DATA = Path(__file__).resolve().parents[2] / "data" / "detection"


@pytest.fixture(scope="module")
def san() -> Sanitizer:
    return Sanitizer(KEY)


def _sqli(san: Sanitizer, text: str, as_: str = "sql") -> list[str]:
    _, findings = san.scan_text(text, as_)
    return [f.detector for f in findings if f.kind.value == "sql_injection"]


# -- the port reproduces libinjection ------------------------------------------------------


def _print_token(t: Token) -> str:
    if t.type == "s":
        return f"s {t.str_open}{t.val}{t.str_close}"
    if t.type == "v":
        return "v " + "@" * t.count + t.str_open + t.val + t.str_close
    return f"{t.type} {t.val}"


def _run_case(kind: str, text: str) -> str:
    if kind == "sqli":
        r = li.detect_sqli(text)
        return r.fingerprint if r else ""
    sf = State(text)
    sf.reset(QUOTE_NONE | SQL_ANSI)
    if kind == "folding":
        n = fold(sf)
        return "\n".join(_print_token(sf.tokenvec[i]) for i in range(n))
    out = []
    while tokenize(sf):
        out.append(_print_token(sf.current))
    return "\n".join(out)


def test_port_matches_libinjection_test_vectors() -> None:
    """All 417 tokenizer, folding and SQLi vectors of libinjection's own test suite."""
    rows = [json.loads(line) for line in (DATA / "libinjection_conformance.jsonl").open()]
    assert len(rows) == 417
    failed = [r["file"] for r in rows if _run_case(r["kind"], r["input"]).rstrip() != r["expected"]]
    assert failed == []


def test_fingerprint_data_loaded_with_licence() -> None:
    assert len(li._fingerprints()) > 8000
    assert keywords()["UNION"] == "U"
    rules = Path(li.__file__).parent / "rules"
    assert "Nick Galbreath" in (rules / "LICENSE-libinjection.txt").read_text()


# -- bypass classes of issue 12 (each was a miss) ---------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        "1 AND 5>3",
        "1) AND ((3=3",
        "1 and (((1=1)))",
        "1 AND 2>(SELECT 1)",
        "' AND 7506=9091 AND (5913=5913",
    ],
)
def test_boolean_blind_numeric_and_nested_parens(san: Sanitizer, payload: str) -> None:
    assert _sqli(san, payload)


@pytest.mark.parametrize(
    "payload",
    [
        "1 and version() like 5",
        "1 AND sin(1)=sin(1)",
        "1 RLIKE (SELECT 1)",
        "1 AND make_set(1,2)",
        "1 and extractvalue(1,concat(0x7e,version()))",
        "1 AND updatexml(1,concat(0x7e,user()),1)",
        "1 and regexp_substring(user,1,1)='a'",
    ],
)
def test_database_function_probes(san: Sanitizer, payload: str) -> None:
    assert _sqli(san, payload)


def test_union_glued_to_number_with_nested_parens(san: Sanitizer) -> None:
    assert "sqli_fingerprint" in _sqli(san, "-1union(((select 1,2,3)))")


def test_mssql_exec_stored_procedure(san: Sanitizer) -> None:
    assert "stored_procedure" in _sqli(san, "EXEC sp_configure 'show advanced options',1")
    assert "stored_procedure" in _sqli(san, "1;EXEC master..xp_cmdshell 'dir'")


def test_url_encoded_newline_separated_and_double_encoded(san: Sanitizer) -> None:
    assert _sqli(san, "1%0AUNION%0ASELECT%201,2")
    assert _sqli(san, "1%2527%20or%201=1--")  # %25 27 -> %27 -> '
    assert decoded_forms("a%2527")[-1] == "a'"
    assert "encoded_sqli" in _sqli(san, ")%20waitfor%20delay%20'0:0:20'%20--")


def test_mysql_versioned_comments(san: Sanitizer) -> None:
    assert "sqli_fingerprint" in _sqli(san, "1 /*!50000UNION*/ SELECT 1,2")
    assert _sqli(san, "/*!50000UNION*/ SELECT")


def test_typographic_quotes_and_hex_escapes(san: Sanitizer) -> None:
    assert _sqli(san, "\u2019 or \u20181\u2019=\u20191")
    assert _sqli(san, "\\x27 UNION SELECT 1,2")


def test_appended_payloads_starting_with_an_operator(san: Sanitizer) -> None:
    for payload in (" OR 1=0", " HAVING 1=1", " ORDER BY 3-- ", " and (select 1)='X'"):
        assert _sqli(san, payload), payload


def test_attack_tool_boundaries_with_subqueries(san: Sanitizer) -> None:
    payloads = (
        "63' (SELECT (CASE WHEN (3435=6994) THEN 3956 ELSE 1/0 END) FROM SYSMASTER:SYSDUAL)"
        " AND 'qojq' LIKE 'uade",
        '25") ,(CASE WHEN 5255=8086 THEN 1 ELSE NULL END) AND ("onch"="duji',
        "79'))) AND GTID_SUBSET(CONCAT('0x71',(SELECT (ELT(5090=4012,1))),'0x71'),5448)",
    )
    for payload in payloads:
        assert _sqli(san, payload), payload


# -- precision -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "O'Brien",
        "D'Angelo",
        "12345",
        "John Smith",
        "select a new plan",
        "please drop the package",
        "rock and roll",
        "1950 or 1960",
        "union station",
        "50% off",
        "Tom & Jerry",
        "user@example.com",
        "(555) 123-4567",
        "rock'n'roll",
        "It's 5 o'clock",
        'SMALL "&" SIGN',
        'BILLEEVERSBOUTIQUE , BROWNING "LIKE"',
        "1611-IioXXIG1ti8rspL2vbXFy--",
        "THERE IS NOT PLACE LIKE HOME",
        "Apt is gated; call when you get here",
    ],
)
def test_ordinary_values_stay_clean(san: Sanitizer, value: str) -> None:
    assert _sqli(san, value) == []


def test_quoted_operator_probes_still_fire(san: Sanitizer) -> None:
    """The look-alike filter keeps probes where the quotes are the break-out."""
    for probe in ("'&'", "'='", "1'||'asd'||'"):
        assert _sqli(san, probe), probe


# -- free text (tool-call arguments) --------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "search for: x' UNION/**/SELECT username, password FROM users--",
        "id=1 /*!50000UNION*/ SELECT 1,2,3",
        "1 UNION ALL SELECT NULL,NULL,NULL--",
        "please look up 5; DROP TABLE users",
        "name: Robert'); DROP TABLE Students;--",
        "user: admin' or '1'='1",
        "filter: ' or true--",
        "foo'; exec master..xp_cmdshell 'dir'--",
    ],
)
def test_text_mode_catches_strong_sqli(san: Sanitizer, text: str) -> None:
    assert _sqli(san, text, "text")


@pytest.mark.parametrize(
    "text",
    [
        "SELECT id, name FROM accounts WHERE region = ? ORDER BY name",
        "The union voted to select a new leader; drop the old plan.",
        "DROP TABLE IF EXISTS tmp; -- migration 12",
        "CREATE TABLE t (id int); DROP TABLE t;",
        "Use UNION ALL SELECT when merging reports",
        "Don't drop the table; it's 'or' logic, 1=1 as they say",
        "x = 'a' or 'b'",
    ],
)
def test_text_mode_leaves_prose_and_code_alone(san: Sanitizer, text: str) -> None:
    assert _sqli(san, text, "text") == []


def test_tool_call_argument_gets_sql_injection_finding(san: Sanitizer) -> None:
    event_args = {"query": "1' UNION/**/SELECT password FROM users-- -"}
    _, findings = san.scan_text(event_args["query"], "text", field="arguments.query")
    assert any(f.kind.value == "sql_injection" and f.field == "arguments.query" for f in findings)


# -- held-out scores (regression guard on public data) ------------------------------------------


def _score(san: Sanitizer, name: str, family: str, as_: str) -> tuple[float, float]:
    tp = fp = fn = 0
    for line in (DATA / name).open(encoding="utf-8"):
        row = json.loads(line)
        _, findings = san.scan_text(row["text"], as_)
        hit = any(f.kind.value == family for f in findings)
        tp += hit and row["label"]
        fp += hit and not row["label"]
        fn += (not hit) and row["label"]
    return tp / (tp + fp), tp / (tp + fn)


def test_public_sql_sets_precision_and_recall(san: Sanitizer) -> None:
    p, r = _score(san, "sql_heldout.jsonl", "sql_injection", "sql")
    assert p >= 0.98 and r >= 0.9, (p, r)
    p, r = _score(san, "sql_dev.jsonl", "sql_injection", "sql")
    assert p >= 0.98 and r >= 0.94, (p, r)
    # second held-out set (SecLists payloads; fuzzdb and Faker values)
    p, r = _score(san, "sql_extra.jsonl", "sql_injection", "sql")
    assert p >= 0.98 and r >= 0.8, (p, r)


# -- cost bounds ---------------------------------------------------------------------------------


def test_tokenizer_calls_are_capped_per_pass() -> None:
    for unit in ("(", "1,", "/**/", "-- x\n", "''", "1+"):
        sf = State((unit * 50_000)[: li.MAX_CHARS])
        li._fingerprint(sf, QUOTE_NONE | SQL_ANSI)
        assert sf.calls <= li.MAX_TOKENS_PER_PASS, unit


def test_only_a_prefix_is_fingerprinted() -> None:
    # a payload after MAX_CHARS of padding is out of the fingerprint's reach (the named
    # RE2 rules still see the whole field)
    assert li.detect_sqli("1 or 1=1") is not None
    assert li.detect_sqli("'" + "a" * li.MAX_CHARS + "' or 1=1--") is None


def test_repeated_sql_tokens_cost_about_what_prose_costs(san: Sanitizer) -> None:
    size = 200_000
    prose = ("lorem ipsum dolor sit amet " * (size // 27 + 1))[:size]

    def best(text: str) -> float:
        out = float("inf")
        for _ in range(3):
            clear_caches()
            t0 = time.perf_counter()
            san.scan_text(text, "sql")
            out = min(out, time.perf_counter() - t0)
        return out

    base = best(prose)
    for unit in ("' or 1=1 ", "union select ", "((select ", "%27", "/*/*"):
        attack = (unit * (size // len(unit) + 1))[:size]
        # generous bound for a shared CI machine; the bench reports the real ratio (~1-2x)
        assert best(attack) < 8 * base + 0.02, unit


def test_one_finding_per_sql_detector_per_field(san: Sanitizer) -> None:
    _, findings = san.scan_text("1 union select 2 " * 500, "sql")
    per: dict[str, int] = {}
    for f in findings:
        per[f.detector] = per.get(f.detector, 0) + 1
    assert per and max(per.values()) <= 3


def test_bare_quote_probes_but_not_names_or_sizes(san: Sanitizer) -> None:
    for probe in ("'", '"', "')", "\\", "''"):
        assert "quote_probe" in _sqli(san, probe), probe
    for value in ("Jones'", "O'Brien", '7"', "12'", "'90s", "It's"):
        assert "quote_probe" not in _sqli(san, value), value


def test_tool_call_event_through_the_fast_path() -> None:
    """Whole events: a sql-treated argument and a text argument, among clean fields."""
    from .test_engine import make_event

    s = Sanitizer(KEY, treatments={"arguments.id": "sql"})
    ev = make_event(
        kind="TOOL_CALL",
        arguments={
            "id": "-1union(((select 1,2,3)))",
            "note": "name: x' UNION/**/SELECT password FROM users-- -",
            "page": "2",
        },
    )
    _, findings = s.sanitize_event(ev)
    fields = {f.field for f in findings if f.kind.value == "sql_injection"}
    assert fields == {"arguments.id", "arguments.note"}
    clean = make_event(kind="TOOL_CALL", arguments={"id": "O'Brien", "note": "select a plan"})
    _, findings = s.sanitize_event(clean)
    assert [f for f in findings if f.kind.value == "sql_injection"] == []


def test_comment_after_quote_but_not_json_colours(san: Sanitizer) -> None:
    assert "comment_truncation" in _sqli(san, "admin'#")
    assert "comment_truncation" in _sqli(san, "admin') -- ")
    assert _sqli(san, '{"COLOR":"#2A1100","BACKGROUNDCOLOR":"#D860A7"}') == []


def test_text_mode_decodes_urls_in_tool_arguments(san: Sanitizer) -> None:
    url = "GET https://shop.example/item?id=1%27%20UNION%2F%2A%2A%2FSELECT%20pw%20FROM%20users--"
    assert "encoded_sqli" in _sqli(san, url, "text")
    assert "encoded_sqli" in _sqli(san, "q=5%3B%20DROP%20TABLE%20users", "text")
    assert _sqli(san, "see https://x.example/a%2Fb?q=rock%27n%27roll&page=2", "text") == []


# -- short probes of attack tools (sql fields) ----------------------------------------------------


def _probe_rules(san: Sanitizer, text: str) -> set[str]:
    _, findings = san.scan_text(text, "sql")
    probes = {"quote_breakout", "numeric_boolean", "statement_end"}
    return {f.detector for f in findings if f.detector in probes}


@pytest.mark.parametrize(
    "probe",
    [
        "1'",
        '1"',
        "-1'",
        "admin'",
        "a'",
        "1')",
        "1'))",
        '1")',
        "admin'--",
        "x' #",
        'root"/*',
        "1';",
        "\\'; desc users; --",
        "' OR '",
        "x' or 1 --",
        "' or true",
        "' or (EXISTS)",
        "'||UTL_HTTP.REQUEST",
        "' || pkg.adduser('admin', 'x') || '",
        "admin' or x=x",
        "1%27",
    ],
)
def test_quote_breakout_probes(san: Sanitizer, probe: str) -> None:
    assert "quote_breakout" in _probe_rules(san, probe), probe


@pytest.mark.parametrize(
    "value",
    [
        "O'Brien",
        "D'Angelo",
        "O'Neil-Smith",
        "Jones'",
        "Kids' shoes",
        "rock 'n' roll",
        "Guns N' Roses",
        "it's",
        "'90s",
        "5'10\"",
        '12" pizza',
        'necklace length 16" or 18"',
        "Smiths' and Joneses'",
        '"INTO THE WILD"',
        '"CREATE A CRITTER"',
        '"AND WHEN THE KIDS ARE OLD ENOUGH"',
        '"SWEATER DRESS" AND "CHRISTMAS"',
        '"#2 MOM"',
        "select 'and'",
        "DRESS WITH HAT 18';",
        '{"name": "x", "n": 1}',
        "The 'best' one",
    ],
)
def test_quotes_in_ordinary_values_are_not_breakouts(san: Sanitizer, value: str) -> None:
    assert "quote_breakout" not in _probe_rules(san, value), value


@pytest.mark.parametrize(
    "probe",
    [
        "1 AND 1",
        "1 OR 1",
        "1 xor 1",
        "1 && 1",
        "1 || 1",
        "AND 1",
        "or true",
        "-1 OR true",
        "1 and 0",
        "5 AND 7 --",
        "1) or 1",
        ") or sleep(5)=",
        " or (EXISTS)",
        "||UTL_HTTP.REQUEST",
        "or 'a'='a",
    ],
)
def test_numeric_boolean_probes(san: Sanitizer, probe: str) -> None:
    assert "numeric_boolean" in _probe_rules(san, probe), probe


@pytest.mark.parametrize(
    "value",
    [
        "3 and 4",
        "00 AND 3",
        "7 AND HALF",
        "10 OR LESS",
        "1060 OR 70S",
        "3 or 4 bedrooms",
        "true or false",
        "salt and pepper",
        "black or white",
        "size 10 or 12",
        "and",
        "or",
    ],
)
def test_numbers_and_words_joined_by_and_or_are_not_probes(san: Sanitizer, value: str) -> None:
    assert "numeric_boolean" not in _probe_rules(san, value), value


@pytest.mark.parametrize("probe", ["1;", "1;--", "1; --", "x; --", "; --", "1)", "1))", "1) --"])
def test_statement_end_probes(san: Sanitizer, probe: str) -> None:
    assert "statement_end" in _probe_rules(san, probe), probe


@pytest.mark.parametrize(
    "value",
    ["1;2;3", "a;b", "yes;", "Smith;", "1) first item", "a) first", "(see above)", "&amp;", "#1"],
)
def test_lists_and_enumerations_are_not_statement_ends(san: Sanitizer, value: str) -> None:
    assert "statement_end" not in _probe_rules(san, value), value


def test_probes_only_judge_short_values(san: Sanitizer) -> None:
    # a long value is the fingerprint's and the named rules' to judge; the probe rules
    # tokenize at most a few tokens of at most PROBE_CHARS characters
    assert _probe_rules(san, "1'") and not _probe_rules(san, "x" * 300 + " 1'")


def test_percent_shares_are_not_modulo(san: Sanitizer) -> None:
    assert _sqli(san, "80% ACRYLIC AND 20% WOOL") == []
    assert _sqli(san, "35%25 COTTON AND 65%25 POLYESTER.") == []
    assert _sqli(san, "1 % 2 AND 1=1")  # a real modulo with a comparison still fires
