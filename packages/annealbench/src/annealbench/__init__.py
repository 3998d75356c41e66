"""annealbench, the training side: study files in, resumable runs and their records out.

The public face is ``annealbench.api`` and the ``annealbench`` command (``annealbench.cli``).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("annealbench")
except PackageNotFoundError:  # a source tree on the path, never installed
    __version__ = "unknown (not installed)"
