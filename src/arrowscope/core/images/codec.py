"""Encode and decode OME-Arrow pixel payloads.

Decoding works on one record held as a length-1 Arrow struct array and copies
only what a requested region needs: a plane of the list form is a zero-copy
slice of the pixel values, a byte-form chunk is decompressed only when the
region touches it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import PixelDataError, UnsupportedError
from .metadata import ImageMeta
from .schema import (
    BYTE_CHUNK_TYPE,
    BYTE_RECORD_TYPE,
    CHUNK_GRID_TYPE,
    LIST_CHUNK_TYPE,
    LIST_RECORD_TYPE,
    OME_ARROW_TYPE,
    OME_ARROW_VERSION,
    PIXELS_META_TYPE,
    PLANE_TYPE,
)

Region = tuple[tuple[int, int], ...]  # five (start, stop) pairs, TCZYX
#: Compressions a byte-form chunk may name (pyarrow codec names).
KNOWN_CODECS = frozenset(
    {"zstd", "lz4", "lz4_frame", "lz4_raw", "gzip", "brotli", "snappy", "bz2"}
)


def full_region(shape: tuple[int, ...]) -> Region:
    """The region covering a whole image."""
    return tuple((0, int(n)) for n in shape)


def _overlap(a0: int, a1: int, b0: int, b1: int) -> tuple[int, int] | None:
    lo, hi = max(a0, b0), min(a1, b1)
    return (lo, hi) if lo < hi else None


def cast_exact(
    values: np.ndarray, dtype: np.dtype[Any], where: dict[str, Any]
) -> np.ndarray:
    """Cast stored values to the declared dtype, refusing any loss.

    Real files store uint16 pixels as int64 lists (CytoDataFrame) or declare
    float32 over uint16 values (the reference writer): both cast exactly. A
    value the declared type cannot hold is an error, never a silent clip.
    """
    if values.dtype == dtype:
        return values
    out = values.astype(dtype)
    same = (
        np.array_equal(out, values, equal_nan=True)
        if values.dtype.kind == "f" or dtype.kind == "f"
        else np.array_equal(out, values)
    )
    if not same:
        lo, hi = values.min(), values.max()
        raise PixelDataError(
            f"stored pixel values (range {lo}..{hi}) do not fit the declared "
            f"type {dtype.name}",
            hint="the file's pixels_meta.type is wrong; re-export with the true dtype",
            **where,
        )
    return out


#: Per-plane and per-chunk coordinates: what a layout check reads (no pixels).
LAYOUT_FIELDS = (
    "planes.t",
    "planes.c",
    "planes.z",
    *(
        f"chunks.{name}"
        for name in ("t", "c", "z", "y", "x", "shape_z", "shape_y", "shape_x")
    ),
)


def _is_list(dtype: pa.DataType) -> bool:
    return bool(pa.types.is_list(dtype) or pa.types.is_large_list(dtype))


def _ints(items: pa.StructArray, name: str) -> np.ndarray:
    if items.type.get_field_index(name) < 0:
        raise KeyError(name)
    values: np.ndarray = items.field(name).to_numpy(zero_copy_only=False)
    return values.astype(np.int64)


def check_layout(cell: pa.StructArray, meta: ImageMeta, where: dict[str, Any]) -> str:
    """Check what a record stores against the sizes it declares; return the form.

    ``cell`` is the length-1 record projected onto :data:`LAYOUT_FIELDS`;
    ``meta`` its declared metadata (size_c as stored, before any RGB
    interpretation). Runs in O(stored planes or chunks) and reads no pixels, so
    a file declaring a billion planes is refused before anything is allocated.
    Every (t, c, z) plane must be stored exactly once (every voxel covered by
    exactly one chunk): a duplicate or a missing one is an error, never zeros
    or a silently chosen copy.
    """
    T, C, Z, Y, X = meta.shape
    names = {cell.type.field(i).name for i in range(cell.type.num_fields)}
    chunks = cell.field("chunks") if "chunks" in names else None
    if chunks is not None and _is_list(chunks.type) and len(chunks.flatten()):
        _check_chunks(chunks.flatten(), meta.shape, where)
        return "chunks"
    planes = cell.field("planes") if "planes" in names else None
    if planes is None or not _is_list(planes.type):
        kind = "missing" if planes is None else f"a {planes.type} field"
        raise PixelDataError(
            f"the record stores no chunks and its planes are {kind}",
            hint="planes must be a list of {z, t, c, pixels} structs",
            **where,
        )
    items = planes.flatten()
    try:
        t, c, z = (_ints(items, a) for a in "tcz")
    except (KeyError, pa.ArrowInvalid, TypeError, ValueError) as exc:
        raise PixelDataError(
            f"planes lack usable t/c/z coordinates ({exc})", **where
        ) from exc
    expected = T * C * Z
    if len(t) != expected or expected == 0:
        # Cheap first: most broken files differ in count (a billion declared).
        stored = len(t)
        raise PixelDataError(
            f"declares TCZYX {meta.shape} ({expected} planes) but stores {stored} "
            "planes",
            hint="the file's sizes are wrong or planes are missing; re-export it",
            **where,
        )
    bad = (t < 0) | (t >= T) | (c < 0) | (c >= C) | (z < 0) | (z >= Z)
    if bad.any():
        k = int(np.argmax(bad))
        raise PixelDataError(
            f"plane {k} has (t, c, z) = ({t[k]}, {c[k]}, {z[k]}) outside the "
            f"image's TCZYX size {meta.shape}",
            **where,
        )
    flat = (t * C + c) * Z + z
    counts = np.bincount(flat, minlength=expected)
    if counts.max() > 1:
        k = int(np.argmax(counts > 1))
        ti, ci, zi = k // (C * Z), (k // Z) % C, k % Z
        raise PixelDataError(
            f"plane (t={ti}, c={ci}, z={zi}) is stored {counts[k]} times",
            hint="which copy is right is unknown; re-export the image",
            **where,
        )
    return "planes"


def layouts_ok(
    column: pa.StructArray, shapes: list[tuple[int, ...] | None]
) -> np.ndarray:
    """Per row, whether :func:`check_layout` would pass for the planes form.

    The same checks, vectorised over a whole column (each row's planes cover
    its declared (t, c, z) exactly once); rows it cannot vouch for (chunks,
    unusual types, unknown shapes) are False and get the per-row check.
    """
    n = len(column)
    ok = np.zeros(n, bool)
    names = {column.type.field(i).name for i in range(column.type.num_fields)}
    if "planes" not in names or not _is_list(column.type.field("planes").type):
        return ok
    planes = column.field("planes")
    lengths = pc.fill_null(pc.list_value_length(planes), 0).to_numpy()
    known = np.array([s is not None for s in shapes], bool)
    if "chunks" in names and _is_list(column.type.field("chunks").type):
        chunked = pc.fill_null(pc.list_value_length(column.field("chunks")), 0)
        known &= chunked.to_numpy() == 0
    dims = np.array([s if s is not None else (0,) * 5 for s in shapes], np.int64)
    T, C, Z = (dims[:, i] if n else np.zeros(0, np.int64) for i in range(3))
    ok = known & (lengths == T * C * Z) & (lengths > 0)
    try:
        items = planes.flatten()
        t, c, z = (_ints(items, a) for a in "tcz")
    except (KeyError, pa.ArrowInvalid, TypeError, ValueError):
        return np.zeros(n, bool)
    row = np.repeat(np.arange(n), lengths)
    if len(row) != len(t):  # null rows hold no planes: positions would not line up
        return np.zeros(n, bool)
    bad = (t < 0) | (t >= T[row]) | (c < 0) | (c >= C[row]) | (z < 0) | (z >= Z[row])
    flat = (t * C[row] + c) * Z[row] + z
    order = np.lexsort((flat, row))
    same = (row[order][1:] == row[order][:-1]) & (flat[order][1:] == flat[order][:-1])
    bad_rows = np.zeros(n, bool)
    np.logical_or.at(bad_rows, row[bad], True)
    np.logical_or.at(bad_rows, row[order][1:][same], True)
    return ok & ~bad_rows


def _check_chunks(
    items: pa.StructArray, shape: tuple[int, ...], where: dict[str, Any]
) -> None:
    try:
        pos = {n: _ints(items, n) for n in ("t", "c", "z", "y", "x")}
        size = {a: _ints(items, f"shape_{a}") for a in "zyx"}
    except (KeyError, pa.ArrowInvalid, TypeError, ValueError) as exc:
        raise PixelDataError(f"chunks lack usable positions ({exc})", **where) from exc
    check_chunk_cover(pos, size, shape, where)


def check_chunk_cover(
    pos: dict[str, np.ndarray],
    size: dict[str, np.ndarray],
    shape: tuple[int, ...],
    where: dict[str, Any],
    *,
    what: str = "chunk",
) -> None:
    """Check that chunks tile ``shape``: in bounds, each origin once, no hole.

    ``pos`` holds TCZYX origins; ``size`` the extents along the axes it names
    (absent axes are 1 wide). Distinct origins, boxes inside the image and a
    total volume equal to the image's catch a duplicate, a missing chunk, a
    chunk outside the image and declared sizes larger than what is stored, in
    O(n log n) and without reading a pixel.
    """
    dims = dict(zip("tczyx", (int(v) for v in shape), strict=True))
    n = len(pos["t"])
    ones = np.ones(n, np.int64)
    bad = np.zeros(n, bool)
    for a, extent in dims.items():
        width = size.get(a, ones)
        bad |= (pos[a] < 0) | (width <= 0) | (pos[a] + width > extent)
    if bad.any():
        k = int(np.argmax(bad))
        at = ", ".join(f"{a}={int(pos[a][k])}" for a in "tczyx")
        raise PixelDataError(
            f"{what} {k} at ({at}) lies outside the image TCZYX {tuple(shape)}",
            **where,
        )
    keys = np.stack([pos[a] for a in "tczyx"], axis=1)
    sk = keys[np.lexsort(keys.T[::-1])]
    dup = np.flatnonzero(np.all(sk[1:] == sk[:-1], axis=1))
    if dup.size:
        at = ", ".join(
            f"{a}={int(v)}" for a, v in zip("tczyx", sk[dup[0]], strict=True)
        )
        raise PixelDataError(
            f"{what} at ({at}) is stored twice",
            hint="which copy is right is unknown; re-export the image",
            **where,
        )
    volume = np.ones(n, np.int64)
    for a in size:
        volume = volume * size[a]
    total = int(volume.sum())
    expected = int(np.prod([dims[a] for a in "tczyx"], dtype=object))
    if total != expected:
        gap = expected - total
        raise PixelDataError(
            f"{what}s cover {total} of the {expected} voxels of TCZYX "
            f"{tuple(shape)}" + (f" ({gap} missing)" if gap > 0 else " (they overlap)"),
            hint="chunks are missing or the declared sizes are wrong; re-export",
            **where,
        )


class RecordPixels:
    """Pixel access to one nested OME-Arrow record (a length-1 struct array).

    Parameters
    ----------
    cell
        The record, projected onto at least ``planes`` and ``chunks``.
    meta
        Its metadata (shape and dtype govern decoding).
    where
        ``path``/``column``/``row`` used to label errors.
    """

    def __init__(
        self, cell: pa.StructArray, meta: ImageMeta, where: dict[str, Any]
    ) -> None:
        self.meta = meta
        self.where = where
        self._chunks: pa.StructArray | None = None
        self._planes: pa.StructArray | None = None
        names = {cell.type.field(i).name for i in range(cell.type.num_fields)}
        if "chunks" in names:
            chunks = cell.field("chunks")
            if pa.types.is_list(chunks.type) or pa.types.is_large_list(chunks.type):
                flat = chunks.flatten()
                if len(flat):
                    self._chunks = flat
        if self._chunks is None and "planes" in names:
            planes = cell.field("planes")
            if pa.types.is_list(planes.type) or pa.types.is_large_list(planes.type):
                self._planes = planes.flatten()

    @property
    def form(self) -> str:
        """``"chunks"`` or ``"planes"``: where the pixels are read from."""
        return "chunks" if self._chunks is not None else "planes"

    def read(self, region: Region) -> np.ndarray:
        """Decode the pixels of ``region`` (TCZYX (start, stop) pairs)."""
        shape = tuple(b - a for a, b in region)
        # Stored lengths are checked before allocating what the sizes claim.
        if self._planes is not None:
            self._check_plane_lengths()
        elif self._chunks is not None:
            self._check_chunk_lengths()
        if self._planes is not None:
            return self._read_planes(region, shape)
        out = np.zeros(shape, dtype=self.meta.dtype)
        if self._chunks is not None:
            self._fill_from_chunks(out, region)
        return out

    # -- planes -----------------------------------------------------------
    def _check_plane_lengths(self) -> None:
        planes = self._planes
        assert planes is not None
        _, _, _, Y, X = self.meta.shape
        per_plane = Y * X * (3 if self.meta.interleaved else 1)
        lengths = np.diff(planes.field("pixels").offsets.to_numpy())
        wrong = np.flatnonzero(lengths != per_plane)
        if wrong.size:
            k = int(wrong[0])
            hint = None
            if not self.meta.interleaved and lengths[k] == 3 * Y * X:
                hint = "it looks like an RGB composite: open it with rgb=True"
            raise PixelDataError(
                f"plane {k} holds {lengths[k]} pixels, expected {per_plane} for "
                f"{Y}x{X}",
                hint=hint,
                **self.where,
            )

    def _read_planes(self, region: Region, shape: tuple[int, ...]) -> np.ndarray:
        planes = self._planes
        assert planes is not None
        _, _, _, Y, X = self.meta.shape
        t = planes.field("t").to_numpy(zero_copy_only=False).astype(np.int64)
        c = planes.field("c").to_numpy(zero_copy_only=False).astype(np.int64)
        z = planes.field("z").to_numpy(zero_copy_only=False).astype(np.int64)
        # Coordinates were checked at open (check_layout) and plane lengths
        # before allocation (_check_plane_lengths): here they are only used.
        (t0, t1), (c0, c1), (z0, z1), (y0, y1), (x0, x1) = region
        if self.meta.interleaved:
            hit = (t >= t0) & (t < t1) & (z >= z0) & (z < z1)
        else:
            hit = (t >= t0) & (t < t1) & (c >= c0) & (c < c1) & (z >= z0) & (z < z1)
        hits = np.flatnonzero(hit)
        # Planes are unique (check_layout): as many hits as the region has
        # planes cover it whole, and only missing planes need the zeros.
        whole = not self.meta.interleaved and len(hits) == (t1 - t0) * (c1 - c0) * (
            z1 - z0
        )
        out = (np.empty if whole else np.zeros)(shape, dtype=self.meta.dtype)
        pixels = planes.field("pixels")
        offsets = pixels.offsets.to_numpy()
        values = pixels.values
        for k in hits:
            a, b = int(offsets[k]), int(offsets[k + 1])
            flat = cast_exact(
                values.slice(a, b - a).to_numpy(zero_copy_only=False),
                self.meta.dtype,
                self.where,
            )
            if self.meta.interleaved:
                # Composites are stored interleaved (Y, X, RGB), as TIFFs are.
                rgb = flat.reshape(Y, X, 3)[y0:y1, x0:x1]
                for ch in range(c0, c1):
                    out[t[k] - t0, ch - c0, z[k] - z0] = rgb[..., ch]
            else:
                out[t[k] - t0, c[k] - c0, z[k] - z0] = flat.reshape(Y, X)[y0:y1, x0:x1]
        return out

    # -- chunks -----------------------------------------------------------
    def _positions(self) -> dict[str, np.ndarray]:
        chunks = self._chunks
        assert chunks is not None
        return {
            name: chunks.field(name).to_numpy(zero_copy_only=False).astype(np.int64)
            for name in ("t", "c", "z", "y", "x", "shape_z", "shape_y", "shape_x")
        }

    def _check_chunk_lengths(self) -> None:
        chunks = self._chunks
        assert chunks is not None
        p = self._positions()
        n = p["shape_z"] * p["shape_y"] * p["shape_x"]
        names = {chunks.type.field(i).name for i in range(chunks.type.num_fields)}
        if "pixel_bytes" in names:
            payload = chunks.field("pixel_bytes")
            raw = payload.is_valid().to_numpy(zero_copy_only=False)
            if "compression" in names:
                codec = chunks.field("compression").to_pylist()
                raw &= np.array(
                    [c is None or str(c).lower() in ("", "none") for c in codec]
                )
            if "dtype" in names:
                sizes = [
                    np.dtype(d).itemsize if d else self.meta.dtype.itemsize
                    for d in chunks.field("dtype").to_pylist()
                ]
                itemsize = np.asarray(sizes, np.int64)
            else:
                itemsize = np.full(len(n), self.meta.dtype.itemsize, np.int64)
            got = pc.fill_null(pc.binary_length(payload), 0).to_numpy().astype(np.int64)
            wrong = np.flatnonzero(raw & (got != n * itemsize))
            unit = "bytes"
            want = n * itemsize
        else:
            got = np.diff(chunks.field("pixels").offsets.to_numpy().astype(np.int64))
            wrong = np.flatnonzero(got != n)
            unit, want = "pixels", n
        if wrong.size:
            k = int(wrong[0])
            raise PixelDataError(
                f"chunk {k} holds {got[k]} {unit}, expected {want[k]} for its "
                f"shape ({p['shape_z'][k]}, {p['shape_y'][k]}, {p['shape_x'][k]})",
                **self.where,
            )

    def _fill_from_chunks(self, out: np.ndarray, region: Region) -> None:
        # Chunk boxes were checked against the image at open (check_chunk_cover).
        p = self._positions()
        ends = {a: p[a] + p[f"shape_{a}"] for a in "zyx"}
        (t0, t1), (c0, c1), (z0, z1), (y0, y1), (x0, x1) = region
        hit = (p["t"] >= t0) & (p["t"] < t1) & (p["c"] >= c0) & (p["c"] < c1)
        hit &= (p["z"] < z1) & (ends["z"] > z0)
        hit &= (p["y"] < y1) & (ends["y"] > y0)
        hit &= (p["x"] < x1) & (ends["x"] > x0)
        for k in np.flatnonzero(hit):
            shape = (int(p["shape_z"][k]), int(p["shape_y"][k]), int(p["shape_x"][k]))
            block = self._chunk_payload(int(k), shape)
            oz = _overlap(int(p["z"][k]), int(ends["z"][k]), z0, z1)
            oy = _overlap(int(p["y"][k]), int(ends["y"][k]), y0, y1)
            ox = _overlap(int(p["x"][k]), int(ends["x"][k]), x0, x1)
            assert oz and oy and ox
            src = block[
                oz[0] - p["z"][k] : oz[1] - p["z"][k],
                oy[0] - p["y"][k] : oy[1] - p["y"][k],
                ox[0] - p["x"][k] : ox[1] - p["x"][k],
            ]
            out[
                p["t"][k] - t0,
                p["c"][k] - c0,
                oz[0] - z0 : oz[1] - z0,
                oy[0] - y0 : oy[1] - y0,
                ox[0] - x0 : ox[1] - x0,
            ] = src

    def _chunk_payload(self, k: int, shape: tuple[int, int, int]) -> np.ndarray:
        chunks = self._chunks
        assert chunks is not None
        names = {chunks.type.field(i).name for i in range(chunks.type.num_fields)}
        n = shape[0] * shape[1] * shape[2]
        label = f"chunk {k}"
        if "pixel_bytes" in names and chunks.field("pixel_bytes").is_valid()[k].as_py():
            dtype_name = chunks.field("dtype")[k].as_py() if "dtype" in names else None
            dtype = (
                np.dtype(dtype_name).newbyteorder("<")
                if dtype_name
                else self.meta.dtype
            )
            compression = (
                chunks.field("compression")[k].as_py()
                if "compression" in names
                else None
            )
            buf = chunks.field("pixel_bytes")[k].as_buffer()
            expected = n * dtype.itemsize
            buf = decompress(
                buf, compression, expected, where={**self.where}, label=label
            )
            if buf.size != expected:
                raise PixelDataError(
                    f"{label} holds {buf.size} bytes, expected {expected} "
                    f"for {shape} {dtype.name}",
                    **self.where,
                )
            flat = np.frombuffer(buf, dtype=dtype)
        else:
            pixels = chunks.field("pixels")
            offsets = pixels.offsets.to_numpy()
            a, b = int(offsets[k]), int(offsets[k + 1])
            if b - a != n:
                raise PixelDataError(
                    f"{label} holds {b - a} pixels, expected {n} for {shape}",
                    **self.where,
                )
            flat = pixels.values.slice(a, n).to_numpy(zero_copy_only=False)
        return cast_exact(flat, self.meta.dtype, self.where).reshape(shape)


def decompress(
    buf: pa.Buffer,
    compression: str | None,
    expected: int,
    *,
    where: dict[str, Any],
    label: str,
) -> pa.Buffer:
    """Undo a byte-form chunk's codec (a pyarrow codec name, or none)."""
    if compression is None or str(compression).strip().lower() in (
        "",
        "none",
        "uncompressed",
    ):
        return buf
    name = str(compression).strip().lower()
    if name not in KNOWN_CODECS or not pa.Codec.is_available(name):
        raise UnsupportedError(
            f"{label} uses the unknown compression {compression!r}",
            hint=f"supported: {sorted(KNOWN_CODECS)}",
            **where,
        )
    try:
        return pa.Codec(name).decompress(buf, decompressed_size=expected)
    except (pa.ArrowInvalid, OSError) as exc:
        raise PixelDataError(
            f"{label} does not decompress with {name}: {exc}", **where
        ) from exc


