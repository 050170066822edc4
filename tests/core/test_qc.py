"""QC engine: exact agreement with coSMicQC, NaN handling, rules beyond it."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from arrowscope.core.errors import ArrowscopeError, SchemaError
from arrowscope.core.profiles.qc import (
    COSMICQC_DEFAULTS,
    FLAG_PREFIX,
    compute_flags,
    label_outliers,
    load_conditions,
    qc_report,
)
from tests.conftest import shared_file

FEATURES = (
    "Nuclei_AreaShape_Area",
    "Nuclei_AreaShape_FormFactor",
    "Nuclei_AreaShape_Eccentricity",
)


def planted(n: int = 2000, seed: int = 0) -> pa.Table:
    """A profile table with planted small, elongated and large nuclei."""
    rng = np.random.default_rng(seed)
    area = rng.normal(500, 60, n)
    ff = rng.normal(0.85, 0.04, n)
    ecc = rng.normal(0.5, 0.08, n)
    area[:20] = 250
    ff[:20] = 0.6  # small and low form factor
    ecc[20:40] = 0.99  # elongated
    area[40:50] = 900
    ff[40:50] = 0.5  # large and irregular
    return pa.table(
        {
            "Metadata_Plate": np.where(np.arange(n) % 2 == 0, "P1", "P2"),
            "Metadata_ImageNumber": np.arange(n) // 10,
            "Metadata_Nuclei_Number_Object_Number": np.arange(n) % 10 + 1,
            FEATURES[0]: area,
            FEATURES[1]: ff,
            FEATURES[2]: ecc,
        }
    )


def reference(table: pa.Table, conditions=None) -> dict[str, np.ndarray]:
    import cosmicqc

    df = table.to_pandas()
    out = cosmicqc.analyze.label_outliers(df, feature_thresholds=conditions)
    return {c: out[c].to_numpy(bool) for c in out.columns if c.startswith(FLAG_PREFIX)}


def ours(table: pa.Table, conditions="cosmicqc", **kw) -> dict[str, np.ndarray]:
    out = label_outliers(table, conditions, **kw)
    return {c: out[c].to_numpy() for c in out.column_names if c.startswith(FLAG_PREFIX)}


def assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert sorted(a) == sorted(b)
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_defaults_match_cosmicqc_on_planted_outliers():
    table = planted()
    got = ours(table)
    assert_same(got, reference(table))
    assert got[f"{FLAG_PREFIX}small_and_low_formfactor_nuclei_is_outlier"][:20].all()
    assert got[f"{FLAG_PREFIX}elongated_nuclei_is_outlier"][20:40].all()
    assert got[f"{FLAG_PREFIX}large_nuclei_is_outlier"][40:50].all()


def test_custom_conditions_match_cosmicqc():
    table = planted(seed=3)
    custom = {
        "tiny": {FEATURES[0]: -1.5},
        "round_and_big": {FEATURES[0]: 0.5, FEATURES[1]: 0.2},
        "zero_threshold": {FEATURES[2]: 0},
    }
    assert_same(ours(table, custom), reference(table, custom))
    single = {FEATURES[2]: 1.0}
    assert_same(ours(table, single), reference(table, single))


def test_yaml_file_in_cosmicqc_format(tmp_path):
    path = tmp_path / "thresholds.yml"
    path.write_text(
        "thresholds:\n  big:\n    Nuclei_AreaShape_Area: 1.5\n"
        "  elongated_nuclei:\n    Nuclei_AreaShape_Eccentricity: 2\n"
    )
    table = planted(seed=5)
    got = ours(table, path)
    assert set(got) == {
        f"{FLAG_PREFIX}big_is_outlier",
        f"{FLAG_PREFIX}elongated_nuclei_is_outlier",
    }
    assert_same(
        got,
        reference(
            table, {"big": {FEATURES[0]: 1.5}, "elongated_nuclei": {FEATURES[2]: 2}}
        ),
    )
    (tmp_path / "bad.yml").write_text("big: {a: 1}\n")
    with pytest.raises(ArrowscopeError, match="thresholds"):
        load_conditions(tmp_path / "bad.yml")


@pytest.mark.parametrize(
    ("table_path", "keycol"),
    [
        (
            ("nuclear_speckles", "test_slide1_converted.parquet"),
            "Nuclei_Number_Object_Number",
        ),
        (
            ("nf1_cellpainting_shrunken", "Plate_2_with_image_data_shrunken.parquet"),
            None,
        ),
    ],
)
def test_real_tables_reference_facts(table_path, keycol):
    import pyarrow.parquet as pq

    table = pq.read_table(shared_file(*table_path))
    got = ours(table)
    assert_same(got, reference(table))
    assert all(not v.any() for v in got.values())  # README: defaults flag 0 rows
    if keycol is None:
        return
    objects = table.column(keycol).to_numpy()
    facts = {
        f"{FEATURES[0]}": ("< -1", [5, 11, 18]),
        "area_high": ("> 1", [10, 12, 13, 25]),
        f"{FEATURES[1]}": ("< -1", [1, 4, 10, 12]),
        f"{FEATURES[2]}": ("> 1", [1, 4, 10]),
    }
    for name, (rule, expected) in facts.items():
        feature = FEATURES[0] if name == "area_high" else name
        numeric = float(rule.split()[1])
        flags = ours(table, {name: {feature: rule}})[f"{FLAG_PREFIX}{name}_is_outlier"]
        assert sorted(objects[flags].tolist()) == expected, name
        assert_same(
            {name: flags},
            {
                name: reference(table, {name: {feature: numeric}})[
                    f"{FLAG_PREFIX}{name}_is_outlier"
                ]
            },
        )


def test_nan_is_left_out_and_counted():
    table = planted(n=500, seed=1)
    area = table.column(FEATURES[0]).to_numpy().copy()
    area[100:110] = np.nan
    t = table.set_column(3, FEATURES[0], pa.array(area))
    out = label_outliers(t, {"small": {FEATURES[0]: -1}})
    flags = out[f"{FLAG_PREFIX}small_is_outlier"].to_numpy()
    assert not flags[100:110].any()
    assert flags[:20].all()  # NaN did not silence the feature
    valid = ~np.isnan(area)
    z = (area[valid] - area[valid].mean()) / area[valid].std()
    np.testing.assert_array_equal(flags[valid], z < -1)
    report = qc_report(out)
    assert report["features"][FEATURES[0]]["missing"] == 10
    assert report["features"][FEATURES[0]]["used"] == 490
    # coSMicQC's behaviour, on request, and reported
    prop = compute_flags(t, {"small": {FEATURES[0]: -1}}, nan_policy="propagate")
    assert not prop.mask().any()
    assert prop.report["features"][FEATURES[0]]["undefined_groups"] == 1
    with pytest.raises(ArrowscopeError, match="missing") as err:
        compute_flags(t, {"small": {FEATURES[0]: -1}}, nan_policy="raise")
    assert err.value.row == 100 and err.value.column == FEATURES[0]


def test_two_sided_operators_raw_and_robust():
    table = planted(n=1000, seed=2)
    area = table.column(FEATURES[0]).to_numpy()
    z = (area - area.mean()) / area.std()
    two = ours(table, {"odd": {FEATURES[0]: "abs> 2"}})[f"{FLAG_PREFIX}odd_is_outlier"]
    np.testing.assert_array_equal(two, np.abs(z) > 2)
    ge = ours(table, {"ge": {FEATURES[0]: ">= 1"}})[f"{FLAG_PREFIX}ge_is_outlier"]
    np.testing.assert_array_equal(ge, z >= 1)
    raw = ours(table, {"big": {FEATURES[0]: "> 800"}}, method="raw")[
        f"{FLAG_PREFIX}big_is_outlier"
    ]
    np.testing.assert_array_equal(raw, area > 800)
    with pytest.raises(ArrowscopeError, match="operator"):
        ours(table, {"big": {FEATURES[0]: 800}}, method="raw")
    med = np.median(area)
    mad = 1.4826 * np.median(np.abs(area - med))
    rob = ours(table, {"r": {FEATURES[0]: "< -3"}}, method="robust")[
        f"{FLAG_PREFIX}r_is_outlier"
    ]
    np.testing.assert_array_equal(rob, (area - med) / mad < -3)


def test_group_by_uses_each_groups_statistics():
    n = 400
    plate = np.repeat(["A", "B"], n // 2)
    area = np.where(plate == "A", 100.0, 1000.0) + np.tile(
        np.linspace(-10, 10, n // 2), 2
    )
    t = pa.table({"Metadata_Plate": plate, FEATURES[0]: area})
    pooled = ours(t, {"big": {FEATURES[0]: 0.5}})[f"{FLAG_PREFIX}big_is_outlier"]
    grouped = ours(t, {"big": {FEATURES[0]: 0.5}}, group_by="Metadata_Plate")[
        f"{FLAG_PREFIX}big_is_outlier"
    ]
    assert pooled[plate == "B"].all() and not pooled[plate == "A"].any()
    for p in "AB":
        a = area[plate == p]
        np.testing.assert_array_equal(
            grouped[plate == p], (a - a.mean()) / a.std() > 0.5
        )


def test_scores_never_float_under_cqc_prefix_and_errors_name_columns():
    out = label_outliers(planted(n=100), include_scores=True)
    for field in out.schema:
        if field.name.startswith(FLAG_PREFIX):
            assert pa.types.is_boolean(field.type), field.name
    assert any(n.startswith("Metadata_qcscore_zscore_") for n in out.column_names)
    with pytest.raises(SchemaError) as err:
        label_outliers(planted(n=10).drop_columns([FEATURES[2]]))
    assert err.value.column == FEATURES[2]
    assert set(COSMICQC_DEFAULTS) == {
        "small_and_low_formfactor_nuclei",
        "elongated_nuclei",
        "large_nuclei",
    }


def test_pycytominer_drops_exactly_the_flagged_rows(tmp_path):
    import pyarrow.parquet as pq
    import pycytominer

    from arrowscope.core.profiles.qc import write_annotations

    table = planted(n=300, seed=4)
    flags = compute_flags(table)
    keys = [
        "Metadata_Plate",
        "Metadata_ImageNumber",
        "Metadata_Nuclei_Number_Object_Number",
    ]
    path = write_annotations(tmp_path / "flags.parquet", table.select(keys), flags)
    annotation = pq.read_table(path).to_pandas()
    merged = table.to_pandas().merge(annotation, on=keys, how="left")
    normalized = pycytominer.normalize(
        merged,
        features=list(FEATURES),
        meta_features=[*keys, *flags.flags.column_names],
        drop_cosmicqc_rows=True,
    )
    keep = ~flags.mask()
    assert len(normalized) == int(keep.sum())
    assert sorted(
        normalized["Metadata_ImageNumber"] * 100
        + normalized["Metadata_Nuclei_Number_Object_Number"]
    ) == sorted(
        (
            table["Metadata_ImageNumber"].to_numpy() * 100
            + table["Metadata_Nuclei_Number_Object_Number"].to_numpy()
        )[keep]
    )


def test_infinite_values_are_missing_and_said_so():
    from arrowscope.core.profiles.qc import missing_summary

    rng = np.random.default_rng(3)
    area = rng.normal(100, 10, 200)
    area[7] = 1000.0  # a real outlier
    area[11] = np.inf
    area[12] = -np.inf
    table = pa.table({"Nuclei_AreaShape_Area": area})
    result = compute_flags(table, {"big": {"Nuclei_AreaShape_Area": 3}})
    flags = result.mask()
    assert flags[7]  # one inf no longer blinds the statistics
    assert not flags[11] and not flags[12]
    facts = result.report["features"]["Nuclei_AreaShape_Area"]
    assert facts["missing"] == 2 and facts["infinite"] == 2
    (line,) = missing_summary(result.report)
    assert "2 missing" in line and "2 of them +-inf" in line
    with pytest.raises(ArrowscopeError, match="missing or infinite"):
        compute_flags(table, {"big": {"Nuclei_AreaShape_Area": 3}}, nan_policy="raise")


def test_reflag_with_new_thresholds_equals_a_full_run():
    from arrowscope.core.profiles.qc import compute_flags, reflag

    rng = np.random.default_rng(5)
    table = pa.table(
        {
            "Nuclei_AreaShape_Area": rng.normal(100, 10, 500),
            "Nuclei_AreaShape_FormFactor": rng.normal(0.9, 0.05, 500),
            "Nuclei_AreaShape_Eccentricity": rng.normal(0.5, 0.1, 500),
            "g": rng.integers(0, 3, 500),
        }
    )
    first = compute_flags(table, group_by="g")
    tighter = {
        "big": {"Nuclei_AreaShape_Area": 1.0},
        "odd": {
            "Nuclei_AreaShape_Eccentricity": ">= 0.5",
            "Nuclei_AreaShape_FormFactor": -0.5,
        },
    }
    quick = reflag(first, tighter)
    full = compute_flags(table, tighter, group_by="g")
    assert quick.flags.equals(full.flags)
    assert quick.report["conditions"] == full.report["conditions"]
    assert quick.mask().sum() > 0
    # a feature the first run did not score: no shortcut
    assert reflag(first, {"x": {"g": 1}}) is None
