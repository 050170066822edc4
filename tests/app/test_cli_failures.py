"""The command line on real user mistakes: one or two lines, exit 1, nothing lost."""

from __future__ import annotations

import logging
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tifffile

import arrowscope
from arrowscope.app.cli import main
from tests.conftest import run_cli


@pytest.fixture
def crop_table(tmp_path):
    rng = np.random.default_rng(1)
    crops = [rng.integers(0, 4000, (2, 8, 8), dtype=np.uint16) for _ in range(3)]
    extra = pa.table(
        {"Metadata_Well": ["A01", "A02", "B01"], "Cells_AreaShape_Area": [1.0, 2, 3]}
    )
    path = arrowscope.write_ome_table(
        tmp_path / "crops.ome.parquet",
        {
            "crop": [
                arrowscope.core.images.writer.image_to_write(c, dims="CYX")
                for c in crops
            ]
        },
        extra_columns=extra,
    )
    return path, crops, extra


def test_help_imports_nothing_heavy():
    code = (
        "import sys\n"
        "from arrowscope.app.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = ('dask', 'pyarrow', 'numpy', 'napari')\n"
        "heavy = [m for m in heavy if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("suffix", [".ome.tiff", ".ome.zarr"])
def test_convert_multi_image_table_writes_every_image(crop_table, tmp_path, suffix):
    path, crops, _ = crop_table
    out = tmp_path / "out"
    out.mkdir()
    assert main(["convert", str(path), str(out / f"cells{suffix}")]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == [f"cells_crop_r{r:05d}{suffix}" for r in range(3)]
    for r, crop in enumerate(crops):
        back = tmp_path / f"back{r}.ome.parquet"
        assert main(["convert", str(out / written[r]), str(back)]) == 0
        assert np.array_equal(arrowscope.open_image(back).to_numpy()[0, :, 0], crop)


def test_convert_table_to_table_keeps_every_column(crop_table, tmp_path):
    path, crops, extra = crop_table
    out = tmp_path / "lz4.ome.parquet"
    assert main(["convert", str(path), str(out), "--compression", "lz4"]) == 0
    assert pq.read_table(out).select(extra.column_names).equals(extra)
    for r, crop in enumerate(crops):
        assert np.array_equal(
            arrowscope.open_image(out, "crop", r).to_numpy()[0, :, 0], crop
        )
    meta = pq.read_metadata(out).row_group(0).column(0)
    assert meta.compression == "LZ4"


def test_convert_refuses_what_would_lose_data(crop_table, tmp_path, caplog):
    path, _, _ = crop_table
    dst = tmp_path / "d.ome.parquet"
    assert main(["convert", str(path), str(dst), "--layout", "chunked"]) == 1
    assert "other column(s)" in caplog.text and "nothing was written" in caplog.text
    assert not dst.exists()


def test_convert_never_replaces_without_overwrite(crop_table, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    path, _, _ = crop_table
    dst = tmp_path / "copy.ome.parquet"
    dst.write_bytes(b"precious")
    assert main(["convert", str(path), str(dst)]) == 1
    assert "pass --overwrite" in caplog.text
    assert dst.read_bytes() == b"precious"
    assert main(["convert", str(path), str(dst), "--overwrite"]) == 0
    assert "replacing" in caplog.text
    notes = tmp_path / "notes.parquet"
    notes.mkdir()
    (notes / "mine.txt").write_text("keep me")
    assert main(["convert", str(path), str(notes), "--overwrite"]) == 1
    assert (notes / "mine.txt").read_text() == "keep me"


def test_convert_rgb_tiff_keeps_all_samples(tmp_path, capfd):
    rgb = np.random.default_rng(2).integers(0, 255, (24, 32, 3), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, photometric="rgb")
    gray = np.random.default_rng(3).integers(0, 999, (2, 24, 32), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "two.tif", gray, photometric="minisblack")
    assert (
        main(["convert", str(tmp_path / "rgb.tif"), str(tmp_path / "rgb.ome.parquet")])
        == 0
    )
    img = arrowscope.open_image(tmp_path / "rgb.ome.parquet")
    assert img.channel_names == ["R", "G", "B"]
    assert np.array_equal(np.moveaxis(img.to_numpy()[0, :, 0], 0, -1), rgb)
    assert (
        main(["convert", str(tmp_path / "two.tif"), str(tmp_path / "two.ome.parquet")])
        == 0
    )
    two = arrowscope.open_image(tmp_path / "two.ome.parquet")
    assert two.channel_names == [f"C{i}" for i in range(two.shape[1])]
    noise = capfd.readouterr()
    assert "failed to parse XML" not in noise.out + noise.err


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda p: p.mkdir(), "is a folder"),
        (lambda p: tifffile.imwrite(p, np.zeros((4, 4), np.uint8)), "is a TIFF image"),
        (lambda p: p.write_bytes(b""), "is an empty file"),
        (lambda p: None, "no such file"),
    ],
)
def test_user_errors_are_one_or_two_lines(tmp_path, make, expected):
    target = tmp_path / "thing.tif"
    make(target)
    out = run_cli("info", target)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2 and expected in lines[0]


