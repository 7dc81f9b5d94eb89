"""python -m sluice → the sluice command line."""

from sluice.cli.main import main

raise SystemExit(main())
