"""The nightly job's side of the report: a night's record from the published site, the nights'
history file, alerts between nights, the archive and its retention, and the history page.

It sits above the report's other layers (it stages records with ``annealbench_report.thin`` and
reads what ``annealbench-report build`` wrote); nothing else in the report imports it. Run as
``python -m annealbench_report.nightly {stage,close}`` (ci/nightly.sh, through ``nox -s nightly``).
"""
