"""The attacks against independent references written here, in the unsafe direction first.

The reference singling-out attack follows the same specification as ``attacks.singling_out``
(predicates drawn from the release that match exactly one released row; univariate: unique
values and unique extremes; multivariate: three columns of a random released row, '==' for
categories, '<=' / '>=' for numbers below / above the median), implemented with pandas
boolean masks. It is evaluated on the WHOLE original and corrected for the control's size the
way Anonymeter does it: singles counted on random subsamples of the control of 10 sizes, 5
repeats each, the uniform-weight model fitted to them and extrapolated to the original's size.
The distance-to-closest-record share is recomputed from full distance matrices.

Cases: the release is the original, a k-anonymous release, a release with planted unique
people, releases made of 10% and 50% exact copies of original rows (the rest fresh rows from
the same population), a column-shuffled release; at 80/20 and 50/50 splits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import curve_fit

from secured.data import load, path
from secured.privacy import Hierarchy
from secured.privacy.anonymizer import Anonymizer
from secured.privacy.attacks import singling_out, wilson
from secured.privacy.risk import distance_to_closest_record

COLUMNS = ["age", "workclass", "education", "marital-status", "occupation", "race", "sex", "native-country",
           "salary-class"]
NUMERIC = ["age"]


# -- the reference --------------------------------------------------------------------------------

class _Frame:
    """A table as plain numpy columns: floats for the numeric ones, text for the others."""

    def __init__(self, frame: pd.DataFrame, numeric) -> None:
        self.n = len(frame)
        self.cols = {c: (frame[c].astype(float).to_numpy() if c in numeric else frame[c].astype(str).to_numpy())
                     for c in frame.columns}


def _mask(frame: _Frame, predicate) -> np.ndarray:
    m = np.ones(frame.n, dtype=bool)
    for column, op, value in predicate:
        x = frame.cols[column]
        m &= (x <= value) if op == "<=" else (x >= value) if op == ">=" else (x == value)
    return m


def reference_predicates(release: pd.DataFrame, mode: str, n: int, seed: int, columns, numeric,
                         max_attempts: int = 20_000) -> list:
    rng = np.random.default_rng(seed + 1000)
    rel = _Frame(release[list(columns)], numeric)
    preds: list = []
    if mode == "univariate":
        for c in columns:
            values = pd.Series(rel.cols[c])
            counts = values.value_counts()
            preds += [((c, "==", v),) for v in counts[counts == 1].index]
            if c in numeric:
                lo, hi = values.min(), values.max()
                if (values == lo).sum() == 1:
                    preds.append(((c, "<=", lo),))
                if (values == hi).sum() == 1:
                    preds.append(((c, ">=", hi),))
        order = rng.permutation(len(preds))[:n]
        return [preds[i] for i in order]
    # columns as integer codes (numbers by rank, so <= and >= keep their meaning)
    names = list(columns)
    codes = np.stack([pd.Series(rel.cols[c]).rank(method="dense").to_numpy() if c in numeric else
                      pd.factorize(rel.cols[c])[0] for c in names], axis=1).astype(np.int64)
    is_num = np.array([c in numeric for c in names])
    medians = np.array([np.median(codes[:, j]) for j in range(len(names))])
    seen: set = set()
    attempts = 0
    while len(preds) < n and attempts < max_attempts:
        batch = min(500, max_attempts - attempts)
        attempts += batch
        rows = rng.integers(rel.n, size=batch)
        cols = np.array([rng.choice(len(names), 3, replace=False) for _ in range(batch)])
        v = codes[rows[:, None], cols]                                  # batch x 3
        data = codes[:, cols]                                           # rows x batch x 3
        upper = v > medians[cols]
        num = is_num[cols]
        match = np.where(num & upper, data >= v, np.where(num, data <= v, data == v)).all(axis=2)
        for i in np.flatnonzero(match.sum(axis=0) == 1):
            pred = tuple(sorted((names[j], (">=" if u else "<=") if is_num[j] else "==",
                                 float(rel.cols[names[j]][rows[i]]) if is_num[j] else str(rel.cols[names[j]][rows[i]]))
                                for j, u in zip(cols[i], upper[i])))
            if pred not in seen:
                seen.add(pred)
                preds.append(pred)
    return preds[:n]


def _singles(masks: np.ndarray, people: np.ndarray | None, rows: np.ndarray | None = None) -> int:
    """Predicates (rows of ``masks``) matching exactly one unit among ``rows``."""
    sub = masks if rows is None else masks[:, rows]
    if people is None:
        return int((sub.sum(axis=1) == 1).sum())
    ids = people if rows is None else people[rows]
    return int(sum(len(set(ids[m])) == 1 for m in sub))


def reference_singling_out(original, release, control, mode, n_attacks=200, seed=0, id_column=None,
                           columns=COLUMNS, numeric=NUMERIC, max_attempts=20_000):
    preds = reference_predicates(release, mode, n_attacks, seed, columns, numeric, max_attempts)
    ori, ctl = _Frame(original[list(columns)], numeric), _Frame(control[list(columns)], numeric)
    on_ori = np.array([_mask(ori, p) for p in preds]).reshape(len(preds), len(original))
    on_ctl = np.array([_mask(ctl, p) for p in preds]).reshape(len(preds), len(control))
    people_o = original[id_column].to_numpy() if id_column else None
    people_c = control[id_column].to_numpy() if id_column else None
    attack = _singles(on_ori, people_o)
    n, m = (len(original), len(control)) if id_column is None else \
        (original[id_column].nunique(), control[id_column].nunique())
    control_hits = float(_singles(on_ctl, people_c))
    if m != n and control_hits > 0:     # Anonymeter's correction, with random subsamples
        rng = np.random.default_rng(seed + 7)
        units = np.arange(len(control)) if id_column is None else pd.factorize(control[id_column])[0]
        sizes, successes = [], []
        for size in np.linspace(min(1000, m // 4), m, 10).astype(int):
            for _ in range(5):
                chosen = rng.choice(m, size, replace=False)
                rows = np.flatnonzero(np.isin(units, chosen))
                sizes.append(size)
                successes.append(_singles(on_ctl, people_c, rows))

        def model(x, w, norm):
            return norm * (1 - (x * w + 1) * (1 - w) ** x) / (x + 1)

        w0 = 1 / max(sizes)
        try:
            (w, norm), _ = curve_fit(model, np.array(sizes, float), np.array(successes, float),
                                     p0=(w0, max(successes[-1], 1) / model(m, w0, 1.0)), bounds=(0, (1, np.inf)),
                                     maxfev=10_000)
            control_hits *= model(n, w, norm) / model(m, w, norm)
        except RuntimeError:   # a handful of noisy counts: left uncorrected
            pass
    a, c = wilson(attack, n_attacks), wilson(control_hits, n_attacks)
    risk = (a.value - c.value) / (1 - c.value)
    half = np.hypot(a.error / (1 - c.value), c.error * (a.value - 1) / (1 - c.value) ** 2)
    return max(risk, 0.0), half


def _agree(ours, reference_value, reference_half):
    """Point estimates within the two intervals' half-widths; never lower by more than that."""
    half = (ours.risk.ci[1] - ours.risk.ci[0]) / 2
    return abs(ours.risk.value - reference_value) <= half + reference_half + 0.01


