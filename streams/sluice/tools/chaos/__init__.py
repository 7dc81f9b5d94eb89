"""Fault injection against a real Kafka: crash loops, soak runs, and the accounting that
checks SPEC §1's conservation invariant by counting records downstream.

Shared by ``tests/reliability`` (short forms, in CI) and ``sluice chaos`` (longer runs by
hand). Everything here talks to a real broker and real ``sluice run`` worker processes;
nothing is mocked. Split by job:

- :mod:`.scenario`: one run's environment (policy, freshly keyed reviewers registry).
- :mod:`.procs`: ``sluice run`` worker child processes (:class:`~.procs.WorkerHandle`).
- :mod:`.load`: the traffic (events at a steady pace, reviewers' decisions).
- :mod:`.accounting`: what the output topics hold and where every event ended.
- :mod:`.runs`: the crash loop and the soak run built from the above.
"""
