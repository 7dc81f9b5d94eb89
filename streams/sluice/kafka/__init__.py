"""Kafka edge: every call into the Kafka client libraries lives in this package.

Admin and client construction, record and header parsing, the transactional
outbox, committed chain heads and metadata refreshes. The rest of the runtime
talks to Kafka only through the public helpers here.
"""
