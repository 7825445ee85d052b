"""Mitigations: each is an estimator fitted on a labelled table that returns the mitigated
table (or weights) and keeps a before/after report in ``report_``.

Groups are the intersections of all protected attributes (a group is one combination of
their values), so a mitigation repairs every intersection at once, not one attribute at a
time. With N rows, n_g rows in group g, n_y rows with label y and n_gy in both, the label
would be independent of the group if cell (g, y) held E_gy = n_g n_y / N rows.

- ``Reweighing`` (Kamiran and Calders, 2012): weight w_gy = E_gy / n_gy for every row of
  cell (g, y). The weighted table has the same group sizes and label shares and identical
  base rates in every group; ``transform`` gives the weights, ``fit_resample`` the table
  with a weight column.
- ``Resampling``: each cell (g, y) resampled to E_gy rows. ``method="uniform"`` draws rows
  at random (with replacement where the cell grows); ``"preferential"`` ranks the rows by a
  classifier's score for the favourable label (a logistic regression on the other columns
  unless ``ranker`` is given) and removes, or duplicates, the rows nearest the decision
  border first: the favourable rows with the lowest scores and the unfavourable ones with
  the highest.
- ``SyntheticRebalancing``: only adds rows, drawn from a ``secured.synth`` generator
  conditioned on the cell. Groups under ``min_share`` of the final table are filled up to
  it, then (``balance_labels``) every group receives rows of the label it lacks until its
  base rate equals the table's. Groups with fewer than ``min_real`` real rows are not
  filled (a generator would copy or invent them). Per filled group the report gives the
  synthetic share and a cross-validated detection AUC (real rows of the group against its
  synthetic rows; 0.5 means indistinguishable).

``strength`` in (0, 1] (default 1) repairs part of the way: cell sizes (weights, resampled
counts) move that fraction from the observed n_gy to E_gy, and a synthetic rebalancing moves
each group's base rate that fraction towards the table's. It trades parity for the
predictive power group membership carries (the README's benchmark shows the curve).
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..exceptions import BadInputError, ConfigurationError, NotFittedError
from ..progress import Progress, emit
from ._cells import binary_target, check_min_cell, check_table, encode, protected_list
from .report import bias_report

__all__ = ["Reweighing", "Resampling", "SyntheticRebalancing"]


def _compare(before, after) -> dict[str, Any]:
    keys = ("rows", "smallest_cell", "base_rate", "max_statistical_parity_difference", "min_disparate_impact",
            "groups_below_four_fifths", "suppressed_cells")
    return {"before": {k: before.findings.get(k) for k in keys}, "after": {k: after.findings.get(k) for k in keys}}


class _Mitigation:
    """Shared checks: the protected columns, the binary target and the cells (g, y)."""

    def __init__(self, protected: Sequence[str], target: str, *, positive: Any = None, strength: float = 1.0,
                 missing: str = "error", min_cell: int = 10, seed: int = 0) -> None:
        self.protected, self.target, self.positive, self.strength = protected, target, positive, strength
        self.missing, self.min_cell, self.seed = missing, min_cell, seed

    def _cells(self, df: pd.DataFrame):
        df = check_table(df)
        protected = protected_list(df, self.protected)
        check_min_cell(self.min_cell)
        if self.target in protected:
            raise ConfigurationError(f"The target column {self.target!r} is also listed as protected.")
        y = binary_target(df, self.target, self.positive)
        enc = encode(df, protected, self.missing)
        cell = enc.fine * 2 + y
        counts = np.bincount(cell, minlength=2 * len(enc.fine_keys)).astype(float)
        n_g = counts.reshape(-1, 2).sum(axis=1)
        n_y = np.array([(~y).sum(), y.sum()], dtype=float)
        if isinstance(self.strength, bool) or not isinstance(self.strength, (int, float)) or \
                not 0 < self.strength <= 1:
            raise ConfigurationError(f"The 'strength' parameter of {type(self).__name__} must be a number in (0, 1].")
        expected = (n_g[:, None] * n_y[None, :] / len(df)).reshape(-1)
        expected = self.strength * expected + (1 - self.strength) * counts   # part of the way to independence
        return protected, y, enc, cell, counts, expected

    def _report(self, df: pd.DataFrame, weights=None):
        return bias_report(df, self.protected, self.target, positive=self.positive, weights=weights,
                           missing=self.missing, min_cell=self.min_cell, n_boot=200, seed=self.seed)

    def _check_fitted(self) -> None:
        if not hasattr(self, "report_"):
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit first.")


class Reweighing(_Mitigation):
    """Kamiran-Calders reweighing over the intersections of the protected attributes.

    >>> from secured.data import load
    >>> adult = load("adult")
    >>> rw = Reweighing(["sex", "race"], "salary-class", positive=">50K").fit(adult)
    >>> w = rw.transform(adult)
    >>> round(rw.report_["after"]["max_statistical_parity_difference"], 6)
    0.0
    """

    def fit(self, df: pd.DataFrame) -> "Reweighing":
        _, y, enc, cell, counts, expected = self._cells(df)
        with np.errstate(divide="ignore", invalid="ignore"):
            self.weights_ = np.where(counts > 0, expected / np.maximum(counts, 1), 0.0).reshape(-1, 2)
        self.categories_ = enc.categories
        self.fine_keys_ = enc.fine_keys
        weights = self.weights_.reshape(-1)[cell]
        self.report_ = _compare(self._report(df), self._report(df, weights))
        return self

    def transform(self, df: pd.DataFrame) -> pd.Series:
        """The weight of every row (a cell unseen in fit gets weight 1)."""
        self._check_fitted()
        df = check_table(df)
        protected = protected_list(df, self.protected)
        y = binary_target(df, self.target, self.positive)
        enc = encode(df, protected, self.missing, categories=self.categories_)
        lookup = {tuple(k): i for i, k in enumerate(self.fine_keys_)}
        index = np.array([lookup.get(tuple(k), -1) for k in enc.fine_keys])[enc.fine]
        w = np.where(index >= 0, self.weights_[np.maximum(index, 0), y.astype(int)], 1.0)
        return pd.Series(w, index=df.index, name="weight")

    def fit_transform(self, df: pd.DataFrame) -> pd.Series:
        return self.fit(df).transform(df)

    def fit_resample(self, df: pd.DataFrame, weight_column: str = "weight") -> pd.DataFrame:
        """The table with a weight column (what ``secured bias mitigate --method reweigh`` writes)."""
        if weight_column in df.columns:
            raise ConfigurationError(f"The table already has a column {weight_column!r}; choose another name.")
        out = df.copy()
        out[weight_column] = self.fit_transform(df).to_numpy()
        return out


class Resampling(_Mitigation):
    """Uniform or preferential resampling of every cell (group x label) to its expected size.

    >>> from secured.data import load
    >>> adult = load("adult")
    >>> out = Resampling(["sex"], "salary-class", positive=">50K").fit_resample(adult)
    >>> round(Resampling(["sex"], "salary-class", positive=">50K").fit(out).report_["before"]
    ...       ["max_statistical_parity_difference"], 2)
    0.0
    """

    def __init__(self, protected: Sequence[str], target: str, *, positive: Any = None, method: str = "uniform",
                 ranker: Any = None, strength: float = 1.0, missing: str = "error", min_cell: int = 10,
                 seed: int = 0) -> None:
        super().__init__(protected, target, positive=positive, strength=strength, missing=missing,
                         min_cell=min_cell, seed=seed)
        self.method, self.ranker = method, ranker

    def fit(self, df: pd.DataFrame) -> "Resampling":
        self.fit_resample(df)
        return self

    def fit_resample(self, df: pd.DataFrame) -> pd.DataFrame:
        if self.method not in ("uniform", "preferential"):
            raise ConfigurationError(f"The 'method' parameter of Resampling must be 'uniform' or 'preferential'. "
                                     f"Got {self.method!r} instead.")
        _, y, enc, cell, counts, expected = self._cells(df)
        rng = np.random.default_rng(self.seed)
        target = np.round(expected).astype(np.int64)
        score = self._scores(df, y) if self.method == "preferential" else None
        order = np.argsort(cell, kind="stable")
        starts = np.r_[0, np.cumsum(counts.astype(np.int64))]
        picked = []
        for c in np.flatnonzero(counts > 0):
            rows = order[starts[c]:starts[c + 1]]
            want = int(target[c])
            if score is not None:
                # border first: favourable rows with low scores, unfavourable rows with high scores
                key = score[rows] if c % 2 == 1 else -score[rows]
                rows = rows[np.argsort(key, kind="stable")]
                if want <= len(rows):
                    picked.append(rows[len(rows) - want:])
                else:
                    extra = want - len(rows)
                    picked.append(rows)
                    picked.append(np.resize(rows, extra))
            elif want <= len(rows):
                picked.append(rng.choice(rows, want, replace=False))
            else:
                picked.append(rows)
                picked.append(rng.choice(rows, want - len(rows), replace=True))
        index = np.sort(np.concatenate(picked)) if picked else np.array([], dtype=np.int64)
        out = df.iloc[index].reset_index(drop=True)
        self.rows_ = {"before": int(len(df)), "after": int(len(out)), "duplicated": int(len(index) - len(np.unique(index))),
                      "removed": int(len(df) - len(np.unique(index)))}
        self.report_ = _compare(self._report(df), self._report(out))
        return out

    def _scores(self, df: pd.DataFrame, y: np.ndarray) -> np.ndarray:
        if self.ranker is not None:
            if not callable(self.ranker):
                raise ConfigurationError("ranker must be a callable: table -> score of the favourable label per row.")
            s = np.asarray(self.ranker(df.drop(columns=[self.target])), dtype=float).reshape(-1)
            if s.shape != (len(df),) or not np.all(np.isfinite(s)):
                raise BadInputError("The ranker must return one finite score per row.")
            return s
        from sklearn.compose import make_column_transformer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import OneHotEncoder, StandardScaler

        x = df.drop(columns=[self.target])
        numeric = [c for c in x.columns if pd.api.types.is_numeric_dtype(x[c])]
        other = [c for c in x.columns if c not in numeric]
        x = x.copy()
        for c in other:
            x[c] = x[c].astype(str)
        for c in numeric:
            x[c] = x[c].fillna(x[c].median())
        model = make_pipeline(make_column_transformer((OneHotEncoder(handle_unknown="ignore", min_frequency=5), other),
                                                      (StandardScaler(), numeric)),
                              LogisticRegression(max_iter=1000))
        model.fit(x, y)
        return model.predict_proba(x)[:, 1]


class SyntheticRebalancing(_Mitigation):
    """Fill under-represented groups, and the labels they lack, with conditional synthetic rows.

    ``generator``: an unfitted ``secured.synth`` generator (fitted here on the table) or a
    fitted one (used as it is). ``min_share``: the smallest share of the final table a group
    is filled to (default half an equal share); ``balance_labels``: also equalize base
    rates (``strength`` < 1 moves each group's rate that part of the way); ``min_real``: groups with fewer real rows are left as they are; ``indicator``:
    a column marking synthetic rows; ``detection``: measure per-group detection AUC.
    """

    def __init__(self, generator: Any, protected: Sequence[str], target: str, *, positive: Any = None,
                 min_share: float | None = None, balance_labels: bool = True, min_real: int = 10,
                 indicator: str | None = None, detection: bool = True, strength: float = 1.0, missing: str = "error",
                 min_cell: int = 10, seed: int = 0, progress: Progress | None = None) -> None:
        super().__init__(protected, target, positive=positive, strength=strength, missing=missing,
                         min_cell=min_cell, seed=seed)
        self.generator, self.min_share, self.balance_labels, self.min_real = generator, min_share, balance_labels, min_real
        self.indicator, self.detection, self.progress = indicator, detection, progress

    def fit(self, df: pd.DataFrame) -> "SyntheticRebalancing":
        self.fit_resample(df)
        return self

    def plan(self, df: pd.DataFrame) -> pd.DataFrame:
        """Rows to add per group and label, without generating anything."""
        protected, y, enc, cell, counts, _ = self._cells(df)
        pos = counts.reshape(-1, 2)[:, 1]
        n_g = counts.reshape(-1, 2).sum(axis=1)
        groups = len(n_g)
        share = self.min_share if self.min_share is not None else 0.5 / groups
        if isinstance(share, bool) or not isinstance(share, (int, float)) or not 0 < share < 1 / groups:
            raise ConfigurationError(f"min_share must be a number in (0, 1/groups) = (0, {1 / groups:.4g}).")
        if isinstance(self.min_real, bool) or not isinstance(self.min_real, int) or self.min_real < 1:
            raise ConfigurationError("The 'min_real' parameter must be an int in the range [1, inf).")
        eligible = n_g >= self.min_real
        rate = pos / np.maximum(n_g, 1)
        p = rate + self.strength * (float(y.mean()) - rate)    # each group's target rate
        base = n_g.copy()
        if self.balance_labels:   # the smallest size at which the group's rate can reach its target by additions
            with np.errstate(divide="ignore", invalid="ignore"):
                need = np.maximum.reduce([n_g, np.ceil(np.where(p > 0, pos / p, 0)),
                                          np.ceil(np.where(p < 1, (n_g - pos) / (1 - p), 0))])
            base = np.where(eligible, need, n_g)
        total = float(base.sum())
        for _ in range(500):   # N = sum_g max(base_g, share * N): a monotone fixed point
            new = float(np.where(eligible, np.maximum(base, np.ceil(share * total)), base).sum())
            if new == total:
                break
            total = new
        final = np.where(eligible, np.maximum(base, np.ceil(share * total)), n_g)
        if self.balance_labels:
            add_pos = np.where(eligible, np.maximum(np.round(p * final) - pos, 0), 0)
        else:
            add_pos = np.round((final - n_g) * rate)
        add_neg = np.maximum(final - n_g - add_pos, 0)
        rows = []
        for g in range(groups):
            label = enc.label(tuple(range(len(protected))), enc.fine_keys[g])
            rows.append({**label, "real": int(n_g[g]), "real_positive": int(pos[g]), "add_positive": int(add_pos[g]),
                         "add_negative": int(add_neg[g]), "eligible": bool(eligible[g])})
        return pd.DataFrame(rows)

    def fit_resample(self, df: pd.DataFrame) -> pd.DataFrame:
        from ..synth import Generator

        start = time.perf_counter()
        if not isinstance(self.generator, Generator):
            raise ConfigurationError("generator must be a secured.synth generator (GaussianCopula, TVAE, TabDDPM).")
        if self.generator.name == "mst":
            raise ConfigurationError("MST fits on a public domain with a privacy budget; sample it yourself and "
                                     "rebalance with a TVAE, TabDDPM or GaussianCopula.")
        if self.indicator is not None and self.indicator in df.columns:
            raise ConfigurationError(f"The indicator column {self.indicator!r} is already a column of the table.")
        plan = self.plan(df)
        protected = protected_list(df, self.protected)
        y = binary_target(df, self.target, self.positive)
        labels = df[self.target]
        pos_label = labels[y].iloc[0]
        gen = self.generator
        if not hasattr(gen, "schema_"):
            emit(self.progress, "fit generator")
            gen = gen.clone().fit(df)
        self.generator_ = gen
        conditions = []
        rng = np.random.default_rng(self.seed)
        neg_pool = labels[~y]
        for _, row in plan.iterrows():
            for count, positive in ((row["add_positive"], True), (row["add_negative"], False)):
                if count <= 0:
                    continue
                block = pd.DataFrame({c: [row[c]] * int(count) for c in protected})
                if self.balance_labels:
                    if positive:
                        block[self.target] = pos_label
                    else:   # the unfavourable labels in the shares the group has (the table's if it has none)
                        mask = np.ones(len(df), dtype=bool)
                        for c in protected:
                            mask &= (df[c] == row[c]).to_numpy()
                        pool = labels[mask & ~y]
                        pool = pool if len(pool) else neg_pool
                        block[self.target] = rng.choice(pool.to_numpy(), int(count))
                conditions.append(block)
        if not conditions:
            synthetic = df.iloc[:0].copy()
        else:
            frame = pd.concat(conditions, ignore_index=True)
            if not self.balance_labels:
                frame = frame[protected]
            emit(self.progress, "sample", 0, len(frame))
            synthetic = gen.sample(conditions=frame, seed=self.seed + 1)[list(df.columns)]
            emit(self.progress, "sample", len(frame), len(frame))
        out = pd.concat([df.reset_index(drop=True), synthetic.reset_index(drop=True)], ignore_index=True)
        self.synthetic_mask_ = np.r_[np.zeros(len(df), dtype=bool), np.ones(len(synthetic), dtype=bool)]
        cells = self._cell_report(df, synthetic, plan, protected)
        self.report_ = {**_compare(self._report(df), self._report(out)), "groups": cells,
                        "synthetic_rows": int(len(synthetic)), "generator": gen.name,
                        "seconds": time.perf_counter() - start}
        if self.indicator is not None:
            out[self.indicator] = self.synthetic_mask_
        return out

    def _cell_report(self, real: pd.DataFrame, synthetic: pd.DataFrame, plan: pd.DataFrame, protected) -> list:
        from ..synth import detection_auc

        out = []
        for _, row in plan.iterrows():
            added = int(row["add_positive"] + row["add_negative"])
            if added == 0:
                continue
            mask_r = np.ones(len(real), dtype=bool)
            mask_s = np.ones(len(synthetic), dtype=bool)
            for c in protected:
                mask_r &= (real[c] == row[c]).to_numpy()
                mask_s &= (synthetic[c] == row[c]).to_numpy()
            entry: dict[str, Any] = {"group": {c: row[c] for c in protected}, "synthetic_rows": added,
                                     "synthetic_share": added / (added + int(row["real"]))}
            if int(row["real"]) >= self.min_cell:
                entry["real_rows"] = int(row["real"])
                if self.detection and mask_s.sum() >= 4:
                    entry["detection"] = detection_auc(real[mask_r].drop(columns=protected),
                                                       synthetic[mask_s].drop(columns=protected), seed=self.seed)
            else:
                entry["real_rows"] = f"<{self.min_cell}"
            out.append(entry)
        return out
