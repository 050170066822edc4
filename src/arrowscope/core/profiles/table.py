"""Single-cell profile tables linked to their images by explicit keys.

A :class:`ProfileTable` is a CellProfiler/CytoTable profile table (Parquet,
Arrow IPC or CSV) opened lazily: the footer and the key columns only. Each row
is linked to a field of view by its *image key* columns and to its object by
the compartment's object number and centre — never by row position.

Images are found three ways:

- ``Image_FileName_<Channel>`` (+ ``Image_PathName_<Channel>``) columns; paths
  from another machine are resolved by file name under ``image_root``. Files
  are read lazily through bioio (TIFF, OME-TIFF, OME-Zarr, …) or arrowscope's
  own reader for OME-Parquet;
- an OME-Parquet *image table* (one field of view per row, image and label
  columns) sharing key columns with the profiles — given as ``images=`` or
  recorded in the profile file's metadata under ``arrowscope.images``;
- masks saved by CellProfiler next to the images as
  ``<image file stem>_Mask<Compartment>.tif[f]``, or named by
  ``Image_ObjectsFileName_<Compartment>`` columns. Binary masks are labelled by
  connected components for display (they cannot carry object numbers, so cells
  are matched to components by their centre).
"""

from __future__ import annotations

import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import ArrowscopeError
from ..images.cache import ByteLRU
from ..images.masks import is_binary, label_binary
from .keys import COMPARTMENTS, KeyRoles, _find, detect_keys, group_codes
from .links import IMAGES_METADATA_KEY, FieldOfView, Link
from .source import TableRows, is_text_table, not_a_table_error, read_profile_table

__all__ = [
    "COMPARTMENTS",
    "IMAGES_METADATA_KEY",
    "CellLocation",
    "FieldOfView",
    "KeyRoles",
    "Origin",
    "ProfileTable",
    "TableRows",
    "_find",
    "detect_keys",
    "is_text_table",
    "labels_at",
    "looks_like_profiles",
    "not_a_table_error",
    "read_profile_table",
]


#: fields of view's planes already read (the viewer steps back and forth)
PLANE_CACHE = ByteLRU(256 * 2**20)


@dataclass(frozen=True)
class Origin:
    """What the kind that opened a table knows of it beyond its rows."""

    #: a file in the folder its images are looked up from, when that is not
    #: the table's own folder (CellProfiler's database or image CSV)
    beside: Path | None = None
    #: every other file and folder opening it read (never a write target)
    inputs: tuple[Path, ...] = ()
    #: what opening it found (shown first among the table's problems)
    notes: tuple[str, ...] = ()
    #: a CellProfiler Analyst properties file (``cpa.Properties``)
    properties: Any = None
    #: the warehouse it is a table of, and which table
    warehouse: Any = None
    warehouse_table: str | None = None


@dataclass
class CellLocation:
    """Where a row's cell is: field of view index, centre and box (pixels, y/x)."""

    row: int
    fov: int
    center: tuple[float, float] | None
    bbox: tuple[float, float, float, float] | None  # y0, x0, y1, x1


