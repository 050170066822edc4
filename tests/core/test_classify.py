"""The phenotype classifier: labels matched by key (never by position), a model
trained on planted phenotypes, every row scored out of core, a model saved as
what rebuilds it (no pickle), and the `arrowscope classify` contract."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.csv  # noqa: F401 - pa.csv.write_csv
import pyarrow.parquet as pq
import pytest

pytest.importorskip("sklearn")

from arrowscope.app.cli import main  # noqa: E402
from arrowscope.core.errors import ArrowscopeError, SchemaError  # noqa: E402
from arrowscope.core.profiles.classify import (  # noqa: E402
    CLASS_COLUMN,
    PREDICTED,
    classify_table,
    feature_columns,
    load_model,
)


@pytest.fixture
def screen(tmp_path):
    """2,000 cells in 20 row groups, 12 features; phenotype "big" cells have
    large, bright nuclei (planted), the rest are "normal"."""
    rng = np.random.default_rng(3)
    n = 2000
    big = rng.random(n) < 0.2
    cols = {
        "Metadata_Plate": ["P1"] * n,
        "Metadata_ImageNumber": (np.arange(n) // 50 + 1).astype(np.int64),
        "Nuclei_Number_Object_Number": (np.arange(n) % 50 + 1).astype(np.int64),
        "Nuclei_AreaShape_Area": rng.normal(100, 10, n) + big * 60,
        "Nuclei_Intensity_MeanIntensity_DNA": rng.normal(0.3, 0.05, n) + big * 0.2,
    }
    for i in range(10):
        cols[f"Cells_Texture_Noise_{i}"] = rng.normal(0, 1, n)
    table = pa.table(cols)
    path = tmp_path / "screen.parquet"
    pq.write_table(table, path, row_group_size=100)
    truth = np.where(big, "big", "normal")
    return path, table, truth


def _picks(truth, big, normal):
    """The first ``big`` and ``normal`` cells of each planted class."""
    return np.concatenate(
        [
            np.flatnonzero(truth == "big")[:big],
            np.flatnonzero(truth == "normal")[:normal],
        ]
    )


def _labels(table, truth, picks, shuffle=True):
    rng = np.random.default_rng(1)
    order = rng.permutation(picks) if shuffle else picks
    keys = table.select(
        ["Metadata_Plate", "Metadata_ImageNumber", "Nuclei_Number_Object_Number"]
    ).take(pa.array(order))
    return keys.append_column(CLASS_COLUMN, pa.array(list(truth[order])))


def test_labelled_cells_teach_the_planted_phenotype(screen, tmp_path):
    path, table, truth = screen
    picks = _picks(truth, 40, 60)
    labels = tmp_path / "labels.csv"
    pa.csv.write_csv(_labels(table, truth, picks), labels)
    out = tmp_path / "scores.parquet"
    seen = []
    trained = classify_table(
        path, labels, out, progress=lambda d, t: seen.append((d, t))
    )
    assert trained.classes == ["big", "normal"]
    assert trained.cv_accuracy is not None and trained.cv_accuracy > 0.9
    assert np.asarray(trained.confusion).sum() == 100
    assert set(list(trained.importances)[:2]) == {
        "Nuclei_AreaShape_Area",
        "Nuclei_Intensity_MeanIntensity_DNA",
    }
    # cells scored (its twenty small row groups are read in one span)
    assert seen == [(len(truth), len(truth))]
    scores = pq.read_table(out)
    assert scores.column_names == [
        "Metadata_Plate",
        "Metadata_ImageNumber",
        "Nuclei_Number_Object_Number",
        PREDICTED,
        "Metadata_p_big",
        "Metadata_p_normal",
    ]
    assert scores.num_rows == table.num_rows
    # scores are in the table's row order, keyed: compare by key, not position
    assert scores.select(scores.column_names[:3]).equals(
        table.select(scores.column_names[:3])
    )
    predicted = np.asarray(scores.column(PREDICTED).to_pylist())
    assert (predicted == truth).mean() > 0.95
    p = np.column_stack([scores.column(c).to_numpy() for c in scores.column_names[4:]])
    np.testing.assert_allclose(p.sum(axis=1), 1.0)


def test_labels_match_by_key_and_bad_labels_are_named(screen, tmp_path):
    path, table, truth = screen
    picks = _picks(truth, 10, 10)
    out = tmp_path / "s.parquet"
    a = classify_table(path, _labels(table, truth, picks, shuffle=False), out, seed=2)
    b = classify_table(path, _labels(table, truth, picks, shuffle=True), out, seed=2)
    assert a.training.sort_by("Nuclei_AreaShape_Area").equals(
        b.training.sort_by("Nuclei_AreaShape_Area")
    )  # the same cells, whatever the labels' order
    stray = _labels(table, truth, picks).to_pylist()
    stray[3]["Metadata_ImageNumber"] = 9999
    with pytest.raises(SchemaError, match="label row 3 names .* which is no cell"):
        classify_table(path, pa.Table.from_pylist(stray), out)
    one = _labels(table, truth, np.flatnonzero(truth == "big")[:5])
    with pytest.raises(ArrowscopeError, match="at least two classes"):
        classify_table(path, one, out)


def test_a_saved_model_rebuilds_without_pickle(screen, tmp_path):
    path, table, truth = screen
    picks = _picks(truth, 20, 20)
    trained = classify_table(
        path, _labels(table, truth, picks), tmp_path / "s.parquet", model="rf"
    )
    saved = trained.save(tmp_path / "model.json")
    payload = json.loads(saved.read_text())
    assert payload["model"] == "rf" and "scikit-learn" in payload["versions"]
    assert b"pickle" not in saved.read_bytes() and len(payload["training"]) == 40
    again = load_model(saved)
    sample = table.slice(0, 200)
    np.testing.assert_array_equal(trained.predict(sample)[0], again.predict(sample)[0])
    np.testing.assert_allclose(trained.predict(sample)[1], again.predict(sample)[1])
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(ArrowscopeError, match="not a saved classifier"):
        load_model(tmp_path / "bad.json")


def test_the_command_lines_one_fit_is_finer_than_the_panels_retrain(screen, tmp_path):
    """A fit made once to score the screen cuts each feature into 255 bins;
    the panel's retrain on every change into 63 (half the time) — and a
    saved model keeps which it was."""
    import arrowscope
    from arrowscope.core.profiles.classify import train_table

    path, table, truth = screen
    labels = _labels(table, truth, _picks(truth, 20, 20))
    once = classify_table(path, labels, tmp_path / "s.parquet", folds=0)
    quick = train_table(arrowscope.open_profiles(path), labels, folds=0)
    assert once.estimator.max_bins == 255 and quick.estimator.max_bins == 63
    again = load_model(once.save(tmp_path / "model.json"))
    assert again.fine and again.estimator.max_bins == 255


def test_feature_columns_leave_out_metadata_keys_and_ignored(screen):
    _, table, _ = screen
    keys = ["Metadata_Plate", "Metadata_ImageNumber", "Nuclei_Number_Object_Number"]
    found = feature_columns(table.schema, keys, ignore=[r"Cells_Texture_Noise_[0-4]"])
    assert "Metadata_ImageNumber" not in found
    assert "Nuclei_Number_Object_Number" not in found
    assert "Cells_Texture_Noise_3" not in found and "Cells_Texture_Noise_7" in found
    assert "Nuclei_AreaShape_Area" in found


def test_the_classify_command(screen, tmp_path, caplog):
    import logging

    caplog.set_level(logging.INFO)
    path, table, truth = screen
    picks = _picks(truth, 30, 30)
    labels = tmp_path / "labels.parquet"
    pq.write_table(_labels(table, truth, picks), labels)
    out, model = tmp_path / "scores.parquet", tmp_path / "model.json"
    argv = ["classify", str(path), "--labels", str(labels), "--out", str(out)]
    assert main([*argv, "--save-model", str(model), "--cv", "5"]) == 0
    assert "cross-validated accuracy" in caplog.text and model.exists()
    caplog.clear()  # without --cv: one fit, no cross-validation
    assert main([*argv, "--overwrite"]) == 0
    assert "cross-validated accuracy" not in caplog.text
    assert pq.read_metadata(out).num_rows == table.num_rows
    # the write policy: existing output needs --overwrite, never onto an input
    before = out.read_bytes()
    assert main(argv) == 1 and out.read_bytes() == before
    assert main([*argv[:-1], str(path), "--overwrite"]) == 1  # --out is the table
    assert main([*argv, "--overwrite", "--features", "Nuclei_AreaShape_Area"]) == 0
    assert main([*argv, "--overwrite", "--features", "Nope"]) == 1
    assert "Nope" in caplog.text


def test_per_group_counts_shares_and_enrichment(screen, tmp_path):
    from arrowscope.core.profiles.scoring import class_summary

    path, table, truth = screen
    picks = _picks(truth, 30, 30)
    labels = tmp_path / "labels.parquet"
    pq.write_table(_labels(table, truth, picks), labels)
    out, summary = tmp_path / "scores.parquet", tmp_path / "summary.csv"
    argv = ["classify", str(path), "--labels", str(labels), "--out", str(out)]
    assert main([*argv, "--summary", str(summary)]) == 0
    got = pa.csv.read_csv(summary)
    # no wells in this table: per plate and image, 40 images of 50 cells
    assert got.column_names[:2] == ["Metadata_Plate", "Metadata_ImageNumber"]
    assert got.num_rows == 40 and got.column("cells").to_pylist() == [50] * 40
    # counts add up, shares are counts over cells, enrichment against the plate
    scores = pq.read_table(out)
    predicted = np.asarray(scores.column(PREDICTED).to_pylist())
    assert got.column("big_cells").to_numpy().sum() == (predicted == "big").sum()
    plate_share = (predicted == "big").mean()
    np.testing.assert_allclose(
        got.column("big_enrichment").to_numpy(),
        got.column("big_share").to_numpy() / plate_share,
    )
    # the function itself, on a planted table of two wells
    tiny = pa.table(
        {
            "Metadata_Plate": ["P"] * 4,
            "Metadata_Well": ["A01", "A01", "B02", "B02"],
            PREDICTED: ["big", "big", "big", "normal"],
        }
    )
    s = class_summary(tiny, ["big", "normal"], ["Metadata_Plate", "Metadata_Well"])
    assert s.column("big_share").to_pylist() == [1.0, 0.5]
    assert s.column("big_enrichment").to_pylist() == [
        pytest.approx(4 / 3),
        pytest.approx(2 / 3),
    ]


def test_a_cpa_properties_file_and_its_training_set_drive_classify(tmp_path):
    """CPA's own inputs: the properties name the database, keys, ignored
    columns and the training set; `classify PROPERTIES --out` needs nothing
    else, and rows are matched by image and object number."""
    from arrowscope.core.profiles.cpa import write_training_set
    from arrowscope.core.profiles.synthetic import write_cellprofiler_sqlite

    write_cellprofiler_sqlite(
        tmp_path / "cpa.db", images=6, cells=10, layout="single object table"
    )
    key = ["Metadata_ImageNumber", "Metadata_ObjectNumber"]
    picks = pa.table(
        {
            "Metadata_ImageNumber": [1, 1, 2, 2, 3, 3, 4, 4],
            "Metadata_ObjectNumber": [1, 2, 3, 4, 5, 6, 7, 8],
            CLASS_COLUMN: ["pos", "neg"] * 4,
        }
    )
    write_training_set(tmp_path / "train.txt", picks, key)
    props = tmp_path / "exp.properties"
    props.write_text(
        "db_type = sqlite\ndb_sqlite_file = cpa.db\n"
        "image_table = Per_Image\nobject_table = Per_Object\n"
        "image_id = ImageNumber\nobject_id = ObjectNumber\n"
        "cell_x_loc = Nuclei_Location_Center_X\n"
        "cell_y_loc = Nuclei_Location_Center_Y\n"
        "classifier_ignore_columns = Cells_.*, .*_Location_.*\n"
        "training_set = train.txt\n"
    )
    out, model = tmp_path / "scores.parquet", tmp_path / "model.json"
    argv = ["classify", str(props), "--out", str(out), "--save-model", str(model)]
    assert main(argv) == 0
    scores = pq.read_table(out)
    assert scores.num_rows == 60
    assert scores.column_names[:2] == key
    assert set(scores.column(PREDICTED).to_pylist()) <= {"pos", "neg"}
    saved = json.loads(model.read_text())
    assert saved["features"] and not [
        f for f in saved["features"] if f.startswith("Cells_") or "_Location_" in f
    ]
    training = {(r[key[0]], r[key[1]]): r[CLASS_COLUMN] for r in saved["training"]}
    assert training[(2, 3)] == "pos" and training[(4, 8)] == "neg"


def test_scoring_on_a_dask_cluster_matches_scoring_here(screen, tmp_path):
    pytest.importorskip("distributed")
    from arrowscope.core.profiles.batch import connect

    path, table, truth = screen
    labels = _labels(table, truth, _picks(truth, 20, 20))
    here = tmp_path / "here.parquet"
    classify_table(path, labels, here)
    client = connect(workers=1)
    try:
        there = tmp_path / "there.parquet"
        seen = []
        classify_table(
            path, labels, there, client=client, progress=lambda d, t: seen.append(d)
        )
    finally:
        client.close()
        client.cluster.close()
    assert pq.read_table(there).equals(pq.read_table(here))
    assert seen == sorted(set(seen)) and seen[-1] == len(truth)  # in order


def test_scores_go_into_the_warehouse(tmp_path):
    from arrowscope.core.profiles.warehouse import open_warehouse
    from tests import warehouses

    root = tmp_path / "wh"
    facts = warehouses.data_files(root, np.random.default_rng(0))
    profiles = facts["profiles"]
    keys = [c for c in ("Metadata_ObjectID",) if c in profiles.column_names]
    labels = profiles.select(keys).append_column(
        CLASS_COLUMN, pa.array(["a", "b", "a", "b"])
    )
    pq.write_table(labels, tmp_path / "labels.parquet")
    out = tmp_path / "scores.parquet"
    argv = ["classify", str(root), "--labels", str(tmp_path / "labels.parquet")]
    argv += ["--out", str(out), "--into-warehouse", "phenotypes"]
    assert main(argv) == 0
    w = open_warehouse(root)
    stored = w.table("quality_control.phenotypes")
    assert stored.rows == 4
    assert main([*argv, "--overwrite"]) == 0  # replaced only when asked
    assert main([*argv[:-2], "--into-warehouse", "phenotypes"]) == 1
    # reopened, the warehouse shows the scores beside the profiles, by key
    pt = w.profiles()
    assert not [p for p in pt.problems if "phenotypes" in p], pt.problems
    scores = pq.read_table(out)
    by_id = dict(
        zip(
            scores.column("Metadata_ObjectID").to_pylist(),
            scores.column("Metadata_predicted_class").to_pylist(),
            strict=True,
        )
    )
    shown = pt.read(["Metadata_ObjectID", "Metadata_predicted_class"])
    for oid, cls in zip(*(c.to_pylist() for c in shown.columns), strict=True):
        assert by_id[oid] == cls


def test_a_model_uses_the_features_that_separate_the_bins(screen, tmp_path):
    """With more candidate features than max_features, the model keeps the
    ones that best separate the labelled classes (the planted two here), and
    scoring reads only those; the choice is made again inside each
    cross-validation fold, and a saved model rebuilds to the same choice."""
    from arrowscope.core.profiles.classify import train_table
    from arrowscope.core.profiles.resolve import open_profiles

    path, table, truth = screen
    labels = _labels(table, truth, _picks(truth, 40, 40))
    pt = open_profiles(path)
    trained = train_table(pt, labels, max_features=2)
    assert sorted(trained.features) == [
        "Nuclei_AreaShape_Area",
        "Nuclei_Intensity_MeanIntensity_DNA",
    ]
    assert len(trained.candidates) == 12
    assert trained.cv_accuracy > 0.9
    quick = train_table(pt, labels, max_features=2, folds=0)
    assert quick.cv_accuracy is None and quick.features == trained.features
    trained.save(tmp_path / "m.json")
    again = load_model(tmp_path / "m.json")
    assert again.features == trained.features and again.candidates == trained.candidates


def test_the_row_cache_reads_only_rows_it_has_not_seen(screen, monkeypatch):
    import arrowscope.core.profiles.scoring as scoring
    from arrowscope.core.profiles.resolve import open_profiles

    path, table, _ = screen
    source = open_profiles(path)._file.source
    cache = scoring.RowCache(source)
    asked = []
    real = scoring.take_rows

    def counting(src, rows, columns):
        asked.append(sorted(rows.tolist()))
        return real(src, rows, columns)

    monkeypatch.setattr(scoring, "take_rows", counting)
    cols = ["Nuclei_AreaShape_Area", "Cells_Texture_Noise_1"]
    got = cache.get(np.array([500, 3, 1999]), cols)
    assert got.equals(table.select(cols).take(pa.array([500, 3, 1999])))
    got = cache.get(np.array([3, 7, 500]), cols)
    assert asked == [[3, 500, 1999], [7]]  # only the new row was read
    assert got.equals(table.select(cols).take(pa.array([3, 7, 500])))


def test_scores_are_annotation_columns_pycytominer_reads(screen, tmp_path):
    pycytominer = pytest.importorskip("pycytominer")
    path, table, truth = screen
    out = tmp_path / "scores.parquet"
    classify_table(path, _labels(table, truth, _picks(truth, 20, 20)), out)
    scores = pq.read_table(out)
    keys = [c for c in scores.column_names if not c.startswith("Metadata_p")]
    keys = [c for c in keys if c != PREDICTED]
    merged = table.to_pandas().merge(scores.to_pandas(), on=keys)
    assert len(merged) == table.num_rows
    meta = [c for c in merged.columns if c.startswith("Metadata_")]
    meta += ["Nuclei_Number_Object_Number"]
    normalized = pycytominer.normalize(
        merged,
        features=["Nuclei_AreaShape_Area", "Nuclei_Intensity_MeanIntensity_DNA"],
        meta_features=meta,
    )
    assert PREDICTED in normalized.columns
    assert normalized[PREDICTED].tolist() == merged[PREDICTED].tolist()


def test_least_certain_cells_come_with_real_probabilities(tmp_path):
    """24 well-separated judged cells: a lone boosted model says ~100 % for
    every cell; the committee of refits finds the cells between the classes
    and says how unsure it is of them (< 90 %), as an active learner needs."""
    from arrowscope.core.images.sources import TableSource
    from arrowscope.core.profiles.classify import train
    from arrowscope.core.profiles.scoring import fetch_rows

    rng = np.random.default_rng(0)
    n = 20_000
    y = rng.integers(0, 2, n)
    signal = y * 3 + rng.normal(0, 1, n)
    table = pa.table(
        {
            "k": np.arange(n),
            "Nuclei_Intensity_Signal": signal,
            **{f"Nuclei_Texture_{i}": rng.normal(0, 1, n) for i in range(5)},
        }
    )
    path = tmp_path / "cells.parquet"
    pq.write_table(table, path, row_group_size=5000)
    low = rng.choice(np.flatnonzero((y == 0) & (signal < -0.5)), 12, replace=False)
    high = rng.choice(np.flatnonzero((y == 1) & (signal > 3.5)), 12, replace=False)
    picked = np.concatenate([low, high])
    classes = np.where(y[picked] == 1, "pos", "neg").astype(object)
    features = [c for c in table.column_names if c != "k"]
    trained = train(table.take(picked), classes, keys=["k"], features=features)
    _, lone = trained.predict(table)
    assert np.median(lone.max(axis=1)) > 0.95  # the lone model: sure of all
    source = TableSource(str(path))
    rows = fetch_rows(source, 10, "uncertain", trained=trained, seed=1, look_at=n)
    sure = trained.committee_proba(table.take(rows)).max(axis=1)
    assert (sure < 0.9).all(), sure
    gap = signal[rows]
    assert ((gap > signal[low].max()) & (gap < signal[high].min())).all()


def test_the_command_lines_models_are_the_classifiers(capsys):
    """One registry: the command line's choices are the trainer's models, and
    each model's missing-value policy is what training and scoring apply."""
    from arrowscope.app.cli import _parser
    from arrowscope.core.profiles.models import MODELS, model

    with pytest.raises(SystemExit):
        _parser().parse_args(["classify", "t.parquet", "--out", "o", "--model", "x"])
    assert "{" + ",".join(MODELS) + "}" in capsys.readouterr().err
    x = np.array([[1.0, np.nan]])
    assert np.isnan(model("gbt").fill(x, np.array([5.0, 7.0]))[0, 1])
    assert model("rf").fill(x, np.array([5.0, 7.0]))[0, 1] == 7.0
    with pytest.raises(ArrowscopeError, match="one of: gbt, rf"):
        model("svm")


