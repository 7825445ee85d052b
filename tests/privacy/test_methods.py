"""Hierarchy builders, MDAV, l/t inside the searches, utility metrics and pseudonyms, each
checked against independent plain-Python recomputation."""

from __future__ import annotations

import hashlib
import hmac
import math
from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pytest

from secured.data import load, path
from secured.exceptions import BadInputError, ConfigurationError
from secured.privacy import Hierarchy
from secured.privacy.anonymizer import Anonymizer
from secured.privacy.criteria import PrivacyCriteria
from secured.privacy.lattice import exhaustive_recoding, optimal_recoding
from secured.backend.privacy_kernels import reference
from secured.privacy.mdav import MDAV, _groups
from secured.privacy.utility import classification_utility, utility_report

QIS4 = ["sex", "age", "race", "marital-status"]


@pytest.fixture(scope="module")
def adult():
    df = load("adult")
    cols = ["sex", "age", "race", "marital-status", "education", "native-country", "workclass", "occupation"]
    return df, {c: Hierarchy.from_arx_csv(c, path(f"arx/adult_hierarchy_{c}.csv")) for c in cols}


@pytest.fixture(scope="module")
def diabetes():
    return load("diabetes130")


# -- independent recomputation -------------------------------------------------------------

def classes_of(release, qis, sensitive=None, id_column=None):
    groups = defaultdict(list)
    keys = release[qis].astype(str).itertuples(index=False)
    sens = release[sensitive].astype(str) if sensitive else [None] * len(release)
    ids = release[id_column].astype(str) if id_column else range(len(release))
    for key, s, i in zip(keys, sens, ids):
        groups[tuple(key)].append((s, i))
    return groups


def plain_k(release, qis, id_column=None):
    return min(len({i for _, i in v}) for v in classes_of(release, qis, None, id_column).values())


def plain_l(release, qis, sensitive, variant, c=None):
    best = math.inf
    for members in classes_of(release, qis, sensitive).values():
        counts = sorted(Counter(s for s, _ in members).values(), reverse=True)
        if variant == "distinct":
            value = len(counts)
        elif variant == "entropy":
            n = sum(counts)
            value = math.exp(-sum(x / n * math.log(x / n) for x in counts))
        else:
            value = max([l for l in range(1, len(counts) + 1) if counts[0] < c * sum(counts[l - 1:])], default=0)
        best = min(best, value)
    return best


def plain_t_equal(release, qis, sensitive):
    glob, n = Counter(release[sensitive].astype(str)), len(release)
    worst = 0.0
    for members in classes_of(release, qis, sensitive).values():
        cnt = Counter(s for s, _ in members)
        worst = max(worst, 0.5 * sum(abs(cnt[x] / len(members) - glob[x] / n) for x in glob))
    return worst


# -- hierarchies -----------------------------------------------------------------------------

def nests(h: Hierarchy) -> bool:
    """Every level's label determines the next level's label (a tree), last level '*'."""
    t = h.table
    ok = all(t.groupby(L)[L + 1].nunique().max() == 1 for L in range(h.height - 1)) if h.height > 1 else True
    return ok and set(t[h.height - 1]) == {"*"}


