"""The study report: analyse -> sections -> HTML, PDF and files (docs/report.md).

>>> from metsurv.report import figures, tables
>>> figures.time_ticks(15).tolist()
[0.0, 3.0, 6.0, 9.0, 12.0, 15.0]
"""

from metsurv.report.analysis import Analysis, analyse
from metsurv.report.build import build, load_study, report_command
from metsurv.report.config import ReportConfig, load_config
from metsurv.report.sections import compose

__all__ = ["Analysis", "ReportConfig", "analyse", "build", "compose", "load_config",
           "load_study", "report_command"]
