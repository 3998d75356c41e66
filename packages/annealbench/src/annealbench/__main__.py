import sys

from annealbench.cli import main

sys.exit(main())