def test_builders_make_trees(diabetes):
    built = [Hierarchy.icd9("diag_1", diabetes["diag_1"]),
             Hierarchy.from_spec("age", "ordered:2,5", diabetes["age"]),
             Hierarchy.from_spec("n", "quantiles:8,4,2", diabetes["num_medications"]),
             Hierarchy.from_spec("n", "intervals:5,10,20", diabetes["num_medications"]),
             Hierarchy.from_spec("p", "prefix:3,1", diabetes["diag_1"]),
             Hierarchy.from_spec("d", "dates", ["2019-03-04", "2019-03-28", "2001-12-31"]),
             Hierarchy.from_spec("g", "flat", diabetes["gender"])]
    for h in built:
        assert nests(h), h.column
    icd = Hierarchy.icd9("x", ["250.83", "V57", "E909", "?", "8", "401"]).table
    assert icd.loc["250.83"].tolist() == ["250.83", "250", "240-279", "*"]
    assert icd.loc["V57", 2] == "V01-V91" and icd.loc["E909", 2] == "E000-E999"
    assert icd.loc["8", 2] == "001-139" and icd.loc["401", 2] == "390-459" and icd.loc["?", 2] == "?"
    age = Hierarchy.from_spec("age", "ordered:2,5", diabetes["age"]).table
    assert age.loc["[30-40)", 1] == "[20-40)" and age.loc["[90-100)", 2] == "[0-100)"
    q = Hierarchy.from_spec("n", "quantiles:4,2", diabetes["num_medications"])
    meds = diabetes["num_medications"].astype(float)
    lo, hi = q.table.loc["16", 1].strip("[)]").split(", ")
    assert float(lo) <= 16 < float(hi)
    # quartile bins each hold about a quarter of the rows
    shares = diabetes["num_medications"].map(q.table[1]).value_counts(normalize=True)
    assert shares.max() < 0.4 and abs(meds.median() - float(q.table.loc["16", 2].strip("[)]").split(", ")[0])) < 10


def test_builder_errors(diabetes):
    with pytest.raises(ConfigurationError, match="'n'.*multiple"):
        Hierarchy.from_spec("n", "intervals:5,7", diabetes["num_medications"])
    with pytest.raises(ConfigurationError, match="'n'.*divide"):
        Hierarchy.from_spec("n", "quantiles:8,3", diabetes["num_medications"])
    with pytest.raises(ConfigurationError, match="'race'.*non-numeric"):
        Hierarchy.from_spec("race", "intervals:5", diabetes["race"])
    with pytest.raises(ConfigurationError, match="'age'.*not a builder"):
        Hierarchy.from_spec("age", "zigzag", diabetes["age"])
    with pytest.raises(ConfigurationError, match="'d'.*not dates"):
        Hierarchy.from_spec("d", "dates", ["2019-01-01", "soon"])
    partial = Hierarchy.icd9("diag_1", diabetes["diag_1"].head(100))
    with pytest.raises(ConfigurationError, match="'diag_1' does not cover") as info:
        partial.codes(diabetes["diag_1"])
    assert "250" not in str(info.value)


# -- MDAV ------------------------------------------------------------------------------------

@pytest.mark.parametrize("k", [2, 5, 7])
def test_mdav_compiled_matches_reference(k):
    X = np.random.default_rng(k).normal(size=(1500, 3))
    a, b = _groups(X, k), reference.mdav_groups(X, k)
    assert (a == b).all()
    sizes = np.bincount(a)
    assert sizes.min() >= k and sizes.max() <= 2 * k - 1


def test_mdav_release(diabetes):
    qis = ["time_in_hospital", "num_lab_procedures", "num_medications"]
    df = diabetes.head(5000)
    model = MDAV(qis, PrivacyCriteria(k=6))
    release = model.fit_transform(df)
    assert plain_k(release, qis) >= 6
    # every released value is the (rounded) mean of the original values of its class
    orig = df[qis].astype(float).reset_index(drop=True)
    for key, idx in release.groupby(qis).groups.items():
        assert np.allclose(orig.loc[idx].mean().to_numpy(), np.array(key), atol=0.0051 * 6)
    people = MDAV(qis, PrivacyCriteria(k=4, id_column="patient_nbr")).fit_transform(df)
    assert plain_k(people, qis, "patient_nbr") >= 4
    with pytest.raises(ConfigurationError, match="'race'"):
        MDAV(["race"], PrivacyCriteria(k=3)).fit_transform(df)


# -- l and t inside the searches ---------------------------------------------------------------

