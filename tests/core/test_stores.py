"""Every store (Parquet, Arrow IPC, Lance, Vortex) reads OME-Arrow exactly, lazily."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import arrowscope
from arrowscope.core.images import cache
from arrowscope.core.images.rowstores import LanceStore
from arrowscope.core.images.stores import open_store


@pytest.fixture
def crop_table(tmp_path):
    rng = np.random.default_rng(11)
    dtypes = [np.uint16, np.float32, np.int64]
    crops = [rng.integers(0, 3000, (2, 9, 7)).astype(dtypes[i % 3]) for i in range(12)]
    features = pa.table(
        {
            "Metadata_Cell": list(range(12)),
            "Cells_AreaShape_Area": rng.random(12),
        }
    )
    spec = {
        "dims": "CYX",
        "channel_names": ["DNA", "ER"],
        "channel_colors": ["blue", "#00FF00"],
        "physical_size": (0.123456789, 0.987654321),
        "units": "µm",
    }
    return crops, features, spec


def _check(path, crops, features):
    cache.ROW_GROUP_CACHE.clear()
    src = arrowscope.open_source(path)
    assert src.num_rows == len(crops)
    for row in (0, 5, 11):
        img = src.image("crop", row)
        assert img.dtype == crops[row].dtype
        assert np.array_equal(img.to_numpy()[0, :, 0], crops[row])
        assert img.channel_names == ["DNA", "ER"]
        assert img.channel_colors[1] == (0.0, 1.0, 0.0, 1.0)
        assert img.units == (None, "µm", "µm")
    got = src.read_columns(features.column_names)
    assert got.equals(features)
    return src


def test_lance_round_trip_is_exact_and_rows_are_takes(tmp_path, crop_table):
    pytest.importorskip("lance")
    crops, features, spec = crop_table
    path = arrowscope.write_ome_table(
        tmp_path / "crops.lance",
        {"crop": [{"data": c, **spec} for c in crops]},
        extra_columns=features,
        format="lance",
    )
    assert (path / "_versions").is_dir()
    src = _check(path, crops, features)
    assert isinstance(src.table.store, LanceStore)
    img = src.image("crop", 3)
    # exact float64 physical sizes survive (the schema metadata is kept)
    assert img.physical_size[1:] == (0.123456789, 0.987654321)
    calls = []
    store = src.table.store
    real = store.handle().take

    def take(indices, columns=None):
        calls.append(list(indices))
        return real(indices, columns=columns)

    store._handle.take = take
    cache.ROW_GROUP_CACHE.clear()
    src.image("crop", 7).to_numpy()
    # a table of images is read a row at a time, by a scan of that row
    assert store.group_rows == [1] * 12 and not calls
    assert store.read_group(7, ["Metadata_Cell"]).column(0).to_pylist() == [7]
    assert store.take(np.array([2, 7]), ["Metadata_Cell"]).column(0).to_pylist() == [
        2,
        7,
    ]
    assert calls == [[2, 7]]  # given rows: a take of those


@pytest.mark.parametrize("fmt", ["lance", "vortex"])
def test_rows_by_position_images_alone_profile_rows_together(
    tmp_path, fmt, monkeypatch
):
    """Lance and Vortex read rows by position: a table of images is read a
    row at a time (showing one reads it alone), even where its images are
    small once compressed; a profile table's rows thousands at a time, and
    every span, take and group is exact."""
    pytest.importorskip(fmt)
    from arrowscope.core.images import rowstores
    from arrowscope.core.images.rowstores import GROUP_BYTES, even_groups

    assert even_groups(0, 0) == [0]
    assert even_groups(5, 5 * GROUP_BYTES) == [1] * 5
    assert even_groups(10, None) == [1] * 10  # size unknown: never wrong
    assert sum(even_groups(100_000, 100_000 * 1200)) == 100_000
    assert len(even_groups(100_000, 100_000 * 1200)) == 8  # ~16 MiB each

    def write(table, name):
        path = tmp_path / f"{name}.{fmt}"
        if fmt == "lance":
            import lance

            lance.write_dataset(table, path)
        else:
            import vortex

            vortex.io.write(table, str(path))
        return path

    rng = np.random.default_rng(4)
    big = [np.full((2, 128, 160), i, np.uint16) for i in range(3)]  # compress well
    images = arrowscope.write_ome_table(
        tmp_path / "big.ome.parquet",
        {"image": [{"data": b, "dims": "CYX"} for b in big]},
    )
    import pyarrow.parquet as pq

    src = arrowscope.open_source(write(pq.read_table(images), "big"))
    assert src.table.store.group_rows == [1, 1, 1]
    assert np.array_equal(src.image("image", 2).to_numpy()[0, :, 0], big[2])
    # a row read holds its own bytes, not all the reader decoded (Vortex
    # decodes a nested column's whole split): the group cache keeps rows
    one = src.table.store.read_group(1, ["image"])
    assert one.get_total_buffer_size() < 1.5 * big[1].nbytes

    n = 50_000
    table = pa.table(
        {
            "Metadata_Well": [f"A{i % 24:02d}" for i in range(n)],
            "Cells_F0": rng.standard_normal(n).astype(np.float32),
            "Cells_F1": pa.array(
                [None if i % 9 == 0 else float(i) for i in range(n)], pa.float64()
            ),
        }
    )
    path = write(table, "profiles")
    monkeypatch.setattr(rowstores, "GROUP_BYTES", 2**16)  # groups of a small table
    store = open_store(path)
    assert 1 < len(store.group_rows) < 20  # thousands of rows a group
    names = table.column_names
    spans = store.spans(names, 2**20)
    assert [g for s in spans for g in s] == list(range(len(store.group_rows)))
    got = pa.concat_tables([store.read_span(s, names) for s in spans])
    assert got.equals(table)
    rows = np.array([0, 7, 9, 12_345, n - 1])
    assert store.take(rows, names).equals(table.take(pa.array(rows)))


def test_convert_to_lance_keeps_every_column(tmp_path, crop_table):
    pytest.importorskip("lance")
    from arrowscope.app.cli import main

    crops, features, spec = crop_table
    parquet = arrowscope.write_ome_table(
        tmp_path / "crops.ome.parquet",
        {"crop": [{"data": c, **spec} for c in crops]},
        extra_columns=features,
    )
    out = tmp_path / "crops.lance"
    assert main(["convert", str(parquet), str(out)]) == 0
    _check(out, crops, features)
    # our own Lance dataset may be replaced; it is not "a folder we did not write"
    assert main(["convert", str(parquet), str(out), "--overwrite"]) == 0


def test_ipc_round_trip(tmp_path, crop_table):
    from arrowscope.app.cli import main

    crops, features, spec = crop_table
    parquet = arrowscope.write_ome_table(
        tmp_path / "crops.ome.parquet",
        {"crop": [{"data": c, **spec} for c in crops]},
        extra_columns=features,
    )
    out = tmp_path / "crops.arrow"
    assert main(["convert", str(parquet), str(out)]) == 0
    assert open_store(out).format == "ipc"
    _check(out, crops, features)


def test_vortex_written_by_ome_arrow_reads_exactly(tmp_path):
    pytest.importorskip("vortex")
    pytest.importorskip("ome_arrow")
    from ome_arrow.export import to_ome_vortex
    from ome_arrow.ingest import from_numpy

    data = np.arange(2 * 3 * 16 * 24, dtype=np.uint16).reshape(1, 2, 3, 16, 24)
    record = from_numpy(data, dim_order="TCZYX")
    to_ome_vortex(record, str(tmp_path / "x.vortex"))
    src = arrowscope.open_source(tmp_path / "x.vortex")
    assert src.table.store.format == "vortex"
    img = src.image()
    assert np.array_equal(img.to_numpy(), data)
    assert np.array_equal(img.to_dask()[0, 1, 2].compute(), data[0, 1, 2])


def test_formats_are_chosen_by_content_not_by_name(tmp_path):
    path = arrowscope.write_ome_parquet(
        tmp_path / "named.arrow", np.ones((4, 4), np.uint16), dims="YX"
    )
    assert open_store(path).format == "parquet"  # the bytes say Parquet


@pytest.mark.parametrize("content", ["noise", "mostly zeros"])
def test_one_huge_row_group_is_read_in_pieces(tmp_path, monkeypatch, content):
    """Also when the pixels encode to almost nothing (a mask): what they
    decode to is what counts."""
    import pyarrow.parquet as pq

    from arrowscope.core.images import stores

    rng = np.random.default_rng(3)
    crops = [rng.integers(0, 999, (1, 16, 16), dtype=np.uint16) for _ in range(30)]
    if content == "mostly zeros":
        crops = [
            np.where(np.arange(256).reshape(1, 16, 16) == i, i, 0) for i in range(30)
        ]
        crops = [c.astype(np.uint16) for c in crops]
    many = arrowscope.write_ome_table(
        tmp_path / "many.ome.parquet",
        {"crop": [{"data": c, "dims": "CYX"} for c in crops]},
    )
    one = tmp_path / "one.ome.parquet"  # as CytoDataFrame writes: one row group
    pq.write_table(pq.read_table(many), one, row_group_size=10**6)
    assert pq.read_metadata(one).num_row_groups == 1
    monkeypatch.setattr(stores, "PIECE_BYTES", 4 * 16 * 16 * 2)  # ~4 crops a piece
    whole = []  # the columns of every read of the row group whole
    read_row_group = pq.ParquetFile.read_row_group

    def spy(self, i, columns=None, **kwargs):
        whole.append(columns)
        return read_row_group(self, i, columns=columns, **kwargs)

    monkeypatch.setattr(pq.ParquetFile, "read_row_group", spy)
    cache.ROW_GROUP_CACHE.clear()
    src = arrowscope.open_source(one)
    assert src.table.num_groups > 5
    order = [29, 0, 13, 14, 15, 2, 28]  # random, then forward paging, then back
    for row in order:
        got = src.image("crop", row).to_numpy()[0, :, 0]
        assert np.array_equal(got, crops[row]), row
    # pixels come a piece at a time: the group is read whole only for its
    # small columns (metadata, plane and chunk positions), never for pixels
    # (it was, by mistake: a field inside a column counted as no bytes)
    pixels = [
        f"crop.{f}.list.element.pixels.list.element" for f in ("planes", "chunks")
    ]
    covered = [
        c
        for cols in whole
        for c in cols
        for p in pixels
        if (p + ".").startswith(c + ".")
    ]
    assert whole and not covered, covered
    # copying the table reads every piece once, whole
    out = tmp_path / "copy.ome.parquet"
    from arrowscope.core.images.writer import copy_table

    copy_table(src, out, compression="zstd")
    assert pq.read_table(out).equals(pq.read_table(one))


def test_a_wide_tables_huge_row_group_is_read_in_exact_pieces(tmp_path, monkeypatch):
    """A profile table written as one row group (as pandas writes it): its
    pieces, read a batch of columns at a time, put together are the table —
    every value, in order, nulls kept."""
    import pyarrow.parquet as pq

    import arrowscope.core.images.stores as stores

    rng = np.random.default_rng(2)
    n, width = 3000, 40
    cols = {
        f"Cells_F{i:02d}": rng.standard_normal(n).astype(np.float32)
        for i in range(width)
    }
    cols["Cells_F03"][::7] = np.nan
    table = pa.table(
        {"Metadata_Well": [f"A{i % 12 + 1:02d}" for i in range(n)], **cols}
    )
    table = table.set_column(
        2, "Cells_F01", pa.array([None if i % 11 == 0 else float(i) for i in range(n)])
    )
    path = tmp_path / "one_group.parquet"
    pq.write_table(table, path, row_group_size=n)
    monkeypatch.setattr(stores, "PIECE_BYTES", 64 * 1024)
    store = stores.open_store(path)
    assert len(store.group_rows) > 4  # split into pieces
    names = table.column_names
    pieces = [store.read_group(g, names) for g in range(len(store.group_rows))]
    got = pa.concat_tables(pieces)
    assert got.schema.equals(table.schema, check_metadata=False)
    for name in names:  # NaN equals NaN here; nulls stay nulls
        assert got.column(name).to_pylist() == table.column(name).to_pylist() or (
            np.array_equal(
                got.column(name).to_numpy(),
                table.column(name).to_numpy(),
                equal_nan=True,
            )
        ), name
    assert got.column("Cells_F01").null_count == table.column("Cells_F01").null_count


def test_a_few_narrow_columns_of_a_huge_row_group_are_read_once(tmp_path, monkeypatch):
    """A table view's page (a few columns) of a wide table's huge row group:
    the group of those columns is read once and sliced into its pieces,
    exactly, rather than streaming each piece through a reader of its own."""
    import pyarrow.parquet as pq

    import arrowscope.core.images.stores as stores

    rng = np.random.default_rng(5)
    n = 4000
    table = pa.table(
        {f"Cells_F{i:02d}": rng.standard_normal(n) for i in range(60)}
        | {"Metadata_Well": pa.array([f"A{i % 12:02d}" for i in range(n)])}
    )
    path = tmp_path / "wide.parquet"
    pq.write_table(table, path, row_group_size=n)
    monkeypatch.setattr(stores, "PIECE_BYTES", 512 * 1024)  # 60 columns: pieces
    store = stores.open_store(path)
    assert len(store.group_rows) > 3
    reads = []
    real = pq.ParquetFile.read_row_group
    monkeypatch.setattr(
        pq.ParquetFile,
        "read_row_group",
        lambda self, i, **kw: reads.append(kw.get("columns")) or real(self, i, **kw),
    )
    names = ["Metadata_Well", "Cells_F07"]
    pieces = [store.read_group(g, names) for g in range(len(store.group_rows))]
    assert pa.concat_tables(pieces).equals(table.select(names))
    assert reads == [names]  # once for every piece
    assert store.read_group(1, table.column_names).equals(  # all columns: pieces
        table.slice(store.group_rows[0], store.group_rows[1])
    )


def test_a_huge_row_groups_pieces_are_read_together_in_one_pass(tmp_path, monkeypatch):
    """Scoring reads the pieces of a huge row group in spans, and the labelled
    cells are taken from it, each in one pass over its columns (a piece at a
    time decodes every page once per piece); row groups are never merged."""
    import pyarrow.parquet as pq

    import arrowscope.core.images.stores as stores
    from arrowscope.core.images.storebase import VARIABLE_BYTES, decoded_row_bytes

    rng = np.random.default_rng(8)
    n, width = 6000, 40
    table = pa.table(
        {"Metadata_Well": [f"B{i % 12:02d}" for i in range(n)]}
        | {
            f"Cells_F{i:02d}": rng.standard_normal(n).astype(np.float32)
            for i in range(width)
        }
    )
    one, many = tmp_path / "one.parquet", tmp_path / "many.parquet"
    pq.write_table(table, one, row_group_size=n)
    pq.write_table(table, many, row_group_size=1500)
    monkeypatch.setattr(stores, "PIECE_BYTES", 128 * 1024)
    names = table.column_names
    reads = []
    real = pq.ParquetFile.read_row_group
    monkeypatch.setattr(
        pq.ParquetFile,
        "read_row_group",
        lambda self, i, **kw: reads.append(i) or real(self, i, **kw),
    )
    store = stores.open_store(one)
    pieces = len(store.group_rows)
    assert pieces > 4
    row_bytes = decoded_row_bytes(store.schema, names)
    assert row_bytes == 4 * width + VARIABLE_BYTES
    spans = store.spans(names, n * row_bytes)  # room for the whole group
    assert spans == [range(pieces)]
    assert store.read_span(spans[0], names).equals(table)
    batches = -(-len(names) // stores.WIDE_COLUMNS)
    assert len(reads) == batches  # every column decoded once
    small = store.spans(names, 2 * store.group_rows[0] * row_bytes)
    assert all(len(s) == 2 for s in small[:-1])
    assert pa.concat_tables([store.read_span(s, names) for s in small]).equals(table)

    reads.clear()
    rows = np.array([3, 900, 2500, 4100, n - 1])  # in different pieces
    assert store.take(rows, names).equals(table.take(pa.array(rows)))
    assert len(reads) == batches

    store = stores.open_store(many)
    spans = store.spans(names, 10 * n * row_bytes)
    assert len(spans) == 4  # each row group's pieces together, no more
    assert pa.concat_tables([store.read_span(s, names) for s in spans]).equals(table)
    monkeypatch.setattr(stores, "PIECE_BYTES", 2**30)  # whole row groups
    store = stores.open_store(many)
    assert len(store.group_rows) == 4
    spans = store.spans(names, 4 * 2 * 1500 * row_bytes)  # small: two a span
    assert spans == [range(0, 2), range(2, 4)]
    assert pa.concat_tables([store.read_span(s, names) for s in spans]).equals(table)
    assert len(store.spans(names, 4 * 1500 * row_bytes - 1)) == 4  # never past
    assert store.take(rows, names).equals(table.take(pa.array(rows)))


def test_a_lance_tables_deleted_rows_are_skipped_in_every_read(tmp_path, monkeypatch):
    """Positions are those of the rows still there: groups, spans and takes of
    a Lance table with deletions give exactly what Lance itself reads."""
    lance = pytest.importorskip("lance")
    from arrowscope.core.images import rowstores

    n = 5000
    table = pa.table({"id": np.arange(n), "x": np.random.default_rng(6).random(n)})
    path = tmp_path / "deleted.lance"
    lance.write_dataset(table, path, max_rows_per_file=1500)
    lance.dataset(path).delete("id % 7 = 0")
    monkeypatch.setattr(rowstores, "GROUP_BYTES", 4096)
    store = open_store(path)
    kept = lance.dataset(path).to_table()
    assert sum(store.group_rows) == kept.num_rows and len(store.group_rows) > 3
    spans = store.spans(["id", "x"], 10_000)
    got = pa.concat_tables([store.read_span(s, ["id", "x"]) for s in spans])
    assert got.equals(kept)
    rows = np.array([0, 10, 1300, 1301, 4000, kept.num_rows - 1])
    got = store.take(rows, ["id"]).column(0).to_pylist()
    assert got == kept.column("id").take(pa.array(rows)).to_pylist()


@pytest.mark.parametrize("compression", [None, "lz4", "zstd"])
def test_an_ipc_file_opens_without_decoding_and_reads_only_its_columns(
    tmp_path, compression
):
    """Opening a compressed IPC file counts its batches' rows from one narrow
    column (decompressing every batch to count them read the whole file);
    a read of some columns decompresses those only; every value exact,
    also after pickling the store."""
    import pickle

    import pyarrow.feather as feather

    rng = np.random.default_rng(9)
    n = 30_000
    table = pa.table(
        {"Metadata_Well": [f"C{i % 24:02d}" for i in range(n)]}
        | {f"Cells_F{i:02d}": rng.standard_normal(n) for i in range(30)}
    )
    path = tmp_path / "profiles.arrow"
    feather.write_feather(
        table, path, compression=compression or "uncompressed", chunksize=7_000
    )
    peak, store = _arrow_peak(lambda: open_store(path))
    assert store.group_rows == [7000] * 4 + [2000]
    assert peak < 2 * 7_000 * 8  # one batch of one narrow column
    peak, _ = _arrow_peak(lambda: store.read_group(1, ["Cells_F07"]))
    if compression:  # that column decompressed, not the batch's 31
        assert peak < 3 * 7_000 * 8
    names = ["Cells_F03", "Metadata_Well"]
    got = pa.concat_tables([store.read_group(g, names) for g in range(5)])
    assert got.equals(table.select(names))
    again = pickle.loads(pickle.dumps(store))
    assert again.read_group(4, None).equals(table.slice(28_000))
    rows = np.array([1, 6999, 7000, n - 1])
    assert store.take(rows, names).equals(table.select(names).take(pa.array(rows)))


#: pools that measured a call: kept for the process, since buffers they gave
#: out may outlive the call (freeing one through a dropped pool crashes)
_POOLS: list[pa.MemoryPool] = []


def _arrow_peak(fn):
    """(Arrow's high-water mark of bytes during ``fn()``, its result)."""
    previous = pa.default_memory_pool()
    counted = pa.proxy_memory_pool(previous)
    _POOLS.append(counted)
    pa.set_memory_pool(counted)
    try:
        result = fn()
    finally:
        pa.set_memory_pool(previous)
    return counted.max_memory(), result
