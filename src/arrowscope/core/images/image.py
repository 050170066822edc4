"""Open OME-Arrow sources lazily: files, tables, folders; one image or all.

Opening reads metadata only (the Parquet footer, the ``pixels_meta`` leaves, or
``images.parquet``). Pixels are decoded when a region is read, and only the
stored planes or chunks under that region.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from dataclasses import replace as _replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.fs as pafs

if TYPE_CHECKING:  # dask is imported where an array is made, not at import
    import dask.array as da

from ..errors import (
    ArrowscopeError,
    ImageNotFoundError,
    NotOmeArrowError,
    PixelDataError,
    SchemaError,
)
from .atomic import recover
from .codec import (
    LAYOUT_FIELDS,
    Region,
    check_layout,
    full_region,
    layouts_ok,
)
from .dataset import ChunkDataset, DatasetPixels, is_chunk_dataset
from .metadata import (
    DIMS,
    LABEL_TYPES,
    RGBA,
    Channel,
    ImageMeta,
    meta_from_record,
    uint32_to_rgba,
)
from .pixels import (
    BlankOnError,
    ChannelReader,
    NestedReader,
    OffsetReader,
    PixelReader,
    StackReader,
    block_sizes,
    read_block,
)
from .schema import META_FIELDS, is_ome_arrow_type, iter_ome_columns, missing_fields
from .sources import TableSource, select_fields
from .stores import filesystem_of, is_uri

PathLike = str | os.PathLike[str]
#: File-level metadata key where arrowscope keeps values OME-Arrow rounds (float32).
EXACT_METADATA_KEY = b"arrowscope.exact"
_LABEL_COLUMN = re.compile(r"(_LABL$|mask|label|segment)", re.IGNORECASE)
_RGB_HINT = re.compile(r"(_COMP$|composite)", re.IGNORECASE)
DATASET_COLUMN = "images"


#: Fields read at open: metadata plus plane/chunk coordinates, never pixels.
RECORD_FIELDS = (*META_FIELDS, *LAYOUT_FIELDS)
RGB_CHANNELS = (
    Channel("R", color=0xFF0000FF),
    Channel("G", color=0x00FF00FF),
    Channel("B", color=0x0000FFFF),
)


def _declared_shape(record: dict[str, Any] | None) -> tuple[int, ...] | None:
    """TCZYX as declared, when every size is a plain positive int (else None)."""
    pm = record.get("pixels_meta") if isinstance(record, dict) else None
    if not isinstance(pm, dict):
        return None
    sizes = [pm.get(f"size_{a}") for a in "tczyx"]
    if all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in sizes):
        return tuple(sizes)
    return None


def _exact_metadata(raw: bytes | None) -> dict[str, Any]:
    """arrowscope's exact physical sizes; ignored (float32 kept) when unreadable."""
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


class _MetadataView:
    """What an image's metadata says, for images and image listings alike."""

    meta: ImageMeta
    column: str | None

    @property
    def shape(self) -> tuple[int, int, int, int, int]:
        """TCZYX shape."""
        return self.meta.shape

    @property
    def dtype(self) -> np.dtype[Any]:
        """The pixel dtype the image really holds."""
        return self.meta.dtype

    @property
    def name(self) -> str | None:
        """Image name."""
        return self.meta.name

    @property
    def image_type(self) -> str | None:
        """The stored image type (often null in files written by others)."""
        return self.meta.image_type

    @property
    def is_label(self) -> bool:
        """Whether this is a label image: by type, else by column name and dtype."""
        if self.image_type is not None:
            return self.image_type.lower() in LABEL_TYPES
        if self.dtype.kind not in "biu" or self.meta.rgb:
            return False
        return bool(self.column and _LABEL_COLUMN.search(self.column))

    @property
    def rgb(self) -> bool:
        """Whether this image is an RGB composite (its three channels are R, G, B)."""
        return self.meta.rgb

    @property
    def physical_size(self) -> tuple[float, float, float]:
        """Pixel size along (z, y, x); 1.0 where the file gives none."""
        return tuple(1.0 if v is None else float(v) for v in self.meta.physical_size)  # type: ignore[return-value]

    @property
    def units(self) -> tuple[str | None, str | None, str | None]:
        """Units of :attr:`physical_size` (z, y, x); None where unknown."""
        return self.meta.units

    @property
    def channel_names(self) -> list[str]:
        """One name per channel."""
        C = self.shape[1]
        names = [ch.name for ch in self.meta.channels[:C]]
        return names + [f"C{i}" for i in range(len(names), C)]

    @property
    def channel_colors(self) -> list[RGBA | None]:
        """One RGBA colour (floats 0-1) per channel, None where unset."""
        C = self.shape[1]
        colors: list[RGBA | None] = [
            None if ch.color is None else uint32_to_rgba(ch.color)
            for ch in self.meta.channels[:C]
        ]
        return colors + [None] * (C - len(colors))


