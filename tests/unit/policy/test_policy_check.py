"""Loading and checking: structure, CEL errors naming the rule, reachability, durations."""

from __future__ import annotations

import pytest

from sluice.errors import ConfigError
from sluice.policy import Problem, check_policy, load_policy, parse_duration_ms
from sluice.policy.analysis import analyze, rewrite_event_fields


def messages(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems if p.severity == "error"]


@pytest.mark.parametrize(
    ("text", "ms"),
    [("90s", 90_000), ("30m", 1_800_000), ("1h", 3_600_000), ("4h", 14_400_000),
     ("1d", 86_400_000), ("1h30m", 5_400_000), ("250ms", 250), (60, 60_000)],
)  # fmt: skip
def test_parse_duration(text, ms) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("bad", ["", "1", "h", "1w", "-1h", "0s", "1.5h", True, None, 0])
def test_parse_duration_rejects(bad) -> None:
    with pytest.raises(ValueError):
        parse_duration_ms(bad)


def test_shipped_default_is_clean() -> None:
    assert check_policy(None) == []


def test_cel_syntax_error_names_the_rule_in_one_line(write_policy) -> None:
    path = write_policy(
        'rules:\n  - name: broken-rule\n    when: findings.exists(f, f.kind == "secret"\n'
        "    deny: {reason: x}\n"
    )
    with pytest.raises(ConfigError) as info:
        load_policy(path)
    text = str(info.value)
    assert "policy rule 'broken-rule': CEL error at 1:" in text
    assert "\n" not in text


def test_unknown_keys_everywhere(write_policy) -> None:
    path = write_policy(
        "rulez: []\n"
        "rules:\n"
        "  - name: a\n    when: 'true'\n    allow: {}\n    priority: 3\n"
        "  - name: b\n    when: 'false'\n    hold: {roles: [x], quorum: 2}\n"
        "default:\n  deny: {reason: r, why: 1}\n"
    )
    got = messages(check_policy(path))
    assert "policy: unknown top-level key 'rulez'" in got
    assert "policy rule 'a': unknown key 'priority'" in got
    assert "policy rule 'b': hold: unknown key 'quorum'" in got
    assert "policy default: deny: unknown key 'why'" in got


def test_unreachable_rules(write_policy) -> None:
    path = write_policy(
        "rules:\n"
        "  - {name: publish, when: 'event.kind == \"CODE_PUBLISH\"', hold: {roles: [r]}}\n"
        "  - name: small-publish\n"
        '    when: event.kind == "CODE_PUBLISH" && event.cost_usd < 1.0\n'
        "    allow: {}\n"
        "  - {name: dup-a, when: 'event.cost_usd > 1.0', allow: {}}\n"
        "  - {name: dup-b, when: 'event.cost_usd  >  1.0', allow: {}}\n"
        "  - {name: everything, when: true, allow: {}}\n"
        "  - {name: after, when: 'event.kind == \"PROMPT\"', allow: {}}\n"
        "  - {name: dup-a, when: 'event.kind == \"OTHER\"', allow: {}}\n"
    )
    problems = check_policy(path)
    got = messages(problems)
    assert any(m.startswith("policy rule 'small-publish': unreachable") for m in got)
    assert any(m.startswith("policy rule 'dup-b': unreachable: same condition") for m in got)
    assert any(m.startswith("policy rule 'after': unreachable") for m in got)
    assert "policy rule 'dup-a': duplicate rule name (the first one shadows it)" in got
    assert any(p.rule == "default" and p.severity == "warning" for p in problems)
    assert not any(m.startswith("policy rule 'everything'") for m in got)


def test_bad_outcomes(write_policy) -> None:
    path = write_policy(
        "rules:\n"
        "  - {name: two, when: 'true', allow: {}, deny: {reason: x}}\n"
        "  - {name: none, when: 'true'}\n"
        "  - {name: noreason, when: 'false', deny: {}}\n"
        "  - {name: roles, when: 'false', hold: {roles: [], ttl: 1h}}\n"
        "  - {name: ttl, when: 'false', hold: {roles: [a], ttl: soon}}\n"
        "  - {name: quorum, when: 'false', hold: {roles: [a], approvals: 0}}\n"
        "  - {name: expiry, when: 'false', hold: {roles: [a], on_expiry: maybe}}\n"
        "  - {name: esc, when: 'false', hold: {roles: [a], on_expiry: escalate}}\n"
        "  - {name: nowhen, allow: {}}\n"
        "  - {name: 'bad name!', when: 'false', allow: {}}\n"
    )
    got = "\n".join(messages(check_policy(path)))
    for needle in [
        "'two': needs exactly one of allow, hold, deny",
        "'none': needs exactly one of allow, hold, deny",
        "'noreason': deny: needs a non-empty reason",
        "'roles': hold: roles must be a non-empty list",
        "'ttl': hold: ttl: bad duration",
        "'quorum': hold: approvals must be an integer >= 1",
        "'expiry': hold: on_expiry must be",
        "'esc': hold: on_expiry escalate needs escalate",
        "'nowhen': when: must be a CEL expression",
        "'rules[9]': name must be",
    ]:
        assert needle in got


