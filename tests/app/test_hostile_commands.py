"""Hostile command lines: outputs aimed at the files a command reads (a
properties file's database and training set, a CSV folder, labels, a
conditions file), two outputs that are one file, and inputs that would hang
(a named pipe with a database's name, a database view that never finishes).
Each case checks the bytes on disk and that the command ended, with a clean
arrowscope error naming the file."""

from __future__ import annotations

import os
import sqlite3

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import arrowscope
from arrowscope.app.cli import main
from arrowscope.core.errors import ArrowscopeError, CorruptFileError, WriteError
from arrowscope.core.profiles.synthetic import write_cellprofiler_sqlite


@pytest.fixture
def cpa(tmp_path):
    """A CellProfiler database, a CPA properties file naming it and its
    training set, and a thresholds file for qc."""
    (tmp_path / "db").mkdir()
    db = write_cellprofiler_sqlite(
        tmp_path / "db" / "cpa.db",
        images=3,
        cells=6,
        layout="single object table",
        image_folder=tmp_path / "images",
    )
    train = tmp_path / "train.txt"
    train.write_text(
        "label keep drop\nkeep 1 1 1 2 3\nkeep 2 1 2 3\ndrop 1 4 5 6\ndrop 2 4 5 6\n"
    )
    props = tmp_path / "example.properties"
    props.write_text(
        "db_type = sqlite\n"
        "db_sqlite_file = db/cpa.db\n"
        "image_table = Per_Image\n"
        "object_table = Per_Object\n"
        "image_id = ImageNumber\n"
        "object_id = ObjectNumber\n"
        "training_set = train.txt\n"
    )
    yml = tmp_path / "conditions.yml"
    yml.write_text("thresholds:\n  big:\n    Nuclei_AreaShape_Area: 1.5\n")
    return {"db": db, "props": props, "train": train, "yml": yml}


def _bytes(*paths):
    return [p.read_bytes() for p in paths]


# ---- inputs are never outputs, command by command ------------------------------
@pytest.mark.parametrize("victim", ["db", "train", "props"])
def test_classify_never_writes_onto_what_the_properties_name(cpa, victim, caplog):
    pytest.importorskip("sklearn")
    before = _bytes(cpa["db"], cpa["train"], cpa["props"])
    argv = ["classify", str(cpa["props"]), "--out", str(cpa[victim]), "--overwrite"]
    assert main(argv) == 1
    assert "is an input of this command" in caplog.text
    assert str(cpa[victim]) in caplog.text
    assert _bytes(cpa["db"], cpa["train"], cpa["props"]) == before


def test_classify_refuses_its_labels_and_two_outputs_that_are_one(
    cpa, tmp_path, caplog
):
    pytest.importorskip("sklearn")
    out = tmp_path / "scores.parquet"
    argv = ["classify", str(cpa["props"]), "--out", str(out)]
    assert main([*argv, "--summary", str(tmp_path / "." / "scores.parquet")]) == 1
    assert "two outputs" in caplog.text and not out.exists()
    labels = tmp_path / "labels.csv"
    labels.write_text("Metadata_ImageNumber,Metadata_ObjectNumber,Metadata_class\n")
    before = labels.read_bytes()
    assert (
        main(
            [
                "classify",
                str(cpa["props"]),
                "--labels",
                str(labels),
                "--out",
                str(labels),
                "--overwrite",
            ]
        )
        == 1
    )
    assert labels.read_bytes() == before


def test_classify_table_in_python_never_replaces_its_input(tmp_path):
    pytest.importorskip("sklearn")
    from arrowscope.core.profiles.classify import classify_table
    from arrowscope.core.profiles.synthetic import write_demo_plate

    files = write_demo_plate(tmp_path / "demo", n_fields=1, size=(96, 96))
    table = files["profiles"]
    before = table.read_bytes()
    labels = pa.table({"Metadata_ImageNumber": [1], "Metadata_class": ["a"]})
    with pytest.raises(WriteError, match="is an input"):
        classify_table(table, labels, table)
    assert table.read_bytes() == before


def test_qc_never_writes_onto_a_database_a_csv_folder_or_its_conditions(
    cpa, tmp_path, caplog
):
    db, yml = cpa["db"], cpa["yml"]
    before = _bytes(db, yml)
    for target in (db, yml):
        argv = ["qc", str(db), "--conditions", str(yml), "--out", str(target)]
        assert main([*argv, "--overwrite"]) == 1
    assert _bytes(db, yml) == before
    # the properties file's database by its properties
    argv = ["qc", str(cpa["props"]), "--conditions", str(yml), "--out", str(db)]
    assert main([*argv, "--overwrite"]) == 1
    assert _bytes(db, yml) == before
    assert caplog.text.count("is an input of this command") == 3


def test_qc_refuses_two_outputs_that_are_one_file(cpa, tmp_path, caplog):
    flags = tmp_path / "flags.parquet"
    argv = ["qc", str(cpa["db"]), "--conditions", str(cpa["yml"])]
    argv += ["--out", str(flags), "--cleaned", f"{tmp_path}/./flags.parquet"]
    assert main([*argv, "--overwrite"]) == 1
    assert "two outputs" in caplog.text
    assert not flags.exists()


