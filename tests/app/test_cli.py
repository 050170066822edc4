"""The command line: every command, its output and its error paths."""

from __future__ import annotations

import json

import numpy as np
import pytest

import arrowscope
from arrowscope.app.cli import main
from tests.conftest import run_cli


@pytest.fixture
def image_file(tmp_path):
    data = (np.random.default_rng(0).random((2, 3, 20, 30)) * 1000).astype(np.uint16)
    path = arrowscope.write_ome_parquet(
        tmp_path / "img.ome.parquet",
        data,
        dims="CZYX",
        channel_names=["a", "b"],
        physical_size=(1.0, 0.5, 0.5),
        units="µm",
    )
    return path, data


def test_info_json(image_file, capsys):
    path, _ = image_file
    assert main(["info", str(path), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert (
        facts["layout"] == "parquet" and facts["rows"] == 1 and facts["row_groups"] == 1
    )
    (col,) = facts["image_columns"]
    assert col["column"] == "ome_arrow" and col["shape"] == [1, 2, 3, 20, 30]
    assert col["dtype"] == "uint16" and col["channels"] == ["a", "b"]
    assert col["physical_size"] == [1.0, 0.5, 0.5] and col["units"] == ["µm"] * 3


def test_info_text_and_errors(image_file, tmp_path, capsys, caplog):
    path, _ = image_file
    assert main(["info", str(path)]) == 0
    assert "ome_arrow: 1 images" in capsys.readouterr().out
    assert main(["info", str(tmp_path / "missing.parquet")]) == 1
    assert "missing.parquet" in caplog.text
    with pytest.raises(SystemExit) as exc:
        main(["info"])
    assert exc.value.code == 2


def test_convert_round_trip_through_ome_tiff(image_file, tmp_path):
    path, data = image_file
    tiff = tmp_path / "img.ome.tiff"
    assert main(["convert", str(path), str(tiff)]) == 0
    back = tmp_path / "back.ome.parquet"
    assert main(["convert", str(tiff), str(back)]) == 0
    img = arrowscope.open_image(back)
    assert np.array_equal(img.to_numpy()[0], data)
    assert img.channel_names == ["a", "b"]
    assert img.physical_size == (1.0, 0.5, 0.5)
    chunked = tmp_path / "chunked.ome.parquet"
    assert main(["convert", str(path), str(chunked), "--layout", "chunked"]) == 0
    assert chunked.is_dir() and np.array_equal(
        arrowscope.open_image(chunked).to_numpy()[0], data
    )


def test_convert_refuses_unknown_target(image_file, tmp_path, caplog):
    path, _ = image_file
    for name in ("x.jpg", "br.vortex"):
        assert main(["convert", str(path), str(tmp_path / name)]) == 1
        assert f"cannot write {name!r}: not a format convert writes" in caplog.text
        assert not list(tmp_path.glob(f"{name.split('.')[0]}*"))  # nothing written
    # the message lists every target convert writes
    for suffix in (".ome.parquet", ".arrow", ".lance", ".ome.tiff", ".ome.zarr"):
        assert suffix in caplog.text


@pytest.mark.filterwarnings("ignore")
def test_demo_screenshot_shows_cells(tmp_path):
    pytest.importorskip("napari")
    png = tmp_path / "demo.png"
    done = run_cli("demo", "--out", tmp_path / "demo", "--screenshot", png)
    assert done.returncode == 0, done.stderr
    # a successful command prints only arrowscope's own lines: no Qt theme
    # warnings, XDG/OpenGL chatter or deprecation warnings
    lines = done.stderr.strip().splitlines()
    assert lines[0].startswith("demo files written to ")
    assert lines[-1] == f"screenshot written to {png}"
    assert len(lines) <= 3, lines
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("RGB")).astype(int)
    assert pixels.shape[0] > 500 and pixels.shape[1] > 800
    # Cells are drawn in the channel colours: many saturated blue/green/magenta pixels.
    colourful = (pixels.max(axis=2) - pixels.min(axis=2)) > 80
    assert colourful.sum() > 2000
    assert (tmp_path / "demo" / "plate.ome.parquet").is_file()


def test_qc_command_writes_flags_and_cleaned_table(tmp_path):
    import pyarrow.parquet as pq

    from arrowscope.core.profiles.qc import compute_flags
    from arrowscope.core.profiles.synthetic import write_demo_plate

    files = write_demo_plate(tmp_path / "demo", n_fields=4, size=(128, 128))
    out, cleaned = tmp_path / "flags.parquet", tmp_path / "clean.parquet"
    yml = tmp_path / "t.yml"
    yml.write_text("thresholds:\n  big:\n    Nuclei_AreaShape_Area: 1.5\n")
    argv = ["qc", str(files["profiles"]), "--out", str(out), "--cleaned", str(cleaned)]
    assert main([*argv, "--conditions", str(yml), "--workers", "2"]) == 0
    flags = pq.read_table(out)
    table = pq.read_table(files["profiles"])
    expected = compute_flags(table, {"big": {"Nuclei_AreaShape_Area": 1.5}})
    assert flags["Metadata_cqc_big_is_outlier"].equals(expected.flags[0])
    assert expected.mask().any()
    assert "Metadata_ImageNumber" in flags.column_names
    assert pq.read_metadata(cleaned).num_rows == table.num_rows - expected.mask().sum()


def test_qc_command_errors(tmp_path, caplog):
    from arrowscope.core.profiles.synthetic import write_demo_plate

    files = write_demo_plate(tmp_path / "demo", n_fields=1, size=(96, 96))
    out = tmp_path / "f.parquet"
    assert main(["qc", str(tmp_path / "none.parquet"), "--out", str(out)]) == 1
    assert "no such file" in caplog.text
    yml = tmp_path / "t.yml"
    yml.write_text("thresholds:\n  x:\n    Not_A_Feature: 2\n")
    assert (
        main(
            ["qc", str(files["profiles"]), "--out", str(out), "--conditions", str(yml)]
        )
        == 1
    )
    assert "Not_A_Feature" in caplog.text
    assert not out.exists()


def test_batch_convert_folder_on_dask(tmp_path, caplog):
    import tifffile

    from arrowscope.core.images.image import open_image

    src = tmp_path / "tiffs"
    src.mkdir()
    planes = {}
    for i in range(3):
        planes[i] = np.random.default_rng(i).integers(
            0, 4000, (2, 40, 50), dtype=np.uint16
        )
        tifffile.imwrite(src / f"field{i}.tif", planes[i], metadata={"axes": "CYX"})
    (src / "broken.tif").write_bytes(b"not a tiff")
    out = tmp_path / "out"
    rc = main(["convert", str(src), str(out), "--workers", "2"])
    assert rc == 1  # one input failed, and said so
    assert "broken.tif" in caplog.text
    for i in range(3):
        img = open_image(out / f"field{i}.ome.parquet")
        np.testing.assert_array_equal(img.to_numpy()[0, :, 0], planes[i])
    assert not (out / "broken.ome.parquet").exists()
    assert main(["convert", str(src / "field*.tif"), str(tmp_path / "glob")]) == 0
    assert len(list((tmp_path / "glob").glob("*.ome.parquet"))) == 3


@pytest.mark.parametrize("suffix", [".ome.zarr", ".ome.tiff"])
def test_convert_to_bioio_formats_and_back(tmp_path, suffix):
    from arrowscope.core.images.image import open_image
    from arrowscope.core.images.writer import write_ome_parquet

    data = np.random.default_rng(0).integers(0, 60000, (2, 3, 30, 40), dtype=np.uint16)
    src = write_ome_parquet(
        tmp_path / "a.ome.parquet",
        data,
        dims="CZYX",
        channel_names=["DNA", "Mito"],
        channel_colors=[0x0000FFFF, 0xFF00FFFF],
        physical_size=(2.0, 0.5, 0.5),
        units="µm",
    )
    mid = tmp_path / f"a{suffix}"
    back = tmp_path / "b.ome.parquet"
    assert main(["convert", str(src), str(mid)]) == 0
    assert main(["convert", str(mid), str(back)]) == 0
    img = open_image(back)
    np.testing.assert_array_equal(img.to_numpy()[0], data)
    assert img.channel_names == ["DNA", "Mito"]
    assert img.physical_size == pytest.approx((2.0, 0.5, 0.5))


@pytest.mark.filterwarnings("ignore")
def test_view_profiles_with_image_folder(tmp_path):
    pytest.importorskip("napari")
    import tifffile
    from PIL import Image

    rng = np.random.default_rng(0)
    images = tmp_path / "images"
    images.mkdir()
    plane = rng.integers(0, 200, (120, 160), dtype=np.uint16)
    plane[40:60, 50:80] = 4000  # one bright cell
    tifffile.imwrite(images / "f1_DNA.tif", plane)
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {
            "Metadata_ImageNumber": [1],
            "Nuclei_Number_Object_Number": [1],
            "Nuclei_Location_Center_X": [65.0],
            "Nuclei_Location_Center_Y": [50.0],
            "Image_FileName_DNA": ["f1_DNA.tif"],
            "Image_PathName_DNA": ["/another/machine/plate1"],
        }
    )
    pq.write_table(table, tmp_path / "profiles.parquet")
    png = tmp_path / "view.png"
    argv = ["view", "--profiles", str(tmp_path / "profiles.parquet")]
    done = run_cli(*argv, "--images", images, "--screenshot", png)
    assert done.returncode == 0, done.stderr
    pixels = np.asarray(Image.open(png).convert("L"))
    assert (pixels > 200).sum() > 500  # the bright cell is on screen
    assert main([*argv, "--images", str(tmp_path / "nope")]) == 1
    assert main(["view"]) == 1


