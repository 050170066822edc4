"""The QC session shared by the Profiles, Filter, QC, gallery and Export widgets.

One session per cells Points layer: it knows the profile table, which point is
which table row (by the ``row`` link, never by position), the QC flags, the
manual flags and the current filter, and keeps the viewer in step with the
selection. It uses the napari viewer *model* only, so it is tested without Qt.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
from psygnal import Signal

from ..core.profiles.qc import MANUAL_FLAG, flag_columns
from ..core.profiles.resolve import open_profiles
from ..core.profiles.table import ProfileTable, labels_at
from .layers import NAMESPACE
from .profile_layers import (
    BIN_COLORS,
    BINS_HELP,
    CELL_COLOR,
    CELLS_HELP,
    CELLS_ROLE,
    EMPHASIS_BORDER,
    EMPHASIS_SIZE,
    HIDDEN_COLOR,
    MANUAL_COLOR,
    MARK_COLORS,
    OUTLIER_COLOR,
    PLAIN_SIZE,
    SELECTED_BORDER,
    SELECTED_SIZE,
    THIN_BORDER,
    cell_diameters,
    cell_points,
    opened_table,
)

FOCUS_SCREEN_PX = 500
#: keys that record a verdict by eye on the current cell
VERDICT_KEYS = {
    "1": "keep",
    "2": "reject",
    "3": "unsure",
    "Backspace": None,
}
#: while the Classifier panel bins cells: key → the bin's position (None: out)
BIN_KEYS = {**{str(k): k - 1 for k in range(1, 10)}, "Backspace": None}
_SESSIONS: weakref.WeakKeyDictionary[Any, CellSession] = weakref.WeakKeyDictionary()


class _PerRow:
    """An object array of one value per row of the session's table, made on
    first use (8 bytes a row: 8 MB for a million cells nobody judged)."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.slot = f"_{name}"

    def __get__(self, session: Any, owner: type | None = None) -> Any:
        if session is None:
            return self
        value = getattr(session, self.slot, None)
        if value is None:
            value = np.full(session.profiles.num_rows, None, dtype=object)
            setattr(session, self.slot, value)
        return value

    def __set__(self, session: Any, value: np.ndarray) -> None:
        setattr(session, self.slot, value)


