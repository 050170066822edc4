"""One write policy for every command that writes (docs/guarantees.md).

Never onto an input (by any name: the same path, a symlink, a hard link, a path
inside an input folder); an existing output only with ``--overwrite``, named
when replaced; the replace atomic (an interrupted write leaves the old file).
Each case checks the bytes on disk, not the message alone.
"""

from __future__ import annotations

import logging
import os

import pyarrow.parquet as pq
import pytest

from arrowscope.app.cli import main
from arrowscope.core.errors import WriteError
from arrowscope.core.images.atomic import check_output
from arrowscope.core.profiles.synthetic import DEMO_FILES, write_demo_plate


@pytest.fixture
def plate(tmp_path):
    return write_demo_plate(tmp_path / "demo", n_fields=1, size=(96, 96))


def _snapshot(path):
    return path.read_bytes(), path.stat().st_mtime_ns


# -- the policy itself -------------------------------------------------------
def test_check_output_refuses_every_name_of_an_input(tmp_path):
    src = tmp_path / "speck.parquet"
    src.write_bytes(b"PAR1 the only copy")
    link = tmp_path / "link.parquet"
    link.symlink_to(src)
    hard = tmp_path / "hard.parquet"
    os.link(src, hard)
    for target in (src, tmp_path / "." / "speck.parquet", link, hard):
        with pytest.raises(WriteError, match="is an input of this command"):
            check_output(target, inputs=[src], overwrite=True)
    folder = tmp_path / "warehouse"
    folder.mkdir()
    with pytest.raises(WriteError, match="is inside an input"):
        check_output(folder / "data" / "x.parquet", inputs=[folder], overwrite=True)
    # an unrelated existing file: only with overwrite, and it says so
    other = tmp_path / "other.parquet"
    other.write_bytes(b"x")
    with pytest.raises(WriteError, match="exists; nothing was written"):
        check_output(other, inputs=[src])
    assert check_output(other, inputs=[src], overwrite=True) is True
    assert check_output(tmp_path / "new.parquet", inputs=[src]) is False
    assert src.read_bytes() == b"PAR1 the only copy"


# -- qc ------------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["--out", "--cleaned"])
def test_qc_never_writes_onto_its_input(plate, tmp_path, caplog, flag):
    table = plate["profiles"]
    before = _snapshot(table)
    argv = ["qc", str(table), flag, str(table), "--overwrite"]
    if flag == "--cleaned":
        argv += ["--out", str(tmp_path / "flags.parquet")]
    assert main(argv) == 1
    assert _snapshot(table) == before
    assert "is an input of this command" in caplog.text
    assert not (tmp_path / "flags.parquet").exists()  # checked before any work


def test_qc_needs_overwrite_to_replace_and_names_what_it_replaces(
    plate, tmp_path, caplog
):
    caplog.set_level(logging.INFO)
    out, cleaned = tmp_path / "flags.parquet", tmp_path / "clean.parquet"
    out.write_bytes(b"yesterday's flags")
    argv = ["qc", str(plate["profiles"]), "--out", str(out), "--cleaned", str(cleaned)]
    assert main(argv) == 1
    assert out.read_bytes() == b"yesterday's flags"
    assert not cleaned.exists()
    assert "pass --overwrite" in caplog.text
    assert main([*argv, "--overwrite"]) == 0
    assert f"replacing {out}" in caplog.text
    assert "Metadata_ImageNumber" in pq.read_schema(out).names
    assert cleaned.exists()


# -- convert -------------------------------------------------------------------
def test_convert_never_writes_onto_its_input(plate, caplog):
    src = plate["plate"]
    before = _snapshot(src)
    assert main(["convert", str(src), str(src), "--overwrite"]) == 1
    assert _snapshot(src) == before
    assert "is an input of this command" in caplog.text


# -- demo and view ---------------------------------------------------------------
def test_demo_reuses_its_files_and_refuses_an_existing_screenshot(
    tmp_path, caplog, monkeypatch
):
    pytest.importorskip("napari")
    import arrowscope.app.viewer as viewer

    shown = []
    monkeypatch.setattr(
        viewer, "show", lambda paths, shot, **kw: shown.append(shot) or 0
    )
    out = tmp_path / "demo"
    write_demo_plate(out, n_fields=1, size=(96, 96))
    stamps = {name: _snapshot(out / name) for name in DEMO_FILES.values()}
    caplog.set_level(logging.INFO)
    assert main(["demo", "--out", str(out)]) == 0
    assert {name: _snapshot(out / name) for name in DEMO_FILES.values()} == stamps
    assert "opening the demo files" in caplog.text
    png = tmp_path / "demo.png"
    png.write_bytes(b"an older render")
    assert main(["demo", "--out", str(out), "--screenshot", str(png)]) == 1
    assert png.read_bytes() == b"an older render"
    assert len(shown) == 1  # refused before the viewer opened
    # --overwrite rewrites the demo files (they are the demo's own)
    assert main(["demo", "--out", str(out), "--overwrite"]) == 0
    assert _snapshot(out / DEMO_FILES["plate"]) != stamps[DEMO_FILES["plate"]]


def test_view_screenshot_never_onto_an_input(plate, caplog):
    pytest.importorskip("napari")
    src = plate["plate"]
    before = _snapshot(src)
    assert main(["view", str(src), "--screenshot", str(src), "--overwrite"]) == 1
    assert _snapshot(src) == before
    assert "is an input of this command" in caplog.text


# -- atomic replace ---------------------------------------------------------------
def test_an_interrupted_replace_leaves_the_old_file(plate, tmp_path, monkeypatch):
    import arrowscope.core.images.parquet as parquet

    out = tmp_path / "flags.parquet"
    assert main(["qc", str(plate["profiles"]), "--out", str(out)]) == 0
    before = _snapshot(out)
    real = parquet.write_parquet

    def half_then_fail(table, path, **kw):
        real(table.slice(0, 1), path, **kw)  # a partial file exists, then…
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(parquet, "write_parquet", half_then_fail)
    assert main(["qc", str(plate["profiles"]), "--out", str(out), "--overwrite"]) == 1
    assert _snapshot(out) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