def test_qc_reads_a_cellprofiler_database_and_a_properties_file(cpa, tmp_path):
    """The front door: qc takes what open_profiles opens."""
    for source in (cpa["db"], cpa["props"]):
        out = tmp_path / f"flags_{source.suffix[1:]}.parquet"
        cleaned = tmp_path / f"cleaned_{source.suffix[1:]}.parquet"
        argv = ["qc", str(source), "--conditions", str(cpa["yml"])]
        assert main([*argv, "--out", str(out), "--cleaned", str(cleaned)]) == 0
        flags = pq.read_table(out)
        rows = arrowscope.open_profiles(source).read(["Metadata_ImageNumber"])
        assert flags.num_rows == rows.num_rows == 18
        assert pq.read_table(cleaned).num_rows <= 18


def test_qc_never_writes_into_a_csv_export_folder(tmp_path, caplog):
    from tests.csv_exports import write_csv_export

    folder = write_csv_export(tmp_path / "csv")
    image = folder / "Image.csv"
    before = image.read_bytes()
    yml = tmp_path / "c.yml"
    yml.write_text("thresholds:\n  big:\n    Nuclei_AreaShape_Area: 1.5\n")
    argv = ["qc", str(folder), "--conditions", str(yml), "--out", str(image)]
    assert main([*argv, "--overwrite"]) == 1
    assert "is inside an input" in caplog.text
    assert image.read_bytes() == before


def test_workers_must_be_positive(cpa, capsys):
    with pytest.raises(SystemExit) as info:
        main(["qc", str(cpa["db"]), "--out", "x.parquet", "--workers", "0"])
    assert info.value.code == 2
    assert "must be a whole number >= 1" in capsys.readouterr().err


# ---- nothing hangs ----------------------------------------------------------------
@pytest.fixture
def pipes(tmp_path):
    """Named pipes under names arrowscope opens; nobody ever writes to them."""
    made = {}
    for name in ("plate.sqlite", "cells.parquet", "cells.csv", "pipe_train.txt"):
        path = tmp_path / name
        os.mkfifo(path)
        made[name] = path
    props = tmp_path / "pipe.properties"
    props.write_text(f"db_type = sqlite\ndb_sqlite_file = {made['plate.sqlite']}\n")
    made["pipe.properties"] = props
    return made


def test_named_pipes_are_refused_before_any_open(pipes):
    from arrowscope._napari.reader import get_reader

    for name, path in pipes.items():
        with pytest.raises(CorruptFileError, match="named pipe") as info:
            arrowscope.open_profiles(path)
        assert info.value.path is not None
        if name != "pipe.properties":  # ours by name: the reader reports it
            assert get_reader(str(path)) is None


def test_info_on_a_named_pipe_ends_with_one_line(pipes):
    from tests.conftest import run_cli

    done = run_cli("info", pipes["plate.sqlite"])
    assert done.returncode == 1
    assert "named pipe" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) <= 2


def test_a_training_set_that_is_a_pipe_is_refused(cpa, pipes):
    from arrowscope.core.profiles.cpa import read_training_set

    with pytest.raises(CorruptFileError, match="named pipe"):
        read_training_set(pipes["pipe_train.txt"], ["Metadata_ImageNumber"])


def test_a_view_that_never_finishes_is_stopped(tmp_path, monkeypatch):
    import arrowscope.core.profiles.cellprofiler as cellprofiler

    monkeypatch.setattr(cellprofiler, "QUERY_SECONDS", 1.0)
    db = tmp_path / "slow.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE Per_Image (ImageNumber INTEGER, Image_Count INTEGER)")
    conn.execute("INSERT INTO Per_Image VALUES (1, 1)")
    # an object table that is a view counting to 10^12: any query runs forever
    conn.execute(
        "CREATE VIEW Per_Nuclei AS WITH RECURSIVE n(i) AS "
        "(SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000000) "
        "SELECT 1 AS ImageNumber, i AS ObjectNumber, "
        "0.5 AS Nuclei_Location_Center_X, 0.5 AS Nuclei_Location_Center_Y FROM n"
    )
    conn.commit()
    conn.close()
    with pytest.raises(ArrowscopeError, match="longer than 1 s and was stopped"):
        arrowscope.open_profiles(db).key_table  # noqa: B018


# ---- first use --------------------------------------------------------------------
def test_a_missing_extra_is_named_with_its_install_line(tmp_path):
    """A core-only install: `view` names the extra, not "internal error"."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['napari'] = None\n"
        "from arrowscope.app.cli import main\n"
        f"sys.exit(main(['view', {str(tmp_path)!r}]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert "pip install 'arrowscope[app]'" in done.stderr, done.stderr
    assert "internal error" not in done.stderr


def test_info_says_how_many_problems_it_left_out(tmp_path, capsys):
    rows = 15
    table = tmp_path / "cells.parquet"
    pq.write_table(
        pa.table(
            {
                "Metadata_ImageNumber": list(range(1, rows + 1)),
                "Nuclei_Number_Object_Number": [1] * rows,
                "Nuclei_Location_Center_X": [1.0] * rows,
                "Nuclei_Location_Center_Y": [1.0] * rows,
                "Image_FileName_DNA": [f"missing_{i}.tif" for i in range(rows)],
            }
        ),
        table,
    )
    assert main(["info", str(table)]) == 0
    out = capsys.readouterr().out
    assert out.count("  problem: ") == 10
    assert "… and" in out and "more problems" in out and "--json" in out


def test_info_names_a_missing_image_root(tmp_path, caplog):
    table = tmp_path / "cells.parquet"
    pq.write_table(
        pa.table({"Metadata_ImageNumber": [1], "Image_FileName_DNA": ["a.tif"]}), table
    )
    missing = tmp_path / "nowhere"
    assert main(["info", str(table), "--images", str(missing)]) == 1
    assert "no such image folder" in caplog.text and str(missing) in caplog.text
