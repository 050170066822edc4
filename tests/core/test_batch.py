"""QC over many files, in process and on a dask.distributed LocalCluster."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from arrowscope.core.errors import SchemaError
from arrowscope.core.profiles.batch import annotation_keys, partitions, run_qc
from arrowscope.core.profiles.qc import compute_flags
from tests.core.test_qc import planted


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    )
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture
def four_files(tmp_path):
    table = planted(n=4000, seed=7)
    area = table.column("Nuclei_AreaShape_Area").to_numpy().copy()
    area[[5, 1500, 3900]] = np.nan
    table = table.set_column(3, "Nuclei_AreaShape_Area", pa.array(area))
    paths = []
    for i in range(4):
        p = tmp_path / f"plate{i}.parquet"
        pq.write_table(table.slice(i * 1000, 1000), p, row_group_size=300)
        paths.append(p)
    return table, paths


@pytest.mark.parametrize(
    ("method", "group_by"),
    [("zscore", []), ("robust", []), ("zscore", ["Metadata_Plate"])],
)
def test_distributed_flags_equal_single_process(client, four_files, method, group_by):
    table, paths = four_files
    assert len(partitions(paths)) == 16
    conditions = (
        "cosmicqc"
        if method == "zscore"
        else {"odd": {"Nuclei_AreaShape_Area": "abs> 3"}}
    )
    keys_local, local = run_qc(paths, conditions, method, group_by)
    keys_dist, dist = run_qc(paths, conditions, method, group_by, client=client)
    assert keys_local.equals(keys_dist)
    assert local.flags.equals(dist.flags)
    direct = compute_flags(table, conditions, method, group_by or None)
    assert direct.flags.equals(local.flags)
    assert local.mask().any()
    assert dist.report["features"]["Nuclei_AreaShape_Area"]["missing"] == 3


def test_keys_and_mismatched_files(tmp_path, four_files):
    table, paths = four_files
    assert annotation_keys(table.schema) == [
        "Metadata_Plate",
        "Metadata_ImageNumber",
        "Metadata_Nuclei_Number_Object_Number",
    ]
    odd = tmp_path / "odd.parquet"
    pq.write_table(table.drop_columns(["Metadata_Plate"]).slice(0, 10), odd)
    with pytest.raises(SchemaError) as err:
        run_qc([paths[0], odd])
    assert err.value.column == "Metadata_Plate" and str(err.value.path) == str(odd)


def test_threads_follow_the_cores_the_process_may_use(monkeypatch):
    """Sized to the process's affinity, capped by ARROWSCOPE_THREADS (a shared
    machine's user keeps some cores for others); nonsense there is ignored."""
    import os

    from arrowscope.core.profiles.batch import usable_cores

    monkeypatch.delenv("ARROWSCOPE_THREADS", raising=False)
    allowed = usable_cores()
    assert 1 <= allowed <= len(os.sched_getaffinity(0))
    monkeypatch.setenv("ARROWSCOPE_THREADS", "1")
    assert usable_cores() == 1
    monkeypatch.setenv("ARROWSCOPE_THREADS", "64")
    assert usable_cores() == allowed  # a cap, never more than there is
    monkeypatch.setenv("ARROWSCOPE_THREADS", "lots")
    assert usable_cores() == allowed
    # a fit on a few hundred labelled cells runs on one thread, a larger one
    # on every core this process may use
    from arrowscope.core.profiles.batch import SMALL_FIT, fit_threads

    assert fit_threads(SMALL_FIT - 1) == 1
    assert fit_threads(SMALL_FIT) == allowed