class OMEImage(_MetadataView):
    """One OME-Arrow image, opened lazily.

    Attributes are read from metadata at open; pixels are read by
    :meth:`to_dask` (lazy) and :meth:`to_numpy`.
    """

    dims = DIMS

    def __init__(
        self,
        meta: ImageMeta,
        reader: PixelReader,
        *,
        chunk_zyx: tuple[int, int, int] | None = None,
        path: Path | None = None,
        column: str | None = None,
        row: int = 0,
    ) -> None:
        self.meta = meta
        self._reader = reader
        #: Stored reduced-resolution copies (Y and X halved 1, 2… times), if any.
        self.levels: list[OMEImage] = []
        self.path = path
        self.column = column
        self.row = row
        T, C, Z, Y, X = meta.shape
        cz, cy, cx = chunk_zyx or (1, Y, X)
        self._chunks = (
            (1,) * T,
            (C,) if meta.rgb else (1,) * C,
            block_sizes(Z, cz),
            block_sizes(Y, cy),
            block_sizes(X, cx),
        )

    def __repr__(self) -> str:
        return (
            f"OMEImage(name={self.name!r}, shape={self.shape}, dtype={self.dtype}, "
            f"column={self.column!r}, row={self.row})"
        )

    # -- pixels ---------------------------------------------------------------
    def read(self, region: Region | None = None) -> np.ndarray:
        """Decode a TCZYX region (five (start, stop) pairs); default: all of it."""
        return self._reader.read(region or full_region(self.shape))

    def to_dask(self, *, errors: str = "raise") -> da.Array:
        """A 5-D TCZYX dask array, a block per stored plane or chunk; reads nothing.

        ``errors="blank"`` (what the napari reader uses) shows a block that
        cannot be decoded as zeros, with one warning per image naming the
        file, column, row and problem, instead of raising in the viewer.
        """
        import dask.array as da
        from dask.base import tokenize

        if errors not in ("raise", "blank"):
            raise ValueError(f"errors must be 'raise' or 'blank', not {errors!r}")
        reader: PixelReader = (
            self._reader if errors == "raise" else BlankOnError(self._reader)
        )
        name = f"arrowscope-{errors}-" + tokenize(
            str(self.path),
            self.column,
            self.row,
            self.meta.shape,
            self.meta.dtype.str,
            getattr(getattr(self._reader, "source", None), "_token", id(self._reader)),
        )
        return da.map_blocks(
            read_block,
            reader=reader,
            chunks=self._chunks,
            dtype=self.dtype,
            meta=np.empty((0,) * 5, dtype=self.dtype),
            name=name,
        )

    def to_numpy(self) -> np.ndarray:
        """The whole image as a TCZYX numpy array (decoded in one pass)."""
        return self.read()

    def sub_image(
        self, y: tuple[int, int], x: tuple[int, int], *, name: str | None = None
    ) -> OMEImage:
        """A lazy view of the Y range ``y`` and X range ``x`` (clipped to the
        image); reading it decodes only the stored planes or tiles under it."""
        T, C, Z, Y, X = self.shape
        y0, y1 = max(0, int(y[0])), min(Y, int(y[1]))
        x0, x1 = max(0, int(x[0])), min(X, int(x[1]))
        if y1 <= y0 or x1 <= x0:
            raise ImageNotFoundError(
                f"the box y={y}, x={x} lies outside the image ({Y}x{X})",
                path=self.path,
                column=self.column,
                row=self.row,
            )
        meta = _replace(self.meta, shape=(T, C, Z, y1 - y0, x1 - x0), name=name)
        return OMEImage(
            meta,
            OffsetReader(self._reader, y0, x0),
            path=self.path,
            column=self.column,
            row=self.row,
        )

    def channel(self, c: int) -> OMEImage:
        """A lazy view of channel ``c`` alone (its resolution levels too);
        reading it decodes only that channel's planes or chunks."""
        T, C, Z, Y, X = self.shape
        if not 0 <= c < C:
            raise IndexError(f"channel {c} of an image with {C} channels")
        if C == 1:
            return self
        view = OMEImage(
            _replace(
                self.meta,
                shape=(T, 1, Z, Y, X),
                channels=self.meta.channels[c : c + 1],
                rgb=False,
            ),
            ChannelReader(self._reader, c),
            chunk_zyx=(self._chunks[2][0], self._chunks[3][0], self._chunks[4][0]),
            path=self.path,
            column=self.column,
            row=self.row,
        )
        view.levels = [level.channel(c) for level in self.levels]
        return view