def test_an_internal_error_is_one_line(tmp_path, monkeypatch, capsys):
    def boom(*args, **kwargs):
        raise RuntimeError("something broke")

    monkeypatch.setattr("arrowscope.app.info.info", boom)
    monkeypatch.delenv("ARROWSCOPE_DEBUG", raising=False)
    assert main(["info", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    (line,) = err.strip().splitlines()  # the whole output: one line, no trace
    assert line == (
        "arrowscope: internal error (RuntimeError: something broke); rerun with "
        "ARROWSCOPE_DEBUG=1 for the traceback and please report it"
    )


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (
            [
                "qc",
                "{profiles}",
                "--out",
                "{tmp}/f.parquet",
                "--group-by",
                "Metadata_Wel",
            ],
            "column 'Metadata_Wel': the group-by column is not in the table "
            "(did you mean Metadata_Well",
        ),
        (
            ["qc", "{tmp}/img.ome.zarr", "--out", "{tmp}/f.parquet"],
            "img.ome.zarr: is an OME-Zarr image, not a profile table",
        ),
        (["view", "{tmp}/empty.parquet"], "empty.parquet: is an empty file"),
        (["qc", "{tmp}/empty.parquet", "--out", "{tmp}/f.parquet"], "is an empty file"),
    ],
)
def test_messages_send_users_the_right_way(tmp_path, capsys, argv, expected):
    from arrowscope.core.profiles.synthetic import write_demo_plate

    files = write_demo_plate(tmp_path / "demo", n_fields=1, size=(64, 64))
    (tmp_path / "img.ome.zarr").mkdir()
    (tmp_path / "empty.parquet").write_bytes(b"")
    fill = {"profiles": files["profiles"], "tmp": tmp_path}
    assert main([a.format(**fill) for a in argv]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert expected in line
    assert not (tmp_path / "f.parquet").exists()


def test_qc_flags_file_holds_only_keys_and_flags(tmp_path):
    from arrowscope.core.profiles.synthetic import write_demo_plate

    files = write_demo_plate(tmp_path / "demo", n_fields=2, size=(64, 64))
    table = pq.read_table(files["profiles"])
    big = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), b"pandas": b"x" * 500_000}
    )
    pq.write_table(big, tmp_path / "p.parquet")
    out = tmp_path / "flags.parquet"
    assert main(["qc", str(tmp_path / "p.parquet"), "--out", str(out)]) == 0
    assert out.stat().st_size < 50_000
    assert b"pandas" not in (pq.read_schema(out).metadata or {})


def test_view_opens_what_convert_writes_and_names_what_it_cannot(
    tmp_path, caplog, image_tiff
):
    pytest.importorskip("napari")
    png = tmp_path / "v.png"
    done = run_cli("view", image_tiff, "--screenshot", png)
    assert done.returncode == 0, done.stderr
    assert png.read_bytes().startswith(b"\x89PNG")  # written whole, by Qt
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    missing = tmp_path / "no-such-folder" / "v.png"
    done = run_cli("view", image_tiff, "--screenshot", missing)
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()  # one line, naming the folder
    assert "no-such-folder" in line and "does not exist" in line
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    done = run_cli("view", notes, "--screenshot", tmp_path / "w.png")
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()  # one line, naming the file
    assert line.startswith("arrowscope: ") and "notes.txt" in line


@pytest.fixture
def image_tiff(tmp_path):
    src = arrowscope.write_ome_parquet(
        tmp_path / "x.ome.parquet", np.full((32, 32), 900, np.uint16), dims="YX"
    )
    tiff = tmp_path / "x.ome.tiff"
    assert main(["convert", str(src), str(tiff)]) == 0
    return tiff
