"""The Export dock widget: layers to OME-Parquet/dataset/OME-TIFF/OME-Zarr, and QC results.

Every export runs in a worker thread with a progress bar, so the viewer stays
live; files are written to a temporary sibling and renamed when complete.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..core.batch import annotation_keys
from ..core.qc import write_annotations, write_cleaned
from .profiles_widget import _row, notify
from .session import session_for
from .workers import start
from .writer import EXPORT_FORMATS, export_layers

SUFFIX = {
    "parquet": ".ome.parquet",
    "dataset": ".ome.parquet",
    "tiff": ".ome.tiff",
    "zarr": ".ome.zarr",
}
COMPRESSIONS = ("zstd", "lz4", "snappy", "none")


class _Progress(QObject):
    """Carries progress from a worker thread to the bar (queued across threads)."""

    changed = Signal(int, int)


class ExportWidget(QWidget):
    """Export selected layers, or the QC annotations, cleaned table and crops."""

    def __init__(self, napari_viewer: Any) -> None:
        super().__init__()
        self.viewer = napari_viewer
        self.format = QComboBox()
        for key, label in EXPORT_FORMATS.items():
            self.format.addItem(label, key)
        self.compression = QComboBox()
        self.compression.addItems(list(COMPRESSIONS))
        self.path = QLineEdit(placeholderText="output path")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        self.export_button = QPushButton("Export selected layers")
        self.export_button.clicked.connect(lambda: self.export_selected())

        layers_box = QGroupBox("Layers")
        form = QFormLayout(layers_box)
        form.addRow("Format", self.format)
        form.addRow("Compression", self.compression)
        form.addRow("Path", _row(self.path, browse))
        form.addRow(self.export_button)

        qc_box = QGroupBox("QC results")
        ql = QVBoxLayout(qc_box)
        for text, kind in (
            ("Annotation file (keys + flags)…", "annotations"),
            ("Cleaned table (flagged rows removed)…", "cleaned"),
            ("Table with embedded crops…", "crops"),
        ):
            b = QPushButton(text)
            b.clicked.connect(lambda _=False, k=kind: self._ask_qc(k))
            ql.addWidget(b)

        self.bar = QProgressBar()
        self.bar.setVisible(False)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self._progress = _Progress()
        self._progress.changed.connect(self._tick)
        lay = QVBoxLayout(self)
        lay.addWidget(layers_box)
        lay.addWidget(qc_box)
        lay.addWidget(self.bar)
        lay.addWidget(self.status)
        lay.addStretch()
        self._worker: Any = None

    def _browse(self) -> None:
        fmt = self.format.currentData()
        path, _ = QFileDialog.getSaveFileName(self, "Export to", f"export{SUFFIX[fmt]}")
        if path:
            self.path.setText(path)

    def _tick(self, done: int, total: int) -> None:
        self.bar.setMaximum(max(total, 1))
        self.bar.setValue(done)

    def _run(self, label: str, job: Any) -> Any:
        from napari.qt.threading import thread_worker

        worker = thread_worker(job, ignore_errors=True)()
        self.bar.setVisible(True)
        self.bar.setValue(0)
        self.export_button.setEnabled(False)

        def done(path: Any) -> None:
            self.status.setText(f"{label}: wrote {path}")
            notify(f"{label}: wrote {path}")

        def failed(exc: Exception) -> None:
            self.status.setText(
                f"<span style='color:#ff6b6b'>{label} failed: {exc}</span>"
            )
            notify(f"{label} failed: {exc}", "error")

        worker.returned.connect(done)
        worker.errored.connect(failed)
        worker.finished.connect(
            lambda: (self.bar.setVisible(False), self.export_button.setEnabled(True))
        )
        self._worker = worker
        start(worker)
        return worker

    def export_selected(
        self,
        path: str | Path | None = None,
        fmt: str | None = None,
        compression: str | None = None,
    ) -> Any:
        """Export the selected Image/Labels layers (defaults from the form)."""
        target = Path(path or self.path.text().strip())
        if not str(target) or str(target) == ".":
            notify("Choose an output path first.", "warning")
            return None
        fmt = fmt or self.format.currentData()
        comp = compression or self.compression.currentText()
        selected = self.viewer.layers.selection
        layers = [  # in layer-list order: channel order follows what the user sees
            ly
            for ly in self.viewer.layers
            if ly in selected and ly._type_string in ("image", "labels")
        ]
        if not layers:
            notify("Select the Image or Labels layers to export.", "warning")
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

    def _ask_qc(self, kind: str) -> None:
        default = {
            "annotations": "qc_flags.parquet",
            "cleaned": "cleaned.parquet",
            "crops": "crops.ome.parquet",
        }[kind]
        path, _ = QFileDialog.getSaveFileName(self, "Save", default)
        if path:
            self.export_qc(kind, Path(path))

    def export_qc(self, kind: str, path: Path) -> Any:
        """Write the annotation file, the cleaned table or the crop table."""
        session = session_for(self.viewer)
        if session is None:
            notify("Open a profile table first (Profiles panel).", "warning")
            return None
        pt = session.profiles
        flags = session.flag_table()
        keep = ~session.outlier_mask()
        emit = self._progress.changed.emit

        def job() -> Path:
            if kind == "annotations":
                keys = pt.read(annotation_keys(pt.schema))
                return write_annotations(path, keys, flags)
            if kind == "cleaned":
                source = pt.path if pt.path is not None else pt.read(pt.columns)
                return write_cleaned(source, path, keep)
            from ..core.crops import write_crop_table

            return write_crop_table(pt, path, extra=flags, progress=emit)

        return self._run(
            {
                "annotations": "Annotations",
                "cleaned": "Cleaned table",
                "crops": "Crop table",
            }[kind],
            job,
        )
