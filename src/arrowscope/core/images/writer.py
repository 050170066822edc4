"""Write images to OME-Parquet: losslessly, atomically, streaming dask input.

* uint16 images become canonical list-form records that every ome-arrow
  version reads; every other dtype becomes byte-form chunks (exact bytes).
* Images larger than ``large_threshold`` become a typed chunk dataset folder,
  written plane by plane so memory stays bounded.
* Everything is written to a hidden temporary sibling and renamed into place:
  a failure never leaves a partial file and never destroys an existing one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..errors import UnsupportedError
from .atomic import atomic_target
from .codec import encode_byte_record, encode_list_record, null_record
from .dataset import PYRAMID_MIN_PX, pyramid_levels, write_chunk_dataset
from .formats import IPC, LANCE, WRITABLE, by_name
from .image import EXACT_METADATA_KEY, OMEImage, OMESource, open_source
from .metadata import DIMS, Channel, ImageMeta, rgba_to_uint32
from .parquet import parquet_writer
from .schema import (
    BYTE_RECORD_TYPE,
    LIST_RECORD_TYPE,
    OME_ARROW_TYPE,
    OME_ARROW_VERSION,
)

SLAB_BYTES = 64 * 2**20  # dask input is computed in slabs of about this size
#: Images above this many bytes are written as a typed chunk dataset by default.
LARGE_IMAGE_BYTES = 256 * 2**20
#: Pixel bytes per row group of an image table (a larger row gets a group alone).
ROW_GROUP_BYTES = 4 * 2**20
ROW_GROUP_ROWS = 1024  # and at most this many rows (tiny crops, big profiles)
DEFAULT_COLUMN = "ome_arrow"
SUPPORTED_KINDS = "biuf"
Progress = Callable[[int, int], None]


# -- arrays ----------------------------------------------------------------------
def to_tczyx(data: Any, dims: str) -> Any:
    """View a 2-5-D numpy or dask array with axes ``dims`` as 5-D TCZYX."""
    dims = dims.upper()
    if not hasattr(data, "ndim"):
        data = np.asarray(data)
    if len(dims) != data.ndim:
        raise UnsupportedError(
            f"dims {dims!r} name {len(dims)} axes but the array has {data.ndim} "
            f"(shape {tuple(data.shape)})",
            hint="pass dims such as 'YX', 'CYX', 'ZYX' or 'TCZYX'",
        )
    if (
        len(set(dims)) != len(dims)
        or not set(dims) <= set(DIMS)
        or not {"Y", "X"} <= set(dims)
    ):
        raise UnsupportedError(
            f"dims {dims!r} must be distinct letters of TCZYX and include Y and X"
        )
    present = [a for a in DIMS if a in dims]
    data = data.transpose([dims.index(a) for a in present])
    return data[tuple(slice(None) if a in dims else None for a in DIMS)]


def _check_dtype(dtype: np.dtype[Any]) -> None:
    if dtype.kind not in SUPPORTED_KINDS:
        raise UnsupportedError(
            f"cannot store pixels of dtype {dtype}",
            hint="OME-Arrow holds bool, integer and float pixels",
        )


# -- metadata --------------------------------------------------------------------
def _triple(value: Any, fill: Any) -> tuple[Any, Any, Any]:
    if value is None:
        return (fill, fill, fill)
    if isinstance(value, (str, int, float, np.number)):
        return (
            fill if isinstance(value, (int, float, np.number)) else value,
            value,
            value,
        )
    seq = list(value)
    if len(seq) == 2:
        return (fill, seq[0], seq[1])
    if len(seq) == 3:
        return (seq[0], seq[1], seq[2])
    raise UnsupportedError(f"expected 1, 2 (y, x) or 3 (z, y, x) values, got {value!r}")


def make_meta(
    shape: tuple[int, ...],
    dtype: Any,
    *,
    name: str | None = None,
    image_id: str | None = None,
    image_type: str | None = "image",
    channel_names: Sequence[str] | None = None,
    channel_colors: Sequence[Any] | None = None,
    physical_size: Any = None,
    units: Any = None,
) -> ImageMeta:
    """Build the metadata of an image to write (shape in TCZYX).

    ``physical_size`` is a scalar (y and x), ``(y, x)`` or ``(z, y, x)``;
    ``units`` a string for all axes or a matching tuple.
    """
    dtype = np.dtype(dtype)
    _check_dtype(dtype)
    C = int(shape[1])
    names = (
        list(channel_names)
        if channel_names is not None
        else [f"C{i}" for i in range(C)]
    )
    colors = list(channel_colors) if channel_colors is not None else [None] * C
    if len(names) != C or len(colors) != C:
        raise UnsupportedError(
            f"the image has {C} channels but {len(names)} names and "
            f"{len(colors)} colours were given"
        )
    sizes = tuple(None if v is None else float(v) for v in _triple(physical_size, None))
    if isinstance(units, str) or units is None:
        unit_t = tuple(units if s is not None else None for s in sizes)
    else:
        unit_t = _triple(units, None)
    return ImageMeta(
        shape=tuple(int(s) for s in shape),  # type: ignore[arg-type]
        dtype=dtype,
        name=name,
        id=image_id or name,
        image_type=image_type,
        channels=tuple(
            Channel(
                name=str(n),
                id=f"ch-{i}",
                color=None if c is None else rgba_to_uint32(c),
            )
            for i, (n, c) in enumerate(zip(names, colors, strict=True))
        ),
        physical_size=sizes,  # type: ignore[arg-type]
        units=unit_t,  # type: ignore[arg-type]
    )


@dataclass
class ImageToWrite:
    """A TCZYX array (numpy or dask) and the metadata to write with it."""

    data: Any
    meta: ImageMeta
    extra: dict[str, Any] = field(default_factory=dict)

    def materialize(self) -> np.ndarray:
        data = self.data
        if hasattr(data, "compute"):
            data = data.compute()
        return np.ascontiguousarray(data)

    def planes(self) -> Iterator[tuple[int, int, int, np.ndarray]]:
        """Yield ``(t, c, z, plane)``, computing dask input one Z-block at a time."""
        T, C, Z, _, _ = self.meta.shape
        zstep = 1
        if hasattr(self.data, "chunks"):
            # one dask compute per ~64 MiB slab: per-call graph overhead, not the
            # pixels, dominates when planes are small; memory stays bounded
            zchunk = max(1, int(self.data.chunks[2][0]))
            plane = max(
                1, self.meta.shape[3] * self.meta.shape[4] * self.meta.dtype.itemsize
            )
            zstep = zchunk * max(1, SLAB_BYTES // (plane * zchunk))
        blocks = [
            (t, c, z0) for t in range(T) for c in range(C) for z0 in range(0, Z, zstep)
        ]

        def load(block: tuple[int, int, int]) -> np.ndarray:
            t, c, z0 = block
            slab = self.data[t, c, z0 : z0 + zstep]
            return slab.compute() if hasattr(slab, "compute") else np.asarray(slab)

        # the next slab is computed while the current one is written (at most
        # two slabs in memory): reading and compressing overlap
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(load, blocks[0]) if blocks else None
            for i, (t, c, z0) in enumerate(blocks):
                assert pending is not None
                slab = pending.result()
                pending = (
                    pool.submit(load, blocks[i + 1]) if i + 1 < len(blocks) else None
                )
                for dz in range(slab.shape[0]):
                    yield t, c, z0 + dz, slab[dz]


def image_to_write(item: Any, *, dims: str = DIMS, **kwargs: Any) -> ImageToWrite:
    """Normalise an array, an :class:`OMEImage` or a ``{"data": ..., ...}`` dict."""
    if isinstance(item, ImageToWrite):
        return item
    if isinstance(item, OMEImage):
        return ImageToWrite(item.to_dask(), item.meta)
    if isinstance(item, Mapping):
        opts = dict(item)
        data = opts.pop("data")
        return image_to_write(data, **{"dims": dims, **kwargs, **opts})
    data = to_tczyx(item, dims)
    meta = make_meta(tuple(data.shape), data.dtype, **kwargs)
    return ImageToWrite(data, meta)


def _record(
    image: ImageToWrite, record_type: pa.StructType, chunk_compression: str | None
) -> pa.StructArray:
    arr = image.materialize()
    if record_type == LIST_RECORD_TYPE:
        return encode_list_record(arr, image.meta)
    return encode_byte_record(arr, image.meta, compression=chunk_compression)


def _record_type(images: Sequence[ImageToWrite | None]) -> pa.StructType:
    real = [im for im in images if im is not None]
    if real and all(
        im.meta.dtype == np.dtype("uint16") and not im.meta.rgb for im in real
    ):
        return LIST_RECORD_TYPE
    return BYTE_RECORD_TYPE


def _file_metadata(exact: dict[str, dict[str, Any]]) -> dict[bytes, bytes]:
    meta = {
        b"ome.arrow.type": OME_ARROW_TYPE.encode(),
        b"ome.arrow.version": OME_ARROW_VERSION.encode(),
    }
    if exact:
        meta[EXACT_METADATA_KEY] = json.dumps(exact).encode()
    return meta


def _exact_sizes(column: str, images: Sequence[ImageToWrite | None]) -> dict[str, Any]:
    """Physical sizes that float32 would round, kept exactly in file metadata."""
    out: dict[str, Any] = {}
    for row, im in enumerate(images):
        if im is None:
            continue
        sizes = im.meta.physical_size
        if any(s is not None and float(np.float32(s)) != s for s in sizes):
            out[str(row)] = {"physical_size": list(sizes)}
    return out


# -- public writers -----------------------------------------------------------------
def write_ome_parquet(
    path: str | os.PathLike[str],
    data: Any,
    *,
    dims: str = DIMS,
    name: str | None = None,
    image_id: str | None = None,
    image_type: str | None = "image",
    channel_names: Sequence[str] | None = None,
    channel_colors: Sequence[Any] | None = None,
    physical_size: Any = None,
    units: Any = None,
    column: str = DEFAULT_COLUMN,
    layout: str = "auto",
    compression: str | None = "zstd",
    chunk_compression: str | None = None,
    large_threshold: int = LARGE_IMAGE_BYTES,
    tile: int = 1024,
    pyramid: bool | str = "auto",
    progress: Progress | None = None,
) -> Path:
    """Write one image to OME-Parquet, losslessly and atomically.

    Parameters
    ----------
    path
        Target ``.ome.parquet`` (a file, or a folder for the dataset layout).
    data
        A 2-5-D numpy or dask array (or an :class:`OMEImage`) with axes ``dims``.
    layout
        ``"auto"`` (nested below ``large_threshold`` bytes, else dataset),
        ``"nested"`` (one row, one struct column) or ``"dataset"`` (typed chunk
        dataset folder, tiles of ``tile`` pixels).
    compression
        Parquet compression (zstd by default).
    chunk_compression
        Extra per-chunk codec for byte-form records (``"zstd"``, ``"lz4"``).
    pyramid
        Dataset layout only: also store reduced-resolution levels (Y and X
        halved until a side is at most 1024 pixels) in ``pyramid/level-<k>/``
        so viewers pan huge planes smoothly. ``"auto"`` (default) stores them
        for planes with a side above 8192 pixels. Other readers ignore them.
    progress
        Called as ``progress(done, total)`` while writing.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    image = image_to_write(
        data,
        dims=dims,
        name=name,
        image_id=image_id,
        image_type=image_type,
        channel_names=channel_names,
        channel_colors=channel_colors,
        physical_size=physical_size,
        units=units,
    )
    if name is not None and image.meta.name != name:
        image = replace(
            image,
            meta=replace(image.meta, name=name, id=image_id or image.meta.id or name),
        )
    if layout == "auto":
        layout = "dataset" if image.meta.nbytes > large_threshold else "nested"
    if (
        layout == "nested"
        and image.meta.dtype == np.dtype("uint16")
        and np.prod(image.meta.shape, dtype=np.int64) >= 2**31
    ):
        layout = "dataset"
    if layout == "dataset":
        return write_ome_dataset(
            path,
            [image],
            compression=compression,
            tile=tile,
            pyramid=pyramid,
            progress=progress,
        )
    if layout != "nested":
        raise UnsupportedError(
            f"unknown layout {layout!r}", hint="use auto, nested or dataset"
        )
    return write_ome_table(
        path,
        {column: [image]},
        compression=compression,
        chunk_compression=chunk_compression,
        progress=progress,
    )


