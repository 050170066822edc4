"""Sample data (File > Open Sample): a synthetic plate and a crop table.

The data are written to OME-Parquet in a temporary folder and read back through
the arrowscope reader, so the samples are lazy, file-backed layers like real data.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import cache
from pathlib import Path
from typing import Any


@cache
def _demo_files() -> dict[str, Path]:
    from ..core.profiles.synthetic import write_demo_plate

    folder = Path(tempfile.mkdtemp(prefix="arrowscope-sample-"))
    # the layers read these files lazily for the whole session; then they go
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return write_demo_plate(folder)


def sample_plate() -> list[Any]:
    """Four fields of view, three channels, with nuclei labels."""
    from .reader import read_paths

    return read_paths(str(_demo_files()["plate"]))


def sample_crops() -> list[Any]:
    """One crop per cell, with the cells' features, stacked on a row axis."""
    from .reader import read_paths

    return read_paths(str(_demo_files()["crops"]))
