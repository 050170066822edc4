"""npe2 reader: OME-Arrow files, tables and chunk datasets as dask-backed layers.

``get_reader`` is cheap and silent: it looks at the suffix, then at the Parquet
footer / IPC schema only, and returns None for anything without an OME-Arrow
column so that plain tables stay with other readers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core.images.dataset import is_chunk_dataset

logger = logging.getLogger(__name__)
SUFFIXES = (".parquet", ".arrow", ".feather", ".ipc", ".csv", ".vortex")
OWN_SUFFIXES = (".ome.parquet", ".ome.arrow")


def _claims(location: str) -> bool:
    """Whether a path or URI holds OME-Arrow images or image-linked profiles.

    Cheap and silent: suffix and folder shape first, then the schema only
    (the Parquet footer, an IPC/Vortex/Lance schema), never pixels.
    """
    from ..core.images.stores import is_uri

    remote = is_uri(location)
    name = location.split("?", 1)[0].rstrip("/").lower()
    if remote:
        # ours by name only: remote schemas are read when the layer is made
        return name.endswith(OWN_SUFFIXES + (".lance",))
    path = Path(location)
    if path.name in ("catalog.json", "warehouse_manifest.json"):
        from ..core.profiles.warehouse import warehouse_root

        return warehouse_root(path) is not None  # a warehouse's registry
    if path.is_dir():
        from ..core.profiles.warehouse import is_warehouse

        if name.endswith(OWN_SUFFIXES):
            return True  # a dataset folder, ours by name: its errors are reported
        return is_chunk_dataset(path) or is_warehouse(path) or _schema_is_ours(path)
    if not name.endswith(SUFFIXES):
        return False
    if name.endswith(OWN_SUFFIXES):
        return True  # ours by name: errors get reported rather than ignored
    try:
        if name.endswith(".csv"):
            import pyarrow.csv as pcsv

            from ..core.profiles.table import looks_like_profiles

            with pcsv.open_csv(path) as reader:
                return looks_like_profiles(reader.schema)
        return _schema_is_ours(path)
    except Exception:  # a foreign or broken file is simply not ours
        logger.debug("arrowscope does not claim %s", path, exc_info=True)
    return False


def _schema_is_ours(path: Path) -> bool:
    """A Parquet/IPC/Vortex file or Lance folder whose schema holds OME-Arrow
    columns or looks like a profile table (footer or schema only)."""
    from ..core.images.image import has_ome_arrow
    from ..core.images.stores import open_store, sniff
    from ..core.profiles.table import looks_like_profiles

    if sniff(None, str(path)) is None:
        return False
    try:
        schema = open_store(path).schema
    except Exception:  # noqa: BLE001 - broken files are reported by the reader
        logger.debug("arrowscope cannot read the schema of %s", path, exc_info=True)
        return False
    return has_ome_arrow(schema) or looks_like_profiles(schema, schema.metadata)


def get_reader(path: str | list[str]) -> Callable[..., list[Any]] | None:
    """Return :func:`read_paths` when every path holds OME-Arrow data, else None.

    Never raises: napari asks every plugin about every dropped path, and a
    question about a broken or foreign file must not become an error dialog.
    """
    try:
        paths = [path] if isinstance(path, str) else list(path)
        if not paths or not all(_claims(str(p)) for p in paths):
            return None
    except Exception:  # noqa: BLE001 - the contract is "None or a reader"
        logger.debug("arrowscope does not claim %s", path, exc_info=True)
        return None
    return read_paths


def read_paths(path: str | list[str], stack: bool = False) -> list[Any]:
    """Read paths into layer data tuples, reporting problems as notifications.

    Returns napari's null-layer sentinel ``[(None,)]`` when nothing could be
    read, after telling the user why.
    """
    from ..core.errors import ArrowscopeError
    from ..core.images.image import open_source
    from ..core.images.stores import is_uri
    from .layers import source_layers
    from .preferences import ensure_reader_preferences

    ensure_reader_preferences()  # next time, drops go straight to arrowscope
    paths = [path] if isinstance(path, str) else list(path)
    layers: list[Any] = []
    for p in paths:
        try:
            if not is_uri(p) and _is_profile_table(Path(p)):
                from ..core.profiles.table import open_profiles
                from ..core.profiles.warehouse import warehouse_root
                from .profile_layers import profile_layers

                pt = open_profiles(warehouse_root(p) or p)
                layers += profile_layers(pt)
                for problem in pt.problems[:3]:
                    _notify(f"{p}: {problem}", "warning")
                continue
            src = open_source(p)
            problems: list[ArrowscopeError] = []
            found = source_layers(src, problems)
            skipped = [*src.empty_columns, *(e.column for e in problems)]
            if skipped:
                reasons = "; ".join(
                    [f"column '{c}': holds no images" for c in src.empty_columns]
                    + [str(e).removeprefix(f"{e.path}: ") for e in problems]
                )
                _notify(
                    f"{p}: skipped {len(skipped)} image column(s) ({reasons})",
                    "warning" if found else "error",
                )
            layers += found
        except ArrowscopeError as exc:
            _notify(str(exc), "error")
        except Exception as exc:  # noqa: BLE001 - never let a file crash napari
            logger.debug("reading %s failed", p, exc_info=True)
            _notify(
                f"{p}: cannot be read ({type(exc).__name__}: {exc}); "
                "run 'arrowscope info' on it for details",
                "error",
            )
    return layers or [(None,)]


def _is_profile_table(path: Path) -> bool:
    """A profile table without OME-Arrow columns (images linked, not embedded),
    or a warehouse root (its profiles linked to its images)."""
    if path.is_dir() or path.name in ("catalog.json", "warehouse_manifest.json"):
        from ..core.profiles.warehouse import warehouse_root

        return warehouse_root(path) is not None and not is_chunk_dataset(path)
    if path.name.lower().endswith(OWN_SUFFIXES):
        return False
    from ..core.images.image import has_ome_arrow
    from ..core.profiles.table import TableFile

    return not has_ome_arrow(TableFile(path).schema)


def _notify(message: str, level: str) -> None:
    from napari.utils.notifications import show_error, show_info, show_warning

    {"error": show_error, "warning": show_warning}.get(level, show_info)(message)