@dataclass(frozen=True)
class ImageInfo(_MetadataView):
    """Where an image is in a source, with its metadata (from :func:`list_images`).

    Its metadata properties (``physical_size``, ``units``, ``channel_names``…)
    are those :func:`open_image` gives for the same image.
    """

    column: str
    row: int
    meta: ImageMeta


class OMESource:
    """An opened file, folder or table that holds OME-Arrow images.

    Use :func:`open_source`. ``image_columns`` lists columns with images;
    ``empty_columns`` those whose every row is empty (e.g. null-typed).
    """

    def __init__(
        self, source: PathLike | pa.Table | Sequence[PathLike], filesystem: Any = None
    ) -> None:
        self.dataset: ChunkDataset | None = None
        self.table: TableSource | None = None
        #: Rows that cannot be opened, by column: the error each raises.
        self.problems: dict[str, dict[int, ArrowscopeError]] = {}
        self._reported: set[str] = set()
        from .stores import Store

        # the data files of one table, or a store of another layer (Iceberg)
        files = isinstance(source, (list, tuple, Store))
        local = (
            not files
            and not isinstance(source, pa.Table)
            and (filesystem is None and not is_uri(source))
        )
        if local and not os.path.lexists(source):
            recover(source)  # a folder swap that a kill interrupted
        remote = (
            None
            if local or files or isinstance(source, pa.Table)
            else filesystem_of(source, filesystem)
        )
        if local and is_chunk_dataset(source):
            self.path: Path | None = Path(source)
            self.dataset = ChunkDataset(source)
        info = None
        if remote is not None:
            fs, where = remote
            assert fs is not None  # filesystem_of() gives a filesystem for every URI
            info = fs.get_file_info(where)  # once: the table store reuses it
            if info.type == pafs.FileType.Directory and is_chunk_dataset(where, fs):
                self.path = os.fspath(source)  # type: ignore[assignment]
                self.dataset = ChunkDataset(where, fs, location=os.fspath(source))
        if self.dataset is not None:
            self.image_columns = [DATASET_COLUMN]
            self.empty_columns: list[str] = []
            self.num_rows = len(self.dataset)
            self._exact: dict[str, Any] = {}
            return
        self.table = TableSource(source, filesystem, info=info)
        self.path = self.table.path  # type: ignore[assignment]
        self.num_rows = self.table.num_rows
        found = list(iter_ome_columns(self.table.schema))
        self.image_columns = [name for name, has in found if has]
        self.empty_columns = [name for name, has in found if not has]
        if not found:
            raise NotOmeArrowError(
                "holds no OME-Arrow image column",
                path=self.path,
                hint="OME-Arrow columns are structs with pixels_meta and planes "
                "or chunks",
            )
        self._exact = _exact_metadata(self.table.metadata.get(EXACT_METADATA_KEY))
        self._metas: dict[str, list[ImageMeta | None]] = {}
        self._warned_scale: set[str] = set()

    @property
    def kind(self) -> str:
        """``"dataset"``, ``"parquet"``, ``"ipc"`` or ``"memory"``."""
        return "dataset" if self.dataset is not None else self.table.format  # type: ignore[union-attr]

    @property
    def other_columns(self) -> list[str]:
        """Columns that are not image columns (features, keys, file names)."""
        if self.table is None:
            return []
        skip = set(self.image_columns) | set(self.empty_columns)
        return [n for n in self.table.schema.names if n not in skip]

    def read_columns(self, columns: list[str]) -> pa.Table:
        """Read plain columns of every row (never image columns)."""
        if self.table is None:
            return pa.table({})
        return self.table.read_table(columns)

    def default_column(self) -> str:
        """The column :func:`open_image` uses when none is named."""
        if not self.image_columns:
            raise ImageNotFoundError(
                f"every image column is empty ({', '.join(self.empty_columns)})",
                path=self.path,
            )
        if "ome_arrow" in self.image_columns:
            return "ome_arrow"
        return self.image_columns[0]

    def _check_column(self, column: str) -> None:
        if column in self.empty_columns:
            raise ImageNotFoundError(
                "this column holds no images", path=self.path, column=column
            )
        if column not in self.image_columns:
            if self.table is not None and column in self.table.schema.names:
                ftype = self.table.schema.field(column).type
                if pa.types.is_struct(ftype):
                    raise SchemaError(
                        "the struct lacks required OME-Arrow fields "
                        f"{sorted(missing_fields(ftype))}",
                        path=self.path,
                        column=column,
                    )
                raise NotOmeArrowError(
                    f"is a {ftype} column, not an image column",
                    path=self.path,
                    column=column,
                )
            raise ImageNotFoundError(
                f"no such image column; image columns are {self.image_columns}",
                path=self.path,
                column=column,
            )

    def metas(self, column: str) -> list[ImageMeta | None]:
        """Metadata of every row of ``column`` (None for rows without an image).

        A row whose record is inconsistent (sizes that disagree with what is
        stored, broken metadata) is None too; its error is kept in
        :attr:`problems` and raised when that row is opened.
        """
        if self.dataset is not None:
            return [self.dataset.meta(i) for i in range(self.num_rows)]
        self._check_column(column)
        if column not in self._metas:
            assert self.table is not None
            arr = self.table.read_column(column, RECORD_FIELDS)
            metas: list[ImageMeta | None] = []
            problems = self.problems.setdefault(column, {})
            valid = arr.is_valid().to_numpy(zero_copy_only=False)
            # metadata as Python objects in one conversion, not one per row
            records = select_fields(arr, META_FIELDS).to_pylist()
            checked = layouts_ok(arr, [_declared_shape(r) for r in records])
            for row in range(len(arr)):
                if not valid[row]:
                    metas.append(None)
                    continue
                try:
                    metas.append(
                        self._meta(
                            arr.slice(row, 1),
                            column,
                            row,
                            record=records[row],
                            checked=bool(checked[row]),
                        )
                    )
                except ArrowscopeError as exc:
                    problems[row] = exc
                    metas.append(None)
            self._metas[column] = metas
        return self._metas[column]

    def _meta(
        self,
        cell: pa.StructArray,
        column: str,
        row: int,
        rgb: bool | None = None,
        *,
        record: dict[str, Any] | None = None,
        checked: bool = False,
    ) -> ImageMeta:
        """Metadata of one record, checked against what it stores.

        ``checked``: the planes were already verified for the whole column
        (:func:`~arrowscope.core.images.codec.layouts_ok`).
        """
        where: dict[str, Any] = {"path": self.path, "column": column, "row": row}
        if record is None:
            record = select_fields(cell, META_FIELDS).to_pylist()[0]
        meta = meta_from_record(record, where=where)
        if checked or check_layout(cell, meta, where) == "planes":
            self._check_stored_values(meta, column, row, where)
        exact = self._exact.get(column)
        exact = exact.get(str(row)) if isinstance(exact, dict) else None
        sizes = exact.get("physical_size") if isinstance(exact, dict) else None
        if (
            isinstance(sizes, list)
            and len(sizes) == 3
            and all(s is None or isinstance(s, int | float) for s in sizes)
            and all(s is None or (np.isfinite(s) and s > 0) for s in sizes)
        ) and all(
            s is None or (m is not None and np.float32(s) == np.float32(m))
            for s, m in zip(sizes, meta.physical_size, strict=True)
        ):
            meta = _replace(meta, physical_size=tuple(sizes))
        if meta.extra.get("bad_physical_size") and column not in self._warned_scale:
            self._warned_scale.add(column)
            warnings.warn(
                str(
                    PixelDataError(
                        "physical sizes (z, y, x) = "
                        f"{meta.extra['bad_physical_size']} are not positive finite "
                        "numbers; they are ignored (pixels kept, scale 1)",
                        **where,
                    )
                ),
                stacklevel=3,
            )
        hinted = bool(_RGB_HINT.search(column) or _RGB_HINT.search(meta.name or ""))
        if rgb is None:
            rgb = hinted and meta.shape[1] in (1, 3)
        if rgb:
            T, C, Z, Y, X = meta.shape
            if C == 1:  # one interleaved (Y, X, 3) plane per (t, z)
                meta = _replace(
                    meta,
                    shape=(T, 3, Z, Y, X),
                    rgb=True,
                    interleaved=True,
                    channels=RGB_CHANNELS,
                )
            elif C == 3:  # three planes, R, G, B (CytoDataFrame >= 0.3.6)
                meta = _replace(meta, rgb=True)
            else:
                raise SchemaError(
                    f"an RGB composite declares size_c = 1 or 3, this one {C}",
                    **where,
                )
        return meta

    def _check_stored_values(
        self, meta: ImageMeta, column: str, row: int, where: dict[str, Any]
    ) -> None:
        """Refuse declared sizes larger than the pixels the file holds."""
        assert self.table is not None
        capacity = self.table.stored_plane_values(column)
        if capacity is None:
            return
        group, _ = self.table.locate(row)
        declared = int(np.prod(meta.shape, dtype=object))
        if declared > capacity[group] * 3:  # x3: an RGB composite's planes
            raise PixelDataError(
                f"declares TCZYX {meta.shape} ({declared} pixels) but its row "
                f"group stores at most {capacity[group]} pixel values",
                hint="the file's sizes are wrong; re-export it",
                **where,
            )

    def _dataset_image(self, dataset: ChunkDataset, row: int) -> OMEImage:
        meta = dataset.meta(row)
        cs = meta.extra.get("chunk_shape") or (1, 1, 1, meta.shape[3], meta.shape[4])
        return OMEImage(
            meta,
            DatasetPixels(dataset, meta),
            chunk_zyx=tuple(cs[2:]),
            path=self.path,
            column=DATASET_COLUMN,
            row=row,
        )

    def image(
        self, column: str | None = None, row: int = 0, *, rgb: bool | None = None
    ) -> OMEImage:
        """Open the image at ``(column, row)`` lazily."""
        if not 0 <= row < max(self.num_rows, 0):
            raise ImageNotFoundError(
                f"row {row} is out of range: the source has {self.num_rows} rows",
                path=self.path,
            )
        if self.dataset is not None:
            image = self._dataset_image(self.dataset, row)
            if image.meta.id is not None:
                image.levels = [
                    self._dataset_image(level, r)
                    for level, r in self.dataset.level_rows(image.meta.id)
                ]
            return image
        column = column or self.default_column()
        self._check_column(column)
        assert self.table is not None
        group, offset = self.table.locate(row)
        cell = self.table.read_group(group, column, RECORD_FIELDS).slice(offset, 1)
        if not cell.is_valid()[0].as_py():
            raise ImageNotFoundError(
                "this row holds no image", path=self.path, column=column, row=row
            )
        meta = self._meta(cell, column, row, rgb)
        grid = select_fields(cell, ("chunk_grid",)).to_pylist()[0].get("chunk_grid")
        chunk_zyx = (
            (int(grid["chunk_z"]), int(grid["chunk_y"]), int(grid["chunk_x"]))
            if grid and all(grid.get(k) for k in ("chunk_z", "chunk_y", "chunk_x"))
            else None
        )
        return OMEImage(
            meta,
            NestedReader(self.table, column, row, meta),
            chunk_zyx=chunk_zyx,
            path=self.path,
            column=column,
            row=row,
        )

    def stack(
        self, column: str | None = None
    ) -> tuple[da.Array, list[ImageMeta | None]]:
        """All rows of an image column as one lazy (R, T, C, Z, Y, X) array.

        Crops of different sizes are padded (bottom/right, zeros) to the largest;
        the true shapes are in the returned metadata list (None for empty rows).
        Each block is one row and one channel, so paging through rows reads one
        row group at a time. A row whose pixels cannot be decoded is shown
        blank with a warning, never an exception in the viewer.
        """
        column = column or self.default_column()
        metas = self.metas(column)
        self.report_problems(column)
        real = [m for m in metas if m is not None]
        if not real:
            raise ImageNotFoundError(
                "this column holds no images", path=self.path, column=column
            )
        shape = tuple(max(m.shape[i] for m in real) for i in range(5))
        dtype = np.result_type(*{m.dtype for m in real})
        rgb = any(m.rgb for m in real)
        reader = StackReader(self, column, metas, dtype)
        chunks = (
            (1,) * len(metas),
            (shape[0],),
            (shape[1],) if rgb else (1,) * shape[1],
            *((n,) for n in shape[2:]),
        )
        import dask.array as da
        from dask.base import tokenize

        name = "arrowscope-stack-" + tokenize(
            str(self.path), column, getattr(self.table, "_token", None), len(metas)
        )
        array = da.map_blocks(
            reader.read_block,
            chunks=chunks,
            dtype=dtype,
            meta=np.empty((0,) * 6, dtype=dtype),
            name=name,
        )
        return array, metas

    def report_problems(self, column: str) -> None:
        """Warn once per column about rows that cannot be opened (and why)."""
        problems = self.problems.get(column) or {}
        if not problems or column in self._reported:
            return
        self._reported.add(column)
        first = next(iter(problems.values()))
        more = f" ({len(problems)} rows in all; they are skipped)"
        warnings.warn(f"{first}{more if len(problems) > 1 else ''}", stacklevel=3)

    def iter_images(self) -> Iterator[ImageInfo]:
        """Every image in the source, column by column, row by row."""
        for column in self.image_columns:
            metas = self.metas(column)
            self.report_problems(column)
            for row, meta in enumerate(metas):
                if meta is not None:
                    yield ImageInfo(column, row, meta)


