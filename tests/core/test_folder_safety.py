"""Writers never replace what arrowscope did not write, and a kill loses nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import arrowscope
from arrowscope.core import WriteError
from arrowscope.core.images.atomic import recover


def _dataset(path, value):
    return arrowscope.write_ome_parquet(
        path, np.full((2, 16, 16), value, np.uint8), dims="ZYX", layout="dataset"
    )


def test_foreign_folder_is_never_replaced(tmp_path):
    hive = tmp_path / "folder.parquet"
    (hive / "plate=P1").mkdir(parents=True)
    pq.write_table(pa.table({"a": [1, 2]}), hive / "plate=P1" / "part-0.parquet")
    (hive / "notes.txt").write_text("my notes")
    for layout in ("nested", "dataset"):
        with pytest.raises(WriteError, match="not an OME-Arrow chunk dataset"):
            arrowscope.write_ome_parquet(
                hive, np.zeros((4, 4), np.uint16), dims="YX", layout=layout
            )
    assert (hive / "notes.txt").read_text() == "my notes"
    assert (hive / "plate=P1" / "part-0.parquet").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder.parquet"]


def test_own_dataset_is_replaced(tmp_path):
    path = _dataset(tmp_path / "d.ome.parquet", 1)
    _dataset(path, 2)
    assert np.all(arrowscope.open_image(path).to_numpy() == 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.ome.parquet"]


def test_foreign_file_is_not_replaced_by_a_folder(tmp_path):
    notes = tmp_path / "x.parquet"
    notes.write_text("not a table")
    with pytest.raises(WriteError, match="existing file"):
        _dataset(notes, 1)
    assert notes.read_text() == "not a table"


_KILL_BETWEEN_RENAMES = """
import os, sys
import numpy as np
import arrowscope
from arrowscope.core.images import atomic

calls = []
real = os.replace
def replace(a, b):
    calls.append((a, b))
    real(a, b)
    if len(calls) == 1:  # old folder moved aside, new one not yet in place
        os._exit(9)
atomic.os.replace = replace
arrowscope.write_ome_parquet(
    sys.argv[1], np.full((2, 16, 16), 2, np.uint8), dims="ZYX", layout="dataset"
)
"""


def _kill_mid_swap(path):
    script = textwrap.dedent(_KILL_BETWEEN_RENAMES)
    proc = subprocess.run([sys.executable, "-c", script, str(path)], timeout=120)
    assert proc.returncode == 9
    assert not path.exists()  # the crash window really was hit


def test_kill_between_renames_is_finished_by_next_open(tmp_path):
    path = _dataset(tmp_path / "d.ome.parquet", 1)
    _kill_mid_swap(path)
    # The new folder was complete: the next open finishes the swap.
    assert np.all(arrowscope.open_image(path).to_numpy() == 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.ome.parquet"]


def test_kill_between_renames_is_finished_by_next_write(tmp_path):
    path = _dataset(tmp_path / "d.ome.parquet", 1)
    _kill_mid_swap(path)
    _dataset(path, 3)
    assert np.all(arrowscope.open_image(path).to_numpy() == 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.ome.parquet"]


def test_interrupted_swap_without_new_folder_restores_the_old(tmp_path):
    path = _dataset(tmp_path / "d.ome.parquet", 1)
    _kill_mid_swap(path)
    for p in tmp_path.glob(".d.ome.parquet.arrowscope-*.tmp"):
        import shutil

        shutil.rmtree(p)
    assert recover(path)
    assert np.all(arrowscope.open_image(path).to_numpy() == 1)


def test_stale_temporaries_of_dead_writers_are_cleaned(tmp_path):
    path = arrowscope.write_ome_parquet(
        tmp_path / "x.ome.parquet", np.zeros((4, 4), np.uint16), dims="YX"
    )
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    stale = tmp_path / f".x.ome.parquet.arrowscope-{pid}-deadbeef.tmp"
    stale.write_bytes(b"half a file")
    live = tmp_path / f".x.ome.parquet.arrowscope-{os.getpid()}-cafe0000.tmp"
    live.write_bytes(b"a writer still running")
    other = tmp_path / f".y.parquet.arrowscope-{pid}-deadbeef.tmp"
    other.write_bytes(b"someone else's")
    arrowscope.write_ome_parquet(path, np.ones((4, 4), np.uint16), dims="YX")
    assert not stale.exists()
    assert live.exists() and other.exists()
