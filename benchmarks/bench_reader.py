"""Time to layers, time to first plane and peak memory: arrowscope vs napari-ome-arrow.

Run: python benchmarks/bench_reader.py  (under a display or Xvfb; prints JSON)
Cases: (a) a 2,000-row table of 256×256 uint16 crops, (b) a 1×3×64×1024×1024 uint16
image as a typed chunk dataset. Each tool opens each case in a fresh subprocess, so
peak RSS is its own.
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
from _util import PeakRSS, emit, peak_rss_mib, run_child  # noqa: E402

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
    return {"crops_2000x256x256": crops, "dataset_1x3x64x1024x1024": big}


def child(tool: str, path: str) -> None:
    os.environ.setdefault("NAPARI_OME_ARROW_LAYER_TYPE", "image")
    import napari

    viewer = napari.Viewer(show=False)
    t_imp = time.perf_counter()
    if tool == "arrowscope":
        from arrowscope._napari.reader import get_reader
    else:
        from napari_ome_arrow import napari_get_reader as get_reader
    t_import = time.perf_counter() - t_imp
    with PeakRSS() as mem:
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
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "peak_rss_above_viewer_mib": round(mem.mib, 1),
    }
    if viewer.dims.ndim > 2:
        t1 = time.perf_counter()
        viewer.dims.set_point(0, viewer.dims.range[0].stop // 2)
        for layer in viewer.layers:
            np.asarray(layer._slice.image.raw)
        result["next_plane_s"] = round(time.perf_counter() - t1, 3)
    print(json.dumps(result))


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    t0 = time.perf_counter()
    cases = make_cases(tmp)
    out: dict[str, object] = {"setup_s": round(time.perf_counter() - t0, 1)}
    for case, path in cases.items():
        out[case] = {}
        for tool in ("arrowscope", "napari-ome-arrow"):
            out[case][tool] = run_child(__file__, [tool, str(path)], CHILD_TIMEOUT_S)
        a, b = out[case]["arrowscope"], out[case]["napari-ome-arrow"]
        if "error" not in a and "error" not in b:  # noqa: SIM102
            out[case]["ready_speedup"] = round(
                b["layers_in_viewer_s"] / a["layers_in_viewer_s"], 1
            )
            out[case]["memory_ratio"] = round(
                b["peak_rss_above_viewer_mib"]
                / max(a["peak_rss_above_viewer_mib"], 1.0),
                1,
            )
    emit(out)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3])
    else:
        main()
