"""The ``arrowscope`` command line: demo, view, convert, qc, classify, info
(``info`` lives in :mod:`arrowscope.app.info`).

Exit codes: 0 success, 1 an arrowscope error (bad file, bad option value),
2 bad usage (argparse).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._version import __version__
from ..core.profiles.models import DEFAULT_MODEL, MODELS

logger = logging.getLogger("arrowscope")


def _location(text: str) -> Any:
    """A local path, or a URI kept as text (``Path`` folds ``s3://`` to ``s3:/``)."""
    if "://" in text and not text.startswith("file://"):
        return text
    return Path(text.removeprefix("file://"))


#: the extra that installs a module a command may need
_EXTRAS = {
    "napari": "app",
    "qtpy": "app",
    "magicgui": "app",
    "superqt": "app",
    "vispy": "app",
    "sklearn": "classify",
    "bioio": "io",
    "zarr": "io",
    "pyiceberg": "iceberg",
    "lance": "lance",
    "vortex": "vortex",
    "distributed": "distributed",
    "fsspec": "http",
    "aiohttp": "http",
}


def _positive(text: str) -> int:
    """A whole number of at least 1 (``--workers``)."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, not {text!r}")
    return value


def _demo_arguments(demo: argparse.ArgumentParser) -> None:
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("arrowscope-demo"),
        help="folder for the demo files",
    )
    demo.add_argument(
        "--screenshot",
        type=Path,
        help="render headless to this PNG instead of opening a window",
    )
    _overwrite_argument(demo, "rewrite the demo files and the screenshot if they exist")


def _view_arguments(view: argparse.ArgumentParser) -> None:
    view.add_argument("paths", nargs="*", type=_location)
    view.add_argument(
        "--profiles",
        type=_location,
        help="a profile table (file, folder, CellProfiler output, URI) to browse "
        "with its images",
    )
    _link_arguments(view)
    _warehouse_table_argument(view, "with --profiles ROOT: a warehouse's profile table")
    view.add_argument("--screenshot", type=Path, help="render headless to this PNG")
    _overwrite_argument(view, "replace the screenshot if it exists")


def _convert_arguments(conv: argparse.ArgumentParser) -> None:
    from ..core.images.formats import CONVERT_TARGETS

    conv.add_argument(
        "src",
        type=_location,
        help="a file, a folder of images, a glob like 'imgs/*.tif', or a URI",
    )
    conv.add_argument(
        "dst",
        type=_location,
        help=f"output file ({', '.join(CONVERT_TARGETS)}); for several inputs a folder",
    )
    conv.add_argument(
        "--to",
        default=".ome.parquet",
        help="output suffix for batch conversion (.ome.parquet, .ome.tiff, .ome.zarr)",
    )
    _dask_arguments(conv, "convert")
    conv.add_argument("--layout", choices=["auto", "nested", "chunked"], default="auto")
    _overwrite_argument(conv, "replace outputs that exist")
    conv.add_argument(
        "--compression",
        default="zstd",
        help="Parquet compression (zstd, lz4, snappy, none)",
    )


def _qc_arguments(qc: argparse.ArgumentParser) -> None:
    qc.add_argument(
        "tables",
        nargs="+",
        type=_location,
        help="profile tables, or one warehouse root, CellProfiler database, CSV "
        "folder, properties file or table URI",
    )
    qc.add_argument(
        "--conditions",
        default="cosmicqc",
        help="'cosmicqc' (its defaults) or a coSMicQC thresholds YAML file",
    )
    qc.add_argument(
        "--method",
        choices=["zscore", "robust", "raw"],
        help="how features are scored (default: zscore for cells, robust z "
        "within each plate for --level field or well)",
    )
    qc.add_argument(
        "--level",
        choices=["cell", "field", "well"],
        default="cell",
        help="what is judged: cells (default), or whole fields of view or wells "
        "by CellProfiler's image measures (ImageQuality_PowerLogLogSlope_<ch>, "
        "PercentMaximal_<ch>, object counts) and their cell counts; --out gets "
        "one row per field or well (measures, a flag per rule, the reason), "
        "--cleaned the cells of the fields or wells kept",
    )
    qc.add_argument(
        "--from-pixels",
        action="store_true",
        help="with --level field or well: measure image quality (focus score, "
        "PowerLogLogSlope, PercentMaximal…, as MeasureImageQuality defines them) "
        "from the linked images for the channels the table has no such "
        "columns for",
    )
    qc.add_argument(
        "--perturbation",
        metavar="COL",
        help="with --level well: the column naming each well's perturbation; "
        "reports replicate agreement per plate (percent replicating) and plates "
        "whose layout matches better turned by 180 degrees",
    )
    qc.add_argument(
        "--controls",
        metavar="VALUE",
        help="with --perturbation: the negative control's value; reports how "
        "widely each plate's control wells scatter",
    )
    _link_arguments(qc)
    _warehouse_table_argument(qc, "a warehouse's profile table, when not the default")
    qc.add_argument("--group-by", nargs="+", default=[], metavar="COL")
    qc.add_argument(
        "--nan-policy", choices=["omit", "propagate", "raise"], default="omit"
    )
    qc.add_argument("--out", type=Path, help="annotation file: keys + flags")
    _into_warehouse_argument(
        qc, "write the flags into the warehouse as table quality_control.NAME"
    )
    qc.add_argument(
        "--cleaned", type=Path, help="also write the table without flagged rows"
    )
    _overwrite_argument(qc, "replace outputs (files, a warehouse QC table) that exist")
    _dask_arguments(qc, "run")


def _classify_arguments(cls: argparse.ArgumentParser) -> None:
    cls.add_argument("table", type=_location, help="a profile table or warehouse root")
    cls.add_argument(
        "--labels",
        type=Path,
        help="Parquet/CSV: the table's key columns and Metadata_class; or a "
        "CellProfiler Analyst training set (default: the one TABLE's "
        "properties file names)",
    )
    cls.add_argument(
        "--out", type=Path, required=True, help="scores: keys, class, p per class"
    )
    cls.add_argument("--features", nargs="+", metavar="COL", help="default: numeric")
    cls.add_argument(
        "--model",
        choices=list(MODELS),
        default=DEFAULT_MODEL,
        help=", ".join(f"{k}: {m.title}" for k, m in MODELS.items()),
    )
    cls.add_argument(
        "--cv",
        type=int,
        default=0,
        metavar="K",
        help="also cross-validate the model K-fold (default: no, one fit only)",
    )
    cls.add_argument(
        "--save-model", type=Path, help="also write what rebuilds the model (JSON)"
    )
    _warehouse_table_argument(cls, "a warehouse's table", dest="warehouse_table")
    cls.add_argument(
        "--summary",
        type=Path,
        help="also write per-group class counts, shares and enrichment",
    )
    cls.add_argument(
        "--by",
        nargs="+",
        metavar="COL",
        help="the groups of --summary (default: plate and well, else image)",
    )
    _into_warehouse_argument(
        cls, "also write the scores into the warehouse as quality_control.NAME"
    )
    _overwrite_argument(cls, "replace outputs that exist")
    _dask_arguments(cls, "score")


def _info_arguments(info: argparse.ArgumentParser) -> None:
    info.add_argument("path", type=_location, help="a file, folder or URI")
    info.add_argument("--json", action="store_true", help="print JSON")
    _warehouse_table_argument(info, "a warehouse's profile table, when not the default")
    _link_arguments(info)


def _run_info(args: argparse.Namespace) -> int:
    from .info import info

    _check_link_roots(link_options(args))
    return info(args.path, as_json=args.json, table=args.table, **link_options(args))


def _run_demo(args: argparse.Namespace) -> int:
    return _demo(args.out, args.screenshot, overwrite=args.overwrite)


def _run_view(args: argparse.Namespace) -> int:
    return _view(
        args.paths,
        args.screenshot,
        args.profiles,
        overwrite=args.overwrite,
        table=args.table,
        links=link_options(args),
    )


@dataclass(frozen=True)
class Command:
    """One command: its help line, its arguments and what runs it."""

    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _commands() -> dict[str, Command]:
    return {
        "demo": Command(
            "write a synthetic Cell Painting plate and open it",
            _demo_arguments,
            _run_demo,
        ),
        "view": Command("open files and folders in napari", _view_arguments, _run_view),
        "convert": Command(
            "convert between OME-Parquet and OME-TIFF/TIFF/OME-Zarr, or "
            "CellProfiler output to one Parquet table",
            _convert_arguments,
            _convert,
        ),
        "qc": Command(
            "flag outlier cells (coSMicQC-compatible), fields or wells and export "
            "the flags",
            _qc_arguments,
            _qc,
        ),
        "classify": Command(
            "train a phenotype classifier on labelled cells and score every cell",
            _classify_arguments,
            _classify,
        ),
        "info": Command("describe what a file holds", _info_arguments, _run_info),
    }


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="arrowscope", description="OME-Arrow / OME-Parquet images in napari."
    )
    p.add_argument("--version", action="version", version=f"arrowscope {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, command in _commands().items():
        command.arguments(sub.add_parser(name, help=command.help))
    return p


def _overwrite_argument(parser: argparse.ArgumentParser, help: str) -> None:  # noqa: A002
    parser.add_argument("--overwrite", action="store_true", help=help)


def _warehouse_table_argument(
    parser: argparse.ArgumentParser,
    help: str,
    dest: str = "table",  # noqa: A002
) -> None:
    parser.add_argument("--table", dest=dest, help=help)


def _into_warehouse_argument(parser: argparse.ArgumentParser, help: str) -> None:  # noqa: A002
    parser.add_argument("--into-warehouse", metavar="NAME", help=help)


def _dask_arguments(parser: argparse.ArgumentParser, verb: str) -> None:
    """Where a command's batch work runs: a dask scheduler, or a local
    cluster of N workers (one or the other)."""
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", help="dask.distributed scheduler address")
    where.add_argument(
        "--workers", type=_positive, help=f"{verb} on a local dask cluster of N workers"
    )


def _link_arguments(parser: argparse.ArgumentParser) -> None:
    """Where a profile table's images are, when the table does not say."""
    parser.add_argument(
        "--images",
        type=_location,
        metavar="FOLDER",
        help="folder or URI (s3://…, https://…) holding the table's image files",
    )
    parser.add_argument(
        "--image-table",
        type=_location,
        metavar="LOCATION",
        help="the fields of view: an OME-Parquet image table sharing key "
        "columns, or an OME-Zarr HCS plate (matched by well and site)",
    )
    parser.add_argument(
        "--load-data",
        type=_location,
        metavar="FILE",
        help="CellProfiler's LoadData CSV/Parquet naming each plate/well/site's "
        "image files",
    )


def link_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``open_profiles`` options of the link arguments given."""
    given = {
        "image_root": args.images,
        "images": args.image_table,
        "load_data": args.load_data,
    }
    return {k: v for k, v in given.items() if v is not None}


class _OwnLines(logging.StreamHandler):  # type: ignore[type-arg]
    """arrowscope's own lines on stderr (one handler however often main runs).

    Writes to whatever ``sys.stderr`` is now, not the stream of the first run
    (which a host such as pytest may have closed since).
    """

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        return


def _configure_logging(debug: bool) -> None:
    """Print arrowscope's lines only: other libraries' INFO chatter (PyOpenGL's
    "No OpenGL_accelerate module loaded", pyiceberg's FileIO choice) stays
    out of a successful command's output; ARROWSCOPE_DEBUG=1 shows it all."""
    own = [h for h in logger.handlers if isinstance(h, _OwnLines)]
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(name)s: %(message)s")
        for handler in own:
            logger.removeHandler(handler)
    elif not own:
        handler = _OwnLines()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if debug else logging.INFO)


class UsageError(Exception):
    """Arguments that do not go together (exit code 2, as argparse's own)."""


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    from ..core.errors import ArrowscopeError

    args = _parser().parse_args(argv)
    if args.command in ("view", "demo"):  # a window open for hours: lean memory
        from .viewer import arrow_memory_from_malloc

        arrow_memory_from_malloc()
    debug = bool(os.environ.get("ARROWSCOPE_DEBUG"))
    _configure_logging(debug)
    if not debug:
        for noisy in ("bioio", "bioio_base", "bioio_ome_tiff", "bioio_tifffile"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
        logging.getLogger("pyiceberg").setLevel(logging.WARNING)  # "Defaulting to…"
    try:
        return _commands()[args.command].run(args)
    except UsageError as exc:
        logger.error("arrowscope %s: %s", args.command, exc)
        return 2
    except ArrowscopeError as exc:
        logger.error("arrowscope: %s", exc)
        return 1
    except KeyboardInterrupt:
        logger.error("arrowscope: interrupted")
        return 130
    except ModuleNotFoundError as exc:  # an extra that is not installed
        extra = _EXTRAS.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        logger.error(
            "arrowscope %s: needs %s, which is not installed (pip install "
            "'arrowscope[%s]')",
            args.command,
            exc.name,
            extra,
        )
        return 1
    except OSError as exc:  # a full disk, a vanished file: one line, not a trace
        where = f"{exc.filename}: " if exc.filename else ""
        logger.error("arrowscope: %s%s", where, exc.strerror or exc)
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug: say so in one line
        logger.debug("traceback", exc_info=True)
        logger.error(
            "arrowscope: internal error (%s: %s); rerun with ARROWSCOPE_DEBUG=1 "
            "for the traceback and please report it",
            type(exc).__name__,
            exc,
        )
        return 1


def _convert(args: argparse.Namespace) -> int:
    from ..core.errors import MissingFileError
    from ..core.images.convert import convert, per_image_outputs

    if isinstance(args.dst, str):
        from ..core.errors import UnsupportedError

        raise UnsupportedError(
            "writes go to local files only (a write is a rename, which object "
            "storage does not have)",
            path=args.dst,
            hint="write locally, then upload",
        )
    layout = {"chunked": "dataset"}.get(args.layout, args.layout)
    compression = None if args.compression == "none" else args.compression
    found = _decide(args.src)
    if (
        found is not None
        and found.role in ("profiles", "warehouse")
        and not (found.kind.output)
    ):
        raise found.refusal(
            "convert",
            hint="convert writes images (OME-Parquet, OME-TIFF, OME-Zarr) and "
            "joins CellProfiler output into one table; view, qc and classify "
            "read this as it is",
        )
    if found is not None and found.kind.output is not None:
        # CellProfiler's SQLite / CSV folder / properties: the joined table
        from ..core.profiles.cellprofiler import write_profile_table

        output = found.output()
        if output is not None:
            check_outputs([args.dst], [args.src, *output.inputs], args.overwrite)
            bar = _ProgressLine("convert")
            write_profile_table(output, args.dst, compression=compression, progress=bar)
            bar.done()
            for note in output.notes:
                logger.warning("%s", note)
            logger.info(
                "wrote %s (%d rows, %d columns)",
                args.dst,
                sum(output.store.group_rows),
                len(output.store.schema),
            )
            return 0
    inputs = [args.src] if isinstance(args.src, str) else _expand_inputs(args.src)
    if inputs == [args.src]:  # one file, dataset folder, OME-Zarr or URI
        if isinstance(args.src, Path) and not inputs[0].exists():
            raise MissingFileError("no such file or folder", path=args.src)
        check_outputs(per_image_outputs(inputs[0], args.dst), inputs, args.overwrite)
        written = convert(inputs[0], args.dst, layout=layout, compression=compression)
        for out in written:
            logger.info("wrote %s", out)
        return 0
    if not inputs:
        raise MissingFileError("no input files match", path=args.src)
    jobs = [(p, args.dst / (_base_name(p) + args.to)) for p in inputs]
    check_outputs([dst for _, dst in jobs], [args.src, *inputs], args.overwrite)
    args.dst.mkdir(parents=True, exist_ok=True)
    from ..core.profiles.batch import convert_many

    bar = _ProgressLine("convert")
    with _cluster(args) as client:
        failures = convert_many(
            jobs, layout=layout, compression=compression, client=client, progress=bar
        )
    bar.done()
    for src, message in failures:
        logger.error("arrowscope: %s: %s", src, message)
    logger.info(
        "converted %d of %d files into %s",
        len(jobs) - len(failures),
        len(jobs),
        args.dst,
    )
    return 1 if failures else 0


def check_outputs(targets: list[Path], inputs: list[Any], overwrite: bool) -> None:
    """The write policy for one command, checked before any work is done: no
    output onto an input, no two outputs one file, no existing output replaced
    without ``--overwrite`` (and each one replaced is named)."""
    from ..core.images.atomic import check_outputs as check

    for target in check(targets, inputs, overwrite=overwrite):
        logger.info("replacing %s", target)


def _expand_inputs(src: Path) -> list[Path]:
    text = str(src)
    if any(ch in text for ch in "*?["):
        import glob

        return sorted(Path(p) for p in glob.glob(text))
    from ..core.images.formats import is_zarr_folder

    if (
        src.is_dir()
        and not (src / "images.parquet").exists()
        and not src.name.lower().endswith(".zarr")
        and not is_zarr_folder(src)
    ):
        return sorted(
            p for p in src.iterdir() if p.is_file() and not p.name.startswith(".")
        )
    return [src]


def _base_name(path: Path) -> str:
    name = path.name
    for suffix in (
        ".ome.parquet",
        ".ome.tiff",
        ".ome.tif",
        ".ome.zarr",
        ".parquet",
        ".tiff",
        ".tif",
        ".zarr",
    ):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


@contextlib.contextmanager
def _cluster(args: argparse.Namespace) -> Iterator[Any]:
    """The dask client ``--scheduler``/``--workers`` ask for (None without),
    closed after the block — and a local cluster this command started, shut."""
    if not (args.scheduler or args.workers):
        yield None
        return
    from ..core.profiles.batch import connect

    client = connect(args.scheduler, args.workers)
    try:
        yield client
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None and not args.scheduler:
            cluster.close()


def _qc(args: argparse.Namespace) -> int:
    import pyarrow as pa

    from ..core.profiles.batch import qc_table, run_qc
    from ..core.profiles.qc import missing_summary, write_annotations, write_cleaned
    from ..core.profiles.warehouse import open_warehouse

    if args.level != "cell":
        return _qc_level(args)
    if args.from_pixels or link_options(args):
        raise UsageError(
            "--from-pixels (and the image links) measure fields: give --level "
            "field or well"
        )
    if args.perturbation or args.controls:
        raise UsageError("--perturbation and --controls judge wells: --level well")
    args.method = args.method or "zscore"
    conditions = args.conditions
    if conditions != "cosmicqc":
        conditions = Path(conditions)
    tables = list(args.tables)
    decided = _decide_all(tables, "check")
    root = (
        Path(decided[0].source)
        if len(tables) == 1
        and decided[0] is not None
        and decided[0].role == "warehouse"
        else None
    )
    if args.out is None and args.into_warehouse is None:
        raise UsageError("give --out FILE, or --into-warehouse NAME for a warehouse")
    if args.into_warehouse is not None and root is None:
        raise UsageError("--into-warehouse needs one warehouse root as input")
    if args.cleaned and root is not None:
        raise UsageError(
            "--cleaned is for profile files; filter a warehouse by its QC table"
        )
    pt = _front_door(tables, decided) if root is None else None
    outputs = [p for p in (args.out, args.cleaned) if p is not None]
    inputs = pt.inputs if pt is not None else list(tables)
    if isinstance(conditions, Path):
        inputs.append(conditions)
    check_outputs(outputs, inputs, args.overwrite)
    warehouse = open_warehouse(root) if root is not None else None
    if args.table is not None and warehouse is None:
        raise UsageError("--table chooses a table of a warehouse root")
    if (
        warehouse is not None
        and args.into_warehouse is not None
        and warehouse.check_quality_control(args.into_warehouse, args.overwrite)
    ):
        logger.info("replacing quality_control.%s in %s", args.into_warehouse, root)
    bar = _ProgressLine("qc")
    with _cluster(args) as client:
        qc_args = (conditions, args.method, args.group_by, args.nan_policy)
        if warehouse is not None:
            keys, result = warehouse.run_qc(
                *qc_args, client=client, progress=bar, table=args.table
            )
        elif pt is not None:
            keys, result = qc_table(pt, *qc_args, roles=pt.keys, name=tables[0])
        else:
            keys, result = run_qc(tables, *qc_args, client=client, progress=bar)
    bar.done()
    if warehouse is not None and args.into_warehouse is not None:
        written = warehouse.write_quality_control(
            args.into_warehouse, keys, result, overwrite=args.overwrite
        )
        logger.info(
            "wrote %s (%d rows) into %s", written.identifier, written.rows, root
        )
    if args.out is not None:
        write_annotations(args.out, keys, result)
    for name, facts in result.report["conditions"].items():
        logger.info("%s: %d flagged (%.2f%%)", name, facts["flagged"], facts["percent"])
    for line in missing_summary(result.report):
        logger.warning("%s", line)
    if args.out is not None:
        logger.info("wrote %s", args.out)
    if args.cleaned:
        keep = ~result.mask()
        if pt is not None:
            write_cleaned(pt.read(pt.columns), args.cleaned, keep)
        elif len(tables) == 1:
            write_cleaned(tables[0], args.cleaned, keep)
        else:
            from ..core.profiles.table import read_profile_table

            table = pa.concat_tables(
                [read_profile_table(p) for p in tables],
                promote_options="permissive",
            )
            write_cleaned(table, args.cleaned, keep)
        kept = f"{int(keep.sum())} of {keep.size} rows"
        logger.info("wrote %s (%s)", args.cleaned, kept)
    return 0


def _check_link_roots(links: dict[str, Any]) -> None:
    """Local folders and files given as links exist (named if not)."""
    from ..core.errors import MissingFileError

    for option, what in (
        ("image_root", "no such image folder (--images)"),
        ("images", "no such image table or plate (--image-table)"),
        ("load_data", "no such LoadData file (--load-data)"),
    ):
        where = links.get(option)
        if isinstance(where, Path) and not where.exists():
            raise MissingFileError(what, path=where)


def _qc_level(args: argparse.Namespace) -> int:
    """``qc --level field|well``: judge whole fields or wells, write one row
    per field or well, and the cells of those kept."""
    from ..core.profiles.fields import cells_of_flagged, level_qc, write_report
    from ..core.profiles.qc import write_cleaned
    from ..core.profiles.resolve import open_profiles

    level = args.level
    if len(args.tables) != 1:
        raise UsageError(f"--level {level} judges one table (or warehouse) at a time")
    if args.out is None:
        raise UsageError(f"give --out FILE for the {level}s")
    if args.group_by:
        raise UsageError("--group-by is for cells (fields are compared within plates)")
    if (args.perturbation or args.controls) and level != "well":
        raise UsageError("--perturbation and --controls judge wells: --level well")
    if args.controls and not args.perturbation:
        raise UsageError("--controls needs --perturbation COL")
    conditions: Any = "presets" if args.conditions == "cosmicqc" else args.conditions
    if args.from_pixels is False and link_options(args):
        raise UsageError(
            "--images, --image-table and --load-data go with --from-pixels"
        )
    _check_link_roots(link_options(args))
    found = _decide_all(args.tables[:1], "check")[0]
    pt = open_profiles(found or args.tables[0], **link_options(args))
    inputs = list(pt.inputs)
    if conditions != "presets":
        conditions = Path(conditions)
        inputs.append(conditions)
    outputs = [p for p in (args.out, args.cleaned) if p is not None]
    check_outputs(outputs, inputs, args.overwrite)
    warehouse = pt.warehouse if args.into_warehouse is not None else None
    if args.into_warehouse is not None:
        if warehouse is None:
            raise UsageError("--into-warehouse needs one warehouse root as input")
        if warehouse.check_quality_control(args.into_warehouse, args.overwrite):
            logger.info("replacing quality_control.%s", args.into_warehouse)
    if (args.scheduler or args.workers) and not args.from_pixels:
        raise UsageError(
            "--scheduler and --workers measure fields from pixels: add --from-pixels"
        )
    bar = _ProgressLine("measure")
    with _cluster(args) as client:
        table, result = level_qc(
            pt,
            level,
            conditions,
            args.method or "robust",
            pixels=args.from_pixels,
            progress=bar,
            client=client,
        )
    bar.done()
    rotated: dict[str, Any] = {}
    wells = None
    if level == "well" and args.perturbation:  # a plate turned round is flagged
        from ..core.profiles.fields import flag_rotated_plates
        from ..core.profiles.layout import well_profiles

        wells = well_profiles(pt, args.perturbation)  # read once, used twice
        result, rotated = flag_rotated_plates(table, result, wells, args.perturbation)
    write_report(args.out, table, result)
    for name, facts in result.report["conditions"].items():
        logger.info("%s: %d %ss flagged", name, facts["flagged"], level)
    logger.info(
        "wrote %s (%d %ss, %d flagged)",
        args.out,
        table.num_rows,
        level,
        int(result.mask().sum()),
    )
    if warehouse is not None:  # the catalog, by field (or well) key
        from ..core.profiles.fields import write_into_warehouse

        written = write_into_warehouse(
            warehouse,
            args.into_warehouse,
            table,
            result,
            level=level,
            overwrite=args.overwrite,
        )
        logger.info("wrote %s into %s", written.identifier, warehouse.root)
    if level == "well":  # position effects of the cell count, plate by plate
        from ..core.profiles.fields import CELLS
        from ..core.profiles.layout import plate_effects

        for plate, fx in plate_effects(table, CELLS).items():
            logger.info(
                "%scells per well: edge %+.1f SD, row trend %.1f SD, column "
                "trend %.1f SD",
                f"{plate}: " if plate else "",
                fx["edge"],
                fx["row_range"],
                fx["column_range"],
            )
    if wells is not None:
        _layout_report(wells, args.perturbation, args.controls, rotated)
    if args.cleaned:
        keep = ~cells_of_flagged(pt, table, result)
        write_cleaned(pt.read(pt.columns), args.cleaned, keep)
        kept = int(keep.sum())
        logger.info("wrote %s (%d of %d cells)", args.cleaned, kept, int(keep.size))
    return 0


def _layout_report(
    wells: Any, perturbation: str, controls: str | None, rotated: dict[str, Any]
) -> None:
    """Replicate agreement, rotated plates (``rotated``: as judged for the
    report) and control spread of the wells' profiles, plate by plate."""
    import pyarrow.compute as pc

    from ..core.profiles.keys import _find
    from ..core.profiles.layout import (
        control_spread,
        profile_features,
        replicate_agreement,
    )

    features = profile_features(wells, perturbation)
    plate_col = _find(wells.column_names, "Metadata_Plate", "Image_Metadata_Plate")
    plates = wells.column(plate_col).to_pylist() if plate_col else [None]
    for plate in dict.fromkeys(plates):
        mine = (
            wells
            if plate_col is None
            else wells.filter(pc.equal(wells.column(plate_col), plate))
        )
        agreement = replicate_agreement(mine, perturbation, features)
        logger.info(
            "%sreplicates agree for %.0f%% of %d perturbations",
            f"{plate}: " if plate else "",
            agreement["percent_replicating"],
            agreement["perturbations"],
        )
    if rotated:
        for plate, found in rotated.items():
            if found["rotated"]:
                logger.warning(
                    "%s: its wells match the layout turned by 180 degrees "
                    "(correlation %.2f) better than as labelled (%.2f): was the "
                    "plate rotated?",
                    plate,
                    found["rotated_180"],
                    found["as_labelled"],
                )
    if controls is not None:
        for plate, ratio in control_spread(
            wells, perturbation, controls, features
        ).items():
            logger.info(
                "%scontrol wells scatter %.2f times as much as the plate's wells",
                f"{plate}: " if plate else "",
                ratio,
            )


def _decide(location: Any) -> Any:
    """What a command's input is (:func:`~arrowscope.core.profiles.kinds.resolve`),
    decided once for the whole command; None when no kind knows it."""
    from ..core.profiles.kinds import resolve

    if isinstance(location, Path) and not location.exists():
        return None  # the command names it when it opens it
    return resolve(location)


def _decide_all(locations: list[Any], verb: str) -> list[Any]:
    """Each input decided once; a kind the command does not take (an image
    to convert first, a dataset of images) is refused with what it is and
    what to do."""
    decided = [_decide(t) for t in locations]
    for found in decided:
        if found is not None and not found.kind.rows:
            raise found.refusal(
                verb,
                hint="open its images with 'arrowscope view'; qc and "
                "classify read tables of measurements",
            )
    return decided


def _front_door(tables: list[Any], decided: list[Any]) -> Any:
    """The one table of a ``qc`` run that only ``open_profiles`` opens (a
    CellProfiler database, CSV folder or properties file, a table in a bucket),
    opened; None for plain local table files (read a row group at a time)."""
    from ..core.profiles.resolve import open_profiles

    special = [
        t
        for t, found in zip(tables, decided, strict=True)
        if isinstance(t, str) or (found is not None and found.kind.output)
    ]
    if not special:
        return None
    if len(tables) > 1:
        raise UsageError(
            f"{special[0]} is checked on its own: give one CellProfiler output or "
            "table URI per qc run"
        )
    return open_profiles(decided[0] or tables[0])


def _classify(args: argparse.Namespace) -> int:
    from ..core.profiles.classify import MODELS, classify_table
    from ..core.profiles.resolve import open_profiles

    also = [p for p in (args.save_model, args.summary) if p is not None]
    found = _decide_all([args.table], "classify")[0]
    if found is not None and not found.kind.cells:
        raise found.refusal(
            "classify",
            hint="classify judges cells: give the table of the cells' profiles "
            "(qc --level field judges fields)",
        )
    if args.into_warehouse is not None and (found is None or found.role != "warehouse"):
        raise UsageError("--into-warehouse needs a warehouse root as TABLE")
    # opened once (metadata only): classify, the summary and the warehouse
    # write all use this table
    pt = open_profiles(found or args.table, table=args.warehouse_table)
    warehouse = pt.warehouse if args.into_warehouse is not None else None
    if warehouse is not None:
        warehouse.check_quality_control(args.into_warehouse, args.overwrite)

    def before_training(pt: Any) -> None:
        if args.summary:
            from ..core.profiles.scoring import summary_groups

            summary_groups(pt, args.by)

    bar = _ProgressLine("classify")
    with _cluster(args) as client:
        trained = classify_table(
            pt,
            args.labels,
            args.out,
            features=args.features,
            model=args.model,
            progress=bar,
            client=client,
            overwrite=args.overwrite,
            folds=args.cv,
            also_writes=also,
            before_training=before_training,
        )
    bar.done()
    if warehouse is not None:
        from ..core.images.parquet import read_parquet

        written = warehouse.write_classes(
            args.into_warehouse,
            read_parquet(args.out),
            trained.classes,
            overwrite=args.overwrite,
        )
        logger.info("wrote %s into %s", written.identifier, warehouse.root)
    from collections import Counter

    counts = Counter(trained.training.column("Metadata_class").to_pylist())
    logger.info(
        "trained %s on %d cells (%s), %d features",
        MODELS[args.model].title,
        trained.training.num_rows,
        ", ".join(f"{c}: {n}" for c, n in sorted(counts.items())),
        len(trained.features),
    )
    for note in trained.notes:
        logger.warning("%s", note)
    if trained.cv_accuracy is not None:
        logger.info("cross-validated accuracy: %.3f", trained.cv_accuracy)
    top = list(trained.importances)[:5]
    logger.info("features that matter most: %s", ", ".join(top))
    if args.save_model:
        trained.save(args.save_model)
        logger.info("wrote %s", args.save_model)
    if args.summary:
        _class_summary(args, trained, pt)
    logger.info("wrote %s", args.out)
    return 0


def _class_summary(args: argparse.Namespace, trained: Any, pt: Any) -> None:
    """Per-group class counts, shares and enrichment, beside the scores."""
    from ..core.images.parquet import read_parquet
    from ..core.profiles.scoring import PREDICTED, write_class_summary

    scores = read_parquet(args.out, columns=[PREDICTED])
    path, by = write_class_summary(pt, scores, trained.classes, args.summary, args.by)
    logger.info("wrote %s (groups by %s)", path, by)


class _ProgressLine:
    """A one-line progress counter on stderr (only when it is a terminal)."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.live = sys.stderr.isatty()

    def __call__(self, done: int, total: int) -> None:
        if self.live:
            sys.stderr.write(f"\r{self.label}: {done}/{total}")
            sys.stderr.flush()

    def done(self) -> None:
        if self.live:
            sys.stderr.write("\n")


def _demo(out: Path, screenshot: Path | None, *, overwrite: bool = False) -> int:
    from ..core.profiles.synthetic import DEMO_FILES, write_demo_plate
    from .viewer import show

    if screenshot is not None:
        check_outputs([screenshot], [out], overwrite)
    present = [out / name for name in DEMO_FILES.values() if (out / name).exists()]
    if present and len(present) == len(DEMO_FILES) and not overwrite:
        files = {key: out / name for key, name in DEMO_FILES.items()}
        logger.info("opening the demo files in %s (--overwrite rewrites them)", out)
    else:
        check_outputs(present, [], overwrite)
        files = write_demo_plate(out)
        logger.info(
            "demo files written to %s: %s",
            out,
            ", ".join(p.name for p in files.values()),
        )
    # the profile table links to plate.ome.parquet by key: opening it shows all
    return show([files["profiles"]], screenshot, run_qc=True)


def _view(
    paths: list[Path],
    screenshot: Path | None,
    profiles: Path | None = None,
    *,
    overwrite: bool = False,
    table: str | None = None,
    links: dict[str, Any] | None = None,
) -> int:
    from ..core.errors import CorruptFileError, MissingFileError
    from .viewer import show

    if table is not None and profiles is None:
        raise UsageError("--table chooses a table of the warehouse given to --profiles")
    links = links or {}
    if links and profiles is None:
        raise UsageError(
            "--images, --image-table and --load-data link the images of the "
            "table given to --profiles"
        )

    if not paths and profiles is None:
        raise CorruptFileError("nothing to open", hint="give paths or --profiles TABLE")
    for p in [*paths, *([profiles] if profiles else [])]:
        if isinstance(p, Path) and not p.exists():
            raise MissingFileError("no such file or folder", path=p)
        if isinstance(p, Path) and p.is_file() and p.stat().st_size == 0:
            # what info says, not "no reader opens it"
            raise CorruptFileError(
                "is an empty file", path=p, hint="was it still being written?"
            )
    _check_link_roots(links)
    if screenshot is not None:
        local = [v for v in links.values() if isinstance(v, Path)]
        inputs = [p for p in (*paths, profiles, *local) if p is not None]
        check_outputs([screenshot], inputs, overwrite)
    return show(paths, screenshot, profiles=profiles, table=table, links=links)
