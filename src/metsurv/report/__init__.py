"""The study report: figures, tables and the build of an HTML/PDF report folder.

>>> from metsurv.report import figures, tables
>>> figures.time_ticks(15).tolist()
[0.0, 3.0, 6.0, 9.0, 12.0, 15.0]
"""

from metsurv.report.build import build, report_command
from metsurv.report.config import ReportConfig, load_config

__all__ = ["ReportConfig", "build", "load_config", "report_command"]
