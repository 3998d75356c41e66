"""annealbench, the training side: study files in, resumable runs and their records out.

The public face is ``annealbench.api`` and the ``annealbench`` command (``annealbench.cli``).
"""
