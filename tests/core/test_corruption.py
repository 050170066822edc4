"""Corrupt or inconsistent pixels raise (or are reported), never read wrong."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import arrowscope
from arrowscope.core import CorruptFileError, PixelDataError
from tests.records import ome_record, plane


def _flip_byte_in(path, column_prefix):
    md = pq.read_metadata(path)
    for i in range(md.num_columns):
        col = md.row_group(0).column(i)
        if col.path_in_schema.startswith(column_prefix):
            offset = col.data_page_offset + col.total_compressed_size - 100
            break
    else:  # pragma: no cover - the fixture always has the column
        raise AssertionError(column_prefix)
    raw = bytearray(path.read_bytes())
    raw[offset] ^= 0xFF
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("layout", ["nested", "dataset"])
def test_corrupted_page_raises_instead_of_wrong_pixels(tmp_path, layout):
    data = np.arange(64 * 64, dtype=np.uint16).reshape(64, 64)
    path = arrowscope.write_ome_parquet(
        tmp_path / "x.ome.parquet", data, dims="YX", compression="none", layout=layout
    )
    target = path / "chunks.parquet" if layout == "dataset" else path
    prefix = (
        "pixel_bytes" if layout == "dataset" else "ome_arrow.planes.list.element.pixels"
    )
    _flip_byte_in(target, prefix)
    with pytest.raises(CorruptFileError, match="(?i)checksum|crc"):
        arrowscope.open_image(path).to_numpy()


def _write(path, record, record_type=None):
    from arrowscope.core.images.schema import LIST_RECORD_TYPE

    table = pa.table({"ome_arrow": pa.array([record], record_type or LIST_RECORD_TYPE)})
    pq.write_table(table, path)
    return path


@pytest.mark.parametrize(
    ("sizes", "message"),
    [
        ({"size_t": 10**9}, r"\(1000000000 planes\) but stores 1 planes"),
        ({"size_z": 10**9}, r"\(1000000000 planes\) but stores 1 planes"),
        ({"size_x": 10**9}, r"stores at most 16 pixel values"),
        ({"size_y": 2**30, "size_x": 2**30}, r"stores at most 16 pixel values"),
    ],
)
def test_declared_sizes_larger_than_stored_are_refused_at_open(
    tmp_path, sizes, message
):
    path = _write(tmp_path / "big.ome.parquet", ome_record([plane()], **sizes))
    with pytest.raises(PixelDataError, match=message):
        arrowscope.open_image(path)
    with pytest.warns(UserWarning, match=message):
        assert arrowscope.list_images(path) == []  # skipped, with a warning
    src = arrowscope.open_source(path)
    assert src.metas("ome_arrow") == [None]
    assert "stores" in str(src.problems["ome_arrow"][0])


@pytest.mark.parametrize(
    ("planes", "message"),
    [
        ([plane(c=0), plane(c=0, value=7)], r"plane \(t=0, c=0, z=0\) is stored 2"),
        ([plane(c=0)], r"\(2 planes\) but stores 1 planes"),
        ([plane(c=0), plane(c=5)], r"outside the image"),
    ],
)
def test_duplicate_missing_or_stray_planes_are_errors(tmp_path, planes, message):
    path = _write(tmp_path / "p.ome.parquet", ome_record(planes, size_c=2))
    with pytest.raises(PixelDataError, match=message) as err:
        arrowscope.open_image(path)
    _names_the_place(err.value, path)


def _names_the_place(exc, path, row=0):
    """The whole promise: file, column and row, in the message and as fields."""
    assert (exc.path, exc.column, exc.row) == (str(path), "ome_arrow", row)
    assert str(exc).startswith(f"{path}: column 'ome_arrow': row {row}: ")


@pytest.mark.parametrize(
    ("move", "where"),
    [
        ({"z": 5}, "c=0, z=5, y=0, x=0"),
        ({"y": 4}, "c=0, z=1, y=4, x=0"),  # overlaps the image's bottom edge
        ({"x": 6}, "c=0, z=1, y=0, x=6"),
        ({"c": 3}, "c=3, z=1, y=0, x=0"),
    ],
)
def test_a_chunk_outside_the_image_is_named(tmp_path, move, where):
    data = np.arange(2 * 8 * 8, dtype=np.int32).reshape(2, 8, 8)
    path = arrowscope.write_ome_parquet(tmp_path / "c.ome.parquet", data, dims="ZYX")
    table = pq.read_table(path)
    rec = table.column("ome_arrow").to_pylist()[0]
    stray = {**rec["chunks"][1], **move}
    broken = {**rec, "chunks": [rec["chunks"][0], stray]}
    rtype = table.schema.field("ome_arrow").type
    pq.write_table(pa.table({"ome_arrow": pa.array([broken], rtype)}), path)
    with pytest.raises(PixelDataError) as err:
        arrowscope.open_image(path).to_numpy()
    _names_the_place(err.value, path)
    assert f"chunk 1 at (t=0, {where}" in str(err.value)
    assert "lies outside the image TCZYX (1, 1, 2, 8, 8)" in str(err.value)


def test_planes_field_of_the_wrong_type(tmp_path):
    rec = ome_record([plane()])
    rec["planes"] = "not planes"
    rec["chunks"] = None
    fields = [
        pa.field("planes", pa.string()) if f.name == "planes" else f
        for f in __import__(
            "arrowscope.core.images.schema", fromlist=["LIST_RECORD_TYPE"]
        ).LIST_RECORD_TYPE
    ]
    path = _write(tmp_path / "w.ome.parquet", rec, pa.struct(fields))
    with pytest.raises(PixelDataError, match="planes are a string field"):
        arrowscope.open_image(path)


def _chunked(tmp_path, drop=None, duplicate=False):
    data = np.arange(8 * 8, dtype=np.uint16).reshape(8, 8)
    path = arrowscope.write_ome_parquet(
        tmp_path / "c.ome.parquet", data.astype(np.int32), dims="YX"
    )
    table = pq.read_table(path)
    rec = table.column("ome_arrow").to_pylist()[0]
    assert rec["chunks"], "int32 images are written in byte-chunk form"
    return path, table, rec


def test_missing_or_duplicate_chunk_is_an_error(tmp_path):
    data = np.arange(2 * 8 * 8, dtype=np.int32).reshape(2, 8, 8)
    path = arrowscope.write_ome_parquet(tmp_path / "c.ome.parquet", data, dims="ZYX")
    table = pq.read_table(path)
    rtype = table.schema.field("ome_arrow").type
    rec = table.column("ome_arrow").to_pylist()[0]
    assert len(rec["chunks"]) == 2
    missing = {**rec, "chunks": rec["chunks"][:1]}
    twice = {**rec, "chunks": [rec["chunks"][0], rec["chunks"][0]]}
    for broken, message in ((missing, "64 missing"), (twice, "stored twice")):
        pq.write_table(pa.table({"ome_arrow": pa.array([broken], rtype)}), path)
        with pytest.raises(PixelDataError, match=message):
            arrowscope.open_image(path)


def test_dataset_missing_chunk_and_foreign_image_id(tmp_path):
    data = np.arange(2 * 8 * 8, dtype=np.uint16).reshape(2, 8, 8)
    path = arrowscope.write_ome_parquet(
        tmp_path / "d.ome.parquet", data, dims="ZYX", layout="dataset"
    )
    index = pq.read_table(path / "index.parquet")
    pq.write_table(index.slice(0, 1), path / "index.parquet")
    with pytest.raises(PixelDataError, match="missing"):
        arrowscope.open_image(path)
    pq.write_table(index, path / "index.parquet")
    assert np.array_equal(arrowscope.open_image(path).to_numpy()[0, 0], data)
    chunks = pq.read_table(path / "chunks.parquet")
    ids = pa.array(["someone-else"] * chunks.num_rows)
    chunks = chunks.set_column(
        chunks.schema.get_field_index("image_id"), "image_id", ids
    )
    pq.write_table(chunks, path / "chunks.parquet", row_group_size=1)
    with pytest.raises(PixelDataError, match="holds another image's chunk"):
        arrowscope.open_image(path).to_numpy()


@pytest.mark.parametrize("sizes", [{"size_t": "ten"}, {"size_c": None}, {"size_z": -3}])
def test_unusable_sizes_are_schema_errors(tmp_path, sizes):
    from arrowscope.core import SchemaError

    rec = ome_record([plane()])
    rec["pixels_meta"].update(sizes)
    table = pa.table({"ome_arrow": pa.array([rec])})  # types inferred: strings, nulls
    pq.write_table(table, tmp_path / "s.ome.parquet")
    with pytest.raises(SchemaError, match="size_"):
        arrowscope.open_image(tmp_path / "s.ome.parquet")


def test_null_channel_entries_get_default_names(tmp_path):
    rec = ome_record([plane(c=0), plane(c=1)], size_c=2)
    rec["pixels_meta"]["channels"] = [None, {"name": "ER", "color_rgba": 0xFF00FFFF}]
    path = _write(tmp_path / "n.ome.parquet", rec)
    img = arrowscope.open_image(path)
    assert img.channel_names == ["C0", "ER"]


def test_whole_column_check_finds_exactly_the_broken_rows(tmp_path):
    """The vectorised check over a table and the per-row check agree."""
    good = ome_record([plane(c=0), plane(c=1, value=3)], size_c=2)
    rows = [
        good,
        ome_record([plane(c=0), plane(c=0)], size_c=2),  # a plane twice
        good,
        ome_record([plane(c=0)], size_c=2),  # a plane missing
        ome_record([plane(c=0), plane(c=7)], size_c=2),  # a plane outside
        None,  # a row without an image
        ome_record([plane(t=1, c=0), plane(c=1)], size_c=2),  # t outside
        good,
    ]
    from arrowscope.core.images.schema import LIST_RECORD_TYPE

    pq.write_table(
        pa.table({"ome_arrow": pa.array(rows, LIST_RECORD_TYPE)}),
        tmp_path / "t.ome.parquet",
    )
    src = arrowscope.open_source(tmp_path / "t.ome.parquet")
    metas = src.metas("ome_arrow")
    assert [m is not None for m in metas] == [
        True, False, True, False, False, False, False, True
    ]  # fmt: skip
    assert sorted(src.problems["ome_arrow"]) == [1, 3, 4, 6]
    for row in (0, 2, 7):
        pixels = src.image("ome_arrow", row).to_numpy()
        assert pixels[0, 1].max() == 3 and pixels[0, 0].max() == 0
