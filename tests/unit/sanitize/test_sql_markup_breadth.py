"""Issue 12 breadth: attack classes of SQL injection and XSS that got through, and their
look-alikes. Every positive is an attacker's value; every negative is a value an
ordinary user or program sends that must stay clean."""

from __future__ import annotations

import pytest

from sluice.sanitize import Sanitizer
from sluice.sanitize.markup_attrs import MAX_TAGS, SCAN_CHARS, decode_markup, judge_markup
from sluice.sanitize.sql_decode import decoded_forms
from sluice.sanitize.sql_shapes import hex_sql_check

from .conftest import KEY


@pytest.fixture(scope="module")
def san() -> Sanitizer:
    return Sanitizer(KEY)


def _kinds(san: Sanitizer, text: str, as_: str, kind: str) -> list[str]:
    _, findings = san.scan_text(text, as_)
    return sorted({f.detector for f in findings if f.kind.value == kind})


SQL_ATTACKS = [
    # the miss list
    "1 AND (SELECT 1)=1",
    "1) AND ((1=1",
    "1 and ascii(substring(version(),1,1))>51",
    "1 AND sin(1)=sin(1)",
    "1 rlike (select 1)",
    "1 AND make_set(1,2)",
    "1 and extractvalue(1,concat(0x7e,version()))",
    "1 and updatexml(1,concat(0x7e,user()),1)",
    "1 AND regexp_substring(user,'a')",
    "-1union(((select 1,2,3)))",
    "EXEC sp_configure 'show advanced options',1",
    "1%0AUNION%0ASELECT%0A1,2",
    "1/*!50000UNION*/SELECT 1",
    # whole-value fuzzing probes
    "-- -",
    "--+",
    ";--+",
    "%23%0a",
    "*/",
    ";;",
    "'a'='a'",
    '"1"="2"',
    "'x'!='y",
    "0x27",
    "%u0027",
    "(1)",
    "((1))",
    "(1+0)",
    "1*56",
    "1-true",
    "1+0",
    "'(",
    "'[",
    "'||''",
    "ORDER BY 1 ASC--",
    "1or1=1",
    "<>\"'%;)(&+",
    "1'\"",
    "%BF%27%22%28",
    "'=\"or'",
    "%00",
    "'%00",
    # encodings and look-alike quotes
    "&apos;%20OR%201=1--",
    "&#39; or 1=1--",
    "%u0027 or 1=1--",
    "1\u00b4 OR \u00b41\u00b4=\u00b41",
    "1\uff07 or 1=1--",
    # MSSQL hidden statements, PG casts, break-out + comment tail
    "0x77616974666F722064656C61792027303A303A313027",
    "0x770061006900740066006F0072002000640065006C00610079002000270030003A0030003A",
    "80' DECLARE @x CHAR(9) SET @x=0x303a303a35 WAITFOR DELAY @x -- -",
    "exec(@s)",
    "PRINT @@variable",
    "select current_user;",
    "select 0x616263",
    "password::int",
    "1+current_user::int",
    "x' mod id--",
    "user'collate nocase--",
    "x'|email--",
    "mod(1,2);INSERT /*test*/INTO category(id) VALUES (3)-- -",
    "admin@example.com'and not sqlite_compileoption_get (id)--",
    "lo_import('/etc/passwd')",
    "EXECUTE IMMEDIATE 'select 1'",
    "CREATE FUNCTION hello (s CHAR(20)) RETURNS CHAR(50) RETURN s;",
]


@pytest.mark.parametrize("payload", SQL_ATTACKS)
def test_sql_attack_classes_found_in_sql_fields(san: Sanitizer, payload: str) -> None:
    assert _kinds(san, payload, "sql", "sql_injection"), payload


SQL_LOOKALIKES = [
    "--",
    "-",
    "#",
    "*/*",
    "a;b",
    "2-1",
    "1-1",
    "2-0",
    "3-2",
    "1/2",
    "1/1",
    "10-20",
    "100*100",
    "1+1",
    "2024-01-01",
    "0x1F",
    "0xFFFFFF",
    "0x742d35Cc6634C0532925a3b844Bc454e4438f44e",
    "0xdeadbeefcafebabe",
    "user@@example.com",
    "O'Brien",
    "O&apos;Brien",
    "Rock &amp; Roll",
    "&quot;Hello&quot;",
    "it's 5 o'clock",
    "std::string",
    "#ffffff",
    "C#",
    "'quoted'",
    "don't forget --",
    "4oranges=5",
    ":-)",
    "(!)",
]


@pytest.mark.parametrize("value", SQL_LOOKALIKES)
def test_sql_lookalikes_stay_clean(san: Sanitizer, value: str) -> None:
    assert _kinds(san, value, "sql", "sql_injection") == [], value


@pytest.mark.parametrize(
    "text",
    [
        "select current_user; is how you check who you are in Postgres",
        "-- -",
        "(1)",
        "'a'='a'",
        "0x27",
        "cast it with password::int in the migration",
        "the score was 1-0",
    ],
)
def test_probe_shapes_do_not_fire_in_prose_fields(san: Sanitizer, text: str) -> None:
    # whole-value probes only mean something where a value reaches a query (as: sql)
    assert _kinds(san, text, "text", "sql_injection") == []


