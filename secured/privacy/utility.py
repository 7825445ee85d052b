"""Utility of a release, measured against the original rows it came from.

Every metric takes the original table, the release and the mask of original rows kept
(the release's rows are the kept rows, in order). Suppressed rows count as fully generalized.

- discernibility: sum over classes of size^2, plus n for every suppressed row (Bayardo and
  Agrawal); lower is better.
- average class size: rows released / classes, and normalized by k (LeFevre et al.; 1 is
  ideal).
- loss (normalized certainty penalty): per cell, 0 for the original value, 1 for '*' or a
  suppressed row; a categorical value generalized to a hierarchy node costs (leaves under it
  - 1) / (leaves - 1); a numeric value costs the spread of the original values released
  under the same value, over the column's range. The mean over all cells (0 best, 1 worst).
- precision (Sweeney): 1 - mean over cells of level / (height - 1) for hierarchy columns
  (the loss for numeric ones); 1 best.
- non-uniform entropy: bits an observer misses about the original value given the released
  one, -log2 P(original | released), summed over cells; also normalized by its value for a
  fully suppressed table (0 best, 1 worst).
- classification utility: a model trained on the release, tested on held-out original rows
  generalized the same way, next to the same model trained on the original rows and the
  majority-class baseline; balanced accuracy and AUROC, which see minority classes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..exceptions import BadInputError, ConfigurationError
from .hierarchy import Hierarchy

__all__ = ["utility_report", "classification_utility"]


def _cell_level(hierarchy: Hierarchy, original: pd.Series, released: pd.Series) -> np.ndarray:
    """Hierarchy level of each released cell (-1 where the released value is no ancestor)."""
    level = np.full(len(original), -1, dtype=np.int64)
    orig = hierarchy.keys(original)
    rel = released.astype(str).to_numpy()
    for L in range(hierarchy.height):
        anc = orig.map(hierarchy.table[L]).to_numpy()
        hit = (level < 0) & (anc == rel)
        level[hit] = L
    return level


def _leaves_under(hierarchy: Hierarchy, original: pd.Series, level: np.ndarray) -> np.ndarray:
    out = np.ones(len(original), dtype=np.float64)
    orig = hierarchy.keys(original)
    for L in np.unique(level[level >= 0]):
        _, anc, count = np.unique(hierarchy.table[L].to_numpy(), return_inverse=True, return_counts=True)
        per_leaf = pd.Series(count[anc], index=hierarchy.table.index)  # leaves under each leaf's ancestor at L
        sel = level == L
        out[sel] = orig[sel].map(per_leaf).to_numpy(dtype=float)
    return out


def _numeric_spread(original: pd.Series, released: pd.Series, full: pd.Series) -> np.ndarray:
    """Spread of the original values released under each row's value, over the range of the
    whole original column ``full``."""
    values = pd.to_numeric(original, errors="coerce").astype(float)
    whole = pd.to_numeric(full, errors="coerce").astype(float)
    span = whole.max() - whole.min()
    if not np.isfinite(span) or span == 0:
        return np.zeros(len(original))
    key = released.astype(str).to_numpy()
    grouped = values.groupby(key)
    spread = grouped.transform("max") - grouped.transform("min")
    return (spread / span).to_numpy(dtype=float)


def utility_report(original: pd.DataFrame, release: pd.DataFrame, kept: np.ndarray, quasi_identifiers: list[str],
                   hierarchies: dict[str, Hierarchy] | None = None, numeric: list[str] | None = None,
                   k: int | None = None) -> dict[str, Any]:
    """The metrics above as a JSON-ready dict."""
    hierarchies, numeric = hierarchies or {}, set(numeric or [])
    kept = np.asarray(kept, dtype=bool)
    if len(kept) != len(original) or int(kept.sum()) != len(release):
        raise ConfigurationError("The kept-rows mask must have one entry per original row and one True per "
                                 "released row.")
    n, q = len(original), len(quasi_identifiers)
    sup = n - int(kept.sum())
    sizes = release.groupby(quasi_identifiers, sort=False, dropna=False).size().to_numpy().astype(float)
    orig_kept = original.loc[kept].reset_index(drop=True)
    loss_sum, prec_sum, nue, nue_max = 0.0, 0.0, 0.0, 0.0
    per_column = {}
    for c in quasi_identifiers:
        o, r = orig_kept[c], release[c].reset_index(drop=True)
        h = hierarchies.get(c)
        if h is not None and c not in numeric:
            level = _cell_level(h, o, r)
            leaves = len(h.table)
            known = level >= 0
            loss = np.ones(len(o))
            if leaves > 1:
                loss[known] = (_leaves_under(h, o, level)[known] - 1) / (leaves - 1)
            spread = _numeric_spread(o, r, original[c]) if (~known).any() else None
            if spread is not None:
                loss[~known] = spread[~known]
            prec = np.where(known, level / max(h.height - 1, 1), loss)
        else:
            loss = _numeric_spread(o, r, original[c]) if len(o) else np.zeros(0)
            prec = loss
        col_loss = (loss.sum() + sup) / n
        loss_sum += loss.sum() + sup
        prec_sum += prec.sum() + sup
        # non-uniform entropy: -log2 P(original | released) over kept rows, P(original) for suppressed ones
        o_str, r_str = o.astype(str).to_numpy(), r.astype(str).to_numpy()
        joint = pd.Series(1, index=pd.MultiIndex.from_arrays([r_str, o_str])).groupby(level=[0, 1]).transform("size")
        marg = pd.Series(r_str).map(pd.Series(r_str).value_counts())
        bits = -np.log2(joint.to_numpy(dtype=float) / marg.to_numpy(dtype=float)).sum() if len(o) else 0.0
        full = original[c].astype(str)
        p_full = full.map(full.value_counts() / n).to_numpy(dtype=float)
        sup_bits = -np.log2(p_full[~kept]).sum()
        nue += bits + sup_bits
        nue_max += -np.log2(p_full).sum()
        per_column[c] = {"loss": float(col_loss)}
    classes = len(sizes)
    report = {
        "discernibility": float((sizes ** 2).sum() + sup * n),
        "classes": int(classes),
        "average_class_size": float(len(release) / classes) if classes else 0.0,
        "loss": float(loss_sum / (n * q)),
        "precision": float(1 - prec_sum / (n * q)),
        "non_uniform_entropy_bits": float(nue),
        "non_uniform_entropy": float(nue / nue_max) if nue_max > 0 else 0.0,
        "per_column": per_column,
    }
    if k:
        report["normalized_average_class_size"] = report["average_class_size"] / k
    return report


def classification_utility(df: pd.DataFrame, target: str, anonymizer, *, test_size: float = 0.2,
                           seed: int = 0) -> dict[str, Any]:
    """How well a model trained on the release of a training split predicts the held-out rows
    (generalized the same way), next to the same model trained on the original split and the
    majority-class baseline. Balanced accuracy and AUROC (one-vs-rest for more than two
    classes) see the minority classes that plain accuracy hides.

    ``anonymizer`` is an unfitted ``Anonymizer``; it is fitted here on the training split.
    """
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    if target not in df.columns:
        raise BadInputError(f"The target column {target!r} is not in the table.")
    if target in anonymizer.quasi_identifiers:
        raise ConfigurationError(f"The target column {target!r} cannot be a quasi-identifier.")
    labels = df[target].astype(str)
    counts = labels.value_counts()
    if len(counts) < 2:
        raise BadInputError(f"The target column {target!r} has a single class; nothing to classify.")
    rare = int((counts < 2).sum())
    if rare:
        raise BadInputError(f"The target column {target!r} has {rare} class(es) with a single row, too rare to appear "
                            "in both the training and the test split; merge rare classes first.")
    try:
        if anonymizer.id_column and anonymizer.id_column in df.columns:
            # a person's rows stay on one side: the test rows are people the model has not seen
            person = df[anonymizer.id_column]
            first = labels.groupby(person, sort=False).first()
            strata = first if first.value_counts().min() >= 2 else None
            train_people, _ = train_test_split(first.index.to_numpy(), test_size=test_size, random_state=seed,
                                               stratify=strata)
            in_train = person.isin(train_people).to_numpy()
            train, test = df[in_train], df[~in_train]
            if test[target].astype(str).nunique() < 2 or train[target].astype(str).nunique() < 2:
                raise ValueError
        else:
            train, test = train_test_split(df, test_size=test_size, random_state=seed, stratify=labels)
    except ValueError:  # scikit-learn's message may name class values
        raise BadInputError(f"The table is too small to split {len(counts)} classes of {target!r} into training "
                            "and test rows; use more rows or fewer classes.") from None
    train, test = train.reset_index(drop=True), test.reset_index(drop=True)
    release = anonymizer.fit_transform(train)
    test_release = anonymizer.transform(test)
    features = [c for c in df.columns if c != target and c != anonymizer.id_column
                and c not in (anonymizer.drop or []) and c not in (anonymizer.pseudonymize or [])]
    truth = test[target].astype(str).to_numpy()

    def scores(train_x: pd.DataFrame, test_x: pd.DataFrame) -> dict[str, float]:
        encode = make_column_transformer((OneHotEncoder(handle_unknown="ignore", min_frequency=5), features))
        model = make_pipeline(encode, LogisticRegression(max_iter=300))
        model.fit(train_x[features].astype(str), train_x[target].astype(str))
        x = test_x[features].astype(str)
        proba = model.predict_proba(x)
        classes = list(model.classes_)
        auroc = None
        if set(truth) <= set(classes) and len(set(truth)) > 1:
            auroc = float(roc_auc_score(truth, proba[:, 1], labels=classes) if len(classes) == 2
                          else roc_auc_score(truth, proba, multi_class="ovr", labels=classes))
        predicted = model.predict(x)
        return {"accuracy": float((predicted == truth).mean()),
                "balanced_accuracy": float(balanced_accuracy_score(truth, predicted)), "auroc": auroc}

    anonymized, original = scores(release, test_release), scores(train, test)
    majority = train[target].astype(str).mode()[0]
    out = {"target": target, **anonymized, **{f"{key}_original": v for key, v in original.items()},
           "accuracy_majority": float((truth == majority).mean()), "balanced_accuracy_majority": 1.0 / len(counts),
           "auroc_majority": 0.5, "test_rows": int(len(test)), "classes": int(len(counts)),
           "model": "one-hot logistic regression"}
    base = original["balanced_accuracy"] - out["balanced_accuracy_majority"]
    out["relative"] = ((anonymized["balanced_accuracy"] - out["balanced_accuracy_majority"]) / base
                       if base > 0 else 0.0)
    out["relative_means"] = ("(balanced accuracy on the release - majority baseline) / (balanced accuracy on the "
                             "original - majority baseline): 1 keeps all the signal, 0 none")
    if anonymized["auroc"] is not None and original["auroc"] is not None and original["auroc"] > 0.5:
        # the ranking signal, which a 0.5 threshold hides on rare targets (readmission < 30 days: 11%)
        out["relative_auroc"] = (anonymized["auroc"] - 0.5) / (original["auroc"] - 0.5)
    out["split"] = "by person" if anonymizer.id_column and anonymizer.id_column in df.columns else "by row"
    return out
