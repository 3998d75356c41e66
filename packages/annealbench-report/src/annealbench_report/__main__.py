"""``python -m annealbench_report`` is the ``annealbench-report`` command."""

import sys

from annealbench_report.cli import main

sys.exit(main())
