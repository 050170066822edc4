"""Quality control of single-cell profiles: ``arrowscope.qc.label_outliers`` & co.,
and of whole fields of view and wells (``level_qc``).

A thin public face over :mod:`arrowscope.core.profiles.qc`,
:mod:`arrowscope.core.profiles.fields` and
:mod:`arrowscope.core.profiles.filters`.
"""

from .core.profiles.fields import (
    cells_of_flagged,
    field_marks,
    field_table,
    flag_rotated_plates,
    level_qc,
    level_report,
    pixel_measures,
    write_into_warehouse,
    write_report,
)
from .core.profiles.filters import FilterError, filter_rows, filters_to_expression
from .core.profiles.layout import position_effects
from .core.profiles.marks import Marks, agreement, open_marks
from .core.profiles.plate import plate_grid, plate_summary, site_grid
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
    "cells_of_flagged",
    "compute_flags",
    "field_marks",
    "field_table",
    "filter_rows",
    "filters_to_expression",
    "flag_columns",
    "flag_rotated_plates",
    "label_outliers",
    "level_qc",
    "level_report",
    "load_conditions",
    "open_marks",
    "pixel_measures",
    "plate_grid",
    "plate_summary",
    "position_effects",
    "qc_report",
    "site_grid",
    "write_annotations",
    "write_cleaned",
    "write_into_warehouse",
    "write_report",
]
