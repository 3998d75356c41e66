"""annealbench_report: tidy records, statistics, figures and a static HTML report.

Reads only the files that ``annealbench`` writes (docs/design.md) and never imports torch.
Importing the package is cheap: pandas, matplotlib and jinja2 load with the submodules.
"""

from annealbench_report.errors import ReportError

__version__ = "0.1.0"
__all__ = ["ReportError", "__version__"]
