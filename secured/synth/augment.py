"""Growing a small table with synthetic rows, recommended only when cross-validation shows it
helps the model the producer cares about.

``augment(df, target=..., to=N, generator=TVAE(...))``:

1. Cross-validation (stratified ``folds`` on the target): in each fold the generator is fitted
   on the training part only (never on the rows it is judged on) and adds synthetic rows in
   the proportion that growing the table to ``to`` rows means; the same learner is trained on
   the real part alone and on real + synthetic and tested on the fold's real test rows.
2. The score is AUROC for a two-class target and macro F1 otherwise (balanced accuracy is
   reported too). Growing is recommended when real + synthetic scores higher on average and
   in a majority of folds; the result says so either way, with every fold's numbers.
3. The generator is then fitted on every row and ``to - len(df)`` rows are sampled
   (``conditions`` can fix cells, e.g. a minority class to grow); ``table`` holds the real rows
   followed by the synthetic ones, ``indicator`` names an optional column marking them.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import numpy as np
import pandas as pd

from ..exceptions import BadInputError, ConfigurationError
from ..progress import Progress, emit
from .base import Generator

__all__ = ["augment", "AugmentResult"]


@dataclass
class AugmentResult:
    """What ``augment`` measured and made; ``table`` is the grown table (None when not asked)."""

    recommended: bool
    metric: str
    real_only: float
    with_synthetic: float
    gain: float
    folds: list[dict[str, float]]
    rows_real: int
    rows_synthetic: int
    generator: str
    learner: str
    seconds: float
    message: str
    table: pd.DataFrame | None = field(default=None, repr=False)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("table")
        return out


def _learner(name: str, features: pd.DataFrame):
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    numeric = [c for c in features.columns if pd.api.types.is_numeric_dtype(features[c])
               and not pd.api.types.is_bool_dtype(features[c])]
    categorical = [c for c in features.columns if c not in numeric]
    onehot = OneHotEncoder(handle_unknown="ignore", min_frequency=5, sparse_output=False)
    if name == "gradient_boosting":
        return make_pipeline(make_column_transformer((onehot, categorical), ("passthrough", numeric)),
                             HistGradientBoostingClassifier(max_iter=200, random_state=0))
    if name == "logistic_regression":
        from sklearn.impute import SimpleImputer

        return make_pipeline(make_column_transformer((onehot, categorical), (make_pipeline(
            SimpleImputer(), StandardScaler()), numeric)), LogisticRegression(max_iter=2000))
    raise ConfigurationError(f"learner must be 'gradient_boosting' or 'logistic_regression'. Got {name!r} instead.")


def _prepare(frame: pd.DataFrame, target: str) -> tuple[pd.DataFrame, np.ndarray]:
    x = frame.drop(columns=[target]).copy()
    for c in x.columns:
        if pd.api.types.is_datetime64_any_dtype(x[c]):
            x[c] = (x[c] - pd.Timestamp("1970-01-01")) / pd.Timedelta(days=1)
        elif not (pd.api.types.is_numeric_dtype(x[c]) and not pd.api.types.is_bool_dtype(x[c])):
            x[c] = x[c].astype(str)
        else:
            x[c] = pd.to_numeric(x[c]).astype(float)
    return x, frame[target].astype(str).to_numpy()


def _score(model, x: pd.DataFrame, y: np.ndarray, binary: bool) -> tuple[float, float]:
    from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

    pred = model.predict(x)
    balanced = float(balanced_accuracy_score(y, pred))
    if binary:
        classes = list(model.classes_)
        if len(classes) < 2:
            return 0.5, balanced
        positive = classes[1]
        return float(roc_auc_score(y == positive, model.predict_proba(x)[:, 1])), balanced
    return float(f1_score(y, pred, average="macro")), balanced


def augment(df: pd.DataFrame, *, target: str, to: int, generator: Generator, folds: int = 3,
            learner: str = "gradient_boosting", conditions: Mapping[str, Any] | None = None,
            discrete_columns: list[str] | None = None, indicator: str | None = None, make_table: bool = True,
            seed: int = 0, progress: Progress | None = None) -> AugmentResult:
    """Cross-validate growing ``df`` to ``to`` rows, then grow it (see the module docstring)."""
    from sklearn.model_selection import StratifiedKFold

    start = time.perf_counter()
    if not isinstance(df, pd.DataFrame) or len(df) == 0:
        raise BadInputError("augment needs a non-empty table.")
    if target not in df.columns:
        raise BadInputError(f"The target column {target!r} is not in the table.")
    if not isinstance(generator, Generator):
        raise ConfigurationError("generator must be a secured.synth generator (GaussianCopula, TVAE, TabDDPM, ...).")
    if generator.name == "mst":
        raise ConfigurationError("augment fits its generator once per fold; a DP generator would spend its budget "
                                 "each time. Grow with TVAE, TabDDPM or GaussianCopula, or sample an MST yourself.")
    if isinstance(to, bool) or not isinstance(to, (int, np.integer)) or to <= len(df):
        raise ConfigurationError(f"to must be an int larger than the table's {len(df)} rows.")
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise ConfigurationError("folds must be an int >= 2.")
    if indicator is not None and indicator in df.columns:
        raise ConfigurationError(f"The indicator column {indicator!r} is already a column of the table.")
    labels = df[target]
    if labels.isna().any():
        raise BadInputError(f"The target column {target!r} has missing cells; drop those rows first.")
    counts = labels.astype(str).value_counts()
    if len(counts) < 2:
        raise BadInputError(f"The target column {target!r} has one class; there is nothing to learn.")
    if counts.min() < folds:
        raise BadInputError(f"A class of the target column {target!r} has fewer rows than folds ({folds}); "
                            "use fewer folds.")
    _learner(learner, df.drop(columns=[target]).head(1))
    binary = len(counts) == 2
    ratio = (to - len(df)) / len(df)
    split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    rows = []
    for i, (train, test) in enumerate(split.split(df, labels.astype(str))):
        emit(progress, "augment: cross-validation folds", i, folds)
        real, held = df.iloc[train].reset_index(drop=True), df.iloc[test].reset_index(drop=True)
        gen = generator.clone().fit(real, discrete_columns=discrete_columns)
        synthetic = gen.sample(max(int(round(ratio * len(real))), 1), conditions=conditions, seed=seed + i)
        x_test, y_test = _prepare(held, target)
        scores = {}
        for side, frame in (("real_only", real), ("with_synthetic", pd.concat([real, synthetic], ignore_index=True))):
            x, y = _prepare(frame, target)
            model = _learner(learner, x).fit(x, y)
            scores[side], scores[side + "_balanced_accuracy"] = _score(model, x_test, y_test, binary)
        rows.append(scores)
    emit(progress, "augment: cross-validation folds", folds, folds)
    real_only = float(np.mean([r["real_only"] for r in rows]))
    with_synthetic = float(np.mean([r["with_synthetic"] for r in rows]))
    wins = sum(r["with_synthetic"] > r["real_only"] for r in rows)
    recommended = with_synthetic > real_only and wins * 2 > folds
    metric = "AUROC" if binary else "macro F1"
    message = (f"Growing to {to:,} rows {'helps' if recommended else 'does not help'}: {metric} "
               f"{with_synthetic:.4f} with synthetic rows vs {real_only:.4f} on real rows alone "
               f"(better in {wins} of {folds} folds).")
    table = None
    n_synthetic = to - len(df)
    if make_table:
        emit(progress, "augment: fitting on every row")
        gen = generator.clone().fit(df, discrete_columns=discrete_columns)
        synthetic = gen.sample(n_synthetic, conditions=conditions, seed=seed + folds)
        real = df.copy()
        if indicator is not None:
            real[indicator] = False
            synthetic[indicator] = True
        table = pd.concat([real, synthetic[real.columns]], ignore_index=True)
    return AugmentResult(recommended, metric, real_only, with_synthetic, with_synthetic - real_only, rows, len(df),
                         n_synthetic, generator.name, learner, time.perf_counter() - start, message, table)
