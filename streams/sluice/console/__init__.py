"""``sluice console``: the reviewers' web console (queue, detail, signed decisions).

- :mod:`sluice.console.state`: the queue followed from Kafka (never a worker's memory).
- :mod:`sluice.console.runs`: the steps of each run seen (bounded), for the detail page.
- :mod:`sluice.console.render`: server-rendered HTML, every value escaped.
- :mod:`sluice.console.trace`: an event's lifecycle trace and audit records (``sluice trace``).
- :mod:`sluice.console.security`: login token, session, CSRF, trusted proxy header.
- :mod:`sluice.console.app`: the aiohttp application.
- ``static/console.js``: live updates and WebCrypto Ed25519 signing in the browser.
"""

from __future__ import annotations

__all__: list[str] = []
