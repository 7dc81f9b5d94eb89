"""Thin loops over the pure stages: intake (hot path) and gate, run by ``sluice run``."""
