"""Membership inference: the metrics against a direct computation, an overfitted model caught
(and refused by the gate), a regularized one not, LiRA stronger than loss on a memorizer."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from secured.exceptions import BadInputError
from secured.federation.mia import attack_metrics, gate, membership_inference


def test_metrics_equal_a_direct_computation():
    rng = np.random.default_rng(0)
    m, n = rng.normal(0.5, 1, 3000), rng.normal(0, 1, 5000)
    out = attack_metrics(m, n)
    assert out["auc"] == pytest.approx(roc_auc_score(np.r_[np.ones(3000), np.zeros(5000)], np.r_[m, n]), abs=1e-12)
    t = np.sort(n)[int(np.ceil(0.99 * 5000)) - 1]
    assert out["tpr_at_1%_fpr"] == pytest.approx((m > t).mean(), abs=1e-12)
    lo, hi = out["tpr_at_1%_fpr_ci"]
    assert lo <= out["tpr_at_1%_fpr"] <= hi


def _data(n=4000, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 8))
    y = ((x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=1.5, size=n)) > 0).astype(int)
    return x, y


def test_an_overfitted_model_is_caught_and_gated():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    x, y = _data()
    members, non = (x[:1000], y[:1000]), (x[1000:2000], y[1000:2000])
    population = (x[2000:], y[2000:])

    def forest(xs, ys, seed):
        return RandomForestClassifier(n_estimators=30, min_samples_leaf=1, random_state=seed).fit(xs, ys).predict_proba

    overfit = forest(*members, 0)
    res = membership_inference(overfit, members, non, train_fn=forest, population=population, reference_models=2)
    assert res["loss"]["auc"] > 0.75 and res["lira"]["auc"] > 0.75
    ok, why = gate(res, max_auc=0.6)
    assert not ok and "AUC" in why
    model = LogisticRegression(C=0.1).fit(*members)
    res = membership_inference(model.predict_proba, members, non)
    assert res["loss"]["auc_ci"][0] < 0.55
    assert gate(res, max_auc=0.6, max_tpr_at_low_fpr=0.05)[0]


def test_bad_input():
    x, y = _data(100)
    with pytest.raises(BadInputError, match="at least 10"):
        membership_inference(lambda a: np.full((len(a), 2), 0.5), (x[:5], y[:5]), (x[5:50], y[5:50]))
    with pytest.raises(BadInputError, match="class indices"):
        membership_inference(lambda a: np.full((len(a), 2), 0.5), (x[:20], y[:20] + 5), (x[20:50], y[20:50]))
