"""The typed chunk dataset: a directory of Parquet tables, one chunk per row group.

``images.parquet`` holds one row per image, ``chunks.parquet`` one 5-D TCZYX
chunk per row group, ``index.parquet`` maps chunks to row groups. It is the
only OME-Arrow layout whose images can be read in part, so it is what
arrowscope writes for images too large to decode at once. We add physical
sizes and units to ``images.parquet`` as extra columns, which the reference
reader ignores.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ..errors import (
    AccessError,
    ArrowscopeError,
    CorruptFileError,
    ImageNotFoundError,
    NotOmeArrowError,
    PixelDataError,
    unreadable_folder,
)
from .cache import ROW_GROUP_CACHE
from .codec import Region, check_chunk_cover
from .metadata import (
    LABEL_TYPES,
    Channel,
    ImageMeta,
    dtype_from_name,
    physical_sizes,
    size_field,
)
from .parquet import parquet_file, parquet_writer, read_parquet, write_parquet
from .schema import DATASET_LAYOUT, OME_ARROW_TYPE, OME_ARROW_VERSION
from .stores import open_remote

IMAGES_FILE = "images.parquet"
CHUNKS_FILE = "chunks.parquet"
INDEX_FILE = "index.parquet"
MANIFEST_FILE = "_ome_arrow_dataset.json"
AXES = ("t", "c", "z", "y", "x")
#: arrowscope extra: reduced-resolution copies, ``pyramid/level-<k>/`` (Y and X
#: halved k times), each a typed chunk dataset; readers that do not know it
#: ignore the folder.
PYRAMID_DIR = "pyramid"
PYRAMID_MIN_PX = 8192  # planes with a side above this get a pyramid by default
PYRAMID_TOP_PX = 1024  # the coarsest level has sides of at most this

IMAGES_SCHEMA = pa.schema(
    [
        ("image_id", pa.string()),
        ("name", pa.string()),
        ("image_type", pa.string()),
        ("dtype", pa.string()),
        *[(f"size_{a}", pa.int32()) for a in AXES],
        ("layout", pa.string()),
        *[(f"chunk_{a}", pa.int32()) for a in AXES],
        ("compression", pa.string()),
        ("channels_json", pa.string()),
        # arrowscope extras (exact, float64): the reference layout has no scale.
        *[(f"physical_size_{a}", pa.float64()) for a in "zyx"],
        *[(f"physical_size_{a}_unit", pa.string()) for a in "zyx"],
    ]
)
_POSITION = [(a, pa.int32()) for a in AXES] + [(f"shape_{a}", pa.int32()) for a in AXES]
CHUNKS_SCHEMA = pa.schema(
    [
        ("image_id", pa.string()),
        ("chunk_id", pa.int64()),
        *_POSITION,
        ("dtype", pa.string()),
        ("pixel_bytes", pa.large_binary()),
    ]
)
INDEX_SCHEMA = pa.schema(
    [
        ("image_id", pa.string()),
        ("chunk_id", pa.int64()),
        ("row_group_id", pa.int32()),
        ("row_index_in_group", pa.int32()),
        ("fragment_path", pa.string()),
        *_POSITION,
    ]
)
FILE_METADATA = {
    b"ome.arrow.type": OME_ARROW_TYPE.encode(),
    b"ome.arrow.version": OME_ARROW_VERSION.encode(),
    b"ome.arrow.layout": DATASET_LAYOUT.encode(),
}


def is_chunk_dataset(path: str | os.PathLike[str], filesystem: Any = None) -> bool:
    """Cheap check: a directory holding ``images.parquet`` and ``chunks.parquet``
    (on the local disk, or on ``filesystem``)."""
    if filesystem is not None:
        root = str(path).rstrip("/")
        try:
            infos = filesystem.get_file_info(
                [f"{root}/{IMAGES_FILE}", f"{root}/{CHUNKS_FILE}"]
            )
        except (OSError, pa.ArrowInvalid):
            return False
        return all(i.type == pafs.FileType.File for i in infos)
    p = Path(path)
    try:
        return (
            p.is_dir() and (p / IMAGES_FILE).is_file() and (p / CHUNKS_FILE).is_file()
        )
    except PermissionError as exc:  # a folder that exists but cannot be entered
        raise unreadable_folder(p) from exc


def _channels_from_json(text: str | None, count: int) -> tuple[Channel, ...]:
    try:
        items = json.loads(text) if text else []
    except json.JSONDecodeError:
        items = []
    out = []
    for i in range(count):
        item = items[i] if i < len(items) and isinstance(items[i], dict) else {}
        color = item.get("color_rgba")
        out.append(
            Channel(
                name=str(item.get("name") or f"C{i}"),
                id=item.get("id"),
                color=None if color is None else int(color) & 0xFFFFFFFF,
                emission_um=item.get("emission_um"),
                excitation_um=item.get("excitation_um"),
                illumination=item.get("illumination"),
            )
        )
    return tuple(out)


def _channels_to_json(meta: ImageMeta) -> str:
    return json.dumps(
        [
            {
                "id": ch.id or f"ch-{i}",
                "name": ch.name,
                "emission_um": ch.emission_um,
                "excitation_um": ch.excitation_um,
                "illumination": ch.illumination,
                "color_rgba": ch.color if ch.color is not None else 0xFFFFFFFF,
            }
            for i, ch in enumerate(meta.channels)
        ]
    )


@dataclass
class ChunkIndex:
    """Where each stored chunk of one image lies, as numpy arrays."""

    start: np.ndarray  # (n, 5) TCZYX origins
    shape: np.ndarray  # (n, 5) TCZYX extents
    row_group: np.ndarray
    row_in_group: np.ndarray


class ChunkDataset:
    """Read access to a typed chunk dataset directory (metadata at open only)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        filesystem: Any = None,
        *,
        location: str | None = None,
    ) -> None:
        #: where errors say the dataset is (the URI for remote datasets)
        self.path: Path | str = (
            Path(path) if filesystem is None else (location or str(path))
        )
        self.fs = filesystem
        self.root = str(path).rstrip("/") if filesystem is not None else str(path)
        self._infos: dict[str, Any] = {}
        self._meta_lock = threading.Lock()
        if not is_chunk_dataset(path, filesystem):
            raise NotOmeArrowError(
                "not an OME-Arrow chunk dataset "
                f"(needs {IMAGES_FILE} and {CHUNKS_FILE})",
                path=self.path,
            )
        try:
            self.images = read_parquet(self._source(IMAGES_FILE))
        except PermissionError as exc:
            raise AccessError(
                f"cannot read {IMAGES_FILE}: permission denied",
                path=self.path,
                hint="check the folder's permissions",
            ) from exc
        except (pa.ArrowInvalid, OSError) as exc:
            raise CorruptFileError(
                f"cannot read {IMAGES_FILE}: {exc}", path=self.path
            ) from exc
        missing = {"image_id", "dtype", *(f"size_{a}" for a in AXES)} - set(
            self.images.column_names
        )
        if missing:
            raise CorruptFileError(
                f"{IMAGES_FILE} lacks columns {sorted(missing)}", path=self.path
            )
        if filesystem is None:
            stat = (Path(path) / CHUNKS_FILE).stat()
            self._token: tuple[Any, ...] = (
                str((Path(path) / CHUNKS_FILE).resolve()),
                stat.st_mtime_ns,
                stat.st_size,
            )
        else:
            info = self._info(CHUNKS_FILE)
            self._token = (filesystem.type_name, info.path, info.mtime_ns, info.size)
        self._rows = self.images.to_pylist()
        self._chunks_meta: pq.FileMetaData | None = None
        self._levels: list[ChunkDataset] | None = None

    def __getstate__(self) -> dict[str, Any]:
        # footer and levels are re-read where unpickled
        return {
            **self.__dict__,
            "_chunks_meta": None,
            "_levels": None,
            "_meta_lock": None,
        }

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._meta_lock = threading.Lock()

    def _join(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def _info(self, name: str) -> Any:
        if name not in self._infos:
            self._infos[name] = self.fs.get_file_info(self._join(name))
        return self._infos[name]

    def _source(self, name: str) -> Any:
        """A path (local) or an open file (remote, its size known: no HEAD)."""
        if self.fs is None:
            return Path(self.root) / name
        return open_remote(self.fs, self._info(name))

    def _exists(self, name: str) -> bool:
        if self.fs is None:
            return (Path(self.root) / name).is_file()
        return bool(self._info(name).type == pafs.FileType.File)

    def chunks_file(self) -> pq.ParquetFile:
        """The chunk file, its footer parsed once per dataset (not per chunk read)."""
        with self._meta_lock:  # dask reads tiles on several threads at once
            if self._chunks_meta is None:
                self._chunks_meta = pq.read_metadata(self._source(CHUNKS_FILE))
        return parquet_file(self._source(CHUNKS_FILE), metadata=self._chunks_meta)

    @property
    def levels(self) -> list[ChunkDataset]:
        """Stored reduced-resolution levels (``pyramid/level-1``, ``-2``…), in order.

        Only whole, readable levels count: the first one missing or broken
        ends the list (a pyramid is an aid to viewing; the full resolution
        is always what is read for data).
        """
        if self._levels is None:
            found: list[ChunkDataset] = []
            while True:
                name = f"{PYRAMID_DIR}/level-{len(found) + 1}"
                folder = self._join(name)
                if not is_chunk_dataset(folder, self.fs):
                    break
                try:
                    found.append(
                        ChunkDataset(folder, self.fs, location=f"{self.path}/{name}")
                    )
                except ArrowscopeError:
                    break
            self._levels = found
        return self._levels

    def level_rows(self, image_id: str) -> list[tuple[ChunkDataset, int]]:
        """``(level dataset, row)`` of each stored level holding ``image_id``."""
        out = []
        for level in self.levels:
            ids = level.image_ids
            if image_id not in ids:
                break
            out.append((level, ids.index(image_id)))
        return out

    @property
    def image_ids(self) -> list[str]:
        """Identifiers of the images, in table order."""
        return [str(r["image_id"]) for r in self._rows]

    def __len__(self) -> int:
        return len(self._rows)

    def meta(self, index: int) -> ImageMeta:
        """Metadata of image ``index`` (a row of ``images.parquet``)."""
        if not 0 <= index < len(self._rows):
            raise ImageNotFoundError(
                f"the dataset holds {len(self._rows)} images; "
                f"there is no image {index}",
                path=self.path,
            )
        r = self._rows[index]
        where = {"path": self.path, "row": index}
        shape = tuple(size_field(r, a, where) for a in AXES)
        sizes, bad = physical_sizes(r)
        # The reference reader calls sizes without a unit micrometres.
        units = tuple(r.get(f"physical_size_{a}_unit") or "µm" for a in "zyx")
        return ImageMeta(
            shape=shape,  # type: ignore[arg-type]
            dtype=dtype_from_name(r["dtype"], where=where),
            name=r.get("name"),
            id=str(r["image_id"]),
            image_type=r.get("image_type"),
            channels=_channels_from_json(r.get("channels_json"), shape[1]),
            physical_size=sizes,  # type: ignore[arg-type]
            units=units,  # type: ignore[arg-type]
            extra={"chunk_shape": tuple(int(r.get(f"chunk_{a}") or 0) for a in AXES)},
        )

    def chunk_index(self, image_id: str) -> ChunkIndex:
        """Positions and row groups of an image's chunks (no pixel bytes read)."""
        cols = ["image_id", "chunk_id", *AXES, *(f"shape_{a}" for a in AXES)]
        try:
            if self._exists(INDEX_FILE):
                table = pq.read_table(
                    self._join(INDEX_FILE),
                    filesystem=self.fs,
                    page_checksum_verification=True,
                    columns=[*cols, "row_group_id", "row_index_in_group"],
                    filters=pc.field("image_id") == image_id,
                )
                rg = table["row_group_id"].to_numpy()
                rig = table["row_index_in_group"].to_numpy()
            else:
                pf = parquet_file(self._source(CHUNKS_FILE))
                table = pf.read(columns=cols)
                sizes = [
                    pf.metadata.row_group(i).num_rows for i in range(pf.num_row_groups)
                ]
                rg = np.repeat(np.arange(len(sizes)), sizes)
                starts = np.repeat(np.cumsum([0, *sizes[:-1]]), sizes)
                rig = np.arange(table.num_rows) - starts
                keep = np.asarray(
                    pc.equal(table["image_id"], image_id).to_numpy(
                        zero_copy_only=False
                    ),
                    bool,
                )
                table, rg, rig = table.filter(pa.array(keep)), rg[keep], rig[keep]
        except (pa.ArrowInvalid, OSError) as exc:
            raise CorruptFileError(
                f"cannot read the chunk index: {exc}", path=self.path
            ) from exc
        start = (
            np.stack([table[a].to_numpy().astype(np.int64) for a in AXES], axis=1)
            if table.num_rows
            else np.zeros((0, 5), np.int64)
        )
        shape = (
            np.stack(
                [table[f"shape_{a}"].to_numpy().astype(np.int64) for a in AXES], axis=1
            )
            if table.num_rows
            else np.zeros((0, 5), np.int64)
        )
        return ChunkIndex(
            start, shape, np.asarray(rg, np.int64), np.asarray(rig, np.int64)
        )


class DatasetPixels:
    """Region reads of one dataset image: only the chunks under the region."""

    def __init__(self, dataset: ChunkDataset, meta: ImageMeta) -> None:
        self.dataset = dataset
        self.meta = meta
        assert meta.id is not None
        self.index = dataset.chunk_index(meta.id)
        idx = self.index
        check_chunk_cover(
            dict(zip(AXES, idx.start.T, strict=True)),
            dict(zip(AXES, idx.shape.T, strict=True)),
            meta.shape,
            {"path": dataset.path, "column": None, "row": None},
            what=f"chunk of image {meta.id!r}",
        )

    def _group(self, group: int, keep: bool = True) -> pa.Table:
        def load() -> pa.Table:
            try:
                return self.dataset.chunks_file().read_row_group(
                    group, columns=["image_id", "dtype", "pixel_bytes"]
                )
            except (pa.ArrowInvalid, OSError) as exc:
                raise CorruptFileError(
                    f"cannot read chunk row group {group}: {exc}",
                    path=self.dataset.path,
                ) from exc

        return ROW_GROUP_CACHE.get_or_load(
            (self.dataset._token, group), load, keep=keep
        )

    def read(self, region: Region) -> np.ndarray:
        """Decode the pixels of ``region`` (five TCZYX (start, stop) pairs).

        Chunks the region only partly covers are kept in the row-group cache
        (the neighbouring reads want them too); a chunk read whole is not: its
        pixels are the result, which dask (and napari's dask cache) hold.
        """
        lo = np.array([a for a, _ in region])
        hi = np.array([b for _, b in region])
        out = np.zeros(tuple(hi - lo), dtype=self.meta.dtype)
        idx = self.index
        ends = idx.start + idx.shape
        hit = np.all((idx.start < hi) & (ends > lo), axis=1)
        for k in np.flatnonzero(hit):
            whole = bool(np.all((idx.start[k] >= lo) & (ends[k] <= hi)))
            group = self._group(int(idx.row_group[k]), keep=not whole)
            row = int(idx.row_in_group[k])
            if row >= group.num_rows or group.column("image_id")[row].as_py() != (
                self.meta.id
            ):
                raise PixelDataError(
                    f"the index points chunk {tuple(int(v) for v in idx.start[k])} "
                    f"of image {self.meta.id!r} at row {row} of row group "
                    f"{int(idx.row_group[k])}, which holds another image's chunk",
                    path=self.dataset.path,
                    hint="index.parquet does not match chunks.parquet; re-export",
                )
            dtype_name = group.column("dtype")[row].as_py()
            dtype = dtype_from_name(dtype_name) if dtype_name else self.meta.dtype
            buf = group.column("pixel_bytes")[row].as_buffer()
            cshape = tuple(int(v) for v in idx.shape[k])
            expected = int(np.prod(cshape)) * dtype.itemsize
            if buf is None or buf.size != expected:
                raise PixelDataError(
                    f"chunk at {tuple(idx.start[k])} holds "
                    f"{0 if buf is None else buf.size} "
                    f"bytes, expected {expected}",
                    path=self.dataset.path,
                )
            block = np.frombuffer(buf, dtype=dtype).reshape(cshape)
            a = np.maximum(idx.start[k], lo)
            b = np.minimum(ends[k], hi)
            src = tuple(
                slice(int(s), int(e))
                for s, e in zip(a - idx.start[k], b - idx.start[k], strict=True)
            )
            dst = tuple(
                slice(int(s), int(e)) for s, e in zip(a - lo, b - lo, strict=True)
            )
            out[dst] = block[src]
        return out


# -- writing ---------------------------------------------------------------------
def iter_dataset_chunks(
    slabs: Iterable[tuple[int, int, int, np.ndarray]], chunk_yx: tuple[int, int]
) -> Iterator[dict[str, Any]]:
    """Split (t, c, z, plane) slabs into chunk rows of ``chunk_yx`` tiles."""
    cy, cx = chunk_yx
    for t, c, z, plane in slabs:
        Y, X = plane.shape
        for y in range(0, Y, cy):
            for x in range(0, X, cx):
                tile = np.ascontiguousarray(plane[y : y + cy, x : x + cx])
                yield {
                    "t": t,
                    "c": c,
                    "z": z,
                    "y": y,
                    "x": x,
                    "shape_t": 1,
                    "shape_c": 1,
                    "shape_z": 1,
                    "shape_y": tile.shape[0],
                    "shape_x": tile.shape[1],
                    "tile": tile,
                }


def _chunk_batch(row: dict[str, Any], dtype: str, tile: np.ndarray) -> pa.RecordBatch:
    """One chunks.parquet row; the pixel bytes are wrapped, not copied."""
    buf = pa.py_buffer(np.ascontiguousarray(tile))
    offsets = pa.py_buffer(np.array([0, buf.size], np.int64))
    pixels = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, buf])
    arrays = [
        pa.array([row[name]], CHUNKS_SCHEMA.field(name).type)
        for name in CHUNKS_SCHEMA.names[:-2]
    ]
    return pa.record_batch(
        [*arrays, pa.array([dtype], pa.string()), pixels], schema=CHUNKS_SCHEMA
    )


