"""sluice: a security gate for AI workflow events on Kafka.

Upstream services publish :class:`WorkflowEvent` records with :class:`Emitter`; the
``sluice run`` worker decodes, validates, sanitizes and assesses each one, passes
low-risk events through and holds risky ones until signed reviewer decisions arrive.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["Emitter", "__version__"]

if TYPE_CHECKING:
    from sluice.emitter import Emitter


def __getattr__(name: str) -> Any:
    # Lazy so that `import sluice` stays cheap for the CLI and tools.
    if name == "Emitter":
        from sluice.emitter import Emitter

        return Emitter
    raise AttributeError(name)
