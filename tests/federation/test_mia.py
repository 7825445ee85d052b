"""Membership inference: the metrics against a direct computation, an overfitted model caught
(and refused by the gate), a regularized one not, LiRA stronger than loss on a memorizer."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from secured.exceptions import BadInputError, ConfigurationError
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


def test_rmia_equals_the_pairwise_form_and_beats_lira_at_low_fpr():
    """RMIA's published score (the fraction of population records z whose likelihood ratio x's
    beats by gamma) ranks records exactly as the ratio used here: recomputed from the paper's
    formula on the same reference models, AUC and TPR at 1% FPR are the same."""
    from sklearn.ensemble import RandomForestClassifier

    x, y = _data(6000, seed=1)
    members, non, population = (x[:1000], y[:1000]), (x[1000:3000], y[1000:3000]), (x[3000:], y[3000:])

    def forest(xs, ys, seed):
        return RandomForestClassifier(n_estimators=20, min_samples_leaf=2, random_state=seed).fit(xs, ys).predict_proba

    target = forest(*members, 0)
    res = membership_inference(target, members, non, train_fn=forest, population=population, reference_models=3,
                               rmia_a=0.4)
    assert res["rmia"]["auc"] > 0.7 and res["rmia"]["a"] == 0.4
    # the paper's form: the reference models (same seeded split as membership_inference) and z from the population
    from secured.mpc.training import batch_order

    size = min(1000, len(population[0]) // 3)
    order = batch_order(len(population[0]), 0, 0)
    refs = [forest(population[0][order[r * size:(r + 1) * size]], population[1][order[r * size:(r + 1) * size]], r)
            for r in range(3)]
    def pr(model, xs, ys):
        return np.clip(model(xs)[np.arange(len(ys)), ys], 1e-12, 1 - 1e-12)
    xa, ya = np.r_[members[0], non[0]], np.r_[members[1], non[1]]
    z, yz = population[0][-1500:], population[1][-1500:]
    px = 0.5 * (1.4 * np.mean([pr(m, xa, ya) for m in refs], axis=0) + 0.6)
    pz = 0.5 * (1.4 * np.mean([pr(m, z, yz) for m in refs], axis=0) + 0.6)
    ratio_x, ratio_z = pr(target, xa, ya) / px, pr(target, z, yz) / pz
    score = (ratio_x[:, None] / ratio_z[None, :] >= 2.0).mean(axis=1)   # gamma = 2
    # the pairwise fraction is a step function of ratio_x: ties broken by the ratio itself
    ranked = score + 1e-9 * np.argsort(np.argsort(ratio_x)) / len(ratio_x)
    ref = attack_metrics(ranked[:1000], ranked[1000:])
    assert res["rmia"]["auc"] == pytest.approx(ref["auc"], abs=1e-9)
    assert res["rmia"]["tpr_at_1%_fpr"] == pytest.approx(ref["tpr_at_1%_fpr"], abs=1e-12)
    assert res["rmia"]["tpr_at_1%_fpr"] >= res["lira"]["tpr_at_1%_fpr"]
    with pytest.raises(ConfigurationError, match="rmia_a"):
        membership_inference(target, members, non, train_fn=forest, population=population, rmia_a=1.5)


def test_the_gate_refuses_when_only_a_reference_attack_finds_members():
    """The loss attack alone may pass while RMIA (or LiRA) finds members: the gate must refuse,
    naming that attack."""
    quiet = {"auc": 0.5, "auc_ci": [0.48, 0.52], "tpr_at_0.1%_fpr": 0.001}
    loud = {"auc": 0.55, "auc_ci": [0.53, 0.57], "tpr_at_0.1%_fpr": 0.02}
    assert gate({"loss": quiet, "lira": quiet, "rmia": quiet}, max_auc=0.6, max_tpr_at_low_fpr=0.01)[0]
    for name in ("lira", "rmia"):
        ok, why = gate({"loss": quiet, "lira": quiet, "rmia": quiet, name: loud}, max_auc=0.6,
                       max_tpr_at_low_fpr=0.01)
        assert not ok and name in why