def write_ome_table(
    path: str | os.PathLike[str],
    images: Mapping[str, Sequence[Any]],
    *,
    extra_columns: Any = None,
    dims: str = DIMS,
    compression: str | None = "zstd",
    chunk_compression: str | None = None,
    progress: Progress | None = None,
    format: str = "parquet",
) -> Path:
    """Write many images as a table: one image per row, rows grouped by size.

    Row groups hold about :data:`ROW_GROUP_BYTES` of pixels (a single row if it
    is larger), so showing one row decodes a few megabytes at most, and
    opening a table of many thousand crops reads a small footer.

    Parameters
    ----------
    images
        ``{column: [image, ...]}``; every column has one entry per row. An
        entry is an array (axes ``dims``), an :class:`OMEImage`, a dict
        ``{"data": array, "dims": ..., "name": ..., "channel_names": ...}``
        (the keyword arguments of :func:`write_ome_parquet`), or None for a
        row without an image.
    extra_columns
        Other columns (a :class:`pyarrow.Table`, a pandas DataFrame or a dict
        of lists) with the same number of rows, e.g. single-cell features.

    format
        ``"parquet"``, or ``"lance"`` for a Lance dataset folder (random row
        reads are a ``take``; needs ``arrowscope[lance]``).

    Notes
    -----
    Each row is computed on its own; memory holds one row group.
    """
    if format not in ("parquet", "lance"):
        raise UnsupportedError(
            f"unknown table format {format!r}", hint="parquet or lance"
        )
    if format == "lance":
        return _via_parquet(
            path,
            images,
            extra_columns=extra_columns,
            dims=dims,
            compression=compression,
            chunk_compression=chunk_compression,
            progress=progress,
        )
    columns: dict[str, list[ImageToWrite | None]] = {
        col: [
            None if item is None else image_to_write(item, dims=dims) for item in items
        ]
        for col, items in images.items()
    }
    extra = _as_table(extra_columns)
    n_rows = _row_count(columns, extra)
    types = {col: _record_type(items) for col, items in columns.items()}
    schema = _table_schema(columns, types, extra)
    # Dictionary encoding and min/max statistics of megabyte-sized pixel values
    # cost more than the compression itself and help no reader: keep them for
    # the plain (profile) columns only.
    plain = [] if extra is None else list(extra.column_names)
    with (
        atomic_target(path) as tmp,
        parquet_writer(
            tmp,
            schema,
            compression=compression,
            use_dictionary=plain or False,
            write_statistics=plain or False,
        ) as writer,
    ):
        pending: dict[str, list[pa.Array]] = {col: [] for col in columns}
        start = pending_bytes = 0

        def flush(stop: int) -> None:
            nonlocal start, pending_bytes
            if stop == start:
                return
            arrays = [pa.concat_arrays(pending[col]) for col in columns]
            if extra is not None:
                part = extra.slice(start, stop - start)
                arrays += [c.combine_chunks() for c in part.columns]
            table = pa.Table.from_arrays(arrays, schema=schema)
            writer.write_table(table, row_group_size=stop - start)
            for col in columns:
                pending[col].clear()
            start, pending_bytes = stop, 0

        for row in range(n_rows):
            for col, items in columns.items():
                im = items[row]
                pending[col].append(
                    null_record(types[col])
                    if im is None
                    else _record(im, types[col], chunk_compression)
                )
                pending_bytes += 0 if im is None else im.meta.nbytes
            # a row group holds ~ROW_GROUP_BYTES of pixels: showing one row
            # decodes its group only, and per-group overhead stays small
            if pending_bytes >= ROW_GROUP_BYTES or row + 1 - start >= ROW_GROUP_ROWS:
                flush(row + 1)
            if progress is not None:
                progress(row + 1, n_rows)
        flush(n_rows)
    return Path(path)