def test_info_describes_profile_tables(tmp_path, capsys):
    from arrowscope.core.profiles.synthetic import write_demo_plate

    files = write_demo_plate(tmp_path / "demo", n_fields=2, size=(96, 96))
    assert main(["info", str(files["profiles"]), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["layout"] == "profile-table"
    assert facts["keys"]["image"] == ["Metadata_Plate", "Metadata_ImageNumber"]
    assert facts["keys"]["objects"] == {
        "Nuclei": "Metadata_Nuclei_Number_Object_Number"
    }
    assert facts["fields_of_view"] == 2 and facts["channels"] == ["DNA", "ER", "Mito"]
    assert main(["info", str(files["profiles"])]) == 0
    assert "image key: Metadata_Plate, Metadata_ImageNumber" in capsys.readouterr().out
    assert main(["info", str(files["crops"]), "--json"]) == 0
    crops = json.loads(capsys.readouterr().out)
    assert crops["keys"]["center"] == [
        "Nuclei_Location_Center_X",
        "Nuclei_Location_Center_Y",
    ]


def test_info_lists_a_stored_pyramid(tmp_path, capsys, monkeypatch):
    from arrowscope.core.images import dataset

    monkeypatch.setattr(dataset, "PYRAMID_TOP_PX", 40)
    path = arrowscope.write_ome_parquet(
        tmp_path / "p.ome.parquet",
        np.zeros((100, 90), np.uint16),
        dims="YX",
        layout="dataset",
        pyramid=True,
    )
    assert main(["info", str(path), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert [lvl["shape"][3:] for lvl in facts["pyramid_levels"]] == [
        [50, 45],
        [25, 23],
    ]
    assert main(["info", str(path)]) == 0
    assert "stored pyramid: 2 levels (50×45, 25×23)" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore")
def test_view_and_qc_take_a_warehouse_table_by_name(tmp_path):
    pytest.importorskip("napari")
    import pyarrow.parquet as pq

    from tests import warehouses

    root, profiles = warehouses.cytotable_export(tmp_path)
    png = tmp_path / "raw.png"
    done = run_cli(
        "view", "--profiles", root, "--table", "joined_raw", "--screenshot", png
    )
    assert done.returncode == 0, done.stderr
    assert png.stat().st_size > 0
    assert main(["view", "--table", "joined_raw", str(root)]) == 2  # needs --profiles
    flags = tmp_path / "flags.parquet"
    argv = ["qc", str(root), "--table", "joined_raw", "--out", str(flags)]
    assert main(argv) == 0
    keys = pq.read_schema(flags).names
    assert "Metadata_ObjectID" not in keys  # the keys of the chosen table
    assert pq.read_metadata(flags).num_rows == profiles.num_rows


@pytest.mark.parametrize(
    ("user", "expected"), [(None, "system"), ("jemalloc", "jemalloc")]
)
def test_the_viewer_app_takes_arrow_memory_from_malloc(user, expected):
    """The viewer app's Arrow buffers come from malloc (freed pages go back to
    the system), Arrow's C++ readers included; a user's own choice is kept."""
    import os
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from arrowscope.app.viewer import arrow_memory_from_malloc\n"
        "assert 'pyarrow' not in sys.modules\n"
        "arrow_memory_from_malloc()\n"
        "import pyarrow as pa\n"
        "print(pa.default_memory_pool().backend_name)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if user is not None:
        env["ARROW_DEFAULT_MEMORY_POOL"] = user
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected
