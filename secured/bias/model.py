"""The model bias report: how a fitted classifier treats each group of a labelled table.

Per group (each protected attribute and every intersection): selection rate, true and false
positive rates (exact intervals), AUROC (Hanley-McNeil interval) and calibration (mean score
against the observed rate, Brier score, expected calibration error over 10 bins). Per
grouping, the spreads that fairlearn computes: demographic parity difference and ratio,
equal opportunity difference (TPR max - min) and equalized odds difference (the larger of
the TPR and FPR spreads), with parametric-bootstrap intervals. Small groups are suppressed as
in the dataset report (a group is shown when its count, its positives and its negatives are).

Models: a scikit-learn classifier (``predict_proba``, else ``decision_function``, else
``predict``), a ``torch.nn.Module`` (float features in, one logit or two class logits out),
a callable returning scores in [0, 1], or a registry model loaded by ``from_registry``
(torch weights into a module you give, through the hub's access rules).

>>> from sklearn.linear_model import LogisticRegression
>>> import numpy as np, pandas as pd
>>> rng = np.random.default_rng(0)
>>> df = pd.DataFrame({"g": rng.choice(["a", "b"], 400), "x": rng.normal(size=400)})
>>> df["y"] = (df["x"] + rng.normal(size=400) > 0).astype(int)
>>> clf = LogisticRegression().fit(df[["x"]], df["y"])
>>> report = model_report(clf, df, "y", ["g"], features=["x"])
>>> sorted(report["groupings"]["g"])[:2]
['cells', 'demographic_parity_difference']
"""

from __future__ import annotations

import io
import time
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..exceptions import BadInputError, ConfigurationError
from ._cells import (Suppression, binary_target, check_min_cell, check_table, clopper_pearson, encode, groupings,
                     protected_list)

__all__ = ["model_report", "from_registry", "model_scores"]


def from_registry(hub: Any, token: str, name: str, version: int | str | None = None, *, template: Any) -> Any:
    """A registry model as a torch module: the artifact's weights (a ``torch.save`` state dict,
    read with ``weights_only``) loaded into ``template``. The download goes through the hub,
    so its access rules apply."""
    import torch

    if not isinstance(template, torch.nn.Module):
        raise ConfigurationError("template must be a torch.nn.Module with the architecture of the published model.")
    data = hub.download_model(token, name, version)
    try:
        state = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
        template.load_state_dict(state)
    except Exception:
        raise BadInputError("The registry artifact is not a torch state dict that fits the template; check the "
                            "model's architecture.") from None
    return template.eval()


def _features(model: Any, df: pd.DataFrame, features: Sequence[str] | None) -> list[str]:
    names = getattr(model, "feature_names_in_", None)
    if features is None:
        if names is None:
            raise ConfigurationError("features= is needed: the model does not record the columns it was fitted on.")
        features = [str(c) for c in names]
    features = list(features)
    missing = [c for c in features if c not in df.columns]
    if missing:
        raise BadInputError(f"The model's feature column(s) {', '.join(map(repr, missing))} are not in the table.")
    if names is not None and [str(c) for c in names] != features:
        raise BadInputError("features= does not match the columns the model was fitted on "
                            f"({len(names)} columns); pass them in the fitted order.")
    return features


def model_scores(model: Any, df: pd.DataFrame, features: Sequence[str] | None = None,
                 positive: Any = None) -> tuple[np.ndarray, bool]:
    """Scores in [0, 1] for the positive class (and whether they are continuous)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        torch = None
    if torch is not None and isinstance(model, torch.nn.Module):
        if features is None:
            raise ConfigurationError("features= is needed for a torch model (the columns it takes, in order).")
        features = _features(model, df, features)
        first = next((m for m in model.modules() if hasattr(m, "in_features")), None)
        if first is not None and first.in_features != len(features):
            raise BadInputError(f"The torch model takes {first.in_features} features; {len(features)} were given.")
        try:
            dtype = next(model.parameters()).dtype if any(True for _ in model.parameters()) else torch.float32
            x = torch.tensor(np.array(df[features].to_numpy(dtype=np.float64))).to(dtype)
        except (TypeError, ValueError):
            raise BadInputError("A torch model needs numeric feature columns; encode the others first.") from None
        with torch.no_grad():
            out = model(x)
        out = out.detach().cpu().double()
        if out.ndim == 1 or out.shape[1] == 1:
            return torch.sigmoid(out.reshape(-1)).numpy(), True
        if out.shape[1] == 2:
            return torch.softmax(out, dim=1)[:, 1].numpy(), True
        raise BadInputError("A torch model for the report returns one logit or two class logits per row.")
    if hasattr(model, "predict") or hasattr(model, "predict_proba"):
        features = _features(model, df, features)
        x = df[features]
        classes = list(getattr(model, "classes_", [0, 1]))
        index = _positive_index(classes, positive)
        try:
            if hasattr(model, "predict_proba"):
                return np.asarray(model.predict_proba(x))[:, index].astype(float), True
            if hasattr(model, "decision_function"):
                d = np.asarray(model.decision_function(x), dtype=float)
                return 1 / (1 + np.exp(-d if index == 1 else d)), True
            pred = np.asarray(model.predict(x))
        except (ValueError, TypeError, KeyError):
            raise BadInputError("The model could not score the table's feature columns; check that they have the "
                                "kinds it was fitted on.") from None
        return (pred == classes[index]).astype(float), False
    if callable(model):
        features = _features(model, df, features)
        scores = np.asarray(model(df[features]), dtype=float).reshape(-1)
        if scores.shape != (len(df),) or not np.all((scores >= 0) & (scores <= 1)):
            raise BadInputError("A scoring callable returns one number in [0, 1] per row.")
        return scores, bool(len(np.unique(scores)) > 2)
    raise ConfigurationError("model must be a scikit-learn classifier, a torch.nn.Module or a callable.")


def _positive_index(classes: list, positive: Any) -> int:
    """The column of the favourable class: ``positive`` among the model's classes (a
    multi-class model is scored by that class's probability), else 1 / True of a binary one."""
    if positive is None:
        if len(classes) != 2:
            raise ConfigurationError(f"The model has {len(classes)} classes; give positive= with the favourable one.")
        for i, c in enumerate(classes):
            if c is True or (isinstance(c, (int, np.integer)) and c == 1):
                return i
        raise ConfigurationError("Give positive= with the model's favourable class.")
    for i, c in enumerate(classes):
        if c == positive or str(c) == str(positive):
            return i
    raise BadInputError("The positive label is not one of the model's classes.")


def _auroc(scores: np.ndarray, y: np.ndarray, cell: np.ndarray, cells: int) -> np.ndarray:
    """AUROC of every cell from one global ranking (ties averaged)."""
    from scipy.stats import rankdata

    out = np.full(cells, np.nan)
    for c in range(cells):
        mask = cell == c
        s, t = scores[mask], y[mask]
        p, n = int(t.sum()), int((~t).sum())
        if p == 0 or n == 0:
            continue
        r = rankdata(s)
        out[c] = (r[t].sum() - p * (p + 1) / 2) / (p * n)
    return out


def _hanley_mcneil(auc: np.ndarray, p: np.ndarray, n: np.ndarray, z: float = 1.959963984540054):
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt((auc * (1 - auc) + (p - 1) * (q1 - auc ** 2) + (n - 1) * (q2 - auc ** 2)) / (p * n))
    return np.clip(auc - z * se, 0, 1), np.clip(auc + z * se, 0, 1)


def _spread(rates: np.ndarray, n: np.ndarray, rng: np.random.Generator, n_boot: int) -> np.ndarray:
    """Bootstrap draws of each group's rate: (n_boot, groups)."""
    return rng.binomial(n.astype(np.int64)[None, :].repeat(n_boot, 0), rates[None, :]) / np.maximum(n, 1)[None, :]


def model_report(model: Any, df: pd.DataFrame, target: str, protected: Sequence[str], *, positive: Any = None,
                 features: Sequence[str] | None = None, threshold: float = 0.5, min_cell: int = 10,
                 intersections: bool = True, missing: str = "error", n_boot: int = 1000, seed: int = 0,
                 scores: np.ndarray | None = None) -> dict[str, Any]:
    """Per-group behaviour of ``model`` on the labelled ``df`` (see the module). ``scores``
    skips scoring (scores already computed for ``df``)."""
    start = time.perf_counter()
    df = check_table(df)
    protected = protected_list(df, protected)
    min_cell = check_min_cell(min_cell)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < 1:
        raise ConfigurationError("The 'threshold' parameter must be a number in (0, 1).")
    y = binary_target(df, target, positive)
    if scores is None:
        if features is not None and target in features:
            raise ConfigurationError(f"The target column {target!r} is listed among the features.")
        scores, continuous = model_scores(model, df, features, positive)
    else:
        scores = np.asarray(scores, dtype=float)
        continuous = bool(len(np.unique(scores)) > 2)
        if scores.shape != (len(df),):
            raise BadInputError("scores must hold one number per row of the table.")
    pred = scores >= threshold
    enc = encode(df, protected, missing)
    groups = groupings(len(protected), intersections)
    supp = Suppression(enc, groups)
    size = len(enc.fine_keys)
    fine = enc.fine

    def agg(values):
        return supp.aggregate(np.bincount(fine, weights=np.asarray(values, dtype=float), minlength=size))

    n = agg(np.ones(len(y)))
    pos, sel, tp, fp = agg(y), agg(pred), agg(y & pred), agg(~y & pred)
    neg = {g: n[g] - pos[g] for g in groups}
    hidden = supp.hide(n, {g: (n[g] < min_cell) | (pos[g] < min_cell) | (neg[g] < min_cell) for g in groups})
    hidden = supp.hide(neg, supp.hide(pos, hidden))
    rng = np.random.default_rng(seed)
    sq = agg((scores - y) ** 2)
    mean_score = agg(scores)
    out: dict[str, Any] = {"rows": int(len(df)), "threshold": threshold, "continuous_scores": continuous,
                           "min_cell": min_cell, "groupings": {}}
    for g in groups:
        m, keys = supp.maps[g]
        cell_of_row = m[fine]
        auc = _auroc(scores, y, cell_of_row, len(keys)) if continuous else np.full(len(keys), np.nan)
        alo, ahi = _hanley_mcneil(auc, pos[g], neg[g])
        ece = _ece(scores, y, cell_of_row, len(keys))
        sr, tpr, fpr = sel[g] / n[g], tp[g] / np.maximum(pos[g], 1), fp[g] / np.maximum(neg[g], 1)
        srl, srh = clopper_pearson(sel[g], n[g])
        tl, th = clopper_pearson(tp[g], pos[g])
        fl, fh = clopper_pearson(fp[g], neg[g])
        cells = []
        for i, key in enumerate(keys):
            cell: dict[str, Any] = {"group": enc.label(g, key), "suppressed": bool(hidden[g][i])}
            if not hidden[g][i]:
                cell.update(count=int(n[g][i]), selection_rate=float(sr[i]), selection_rate_ci=[float(srl[i]),
                            float(srh[i])], true_positive_rate=float(tpr[i]), tpr_ci=[float(tl[i]), float(th[i])],
                            false_positive_rate=float(fpr[i]), fpr_ci=[float(fl[i]), float(fh[i])],
                            mean_score=float(mean_score[g][i] / n[g][i]), observed_rate=float(pos[g][i] / n[g][i]),
                            brier=float(sq[g][i] / n[g][i]), expected_calibration_error=float(ece[i]))
                if np.isfinite(auc[i]):
                    cell.update(auroc=float(auc[i]), auroc_ci=[float(alo[i]), float(ahi[i])])
            cells.append(cell)
        shown = ~hidden[g]
        entry: dict[str, Any] = {"cells": cells, "groups_shown": int(shown.sum())}
        if shown.sum() >= 2:
            b_sr = _spread(sr[shown], n[g][shown], rng, n_boot)
            b_tpr = _spread(tpr[shown], pos[g][shown], rng, n_boot)
            b_fpr = _spread(fpr[shown], neg[g][shown], rng, n_boot)

            def stat(values, boot, kind):
                if kind == "difference":
                    v, b = values.max() - values.min(), boot.max(axis=1) - boot.min(axis=1)
                else:   # undefined (None) when no group is selected, as fairlearn's nan
                    if values.max() <= 0:
                        return {"value": None, "ci": None}
                    v = values.min() / values.max()
                    with np.errstate(divide="ignore", invalid="ignore"):
                        b = np.where(boot.max(axis=1) > 0, boot.min(axis=1) / boot.max(axis=1), 1.0)
                return {"value": float(v), "ci": _percentiles(b)}

            entry["demographic_parity_difference"] = stat(sr[shown], b_sr, "difference")
            entry["demographic_parity_ratio"] = stat(sr[shown], b_sr, "ratio")
            # size-weighted |rate(group) - rate(rest)|: the parity gap of a random person's group,
            # far less driven by the sampling noise of small groups than max - min
            total_sel, total_n = float(pred.sum()), float(len(pred))
            rest = (total_sel - sel[g][shown]) / np.maximum(total_n - n[g][shown], 1)
            entry["weighted_parity_difference"] = float(np.sum(n[g][shown] * np.abs(sr[shown] - rest))
                                                        / n[g][shown].sum())
            entry["equal_opportunity_difference"] = stat(tpr[shown], b_tpr, "difference")
            tpr_d, fpr_d = np.ptp(tpr[shown]), np.ptp(fpr[shown])
            b_eo = np.maximum(np.ptp(b_tpr, axis=1), np.ptp(b_fpr, axis=1))
            entry["equalized_odds_difference"] = {"value": float(max(tpr_d, fpr_d)), "ci": _percentiles(b_eo)}
            worst_tpr = int(np.argmin(tpr[shown]))
            entry["worst_recall_group"] = cells[int(np.flatnonzero(shown)[worst_tpr])]["group"]
        out["groupings"][enc.name(g)] = entry
    out["seconds"] = time.perf_counter() - start
    return out


def _percentiles(draws: np.ndarray) -> list[float] | None:
    return [float(x) for x in np.percentile(draws, [2.5, 97.5])] if len(draws) else None


def _ece(scores: np.ndarray, y: np.ndarray, cell: np.ndarray, cells: int, bins: int = 10) -> np.ndarray:
    b = np.minimum((scores * bins).astype(int), bins - 1)
    key = cell * bins + b
    cnt = np.bincount(key, minlength=cells * bins).reshape(cells, bins)
    s = np.bincount(key, weights=scores, minlength=cells * bins).reshape(cells, bins)
    t = np.bincount(key, weights=y.astype(float), minlength=cells * bins).reshape(cells, bins)
    total = np.maximum(cnt.sum(axis=1), 1)
    return np.abs(s - t).sum(axis=1) / total
