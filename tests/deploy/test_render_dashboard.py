"""scripts/render_dashboard.py: the pure parts (its Prometheus run is in the integration test)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "render_dashboard", ROOT / "scripts" / "render_dashboard.py"
    )
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_panel_queries_cover_the_timeseries_panels() -> None:
    mod = _module()
    dash = json.loads((ROOT / "deploy" / "grafana" / "sluice-dashboard.json").read_text())
    panels = mod.panel_queries(dash)
    assert len(panels) == sum(1 for p in dash["panels"] if p["type"] == "timeseries")
    assert all(targets for _, _, targets in panels)
    titles = [t for t, _, _ in panels]
    assert "Findings by detector" in titles and "Consumer lag by stage and partition" in titles


def test_legend_format_substitutes_labels() -> None:
    mod = _module()
    assert (
        mod._legend("{{kind}}/{{detector}}", {"kind": "secret", "detector": "aws"}) == "secret/aws"
    )
    assert mod._legend("", {"__name__": "x", "a": "1", "b": "2"}) == "a=1,b=2"


def test_render_writes_a_png(tmp_path: Path) -> None:
    mod = _module()
    out = tmp_path / "d.png"
    mod.render(
        [("p", "s", [("a", [0.0, 60.0], [1.0, 2.0])]), ("empty", "", [])], out, "t", span=(0, 60)
    )
    assert out.read_bytes()[:4] == b"\x89PNG"


def test_bad_prometheus_url_is_exit_2(tmp_path: Path) -> None:
    mod = _module()
    assert mod.main(["--prometheus", "file:///etc/passwd", "--out", str(tmp_path / "x.png")]) == 2
    assert not (tmp_path / "x.png").exists()
