"""Local development helpers: the embedded Apache Kafka broker."""