class CellSession:
    """The judging of one profile table's cells in one viewer: the selection,
    the flags (by rule and by eye), the filter and the classifier's bins."""

    selection_changed = Signal(object)  # list[int] of table rows
    state_changed = Signal()  # flags, manual flags or filter changed
    fields_measured = Signal()  # field measures came (from pixels)

    def __init__(self, viewer: Any, profiles: ProfileTable, points: Any) -> None:
        self.viewer = viewer
        self.profiles = profiles
        self.points = points
        meta = points.metadata.get(NAMESPACE, {})
        rows = meta.get("rows")
        self.point_rows = (
            np.asarray(rows, np.int64) if rows is not None else cell_points(profiles)[1]
        )
        self.row_to_point = np.full(profiles.num_rows, -1, np.int32)
        self.row_to_point[self.point_rows] = np.arange(len(self.point_rows))
        #: each point's cell diameter: markers are sized from the cell itself
        self.diameters = cell_diameters(profiles)[self.point_rows]
        n = profiles.num_rows
        stored = profiles.stored_flags  # flags written back into a warehouse
        self.flags: pa.Table | None = None
        self.manual = np.zeros(n, bool)
        if stored is not None:
            if MANUAL_FLAG in stored.column_names:
                self.manual = stored.column(MANUAL_FLAG).to_numpy(zero_copy_only=False)
                self.manual = self.manual.astype(bool)
                stored = stored.drop_columns([MANUAL_FLAG])
            self.flags = stored
        self.visible = np.ones(n, bool)
        #: the Filter panel's rows, and the wells picked on the plate map
        self.filter_mask = np.ones(n, bool)
        self.well_mask: np.ndarray | None = None
        #: verdicts by eye (keep/reject/unsure) of each row, from the marks sidecar
        self.marks: Any = None
        self._verdicts: np.ndarray | None = None  # made when a cell is judged
        self.verdict_version = 0  # bumped on every mark (the table redraws its column)
        self._keys_of_marks: pa.Table | None = None
        self._load_marks()
        #: a classifier's bins (named classes) of each row, opened on first use
        self.bins: Any = None
        self._bin_of: np.ndarray | None = None  # made on first use (8 B a row)
        self._keys_of_bins: pa.Table | None = None
        #: what the number keys do on the canvas: "verdicts" or "bins"
        self.key_target = "verdicts"
        #: the classifier's class of each row once the screen is scored
        self.predicted: np.ndarray | None = None
        self.selected: list[int] = []
        #: The scores of the last QC run (``Metadata_qcscore_<method>_<feature>``).
        self.scores: pa.Table | None = None
        #: The conditions of the last QC run and what each flagged (its report).
        self.conditions_report: dict[str, Any] = {}
        #: one row per field of view with its measures (the Fields panel's
        #: table, measures from pixels included once measured)
        self.field_measures: pa.Table | None = None
        self._syncing = False
        points.selected_data.events.items_changed.connect(self._on_points_selected)
        self._bind_verdict_keys()
        self._outline_masks()
        if stored is not None:
            self.recolor()

    #: each row's verdict by eye (keep / reject / unsure) or None
    verdicts = _PerRow()
    #: each row's bin (a class name) or None
    bin_of = _PerRow()

    @property
    def verdicts_if_any(self) -> np.ndarray | None:
        """The verdicts by eye, or None while no cell was ever judged (reading
        them for a caption does not make a million-row array)."""
        return self._verdicts

    @property
    def judged(self) -> bool:
        """Whether any cell has a verdict by eye."""
        return self._verdicts is not None and any(self._verdicts)

    def set_field_measures(self, fields: pa.Table) -> None:
        """The fields' measures, for the panels that show them per well."""
        self.field_measures = fields
        self.fields_measured.emit()

    # ---- selection
    def select_rows(self, rows: Sequence[int], *, move: bool = True) -> None:
        """Select table rows: highlight their points and go to the first one."""
        rows = [int(r) for r in rows]
        self.selected = rows
        self._syncing = True
        try:
            pts = [int(self.row_to_point[r]) for r in rows if self.row_to_point[r] >= 0]
            self.points.selected_data = set(pts)
            self._resize()
        finally:
            self._syncing = False
        if move and rows:
            self.go_to(rows[0])
        self.selection_changed.emit(rows)

    def go_to(self, row: int) -> None:
        """Show ``row``'s field of view, centred and zoomed on its cell."""
        loc = self.profiles.locate(row)
        if loc.fov < 0:
            return
        if round(self.viewer.dims.point[0]) != loc.fov:  # re-slicing is the slow part
            self.viewer.dims.set_point(0, loc.fov)
        camera = camera_of(self.viewer)
        if loc.center is not None:
            camera.center = loc.center
        if loc.bbox is not None:
            y0, x0, y1, x1 = loc.bbox
            size = max(y1 - y0, x1 - x0, 8.0) * 3  # the cell and its neighbourhood
            camera.zoom = max(FOCUS_SCREEN_PX / size, 0.05)

    def _on_points_selected(self, *_: Any) -> None:
        if self._syncing:
            return
        pts = sorted(self.points.selected_data)
        rows = [int(self.point_rows[p]) for p in pts if p < len(self.point_rows)]
        self.selected = rows
        self._resize()
        self.selection_changed.emit(rows)

    def row_at(
        self, fov: int, label: int, labels_plane: np.ndarray | None
    ) -> int | None:
        """The table row of the object ``label`` in field ``fov``.

        Label images carry object numbers; binary masks were labelled by
        connected components, so there the row whose centre lies on that
        component is the match.
        """
        if label <= 0:
            return None
        in_fov = np.flatnonzero(self.profiles.fov_of_row == fov)
        objs = self.profiles.object_numbers()
        mask_name = self._mask_name()
        fov_info = (
            self.profiles.fields_of_view[fov]
            if 0 <= fov < len(self.profiles.fields_of_view)
            else None
        )
        from_files = fov_info is not None and mask_name in fov_info.masks
        if objs is not None and not from_files:
            hit = in_fov[objs[in_fov] == label]
            return int(hit[0]) if hit.size else None
        if labels_plane is None:
            return None
        under = labels_at(labels_plane, self.profiles.centers()[in_fov])
        hit = in_fov[under == label]
        return int(hit[0]) if hit.size else None

    def _mask_name(self) -> str | None:
        comp = self.profiles.keys.compartment
        names = self.profiles.mask_names
        return comp if comp in names else (names[0] if names else None)

    def step(self, delta: int) -> int | None:
        """Select the next (``+1``) or previous (``-1``) visible row."""
        order = np.flatnonzero(self.visible)
        if order.size == 0:
            return None
        current = self.selected[0] if self.selected else -1
        pos = np.searchsorted(order, current)
        if delta > 0:
            pos = pos + 1 if pos < order.size and order[pos] == current else pos
        else:
            pos -= 1
        row = int(order[pos % order.size])
        self.select_rows([row])
        return row

    # ---- QC state
    def set_flags(self, flags: pa.Table | None) -> None:
        self.flags = flags
        self.recolor()
        self.state_changed.emit()

    def toggle_manual(self, rows: Sequence[int]) -> None:
        for r in rows:
            self.manual[r] = not self.manual[r]
        self.recolor()
        self.state_changed.emit()

    def set_visible(self, mask: np.ndarray | None) -> None:
        """The rows the Filter panel keeps (None: all)."""
        self.filter_mask = (
            np.ones(self.profiles.num_rows, bool)
            if mask is None
            else np.asarray(mask, bool)
        )
        self._update_visible()

    def set_well_mask(self, mask: np.ndarray | None) -> None:
        """The rows of the wells picked on the plate map (None: every well)."""
        self.well_mask = None if mask is None else np.asarray(mask, bool)
        self._update_visible()

    def _update_visible(self) -> None:
        self.visible = self.filter_mask.copy()
        if self.well_mask is not None:
            self.visible &= self.well_mask
        self.recolor()
        self.state_changed.emit()

    # ---- verdicts by eye
    def _load_marks(self) -> None:
        from ..core.errors import ArrowscopeError
        from ..core.profiles.marks import open_marks

        try:
            self.marks = open_marks(self.profiles)
        except ArrowscopeError as exc:  # no file to keep them beside, or foreign
            self.marks = None
            self.marks_problem = str(exc)
            return
        self._keys_of_marks = self.profiles.read(self.marks.key_columns)
        if len(self.marks):  # none judged yet: no array of a million Nones
            self.verdicts = self.marks.verdicts(self._keys_of_marks)

    def _bind_verdict_keys(self) -> None:
        """1/2/3 on the cells layer judge the current cell (keep/reject/unsure),
        Backspace clears, and the next cell is shown at once; while the
        Classifier panel bins cells, 1–9 put it in that bin. They replace the
        layer's own add/select-mode and delete keys: the cells layer is a view
        of the table, not something to draw on or delete from."""
        for key in BIN_KEYS:

            def judge(_layer: Any, key: str = key) -> None:
                from ..core.errors import ArrowscopeError

                try:
                    if self.key_target == "bins":
                        self.bin_current(BIN_KEYS[key])
                    elif key in VERDICT_KEYS:
                        self.judge_current(VERDICT_KEYS[key])
                except ArrowscopeError as exc:  # told, never raised into napari
                    from napari.utils.notifications import show_error

                    show_error(str(exc))

            self.points.bind_key(key, judge, overwrite=True)
        self._show_verdict_help()
        # napari rewrites a layer's help from its mode keys on every mode
        # change: run after it (napari's emitters call the newest first)
        self.points.events.mode.connect(self._show_verdict_help, position="last")

    def _outline_masks(self) -> None:
        """Masks as outlines (napari's Labels contours), not filled: the cells'
        morphology stays visible under them. (A Labels layer takes ``contour``
        only once made, so the session sets it.)"""
        for layer in self.viewer.layers:
            meta = getattr(layer, "metadata", {}).get(NAMESPACE, {})
            if meta.get("role") == "mask" and hasattr(layer, "contour"):
                layer.contour = 1
                layer.opacity = 0.8

    def _show_verdict_help(self, _event: Any = None) -> None:
        """The status bar names the verdict keys, not Points' 2/3 mode keys."""
        text = BINS_HELP if self.key_target == "bins" else CELLS_HELP
        self.points.help = text
        # a plugin widget's viewer is a proxy, and so is every layer it returns
        active = _unwrapped(self.viewer.layers.selection.active)
        if active is _unwrapped(self.points) and self.viewer.help != text:
            self.viewer.help = text

    # ---- a classifier's bins
    def open_bins(self) -> Any:
        """The bins of this table (opened once, from beside the table)."""
        if self.bins is None:
            from ..core.profiles.marks import open_bins

            self.bins = open_bins(self.profiles)
            keys = self.profiles.read(self.bins.key_columns)
            self.bin_of = self.bins.verdicts(keys)
            self._keys_of_bins = keys
        return self.bins

    def set_key_target(self, target: str) -> None:
        """``"bins"``: the number keys put cells in bins; ``"verdicts"``: judge."""
        if target not in ("verdicts", "bins"):
            raise ValueError(f"target must be 'verdicts' or 'bins', not {target!r}")
        if target == "bins":
            self.open_bins()
        self.key_target = target
        self._show_verdict_help()
        self.recolor()

    def put_in_bin(self, rows: Sequence[int], name: str | None) -> None:
        """Put rows in the bin ``name`` (None takes them out), by key; saved."""
        bins = self.open_bins()
        assert self._keys_of_bins is not None
        picked = self._keys_of_bins.take(pa.array(np.asarray(rows, np.int64)))
        bins.set_many(picked.to_pylist(), name)
        for r in rows:
            self.bin_of[int(r)] = name
        self.verdict_version += 1
        self.recolor()
        self.state_changed.emit()

    def bin_current(self, position: int | None) -> int | None:
        """Put the selected cells in the bin at ``position`` (a number key), then
        select the next visible cell."""
        if not self.selected:
            return None
        classes = self.open_bins().classes
        if position is not None and position >= len(classes):
            return None  # no such bin: nothing happens
        name = None if position is None else classes[position]
        self.put_in_bin(self.selected, name)
        return self.step(+1)

    def labels(self, source: str = "bins") -> pa.Table:
        """The binned cells (``source="bins"``), or the cells judged by eye
        (``"verdicts"``: keep / reject / unsure), as a labels table: key
        columns + Metadata_class."""
        from ..core.errors import ArrowscopeError
        from ..core.profiles.cpa import CLASS_COLUMN

        store = self.open_bins() if source == "bins" else self.marks
        if store is None:
            raise ArrowscopeError(
                getattr(self, "marks_problem", "no verdicts for this table")
            )
        table = store.table
        return table.rename_columns(
            [CLASS_COLUMN if c == store.column else c for c in table.column_names]
        )

    def judge_current(self, verdict: str | None) -> int | None:
        """Mark the selected cells, then select the next visible one."""
        if not self.selected:
            return None
        self.mark(self.selected, verdict)
        return self.step(+1)

    def mark(self, rows: Sequence[int], verdict: str | None) -> None:
        """Record a verdict (keep/reject/unsure, None clears) on rows, by key;
        saved at once."""
        if self.marks is None or self._keys_of_marks is None:
            from ..core.errors import ArrowscopeError

            raise ArrowscopeError(
                getattr(self, "marks_problem", "marks cannot be kept for this table")
            )
        picked = self._keys_of_marks.take(pa.array(np.asarray(rows, np.int64)))
        self.marks.set_many(picked.to_pylist(), verdict)
        for r in rows:
            self.verdicts[int(r)] = verdict
        self.verdict_version += 1
        self.recolor()
        self.state_changed.emit()

    def outlier_mask(self) -> np.ndarray:
        """Rows flagged by any QC condition or by hand."""
        out = self.manual.copy()
        if self.flags is not None:
            for name in flag_columns(self.flags.column_names):
                out |= self.flags.column(name).to_numpy(zero_copy_only=False)
        return out

    def flag_table(self) -> pa.Table:
        """Every flag column, the manual flags as ``Metadata_cqc_manual_is_outlier``."""
        cols = {}
        if self.flags is not None:
            for name in flag_columns(self.flags.column_names):
                cols[name] = self.flags.column(name)
        cols[MANUAL_FLAG] = pa.array(self.manual)
        return pa.table(cols)

    def recolor(self) -> None:
        """Colour points by QC state and hide rows outside the filter."""
        if len(self.point_rows) == 0:
            return
        auto = np.zeros(self.profiles.num_rows, bool)
        if self.flags is not None:
            for name in flag_columns(self.flags.column_names):
                auto |= self.flags.column(name).to_numpy(zero_copy_only=False)
        rows = self.point_rows
        colors = np.empty(len(rows), object)
        # with mask outlines on screen a plain cell needs no marker of its own
        colors[:] = HIDDEN_COLOR if self.profiles.mask_names else CELL_COLOR
        colors[auto[rows]] = OUTLIER_COLOR
        colors[self.manual[rows]] = MANUAL_COLOR
        judged = np.zeros(len(rows), bool)
        verdicts = self.verdicts_if_any
        if verdicts is not None:  # a verdict by eye shows last
            for verdict, color in MARK_COLORS.items():
                hit = verdicts[rows] == verdict
                colors[hit] = color
                judged |= hit
        if self.key_target == "bins" and self.bins is not None:
            for k, name in enumerate(self.bins.classes):  # while binning: bins
                hit = self.bin_of[rows] == name
                colors[hit] = BIN_COLORS[k % len(BIN_COLORS)]
                judged |= hit
        emphasis = auto[rows] | self.manual[rows] | judged
        self.points.border_color = list(colors)
        self._emphasis = emphasis
        self._resize()
        self.points.shown = self.visible[rows]

    def _resize(self) -> None:
        """Marker sizes: a small ring at a plain cell's centre, a ring just
        outside a cell that needs attention, a wider one outside the selected
        cell: never a ring over the interior of the cell being judged."""
        emphasis = getattr(self, "_emphasis", None)
        factor = np.full(len(self.point_rows), PLAIN_SIZE)
        border = np.full(len(self.point_rows), THIN_BORDER)
        if emphasis is not None and len(emphasis) == len(factor):
            factor[emphasis] = EMPHASIS_SIZE
            border[emphasis] = EMPHASIS_BORDER
        chosen = self.row_to_point[np.asarray(self.selected, np.int64)]
        chosen = chosen[chosen >= 0]
        factor[chosen] = SELECTED_SIZE
        border[chosen] = SELECTED_BORDER  # the same line width on a wider ring
        self.points.size = factor * self.diameters
        self.points.border_width = border


