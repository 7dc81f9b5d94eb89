"""Tools apart from the runtime: benchmarks, fault injection and the dev broker/demo.

- :mod:`sluice.tools.bench`: ``sluice bench`` (pipeline vs passthrough, stage costs,
  gate latency, detection quality and speed).
- :mod:`sluice.tools.chaos`: ``sluice chaos`` and ``tests/reliability`` (crash loops,
  soak runs, conservation accounting).
- :mod:`sluice.tools.dev`: ``sluice dev broker`` / ``sluice dev demo`` (a local Apache
  Kafka and the sample events).

Nothing under ``sluice`` outside ``sluice.tools`` and ``sluice.cli`` imports this
package (``tests/unit/test_layers.py`` checks).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["repo_root"]


def repo_root() -> Path:
    """The source checkout this package would sit in (``streams/sluice/tools`` → ``.``).

    Only meaningful in a checkout; callers check that the file they want exists there.
    """
    return Path(__file__).resolve().parents[3]
