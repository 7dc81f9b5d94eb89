"""Local development: the embedded Apache Kafka broker (``sluice dev broker``) and the demo
(``sluice dev demo``: broker, worker, sample events and where each one went)."""
