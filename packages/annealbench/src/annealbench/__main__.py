"""``python -m annealbench``: the ``annealbench`` command."""

import sys

from annealbench.cli import main

sys.exit(main())
