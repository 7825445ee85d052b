"""Membership inference against a trained model: is a record in its training set?

Three attacks, each scored on known members (training records) and non-members (records of the
same population the model never saw), reported as AUC (Hanley-McNeil interval) and the true
positive rate at 0.1% and 1% false positive rate (the threshold taken from the non-members'
scores; Clopper-Pearson interval over the members):

- ``loss``: the model's loss on the record (Yeom et al. 2018): members have lower loss.
- ``lira``: offline LiRA (Carlini et al. 2022). ``reference_models`` models are trained by
  ``train_fn`` on disjoint samples of a population the target never saw; for each record the
  logit-scaled confidence on its true label, phi = log(p / (1 - p)), is compared with a
  Gaussian fitted to the reference models' phi for that record (its mean per record, one
  variance for all, as recommended with few reference models); the score is how far above the
  reference mean the target's phi lies.
- ``rmia``: offline RMIA (Zarifzadeh et al., ICML 2024) on the same reference models: the
  likelihood ratio Pr(x | target) / Pr(x), where Pr(x) = ((1 + a) p_out(x) + 1 - a) / 2
  corrects the mean confidence p_out of the reference models (which never saw x) for the
  missing IN models (``rmia_a``, 0.3 by default). RMIA's score is the fraction of population
  records z whose own ratio is beaten by a factor gamma; for one target model that fraction
  is a monotone function of x's ratio, so the ratio itself is the score here (the same AUC and
  TPR at every FPR, without sampling z). It is the strongest of the three at low false
  positive rates with a few reference models.

``gate(result, max_auc=..., max_tpr_at_0.1%=...)`` says whether a model may be published; the
registry stores the result next to epsilon (``Hub.publish_model(membership_inference=...)``).

>>> import numpy as np
>>> from sklearn.linear_model import LogisticRegression
>>> x = np.sin(np.arange(10000).reshape(2000, 5) * 1.7); y = (x[:, 0] + np.cos(np.arange(2000) * 3.1) > 0).astype(int)
>>> model = LogisticRegression().fit(x[:500], y[:500])
>>> result = membership_inference(model.predict_proba, (x[:500], y[:500]), (x[500:1000], y[500:1000]))
>>> result["loss"]["auc"] < 0.6
True
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable

import numpy as np

from ..exceptions import BadInputError, ConfigurationError

__all__ = ["membership_inference", "attack_metrics", "gate"]

_EPS = 1e-12


def _confidence(predict_proba: Callable, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    proba = np.asarray(predict_proba(x), dtype=np.float64)
    if proba.ndim == 1:
        proba = np.column_stack([1 - proba, proba])
    if proba.shape[0] != len(y):
        raise BadInputError("predict_proba returned a different number of rows than it was given.")
    labels = np.asarray(y).astype(int)
    if labels.min() < 0 or labels.max() >= proba.shape[1]:
        raise BadInputError("Labels must be class indices 0..k-1 of predict_proba's columns.")
    return np.clip(proba[np.arange(len(labels)), labels], _EPS, 1 - _EPS)


def attack_metrics(member_scores: np.ndarray, nonmember_scores: np.ndarray) -> dict[str, Any]:
    """AUC and TPR at 0.1% / 1% FPR (higher score: more likely a member), with intervals."""
    from scipy.stats import beta, rankdata

    m, n = len(member_scores), len(nonmember_scores)
    ranks = rankdata(np.r_[member_scores, nonmember_scores])
    auc = float((ranks[:m].sum() - m * (m + 1) / 2) / (m * n))
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    se = math.sqrt(max(auc * (1 - auc) + (m - 1) * (q1 - auc ** 2) + (n - 1) * (q2 - auc ** 2), 0) / (m * n))
    out: dict[str, Any] = {"auc": auc, "auc_ci": [max(0.0, auc - 1.96 * se), min(1.0, auc + 1.96 * se)],
                           "members": m, "non_members": n}
    for fpr in (0.001, 0.01):
        threshold = np.quantile(nonmember_scores, 1 - fpr, method="higher")
        k = int((member_scores > threshold).sum())
        lo = float(beta.ppf(0.025, k, m - k + 1)) if k > 0 else 0.0
        hi = float(beta.ppf(0.975, k + 1, m - k)) if k < m else 1.0
        key = f"tpr_at_{fpr * 100:g}%_fpr"
        out[key] = k / m
        out[key + "_ci"] = [lo, hi]
        out[f"fpr_{fpr * 100:g}%_resolvable"] = n * fpr >= 1   # enough non-members to place the threshold
    return out


def membership_inference(predict_proba: Callable, members: tuple, non_members: tuple, *,
                         train_fn: Callable | None = None, population: tuple | None = None,
                         reference_models: int = 4, seed: int = 0, rmia_a: float = 0.3) -> dict[str, Any]:
    """Every attack (``lira`` and ``rmia`` only with ``train_fn`` and ``population``; see the
    module)."""
    start = time.perf_counter()
    xm, ym = (np.asarray(a) for a in members)
    xn, yn = (np.asarray(a) for a in non_members)
    if len(xm) < 10 or len(xn) < 10:
        raise BadInputError("Membership inference needs at least 10 members and 10 non-members.")
    cm, cn = _confidence(predict_proba, xm, ym), _confidence(predict_proba, xn, yn)
    out: dict[str, Any] = {"loss": attack_metrics(np.log(cm), np.log(cn))}   # score = -loss
    if train_fn is not None:
        if population is None:
            raise ConfigurationError("LiRA needs population=(x, y): records the target model never saw.")
        if isinstance(reference_models, bool) or not isinstance(reference_models, int) or reference_models < 2:
            raise ConfigurationError("reference_models must be an int >= 2.")
        if isinstance(rmia_a, bool) or not isinstance(rmia_a, (int, float)) or not 0.0 <= rmia_a <= 1.0:
            raise ConfigurationError("rmia_a must be a number in [0, 1].")
        xp, yp = (np.asarray(a) for a in population)
        from ..mpc.training import batch_order

        size = min(len(xm), len(xp) // reference_models)
        if size < 10:
            raise BadInputError("The population is too small for that many reference models.")
        order = batch_order(len(xp), seed, 0)         # disjoint reference samples, a seeded permutation
        x_all, y_all = np.r_[xm, xn], np.r_[ym, yn]
        phis, confs = [], []
        for r in range(reference_models):
            part = order[r * size:(r + 1) * size]
            ref = train_fn(xp[part], yp[part], seed + r)
            c = _confidence(ref, x_all, y_all)
            confs.append(c)
            phis.append(np.log(c) - np.log1p(-c))
        phis = np.array(phis)
        mean = phis.mean(axis=0)
        sd = max(float(phis.std(axis=0, ddof=1).mean()), 1e-6)
        target = np.log(np.r_[cm, cn]) - np.log1p(-np.r_[cm, cn])
        score = (target - mean) / sd
        out["lira"] = {**attack_metrics(score[:len(xm)], score[len(xm):]), "reference_models": reference_models,
                       "reference_rows": int(size)}
        p_x = 0.5 * ((1 + rmia_a) * np.mean(confs, axis=0) + (1 - rmia_a))
        ratio = np.log(np.r_[cm, cn]) - np.log(p_x)
        out["rmia"] = {**attack_metrics(ratio[:len(xm)], ratio[len(xm):]), "reference_models": reference_models,
                       "reference_rows": int(size), "a": float(rmia_a)}
    out["seconds"] = time.perf_counter() - start
    return out


def gate(result: dict[str, Any], *, max_auc: float = 0.6, max_tpr_at_low_fpr: float = 0.01) -> tuple[bool, str]:
    """Whether a model passes the producer's thresholds: every attack's AUC upper bound below
    ``max_auc`` and its TPR at 0.1% FPR below ``max_tpr_at_low_fpr``; and the reason."""
    for name in ("loss", "lira", "rmia"):
        r = result.get(name)
        if r is None:
            continue
        if r["auc_ci"][1] >= max_auc:
            return False, f"the {name} attack's AUC reaches {r['auc_ci'][1]:.3f} (upper bound), max {max_auc:g}"
        if r["tpr_at_0.1%_fpr"] >= max_tpr_at_low_fpr:
            return False, (f"the {name} attack finds {r['tpr_at_0.1%_fpr']:.4f} of members at 0.1% false "
                           f"positives, max {max_tpr_at_low_fpr:g}")
    return True, "every attack is below the thresholds"
