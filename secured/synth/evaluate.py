"""``evaluate(real_train, synthetic, real_holdout, target=...)``: how faithful, useful and
private a synthetic table is, every number measured against a real reference.

- ``shapes``: per column 1 - Kolmogorov-Smirnov statistic (numbers, dates) or 1 - total
  variation distance (categories); the mean.
- ``pair_trends``: per column pair 1 - |correlation difference| / 2 for two numeric columns,
  1 - total variation of the binned contingency table otherwise; the mean (at most
  ``max_pairs`` pairs, drawn with the seed).
- ``k_marginal``: NIST SDNist's score (``k_marginal_score``): numbers cut at the real table's
  percentiles, for each 3-column marginal the sum of absolute differences of the two tables'
  cell shares (0-2), averaged, score = 500 * (2 - mean); 1000 is identical.
- ``detection``: a gradient-boosting classifier told real from synthetic rows (equal counts),
  cross-validated AUROC; 0.5 means it cannot tell them apart.
- ``utility`` (with ``target``): train on synthetic, test on the real holdout (TSTR) next to
  train on real, test on the holdout (TRTR), same learner: gradient boosting and logistic
  regression, macro F1 and AUROC.
- ``privacy``: exact copies of training rows (against the rate at which holdout rows copy
  training rows: people who happen to look alike), distance to closest record in the pooled
  train + holdout (0.5 = synthetic rows are no closer to the training rows than to unseen
  people, 1 = copies), and the project's singling-out, linkability and inference attacks with
  the holdout as control. ``memorizes`` is set when copies exceed the holdout's rate or the
  distance test's lower bound exceeds 0.6; the reasons say which.
"""

from __future__ import annotations

import itertools
import time
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..exceptions import BadInputError
from ..privacy.attacks import wilson

__all__ = ["evaluate", "k_marginal_score", "split_holdout", "detection_auc"]


def _numeric_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
            or pd.api.types.is_datetime64_any_dtype(df[c])]


def _as_float(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values):
        return (pd.to_datetime(values).astype("int64") / 8.64e13).to_numpy(dtype=float)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)