# -- encoding ------------------------------------------------------------------
def _pixels_meta(meta: ImageMeta) -> dict[str, Any]:
    T, C, Z, Y, X = meta.shape
    channels = []
    for i in range(C):
        ch = meta.channels[i] if i < len(meta.channels) else None
        channels.append(
            {
                "id": (ch.id if ch and ch.id else f"ch-{i}"),
                "name": (ch.name if ch else f"C{i}"),
                "emission_um": ch.emission_um if ch else None,
                "excitation_um": ch.excitation_um if ch else None,
                "illumination": ch.illumination if ch else None,
                "color_rgba": (ch.color if ch and ch.color is not None else 0xFFFFFFFF),
            }
        )
    sz, sy, sx = meta.physical_size
    uz, uy, ux = meta.units
    return {
        "dimension_order": "XYCT" if Z == 1 else "XYZCT",
        "type": meta.dtype.name,
        "size_x": X,
        "size_y": Y,
        "size_z": Z,
        "size_c": C,
        "size_t": T,
        "physical_size_x": sx,
        "physical_size_y": sy,
        "physical_size_z": sz,
        "physical_size_x_unit": ux,
        "physical_size_y_unit": uy,
        "physical_size_z_unit": uz,
        "channels": channels,
    }


def _header(meta: ImageMeta) -> dict[str, pa.Array]:
    return {
        "type": pa.array([OME_ARROW_TYPE], pa.string()),
        "version": pa.array([OME_ARROW_VERSION], pa.string()),
        "id": pa.array([meta.id], pa.string()),
        "name": pa.array([meta.name], pa.string()),
        "image_type": pa.array([meta.image_type], pa.string()),
        "acquisition_datetime": pa.array(
            [meta.acquisition_datetime], pa.timestamp("us")
        ),
        "pixels_meta": pa.array([_pixels_meta(meta)], PIXELS_META_TYPE),
    }


