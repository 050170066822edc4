"""CytoTable Iceberg warehouses, read through pyiceberg: registry, snapshots,
deletes, moved roots, broken registries, and QC written back."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

import arrowscope
from arrowscope.app.cli import main
from tests import warehouses

pytest.importorskip("pyiceberg")  # the 'iceberg' extra, part of the test set


@pytest.fixture
def built(tmp_path):
    rng = np.random.default_rng(15)
    facts = warehouses.data_files(tmp_path / "wh", rng)
    facts["registry"] = warehouses.to_iceberg(tmp_path / "wh")
    facts["root"] = tmp_path / "wh"
    return facts


def _tree(root):
    return sorted(
        (str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    )


def test_tables_come_from_the_registry(built):
    w = arrowscope.open_warehouse(built["root"])
    assert w.layout == "iceberg"
    found = {t.identifier: (t.rows, t.role) for t in w.tables}
    assert found == {
        "images.image_crops": (8, "crops"),
        "images.source_images": (4, "source images"),
        "profiles.joined_profiles": (4, "profiles"),
    }
    assert w.views["profiles.profile_with_images"]["kind"] == "profile_with_images"
    # what Iceberg stores: pixels as list<int32>, no masks field
    crops = w.table("crops")
    schema = pq.read_schema(crops.files[0])
    struct = schema.field("ome_arrow_image").type
    assert "masks" not in [f.name for f in struct]
    pixels = struct.field("planes").type.value_type.field("pixels").type
    assert str(pixels.value_type) == "int32"


def test_profiles_images_masks_and_crops_decode_exactly(built):
    pt = arrowscope.open_profiles(built["root"])
    assert pt.num_rows == 4
    assert pt.channel_names == list(warehouses.CHANNELS)
    assert [f.key for f in pt.fields_of_view] == [("P1", 1), ("P1", 2)]
    er = pt.channel_stack("ER")
    assert er.dtype == np.uint16  # declared type, from int32 storage
    assert np.array_equal(er[1].compute(), built["images"][2, "ER"])
    assert np.array_equal(pt.mask_stack("label")[0].compute(), built["labels"][1])
    crop = pt.crop(3, "DNA")
    assert crop.column == "ome_arrow_image"  # the stored crop
    _, _, x0, y0, x1, y1 = (None, None, *warehouses.OBJECTS[1][3:])
    want = built["images"][2, "DNA"][y0:y1, x0:x1]
    got = crop.to_numpy()[0, 0, 0]
    assert got.dtype == np.uint16 and np.array_equal(got, want)
    report = pt.link_report()
    assert report["rows_without_image"] == 0


def test_rows_deleted_in_a_later_snapshot_are_not_read(built):
    from pyiceberg.expressions import EqualTo

    registry = built["registry"]
    _, table = warehouses.load(registry, "profiles.joined_profiles")
    table.delete(EqualTo("Metadata_ObjectNumber", 2))
    warehouses.commit(registry, "profiles.joined_profiles", table)
    data = built["root"] / "warehouse/profiles/joined_profiles/data"
    stale = sum(pq.read_metadata(f).num_rows for f in data.glob("*.parquet"))
    assert stale > 2  # globbing the data folder would read the deleted rows
    pt = arrowscope.open_profiles(built["root"])
    assert pt.num_rows == 2
    assert pt.read(["Metadata_ObjectNumber"]).column(0).to_pylist() == [1, 1]


def test_a_table_of_two_schemas_is_read_by_pyiceberg(built):
    import pyarrow as pa
    from pyiceberg.types import DoubleType

    registry = built["registry"]
    _, table = warehouses.load(registry, "profiles.joined_profiles")
    with table.update_schema() as update:
        update.add_column("Nuclei_Texture_New", DoubleType())
    more = table.scan().to_arrow().slice(0, 1)
    more = more.set_column(
        more.schema.get_field_index("Nuclei_Texture_New"),
        "Nuclei_Texture_New",
        pa.array([7.5]),
    )
    table.append(more)
    warehouses.commit(registry, "profiles.joined_profiles", table)
    w = arrowscope.open_warehouse(built["root"])
    prof = w.table("profiles")
    assert not prof.iceberg.direct and prof.rows == 5
    pt = w.profiles()
    values = pt.read(["Nuclei_Texture_New"]).column(0).to_pylist()
    assert sorted(values, key=lambda v: v is not None) == [None] * 4 + [7.5]
    # read through pyiceberg one scan task at a time: the store is lazy
    store = prof.source()
    assert store.format == "iceberg" and len(store.group_rows) == 2
    assert sorted(store.group_rows) == [1, 4]
    # QC runs on it, and a source-image table read the same way gives exact pixels
    keys, result = w.run_qc({"big": {"Nuclei_AreaShape_Area": 1.5}})
    assert keys.num_rows == 5 and result.flags.num_rows == 5


def test_an_image_table_of_two_schemas_decodes_exactly(built):
    from pyiceberg.types import StringType

    registry = built["registry"]
    _, table = warehouses.load(registry, "images.source_images")
    with table.update_schema() as update:
        update.add_column("Metadata_Note", StringType())
    warehouses.commit(registry, "images.source_images", table)
    w = arrowscope.open_warehouse(built["root"])
    assert not w.table("source images").iceberg.direct
    pt = w.profiles()
    for f in (1, 2):
        for ch in warehouses.CHANNELS:
            got = pt.channel_stack(ch)[f - 1].compute()
            assert got.dtype == np.uint16
            assert np.array_equal(got, built["images"][f, ch])


def test_a_moved_warehouse_opens_from_its_new_place(built, tmp_path):
    moved = tmp_path / "elsewhere" / "copy"
    shutil.move(built["root"], moved)
    w = arrowscope.open_warehouse(moved)
    assert all(t.iceberg.moved for t in w.tables)
    assert all(moved in f.parents for t in w.tables for f in t.files)
    pt = w.profiles()
    assert np.array_equal(
        pt.channel_stack("DNA")[0].compute(), built["images"][1, "DNA"]
    )


def test_a_copy_reads_its_own_files_not_the_original(built, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(built["root"], copy)
    w = arrowscope.open_warehouse(copy)
    assert all(copy in f.parents for t in w.tables for f in t.files)


def test_catalog_json_itself_opens_the_warehouse(built):
    w = arrowscope.open_warehouse(built["registry"])
    assert w.root == built["root"]


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.write_text(p.read_text()[:40]), "is not valid JSON"),
        (lambda p: p.write_text('{"namespaces": []}'), "is not a warehouse registry"),
        (
            lambda p: p.write_text('{"tables": {"profiles.x": 3}}'),
            "is not a warehouse registry",
        ),
    ],
)
def test_a_corrupt_registry_is_named_and_nothing_is_written(built, damage, message):
    damage(built["registry"])
    before = _tree(built["root"])
    with pytest.raises(arrowscope.ArrowscopeError, match=message) as err:
        arrowscope.open_warehouse(built["root"])
    assert "catalog.json" in str(err.value)
    assert main(["qc", str(built["root"]), "--into-warehouse", "run1"]) == 1
    assert _tree(built["root"]) == before


def test_a_missing_registry_is_refused_not_globbed(built):
    built["registry"].unlink()
    with pytest.raises(arrowscope.ArrowscopeError, match="has no registry"):
        arrowscope.open_warehouse(built["root"])


def test_metadata_missing_under_the_root_is_named(built):
    meta = built["root"] / "warehouse/images/image_crops/metadata"
    shutil.rmtree(meta)
    with pytest.raises(arrowscope.ArrowscopeError, match="images.image_crops"):
        arrowscope.open_warehouse(built["root"])


def _thresholds(tmp_path):
    path = tmp_path / "thresholds.yml"
    path.write_text("thresholds:\n  large_nuclei:\n    Nuclei_AreaShape_Area: 1.5\n")
    return path


def test_qc_into_the_warehouse_and_back(built, tmp_path):
    root = built["root"]
    code = main(
        [
            "qc",
            str(root),
            "--conditions",
            str(_thresholds(tmp_path)),
            "--into-warehouse",
            "run1",
        ]
    )
    assert code == 0
    registry = json.loads(built["registry"].read_text())
    assert "quality_control.run1" in registry["tables"]
    assert "quality_control" in registry["namespaces"]
    w = arrowscope.open_warehouse(root)
    qc = w.table("quality_control.run1")
    assert qc.role == "quality control" and qc.rows == 4
    conditions = json.loads(qc.properties["arrowscope.conditions"])
    assert "large_nuclei" in conditions
    stored = qc.read()
    assert stored.column("Metadata_ObjectID").to_pylist() == [
        warehouses.object_id(f, n)
        for f in warehouses.FIELDS
        for n, *_ in warehouses.OBJECTS
    ]
    flag = "Metadata_cqc_large_nuclei_is_outlier"
    assert stored.column(flag).to_pylist() == [False, False, False, True]
    # reopened: the flags are columns of the profiles, matched by object id
    pt = w.profiles()
    assert pt.stored_flags.column(flag).to_pylist() == [False, False, False, True]
    assert pt.read([flag]).column(0).to_pylist() == [False, False, False, True]
    # pycytominer reads the QC table as it reads an annotation file
    pd = pytest.importorskip("pandas")
    frame = pd.read_parquet(qc.files[0])
    assert frame[flag].dtype == bool
    # a second run refuses to replace the table unless told to; the first
    # run's table is untouched
    registry_before = built["registry"].read_bytes()
    assert main(["qc", str(root), "--into-warehouse", "run1"]) == 1
    assert built["registry"].read_bytes() == registry_before
    # told to, it replaces the table (a new snapshot), never duplicates it
    assert main(["qc", str(root), "--into-warehouse", "run1", "--overwrite"]) == 0
    again = arrowscope.open_warehouse(root).table("quality_control.run1")
    assert again.rows == 4
    assert "elongated_nuclei" in json.loads(again.properties["arrowscope.conditions"])
    assert "Metadata_cqc_elongated_nuclei_is_outlier" in again.read().column_names


def test_flags_are_matched_by_object_id_not_position(built, tmp_path):
    """A QC table written in another row order still flags the right cells."""
    import pyarrow as pa

    w = arrowscope.open_warehouse(built["root"])
    keys, result = w.run_qc(_thresholds(tmp_path))
    order = pa.array([3, 2, 1, 0])
    w.write_quality_control(
        "shuffled",
        keys.take(order),
        type(result)(
            result.flags.take(order), result.scores.take(order), result.report
        ),
    )
    pt = arrowscope.open_profiles(built["root"])
    flag = "Metadata_cqc_large_nuclei_is_outlier"
    assert pt.stored_flags.column(flag).to_pylist() == [False, False, False, True]
    # a QC table that lacks a row: that row has no flags, and it is said (and
    # still said once the fields of view are built)
    part = pa.array([0, 1, 3])
    w.write_quality_control(
        "partial",
        keys.take(part),
        type(result)(result.flags.take(part), result.scores.take(part), result.report),
    )
    pt = arrowscope.open_profiles(built["root"])
    assert len(pt.fields_of_view) == 2
    assert any("partial: 1 profile row(s) have no flags" in p for p in pt.problems)


def test_qc_into_a_data_files_warehouse(tmp_path):
    rng = np.random.default_rng(3)
    warehouses.data_files(tmp_path, rng)
    assert (
        main(
            [
                "qc",
                str(tmp_path),
                "--conditions",
                str(_thresholds(tmp_path)),
                "--into-warehouse",
                "run1",
            ]
        )
        == 0
    )
    written = tmp_path / "warehouse/quality_control/run1/data/part-0.parquet"
    assert written.is_file()
    pt = arrowscope.open_profiles(tmp_path)
    flag = "Metadata_cqc_large_nuclei_is_outlier"
    assert pt.stored_flags.column(flag).to_pylist() == [False, False, False, True]


def test_into_warehouse_needs_a_warehouse(tmp_path):
    table = tmp_path / "p.parquet"
    rng = np.random.default_rng(3)
    facts = warehouses.data_files(tmp_path / "w", rng)
    pq.write_table(facts["profiles"], table)
    assert main(["qc", str(table), "--into-warehouse", "x"]) == 2
    assert main(["qc", str(tmp_path / "w")]) == 2  # neither --out nor --into-warehouse
    assert main(["qc", str(tmp_path / "w"), "--into-warehouse", "../up"]) == 1
    assert not (tmp_path / "w" / "warehouse" / "quality_control").exists()


def test_a_warehouse_written_by_cytotables_own_catalog(tmp_path):
    """CytoTable's registry catalog writes; arrowscope reads; CytoTable reads
    back the QC table arrowscope registered."""
    pytest.importorskip("cytotable")
    from cytotable.warehouse.access import list_tables, read_table

    facts = warehouses.data_files(tmp_path / "ct", np.random.default_rng(9))
    registry = warehouses.with_cytotable(tmp_path / "ct")
    root = tmp_path / "ct"
    assert registry.is_file()
    pt = arrowscope.open_profiles(root)
    assert pt.num_rows == 4
    assert np.array_equal(pt.channel_stack("ER")[0].compute(), facts["images"][1, "ER"])
    assert pt.crop(2, "DNA").column == "ome_arrow_image"
    assert main(["qc", str(root), "--into-warehouse", "cosmicqc_defaults"]) == 0
    assert "quality_control.cosmicqc_defaults" in list_tables(root)
    frame = read_table(root, "quality_control.cosmicqc_defaults")
    assert len(frame) == 4 and "Metadata_ObjectID" in frame.columns
