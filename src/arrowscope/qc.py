"""Quality control of single-cell profiles: ``arrowscope.qc.label_outliers`` & co.

A thin public face over :mod:`arrowscope.core.profiles.qc` and
:mod:`arrowscope.core.profiles.filters`.
"""

from .core.profiles.filters import FilterError, filter_rows, filters_to_expression
from .core.profiles.marks import Marks, agreement, open_marks
from .core.profiles.plate import plate_grid, plate_summary
from .core.profiles.qc import (
    COSMICQC_DEFAULTS,
    Clause,
    Condition,
    QCResult,
    compute_flags,
    flag_columns,
    label_outliers,
    load_conditions,
    qc_report,
    write_annotations,
    write_cleaned,
)

__all__ = [
    "COSMICQC_DEFAULTS",
    "Clause",
    "Condition",
    "FilterError",
    "Marks",
    "QCResult",
    "agreement",
    "compute_flags",
    "filter_rows",
    "filters_to_expression",
    "flag_columns",
    "label_outliers",
    "load_conditions",
    "open_marks",
    "plate_grid",
    "plate_summary",
    "qc_report",
    "write_annotations",
    "write_cleaned",
]
