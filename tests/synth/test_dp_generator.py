"""The DP generator (MST style) and the OpenDP measurements under it: noise at least as large
as the guarantee needs (measured, the unsafe direction), every measurement charged before its
noise, the budget refused before anything is measured, the public domain as the only source
of categories and ranges, fidelity against a known truth, exact conditions, and bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from secured.exceptions import BadInputError, ConfigurationError, PrivacyBudgetError
from secured.privacy.dp import BudgetLedger
from secured.privacy.mechanisms import counts_scale, epsilon_for, noisy_counts, noisy_select, rho_for
from secured.synth import MST, k_marginal_score
from secured.synth import load as load_generator

DOMAIN = {"ward": ["A", "B", "C", "D"], "sex": {"categories": ["F", "M"], "missing": True},
          "age": {"kind": "integer", "low": 0, "high": 99, "bins": 10}, "lab": {"low": 0.0, "high": 10.0, "bins": 8}}


def table(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ward = rng.choice(list("ABCD"), n, p=[0.4, 0.3, 0.2, 0.1])
    age = np.where(ward == "A", rng.integers(70, 90, n), rng.integers(20, 50, n))
    sex = pd.Series(np.where(rng.random(n) < 0.05, None, rng.choice(["F", "M"], n)), dtype=object)
    lab = np.clip(np.where(ward == "D", 8.5, 2.0) + rng.normal(0, 0.5, n), 0, 10)
    return pd.DataFrame({"ward": ward, "sex": sex, "age": age, "lab": lab})


def test_rho_conversion_is_within_the_target_and_tight():
    for eps, delta in ((0.3, 1e-6), (1.0, 1e-9), (10.0, 1e-5)):
        rho = rho_for(eps, delta)
        assert epsilon_for(rho, delta) <= eps
        assert epsilon_for(rho * 1.01, delta) > eps            # not needlessly small either
        # never looser than the textbook bound rho + 2 sqrt(rho log(1/delta))
        assert rho + 2 * math.sqrt(rho * math.log(1 / delta)) >= eps * 0.999


@pytest.mark.parametrize("contributions", [1, 3])
def test_count_noise_is_as_large_as_the_budget_requires(contributions):
    """The unsafe direction: noise smaller than rho-zCDP needs would be a privacy bug; its
    standard deviation is measured over many draws against sensitivity / sqrt(2 rho)."""
    rho = 0.05
    draws = np.array([noisy_counts(np.zeros(50, dtype=np.int64), 1, rho, contributions)[0][0] for _ in range(1500)])
    expected = contributions / math.sqrt(2 * rho)
    assert counts_scale(rho, contributions) == pytest.approx(expected)
    assert np.std(draws) == pytest.approx(expected, rel=0.1)
    assert np.mean(draws) == pytest.approx(50, abs=4 * expected / math.sqrt(1500))


def test_selection_is_noisy_in_proportion_to_the_budget():
    scores = [0.0, 1.0]
    # at a tiny budget the better candidate wins only about half the time; at a large one always
    weak = np.mean([noisy_select(scores, 1e-6, 1.0)[0] for _ in range(400)])
    strong = np.mean([noisy_select(scores, 100.0, 1.0)[0] for _ in range(100)])
    assert 0.35 < weak < 0.65 and strong == 1.0


def test_fit_charges_every_measurement_and_spends_exactly_the_budget(tmp_path):
    ledger = BudgetLedger(tmp_path / "ledger.json", rho=1.0)
    gen = MST(epsilon=2.0, delta=1e-6, domain=DOMAIN, seed=0).fit(table(), ledger=ledger)
    entries = ledger.entries
    d = len(DOMAIN)
    assert sum(e["label"].startswith("mst: 1-way") for e in entries) == d
    assert sum(e["label"].startswith("mst: marginal ") and "choice" not in e["label"] for e in entries) == d - 1
    assert sum(e["label"] == "mst: marginal choice" for e in entries) <= d - 1
    assert ledger.spent == pytest.approx(rho_for(2.0, 1e-6), rel=1e-9)
    assert ledger.spent <= rho_for(2.0, 1e-6) * (1 + 1e-9)
    assert gen.rho_ == pytest.approx(ledger.spent)


def test_a_fit_past_the_budget_is_refused_before_any_noise(tmp_path):
    path = tmp_path / "ledger.json"
    ledger = BudgetLedger(path, rho=0.01)
    before = path.read_bytes()
    with pytest.raises(PrivacyBudgetError, match="Nothing was measured"):
        MST(epsilon=5.0, delta=1e-6, domain=DOMAIN).fit(table(), ledger=ledger)
    assert path.read_bytes() == before
    # an epsilon ledger with a delta budget takes the whole guarantee as one entry
    eps_ledger = BudgetLedger(tmp_path / "eps.json", epsilon=3.0, delta=1e-5)
    MST(epsilon=1.0, delta=1e-6, domain=DOMAIN).fit(table(), ledger=eps_ledger)
    [entry] = eps_ledger.entries
    assert entry["amount"] == 1.0 and entry["delta"] == 1e-6
    with pytest.raises(PrivacyBudgetError):
        MST(epsilon=2.5, delta=1e-6, domain=DOMAIN).fit(table(), ledger=eps_ledger)
    with pytest.raises(ConfigurationError, match="ledger"):
        MST(epsilon=1.0, delta=1e-6, domain=DOMAIN).fit(table())


def test_the_model_keeps_the_strong_dependences_and_the_public_domain(tmp_path):
    ledger = BudgetLedger(tmp_path / "ledger.json", rho=100.0)
    df = table(8000)
    gen = MST(epsilon=20.0, delta=1e-6, domain=DOMAIN, seed=1).fit(df, ledger=ledger)
    out = gen.sample(8000, seed=2)
    assert out["age"][out["ward"] == "A"].between(60, 99).mean() > 0.9
    assert out["age"][out["ward"] != "A"].between(10, 59).mean() > 0.9
    assert out["lab"][out["ward"] == "D"].mean() > 6 > out["lab"][out["ward"] != "D"].mean()
    assert out["sex"].isna().mean() == pytest.approx(0.05, abs=0.02)
    # the schema is the public domain's, not the data's
    assert gen.schema_["age"].low == 0 and gen.schema_["age"].high == 99
    assert gen.schema_["ward"].categories == ["A", "B", "C", "D"]
    independent = pd.DataFrame({c: df[c].sample(frac=1, random_state=i).to_numpy() for i, c in enumerate(df)})
    assert k_marginal_score(df, out) > k_marginal_score(df, independent) + 50
    # exact conditions
    d_rows = gen.sample(500, conditions={"ward": "D"}, seed=3)
    assert (d_rows["ward"] == "D").all() and d_rows["lab"].mean() > 6
    # the saved model is the DP output: reloaded, it samples the same rows
    gen.save(str(tmp_path / "mst.json"))
    again = load_generator(str(tmp_path / "mst.json"))
    pd.testing.assert_frame_equal(gen.sample(300, seed=4), again.sample(300, seed=4))
    assert "rows" not in json.dumps(json.loads((tmp_path / "mst.json").read_text())["state"])


def test_person_level_contributions_scale_the_noise(tmp_path):
    df = table(3000).assign(pid=np.repeat(np.arange(1000), 3))
    ledger = BudgetLedger(tmp_path / "l.json", rho=10.0)
    MST(epsilon=1.0, delta=1e-6, domain=DOMAIN, contributions=2).fit(df, ledger=ledger, id_column="pid")
    assert all(e["contributions"] == 2 for e in ledger.entries)
    with pytest.raises(ConfigurationError, match="id_column"):
        MST(epsilon=1.0, delta=1e-6, domain=DOMAIN, contributions=2).fit(df, ledger=ledger)


def test_bad_domains_and_cells_are_named_never_shown(tmp_path):
    ledger = BudgetLedger(tmp_path / "l.json", rho=10.0)
    df = table(500)
    with pytest.raises(BadInputError, match="'ward'") as err:
        MST(epsilon=1.0, delta=1e-6, domain=DOMAIN).fit(df.assign(ward=df["ward"].replace("D", "SECRET")),
                                                        ledger=ledger)
    assert "SECRET" not in str(err.value)
    with pytest.raises(BadInputError, match="missing"):
        MST(epsilon=1.0, delta=1e-6, domain={**DOMAIN, "sex": ["F", "M"]}).fit(df, ledger=ledger)
    with pytest.raises(BadInputError, match="'lab'"):
        MST(epsilon=1.0, delta=1e-6, domain=DOMAIN).fit(df.assign(lab="SECRET"), ledger=ledger)
    for bad in ({"age": {"low": 5, "high": 1}}, {"age": {"low": 0}}, {"age": {"low": 0, "high": 9, "bins": 0}},
                {"ward": []}, {"ward": ["A", "A"]}, {"ward": {"categories": ["A"], "colour": 1}}, {"age": 7}):
        with pytest.raises(ConfigurationError):
            MST(epsilon=1.0, delta=1e-6, domain={**DOMAIN, **bad}).fit(df, ledger=ledger)
    with pytest.raises(BadInputError, match="'missing_column'"):
        MST(epsilon=1.0, delta=1e-6, domain={**DOMAIN, "missing_column": ["x"]}).fit(df, ledger=ledger)
    for eps, delta in ((0, 1e-6), (-1, 1e-6), (1.0, 0), (1.0, 1.5), (float("nan"), 1e-6)):
        with pytest.raises(ConfigurationError):
            MST(epsilon=eps, delta=delta, domain=DOMAIN).fit(df, ledger=ledger)
    # an "other" bucket takes cells outside the list instead of refusing them
    other = {**DOMAIN, "ward": {"categories": ["A", "B", "C"], "other": "elsewhere"}}
    out = MST(epsilon=5.0, delta=1e-6, domain=other).fit(df, ledger=ledger).sample(2000, seed=0)
    assert set(out["ward"]) <= {"A", "B", "C", "elsewhere"} and "D" not in set(out["ward"])
