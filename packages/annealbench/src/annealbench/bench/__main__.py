"""``python -m annealbench.bench`` (nox -s bench, and the bench's own child processes)."""

import importlib.util
import sys

from annealbench.bench.main import main

if __name__ == "__main__":
    if importlib.util.find_spec("annealbench_report") is None:  # say so now, not after the measures
        print("annealbench bench: needs annealbench-report (bf16_accuracy's t-interval is the "
              "report's): pip install -e packages/annealbench-report", file=sys.stderr)
        sys.exit(2)
    sys.exit(main())
