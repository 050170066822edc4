"""napari tests need Qt; they are skipped only where napari is not installed."""

import pytest

pytest.importorskip("napari")
pytest.importorskip("qtpy")
