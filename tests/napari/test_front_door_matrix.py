"""Every kind × every entry point, on locations made from the real files in
../shared/data: one front door.

Each kind opens everywhere it makes sense — napari's reader, ``info``,
``view``, ``qc``, ``classify``, ``convert`` and the Python API — and where it
does not, the refusal names the location and says what it is, in one line
(never a traceback, never "internal error"). The table below is the
contract; a kind added to the registry without a row here fails the test.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

import arrowscope
from arrowscope.core.errors import ArrowscopeError
from arrowscope.core.profiles.kinds import BUILTIN, resolve
from tests.conftest import SHARED_DATA

pytestmark = pytest.mark.skipif(
    not (SHARED_DATA / "nf1_cellpainting_shrunken").exists(),
    reason="../shared/data is absent",
)

ENTRY_POINTS = ("reader", "info", "view", "qc", "classify", "convert", "api")
TABLES = {"reader", "info", "view", "qc", "classify", "api"}
IMAGES_TO_CONVERT = {"view", "convert"}  # napari's readers show them

#: where each kind opens; everywhere else it is refused with a reason
OPENS: dict[str, set[str]] = {
    "CytoTable Iceberg warehouse": TABLES,
    "iceberg-bioimage warehouse": TABLES,
    "warehouse data files": TABLES,
    "CytoTable Parquet export": TABLES,
    "CellProfiler SQLite": TABLES | {"convert"},
    "CellProfiler Analyst properties": TABLES | {"convert"},
    "CellProfiler CSV folder": TABLES | {"convert"},
    "OME-Arrow chunk dataset": {"reader", "info", "view", "convert", "api"},
    "OME-Zarr HCS plate": set(),
    "OME-Zarr image": IMAGES_TO_CONVERT,
    # CytoDataFrame's crops beside their cells' profiles and keys
    "OME-Arrow image table": TABLES | {"convert"},
    "profile table": TABLES,
    "CellProfiler LoadData / image CSV": {"reader", "info", "view", "qc", "api"},
    "CSV profile table": TABLES,
    "profile table without images": {"info", "qc", "classify", "api"},
    "OME-TIFF image": IMAGES_TO_CONVERT,
    "TIFF image": IMAGES_TO_CONVERT,
    "PNG image": IMAGES_TO_CONVERT,
}


def test_every_built_in_kind_has_a_row_and_a_real_example():
    from tests.kinds_built import BUILDERS

    names = [k.name for k in BUILTIN]
    assert sorted(OPENS) == sorted(names)
    assert sorted(BUILDERS) == sorted(names)


@pytest.fixture(scope="module")
def viewer():
    import napari

    v = napari.Viewer(show=False)
    yield v
    v.close()


class Outcome:
    def __init__(self, opened: bool, said: str = "") -> None:
        self.opened = opened
        self.said = said


def _command(argv: list[str], caplog) -> Outcome:
    from arrowscope.app.cli import main

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="arrowscope"):
        code = main(argv)
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert code in (0, 1), (argv, code, errors)
    return Outcome(code == 0, " ".join(errors))


def _feature(path: Path) -> str:
    """A numeric measurement of the table (what the qc rule judges)."""
    from arrowscope.core.profiles.classify import feature_columns

    try:
        pt = arrowscope.open_profiles(path)
    except ArrowscopeError:
        return "Nuclei_AreaShape_Area"
    found = feature_columns(pt.schema, pt.keys.columns())
    return found[0] if found else "Nuclei_AreaShape_Area"


def _labels(path: Path, out: Path) -> Path:
    """Eight judged cells of the table, two classes, by the table's keys."""
    try:
        pt = arrowscope.open_profiles(path)
        keys = [*pt.keys.image, *([pt.keys.object] if pt.keys.object else [])]
        rows = pt.read(keys).slice(0, 8)
    except ArrowscopeError:
        rows = pa.table({"ImageNumber": [1, 1], "ObjectNumber": [1, 2]})
    classes = pa.array(["a", "b"] * (rows.num_rows // 2) + ["a"] * (rows.num_rows % 2))
    pcsv.write_csv(rows.append_column("Metadata_class", classes), out)
    return out


def _entry(entry: str, path: Path, out: Path, viewer, caplog, monkeypatch) -> Outcome:
    if entry == "reader":
        import arrowscope._napari.reader as reader

        told: list[str] = []
        monkeypatch.setattr(reader, "_notify", lambda m, level: told.append(m))
        read = reader.get_reader(str(path))
        if read is None:
            return Outcome(False, "not claimed: left to napari's other readers")
        layers = read(str(path))
        nothing = len(layers) == 1 and layers[0][0] is None
        return Outcome(not nothing, " ".join(told))
    if entry == "info":
        from arrowscope.app.info import describe

        try:
            facts = describe(path)
        except ArrowscopeError as exc:
            return Outcome(False, str(exc))
        assert facts["kind"] == resolve(path).kind.name
        return Outcome(True)
    if entry == "view":
        from arrowscope.app.viewer import _open

        viewer.layers.clear()
        try:
            added = _open(viewer, path)
        except ArrowscopeError as exc:
            return Outcome(False, str(exc))
        return Outcome(bool(added), "" if added else "nothing shown")
    if entry == "qc":
        rule = out / "rule.yaml"
        rule.write_text(f"thresholds:\n  matrix:\n    {_feature(path)}: 2.0\n")
        argv = ["qc", str(path), "--conditions", str(rule), "--out", str(out / "f.csv")]
        return _command(argv, caplog)
    if entry == "classify":
        labels = _labels(path, out / "labels.csv")
        argv = ["classify", str(path), "--labels", str(labels)]
        return _command([*argv, "--out", str(out / "scores.parquet")], caplog)
    if entry == "convert":
        found = resolve(path)
        target = "joined.parquet" if found and found.kind.output else "c.ome.parquet"
        return _command(["convert", str(path), str(out / target)], caplog)
    assert entry == "api"
    try:
        arrowscope.open_location(path)
    except ArrowscopeError as exc:
        return Outcome(False, str(exc))
    return Outcome(True)


@pytest.mark.parametrize("kind", sorted(OPENS))
def test_one_front_door(kind, tmp_path, viewer, caplog, monkeypatch):
    from tests.kinds_built import BUILDERS

    (tmp_path / "in").mkdir()
    path = BUILDERS[kind](tmp_path / "in")
    found = resolve(path)
    assert found is not None and found.kind.name == kind
    observed = {}
    for entry in ENTRY_POINTS:
        out = tmp_path / entry
        out.mkdir()
        got = _entry(entry, path, out, viewer, caplog, monkeypatch)
        observed[entry] = got
        if not got.opened and entry != "reader":
            # a refusal names the location and what it is, on one line
            assert path.name in got.said or str(path) in got.said, (entry, got.said)
            assert "internal error" not in got.said and "\n" not in got.said
    opened = {e for e, got in observed.items() if got.opened}
    assert opened == OPENS[kind], {
        e: (o.opened, o.said[:160]) for e, o in observed.items()
    }