def test_rows_predicted_a_slice_per_thread_match_one_prediction(screen, monkeypatch):
    """Scoring shares a group's slices out to threads (each on one OpenMP
    thread): the classes and probabilities are those of one prediction of
    every row, with any slice size, on one thread or several."""
    from arrowscope.core.profiles import scoring
    from arrowscope.core.profiles.classify import train
    from arrowscope.core.profiles.scoring import predict_rows

    path, table, truth = screen
    picks = _picks(truth, 20, 20)
    features = [c for c in table.column_names if not c.startswith("Metadata_")]
    trained = train(
        table.take(pa.array(picks)),
        truth[picks],
        keys=[],
        features=features,
        folds=0,
    )
    whole_class, whole_p = trained.predict(table)
    monkeypatch.setattr(scoring, "SCORE_BYTES", 8 * 12 * 300)  # 75-row slices
    for threads in (None, 1, 3):
        best, proba = predict_rows(trained, table, threads)
        assert list(best) == list(whole_class)
        np.testing.assert_array_equal(proba, whole_p)
    best, proba = predict_rows(trained, table.slice(0, 0))
    assert best.shape == (0,) and proba.shape == (0, 2)


def test_the_feature_matrix_says_no_measurement_for_null_nan_and_inf():
    """Nulls, NaN and ±inf are NaN in the model's matrix (what gradient
    boosting takes as missing); float32 and integers are widened exactly."""
    from arrowscope.core.profiles.classify import _matrix

    table = pa.table(
        {
            "f32": pa.array([1.5, None, np.inf, 2.25], pa.float32()),
            "f64": pa.array([np.nan, -np.inf, 3.0, 1e300]),
            "i64": pa.array([None, 2**40, -3, 7], pa.int64()),
            "u8": pa.array([255, 0, 1, 2], pa.uint8()),
        }
    )
    x = _matrix(table, ["f32", "f64", "i64", "u8"])
    assert x.dtype == np.float64 and x.shape == (4, 4)
    expected = np.array(
        [
            [1.5, np.nan, np.nan, 255],
            [np.nan, np.nan, 2**40, 0],
            [np.nan, 3.0, -3, 1],
            [2.25, 1e300, 7, 2],
        ]
    )
    np.testing.assert_array_equal(x, expected)