def _binned(real: pd.DataFrame, other: pd.DataFrame, numeric: list[str], bins: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both tables with every column as category codes: numbers cut at the real table's
    percentiles (``bins`` bins, as SDNist ranks them), missing as a code of its own."""
    a, b = {}, {}
    for c in real.columns:
        if c in numeric:
            x, y = _as_float(real[c]), _as_float(other[c])
            edges = np.unique(np.nanquantile(x, np.linspace(0, 1, bins + 1)[1:-1])) if np.isfinite(x).any() else []
            a[c] = np.where(np.isnan(x), -1, np.searchsorted(edges, x, "right"))
            b[c] = np.where(np.isnan(y), -1, np.searchsorted(edges, y, "right"))
        else:
            cats = pd.Index(pd.unique(pd.concat([real[c], other[c]]).astype(str)))
            a[c] = cats.get_indexer(real[c].astype(str))
            b[c] = cats.get_indexer(other[c].astype(str))
    return pd.DataFrame(a), pd.DataFrame(b)


def _tvd(a: pd.DataFrame, b: pd.DataFrame, cols: Sequence[str]) -> float:
    """Sum of absolute differences of cell shares (0-2) of the marginal over ``cols``."""
    pa = a.groupby(list(cols)).size() / len(a)
    pb = b.groupby(list(cols)).size() / len(b)
    return float(pa.sub(pb, fill_value=0).abs().sum())


def split_holdout(df: pd.DataFrame, share: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(training rows, holdout rows): a seeded random ``share`` of the rows held out, never seen
    by the generator, so that the evaluation has unseen real rows as its reference."""
    if not 0 < share < 1:
        raise BadInputError("The holdout share must be between 0 and 1.")
    order = np.random.default_rng(seed).permutation(len(df))
    cut = int(round(len(df) * share))
    return df.iloc[order[cut:]].reset_index(drop=True), df.iloc[order[:cut]].reset_index(drop=True)


def k_marginal_score(real: pd.DataFrame, synthetic: pd.DataFrame, k: int = 3, *, bins: int = 20,
                     group: str | None = None, exclude: Sequence[str] = (), max_marginals: int = 500,
                     seed: int = 0, numeric: list[str] | None = None) -> float:
    """NIST SDNist's k-marginal score, 0-1000 (1000: identical marginals).

    Numeric columns are cut at the real table's percentiles into ``bins`` bins (SDNist uses 20;
    a missing cell is a bin of its own), other columns are compared as they are. For each
    marginal the shares of every cell in the two tables are compared, the sum of absolute
    differences (0-2) is averaged over the marginals, and score = 500 * (2 - mean). With
    ``group`` (SDNist's CRC setting: ``group="PUMA", exclude=["INDP"]``) the marginals are
    (group, a, b) for every pair a < b of the other columns not excluded; otherwise every
    ``k``-column combination (a seeded sample of ``max_marginals`` of them when there are more).
    """
    numeric = _numeric_columns(real) if numeric is None else numeric
    a, b = _binned(real, synthetic[real.columns], numeric, bins)
    if group is not None:
        if group not in real.columns:
            raise BadInputError(f"The group column {group!r} is not in the table.")
        rest = [c for c in real.columns if c != group and c not in exclude]
        combos = [(group, x, y) for x, y in itertools.combinations(rest, 2)]
    else:
        cols = [c for c in real.columns if c not in exclude]
        combos = list(itertools.combinations(cols, min(k, len(cols))))
        if len(combos) > max_marginals:
            rng = np.random.default_rng(seed)
            combos = [combos[i] for i in sorted(rng.choice(len(combos), max_marginals, replace=False))]
    mean = float(np.mean([_tvd(a, b, cols) for cols in combos]))
    return 500.0 * (2.0 - mean)


def _shapes(real: pd.DataFrame, syn: pd.DataFrame, numeric: list[str]) -> dict[str, float]:
    from scipy.stats import ks_2samp

    out = {}
    for c in real.columns:
        if c in numeric:
            x, y = _as_float(real[c]), _as_float(syn[c])
            x, y = x[~np.isnan(x)], y[~np.isnan(y)]
            out[c] = float(1 - ks_2samp(x, y).statistic) if len(x) and len(y) else 0.0
        else:
            pa = real[c].astype(str).value_counts(normalize=True)
            pb = syn[c].astype(str).value_counts(normalize=True)
            out[c] = float(1 - 0.5 * pa.sub(pb, fill_value=0).abs().sum())
    return out


def _pairs(real: pd.DataFrame, syn: pd.DataFrame, numeric: list[str], bins: int, max_pairs: int,
           rng: np.random.Generator) -> float:
    combos = list(itertools.combinations(real.columns, 2))
    if len(combos) > max_pairs:
        combos = [combos[i] for i in sorted(rng.choice(len(combos), max_pairs, replace=False))]
    a, b = _binned(real, syn, numeric, bins)
    scores = []
    for x, y in combos:
        if x in numeric and y in numeric:
            r = pd.DataFrame({"x": _as_float(real[x]), "y": _as_float(real[y])}).corr().iloc[0, 1]
            s = pd.DataFrame({"x": _as_float(syn[x]), "y": _as_float(syn[y])}).corr().iloc[0, 1]
            scores.append(1 - abs((0 if np.isnan(r) else r) - (0 if np.isnan(s) else s)) / 2)
        else:
            scores.append(1 - _tvd(a, b, (x, y)) / 2)
    return float(np.mean(scores)) if scores else 1.0


def _encode(frames: list[pd.DataFrame], numeric: list[str]) -> list[np.ndarray]:
    """Ordinal codes for categories (shared across frames), floats for numbers."""
    out = [dict() for _ in frames]
    for c in frames[0].columns:
        if c in numeric:
            for o, f in zip(out, frames):
                o[c] = _as_float(f[c])
        else:
            cats = pd.Index(pd.unique(pd.concat([f[c] for f in frames]).astype(str)))
            for o, f in zip(out, frames):
                o[c] = cats.get_indexer(f[c].astype(str)).astype(float)
    return [pd.DataFrame(o).to_numpy() for o in out]


def _detection(real: pd.DataFrame, syn: pd.DataFrame, numeric: list[str], rng: np.random.Generator,
               max_rows: int) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import cross_val_score

    n = min(len(real), len(syn), max_rows)
    r = real.iloc[rng.choice(len(real), n, replace=False)]
    s = syn.iloc[rng.choice(len(syn), n, replace=False)]
    xr, xs = _encode([r, s], numeric)
    x = np.vstack([xr, xs])
    # the booster takes at most 255 categories per feature; wider codes (industry codes) as ordinals
    cat = [i for i, c in enumerate(real.columns) if c not in numeric and np.nanmax(x[:, i]) < 255]
    y = np.r_[np.zeros(n), np.ones(n)]
    model = HistGradientBoostingClassifier(max_iter=100, categorical_features=cat or None, random_state=0)
    aucs = cross_val_score(model, x, y, cv=5, scoring="roc_auc")
    return {"auroc": float(aucs.mean()), "folds": [float(a) for a in aucs], "rows_each": int(n),
            "model": "histogram gradient boosting, 5-fold"}


def detection_auc(real: pd.DataFrame, synthetic: pd.DataFrame, *, max_rows: int = 20_000, seed: int = 0
                  ) -> dict[str, Any]:
    """Cross-validated AUC of a classifier that tells real rows from synthetic ones (0.5: it
    cannot). Equal numbers of rows are drawn from both; from 400 rows a side it is the
    evaluation's gradient boosting, below that an L2 logistic regression on one-hot and
    standardized columns (a booster's leaves of 20 rows would see nothing in small groups)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    for name, frame in (("real", real), ("synthetic", synthetic)):
        if not isinstance(frame, pd.DataFrame) or len(frame) < 2:
            raise BadInputError(f"detection_auc needs at least 2 {name} rows.")
    missing = [c for c in real.columns if c not in synthetic.columns]
    if missing:
        raise BadInputError(f"The synthetic rows lack column(s) {', '.join(map(repr, missing))}.")
    rng = np.random.default_rng(seed)
    numeric = _numeric_columns(real)
    synthetic = synthetic[list(real.columns)]
    if min(len(real), len(synthetic)) >= 400:
        return _detection(real, synthetic, numeric, rng, max_rows)
    n = min(len(real), len(synthetic))
    r = real.iloc[rng.choice(len(real), n, replace=False)]
    s = synthetic.iloc[rng.choice(len(synthetic), n, replace=False)]
    parts = []
    both = pd.concat([r, s], ignore_index=True)
    num = [c for c in both.columns if c in numeric]
    if num:
        values = np.column_stack([_as_float(both[c]) for c in num])
        values = np.where(np.isnan(values), np.nanmedian(values, axis=0) if np.isfinite(values).any() else 0, values)
        parts.append(StandardScaler().fit_transform(np.nan_to_num(values)))
    cat = [c for c in both.columns if c not in numeric]
    if cat:
        parts.append(OneHotEncoder(sparse_output=False).fit_transform(both[cat].astype(str)))
    x = np.hstack(parts) if parts else np.zeros((2 * n, 1))
    y = np.r_[np.zeros(n), np.ones(n)]
    folds = max(2, min(5, n))
    aucs = cross_val_score(LogisticRegression(C=1.0, max_iter=2000), x, y, scoring="roc_auc",
                           cv=StratifiedKFold(folds, shuffle=True, random_state=seed))
    return {"auroc": float(aucs.mean()), "folds": [float(a) for a in aucs], "rows_each": int(n),
            "model": f"logistic regression, {folds}-fold"}


def _utility(train: pd.DataFrame, syn: pd.DataFrame, holdout: pd.DataFrame, target: str,
             numeric: list[str]) -> dict[str, Any]:
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score, roc_auc_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    features = [c for c in train.columns if c != target]
    num = [c for c in features if c in numeric]
    cat = [c for c in features if c not in numeric]
    truth = holdout[target].astype(str).to_numpy()
    classes = sorted(set(train[target].astype(str)))

    def frame(df):
        out = pd.DataFrame({c: _as_float(df[c]) for c in num})
        for c in cat:
            out[c] = df[c].astype(str).to_numpy()
        return out

    def learners():
        yield "gradient_boosting", lambda: make_pipeline(
            make_column_transformer((OneHotEncoder(handle_unknown="ignore", min_frequency=5,
                                                   sparse_output=False), cat), ("passthrough", num)),
            HistGradientBoostingClassifier(max_iter=200, random_state=0))
        yield "logistic_regression", lambda: make_pipeline(
            make_column_transformer((OneHotEncoder(handle_unknown="ignore", min_frequency=5), cat),
                                    (make_pipeline(_Impute(), StandardScaler()), num)),
            LogisticRegression(max_iter=1000))

    out: dict[str, Any] = {"target": target, "test_rows": int(len(holdout))}
    for name, build in learners():
        row = {}
        for side, data in (("trtr", train), ("tstr", syn)):
            labels = data[target].astype(str)
            if labels.nunique() < 2:
                row[side] = {"f1_macro": 0.0, "auroc": 0.5, "note": "one class only in the training side"}
                continue
            model = build().fit(frame(data[features]), labels)
            pred = model.predict(frame(holdout[features]))
            proba = model.predict_proba(frame(holdout[features]))
            known = list(model.classes_)
            if len(known) == 2:
                auroc = roc_auc_score(truth, proba[:, 1], labels=known) if set(truth) <= set(known) else 0.5
            else:
                auroc = roc_auc_score(truth, proba, multi_class="ovr", labels=known) if set(truth) <= set(known) \
                    else 0.5
            row[side] = {"f1_macro": float(f1_score(truth, pred, average="macro", labels=classes)),
                         "auroc": float(auroc)}
        row["f1_gap"] = row["trtr"]["f1_macro"] - row["tstr"]["f1_macro"]
        out[name] = row
    return out


class _Impute:
    """Missing numbers as the training median (for the linear learner only)."""

    def fit(self, x, y=None):
        self.median_ = np.nanmedian(np.asarray(x, dtype=float), axis=0)
        self.median_ = np.where(np.isnan(self.median_), 0.0, self.median_)
        return self

    def transform(self, x):
        x = np.asarray(x, dtype=float).copy()
        rows, cols = np.where(np.isnan(x))
        x[rows, cols] = self.median_[cols]
        return x

    def get_params(self, deep=True):
        return {}

    def set_params(self, **params):
        return self


def _copies(train: pd.DataFrame, other: pd.DataFrame) -> float:
    """Share of ``other``'s rows identical to some training row."""
    seen = set(pd.util.hash_pandas_object(train.astype(str), index=False))
    return float(pd.util.hash_pandas_object(other.astype(str), index=False).isin(seen).mean())


def _privacy(train: pd.DataFrame, syn: pd.DataFrame, holdout: pd.DataFrame, numeric: list[str],
             target: str | None, quasi_identifiers: Sequence[str] | None, n_attacks: int, seed: int) -> dict[str, Any]:
    from ..privacy.protect import assess
    from ..privacy.risk import distance_to_closest_record

    columns = list(train.columns)
    copies = _copies(train, syn)
    baseline = _copies(train, holdout)
    c_hi = wilson(baseline * len(holdout), len(holdout))
    dcr = distance_to_closest_record(train, syn, holdout, columns, numeric=[c for c in numeric if c in columns],
                                     seed=seed)
    out: dict[str, Any] = {"exact_copies": copies, "exact_copies_holdout": baseline, "dcr": dcr}
    reasons = []
    if copies > c_hi.value + c_hi.error + 0.005:
        reasons.append(f"{copies:.1%} of synthetic rows copy a training row; unseen people do {baseline:.1%}")
    if dcr["closer_to_original"]["ci"][0] > 0.6:
        reasons.append("synthetic rows sit closer to the training rows than unseen people do "
                       f"({dcr['closer_to_original']['value']:.2f}, 0.5 = no closer)")
    qis = list(quasi_identifiers) if quasi_identifiers else [c for c in columns if c != target]
    sensitive = [target] if target and target not in qis else []
    report = assess(train, syn, holdout, qis, sensitive, numeric=[c for c in numeric if c in qis] or None,
                    n_attacks=n_attacks, n_singling=min(n_attacks, 300), seed=seed)
    out["attacks"] = {name: r["risk"] for name, r in report["risks"].items()}
    out["attacks_knowledge"] = {"quasi_identifiers": qis, "sensitive": sensitive, "control": "the real holdout"}
    out["max_attack_upper"] = float(report["max_risk_upper"])
    out["memorizes"] = bool(reasons)
    out["reasons"] = reasons
    return out


def evaluate(real_train: pd.DataFrame, synthetic: pd.DataFrame, real_holdout: pd.DataFrame, *,
             target: str | None = None, quasi_identifiers: Sequence[str] | None = None, bins: int = 10,
             max_pairs: int = 200, max_rows: int = 20_000, n_attacks: int = 500, privacy: bool = True,
             k_marginal: dict[str, Any] | None = None, seed: int = 0) -> dict[str, Any]:
    """The evaluation (see the module docstring) as JSON-ready data."""
    for name, frame in (("real_train", real_train), ("synthetic", synthetic), ("real_holdout", real_holdout)):
        if not isinstance(frame, pd.DataFrame) or len(frame) == 0:
            raise BadInputError(f"evaluate needs a non-empty DataFrame as {name}.")
    columns = list(real_train.columns)
    for name, frame in (("synthetic", synthetic), ("real_holdout", real_holdout)):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise BadInputError(f"The {name} table lacks column(s) {', '.join(map(repr, missing))}.")
    if target is not None and target not in columns:
        raise BadInputError(f"The target column {target!r} is not in the table.")
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    syn, hold = synthetic[columns].reset_index(drop=True), real_holdout[columns].reset_index(drop=True)
    train = real_train.reset_index(drop=True)
    numeric = _numeric_columns(train)
    shapes = _shapes(train, syn, numeric)
    out: dict[str, Any] = {
        "rows": {"real_train": int(len(train)), "synthetic": int(len(syn)), "real_holdout": int(len(hold))},
        "shapes": {"mean": float(np.mean(list(shapes.values()))), "columns": shapes},
        "pair_trends": _pairs(train, syn, numeric, bins, max_pairs, rng),
        "k_marginal": k_marginal_score(train, syn, 3, seed=seed, **{"numeric": numeric, **(k_marginal or {})}),
        "k_marginal_holdout": k_marginal_score(train, hold, 3, seed=seed, **{"numeric": numeric, **(k_marginal or {})}),
        "detection": _detection(train, syn, numeric, rng, max_rows),
    }
    if target is not None:
        out["utility"] = _utility(train, syn, hold, target, numeric)
    if privacy:
        out["privacy"] = _privacy(train, syn, hold, numeric, target, quasi_identifiers, n_attacks, seed)
    out["seconds"] = time.perf_counter() - start
    out["k_marginal_note"] = ("k_marginal_holdout is the score of real unseen rows: the ceiling sampling noise "
                              "allows at this size")
    return out