def _unwrapped(obj: Any) -> Any:
    """The object behind napari's ``PublicOnlyProxy`` (or the object itself)."""
    return getattr(obj, "__wrapped__", obj)


def camera_of(viewer: Any) -> Any:
    """The viewer's camera (``viewer.scene.camera`` from napari 0.9 on)."""
    scene = getattr(viewer, "scene", None)
    return (
        scene.camera
        if scene is not None and hasattr(scene, "camera")
        else viewer.camera
    )


def text_overlay_of(viewer: Any) -> Any:
    """The canvas's text overlay (``viewer.canvas.overlays.text`` from napari
    0.9 on)."""
    canvas = getattr(viewer, "canvas", None)
    overlays = getattr(canvas, "overlays", None)
    text = getattr(overlays, "text", None)
    return text if text is not None else viewer.text_overlay


def find_cells_layer(viewer: Any) -> Any | None:
    """The newest cells Points layer in ``viewer``."""
    from napari.layers import Points

    for layer in reversed(list(viewer.layers)):
        meta = layer.metadata.get(NAMESPACE, {}) if hasattr(layer, "metadata") else {}
        # isinstance, not the type string: the Profiles panel adds a subclass
        if isinstance(layer, Points) and meta.get("role") == CELLS_ROLE:
            return layer
    return None


def session_for(
    viewer: Any, points: Any = None, profiles: ProfileTable | None = None
) -> CellSession | None:
    """The session of ``points`` (or the newest cells layer), made on first use."""
    points = points or find_cells_layer(viewer)
    if points is None:
        return None
    session = _SESSIONS.get(points)
    if session is None:
        if profiles is None:
            meta = points.metadata[NAMESPACE]
            profiles = opened_table(meta)  # the table these layers came from
        if profiles is None:
            if meta.get("warehouse") is not None:
                profiles = open_profiles(
                    meta["warehouse"], meta.get("image_root"), table=meta.get("table")
                )
            elif meta.get("profiles") is None:
                return None
            else:
                options = meta.get("options") or {
                    k: meta[k] for k in ("image_root", "images") if meta.get(k)
                }
                profiles = open_profiles(meta["profiles"], **options)
        session = CellSession(viewer, profiles, points)
        _SESSIONS[points] = session
    return session
