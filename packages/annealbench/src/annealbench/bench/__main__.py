"""``python -m annealbench.bench`` (nox -s bench, and the bench's own child processes)."""

import sys

from annealbench.bench.main import main

if __name__ == "__main__":
    sys.exit(main())
