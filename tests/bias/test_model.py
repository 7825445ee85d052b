"""The model report against fairlearn (0.15) on Adult and diabetes130, for scikit-learn,
torch, callables and registry models; features that do not match are refused by name."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from secured.bias import from_registry, model_report
from secured.data import load
from secured.exceptions import AccessDenied, BadInputError, ConfigurationError, NotFound

import fairlearn.metrics as fm  # a test dependency (requirements.txt)


def _pipeline(features):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    return make_pipeline(make_column_transformer((OneHotEncoder(handle_unknown="ignore"), features)),
                         LogisticRegression(max_iter=300))


@pytest.mark.parametrize("case", ["adult", "diabetes"])
def test_model_metrics_equal_fairlearn(case):
    from sklearn.metrics import roc_auc_score

    if case == "adult":
        df, protected, target, positive = load("adult"), ["sex", "race"], "salary-class", ">50K"
    else:
        df = load("diabetes130").sample(20000, random_state=0).reset_index(drop=True)
        df = df[["race", "gender", "age", "admission_type_id", "insulin", "diabetesMed", "A1Cresult", "readmitted"]]
        protected, target, positive = ["race", "gender"], "readmitted", "<30"
    features = [c for c in df.columns if c != target]
    clf = _pipeline(features).fit(df[features], df[target])
    threshold = 0.3 if case == "adult" else 0.12     # both select some rows of every group
    report = model_report(clf, df, target, protected, positive=positive, features=features, threshold=threshold,
                          min_cell=0, n_boot=10)
    y = (df[target] == positive).astype(int).to_numpy()
    index = list(clf.classes_).index(positive)
    scores = clf.predict_proba(df[features])[:, index]
    pred = (scores >= threshold).astype(int)
    assert 0 < pred.mean() < 1
    for name, cols in ((protected[0], protected[:1]), (" x ".join(protected), protected)):
        entry, sf = report["groupings"][name], df[cols]
        assert abs(entry["demographic_parity_difference"]["value"]
                   - fm.demographic_parity_difference(y, pred, sensitive_features=sf)) < 1e-9
        assert abs(entry["demographic_parity_ratio"]["value"]
                   - fm.demographic_parity_ratio(y, pred, sensitive_features=sf)) < 1e-9
        assert abs(entry["equalized_odds_difference"]["value"]
                   - fm.equalized_odds_difference(y, pred, sensitive_features=sf)) < 1e-9
        assert abs(entry["equal_opportunity_difference"]["value"]
                   - fm.equal_opportunity_difference(y, pred, sensitive_features=sf)) < 1e-9
        frame = fm.MetricFrame(metrics={"sr": fm.selection_rate, "tpr": fm.true_positive_rate,
                                        "fpr": fm.false_positive_rate}, y_true=y, y_pred=pred,
                               sensitive_features=sf).by_group
        auc = fm.MetricFrame(metrics=roc_auc_score, y_true=y, y_pred=scores, sensitive_features=sf).by_group
        for cell in entry["cells"]:
            key = tuple(cell["group"].values())
            key = key[0] if len(key) == 1 else key
            assert abs(cell["selection_rate"] - frame.loc[key, "sr"]) < 1e-9
            assert abs(cell["true_positive_rate"] - frame.loc[key, "tpr"]) < 1e-9
            assert abs(cell["false_positive_rate"] - frame.loc[key, "fpr"]) < 1e-9
            if "auroc" in cell:
                assert abs(cell["auroc"] - auc.loc[key]) < 1e-9
                lo, hi = cell["auroc_ci"]
                assert lo <= cell["auroc"] <= hi
            part = (df[cols] == pd.Series(cell["group"])).all(axis=1).to_numpy()
            assert cell["brier"] == pytest.approx(np.mean((scores[part] - y[part]) ** 2), abs=1e-12)


def _numeric_table(n=600, seed=0):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"g": rng.choice(["a", "b"], n), "x1": rng.normal(size=n), "x2": rng.normal(size=n)})
    df["y"] = ((df["x1"] - df["x2"] + rng.normal(size=n)) > 0).astype(int)
    return df


def test_torch_and_callable_models_score_like_the_module():
    import torch

    df = _numeric_table()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    report = model_report(net, df, "y", ["g"], features=["x1", "x2"], min_cell=0, n_boot=10)
    with torch.no_grad():
        dtype = next(net.parameters()).dtype      # a test module may have set float64 as torch's default
        s = torch.sigmoid(net(torch.tensor(df[["x1", "x2"]].to_numpy(np.float64)).to(dtype))).numpy().reshape(-1)
    by_callable = model_report(lambda t: s, df, "y", ["g"], features=["x1", "x2"], min_cell=0, n_boot=10)
    for a, b in zip(report["groupings"]["g"]["cells"], by_callable["groupings"]["g"]["cells"]):
        assert a["selection_rate"] == pytest.approx(b["selection_rate"], abs=1e-6)
    with pytest.raises(BadInputError, match="takes 2 features"):
        model_report(net, df, "y", ["g"], features=["x1"])
    with pytest.raises(ConfigurationError, match="features="):
        model_report(net, df, "y", ["g"])


def test_features_that_do_not_match_are_refused():
    from sklearn.linear_model import LogisticRegression

    df = _numeric_table()
    clf = LogisticRegression().fit(df[["x1", "x2"]], df["y"])
    with pytest.raises(BadInputError, match="'x2'"):
        model_report(clf, df.drop(columns="x2"), "y", ["g"])
    with pytest.raises(BadInputError, match="fitted order"):
        model_report(clf, df, "y", ["g"], features=["x2", "x1"])
    with pytest.raises(ConfigurationError, match="threshold"):
        model_report(clf, df, "y", ["g"], threshold=1.5)


def test_registry_models_go_through_the_access_rules(tmp_path):
    import torch

    from secured.hub import Hub

    hub, admin = Hub.init(f"sqlite:///{tmp_path / 'hub.db'}", (tmp_path / "lake").as_uri())
    for name, role in (("hosp-a", "producer"), ("lab-r", "researcher"), ("lab-s", "researcher")):
        hub.add_member(admin, name, role)
    a, r, s = (hub.create_token(admin, m, ["read", "write"]) for m in ("hosp-a", "lab-r", "lab-s"))
    net = torch.nn.Sequential(torch.nn.Linear(2, 1))
    buffer = io.BytesIO()
    torch.save(net.state_dict(), buffer)
    hub.publish_model(a, "readmission", buffer.getvalue(), visibility="members", readers=["lab-r"])
    df = _numeric_table()
    loaded = from_registry(hub, r, "readmission", template=torch.nn.Sequential(torch.nn.Linear(2, 1)))
    mine = model_report(net, df, "y", ["g"], features=["x1", "x2"], min_cell=0, n_boot=10)
    theirs = model_report(loaded, df, "y", ["g"], features=["x1", "x2"], min_cell=0, n_boot=10)
    assert mine["groupings"]["g"]["cells"] == theirs["groupings"]["g"]["cells"]
    with pytest.raises((NotFound, AccessDenied)):
        from_registry(hub, s, "readmission", template=torch.nn.Sequential(torch.nn.Linear(2, 1)))
    with pytest.raises(BadInputError, match="architecture"):
        from_registry(hub, r, "readmission", template=torch.nn.Sequential(torch.nn.Linear(3, 1)))
    hub.engine.dispose()
