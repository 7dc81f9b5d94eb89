"""Render the sluice Grafana dashboard's queries to a PNG with matplotlib.

Reads ``deploy/grafana/sluice-dashboard.json``, runs each time-series panel's PromQL
against a Prometheus HTTP API over a recent time range, and draws one small chart per
panel, so the README can show what the dashboard's queries give on real data. The
picture is a matplotlib rendering of those queries, not a Grafana screenshot: Grafana's
styling, thresholds and stat panels are not drawn.

Usage::

    python scripts/render_dashboard.py --prometheus http://127.0.0.1:9090 --out docs/dashboard.png

Exit codes: 0 written, 1 Prometheus returned no data for any panel, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["main", "panel_queries", "query_range", "render"]

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy" / "grafana" / "sluice-dashboard.json"

#: A panel's series: (legend, [unix seconds], [values]).
Series = tuple[str, list[float], list[float]]


def panel_queries(dashboard: dict[str, Any]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(title, unit, [(expr, legendFormat)]) for every time-series panel, in order."""
    out = []
    for panel in dashboard["panels"]:
        if panel.get("type") != "timeseries":
            continue
        unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit", "")
        targets = [(t["expr"], t.get("legendFormat", "")) for t in panel.get("targets", [])]
        out.append((panel["title"], unit, targets))
    return out


def query_range(
    base: str, expr: str, start: float, end: float, step: float
) -> list[dict[str, Any]]:
    """The ``matrix`` result of ``/api/v1/query_range``.

    Raises:
        RuntimeError: Prometheus is unreachable or answered with an error.
    """
    params = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": step})
    url = f"{base.rstrip('/')}/api/v1/query_range?{params}"
    if not url.startswith(("http://", "https://")):
        raise RuntimeError("--prometheus must be an http(s) URL")
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:  # noqa: S310 - scheme checked above
            data = json.loads(resp.read())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise RuntimeError(f"query failed: {exc}") from exc
    if data.get("status") != "success":
        raise RuntimeError(f"query failed: {data.get('error', 'unknown error')}")
    result: list[dict[str, Any]] = data["data"]["result"]
    return result


def _legend(fmt: str, labels: dict[str, str]) -> str:
    text = re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), fmt)
    return text or ",".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "__name__")


def collect(
    base: str,
    dashboard: dict[str, Any],
    minutes: float,
    rate_interval: str,
    variables: dict[str, str] | None = None,
) -> list[tuple[str, str, list[Series]]]:
    """Every panel with its series over the last ``minutes``; ``variables`` fill the
    dashboard's ``$name`` template variables (regexes, as Grafana fills multi-values)."""
    end = time.time()
    start = end - minutes * 60
    step = max(1.0, minutes * 60 / 240)
    panels = []
    for title, unit, targets in panel_queries(dashboard):
        series: list[Series] = []
        for expr, fmt in targets:
            expr = expr.replace("$__rate_interval", rate_interval)
            for name, value in sorted((variables or {}).items(), key=lambda kv: -len(kv[0])):
                expr = expr.replace(f"${name}", value)
            for item in query_range(base, expr, start, end, step):
                xs = [float(t) for t, _ in item["values"]]
                ys = [float(v) for _, v in item["values"]]
                series.append((_legend(fmt, item["metric"]), xs, ys))
        panels.append((title, unit, series))
    return panels


def render(
    panels: list[tuple[str, str, list[Series]]],
    out: Path,
    title: str,
    span: tuple[float, float] | None = None,
) -> None:
    """Draw the panels in a grid (x axis over ``span``, unix seconds) and save a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from datetime import UTC, datetime

    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    cols = 3
    rows = max(1, math.ceil(len(panels) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 5.2, rows * 3.0), squeeze=False)
    fig.suptitle(title, fontsize=14, fontweight="bold")
    for ax, (name, unit, series) in zip(axes.flat, panels, strict=False):
        ax.set_title(name, fontsize=9)
        if not series:
            ax.text(
                0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="grey"
            )
        for legend, xs, ys in series[:8]:
            when = [datetime.fromtimestamp(x, UTC) for x in xs]
            # Sparse series (a counter that just appeared) would be invisible as a line.
            marker = "o" if len(xs) <= 3 else None
            ax.plot(when, ys, linewidth=1.2, marker=marker, markersize=3, label=legend[:32])
        if series:
            ax.legend(fontsize=6, loc="upper left")
        if span is not None:
            ax.set_xlim(datetime.fromtimestamp(span[0], UTC), datetime.fromtimestamp(span[1], UTC))
        ax.xaxis.set_major_locator(mdates.AutoDateLocator(maxticks=6))
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
        ax.tick_params(labelsize=7)
        if unit:
            ax.set_ylabel(unit, fontsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry; returns the exit code."""
    parser = argparse.ArgumentParser(description="Render the sluice dashboard's queries to a PNG.")
    parser.add_argument("--prometheus", required=True, help="Prometheus base URL")
    parser.add_argument("--out", required=True, type=Path, help="PNG file to write")
    parser.add_argument("--dashboard", type=Path, default=DASHBOARD, help="dashboard JSON")
    parser.add_argument("--minutes", type=float, default=15.0, help="time range (default 15)")
    parser.add_argument("--rate-interval", default="1m", help="replaces $__rate_interval")
    parser.add_argument("--job", default="sluice", help="regex for the $job variable")
    parser.add_argument("--namespace", default=".*", help="regex for the $namespace variable")
    args = parser.parse_args(argv)
    try:
        dashboard = json.loads(args.dashboard.read_text())
        variables = {"job": args.job, "namespace": args.namespace}
        panels = collect(args.prometheus, dashboard, args.minutes, args.rate_interval, variables)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"render_dashboard: error: {exc}", file=sys.stderr)
        return 2
    end = time.time()
    render(
        panels,
        args.out,
        f"{dashboard.get('title', 'sluice')} dashboard: its queries on real data, last"
        f" {args.minutes:g} min (a matplotlib rendering, not a Grafana screenshot)",
        span=(end - args.minutes * 60, end),
    )
    with_data = sum(1 for _, _, s in panels if s)
    print(f"wrote {args.out} ({with_data}/{len(panels)} panels with data)")
    return 0 if with_data else 1


if __name__ == "__main__":
    sys.exit(main())