def _assemble(
    fields: dict[str, pa.Array], record_type: pa.StructType
) -> pa.StructArray:
    return pa.StructArray.from_arrays(
        [fields[f.name] for f in record_type], fields=list(record_type)
    )


def encode_list_record(arr: np.ndarray, meta: ImageMeta) -> pa.StructArray:
    """Encode a uint16 TCZYX array as a canonical list-form record (planes only).

    Pixels are stored once, in ``planes``; ``chunks`` is an empty list, which
    every ome-arrow version reads.
    """
    T, C, Z, Y, X = arr.shape
    n = T * C * Z
    if n * Y * X >= 2**31:
        raise UnsupportedError(
            "the list form holds at most 2**31 pixels per image",
            hint="write it as a chunked dataset (layout='dataset')",
        )
    values = pa.array(np.ascontiguousarray(arr, dtype="<u2").reshape(-1))
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * np.int32(Y * X))
    pixels = pa.ListArray.from_arrays(
        offsets, values, type=PLANE_TYPE.field("pixels").type
    )
    tt, cc, zz = np.meshgrid(np.arange(T), np.arange(C), np.arange(Z), indexing="ij")
    planes = pa.StructArray.from_arrays(
        [
            pa.array(zz.ravel().astype(np.int32)),
            pa.array(tt.ravel().astype(np.int32)),
            pa.array(cc.ravel().astype(np.int16)),
            pixels,
        ],
        fields=list(PLANE_TYPE),
    )
    fields = _header(meta)
    fields["planes"] = pa.ListArray.from_arrays(
        pa.array([0, n], pa.int32()), planes, type=pa.list_(PLANE_TYPE)
    )
    fields["chunk_grid"] = pa.nulls(1, CHUNK_GRID_TYPE)
    fields["chunks"] = pa.array([[]], pa.list_(LIST_CHUNK_TYPE))
    fields["masks"] = pa.nulls(1)
    return _assemble(fields, LIST_RECORD_TYPE)


