# ruff: noqa: E501 - the case table holds expected alert texts verbatim
"""Write ``deploy/prometheus/tests/*.test.yml`` (promtool unit tests) from the cases below.

promtool compares every annotation of a firing alert verbatim, so the long runbook texts
would have to be copied into each test by hand. This script copies them from the rule
file instead (substituting ``{{ $labels.x }}``), and takes only the templated
``summary`` from each case. Every alert has at least one case where it fires on a
synthetic series and one where it stays quiet on a normal one.

Every input series gets ``job="sluice"`` and ``namespace="sluice"`` unless it names its
own (the labels a scrape adds), and the expected alerts and samples carry the same scope,
since every rule aggregates by (job, namespace). A case's ``scope`` overrides that.

Usage: ``python scripts/gen_promtool_tests.py [--check]`` (``--check`` exits 1 when the
files on disk differ from what would be written; a unit test runs it).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
RULES = ROOT / "deploy" / "prometheus" / "rules"
OUT = ROOT / "deploy" / "prometheus" / "tests"
RULE_FILES = ["../rules/sluice.rules.yml"]

Series = list[tuple[str, str]]

#: The labels a scrape of one deployment adds, and that the rules keep.
SCOPE = {"job": "sluice", "namespace": "sluice"}


def scoped(series: str) -> str:
    """``series`` with the :data:`SCOPE` labels it does not set itself."""
    name, _, rest = series.partition("{")
    inner = rest.rstrip("}")
    have = set(re.findall(r'(\w+)="', inner))
    extra = [f'{k}="{v}"' for k, v in SCOPE.items() if k not in have]
    labels = ",".join(x for x in (inner, *extra) if x)
    return f"{name}{{{labels}}}"


def alternating(
    low: int, high: int, minutes: int, period: int = 30, start: int = 0
) -> tuple[str, int]:
    """Counter values (1 sample a minute) whose per-minute increase alternates between
    ``low`` and ``high`` every ``period`` minutes; returns (promtool values, last value)."""
    parts: list[str] = []
    value = start
    done = 0
    step_is_low = True
    while done < minutes:
        n = min(period, minutes - done)
        inc = low if step_is_low else high
        parts.append(f"{value}+{inc}x{n - 1}" if n > 1 else f"{value}")
        value += inc * n
        done += n
        step_is_low = not step_is_low
    return " ".join(parts), value


def _anomaly_series() -> dict[str, Series]:
    # 7 h of a kind whose rate alternates 50/70 per minute every 30 min (mean ~1/s,
    # stddev ~0.17/s), then: a spike to 200/min, a drop to 0, or more of the same.
    hist, last = alternating(50, 70, 420)
    normal, _ = alternating(50, 70, 30, start=last)
    short_hist, short_last = alternating(50, 70, 120)
    return {
        "fire": [
            ('sluice_events_total{outcome="approved",kind="TOOL_CALL"}', f"{hist} {last}+200x29"),
            ('sluice_events_total{outcome="approved",kind="MESSAGE_SEND"}', f"{hist} {last}+0x29"),
        ],
        "normal": [
            ('sluice_events_total{outcome="approved",kind="TOOL_CALL"}', f"{hist} {normal}"),
        ],
        "short": [
            # A spike after only 2 h of history: too little to judge, must not page.
            (
                'sluice_events_total{outcome="approved",kind="TOOL_CALL"}',
                f"{short_hist} {short_last}+200x29",
            ),
        ],
    }


#: alert → its promtool groups: name (a comment), series, evals (minute, expected alerts).
CASES: list[dict[str, Any]] = [
    {
        "alert": "SluiceErrorRateHigh",
        "groups": [
            {
                "name": "fires: 10 of 110 events/min invalid (9%) for 15 min",
                "series": [
                    ('sluice_events_total{outcome="approved",kind="PROMPT"}', "0+100x30"),
                    ('sluice_events_total{outcome="invalid",kind="OTHER"}', "0+10x30"),
                ],
                "evals": [
                    (4, []),  # not yet: `for: 5m`
                    (
                        15,
                        [
                            {
                                "labels": {},
                                "summary": "sluice error rate 9.091% (invalid events + refused decisions)",
                            }
                        ],
                    ),
                ],
            },
            {
                "name": "fires: 10 refused decisions per 100 events/min (10%)",
                "series": [
                    ('sluice_events_total{outcome="approved",kind="PROMPT"}', "0+100x30"),
                    ('sluice_decisions_refused_total{reason="bad_signature"}', "0+10x30"),
                ],
                "evals": [
                    (
                        15,
                        [
                            {
                                "labels": {},
                                "summary": "sluice error rate 10% (invalid events + refused decisions)",
                            }
                        ],
                    ),
                ],
            },
            {
                "name": "quiet: 2 of 102 events/min invalid (2%)",
                "series": [
                    ('sluice_events_total{outcome="approved",kind="PROMPT"}', "0+100x30"),
                    ('sluice_events_total{outcome="invalid",kind="OTHER"}', "0+2x30"),
                ],
                "evals": [(15, []), (30, [])],
            },
        ],
        "exprs": [
            # The recording rule behind it, at an exact value.
            {
                "series": [
                    ('sluice_events_total{outcome="approved",kind="PROMPT"}', "0+48x30"),
                    ('sluice_events_total{outcome="invalid",kind="OTHER"}', "0+12x30"),
                ],
                "checks": [
                    (10, "sluice:events:rate5m", [({}, 1.0)]),
                    (10, "sluice:errors:ratio_rate5m", [({}, 0.2)]),
                ],
            }
        ],
    },
    {
        "alert": "SluiceIntakeLatencyRegression",
        "groups": [
            {
                "name": "fires: p99 goes from ~5 ms to ~50 ms after 70 min",
                "series": [
                    ('sluice_processing_seconds_bucket{le="0.005"}', "0+100x70 7000+0x60"),
                    ('sluice_processing_seconds_bucket{le="0.01"}', "0+100x70 7000+0x60"),
                    ('sluice_processing_seconds_bucket{le="0.05"}', "0+100x130"),
                    ('sluice_processing_seconds_bucket{le="0.1"}', "0+100x130"),
                    ('sluice_processing_seconds_bucket{le="+Inf"}', "0+100x130"),
                ],
                "evals": [
                    (60, []),
                    (
                        100,
                        [
                            {
                                "labels": {},
                                "summary": "sluice intake p99 49.6ms is at least double its value an hour ago",
                            }
                        ],
                    ),
                ],
            },
            {
                "name": "quiet: p99 goes from ~1 ms to ~5 ms, below the 25 ms floor",
                "series": [
                    ('sluice_processing_seconds_bucket{le="0.001"}', "0+100x70 7000+0x60"),
                    ('sluice_processing_seconds_bucket{le="0.005"}', "0+100x130"),
                    ('sluice_processing_seconds_bucket{le="0.01"}', "0+100x130"),
                    ('sluice_processing_seconds_bucket{le="+Inf"}', "0+100x130"),
                ],
                "evals": [(100, [])],
            },
            {
                "name": "quiet: p99 steady at ~50 ms (above the floor, not a regression)",
                "series": [
                    ('sluice_processing_seconds_bucket{le="0.01"}', "0+0x130"),
                    ('sluice_processing_seconds_bucket{le="0.05"}', "0+100x130"),
                    ('sluice_processing_seconds_bucket{le="+Inf"}', "0+100x130"),
                ],
                "evals": [(100, []), (130, [])],
            },
        ],
    },
    {
        "alert": "SluiceHeldBacklogHigh",
        "groups": [
            {
                "name": "fires: held events grow past 1000 on two workers",
                "series": [
                    ('sluice_held_events{instance="w1:9464"}', "500+100x40"),
                    ('sluice_held_events{instance="w2:9464"}', "0+0x40"),
                ],
                "evals": [
                    (10, []),
                    (30, [{"labels": {}, "summary": "3500 events are held for review"}]),
                ],
            },
            {
                "name": "quiet: a steady queue of 500",
                "series": [('sluice_held_events{instance="w1:9464"}', "500+0x40")],
                "evals": [(30, [])],
            },
            {
                "name": "fires per namespace: only the deployment whose queue grows",
                "series": [
                    ('sluice_held_events{namespace="team-a",instance="w1:9464"}', "500+100x40"),
                    ('sluice_held_events{namespace="team-b",instance="w2:9464"}', "900+0x40"),
                ],
                "evals": [
                    (
                        30,
                        [
                            {
                                "labels": {"namespace": "team-a"},
                                "summary": "3500 events are held for review",
                            }
                        ],
                    )
                ],
            },
        ],
    },
    {
        "alert": "SluiceOldestHeldTooOld",
        "groups": [
            {
                "name": "fires: oldest held event ages past 2 h",
                "series": [('sluice_oldest_held_age_seconds{instance="w1:9464"}', "7000+60x30")],
                "evals": [
                    (20, [{"labels": {}, "summary": "the oldest held event has waited 2h 16m 40s"}])
                ],
            },
            {
                "name": "quiet: reviewers decide within 10 minutes",
                "series": [('sluice_oldest_held_age_seconds{instance="w1:9464"}', "600+0x30")],
                "evals": [(20, [])],
            },
        ],
    },
    {
        "alert": "SluiceReviewWaiting",
        "groups": [
            {
                "name": "fires per role: only the role whose events wait, summed over workers",
                "series": [
                    ('sluice_held_events{instance="w1:9464",role="security"}', "2+0x30"),
                    ('sluice_held_events{instance="w2:9464",role="security"}', "1+0x30"),
                    ('sluice_held_events{instance="w1:9464",role="finance"}', "0+0x30"),
                ],
                "evals": [
                    (10, []),
                    (
                        20,
                        [
                            {
                                "labels": {"role": "security"},
                                "summary": "3 held events have waited 15m for role security",
                            }
                        ],
                    ),
                ],
            },
            {
                "name": "quiet: holds decided within minutes",
                "series": [('sluice_held_events{instance="w1:9464",role="security"}', "1 0 1 0 0x26")],
                "evals": [(20, [])],
            },
        ],
    },
    {
        "alert": "SluiceThroughputStalled",
        "groups": [
            {
                "name": "fires: processing stops at 20 min while lag grows",
                "series": [
                    ('sluice_events_total{outcome="approved",kind="PROMPT"}', "0+100x20 2000+0x30"),
                    ('sluice_consumer_lag_records{stage="intake",partition="0"}', "0+0x20 0+50x30"),
                ],
                "evals": [
                    (22, []),
                    (
                        45,
                        [
                            {
                                "labels": {},
                                "summary": "sluice intake has stalled with 0 events/s while input lag is not shrinking",
                            }
                        ],
                    ),
                ],
            },
            {
                "name": "quiet: falling behind but still processing",
                "series": [
                    ('sluice_events_total{outcome="approved",kind="PROMPT"}', "0+100x50"),
                    ('sluice_consumer_lag_records{stage="intake",partition="0"}', "0+50x50"),
                ],
                "evals": [(45, [])],
            },
            {
                "name": "quiet: idle (no input, no lag)",
                "series": [
                    ('sluice_events_total{outcome="approved",kind="PROMPT"}', "0+100x20 2000+0x30"),
                    ('sluice_consumer_lag_records{stage="intake",partition="0"}', "0+0x50"),
                ],
                "evals": [(45, [])],
            },
        ],
    },
    {
        "alert": "SluiceWorkerDown",
        "groups": [
            {
                "name": "fires: scrape fails from minute 3",
                "series": [('up{job="sluice",instance="w1:9464"}', "1 1 1 0 0 0 0 0 0 0 0")],
                "evals": [
                    (4, []),
                    (
                        8,
                        [
                            {
                                "labels": {"job": "sluice", "instance": "w1:9464"},
                                "summary": "sluice worker w1:9464 is down",
                            }
                        ],
                    ),
                ],
            },
            {
                "name": "quiet: scrapes succeed",
                "series": [('up{job="sluice",instance="w1:9464"}', "1+0x10")],
                "evals": [(8, [])],
            },
        ],
    },
    {
        "alert": "SluiceWorkerAbsent",
        "scope": {"job": "sluice"},  # absent() knows only the selector's labels
        "groups": [
            {
                "name": "fires: no sluice target at all",
                "series": [('up{job="node",instance="n1:9100"}', "1+0x20")],
                "evals": [
                    (
                        15,
                        [
                            {
                                "labels": {"job": "sluice"},
                                "summary": "no sluice worker is being scraped",
                            }
                        ],
                    )
                ],
            },
            {
                "name": "quiet: a sluice target exists",
                "series": [('up{job="sluice",instance="w1:9464"}', "1+0x20")],
                "evals": [(15, [])],
            },
        ],
    },
    {
        "alert": "SluiceFindingsSpike",
        "groups": [
            {
                "name": "fires: aws_access_key 1/min -> 30/min; a new injection detector at 30/min",
                "series": [
                    (
                        'sluice_findings_total{detector="aws_access_key",kind="secret"}',
                        "0+1x70 71+30x10",
                    ),
                    (
                        'sluice_findings_total{detector="instruction_override",kind="prompt_injection"}',
                        "_x70 0+30x10",
                    ),
                    # PII is not a security spike this alert watches.
                    ('sluice_findings_total{detector="email",kind="pii"}', "0+1x70 71+30x10"),
                ],
                "evals": [
                    (60, []),
                    (
                        78,
                        [
                            {
                                "labels": {"detector": "aws_access_key", "kind": "secret"},
                                "summary": "secret findings by aws_access_key spiked to 0.50/s",
                            },
                            {
                                "labels": {
                                    "detector": "instruction_override",
                                    "kind": "prompt_injection",
                                },
                                "summary": "prompt_injection findings by instruction_override spiked to 0.50/s",
                            },
                        ],
                    ),
                ],
            },
            {
                "name": "quiet: a steady 5 secrets/min, and a trickle from a new detector below the floor",
                "series": [
                    ('sluice_findings_total{detector="aws_access_key",kind="secret"}', "0+5x80"),
                    ('sluice_findings_total{detector="github_token",kind="secret"}', "_x70 0+1x10"),
                ],
                "evals": [(78, [])],
            },
        ],
    },
    {
        "alert": "SluiceEventRateAnomaly",
        "groups": [
            {
                "name": "fires: after 7 h of a 50/70 per-min rhythm, TOOL_CALL jumps to 200/min and MESSAGE_SEND drops to 0",
                "series": _anomaly_series()["fire"],
                "evals": [
                    (400, []),
                    (
                        435,
                        [
                            {
                                "labels": {"kind": "TOOL_CALL"},
                                "summary": "TOOL_CALL event rate is 5.4 standard deviations from its last day",
                            },
                            {
                                "labels": {"kind": "MESSAGE_SEND"},
                                "summary": "MESSAGE_SEND event rate is 4.2 standard deviations from its last day",
                            },
                        ],
                    ),
                ],
            },
            {
                "name": "quiet: the same rhythm continues",
                "series": _anomaly_series()["normal"],
                "evals": [(435, [])],
            },
            {
                "name": "quiet: a spike after only 2 h of history",
                "series": _anomaly_series()["short"],
                "evals": [(140, [])],
            },
        ],
    },
    {
        "alert": "SluiceDailyCostOverBudget",
        "groups": [
            {
                "name": "fires: 1 USD/min crosses the 100 USD budget",
                "series": [('sluice_cost_usd_total{kind="EXTERNAL_API"}', "0+1x200")],
                "evals": [
                    (60, []),
                    (
                        120,
                        [
                            {
                                "labels": {},
                                "summary": "sluice-gated spend over the last 24 h is 120.00 USD, over budget",
                            }
                        ],
                    ),
                ],
            },
            {
                "name": "quiet: 0.5 USD/min stays under budget",
                "series": [('sluice_cost_usd_total{kind="EXTERNAL_API"}', "0+0.5x200")],
                "evals": [(120, [])],
            },
        ],
    },
    {
        "alert": "SluiceNotificationSinkFailing",
        "groups": [
            {
                "name": "fires: every attempt to sink hook fails",
                "series": [
                    ('sluice_notifications_total{sink="hook",result="failed"}', "0+0x10 0+1x30"),
                    ('sluice_notifications_total{sink="hook",result="sent"}', "0+0x40"),
                ],
                "evals": [
                    (12, []),
                    (
                        25,
                        [
                            {
                                "labels": {"sink": "hook"},
                                "summary": "Notifications to sink hook keep failing",
                            }
                        ],
                    ),
                ],
            },
            {
                "name": "quiet: a flaky sink that still delivers",
                "series": [
                    ('sluice_notifications_total{sink="hook",result="failed"}', "0+1x40"),
                    ('sluice_notifications_total{sink="hook",result="sent"}', "0+2x40"),
                ],
                "evals": [(25, []), (40, [])],
            },
        ],
    },
    {
        "alert": "SluiceRefusedDecisionsBurst",
        "groups": [
            {
                "name": "fires: 3 bad signatures a minute",
                "series": [
                    ('sluice_decisions_refused_total{reason="bad_signature"}', "0+0x10 0+3x5")
                ],
                "evals": [
                    (8, []),
                    (
                        14,
                        [
                            {
                                "labels": {"reason": "bad_signature"},
                                "summary": "9 decisions refused in 5 minutes (reason bad_signature)",
                            }
                        ],
                    ),
                ],
            },
            {
                "name": "quiet: one expired decision every 5 minutes",
                "series": [('sluice_decisions_refused_total{reason="expired"}', "0+0.2x30")],
                "evals": [(14, []), (30, [])],
            },
        ],
    },
    {
        "alert": "SluiceQuarantineEngaged",
        "groups": [
            {
                "name": "fires: one actor quarantined for 5 minutes",
                "series": [('sluice_quarantined_subjects{subject="actor"}', "0x5 1x10")],
                "evals": [
                    (6, []),
                    (
                        9,
                        [
                            {
                                "labels": {"subject": "actor"},
                                "summary": "1 actor subject(s) quarantined",
                            }
                        ],
                    ),
                ],
            },
            {
                "name": "quiet: nothing quarantined",
                "series": [('sluice_quarantined_subjects{subject="actor"}', "0x20")],
                "evals": [(10, []), (20, [])],
            },
        ],
    },
    {
        "alert": "SluiceControlRefused",
        "groups": [
            {
                "name": "fires: one forged control",
                "series": [
                    (
                        'sluice_controls_total{result="refused",reason="bad_signature"}',
                        "0x10 1x10",
                    )
                ],
                "evals": [
                    (8, []),
                    (
                        12,
                        [
                            {
                                "labels": {"reason": "bad_signature"},
                                "summary": "1 quarantine control(s) refused in 5 minutes"
                                " (reason bad_signature)",
                            }
                        ],
                    ),
                ],
            },
            {
                "name": "quiet: controls applied, none refused",
                "series": [('sluice_controls_total{result="added",reason="none"}', "0+1x20")],
                "evals": [(10, []), (20, [])],
            },
        ],
    },
]


def _alert_annotations() -> dict[str, tuple[dict[str, str], dict[str, str]]]:
    """alert name → (labels, annotations) as written in the rule file."""
    out: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
    for f in sorted(RULES.glob("*.yml")):
        doc = yaml.safe_load(f.read_text())
        for group in doc["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    out[rule["alert"]] = (rule.get("labels", {}), rule.get("annotations", {}))
    return out


def _fill(template: str, labels: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        return labels[m.group(1)]

    return re.sub(r"\{\{ \$labels\.(\w+) \}\}", sub, template)


def render(case: dict[str, Any], rules: dict[str, tuple[dict[str, str], dict[str, str]]]) -> str:
    """The promtool test file text for one alert's cases."""
    alert = case["alert"]
    rule_labels, annotations = rules[alert]
    scope = case.get("scope", SCOPE)
    lines = [
        f"# promtool unit tests for {alert}. GENERATED by scripts/gen_promtool_tests.py:",
        "# edit the cases there and re-run it. Run: promtool test rules deploy/prometheus/tests/*.yml",
    ]
    head = {"rule_files": RULE_FILES, "evaluation_interval": "1m"}
    lines.append(yaml.safe_dump(head, sort_keys=False).rstrip())
    lines.append("tests:")
    for group in case["groups"]:
        tests = []
        for minute, expected in group["evals"]:
            exp = []
            for e in expected:
                labels = {**rule_labels, **scope, **e["labels"]}
                ann = {k: _fill(v, labels) for k, v in annotations.items() if k != "summary"}
                ann["summary"] = e["summary"]
                exp.append({"exp_labels": labels, "exp_annotations": ann})
            tests.append({"eval_time": f"{minute}m", "alertname": alert, "exp_alerts": exp})
        body = {
            "interval": "1m",
            "input_series": [{"series": scoped(s), "values": v} for s, v in group["series"]],
            "alert_rule_test": tests,
        }
        lines.append(f"  # {group['name']}")
        lines.append(_indent(yaml.safe_dump([body], sort_keys=False, width=100), 2))
    for expr_group in case.get("exprs", []):
        checks = [
            {
                "expr": expr,
                "eval_time": f"{minute}m",
                "exp_samples": [
                    {"labels": _labels(expr, {**SCOPE, **lab}), "value": val}
                    for lab, val in samples
                ],
            }
            for minute, expr, samples in expr_group["checks"]
        ]
        body = {
            "interval": "1m",
            "input_series": [{"series": scoped(s), "values": v} for s, v in expr_group["series"]],
            "promql_expr_test": checks,
        }
        lines.append("  # recording rules behind the alert, at exact values")
        lines.append(_indent(yaml.safe_dump([body], sort_keys=False, width=100), 2))
    return "\n".join(lines) + "\n"


def _labels(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{name}{{{inner}}}" if inner else name


def _indent(text: str, n: int) -> str:
    pad = " " * n
    return "\n".join(pad + line if line else line for line in text.rstrip().splitlines())


def _file_name(alert: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", alert).lower() + ".test.yml"


def outputs() -> dict[Path, str]:
    """Every test file this script writes, with its text."""
    rules = _alert_annotations()
    missing = set(rules) - {c["alert"] for c in CASES}
    if missing:
        raise SystemExit(f"alerts without promtool cases: {sorted(missing)}")
    return {OUT / _file_name(c["alert"]): render(c, rules) for c in CASES}


def main(argv: list[str] | None = None) -> int:
    """Write (or with --check, compare) the files; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if files are stale")
    args = parser.parse_args(argv)
    stale = []
    for path, text in outputs().items():
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path.name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print("stale promtool tests (re-run scripts/gen_promtool_tests.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