def test_decoded_forms_cover_new_encodings() -> None:
    assert "' or 1=1" in decoded_forms("%u0027 or 1=1")
    assert "' or 1=1" in decoded_forms("&#x27; or 1=1")
    assert "' or 1=1" in decoded_forms("\uff07 or 1=1")
    # an NFKC view turns U+00B4 into space + U+0301: folded back to a quote
    assert "1' or 1" in decoded_forms("1 \u0301 or 1")


def test_hex_statement_reads_a_bounded_prefix() -> None:
    # a 1 MB hex literal: only the first 512 digits are decoded (no SQL word there)
    blob = "0x" + "41" * 500_000 + "73656c656374"
    assert hex_sql_check(blob, None, blob) is None


XSS_ATTACKS = [
    ('<a href="&#106;avascript:alert(1)">x</a>', "javascript_url"),
    ('<a href="jav&#x09;ascript:alert(1)">x</a>', "javascript_url"),
    ('<a href="java&NewLine;script:x()">x</a>', "javascript_url"),
    ("v&NewLine;b&Tab;s&NewLine;c&NewLine;r&Tab;i&Tab;p&NewLine;t&colon;x", "javascript_url"),
    ('<iframe srcdoc="&lt;script&gt;alert(1)&lt;/script&gt;"></iframe>', "dangerous_tag"),
    ('<x:script xmlns:x="http://www.w3.org/1999/xhtml" src="data:,alert(1)" />', "dangerous_tag"),
    ('<embed src="data:image/svg+xml;base64,PHN2Zz4=">', "data_url"),
    ('<x:template x:ontimer="alert(1)">', "event_handler"),
    ('<math><maction xlink:href="javascript:alert(1)">X</maction></math>', "javascript_url"),
    (
        "<div style=\"background-image:\\0075\\0072\\006C\\0028'\\006a\\0061\\0076\\0061"
        "\\0073\\0063\\0072\\0069\\0070\\0074\\003a\\0061'\\0029\">",
        "css_expression",
    ),
    ('<div style="width: expr/**/ession(alert(1))">', "css_expression"),
    ("%3Cscript%3Ealert(1)%3C%2Fscript%3E", "encoded_markup"),
    ("%253Csvg%2520onload%253Dalert(1)%253E", "encoded_markup"),
    ("&lt;img src=x onerror=alert(1)&gt;", "encoded_markup"),
    ("\\u003cscript\\u003ealert(1)\\u003c/script\\u003e", "encoded_markup"),
    ("'-alert(1)-'", "js_breakout"),
    ('";alert(1);//', "js_breakout"),
    ("'}alert(1);{'", "js_breakout"),
    ("%22])}catch(e){if(!this.x)alert(document.domain),this.x=1}//", "js_breakout"),
]


@pytest.mark.parametrize(("payload", "detector"), XSS_ATTACKS)
def test_xss_classes_found_in_text_fields(san: Sanitizer, payload: str, detector: str) -> None:
    assert detector in _kinds(san, payload, "text", "markup"), payload


@pytest.mark.parametrize(
    "text",
    [
        '<img src="data:image/png;base64,iVBORw0KGgo=">',
        '<a href="https://example.com/?a=1&amp;b=2">link</a>',
        "&lt;b&gt;bold&lt;/b&gt; is how you write bold",
        "var s = 'x'; console.log(s)",
        "use window.alert(msg) to notify the user",
        "price is 5%3C10",
        '<p style="color: red; font-weight: bold">note</p>',
        '<option value="one">One</option>',
    ],
)
def test_markup_lookalikes_stay_clean(san: Sanitizer, text: str) -> None:
    strong = {
        "javascript_url",
        "event_handler",
        "data_url",
        "css_expression",
        "dangerous_tag",
        "encoded_markup",
        "js_breakout",
        "script_tag",
    }
    assert not strong & set(_kinds(san, text, "text", "markup")), text


def test_escaped_markup_is_text_in_html_fields(san: Sanitizer) -> None:
    # in an html field an escaped tag renders as text: not an injection
    assert "encoded_markup" not in _kinds(
        san, "&lt;script&gt;alert(1)&lt;/script&gt;", "html", "markup"
    )


def test_attribute_parse_is_bounded() -> None:
    # past MAX_TAGS tags or SCAN_CHARS characters the parse stops: a decoy prefix of plain
    # tags hides a handler from the parse (the pattern rules still see the whole field)
    decoys = "<b>x</b>" * (MAX_TAGS + 1)
    assert judge_markup(decoys + "<x onclick=alert(1)>") == frozenset()
    assert "event_handler" in judge_markup("<b>x</b>" * 4 + "<x onclick=alert(1)>")
    assert judge_markup("x" * SCAN_CHARS + "<x onclick=alert(1)>") == frozenset()
    assert len(decode_markup("%41" * 100_000)) <= SCAN_CHARS


def test_decoy_prefix_does_not_hide_handler_from_engine(san: Sanitizer) -> None:
    decoys = "<b>x</b>" * (MAX_TAGS + 1)
    assert "event_handler" in _kinds(san, decoys + "<img src=x onerror=alert(1)>", "text", "markup")