def iter_chunk_boxes(
    shape: tuple[int, ...], chunk_zyx: tuple[int, int, int]
) -> Iterator[tuple[int, int, int, int, int, int, int, int]]:
    """Yield ``(t, c, z, y, x, nz, ny, nx)`` for a spatial chunk grid, edges clipped."""
    T, C, Z, Y, X = shape
    cz, cy, cx = chunk_zyx
    for t in range(T):
        for c in range(C):
            for z in range(0, Z, cz):
                for y in range(0, Y, cy):
                    for x in range(0, X, cx):
                        yield (
                            t,
                            c,
                            z,
                            y,
                            x,
                            min(cz, Z - z),
                            min(cy, Y - y),
                            min(cx, X - x),
                        )


def default_chunk_zyx(shape: tuple[int, ...], itemsize: int) -> tuple[int, int, int]:
    """One chunk per plane, tiled at 2048 px when planes are very large."""
    _, _, _, Y, X = shape
    tile = 2048 if Y * X * itemsize > 64 * 2**20 else max(Y, X)
    return (1, min(Y, tile), min(X, tile))


def encode_byte_record(
    arr: np.ndarray,
    meta: ImageMeta,
    *,
    chunk_zyx: tuple[int, int, int] | None = None,
    compression: str | None = None,
) -> pa.StructArray:
    """Encode any-dtype TCZYX pixels as a byte-form record (typed chunk payloads).

    ``compression`` compresses each payload with a pyarrow codec; by default
    payloads are raw and the Parquet column's own compression does the work.
    """
    dtype = meta.dtype
    little = dtype.newbyteorder("<") if dtype.itemsize > 1 else dtype
    chunk_zyx = chunk_zyx or default_chunk_zyx(arr.shape, dtype.itemsize)
    codec = None
    if compression:
        if compression not in KNOWN_CODECS or not pa.Codec.is_available(compression):
            raise UnsupportedError(f"unknown chunk compression {compression!r}")
        codec = pa.Codec(compression)
    rows: dict[str, list[Any]] = {f.name: [] for f in BYTE_CHUNK_TYPE}
    for t, c, z, y, x, nz, ny, nx in iter_chunk_boxes(arr.shape, chunk_zyx):
        block = np.ascontiguousarray(
            arr[t, c, z : z + nz, y : y + ny, x : x + nx], dtype=little
        )
        payload = block.tobytes()
        if codec is not None:
            payload = codec.compress(payload, asbytes=True)
        for name, value in zip(
            (
                "t",
                "c",
                "z",
                "y",
                "x",
                "shape_z",
                "shape_y",
                "shape_x",
                "dtype",
                "compression",
                "pixel_bytes",
            ),
            (t, c, z, y, x, nz, ny, nx, dtype.name, compression, payload),
            strict=True,
        ):
            rows[name].append(value)
    chunk_items = pa.StructArray.from_arrays(
        [pa.array(rows[f.name], f.type) for f in BYTE_CHUNK_TYPE],
        fields=list(BYTE_CHUNK_TYPE),
    )
    fields = _header(meta)
    fields["chunk_grid"] = pa.array(
        [
            {
                "order": "TCZYX",
                "chunk_t": 1,
                "chunk_c": 1,
                "chunk_z": chunk_zyx[0],
                "chunk_y": chunk_zyx[1],
                "chunk_x": chunk_zyx[2],
                "chunk_order": "ZYX",
            }
        ],
        CHUNK_GRID_TYPE,
    )
    fields["chunks"] = pa.ListArray.from_arrays(
        pa.array([0, len(chunk_items)], pa.int32()),
        chunk_items,
        type=pa.list_(BYTE_CHUNK_TYPE),
    )
    fields["planes"] = pa.array([[]], pa.list_(PLANE_TYPE))
    fields["masks"] = pa.nulls(1)
    return _assemble(fields, BYTE_RECORD_TYPE)


def null_record(record_type: pa.StructType) -> pa.StructArray:
    """A length-1 null record (a table row without an image)."""
    return pa.nulls(1, record_type)
