"""The dataset report against independent references: fairlearn (0.15) for the parity spreads,
scipy's exact binomial test for the intervals, plain pandas for counts, shares and the
conditional demographic disparity; small cells never shown, not even by subtraction."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from secured.bias import bias_report
from secured.data import load
from secured.exceptions import BadInputError, ConfigurationError

import fairlearn.metrics as fairlearn_metrics  # a test dependency (requirements.txt)


@pytest.fixture(scope="module")
def adult():
    return load("adult")


@pytest.fixture(scope="module")
def diabetes():
    d = load("diabetes130")[["race", "gender", "age", "readmitted", "admission_type_id"]]
    d = d[d["gender"] != "Unknown/Invalid"].reset_index(drop=True)
    band = {"[0-10)": "<40", "[10-20)": "<40", "[20-30)": "<40", "[30-40)": "<40", "[40-50)": "40-60",
            "[50-60)": "40-60", "[60-70)": "60-80", "[70-80)": "60-80"}
    d["age_band"] = d["age"].map(band).fillna("80+")
    return d


def _key(group: dict):
    values = tuple(group.values())
    return values[0] if len(values) == 1 else values


@pytest.mark.parametrize("case", ["adult", "diabetes"])
def test_parity_spreads_equal_fairlearn(case, adult, diabetes):
    if case == "adult":
        df, protected, target, positive = adult, ["sex", "race"], "salary-class", ">50K"
    else:
        df, protected, target, positive = diabetes, ["race", "gender", "age_band"], "readmitted", "<30"
    report = bias_report(df, protected, target, positive=positive, min_cell=0, n_boot=0)
    y = (df[target] == positive).astype(int)
    for size in range(1, len(protected) + 1):
        for cols in itertools.combinations(protected, size):
            entry = report.labels["groupings"][" x ".join(cols)]
            sf = df[list(cols)]
            dpd = fairlearn_metrics.demographic_parity_difference(y, y, sensitive_features=sf)
            dpr = fairlearn_metrics.demographic_parity_ratio(y, y, sensitive_features=sf)
            assert abs(entry["statistical_parity_difference"]["value"] - dpd) < 1e-9
            assert abs(entry["disparate_impact"]["value"] - dpr) < 1e-9
            rates = fairlearn_metrics.MetricFrame(metrics=fairlearn_metrics.selection_rate, y_true=y, y_pred=y,
                                                 sensitive_features=sf).by_group
            for cell in entry["cells"]:
                assert abs(cell["base_rate"] - rates.loc[_key(cell["group"])]) < 1e-9


def test_counts_shares_and_exact_intervals(diabetes):
    from scipy.stats import binomtest

    report = bias_report(diabetes, ["race", "gender"], "readmitted", positive="<30", n_boot=0)
    counts = diabetes.groupby(["race", "gender"]).size()
    pos = diabetes.assign(p=diabetes["readmitted"] == "<30").groupby(["race", "gender"])["p"].sum()
    for cell in report.representation["race x gender"]["cells"]:
        key = _key(cell["group"])
        if cell["suppressed"]:
            assert "count" not in cell
            continue
        assert cell["count"] == counts[key]
        assert cell["share"] == pytest.approx(counts[key] / len(diabetes), abs=1e-12)
        ci = binomtest(int(counts[key]), len(diabetes)).proportion_ci(0.95, method="exact")
        assert cell["ci"] == pytest.approx([ci.low, ci.high], abs=1e-9)
    for cell in report.labels["groupings"]["race x gender"]["cells"]:
        if cell["suppressed"]:
            continue
        key = _key(cell["group"])
        ci = binomtest(int(pos[key]), int(counts[key])).proportion_ci(0.95, method="exact")
        assert cell["ci"] == pytest.approx([ci.low, ci.high], abs=1e-9)
        rest = (pos.sum() - pos[key]) / (counts.sum() - counts[key])
        assert cell["parity_difference"] == pytest.approx(pos[key] / counts[key] - rest, abs=1e-12)
        lo, hi = cell["parity_difference_ci"]
        assert lo < cell["parity_difference"] < hi


def test_conditional_demographic_disparity_by_hand():
    df = pd.DataFrame({"g": list("aaaabbbbaabb"), "s": list("xxxxxxxxyyyy"), "y": [1, 1, 0, 0, 1, 0, 0, 0, 1, 0, 1, 1]})
    report = bias_report(df, ["g"], "y", stratify="s", min_cell=0, n_boot=0)
    cdd = {}
    for g in "ab":
        total = 0.0
        for s, part in df.groupby("s"):
            rejected, accepted = part[part.y == 0], part[part.y == 1]
            dd = (rejected.g == g).mean() - (accepted.g == g).mean()
            total += len(part) * dd
        cdd[g] = total / len(df)
    for cell in report.labels["groupings"]["g"]["cells"]:
        assert cell["conditional_demographic_disparity"] == pytest.approx(cdd[cell["group"]["g"]], abs=1e-12)


def _relations_hold(df, protected, report, kind="representation"):
    """No sum relation (parent = its children) has exactly one hidden member: an independent
    walk over pandas group counts."""
    hidden = {}
    for size in range(1, len(protected) + 1):
        for cols in itertools.combinations(protected, size):
            entry = report.representation[" x ".join(cols)] if kind == "representation" else \
                report.labels["groupings"][" x ".join(cols)]
            hidden[cols] = {tuple(c["group"].values()): c["suppressed"] for c in entry["cells"]}
    for cols, cells in hidden.items():
        for drop in range(len(cols)):
            parent = cols[:drop] + cols[drop + 1:]
            lines: dict = {}
            for key, h in cells.items():
                pkey = key[:drop] + key[drop + 1:]
                lines.setdefault(pkey, []).append(h)
            for pkey, members in lines.items():
                parent_hidden = hidden[parent][pkey] if parent else False
                assert sum(members) + parent_hidden != 1, (cols, drop, pkey)


def test_small_cells_are_suppressed_and_cannot_be_recovered(diabetes):
    df = diabetes.sample(6000, random_state=1).reset_index(drop=True)
    protected = ["race", "gender", "age_band"]
    report = bias_report(df, protected, "readmitted", positive="<30", n_boot=0)
    counts = df.groupby(protected).size()
    small = counts[counts < 10]
    assert len(small) > 0                     # the sample has small intersections
    fine = {tuple(c["group"].values()): c for c in report.representation["race x gender x age_band"]["cells"]}
    for key in small.index:
        assert fine[key]["suppressed"] and "count" not in fine[key] and "share" not in fine[key]
    _relations_hold(df, protected, report)
    _relations_hold(df, protected, report, kind="labels")
    # a rate is shown only when its favourable and unfavourable counts are both >= 10
    y = df["readmitted"] == "<30"
    for size in range(1, 4):
        for cols in itertools.combinations(protected, size):
            pos = y.groupby([df[c] for c in cols]).sum()
            neg = (~y).groupby([df[c] for c in cols]).sum()
            for cell in report.labels["groupings"][" x ".join(cols)]["cells"]:
                key = _key(cell["group"])
                if min(pos[key], neg[key]) < 10:
                    assert cell["suppressed"] and "base_rate" not in cell
    assert report.findings["smallest_cell"] == "<10"
    assert "imbalance_ratio_at_least" in report.representation["race x gender x age_band"]


def test_reference_population_ratios(adult):
    reference = pd.DataFrame({"sex": ["Female"] * 50 + ["Male"] * 50})
    report = bias_report(adult, ["sex"], reference=reference)
    share = (adult["sex"] == "Female").mean()
    cell = next(c for c in report.representation["sex"]["cells"] if c["group"]["sex"] == "Female")
    assert cell["ratio_to_reference"] == pytest.approx(share / 0.5)
    assert report.findings["under_represented_groups"] == 1     # women: 0.65 of their reference share
    report = bias_report(adult, ["sex"], reference={"sex": {"Female": 0.5, "Male": 0.5}})
    cell = next(c for c in report.representation["sex"]["cells"] if c["group"]["sex"] == "Female")
    assert cell["reference_share"] == 0.5


def test_weights_are_applied(adult):
    y = (adult["salary-class"] == ">50K").to_numpy()
    w = np.where(y, 2.0, 1.0)
    report = bias_report(adult, ["sex"], "salary-class", positive=">50K", weights=w, n_boot=0)
    for cell in report.labels["groupings"]["sex"]["cells"]:
        part = adult["sex"] == cell["group"]["sex"]
        expected = (w[part] * y[part]).sum() / w[part].sum()
        assert cell["base_rate"] == pytest.approx(expected, abs=1e-12)


MARK = "QQMARKQQ"


@pytest.mark.parametrize("kwargs, error, words", [
    ({"protected": ["nope"]}, BadInputError, "nope"),
    ({"protected": ["one"]}, BadInputError, "one value"),
    ({"protected": ["g"], "target": "label"}, BadInputError, "positive="),
    ({"protected": ["g"], "target": "label", "positive": "absent"}, BadInputError, "does not occur"),
    ({"protected": ["withnan"]}, BadInputError, "missing"),
    ({"protected": ["g"], "target": "g"}, ConfigurationError, "also listed"),
    ({"protected": ["g"], "min_cell": -1}, ConfigurationError, "min_cell"),
    ({"protected": ["g"], "weights": "g"}, BadInputError, "Weights"),
    ({"protected": ["g"], "target": "binary", "stratify": "nope"}, BadInputError, "stratifying"),
])
def test_bad_input_is_named_without_values(kwargs, error, words):
    df = pd.DataFrame({"g": [MARK + "a", MARK + "b"] * 10, "one": [MARK] * 20,
                       "label": [MARK + "x", MARK + "y", MARK + "z", MARK + "y"] * 5,
                       "withnan": [MARK, None] * 10, "binary": [0, 1] * 10})
    protected = kwargs.pop("protected")
    target = kwargs.pop("target", None)
    with pytest.raises(error) as info:
        bias_report(df, protected, target, **kwargs)
    assert words in str(info.value) and MARK not in str(info.value)


def test_missing_is_a_group_only_when_asked():
    df = pd.DataFrame({"g": ["a", None, "b", "a"] * 10, "y": [0, 1] * 20})
    report = bias_report(df, ["g"], "y", missing="group", min_cell=0, n_boot=0)
    groups = [c["group"]["g"] for c in report.representation["g"]["cells"]]
    assert "(missing)" in groups and len(groups) == 3


def test_empty_table_is_refused():
    with pytest.raises(BadInputError, match="empty"):
        bias_report(pd.DataFrame({"g": []}), ["g"])
