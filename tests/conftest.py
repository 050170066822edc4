"""Shared fixtures: the real public data in ../shared/data, skipped when absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(
    os.environ.get(
        "ARROWSCOPE_SHARED_DATA",
        Path(__file__).resolve().parents[2] / "shared" / "data",
    )
)


def shared_file(*parts: str) -> Path:
    """Path into ../shared/data, skipping the test when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real test data not present: {path}")
    return path


@pytest.fixture
def cytodataframe_file() -> Path:
    return shared_file("cytodataframe_ome_parquet", "BR00117006.ome.parquet")
