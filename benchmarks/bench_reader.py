"""Time to layers, time to first plane and peak memory: arrowscope vs napari-ome-arrow.

Run: python benchmarks/bench_reader.py [--cases crops dataset plane] [--modes cold warm]
(under a display or Xvfb; prints JSON).

Cases: (a) a 2,000-row table of 256×256 uint16 crops; (b) a 1×3×64×1024×1024 uint16
image as a typed chunk dataset; (c) one 16384×16384 uint16 plane as a dataset with the
stored pyramid arrowscope writes for such planes (and, arrowscope only, without it).

Each tool opens each case in a fresh subprocess, so peak RSS is its own, twice:
"cold" (the first file of a napari session, which also pays napari's and dask's
one-off start-up) and "warm" (a file dropped into a session that has already shown a
layer). ``napari_add_layers_floor_s`` is what napari itself takes to add the same
layers when their data cost nothing; ``beyond_napari_floor_s`` is the rest, the part
a reader plugin can change.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _util import PeakRSS, emit, run_child  # noqa: E402

#: A peer that waits on a modal dialog would otherwise hang the run.
CHILD_TIMEOUT_S = 300


def make_cases(tmp: Path) -> dict[str, Path]:
    import arrowscope

    rng = np.random.default_rng(0)
    crops = tmp / "crops.ome.parquet"
    crop = rng.integers(0, 4096, (256, 256), dtype=np.uint16)
    arrowscope.write_ome_table(
        crops,
        {"ome_arrow": [{"data": np.roll(crop, i), "dims": "YX"} for i in range(2000)]},
        extra_columns={"ObjectNumber": list(range(2000))},
    )
    big = tmp / "big.ome.parquet"
    import dask.array as da

    lazy = da.random.default_rng(1).integers(
        0, 4096, (1, 3, 64, 1024, 1024), dtype=np.uint16, chunks=(1, 1, 1, 1024, 1024)
    )
    arrowscope.write_ome_parquet(
        big, lazy, layout="dataset", tile=1024, channel_names=["a", "b", "c"]
    )
    cases = {"crops_2000x256x256": crops, "dataset_1x3x64x1024x1024": big}
    # one huge plane (512 MiB): with the stored pyramid arrowscope writes by
    # default above 8192 px, and without it (strided levels over the tiles)
    plane = da.random.default_rng(2).integers(
        0, 4096, (16384, 16384), dtype=np.uint16, chunks=(1024, 16384)
    )
    for name, pyramid in (("plane_16384x16384", True), ("strided", False)):
        path = tmp / f"{name}.ome.parquet"
        arrowscope.write_ome_parquet(
            path, plane, dims="YX", layout="dataset", tile=1024, pyramid=pyramid
        )
        cases[name if pyramid else "plane_16384x16384_no_pyramid"] = path
    return cases


#: cases only arrowscope opens (the same data as a peer case, another layout)
OURS_ONLY = {"plane_16384x16384_no_pyramid"}


def _warm_up(viewer) -> None:
    """What an open napari session has already paid before a file is dropped.

    The first layer of a session loads napari's unit registry (pint) and the
    first dask compute imports ``distributed`` when it is installed: one-off
    costs of napari and dask, not of the reader, paid by both tools alike.
    """
    import dask.array as da

    layer = viewer.add_image(
        da.zeros((2, 8, 8), chunks=4), scale=(1.0, 0.5, 0.5), units="µm"
    )
    viewer.layers.remove(layer)


def _napari_floor(viewer, layer_data) -> float:
    """Seconds napari takes to add the same layers when their data cost nothing."""
    viewer.layers.clear()
    free = []
    for data, kwargs, layer_type in layer_data:
        levels = data if kwargs.get("multiscale") else [data]
        fake = [np.broadcast_to(np.zeros((), lvl.dtype), lvl.shape) for lvl in levels]
        free.append((fake if kwargs.get("multiscale") else fake[0], kwargs, layer_type))
    t0 = time.perf_counter()
    for data, kwargs, layer_type in free:
        getattr(viewer, f"add_{layer_type}")(data, **kwargs)
    return time.perf_counter() - t0


def child(tool: str, path: str, mode: str) -> None:
    os.environ.setdefault("NAPARI_OME_ARROW_LAYER_TYPE", "image")
    import napari

    viewer = napari.Viewer(show=False)
    if mode == "warm":
        _warm_up(viewer)
    t_imp = time.perf_counter()
    if tool == "arrowscope":
        from arrowscope._napari.reader import get_reader
    else:
        from napari_ome_arrow import napari_get_reader as get_reader
    t_import = time.perf_counter() - t_imp
    with PeakRSS() as mem:
        # said first, so that it is known even if the reader never finishes
        print(json.dumps({"viewer_rss_mib": round(mem.start_mib, 1)}), flush=True)
        t0 = time.perf_counter()
        reader = get_reader(path)
        if reader is None:
            raise SystemExit(json.dumps({"error": "reader refused the path"}))
        layer_data = reader(path)
        t_read = time.perf_counter() - t0
        for data, kwargs, layer_type in layer_data:
            getattr(viewer, f"add_{layer_type}")(data, **kwargs)
        t_layers = time.perf_counter() - t0
        for layer in viewer.layers:
            np.asarray(layer._slice.image.raw)  # the plane on screen
        t_first = time.perf_counter() - t0
    result = {
        "layers": len(viewer.layers),
        "import_s": round(t_import, 3),
        "reader_s": round(t_read, 3),
        "layers_in_viewer_s": round(t_layers, 3),
        "first_plane_s": round(t_first, 3),
        "peak_rss_mib": round(mem.peak_mib, 1),
        "peak_rss_above_viewer_mib": round(mem.mib, 1),
    }
    if viewer.dims.ndim > 2:
        t1 = time.perf_counter()
        viewer.dims.set_point(0, viewer.dims.range[0].stop // 2)
        for layer in viewer.layers:
            np.asarray(layer._slice.image.raw)
        result["next_plane_s"] = round(time.perf_counter() - t1, 3)
    floor = _napari_floor(viewer, layer_data)
    result["napari_add_layers_floor_s"] = round(floor, 3)
    result["beyond_napari_floor_s"] = round(max(t_layers - floor, 0.0), 3)
    print(json.dumps(result))


def _ratios(a: dict, b: dict) -> dict[str, float]:
    """How many times sooner / smaller arrowscope is than the peer."""

    def ratio(key: str, floor: float = 0.001) -> float:
        return round(b[key] / max(a[key], floor), 1)

    return {
        "ready_speedup": ratio("layers_in_viewer_s"),
        "beyond_napari_speedup": ratio("beyond_napari_floor_s"),
        "reader_speedup": ratio("reader_s"),
        "memory_ratio": ratio("peak_rss_above_viewer_mib", 1.0),
    }


def main(argv: list[str]) -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--modes",
        nargs="+",
        default=["cold", "warm"],
        choices=["cold", "warm"],
        help="cold: the first file of a napari session; warm: a later one",
    )
    parser.add_argument(
        "--cases",
        nargs="+",
        choices=["crops", "dataset", "plane"],
        default=["crops", "dataset", "plane"],
    )
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp())
    t0 = time.perf_counter()
    cases = {
        name: path
        for name, path in make_cases(tmp).items()
        if name.split("_")[0] in args.cases
    }
    out: dict[str, object] = {"setup_s": round(time.perf_counter() - t0, 1)}
    for case, path in cases.items():
        out[case] = per_case = {}
        for mode in args.modes:
            per_case[mode] = runs = {}
            tools = ["arrowscope"]
            tools += [] if case in OURS_ONLY else ["napari-ome-arrow"]
            for tool in tools:
                timed_out = "error" in per_case.get("cold", {}).get(tool, {})
                runs[tool] = (
                    {"error": "not run: failed or timed out cold"}
                    if mode == "warm" and timed_out
                    else run_child(__file__, [tool, str(path), mode], CHILD_TIMEOUT_S)
                )
            a, b = runs["arrowscope"], runs.get("napari-ome-arrow", {"error": ""})
            if "error" not in a and "error" not in b:
                runs.update(_ratios(a, b))
            elif "error" not in a and "peak_rss_mib_by_then" in b:
                # the peer ran out of time: lower bounds
                runs["ready_speedup_at_least"] = round(
                    CHILD_TIMEOUT_S / a["layers_in_viewer_s"]
                )
                runs["memory_ratio_at_least"] = round(
                    (b["peak_rss_mib_by_then"] - b["viewer_rss_mib"])
                    / max(a["peak_rss_above_viewer_mib"], 1.0),
                    1,
                )
    emit(out)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(*sys.argv[2:5])
    else:
        main(sys.argv[1:])