def open_source(
    source: PathLike | pa.Table | OMESource, *, filesystem: Any = None
) -> OMESource:
    """Open a file, folder, URI or table that holds OME-Arrow images (metadata only).

    ``source`` may be a local path, a URI (``s3://…``, ``gs://…``, ``https://…``)
    or a table; ``filesystem`` a ``pyarrow.fs`` filesystem to read it from.
    """
    if isinstance(source, OMESource):
        return source
    return OMESource(source, filesystem)


def open_image(
    source: PathLike | pa.Table | OMESource,
    column: str | None = None,
    row: int = 0,
    *,
    rgb: bool | None = None,
    filesystem: Any = None,
) -> OMEImage:
    """Open one OME-Arrow image lazily (reads metadata only).

    Parameters
    ----------
    source
        An ``.ome.parquet``/``.parquet`` file, an Arrow IPC file
        (``.arrow``/``.feather``), a Lance dataset, a typed chunk dataset
        folder, a URI of one of these (``s3://…``), or a table.
    column
        The image column; by default ``ome_arrow`` if present, else the first
        column holding images.
    row
        The table row (or the image index in a chunk dataset).
    rgb
        Treat a one-channel record whose planes hold 3·Y·X values as an RGB
        composite (read as three channels R, G, B). By default this is
        inferred from CytoDataFrame's naming (``*_COMP`` columns, composite
        names).
    filesystem
        A ``pyarrow.fs`` filesystem to read ``source`` from.

    Returns
    -------
    OMEImage
    """
    return open_source(source, filesystem=filesystem).image(column, row, rgb=rgb)


def list_images(
    source: PathLike | pa.Table | OMESource, *, filesystem: Any = None
) -> list[ImageInfo]:
    """Every ``(column, row)`` image in a source, with its metadata."""
    return list(open_source(source, filesystem=filesystem).iter_images())


def has_ome_arrow(schema: pa.Schema) -> bool:
    """Whether a table schema holds at least one OME-Arrow column."""
    return any(is_ome_arrow_type(f.type) for f in schema)