# -- cases ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def adult():
    return load("adult").sample(frac=1, random_state=0).reset_index(drop=True)[COLUMNS].head(14_000)


def _split(df: pd.DataFrame, fraction: float, fresh: int = 0):
    """(original, control, fresh rows of the same population)."""
    pool = df.iloc[:len(df) - fresh]
    n = int(len(pool) * (1 - fraction))
    return (pool.iloc[:n].reset_index(drop=True), pool.iloc[n:].reset_index(drop=True),
            df.iloc[len(df) - fresh:].reset_index(drop=True))


def _copies(original: pd.DataFrame, fresh: pd.DataFrame, share: float, size: int, seed: int) -> pd.DataFrame:
    k = int(round(share * size))
    return pd.concat([original.sample(k, random_state=seed), fresh.sample(size - k, random_state=seed)],
                     ignore_index=True).sample(frac=1, random_state=seed + 1).reset_index(drop=True)


def _shuffled(original: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({c: original[c].to_numpy()[rng.permutation(len(original))] for c in original.columns})


@pytest.mark.parametrize("fraction", [0.2, 0.5])
def test_release_is_the_original(adult, fraction):
    ori, ctl, _ = _split(adult, fraction)
    for mode in ("univariate", "multivariate"):
        ours = singling_out(ori, ori, ctl, COLUMNS, mode=mode, n_attacks=200, max_attempts=20_000, numeric=NUMERIC,
                            seed=0)
        value, half = reference_singling_out(ori, ori, ctl, mode)
        assert _agree(ours, value, half), (mode, fraction, ours.risk, value, half)
    # the unprotected table is highly exposed by multivariate predicates at either split
    assert ours.risk.value > 0.7


@pytest.mark.parametrize("fraction", [0.2, 0.5])
@pytest.mark.parametrize("share", [0.1, 0.5])
def test_exact_copies(adult, fraction, share):
    ori, ctl, fresh = _split(adult, fraction, fresh=4000)
    release = _copies(ori, fresh, share, 4000, seed=3)
    ours = singling_out(ori, release, ctl, COLUMNS, mode="multivariate", n_attacks=200, max_attempts=20_000,
                        numeric=NUMERIC, seed=0)
    value, half = reference_singling_out(ori, release, ctl, "multivariate")
    assert _agree(ours, value, half), (share, fraction, ours.risk, value, half)
    assert ours.risk.value > 0.02 * share  # copies leak: never scored as safe


@pytest.mark.parametrize("fraction", [0.2, 0.5])
def test_column_shuffled_release_leaks_nothing(adult, fraction):
    ori, ctl, _ = _split(adult, fraction)
    release = _shuffled(ori, seed=5)
    ours = singling_out(ori, release, ctl, COLUMNS, mode="multivariate", n_attacks=200, max_attempts=20_000,
                        numeric=NUMERIC, seed=0)
    value, half = reference_singling_out(ori, release, ctl, "multivariate")
    assert _agree(ours, value, half), (fraction, ours.risk, value, half)
    assert ours.risk.value < 0.1


def test_k_anonymous_release_and_planted_people(adult):
    ori, ctl, _ = _split(adult, 0.2)
    qis = ["sex", "age", "race", "marital-status", "education", "native-country", "workclass", "occupation"]
    H = {c: Hierarchy.from_arx_csv(c, path(f"arx/adult_hierarchy_{c}.csv")) for c in qis}
    anon = Anonymizer(k=5, quasi_identifiers=qis, hierarchies=H, max_suppression=0.02, keep="all")
    release = anon.fit_transform(ori)
    ours = singling_out(anon.transform(ori), release, anon.transform(ctl), qis, mode="multivariate", n_attacks=300,
                        hierarchies=H, seed=0)
    assert ours.risk.value == 0 and ours.details["predicates_found"] == 0 and ours.risk.ci[1] < 0.02
    # 30 people with a unique trait, published un-generalized: found in the WHOLE original
    rng = np.random.default_rng(9)
    planted = ori.iloc[rng.choice(len(ori), 30, replace=False)].copy()
    planted["native-country"] = [f"Atlantis-{i}" for i in range(30)]
    ori_p = pd.concat([ori, planted], ignore_index=True)
    release_p = pd.concat([release, planted], ignore_index=True)
    # every value unique in the release is a candidate (the planted ones and the raw cells of the planted
    # rows, unique among generalized ones): with room for all of them, each planted person is singled out
    r = singling_out(ori_p, release_p, ctl, COLUMNS, mode="univariate", n_attacks=1000, numeric=NUMERIC, seed=0)
    assert r.details["predicates_found"] < 1000 and r.successes["attack"] >= 30
    value, half = reference_singling_out(ori_p, release_p, ctl, "univariate", n_attacks=1000)
    assert _agree(r, value, half)
    small = singling_out(ori_p, release_p, ctl, COLUMNS, mode="univariate", n_attacks=40, numeric=NUMERIC, seed=0)
    assert small.risk.value > 0.3


def test_people_with_many_rows_counted_once():
    """Diabetes encounters: a predicate that matches two rows of ONE patient singles them out."""
    d = load("diabetes130").head(12_000)
    cols = ["age", "gender", "race", "diag_1", "admission_source_id", "patient_nbr"]
    d = d[cols].copy()
    people = d["patient_nbr"].unique()
    rng = np.random.default_rng(1)
    held = set(rng.choice(people, len(people) // 5, replace=False))
    ori = d[~d["patient_nbr"].isin(held)].reset_index(drop=True)
    ctl = d[d["patient_nbr"].isin(held)].reset_index(drop=True)
    qis = cols[:-1]
    ours = singling_out(ori, ori, ctl, qis, mode="multivariate", n_attacks=200, max_attempts=20_000,
                        id_column="patient_nbr", numeric=[], seed=0)
    value, half = reference_singling_out(ori, ori, ctl, "multivariate", id_column="patient_nbr", columns=qis,
                                         numeric=[])
    assert ours.details["units"] == "people"
    assert _agree(ours, value, half), (ours.risk, value, half)


# -- distance to closest record ------------------------------------------------------------------------

def _gaussian(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n) * 3, "c": rng.choice(list("abc"), n)})


def reference_dcr_share(original, release, control):
    """Pooled nearest neighbour in the original, ties shared, on the equal-size scale."""
    everything = pd.concat([original, release, control])
    span = {c: everything[c].max() - everything[c].min() for c in ("x", "y")}

    def dist(a, b):
        d = sum(np.abs(a[c].to_numpy()[:, None] - b[c].to_numpy()[None, :]) / span[c] for c in ("x", "y"))
        return d + (a["c"].to_numpy()[:, None] != b["c"].to_numpy()[None, :])

    credit = []
    for i in range(len(release)):
        row = release.iloc[[i]]
        do, dc = dist(row, original)[0], dist(row, control)[0]
        best = min(do.min(), dc.min())
        a, b = np.isclose(do, best, rtol=1e-9, atol=1e-12).sum(), np.isclose(dc, best, rtol=1e-9, atol=1e-12).sum()
        credit.append(a / (a + b))
    null = len(original) / (len(original) + len(control))
    share = float(np.mean(credit))
    return 0.5 + 0.5 * (share - null) / (1 - null)


@pytest.mark.parametrize("share, expected", [(0.0, 0.5), (0.1, 0.55), (0.5, 0.75), (1.0, 1.0)])
def test_dcr_share_is_not_diluted(share, expected):
    original, control, fresh = _gaussian(4000, 1), _gaussian(1000, 2), _gaussian(2000, 3)
    k = int(share * 600)
    release = pd.concat([original.sample(k, random_state=4), fresh.sample(600 - k, random_state=4)], ignore_index=True)
    ours = distance_to_closest_record(original, release, control, ["x", "y", "c"], numeric=["x", "y"])
    lo, hi = ours["closer_to_original"]["ci"]
    assert ours["closer_to_original"]["value"] == pytest.approx(reference_dcr_share(original, release, control),
                                                                abs=1e-9)
    assert lo - 0.01 <= expected <= hi + 0.01, (share, ours["closer_to_original"])
    assert ours["exact_copies"] == pytest.approx(k / 600)