def test_labels_match_by_key_codes_and_an_empty_key_part_names_no_cell():
    """Keys are matched as integer codes of the table's and the labels' keys
    encoded together: labels in any order and as text find their rows; a
    label with an empty key part names no cell, even where a row's key is
    empty too (an empty value is no key)."""
    from arrowscope.core.profiles.labels import match_labels

    keys = pa.table({"P": ["a", "a", "b", None], "O": [1, 2, 1, 1]})
    labels = pa.table(
        {"P": ["b", "a", "a"], "O": ["1", "2", "1"], CLASS_COLUMN: ["y", "x", "x"]}
    )
    rows, classes = match_labels(keys, labels)
    assert rows.tolist() == [2, 1, 0] and classes.tolist() == ["y", "x", "x"]
    empty = pa.table({"P": [None, "b"], "O": [1, 1], CLASS_COLUMN: ["x", "y"]})
    with pytest.raises(SchemaError, match=r"label row 0 .*no cell"):
        match_labels(keys, empty)


def test_scikit_learn_loads_while_the_cells_are_read(screen, tmp_path):
    """In a fresh process, scikit-learn is imported on a thread while the
    labelled cells are read; the interpreter's switch interval is back to
    what it was once it has loaded, and the model is the one a process that
    imported scikit-learn first trains."""
    import subprocess
    import sys

    path, table, truth = screen
    labels = tmp_path / "labels.csv"
    pa.csv.write_csv(_labels(table, truth, _picks(truth, 20, 30)), labels)
    code = (
        "import sys, threading\n"
        "started, start = [], threading.Thread.start\n"
        "threading.Thread.start = lambda w: started.append(w) or start(w)\n"
        "import arrowscope.core.profiles.classify as C\n"
        "from arrowscope.core.profiles.classify import classify_table\n"
        "before = sys.getswitchinterval()\n"
        "C._sklearn_meanwhile(), C._sklearn_meanwhile()  # one load, not two\n"
        f"t = classify_table({str(path)!r}, {str(labels)!r}, sys.argv[1], folds=0)\n"
        "loads = [w for w in started if w.name.endswith('sklearn')]\n"
        "[w.join() for w in loads]\n"
        "assert sys.getswitchinterval() == before, sys.getswitchinterval()\n"
        "print(len(loads), sorted(t.importances)[:3])\n"
    )
    first = tmp_path / "first.parquet"
    run = subprocess.run(
        [sys.executable, "-c", code, str(first)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    warm = tmp_path / "warm.parquet"
    run2 = subprocess.run(
        [sys.executable, "-c", "import sklearn.ensemble\n" + code, str(warm)],
        capture_output=True,
        text=True,
    )
    assert run2.returncode == 0, run2.stderr
    assert run.stdout.startswith("1 ") and run2.stdout.startswith("0 ")
    assert run.stdout[1:] == run2.stdout[1:]  # the same model either way
    assert pq.read_table(first).equals(pq.read_table(warm))


def test_cells_are_fetched_a_span_at_a_time_from_a_table_of_images(tmp_path):
    """A Lance table with an image column is a row a group (showing one image
    reads it alone); fetching cells by class or by doubt predicts spans of
    thousands of rows, not one row at a time, and finds what it asks for."""
    lance = pytest.importorskip("lance")
    from arrowscope.core.images.sources import TableSource
    from arrowscope.core.profiles.classify import train
    from arrowscope.core.profiles.scoring import fetch_rows

    rng = np.random.default_rng(4)
    n = 6000
    y = rng.integers(0, 2, n)
    table = pa.table(
        {
            "k": np.arange(n),
            "crop": pa.array([bytes(8)] * n, pa.binary()),  # an image column
            "Nuclei_Intensity_Signal": y * 3 + rng.normal(0, 1, n),
            "Nuclei_Texture_0": rng.normal(0, 1, n),
        }
    )
    lance.write_dataset(table, tmp_path / "cells.lance")
    source = TableSource(str(tmp_path / "cells.lance"))
    assert source.num_groups == n  # a row a group
    features = ["Nuclei_Intensity_Signal", "Nuclei_Texture_0"]
    picked = np.arange(40)
    classes = np.where(y[picked] == 1, "pos", "neg").astype(object)
    trained = train(table.take(picked), classes, keys=["k"], features=features)
    reads = []
    real = source.store.read_span
    source.store.read_span = lambda span, cols: reads.append(span) or real(span, cols)
    rows = fetch_rows(source, 5, "class", trained=trained, cls="pos", seed=2)
    best, _ = trained.predict(table.take(pa.array(rows)))
    assert len(rows) == 5 and (best == "pos").all()
    assert len(reads) == 1 and len(reads[0]) == n  # one span: every row
    rows = fetch_rows(source, 5, "uncertain", trained=trained, seed=2, look_at=500)
    assert len(rows) == 5 and len(reads) == 2
