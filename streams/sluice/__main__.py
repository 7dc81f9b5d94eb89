"""python -m sluice → the sluice command line."""

from sluice.cli.entry import main

raise SystemExit(main())