def _via_parquet(path: str | os.PathLike[str], images: Any, **options: Any) -> Path:
    """A Lance table, written as Parquet first (row groups bounded) and then
    streamed into Lance."""
    target = Path(path)
    with tempfile.TemporaryDirectory(
        dir=target.parent, prefix=f".{target.name}.arrowscope-"
    ) as tmp:
        staged = write_ome_table(Path(tmp) / "staged.parquet", images, **options)
        return copy_table(open_source(staged), target, compression=None)


def _row_count(columns: Mapping[str, Sequence[Any]], extra: pa.Table | None) -> int:
    """The rows every image column (and the extra columns) hold alike."""
    lengths = {col: len(items) for col, items in columns.items()}
    if extra is not None:
        lengths["extra_columns"] = extra.num_rows
    if len(set(lengths.values())) > 1:
        raise UnsupportedError(f"columns have different numbers of rows: {lengths}")
    n_rows = next(iter(lengths.values()), 0)
    if n_rows == 0:
        raise UnsupportedError("there is nothing to write (no rows)")
    return n_rows


def _table_schema(
    columns: Mapping[str, Sequence[Any]],
    types: Mapping[str, pa.DataType],
    extra: pa.Table | None,
) -> pa.Schema:
    """The image columns, the extra columns after them, and the exact sizes
    OME-Arrow would round, in the file's metadata."""
    exact = {
        col: e for col, items in columns.items() if (e := _exact_sizes(col, items))
    }
    fields = [pa.field(col, types[col]) for col in columns]
    if extra is not None:
        clash = set(extra.column_names) & set(columns)
        if clash:
            raise UnsupportedError(
                f"extra columns clash with image columns: {sorted(clash)}"
            )
        fields += list(extra.schema)
    return pa.schema(fields, metadata=_file_metadata(exact))


