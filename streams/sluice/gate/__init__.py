"""The approval gate: signed decisions, the reviewers registry, quorum counting and expiry."""