class ProfileTable:
    """A profile table opened lazily, its rows linked to images by key.

    It holds the rows (a :class:`TableRows`), the key roles and a list of
    :class:`~arrowscope.core.profiles.links.Link` — it knows no link kind by
    name. Use :func:`open_profiles` (or a warehouse's ``profiles()``).
    """

    def __init__(
        self,
        path: str | Path | pa.Table | Sequence[Path] | Any,
        keys: KeyRoles | dict[str, Any] | None = None,
        *,
        origin: Origin | None = None,
        link_options: dict[str, Any] | None = None,
        links: Sequence[Link] | None = None,
        roles: dict[str, Any] | None = None,
    ) -> None:
        """Open ``path`` (a file, URI, in-memory table, data files or a store)
        with the key roles given (or detected, or named by a properties
        file), ``roles`` edited over them, and its links built from
        ``link_options`` (``open_profiles``' options) unless ``links`` are
        given. ``origin``: what the kind that opened it knows beyond its rows.
        """
        origin = origin or Origin()
        self._file = TableRows(
            path
            if isinstance(path, (pa.Table, list, tuple))
            or hasattr(path, "read_group")  # a store (an Iceberg table)
            or _is_uri(path)
            else Path(path)
        )
        self.path: Path | None = self._file.path
        #: where the table is when it is remote (a URI), for messages
        self.uri: str | None = path if isinstance(path, str) and _is_uri(path) else None
        self._source = self._file.source
        self.schema = self._file.schema
        if isinstance(keys, dict):
            keys = KeyRoles(**keys)
        props = origin.properties
        detected = keys or detect_keys(self.schema)
        if props is not None and keys is None:
            detected = props.keys(detected, self.columns)
        #: the key roles, decided once here (panels and commands read them)
        self.keys: KeyRoles = (
            detected.edited(self.columns, **roles) if roles else detected
        )
        #: The warehouse this table was opened from (``open_warehouse``), if any,
        #: and which of its tables (``"profiles.joined_profiles"``).
        self.warehouse: Any = origin.warehouse
        self.warehouse_table: str | None = origin.warehouse_table
        #: QC flags stored with the table (a warehouse's ``quality_control``
        #: tables), aligned to the rows by key: shown when the table is opened.
        self.stored_flags: pa.Table | None = None
        self._take_properties(props)
        #: files the table was read from beside ``path`` (a CellProfiler
        #: database, CSV folder, properties file and its training set)
        self.source_inputs: list[Path] = list(origin.inputs)
        found: list[str] = []
        if links is None:
            from .links import build_links

            links, found = build_links(
                self.keys,
                table_path=origin.beside or self.path,
                table_uri=self.uri,
                metadata=self.metadata,
                **(link_options or {}),
            )
        #: the ways from rows to images, asked in order
        self.links: list[Link] = list(links)
        self.problems: list[str] = [*origin.notes, *found]
        self._key_table: pa.Table | None = None
        self._fovs: list[FieldOfView] | None = None
        self._fov_of_row: np.ndarray | None = None
        self._plane_shape: tuple[Any, tuple[int, int] | None] | None = None
        self._stacks_name = ""
        #: problems found on opening (kept when the links are rebuilt)
        self._open_problems: list[str] = list(self.problems)

    def _take_properties(self, props: Any) -> None:
        """What a CellProfiler Analyst properties file says of the table: each
        channel's colour, the columns the classifier ignores (regular
        expressions), its training set, the properties file itself, and the
        plate and well columns when it names them (``plate_id``,
        ``well_id``; else the plate map finds them by name)."""
        self.channel_colors: dict[str, str] = (
            dict(props.channel_colors) if props else {}
        )
        self.classifier_ignore: list[str] = list(props.ignore) if props else []
        self.training_set: Path | None = props.training_set if props else None
        self.properties: Path | None = props.path if props else None
        self.plate_keys: tuple[str | None, str] | None = (
            props.plate_keys(self.columns) if props else None
        )

    @property
    def metadata(self) -> dict[bytes, bytes]:
        """The stored table's schema metadata."""
        return self._file.metadata

    @property
    def inputs(self) -> list[Path]:
        """The local files and folders this table reads: never write onto them."""
        found: list[Any] = [
            self.path,
            getattr(self.warehouse, "root", None),
            *self.source_inputs,
            self.properties,
            self.training_set,
        ]
        for link in self.links:
            found += link.inputs()
        return list(dict.fromkeys(p for p in found if isinstance(p, Path)))

    def options(self) -> dict[str, Any]:
        """The ``open_profiles`` options that reopen this table with its links."""
        out: dict[str, Any] = {}
        for link in self.links:
            out.update({k: v for k, v in link.options().items() if v is not None})
        return out

    def link(self, kind: str) -> Link | None:
        """The first link of a kind (``"files"``, ``"image table"``…), or None."""
        return next((li for li in self.links if li.kind == kind), None)

    # ---- table access
    @property
    def num_rows(self) -> int:
        return int(self._source.num_rows)

    @property
    def columns(self) -> list[str]:
        return list(self.schema.names)

    def read(
        self, columns: Sequence[str], rows: Sequence[int] | np.ndarray | None = None
    ) -> pa.Table:
        """Read ``columns`` (projection), optionally only ``rows`` (in that order).

        Key columns come from the key table already in memory, not the file."""
        kt = self._key_table
        if kt is not None and all(c in kt.column_names for c in columns):
            table = kt.select(list(columns))
        else:
            table = self._file.read(columns)
        if rows is not None:
            table = table.take(pa.array(np.asarray(rows, np.int64)))
        return table

    def read_page(self, columns: Sequence[str], row: int) -> tuple[int, pa.Table]:
        """The rows stored together with ``row`` (a row group): their first
        row and ``columns`` — what a table view reads to draw a few rows."""
        return self._file.read_page(columns, row)

    def note_problem(self, problem: str) -> None:
        """A problem found by the caller that opened this table (a warehouse)."""
        self._open_problems.append(problem)
        self.problems.append(problem)

    def add_stored_flags(self, flags: pa.Table) -> None:
        """QC flags stored with the table (one boolean column per condition,
        aligned to the rows): a row is flagged for a condition if any stored
        table says so."""
        if self.stored_flags is None:
            self.stored_flags = flags
            return
        for c in flags.column_names:
            names = self.stored_flags.column_names
            if c in names:
                merged = pc.or_(self.stored_flags.column(c), flags.column(c))
                self.stored_flags = self.stored_flags.set_column(
                    names.index(c), c, merged
                )
            else:
                self.stored_flags = self.stored_flags.append_column(c, flags.column(c))

    def add_columns(self, columns: dict[str, pa.Array]) -> None:
        """Add columns aligned to the rows (flags joined by key, say)."""
        self._file.add_columns(columns)
        self.schema = self._file.schema

    @property
    def key_table(self) -> pa.Table:
        """The key columns of every row (read once)."""
        if self._key_table is None:
            self._key_table = self.read(self.keys.columns())
        return self._key_table

    def invalidate(self) -> None:
        """Forget derived state after :attr:`keys` or the roots were edited."""
        self._key_table = self._fovs = self._fov_of_row = None
        self.problems = list(self._open_problems)

    # ---- fields of view
    @property
    def fields_of_view(self) -> list[FieldOfView]:
        """One entry per distinct image key, in first-seen order."""
        if self._fovs is None:
            self._build_fovs()
        assert self._fovs is not None
        return self._fovs

    @property
    def fov_of_row(self) -> np.ndarray:
        """Field-of-view index of each row (-1 when the row has no image key)."""
        if self._fov_of_row is None:
            self._build_fovs()
        assert self._fov_of_row is not None
        return self._fov_of_row

    def _duplicate_keys(self, kt: pa.Table, fov_of_row: np.ndarray) -> str | None:
        """A problem naming (image, object) keys that occur more than once.

        From the rows' field codes and object numbers, sorted once with numpy
        (a group-by of every row cost a JUMP plate 0.4 s and 150 MB)."""
        obj = self.keys.object
        if not obj or kt.num_rows < 2:
            return None
        objects = kt.column(obj)
        if not pa.types.is_integer(objects.type):
            objects = pc.cast(objects, pa.float64(), safe=False)
        numbers = objects.fill_null(-1).to_numpy(zero_copy_only=False)
        order = np.lexsort((numbers, fov_of_row))
        f, o = fov_of_row[order], numbers[order]
        same = (f[1:] == f[:-1]) & (o[1:] == o[:-1]) & (f[1:] >= 0)
        if not same.any():
            return None
        rows = np.unique(order[1:][same])
        columns = [*self.keys.image, obj]
        picked = kt.select(columns).take(pa.array(rows))
        counts = picked.group_by(columns).aggregate([([], "count_all")])
        first = counts.slice(0, 3).to_pylist()
        shown = "; ".join(
            ", ".join(f"{c}={r[c]!r}" for c in columns)
            + f" ({r['count_all'] + 1} rows)"
            for r in first
        )
        return (
            f"{counts.num_rows} (image, object) keys occur more than once, so "
            f"those cells' rows are ambiguous: {shown}"
            + (" …" if counts.num_rows > 3 else "")
            + "; check that the table holds one plate (or add its plate column)"
        )

    def _build_fovs(self) -> None:
        # a new build names new plane stacks (their cached planes were the
        # old links' images)
        self._stacks_name = f"arrowscope-plane-{uuid.uuid4().hex}"
        kt = self.key_table
        n = kt.num_rows
        self.problems = list(self._open_problems)
        if not self.keys.image:
            self._fovs, self._fov_of_row = [], np.full(n, -1, np.int32)
            if self.links:
                self.problems.append(
                    "no image key columns found: rows cannot be linked to images"
                )
            return

        valid = np.ones(n, bool)
        for c in self.keys.image:
            valid &= kt.column(c).is_valid().to_numpy(zero_copy_only=False)
        where = np.flatnonzero(valid)
        sub = (
            kt.select(self.keys.image).take(pa.array(where)) if not valid.all() else kt
        )
        codes, keys = group_codes(sub, self.keys.image)  # first-seen order
        index_type = np.int32 if n < 2**31 else np.int64  # 4 B a row where it fits
        fov_of_row = np.full(n, -1, index_type)
        fov_of_row[where] = codes
        order = np.argsort(codes, kind="stable")
        bounds = np.searchsorted(codes[order], np.arange(len(keys) + 1))
        by_field = where[order].astype(index_type)  # each field's rows: a view
        members = [by_field[bounds[g] : bounds[g + 1]] for g in range(len(keys))]
        index = dict.fromkeys(keys)
        if (fov_of_row < 0).any():
            self.problems.append(
                f"{int((fov_of_row < 0).sum())} row(s) have an empty image key"
            )
        duplicated = self._duplicate_keys(kt, fov_of_row)
        if duplicated is not None:
            import warnings

            self.problems.append(duplicated)
            warnings.warn(duplicated, UserWarning, stacklevel=3)
        fovs = [
            FieldOfView(key, rows) for key, rows in zip(index, members, strict=True)
        ]
        for link in self.links:  # in order: a later link may fill what is left
            self.problems += link.attach(fovs, self)
        self._fovs, self._fov_of_row = fovs, fov_of_row

    # ---- cells
    def _floats(self, col: str | None) -> np.ndarray | None:
        if col is None:
            return None
        return (
            self.key_table.column(col).cast(pa.float64()).to_numpy(zero_copy_only=False)
        )

    def centers(self) -> np.ndarray:
        """(N, 2) y/x centre of every row in pixels; NaN where unknown."""
        if self.keys.center is None:
            return np.full((self.num_rows, 2), np.nan)
        x, y = (self._floats(c) for c in self.keys.center)
        return np.stack([y, x], axis=1)  # type: ignore[list-item]

    def bboxes(self) -> np.ndarray | None:
        """(N, 4) y0, x0, y1, x1 box of every row in pixels (NaN where unknown)."""
        if self.keys.bbox is None:
            return None
        x0, y0, x1, y1 = (self._floats(c) for c in self.keys.bbox)
        return np.stack([y0, x0, y1, x1], axis=1)  # type: ignore[list-item]

    def locate(self, row: int) -> CellLocation:
        """Field of view, centre (y, x) and box (y0, x0, y1, x1) of ``row``."""
        if not 0 <= row < self.num_rows:
            raise ArrowscopeError(
                f"row {row} is out of range (0..{self.num_rows - 1})", path=self.path
            )
        center = None
        if self.keys.center:
            x, y = (self.key_table.column(c)[row].as_py() for c in self.keys.center)
            if x is not None and y is not None:
                center = (float(y), float(x))
        bbox = None
        if self.keys.bbox:
            x0, y0, x1, y1 = (
                self.key_table.column(c)[row].as_py() for c in self.keys.bbox
            )
            if None not in (x0, y0, x1, y1):
                bbox = (float(y0), float(x0), float(y1), float(x1))
        return CellLocation(row, int(self.fov_of_row[row]), center, bbox)

    # ---- crops
    def crop(self, row: int, channel: str | None = None) -> Any:
        """The crop of ``row``'s cell in ``channel`` (default: the first channel).

        The stored crop where the table is linked to one (CytoTable's
        ``image_crops``, by ``Metadata_ObjectID`` and channel), else a lazy cut
        of the field's image by the row's bounding box (``Metadata_SourceBBox*``
        or the compartment's box). Returns an
        :class:`~arrowscope.core.images.image.OMEImage`.
        """
        channels = self.channel_names
        channel = channel or (channels[0] if channels else None)
        if channel is None or channel not in channels:
            raise ArrowscopeError(
                f"no channel {channel!r}; channels are {channels}", path=self.path
            )
        stored = self.stored_crop(row, channel)
        if stored is not None:
            return stored
        loc = self.locate(row)
        if loc.bbox is None or loc.fov < 0:
            raise ArrowscopeError(
                "this row has no bounding box or field of view to cut a crop from",
                path=self.path,
                row=row,
                hint="the table needs *_AreaShape_BoundingBox* or "
                "Metadata_SourceBBox* columns",
            )
        image = self._channel_image(self.fields_of_view[loc.fov], channel)
        if image is None:
            raise ArrowscopeError(
                f"the field of this row has no {channel!r} image",
                path=self.path,
                row=row,
            )
        y0, x0, y1, x1 = loc.bbox
        return image.sub_image(
            (int(np.floor(y0)), int(np.ceil(y1))),
            (int(np.floor(x0)), int(np.ceil(x1))),
            name=f"row {row} {channel}",
        )

    def stored_crop(self, row: int, channel: str) -> Any:
        """A stored crop of ``row`` in ``channel`` from a link that keeps crops
        (CytoTable's ``image_crops``), or None."""
        for link in self.links:
            found = link.stored_crop(self, row, channel)
            if found is not None:
                return found
        return None

    def _channel_image(self, fov: FieldOfView, channel: str) -> Any:
        """The field's ``channel`` as a lazy image, from the first link that has it."""
        for link in self.links:
            image = link.channel_image(fov, channel)
            if image is not None:
                return image
        return None

    def object_numbers(self) -> np.ndarray | None:
        col = self.keys.object
        if col is None:
            return None
        return self.key_table.column(col).cast(pa.int64()).fill_null(-1).to_numpy()

    # ---- lazy pixels
    @property
    def channel_names(self) -> list[str]:
        fovs = self.fields_of_view  # links learn their channels when attached
        for link in self.links:
            names = link.channel_names()
            if names is not None:
                return names
        found: list[str] = []  # linked per field (image assets, source images)
        for fov in fovs:
            found += [ch for ch in fov.channels if ch not in found]
        return found

    @property
    def mask_names(self) -> list[str]:
        names: list[str] = []
        for fov in self.fields_of_view:
            names += [m for m in fov.masks if m not in names]
        for link in self.links:
            names += [m for m in link.mask_names() if m not in names]
        return names

    def plane_shape(self) -> tuple[int, int] | None:
        """(Y, X) of the fields of view, from the first image found (header only).

        Found once per build of the fields of view: the layers, markers and
        every channel stack ask, and a header in a bucket is a request.
        """
        fovs = self.fields_of_view
        cached = self._plane_shape
        if cached is not None and cached[0] is fovs:
            return cached[1]
        shape = self._first_plane_shape(fovs)
        self._plane_shape = (fovs, shape)
        return shape

    def _first_plane_shape(self, fovs: list[FieldOfView]) -> tuple[int, int] | None:
        for fov in fovs:
            for link in self.links:
                try:
                    shape = link.plane_shape(fov)
                except ArrowscopeError as exc:  # another field may do
                    self.note_problem(f"field {fov.label}: {exc}")
                    break
                if shape is not None:
                    return shape
        return None

    def channel_stack(self, channel: str) -> Any:
        """A lazy (F, Y, X) dask array of ``channel`` over the fields of view.

        Missing images are blank planes (and listed in :attr:`problems`).
        """
        return self._stack(
            f"channel:{channel}",
            lambda fov: self._channel_plane(fov, channel),
            self._channel_dtype(channel),
        )

    def mask_stack(self, compartment: str) -> Any:
        """A lazy (F, Y, X) int32 label stack of ``compartment`` masks."""
        return self._stack(
            f"mask:{compartment}",
            lambda fov: self._mask_plane(fov, compartment),
            np.dtype(np.int32),
        )

    def _channel_dtype(self, channel: str) -> np.dtype[Any]:
        for fov in self.fields_of_view:
            for link in self.links:
                dtype = link.field_dtype(fov, channel)
                if dtype is not None:
                    return dtype
        for link in self.links:
            dtype = link.channel_dtype(channel)
            if dtype is not None:
                return dtype
        return np.dtype(np.uint16)

    def _stack(
        self,
        what: str,
        plane: Callable[[FieldOfView], np.ndarray | None],
        dtype: np.dtype[Any],
    ) -> Any:
        import dask
        import dask.array as da

        shape = self.plane_shape()
        if shape is None:
            refused = [p for p in self.problems if p.startswith("not followed: ")]
            if refused:
                more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
                raise ArrowscopeError(
                    "no image or mask of any field of view was read: the links "
                    f"were refused, {refused[0].removeprefix('not followed: ')}"
                    f"{more}",
                    path=self.uri or self.path,
                )
            raise ArrowscopeError(
                "no image or mask of any field of view was found",
                path=self.uri or self.path,
                hint="give the folder holding the images: --images FOLDER on the "
                "command line, image_root= in Python",
            )

        fovs = self.fields_of_view
        # Named, not tokenized: hashing a field's linked images pickles them
        # (1.7 s for ten fields of a warehouse). One name per build of the
        # fields and channel: the gallery's crops and the classifier reuse the
        # planes the viewer has read, from the plane cache.
        name = f"{self._stacks_name}-{what}"

        warned: set[str] = set()

        def read(i: int) -> np.ndarray:
            try:
                got = plane(fovs[i])
            except ArrowscopeError as exc:  # blank, said once per image
                if str(exc) not in warned:
                    warned.add(str(exc))
                    warnings.warn(
                        f"{exc} (field {fovs[i].label} shown blank)", stacklevel=2
                    )
                got = None
            out = np.zeros(shape, dtype)
            if got is not None:
                h, w = min(shape[0], got.shape[0]), min(shape[1], got.shape[1])
                out[:h, :w] = got[:h, :w]
            return out

        def load(i: int) -> np.ndarray:
            # planes are kept here (thread-safe, bounded by bytes), not by
            # napari's dask cache: that one is a global dask callback whose
            # timing table two threads computing one plane at once corrupt
            return PLANE_CACHE.get_or_load((name, i), lambda: read(i))

        planes = [
            da.from_delayed(
                dask.delayed(load, pure=False)(i, dask_key_name=(name, i)),
                shape,
                dtype,
            )
            for i in range(len(fovs))
        ]
        return da.stack(planes) if planes else da.zeros((0, *shape), dtype)

    def field_plane(self, index: int, channel: str) -> np.ndarray | None:
        """The first plane of ``channel`` in field of view ``index``, as its
        link reads it (None where the field has no such image)."""
        return self._channel_plane(self.fields_of_view[index], channel)

    def _channel_plane(self, fov: FieldOfView, channel: str) -> np.ndarray | None:
        for link in self.links:
            plane = link.channel_plane(fov, channel)
            if plane is not None:
                return plane
        return None

    def _stored_mask(self, fov: FieldOfView, compartment: str) -> np.ndarray | None:
        """The mask as stored (binary or labels), from the first link that has it."""
        for link in self.links:
            plane = link.mask_plane(fov, compartment)
            if plane is not None:
                return plane
        return None

    def _mask_plane(self, fov: FieldOfView, compartment: str) -> np.ndarray | None:
        mask = self._stored_mask(fov, compartment)
        return None if mask is None else label_binary(mask)

    # ---- link checks
    def link_report(
        self, progress: Callable[[int, int], None] | None = None
    ) -> dict[str, Any]:
        """Count rows and labels that do not match, reading each mask once.

        Returns counts of ``rows_without_image`` (missing channel files or no
        image key), ``rows_not_in_mask`` (object number, or for binary masks
        the centre, not found), ``labels_without_row`` and per-field details.
        """
        fovs = self.fields_of_view
        comp = self.keys.compartment
        mask_name = comp if comp and any(comp in f.masks for f in fovs) else None
        if mask_name is None and self.mask_names:
            mask_name = self.mask_names[0]
        objs = self.object_numbers()
        centers = self.centers()
        no_image = self.fov_of_row < 0
        not_in_mask = 0
        labels_without_row = 0
        details = []
        for i, fov in enumerate(fovs):
            if fov.missing and not any(link.covers(fov) for link in self.links):
                no_image[fov.rows] = True
            entry: dict[str, Any] = {
                "field": fov.label,
                "rows": len(fov.rows),
                "missing": fov.missing,
            }
            mask = None
            if mask_name is not None:
                mask = self._stored_mask(fov, mask_name)
            if mask is not None:
                binary = is_binary(mask)
                labels = label_binary(mask) if binary else mask.astype(np.int64)
                present = set(np.unique(labels).tolist()) - {0}
                if binary or objs is None:
                    hit = labels_at(labels, centers[fov.rows])
                    hit_labels = set(hit[hit > 0].tolist())
                    missing_rows = int((hit == 0).sum())
                else:
                    hit_labels = set(objs[fov.rows].tolist()) & present
                    missing_rows = int(
                        sum(1 for v in objs[fov.rows] if v not in present)
                    )
                not_in_mask += missing_rows
                without = len(present - hit_labels)
                labels_without_row += without
                entry.update(
                    labels=len(present),
                    rows_not_in_mask=missing_rows,
                    labels_without_row=without,
                    binary=binary,
                )
            details.append(entry)
            if progress:
                progress(i + 1, len(fovs))
        crops = self._rows_with_crop()
        if crops is not None:
            no_image &= ~crops  # a row's embedded crop is its image
        return {
            "rows": self.num_rows,
            "fields_of_view": len(fovs),
            "rows_without_image": int(no_image.sum()),
            "rows_with_crop": None if crops is None else int(crops.sum()),
            "rows_not_in_mask": not_in_mask,
            "labels_without_row": labels_without_row,
            "mask": mask_name,
            "auxiliary_files": self._auxiliary_counts(),
            "fields": details,
            "problems": list(self.problems),
        }

    def _rows_with_crop(self) -> np.ndarray | None:
        """Rows holding an embedded OME-Arrow crop in any column (None: no crops)."""
        if not self.keys.ome or self.path is None:
            return None
        from ..images.image import open_source

        src = open_source(self.path)
        has = np.zeros(self.num_rows, bool)
        for column in src.image_columns:
            has |= np.array([m is not None for m in src.metas(column)], bool)
        return has

    def _auxiliary_counts(self) -> dict[str, dict[str, int]]:
        """Non-channel files (illumination functions, outlines): found/missing."""
        out: dict[str, dict[str, int]] = {}
        for fov in self.fields_of_view:
            for name, p in fov.auxiliary.items():
                entry = out.setdefault(name, {"found": 0, "missing": 0})
                entry["found" if p is not None else "missing"] += 1
        return out

    def describe(self) -> dict[str, Any]:
        """Key roles and link facts as plain data (for ``arrowscope info``)."""
        images = self.link("image table")
        return {
            "rows": self.num_rows,
            "columns": len(self.columns),
            "keys": self.keys.to_dict(),
            "fields_of_view": len(self.fields_of_view),
            "channels": self.channel_names,
            "masks": self.mask_names,
            "images": None if images is None else images.describe()["table"],
            "links": [link.describe() for link in self.links],
            "problems": list(self.problems),
        }


def labels_at(labels: np.ndarray, yx: np.ndarray) -> np.ndarray:
    """The label under each (y, x) centre; 0 when outside, NaN or background."""
    out = np.zeros(len(yx), np.int64)
    ok = np.isfinite(yx).all(axis=1)
    iy = np.round(np.where(ok, yx[:, 0], -1)).astype(np.int64)
    ix = np.round(np.where(ok, yx[:, 1], -1)).astype(np.int64)
    ok &= (iy >= 0) & (iy < labels.shape[0]) & (ix >= 0) & (ix < labels.shape[1])
    out[ok] = labels[iy[ok], ix[ok]]
    return out


def _is_uri(path: Any) -> bool:
    from ..images.stores import is_uri

    return is_uri(path)


def looks_like_profiles(
    schema: pa.Schema, metadata: dict[bytes, bytes] | None = None
) -> bool:
    """Whether a table's schema shows image links (file columns, masks, image table)."""
    if metadata and IMAGES_METADATA_KEY in metadata:
        return True
    roles = detect_keys(schema)
    return bool(roles.image and (roles.files or roles.masks))