def write_ome_dataset(
    path: str | os.PathLike[str],
    images: Sequence[Any],
    *,
    dims: str = DIMS,
    compression: str | None = "zstd",
    tile: int = 1024,
    pyramid: bool | str = "auto",
    progress: Progress | None = None,
) -> Path:
    """Write images as a typed chunk dataset folder (chunks of 1 plane × ``tile``²).

    dask-backed images are computed one Z-block at a time. ``pyramid`` as in
    :func:`write_ome_parquet`: the levels are made from the same planes as
    they stream past (each plane is read once).
    """
    if pyramid not in (True, False, "auto"):
        raise UnsupportedError(
            f"pyramid={pyramid!r} is not understood", hint="use True, False or 'auto'"
        )

    def levels(meta: ImageMeta) -> int:
        if pyramid is False:
            return 0
        if pyramid == "auto" and max(meta.shape[3:]) <= PYRAMID_MIN_PX:
            return 0
        return pyramid_levels(meta.shape)

    items = [image_to_write(im, dims=dims) for im in images]
    for n, im in enumerate(items):
        if im.meta.id is None:
            items[n] = replace(im, meta=replace(im.meta, id=f"image-{n:05d}"))
    ids = [im.meta.id for im in items]
    if len(set(ids)) != len(ids):
        raise UnsupportedError(f"image ids must be unique, got {ids}")
    total = sum(
        im.meta.shape[0]
        * im.meta.shape[1]
        * im.meta.shape[2]
        * -(-im.meta.shape[3] // tile)
        * -(-im.meta.shape[4] // tile)
        for im in items
    )
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total)

    with atomic_target(path) as tmp:
        tmp.mkdir()
        write_chunk_dataset(
            tmp,
            [(im.meta, im.planes()) for im in items],
            chunk_yx=(tile, tile),
            compression=compression,
            on_chunk=tick,
            pyramid=levels,
        )
    return Path(path)


def _as_table(extra: Any) -> pa.Table | None:
    if extra is None:
        return None
    if isinstance(extra, pa.Table):
        return extra
    if hasattr(extra, "to_arrow"):
        return extra.to_arrow()
    if hasattr(extra, "columns") and hasattr(extra, "index"):
        return pa.Table.from_pandas(extra, preserve_index=False)
    return pa.table(dict(extra))


def copy_table(source: OMESource, dst: Path, *, compression: str | None) -> Path:
    """Write a whole OME-Arrow table (every row and column) to Parquet, IPC or Lance.

    Row group by row group, so memory stays near one group; schema metadata
    is kept, so the copy opens exactly like the original. The format is chosen
    by ``dst``'s suffix (``.lance``: a Lance dataset folder).
    """
    table = source.table
    if table is None:
        raise UnsupportedError(
            "a chunk dataset holds images only; copy it as a dataset",
            path=source.path,
        )
    name = dst.name.lower()
    schema = table.schema

    def batches() -> Iterator[pa.RecordBatch]:
        for group in range(table.num_groups):
            # one contiguous chunk per column: lance panics on sliced input
            yield from table.read_whole_group(group).combine_chunks().to_batches()

    with atomic_target(dst) as tmp:
        fmt = by_name(name, WRITABLE)
        if fmt is LANCE:
            lance = _lance()
            reader = pa.RecordBatchReader.from_batches(schema, batches())
            lance.write_dataset(reader, str(tmp), schema=schema)
        elif fmt is IPC:
            options = pa.ipc.IpcWriteOptions(compression=compression)
            with (
                pa.OSFile(str(tmp), "wb") as sink,
                pa.ipc.new_file(sink, schema, options=options) as writer,
            ):
                for batch in batches():
                    writer.write_batch(batch)
        else:
            with parquet_writer(tmp, schema, compression=compression or "none") as w:
                for group in range(table.num_groups):
                    w.write_table(table.read_whole_group(group))
    return dst


def _lance() -> Any:
    try:
        import lance
    except ImportError as exc:
        raise UnsupportedError(
            "writing Lance needs the 'pylance' package",
            hint="pip install 'arrowscope[lance]'",
        ) from exc
    return lance