def pyramid_levels(shape: tuple[int, ...], top_px: int | None = None) -> int:
    """How many halvings of Y and X bring the plane to at most ``top_px`` a side
    (default :data:`PYRAMID_TOP_PX`)."""
    top_px = top_px or PYRAMID_TOP_PX
    side, levels = max(int(shape[-2]), int(shape[-1])), 0
    while side > top_px:
        side, levels = -(-side // 2), levels + 1
    return levels


def downsample(plane: np.ndarray, labels: bool) -> np.ndarray:
    """Halve a YX plane (odd sizes round up).

    Intensities: the mean of each 2×2 block, rounded, in the plane's dtype
    (edges repeated where a size is odd). Labels: the top-left pixel of each
    block, so every value is a real label and no new ones appear.
    """
    if labels or plane.dtype.kind == "b":
        return np.ascontiguousarray(plane[::2, ::2])
    Y, X = plane.shape
    if Y % 2 or X % 2:
        plane = np.pad(plane, ((0, Y % 2), (0, X % 2)), mode="edge")
    blocks = plane.reshape(plane.shape[0] // 2, 2, plane.shape[1] // 2, 2)
    if plane.dtype.kind == "f":
        acc = np.float64 if plane.dtype.itemsize == 8 else np.float32
        return blocks.mean(axis=(1, 3), dtype=acc).astype(plane.dtype)
    if plane.dtype.itemsize == 8:  # a sum of four 64-bit integers may overflow
        mean = blocks.mean(axis=(1, 3), dtype=np.float64)
        info = np.iinfo(plane.dtype)
        return np.clip(np.rint(mean), info.min, info.max).astype(plane.dtype)
    total = blocks.sum(axis=(1, 3), dtype=np.int64)
    return ((total + 2) // 4).astype(plane.dtype)


def level_meta(meta: ImageMeta, level: int) -> ImageMeta:
    """Metadata of ``meta``'s image halved ``level`` times in Y and X."""
    T, C, Z, Y, X = meta.shape
    f = 2**level
    z, y, x = meta.physical_size
    return replace(
        meta,
        shape=(T, C, Z, -(-Y // f), -(-X // f)),
        physical_size=(z, None if y is None else y * f, None if x is None else x * f),
        extra={},
    )


class ChunkDatasetWriter:
    """Streams planes into a new typed chunk dataset in ``directory``.

    Call :meth:`write_plane` for each (t, c, z) plane of an image, then
    :meth:`add_image` with its metadata; :meth:`close` writes the image table,
    the chunk index and the manifest.
    """

    def __init__(
        self, directory: Path, *, chunk_yx: tuple[int, int], compression: str | None
    ) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.chunk_yx = chunk_yx
        self.compression = compression
        self._images: list[dict[str, Any]] = []
        self._index: list[dict[str, Any]] = []
        self._chunk_id = 0
        keys = [n for n in CHUNKS_SCHEMA.names if n != "pixel_bytes"]
        self._writer = parquet_writer(
            directory / CHUNKS_FILE,
            CHUNKS_SCHEMA.with_metadata(FILE_METADATA),
            compression=compression,
            # no dictionary or min/max statistics for megabyte pixel values:
            # they cost several times the write itself and no reader uses them
            use_dictionary=["image_id", "dtype"],
            write_statistics=keys,
        )

    def write_plane(
        self, meta: ImageMeta, t: int, c: int, z: int, plane: np.ndarray
    ) -> int:
        """Write one plane of image ``meta`` as tiles; returns the tile count."""
        little = meta.dtype.newbyteorder("<") if meta.dtype.itemsize > 1 else meta.dtype
        count = 0
        for chunk in iter_dataset_chunks([(t, c, z, plane)], self.chunk_yx):
            tile = chunk.pop("tile")
            row = {"image_id": meta.id, "chunk_id": self._chunk_id, **chunk}
            self._writer.write_batch(
                _chunk_batch(row, meta.dtype.name, tile.astype(little, copy=False))
            )
            self._index.append(
                {
                    **row,
                    "row_group_id": self._chunk_id,
                    "row_index_in_group": 0,
                    "fragment_path": CHUNKS_FILE,
                }
            )
            self._chunk_id += 1
            count += 1
        return count

    def add_image(self, meta: ImageMeta) -> None:
        """Record image ``meta`` (whose planes were written) in ``images.parquet``."""
        Y, X = meta.shape[3:]
        self._images.append(
            {
                "image_id": meta.id,
                "name": meta.name,  # no made-up names: readers fall back
                "image_type": meta.image_type,
                "dtype": meta.dtype.name,
                **{f"size_{a}": s for a, s in zip(AXES, meta.shape, strict=True)},
                "layout": "tile",
                **{
                    f"chunk_{a}": s
                    for a, s in zip(
                        AXES,
                        (1, 1, 1, min(Y, self.chunk_yx[0]), min(X, self.chunk_yx[1])),
                        strict=True,
                    )
                },
                "compression": self.compression,
                "channels_json": _channels_to_json(meta),
                **{
                    f"physical_size_{a}": v
                    for a, v in zip("zyx", meta.physical_size, strict=True)
                },
                **{
                    f"physical_size_{a}_unit": v
                    for a, v in zip("zyx", meta.units, strict=True)
                },
            }
        )

    def abort(self) -> None:
        """Close the chunk file without writing the tables that describe it."""
        self._writer.close()

    def close(self) -> None:
        """Finish: close the chunk file, write the image table, index, manifest."""
        self._writer.close()
        for name, rows, schema in (
            (IMAGES_FILE, self._images, IMAGES_SCHEMA),
            (INDEX_FILE, self._index, INDEX_SCHEMA),
        ):
            write_parquet(
                pa.Table.from_pylist(rows, schema=schema.with_metadata(FILE_METADATA)),
                self.directory / name,
                compression=self.compression,
            )
        manifest = {
            "type": OME_ARROW_TYPE,
            "version": OME_ARROW_VERSION,
            "layout": DATASET_LAYOUT,
            "image_count": len(self._images),
            "chunk_count": self._chunk_id,
            "writer": "arrowscope",
        }
        (self.directory / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))


def write_chunk_dataset(
    directory: Path,
    images: list[tuple[ImageMeta, Iterable[tuple[int, int, int, np.ndarray]]]],
    *,
    chunk_yx: tuple[int, int],
    compression: str | None,
    on_chunk: Any = None,
    pyramid: Any = None,
) -> None:
    """Write a typed chunk dataset into an empty ``directory``.

    ``images`` pairs each image's metadata with an iterator of its (t, c, z)
    planes, so that dask-backed images stream plane by plane with bounded
    memory. ``on_chunk`` is called after each full-resolution chunk (for
    progress bars). ``pyramid(meta)`` gives how many reduced levels to store
    for an image (default none): level *k* goes to ``pyramid/level-k/``, a
    typed chunk dataset of its own, made from the same plane stream (each
    plane is read once; see :func:`downsample`).
    """
    base = ChunkDatasetWriter(directory, chunk_yx=chunk_yx, compression=compression)
    levels: list[ChunkDatasetWriter] = []
    try:
        for n, (meta, slabs) in enumerate(images):
            meta = replace(meta, id=meta.id or f"image-{n:05d}")
            count = int(pyramid(meta)) if pyramid is not None else 0
            while len(levels) < count:
                levels.append(
                    ChunkDatasetWriter(
                        directory / PYRAMID_DIR / f"level-{len(levels) + 1}",
                        chunk_yx=chunk_yx,
                        compression=compression,
                    )
                )
            metas = [level_meta(meta, k) for k in range(1, count + 1)]
            is_label = (meta.image_type or "").lower() in LABEL_TYPES
            for t, c, z, plane in slabs:
                for _ in range(base.write_plane(meta, t, c, z, plane)):
                    if on_chunk is not None:
                        on_chunk()
                for writer, lmeta in zip(levels, metas, strict=False):
                    plane = downsample(plane, is_label)
                    writer.write_plane(lmeta, t, c, z, plane)
            base.add_image(meta)
            for writer, lmeta in zip(levels, metas, strict=False):
                writer.add_image(lmeta)
    except BaseException:
        # a failed write leaves no tables or manifest behind, only closed handles
        # (the caller's temporary folder is then removed)
        for writer in (base, *levels):
            writer.abort()
        raise
    for writer in (base, *levels):
        writer.close()
