"""Hostile labels and small training sets: features with no value among
the judged cells, one cell in two classes, class names with a trailing space
or a typo, key values that CSV inference would retype, misnamed key columns,
a ``--by`` typo. Each case has its oracle: the right answer with one note,
or an arrowscope error naming the file, row, column or key."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from arrowscope.core.errors import SchemaError
from arrowscope.core.profiles.classify import classify_table, read_labels

pytest.importorskip("sklearn")

N = 60


@pytest.fixture
def table(tmp_path):
    """60 cells of plate "001", two classes separated by feature ``Signal``;
    ``Tracking`` is empty for the first 30 cells (the first frame)."""
    rng = np.random.default_rng(5)
    cls = np.array(["a", "b"] * (N // 2))
    signal = np.where(cls == "a", 0.0, 5.0) + rng.normal(0, 0.3, N)
    tracking = [None] * 30 + list(rng.normal(size=30))
    path = tmp_path / "cells.parquet"
    pq.write_table(
        pa.table(
            {
                "Metadata_Plate": ["001"] * N,
                "Metadata_ImageNumber": np.arange(N) // 10 + 1,
                "Nuclei_Number_Object_Number": np.arange(N) % 10 + 1,
                "Nuclei_Intensity_Signal": signal,
                "Nuclei_Intensity_Noise": rng.normal(size=N),
                "Nuclei_Tracking_Distance": pa.array(tracking, pa.float64()),
                "Nuclei_Constant": np.ones(N),
            }
        ),
        path,
    )
    return path, cls


def _labels(cls, rows, tmp_path, name="labels.csv", classes=None):
    lines = [
        "Metadata_Plate,Metadata_ImageNumber,Nuclei_Number_Object_Number,Metadata_class"
    ]
    for r in rows:
        c = classes[r] if classes is not None else cls[r]
        lines.append(f"001,{r // 10 + 1},{r % 10 + 1},{c}")
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_feature_without_values_among_the_judged_cells_is_left_out(
    table, tmp_path, recwarn
):
    path, cls = table
    labels = _labels(cls, range(20), tmp_path)  # all in the empty first frame
    trained = classify_table(path, labels, tmp_path / "scores.parquet")
    assert "Nuclei_Tracking_Distance" not in trained.features
    assert "Nuclei_Constant" not in trained.features
    assert any("no value" in n and "Tracking_Distance" in n for n in trained.notes)
    assert any("one value" in n and "Nuclei_Constant" in n for n in trained.notes)
    scores = pq.read_table(tmp_path / "scores.parquet")
    assert scores.num_rows == N
    predicted = np.asarray(scores.column("Metadata_predicted_class").to_pylist())
    assert (predicted == cls).mean() > 0.9  # the signal is learned
    noisy = [w for w in recwarn if "sklearn" in str(w.filename)]
    assert not noisy, [str(w.message) for w in noisy]


def test_one_cell_in_two_classes_is_an_error_naming_both(table, tmp_path):
    path, cls = table
    classes = list(cls)
    labels = _labels(cls, [*range(10), 0], tmp_path, classes=classes)
    text = labels.read_text().splitlines()
    text[-1] = text[-1].rsplit(",", 1)[0] + ",b"  # cell 0 was "a"
    labels.write_text("\n".join(text) + "\n")
    with pytest.raises(SchemaError, match="in two classes \\('a' and 'b'\\)"):
        classify_table(path, labels, tmp_path / "s.parquet")
    assert not (tmp_path / "s.parquet").exists()


def test_the_same_label_twice_counts_once(table, tmp_path):
    path, cls = table
    labels = _labels(cls, [*range(20), 0, 1], tmp_path)
    trained = classify_table(path, labels, tmp_path / "s.parquet")
    assert trained.training.num_rows == 20


def test_class_names_are_trimmed_and_typos_noted(table, tmp_path):
    path, cls = table
    names = {"a": "interphase", "b": "mitotic"}
    classes = [names[c] + (" " if i % 4 == 0 else "") for i, c in enumerate(cls)]
    classes[19] = "mitotc"  # one cell: a typo of "mitotic"
    labels = _labels(cls, range(20), tmp_path, classes=classes)
    trained = classify_table(path, labels, tmp_path / "s.parquet")
    assert trained.classes == ["interphase", "mitotc", "mitotic"]  # trimmed
    (note,) = [n for n in trained.notes if "typo" in n]
    assert "'mitotc' (1 cell)" in note and "'mitotic' (9 cells)" in note


def test_csv_key_values_keep_their_text(table, tmp_path):
    """``001`` in a labels CSV matches the text key ``001`` (CSV inference
    would make it 1 and match nothing)."""
    path, cls = table
    labels = _labels(cls, range(20), tmp_path)
    read = read_labels(labels)
    assert read.column("Metadata_Plate").to_pylist()[0] == "001"
    trained = classify_table(path, labels, tmp_path / "s.parquet")
    assert trained.training.num_rows == 20


def test_a_misnamed_key_column_is_named(table, tmp_path):
    path, cls = table
    labels = _labels(cls, range(20), tmp_path)
    labels.write_text(
        labels.read_text().replace("Metadata_ImageNumber", "Metadata_ImageNumbr", 1)
    )
    with pytest.raises(SchemaError) as info:
        classify_table(path, labels, tmp_path / "s.parquet")
    text = str(info.value)
    assert "'Metadata_ImageNumbr'" in text
    assert "did you mean 'Metadata_ImageNumber'" in text


def test_a_by_typo_is_found_before_training(table, tmp_path, caplog):
    from arrowscope.app.cli import main

    path, cls = table
    labels = _labels(cls, range(20), tmp_path)
    out = tmp_path / "scores.parquet"
    argv = ["classify", str(path), "--labels", str(labels), "--out", str(out)]
    argv += ["--summary", str(tmp_path / "sum.csv"), "--by", "Metadata_Plat"]
    assert main(argv) == 1
    assert "Metadata_Plat" in caplog.text and "did you mean" in caplog.text
    assert "trained" not in caplog.text
    assert not out.exists()


def test_scikit_learn_says_nothing_on_the_terminal(table, tmp_path):
    from tests.conftest import run_cli

    path, cls = table
    labels = _labels(cls, range(20), tmp_path)
    done = run_cli(
        "classify", path, "--labels", labels, "--out", tmp_path / "s.parquet"
    )
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr
    assert "Mean of empty slice" not in done.stderr
    assert done.stderr.count("left out") == 2  # each said once