@pytest.mark.parametrize("variant, l, c", [("distinct", 3, None), ("entropy", 2.5, None), ("recursive", 2, 3.0)])
def test_optimal_with_l_diversity(adult, variant, l, c):
    df, H = adult
    crit = PrivacyCriteria(k=5, sensitive="occupation", l=l, l_variant=variant, c=c)
    fast = optimal_recoding(df, QIS4, H, crit, max_suppression=0.02)
    full = exhaustive_recoding(df, QIS4, H, crit, max_suppression=0.02)
    assert fast.metric == full.metric
    anon = Anonymizer(k=5, quasi_identifiers=QIS4, hierarchies=H, sensitive="occupation", l=l, l_variant=variant,
                      c=c, max_suppression=0.02)
    release = anon.fit_transform(df)
    assert plain_l(release, QIS4, "occupation", variant, c) >= l - 1e-9
    assert abs(anon.report_["l"] - plain_l(release, QIS4, "occupation", variant, c)) < 1e-9
    assert plain_k(release, QIS4) >= 5 and anon.report_["suppressed"] <= 0.02 * len(df)


@pytest.mark.parametrize("method, extra", [("optimal", {"max_suppression": 0.03}), ("mondrian", {"numeric": ["age"]})])
def test_t_closeness_constraint(adult, method, extra):
    df, H = adult
    anon = Anonymizer(k=5, quasi_identifiers=QIS4, hierarchies=H, sensitive="salary-class", t=0.15,
                      method=method, **extra)
    release = anon.fit_transform(df)
    t = plain_t_equal(release, QIS4, "salary-class")
    assert t <= 0.15 + 1e-12 and abs(anon.report_["t"] - t) < 1e-12


def test_mondrian_with_l_and_transform(adult):
    df, H = adult
    anon = Anonymizer(k=4, quasi_identifiers=QIS4, hierarchies=H, sensitive="occupation", l=3, method="mondrian",
                      numeric=["age"])
    release = anon.fit_transform(df)
    assert plain_l(release, QIS4, "occupation", "distinct") >= 3 and plain_k(release, QIS4) >= 4
    # transforming the training rows again lands every row in a box that contains it
    again = anon.transform(df)
    bounds = again["age"].str.strip("[]").str.split(", ", expand=True).astype(float)
    bounds[1] = bounds[1].fillna(bounds[0])
    assert ((bounds[0] <= df["age"].astype(float)) & (df["age"].astype(float) <= bounds[1])).all()


# -- utility -----------------------------------------------------------------------------------

def test_utility_metrics_by_hand():
    h = Hierarchy("x", pd.DataFrame([["a", "ab", "*"], ["b", "ab", "*"], ["c", "cd", "*"], ["d", "cd", "*"]],
                                    index=["a", "b", "c", "d"]))
    original = pd.DataFrame({"x": ["a", "b", "c", "d", "a", "c"], "y": [1, 2, 3, 4, 5, 9]})
    kept = np.array([True, True, True, True, True, False])
    release = pd.DataFrame({"x": ["ab", "ab", "cd", "cd", "a"], "y": ["[1, 2]", "[1, 2]", "[3, 4]", "[3, 4]", "5"]})
    rep = utility_report(original, release, kept, ["x", "y"], {"x": h}, numeric=["y"], k=2)
    # x: 'ab' covers 2 of 4 leaves -> (2-1)/(4-1); 'a' -> 0; suppressed -> 1
    loss_x = [1 / 3] * 4 + [0, 1]
    # y: spread of originals under the same released value over the range 8
    loss_y = [1 / 8, 1 / 8, 1 / 8, 1 / 8, 0, 1]
    assert rep["loss"] == pytest.approx((sum(loss_x) + sum(loss_y)) / 12)
    assert rep["precision"] == pytest.approx(1 - (4 * 0.5 + 0 + 1 + sum(loss_y)) / 12)
    assert rep["discernibility"] == 4 + 4 + 1 + 6
    assert rep["classes"] == 3 and rep["average_class_size"] == pytest.approx(5 / 3)
    # non-uniform entropy of x: rows under 'ab' are a or b (1 bit each), 'a' alone 0, suppressed 'c' -log2(2/6)
    bits_x = 4 * 1 + 0 + -math.log2(2 / 6)
    bits_y = 4 * 1 + 0 + -math.log2(1 / 6)
    assert rep["non_uniform_entropy_bits"] == pytest.approx(bits_x + bits_y)
    full_x = -sum(math.log2(c / 6) for c in [2, 1, 2, 1, 2, 2])
    full_y = -6 * math.log2(1 / 6)
    assert rep["non_uniform_entropy"] == pytest.approx((bits_x + bits_y) / (full_x + full_y))


