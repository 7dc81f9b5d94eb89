"""Benchmarks: `sluice bench` (pipeline vs raw passthrough) and `sluice bench detect`."""
