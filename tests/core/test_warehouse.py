"""CytoTable warehouses (the data-files layout) open as one profile workspace."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import arrowscope
from tests import warehouses
from tests.conftest import shared_file


@pytest.fixture
def warehouse():
    return shared_file("examplehuman_warehouse")


def test_tables_are_listed_with_rows_and_roles(warehouse):
    w = arrowscope.open_warehouse(warehouse)
    found = {(t.namespace, t.name): (t.rows, t.role) for t in w.tables}
    assert found == {
        ("profiles", "joined_profiles"): (289, "profiles"),
        ("images", "image_crops"): (867, "crops"),
        ("images", "source_images"): (3, "source images"),
    }


def test_profiles_link_to_source_images_by_key_and_channel(warehouse):
    pt = arrowscope.open_profiles(warehouse)  # a root opens its workspace
    assert pt.num_rows == 289
    assert pt.channel_names == ["DNA", "PH3", "cellbody"]  # the overlay is not one
    assert len(pt.fields_of_view) == 1
    (source,) = sorted(warehouse.glob("warehouse/images/source_images/data/*.parquet"))
    stored = pq.read_table(source).to_pylist()
    for channel in pt.channel_names:
        record = next(
            r for r in stored if r["source_image_column"] == f"Image_FileName_{channel}"
        )
        pm = record["ome_arrow_image"]["pixels_meta"]
        expected = np.asarray(record["ome_arrow_image"]["planes"][0]["pixels"])
        stack = pt.channel_stack(channel)
        assert stack.shape == (1, pm["size_y"], pm["size_x"])
        assert np.array_equal(stack[0].compute().ravel(), expected)
    report = pt.link_report()
    assert report["rows_without_image"] == 0
    assert not [p for p in pt.problems if "image not found" in p]
    # a cell is located by CytoTable's own box, inside the field
    y0, x0, y1, x1 = pt.locate(10).bbox
    assert 0 <= x0 < x1 <= 512 and 0 <= y0 < y1 <= 512


def test_a_folder_without_tables_is_named(tmp_path):
    (tmp_path / "warehouse" / "profiles").mkdir(parents=True)
    with pytest.raises(arrowscope.ArrowscopeError, match="holds no warehouse tables"):
        arrowscope.open_warehouse(tmp_path)


def test_info_describes_a_warehouse(warehouse, capsys):
    from arrowscope.app.cli import main

    assert main(["info", str(warehouse)]) == 0
    out = capsys.readouterr().out
    assert "warehouse, 3 tables (warehouse data files)" in out
    assert "profiles.joined_profiles: 289 rows (profiles)" in out
    assert "channels ['DNA', 'PH3', 'cellbody']" in out


def test_crop_is_the_stored_one_and_equals_a_cut_of_the_source(warehouse):
    pt = arrowscope.open_profiles(warehouse)
    row = 20
    stored = pt.crop(row, "PH3")
    assert stored.column == "ome_arrow_image"  # from image_crops
    # the same cell cut lazily from the source image by its box
    cut_table = arrowscope.open_profiles(warehouse, image_crops=None)
    cut = cut_table.crop(row, "PH3")
    assert cut.shape == stored.shape
    assert np.array_equal(cut.to_numpy(), stored.to_numpy())
    with pytest.raises(arrowscope.ArrowscopeError, match="no channel 'GFP'"):
        pt.crop(row, "GFP")


def test_crop_cut_from_image_files(tmp_path):
    import tifffile

    plane = np.arange(40 * 50, dtype=np.uint16).reshape(40, 50)
    tifffile.imwrite(tmp_path / "f1_DNA.tif", plane)
    table = pa.table(
        {
            "Metadata_ImageNumber": [1],
            "Nuclei_Number_Object_Number": [1],
            "Nuclei_Location_Center_X": [20.0],
            "Nuclei_Location_Center_Y": [10.0],
            "Nuclei_AreaShape_BoundingBoxMinimum_X": [15],
            "Nuclei_AreaShape_BoundingBoxMinimum_Y": [5],
            "Nuclei_AreaShape_BoundingBoxMaximum_X": [25],
            "Nuclei_AreaShape_BoundingBoxMaximum_Y": [18],
            "Image_FileName_DNA": ["f1_DNA.tif"],
        }
    )
    pq.write_table(table, tmp_path / "p.parquet")
    pt = arrowscope.open_profiles(tmp_path / "p.parquet", image_root=tmp_path)
    crop = pt.crop(0)
    assert np.array_equal(crop.to_numpy()[0, 0, 0], plane[5:18, 15:25])


def test_synthetic_warehouse_keys_as_strings_and_labels(tmp_path):
    from tests import warehouses

    facts = warehouses.data_files(tmp_path, np.random.default_rng(8), crops=False)
    pt = arrowscope.open_profiles(tmp_path)
    assert [f.key for f in pt.fields_of_view] == [("P1", 1), ("P1", 2)]
    assert np.array_equal(pt.channel_stack("ER")[1].compute(), facts["images"][2, "ER"])
    assert pt.mask_names == ["label"]
    assert np.array_equal(pt.mask_stack("label")[0].compute(), facts["labels"][1])
    report = pt.link_report()
    assert report["rows_without_image"] == 0 and report["rows_not_in_mask"] == 0
    assert not [p for p in pt.problems if "no masks" in p]


def test_gallery_and_crop_table_use_the_stored_crops(warehouse, tmp_path):
    from arrowscope.core.profiles.crops import iter_cell_crops, write_crop_table

    pt = arrowscope.open_profiles(warehouse)
    rows = [3, 40, 200]
    for row, crop in zip(rows, iter_cell_crops(pt, rows), strict=True):
        for ch in pt.channel_names:
            assert np.array_equal(
                crop.channels[ch], pt.crop(row, ch).to_numpy()[0, 0, 0]
            )
    out = write_crop_table(pt, tmp_path / "crops.ome.parquet", rows=rows)
    table = arrowscope.open_source(out)
    assert table.num_rows == 3
    got = table.image("Image_FileName_PH3_OMEArrow_ORIG", 1).to_numpy()[0, 0, 0]
    assert np.array_equal(got, pt.crop(40, "PH3").to_numpy()[0, 0, 0])


def test_manifest_of_another_major_version_or_escaping_root_is_refused(tmp_path):
    import json

    root = warehouses.relayout(tmp_path, "manifest")
    path = root / "warehouse_manifest.json"
    manifest = json.loads(path.read_text())
    path.write_text(json.dumps({**manifest, "warehouse_spec_version": "2.0.0"}))
    with pytest.raises(arrowscope.ArrowscopeError, match="warehouse_spec_version 2"):
        arrowscope.open_warehouse(root)
    manifest["tables"][0]["table_name"] = "..x.y"
    path.write_text(json.dumps(manifest))
    with pytest.raises(arrowscope.ArrowscopeError, match="not <namespace>.<table>"):
        arrowscope.open_warehouse(root)


def test_info_reports_joins_and_the_join_contract(warehouse, capsys):
    from arrowscope.app.cli import main

    assert main(["info", str(warehouse)]) == 0
    out = capsys.readouterr().out
    assert "(warehouse data files)" in out
    assert "objects by Metadata_ObjectID, channels by source_image_column" in out
    assert "image_id (required): Metadata_ImageNumber" in out
    assert "dataset_id (required): missing" in out
    assert "rows without image 0" in out


def test_iceberg_bioimage_image_assets_link_profiles_to_image_files(tmp_path):
    """An iceberg-bioimage warehouse: profiles joined to ``image_assets`` rows
    by dataset_id/image_id; each asset an image file opened lazily."""
    import json

    pytest.importorskip("bioio_tifffile")  # the 'io' extra opens image files
    import tifffile

    root = tmp_path / "wh"
    (root / "images_raw").mkdir(parents=True)
    rng = np.random.default_rng(11)
    planes = {i: rng.integers(0, 3000, (2, 32, 40), dtype=np.uint16) for i in (1, 2)}
    for i, data in planes.items():
        tifffile.imwrite(
            root / "images_raw" / f"site{i}.tif", data, metadata={"axes": "CYX"}
        )
    outside = tmp_path / "elsewhere.tif"
    tifffile.imwrite(outside, planes[1], metadata={"axes": "CYX"})
    assets = pa.table(
        {
            "dataset_id": ["plate1"] * 3,
            "image_id": ["site1", "site2", "site3"],
            "format_family": ["tiff"] * 3,
            "uri": [
                "images_raw/site1.tif",
                str(root / "images_raw" / "site2.tif"),
                str(outside),
            ],
            "shape_json": ["[2, 32, 40]"] * 3,
            "dtype": ["uint16"] * 3,
        }
    )
    profiles = pa.table(
        {
            "dataset_id": ["plate1"] * 3,
            "image_id": ["site1", "site2", "site3"],
            "Metadata_ObjectNumber": [1, 1, 1],
            "Nuclei_Location_Center_X": [10.0, 20.0, 5.0],
            "Nuclei_Location_Center_Y": [8.0, 16.0, 5.0],
            "Nuclei_AreaShape_Area": [100.0, 120.0, 90.0],
        }
    )
    entries = []
    for ident, table, role in (
        ("images.image_assets", assets, "image_assets"),
        ("profiles.joined_profiles", profiles, "joined_profiles"),
    ):
        folder = root.joinpath(*ident.split("."))
        folder.mkdir(parents=True)
        pq.write_table(table, folder / "part-abc.parquet")
        entries.append(
            {
                "table_name": ident,
                "role": role,
                "format": "parquet",
                "join_keys": ["dataset_id", "image_id"],
                "columns": table.column_names,
            }
        )
    (root / "warehouse_manifest.json").write_text(
        json.dumps(
            {
                "warehouse_root": str(root),
                "warehouse_spec_version": "1.0.0",
                "tables": entries,
            }
        )
    )
    w = arrowscope.open_warehouse(root)
    assert w.layout == "manifest"
    assert {t.role for t in w.tables} == {"image assets", "profiles"}
    pt = w.profiles()
    assert [f.key for f in pt.fields_of_view] == [
        ("plate1", "site1"),
        ("plate1", "site2"),
        ("plate1", "site3"),
    ]
    assert pt.channel_names == ["C0", "C1"]
    stack = pt.channel_stack("C1")
    assert np.array_equal(stack[0].compute(), planes[1][1])
    assert np.array_equal(stack[1].compute(), planes[2][1])
    assert not stack[2].compute().any()  # the outside asset was not opened
    assert any("not followed" in p and "elsewhere.tif" in p for p in pt.problems)
    pt2 = w.profiles(allow_outside_roots=True)
    assert np.array_equal(pt2.channel_stack("C0")[2].compute(), planes[1][0])


def test_cytotable_five_file_export_opens_its_joined_profiles(tmp_path, capsys):
    from arrowscope.app.cli import main

    root, profiles = warehouses.cytotable_export(tmp_path)
    pt = arrowscope.open_profiles(root)
    assert pt.num_rows == profiles.num_rows
    assert "Metadata_ObjectID" in pt.columns
    assert pt.crop(0, pt.channel_names[0]) is not None  # the crops link by id
    w = arrowscope.open_warehouse(root)
    roles = {t.name: t.role for t in w.tables}
    assert roles == {
        "joined_profiles": "profiles",
        "joined_raw": "profiles without object ids",
        "profile_with_images": "profiles × images (a row per cell and channel)",
        "image_crops": "crops",
        "source_images": "source images",
    }
    assert main(["info", str(root)]) == 0
    out = capsys.readouterr().out
    assert "warehouse, 5 tables" in out and "profiles.joined_raw" in out
    # another table, chosen by name (API and CLI)
    raw = arrowscope.open_profiles(root, table="joined_raw")
    assert raw.num_rows == profiles.num_rows and "Metadata_ObjectID" not in raw.columns
    assert main(["info", str(root), "--table", "joined_raw", "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["profiles"]["rows"] == profiles.num_rows


def test_info_describes_an_ambiguous_export_and_says_how_to_choose(tmp_path, capsys):
    import shutil

    from arrowscope.app.cli import main

    root, profiles = warehouses.cytotable_export(tmp_path)
    # two candidate profile tables, neither the export's own name
    shutil.move(root / "joined_profiles.parquet", root / "plate_a.parquet")
    shutil.copy(root / "plate_a.parquet", root / "plate_b.parquet")
    with pytest.raises(arrowscope.ArrowscopeError, match="--table NAME"):
        arrowscope.open_profiles(root)
    assert main(["info", str(root)]) == 0  # described, never refused
    out = capsys.readouterr().out
    assert "profiles.plate_a" in out and "profiles.plate_b" in out
    assert "profiles: not opened:" in out and "--table NAME" in out
    assert arrowscope.open_profiles(root, table="plate_b").num_rows == len(profiles)


def test_a_deleted_source_images_table_is_named_not_the_image_files(tmp_path, capsys):
    from arrowscope.app.cli import main
    from tests import warehouses

    warehouses.data_files(tmp_path, np.random.default_rng(3))
    data = tmp_path / "warehouse" / "images" / "source_images" / "data"
    for f in data.glob("*.parquet"):
        f.unlink()
    assert main(["info", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    problems = [line for line in out.splitlines() if "problem:" in line]
    assert problems, out
    assert "table images.source_images has no data files" in problems[0]
    pt = arrowscope.open_profiles(tmp_path)
    assert "images.source_images" in pt.problems[0]


@pytest.mark.parametrize("kind", ["manifest", "parquet"])
def test_other_layouts_open_and_take_qc_back(tmp_path, kind):
    from arrowscope.app.cli import main

    root = warehouses.relayout(tmp_path, kind)
    w = arrowscope.open_warehouse(root)
    assert w.layout == kind
    roles = {t.role for t in w.tables}
    assert {"profiles", "crops", "source images"} <= roles
    pt = w.profiles()
    assert pt.num_rows == 4 and pt.channel_names == ["DNA", "ER"]
    assert pt.crop(3, "ER").column == "ome_arrow_image"
    spec = tmp_path / "t.yml"
    spec.write_text("thresholds:\n  large_nuclei:\n    Nuclei_AreaShape_Area: 1.5\n")
    args = ["qc", str(root), "--conditions", str(spec), "--into-warehouse", "r1"]
    assert main(args) == 0
    w = arrowscope.open_warehouse(root)
    assert w.table("quality_control.r1").rows == 4
    flag = "Metadata_cqc_large_nuclei_is_outlier"
    got = w.profiles().stored_flags.column(flag).to_pylist()
    assert got == [False, False, False, True]
    if kind == "manifest":
        import json

        manifest = json.loads((root / "warehouse_manifest.json").read_text())
        entry = next(
            t for t in manifest["tables"] if t["table_name"] == "quality_control.r1"
        )
        assert entry["role"] == "quality_control" and entry["row_count"] == 4
        qc = w.table("quality_control.r1").read(["qc_pass", flag])
        assert qc.column("qc_pass").to_pylist() == [
            not f for f in qc.column(flag).to_pylist()
        ]
    else:
        assert (root / "quality_control.r1.parquet").is_file()