def test_classification_utility(adult):
    df, H = adult
    qis = ["sex", "age", "race", "marital-status", "education", "native-country", "workclass", "occupation"]
    result = classification_utility(df, "salary-class", Anonymizer(k=5, quasi_identifiers=qis, hierarchies=H))
    assert result["accuracy_majority"] < result["accuracy"] <= result["accuracy_original"] + 0.01
    assert 0.78 < result["accuracy_original"] < 0.88
    # balanced accuracy and AUROC see the minority class; the majority baseline is 0.5 for both
    assert 0.5 < result["balanced_accuracy"] <= result["balanced_accuracy_original"] + 0.01
    assert 0.5 < result["auroc"] <= result["auroc_original"] + 0.01 and result["balanced_accuracy_majority"] == 0.5
    assert 0 < result["relative"] <= 1.05


def test_classification_utility_rare_target_sees_the_minority(adult):
    """A 5%-positive target: a model that predicts the majority for everyone scores a high
    accuracy but a balanced accuracy of 0.5; the relative score is about the minority signal."""
    df, H = adult
    df = df.head(6000).copy()
    rng = np.random.default_rng(0)
    df["rare"] = np.where((df["education"] == "Doctorate") | (rng.random(len(df)) < 0.03), "yes", "no")
    qis = ["sex", "age", "race"]
    result = classification_utility(df, "rare", Anonymizer(k=5, quasi_identifiers=qis, hierarchies=H, keep="all"))
    assert result["accuracy_majority"] > 0.9 and result["balanced_accuracy_majority"] == 0.5
    assert result["auroc_original"] > 0.6        # education predicts the minority
    with pytest.raises(BadInputError, match="single row") as err:
        classification_utility(df.assign(rare=["only-one"] + ["no"] * (len(df) - 1)), "rare",
                               Anonymizer(k=5, quasi_identifiers=qis, hierarchies=H, keep="all"))
    assert "only-one" not in str(err.value)


# -- direct identifiers ----------------------------------------------------------------------

def test_pseudonyms_are_keyed_hmacs(diabetes):
    df = diabetes.head(3000)
    key = bytes(range(32))
    qis = ["age", "gender"]
    H = {"age": Hierarchy.from_spec("age", "ordered:2,5", df["age"]), "gender": Hierarchy.from_spec("gender", "flat", df["gender"])}
    anon = Anonymizer(k=5, quasi_identifiers=qis, hierarchies=H, id_column="patient_nbr", drop=["encounter_id"],
                      pseudonymize=["patient_nbr"], pseudonym_key=key)
    release = anon.fit_transform(df)
    assert "encounter_id" not in release.columns
    kept = df.reset_index(drop=True)
    expected = [hmac.new(key, v.encode(), hashlib.sha256).hexdigest()[:32] for v in kept["patient_nbr"].astype(str)]
    assert release["patient_nbr"].tolist() == expected
    assert plain_k(release, qis, "patient_nbr") >= 5  # pseudonyms keep people distinct
    other = Anonymizer(k=5, quasi_identifiers=qis, hierarchies=H, pseudonymize=["patient_nbr"],
                       drop=["encounter_id"]).fit_transform(df)
    assert not set(other["patient_nbr"]) & set(release["patient_nbr"])  # random key: unlinkable
    with pytest.raises(ConfigurationError, match="'age'.*both a direct identifier"):
        Anonymizer(k=5, quasi_identifiers=qis, hierarchies=H, drop=["age"]).fit_transform(df)
