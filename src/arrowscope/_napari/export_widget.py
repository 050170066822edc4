"""The Export dock widget (magicgui): layers and QC results to files, in a worker.

Layers go to OME-Parquet, a chunked dataset, OME-TIFF or OME-Zarr; QC results to
the annotation file, the cleaned table or a table with embedded crops. Every
export runs in a worker thread with a progress bar, so the viewer stays live;
files are written to a temporary sibling and renamed when complete.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
from magicgui.widgets import (
    ComboBox,
    Container,
    FileEdit,
    Label,
    LineEdit,
    ProgressBar,
    PushButton,
)
from qtpy.QtCore import QObject, Signal

from ..core.profiles.batch import annotation_keys
from ..core.profiles.qc import write_annotations, write_cleaned
from .profiles_widget import notify
from .session import session_for
from .workers import make_worker, start
from .writer import EXPORT_FORMATS, export_layers

COMPRESSIONS = ("zstd", "lz4", "snappy", "none")
QC_EXPORTS = {
    "annotations": "Annotation file (keys + flags)",
    "cleaned": "Cleaned table (flagged rows removed)",
    "crops": "Table with embedded crops",
    "warehouse": "Into the warehouse (quality_control.<name>)",
}


def confirm_replace(parent: Any, question: str) -> bool:
    """Ask before replacing an existing output (the panels' ``--overwrite``)."""
    from qtpy.QtWidgets import QMessageBox

    buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel
    answer = QMessageBox.question(
        parent, "Replace?", question, buttons, QMessageBox.StandardButton.Cancel
    )
    return bool(answer == QMessageBox.StandardButton.Yes)


class _Progress(QObject):
    """Carries progress from a worker thread to the bar (queued across threads)."""

    changed = Signal(int, int)


class ExportWidget(Container):
    """Export selected layers, or the QC annotations, cleaned table and crops."""

    def __init__(self, napari_viewer: Any) -> None:
        self.viewer = napari_viewer
        self.format = ComboBox(
            label="Format",
            choices=[(label, key) for key, label in EXPORT_FORMATS.items()],
        )
        self.compression = ComboBox(label="Compression", choices=list(COMPRESSIONS))
        self.path = FileEdit(label="Layers to", mode="w", value="export.ome.parquet")
        self.export_button = PushButton(text="Export selected layers")
        self.qc_kind = ComboBox(
            label="QC result",
            choices=[(label, key) for key, label in QC_EXPORTS.items()],
        )
        self.qc_path = FileEdit(label="QC to", mode="w", value="qc_flags.parquet")
        self.qc_table = LineEdit(label="QC table", value="arrowscope_qc")
        self.qc_button = PushButton(text="Export QC result")
        self.bar = ProgressBar(label="Progress", value=0, visible=False)
        self.status = Label(value="")
        super().__init__(
            widgets=[
                self.format,
                self.compression,
                self.path,
                self.export_button,
                self.qc_kind,
                self.qc_path,
                self.qc_table,
                self.qc_button,
                self.bar,
                self.status,
            ]
        )
        self.export_button.changed.connect(lambda: self.export_selected())
        self.qc_button.changed.connect(
            lambda: self.export_qc(self.qc_kind.value, Path(self.qc_path.value))
        )
        self.qc_kind.changed.connect(self._kind_changed)
        self._kind_changed(self.qc_kind.value)
        self._progress = _Progress()
        self._progress.changed.connect(self._tick)
        self._worker: Any = None

    def _kind_changed(self, kind: str) -> None:
        into = kind == "warehouse"
        self.qc_table.visible = into
        self.qc_path.visible = not into

    def _tick(self, done: int, total: int) -> None:
        self.bar.max = max(total, 1)
        self.bar.value = min(done, self.bar.max)

    def _run(self, label: str, job: Any) -> Any:
        self.bar.visible = True
        self.bar.value = 0
        self.export_button.enabled = self.qc_button.enabled = False

        def done(path: Any) -> None:
            self.status.value = f"{label}: wrote {path}"
            notify(f"{label}: wrote {path}")

        def failed(exc: Exception) -> None:
            self.status.value = f"{label} failed: {exc}"
            notify(f"{label} failed: {exc}", "error")

        def finished() -> None:
            self.bar.visible = False
            self.export_button.enabled = self.qc_button.enabled = True

        worker = make_worker(
            job, receiver=self.native, done=done, failed=failed, finished=finished
        )
        self._worker = worker
        return start(worker)

    def _may_write(
        self, target: Any, exists: Callable[[], bool], overwrite: bool | None
    ) -> bool:
        """The write policy of the command line, with a confirmation instead of
        ``--overwrite``: ``exists()`` refuses what may never be written (an
        input) and says whether ``target`` exists; an existing one is replaced
        only when the user confirms (``overwrite=None`` asks, True/False decide)."""
        from ..core.errors import ArrowscopeError

        try:
            found = exists()
        except ArrowscopeError as exc:
            self.status.value = str(exc)
            notify(str(exc), "error")
            return False
        if found and overwrite is None:
            overwrite = confirm_replace(self.native, f"{target} exists. Replace it?")
        if found and not overwrite:
            self.status.value = f"{target} exists; nothing was written"
            notify(self.status.value, "warning")
            return False
        return True

    def _may_write_file(
        self, target: Path, inputs: list[Any], overwrite: bool | None
    ) -> bool:
        from ..core.images.atomic import check_output

        return self._may_write(
            target,
            lambda: check_output(target, inputs=inputs, overwrite=True),
            overwrite,
        )

    def export_selected(
        self,
        path: str | Path | None = None,
        fmt: str | None = None,
        compression: str | None = None,
        *,
        overwrite: bool | None = None,
    ) -> Any:
        """Export the selected Image/Labels layers (defaults from the form).

        An existing target is replaced only after a confirmation (or with
        ``overwrite=True``); a layer's own source file is never written over.
        """
        target = Path(path or self.path.value)
        fmt = fmt or self.format.value
        comp = compression or self.compression.value
        selected = self.viewer.layers.selection
        layers = [  # in layer-list order: channel order follows what the user sees
            ly
            for ly in self.viewer.layers
            if ly in selected and ly._type_string in ("image", "labels")
        ]
        if not layers:
            notify("Select the Image or Labels layers to export.", "warning")
            return None
        sources = [ly.source.path for ly in layers if ly.source.path]
        if not self._may_write_file(target, sources, overwrite):
            return None
        data = [ly.as_layer_data_tuple() for ly in layers]
        emit = self._progress.changed.emit

        def job() -> Path:
            return export_layers(
                target,
                data,
                fmt=fmt,
                compression=None if comp == "none" else comp,
                progress=emit,
            )

        return self._run("Export", job)

    def export_qc(self, kind: str, path: Path, *, overwrite: bool | None = None) -> Any:
        """Write the annotation file, the cleaned table or the crop table.

        The profile table and its image folders are never written over; an
        existing file (or warehouse QC table) is replaced only after a
        confirmation, or with ``overwrite=True``.
        """
        session = session_for(self.viewer)
        if session is None:
            notify("Open a profile table first (Profiles panel).", "warning")
            return None
        pt = session.profiles
        if kind == "warehouse" and pt.warehouse is None:
            notify(
                "This table was not opened from a warehouse: export the "
                "annotation file instead.",
                "warning",
            )
            return None
        name = str(self.qc_table.value).strip()
        if kind == "warehouse":
            table = f"quality_control.{name}"
            check = partial(pt.warehouse.check_quality_control, name, True)
            if not self._may_write(table, check, overwrite):
                return None
        elif not self._may_write_file(path, pt.inputs, overwrite):
            return None
        flags = session.flag_table()
        keep = ~session.outlier_mask()
        emit = self._progress.changed.emit

        def job() -> Path:
            if kind == "annotations":
                marks = session.marks if session.marks and len(session.marks) else None
                return write_annotations(
                    path,
                    pt.read(annotation_keys(pt.schema, pt.keys)),
                    flags,
                    marks=marks,
                )
            if kind == "warehouse":
                keys = pt.read(annotation_keys(pt.schema, pt.keys))
                report = {"conditions": session.conditions_report}
                table = flags
                if session.marks is not None and len(session.marks):
                    from ..core.profiles.marks import MANUAL_COLUMN

                    verdicts = pa.array(list(session.verdicts), pa.string())
                    table = table.append_column(MANUAL_COLUMN, verdicts)
                written = pt.warehouse.write_quality_control(
                    name, keys, table, report=report, overwrite=True
                )
                return f"{written.identifier} in {pt.warehouse.root}"
            if kind == "cleaned":
                one_file = pt.path is not None and pt.path.is_file()
                source = pt.path if one_file else pt.read(pt.columns)
                return write_cleaned(source, path, keep)
            from ..core.profiles.crops import write_crop_table

            return write_crop_table(pt, path, extra=flags, progress=emit)

        return self._run(QC_EXPORTS[kind], job)