def test_escalation_hold(write_policy, make_event) -> None:
    policy = load_policy(
        write_policy(
            'rules:\n  - name: deploy\n    when: event.kind == "MODEL_DEPLOY"\n'
            "    hold: {roles: [ml-lead], approvals: 2, ttl: 30m, on_expiry: escalate,\n"
            "           escalate: {roles: [cto], ttl: 1d}}\n"
        )
    )
    hold = policy.assess(make_event(kind="MODEL_DEPLOY"), []).hold
    assert hold is not None
    assert (hold.on_expiry, hold.ttl_ms, hold.escalate_roles, hold.escalate_ttl_ms) == (
        "ESCALATE",
        1_800_000,
        ("cto",),
        86_400_000,
    )


def test_unknown_names_and_types(write_policy) -> None:
    path = write_policy(
        "lists: {vendors: [a]}\nlimits: {budget: 5}\n"
        "rules:\n"
        "  - {name: var, when: 'evnt.kind == \"X\"', allow: {}}\n"
        "  - {name: field, when: 'event.kindd == \"X\"', allow: {}}\n"
        "  - {name: list, when: 'event.resource in lists.vendorz', allow: {}}\n"
        "  - {name: limit, when: 'event.cost_usd != null && event.cost_usd > limits.budgt',"
        " allow: {}}\n"
        "  - {name: nonbool, when: 'event.kind', allow: {}}\n"
        "  - {name: typeerr, when: 'event.cost_usd + \"x\" == 1', allow: {}}\n"
        "  - {name: nullable, when: 'event.confidence < 0.5', allow: {}}\n"
    )
    problems = check_policy(path)
    got = "\n".join(messages(problems))
    assert "'var': unknown variable 'evnt'" in got
    assert "'field': unknown event field 'kindd'" in got
    assert "'list': lists.vendorz is not defined" in got
    assert "'limit': limits.budgt is not defined" in got
    assert "'nonbool': condition gives a str, not a bool" in got
    assert "'typeerr': type error" in got
    nullable = [p for p in problems if p.rule == "nullable"]
    assert [p.severity for p in nullable] == ["warning"]


def test_yaml_syntax_error_is_a_problem(write_policy) -> None:
    got = messages(check_policy(write_policy("rules: [\n  - name: x\n")))
    assert len(got) == 1 and got[0].startswith("policy: YAML syntax error at line")


def test_unreadable_file_raises(tmp_path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        check_policy(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_policy(tmp_path / "missing.yaml")


def test_when_true_as_yaml_boolean(write_policy, make_event) -> None:
    policy = load_policy(write_policy("rules:\n  - {name: all, when: true, allow: {}}\n"))
    assert policy.assess(make_event(), []).rule == "all"


# --- static analysis behind the fast paths ------------------------------------------


def test_analysis_predicates_and_fields() -> None:
    info = analyze('event.kind in ["A", "B"] && event.cost_usd > limits.x && event.x != null')
    assert info.sure and info.event_fields == {"kind", "cost_usd", "x"}
    assert info.constraints == {"kind": frozenset({"A", "B"})}
    assert info.predicates == [
        ("in", "kind", frozenset({"A", "B"})),
        ("cmp", "cost_usd", (">", ("limits", "x"))),
        ("notnull", "x", None),
    ]
    assert not analyze('event.kind == "A" || event.kind == "B"').predicates  # top-level ||
    assert analyze('(event.kind == "A") && "B" == event.data_classification').pure_constraints


@pytest.mark.parametrize(
    "source",
    [
        r'event.kind == "A\"B"',  # escapes
        'event.kind == r"A"',  # raw string
        'event.kind == """A"""',  # triple quotes
        'findings.exists(event, event.kind == "secret")',  # shadowed variable
    ],
)
def test_analysis_is_conservative(source) -> None:
    info = analyze(source)
    assert not info.sure
    assert rewrite_event_fields(source, "p_") is None


def test_rewrite_keeps_strings_and_skips_has() -> None:
    src = 'event.kind == "event.kind" && event.attributes["v"] in [\'a"b\'] // event.x'
    assert rewrite_event_fields(src, "p_") == (
        'p_kind == "event.kind" && p_attributes["v"] in [\'a"b\']  '
    )
    assert rewrite_event_fields("has(event.model)", "p_") is None
    assert rewrite_event_fields("event == {}", "p_") is None  # bare event
    assert analyze("event == {}").event_fields is None


@pytest.mark.parametrize(
    "copy", ["deploy/compose/sluice/policy.yaml", "deploy/k8s/base/policy.yaml"]
)
def test_deployed_policies_are_the_shipped_default(copy) -> None:
    """The compose and Kubernetes examples are the default policy under a 2-line header."""
    from pathlib import Path

    root = Path(__file__).parents[3]
    default = (root / "streams/sluice/policy/default.yaml").read_text(encoding="utf-8")
    lines = (root / copy).read_text(encoding="utf-8").splitlines(keepends=True)
    assert all(line.startswith("#") for line in lines[:2])
    assert "".join(lines[2:]) == default
    assert check_policy(root / copy) == []
