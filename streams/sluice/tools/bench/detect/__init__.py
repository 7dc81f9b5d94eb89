"""``sluice bench detect``, split by job: :mod:`.report` (the entry point,
``run_detect_bench``), :mod:`.samples` (generated labelled set), :mod:`.speed`
(throughput, linear time, adversarial cost), :mod:`.heldout` (public secrets/PII sets),
:mod:`.public` (public SQL/markup sets), :mod:`.pi` (prompt injection)."""
