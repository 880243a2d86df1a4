"""`python -m runlog`: the same command line as the `runlog` console script."""

from __future__ import annotations

import sys

from runlog.cli import main

if __name__ == "__main__":
    sys.exit(main())
