"""The ``sluice`` command line: one module per verb group, wired in :mod:`sluice.cli.main`."""
