"""Differentially private histograms through OpenDP: budget spent at d_in = contributions, noise
of the stated scale around the truth of the bounded table, a ledger that composes budgets, refuses
overspending without writing, and stays correct when several processes charge at once."""

from __future__ import annotations

import json
import math
import multiprocessing as mp
import sys

import numpy as np
import pandas as pd
import pytest

from secured.data import load
from secured.exceptions import ConfigurationError
from secured.privacy.dp import BudgetExceededError, BudgetLedger, _bound_rows, dp_histogram


def _ledger() -> BudgetLedger:
    """A roomy ledger in a fresh folder: every release is accounted, as the API requires."""
    import tempfile
    from pathlib import Path

    return BudgetLedger(Path(tempfile.mkdtemp()) / "ledger.json", rho=1e6)

AGES = [f"[{10 * i}-{10 * (i + 1)})" for i in range(10)]
READMITTED = ["NO", ">30", "<30"]
DOMAINS = {"age": AGES, "readmitted": READMITTED}
CELLS = ["age", "readmitted"]


@pytest.fixture(scope="module")
def df() -> pd.DataFrame:
    return load("diabetes130")


@pytest.fixture(scope="module")
def one_row_per_patient(df) -> pd.DataFrame:
    """Each patient's first row: bounding keeps every row, so the truth is known exactly."""
    return df.drop_duplicates("patient_nbr").reset_index(drop=True)


def crosstab(table: pd.DataFrame) -> dict[tuple[str, str], int]:
    return {k: int(v) for k, v in table.groupby(CELLS).size().items()}


def released(rel) -> dict[tuple[str, str], int]:
    return {(a, r): int(c) for a, r, c in rel.table[[*CELLS, "count"]].itertuples(index=False)}


def test_acceptance_age_by_readmitted_rho_half(df, tmp_path):
    """Acceptance: age x readmitted at rho=0.5, one row per patient, charged to a ledger; a
    second release past the budget is refused and leaves the ledger file byte-identical."""
    ledger = BudgetLedger(tmp_path / "budget.json", rho=0.8)
    rel = dp_histogram(df, CELLS, rho=0.5, id_column="patient_nbr", contributions=1,
                       domains=DOMAINS, ledger=ledger, label="age x readmitted", seed=0)

    assert len(rel.table) == 30 and list(rel.table.columns) == [*CELLS, "count", "count_clipped"]
    assert set(released(rel)) == {(a, r) for a in AGES for r in READMITTED}
    assert rel.rows_used == df["patient_nbr"].nunique() == 71518
    assert 0.5 * (1 - 1e-6) <= rel.rho <= 0.5 and rel.epsilon is None
    assert rel.scale == pytest.approx(1.0, rel=1e-6)  # rho = 1 / (2 sigma^2)
    assert rel.domain_from_data is False and rel.contributions == 1
    assert rel.mechanism == "count_by_categories+discrete_gaussian"
    assert isinstance(rel.other, int) and abs(rel.other) <= 6 * rel.scale  # no row outside
    assert (rel.table["count_clipped"] == rel.table["count"].clip(lower=0)).all()

    # The bounded table's truth lies, per cell, between the patients with all their rows in the
    # cell and the patients with any row in it, whichever row the random bound kept.
    per = df.groupby(["patient_nbr", *CELLS]).size().rename("n").reset_index()
    per["total"] = per.groupby("patient_nbr")["n"].transform("sum")
    upper = per.groupby(CELLS).size()
    lower = per[per["n"] == per["total"]].groupby(CELLS).size()
    tol = 6 * rel.scale
    for cell, noisy in released(rel).items():
        assert lower.get(cell, 0) - tol <= noisy <= upper.get(cell, 0) + tol, cell
    assert abs(rel.table["count"].sum() + rel.other - rel.rows_used) <= 6 * rel.scale * math.sqrt(31)

    entries = ledger.entries
    assert len(entries) == 1
    e = entries[0]
    assert e["label"] == "age x readmitted" and e["columns"] == CELLS and e["kind"] == "rho"
    assert e["amount"] == rel.rho == e["charged"] == ledger.spent
    assert e["rows_used"] == 71518 and e["contributions"] == 1 and e["time"].endswith("+00:00")
    assert "count" not in e and ledger.remaining == pytest.approx(0.8 - rel.rho)

    before = ledger.path.read_bytes()
    with pytest.raises(BudgetExceededError, match="remaining") as info:
        dp_histogram(df, CELLS, rho=0.5, id_column="patient_nbr", domains=DOMAINS, ledger=ledger)
    assert "0.5" in str(info.value) and "0.3" in str(info.value)
    assert ledger.path.read_bytes() == before

    d = rel.to_dict()
    assert d["rho"] == rel.rho and len(d["cells"]) == 30 and "rows_used" not in d
    json.dumps(d)


def test_noisy_counts_near_exact_truth(one_row_per_patient):
    """With one row per patient the truth is exact: all 30 cells within 6 sigma, and noise was
    actually added (a discrete Gaussian of sigma 1 is 0 with probability ~0.4 per cell)."""
    t = one_row_per_patient
    rel = dp_histogram(t, CELLS, rho=0.5, id_column="patient_nbr", domains=DOMAINS, ledger=_ledger())
    truth = crosstab(t)
    noisy = released(rel)
    assert rel.rows_used == len(t)
    errors = np.array([noisy[c] - truth.get(c, 0) for c in noisy])
    assert np.all(np.abs(errors) <= 6 * rel.scale)
    assert np.any(errors != 0)


def test_other_cell_counts_rows_outside_the_domain(one_row_per_patient):
    t = one_row_per_patient
    old = ["[70-80)", "[80-90)", "[90-100)"]
    rel = dp_histogram(t, ["age"], epsilon=1.0, domains={"age": old}, ledger=_ledger())
    assert list(rel.table["age"]) == old and rel.mechanism == "count_by_categories+discrete_laplace"
    truth_other = int((~t["age"].isin(old)).sum())
    tol = 20 * rel.scale  # P(|Laplace| > 20 b) = e^-20
    assert abs(rel.other - truth_other) <= tol
    for a, c in zip(rel.table["age"], rel.table["count"]):
        assert abs(c - int((t["age"] == a).sum())) <= tol


def test_categories_from_the_data_need_key_selection(one_row_per_patient, tmp_path):
    """Without a public domain a column is refused (its categories would leak a patient's
    unique value); with key selection the categories come out through thresholded noisy
    counts: a category held by one patient is not released, frequent ones are, near their
    true counts, and the ledger records epsilon and delta."""
    t = one_row_per_patient.copy()
    t.loc[5, "age"] = "[130-140)"                 # one patient's unique value
    with pytest.raises(ConfigurationError, match="no public domain") as err:
        dp_histogram(t, CELLS, rho=1.0, domains={"readmitted": READMITTED}, ledger=_ledger())
    assert "[130-140)" not in str(err.value)
    ledger = BudgetLedger(tmp_path / "l.json", epsilon=2.0, delta=1.1e-6)
    rel = dp_histogram(t, CELLS, epsilon=1.0, delta=1e-6, key_selection=True, ledger=ledger)
    assert rel.epsilon <= 1.0 and 0 < rel.delta <= 1e-6 and rel.threshold > 5 and rel.domain_from_data
    assert "[130-140)" not in set(rel.table["age"])
    truth = crosstab(t)
    for (a, r), count in released(rel).items():
        assert abs(count - truth[(a, r)]) <= 20 * rel.scale      # Laplace noise of scale b
    frequent = [key for key, v in truth.items() if v > 10 * rel.threshold]
    assert all(key in released(rel) for key in frequent)
    assert ledger.spent == pytest.approx(rel.epsilon) and ledger.delta_spent == pytest.approx(rel.delta)
    before = (tmp_path / "l.json").read_bytes()
    with pytest.raises(BudgetExceededError, match="delta"):
        # the second spends at least exp(-epsilon) of the delta asked (one threshold step): over 1.1e-6
        dp_histogram(t, CELLS, epsilon=0.5, delta=1e-6, key_selection=True, ledger=ledger)
    assert (tmp_path / "l.json").read_bytes() == before
    with pytest.raises(ConfigurationError, match="delta budget"):
        dp_histogram(t, CELLS, epsilon=0.5, delta=1e-6, key_selection=True,
                     ledger=BudgetLedger(tmp_path / "nodelta.json", epsilon=2.0))


def test_ledger_aliases_share_one_budget_and_corruption_fails_closed(one_row_per_patient, tmp_path):
    import os

    real = tmp_path / "real" / "ledger.json"
    real.parent.mkdir()
    BudgetLedger(real, rho=1.0)
    os.symlink(real, tmp_path / "alias.json")
    os.symlink(real.parent, tmp_path / "folder-alias")
    first = BudgetLedger(real)
    first.charge(0.6, "rho", label="a")
    for alias in (tmp_path / "alias.json", tmp_path / "folder-alias" / "ledger.json"):
        with pytest.raises(BudgetExceededError):
            BudgetLedger(alias).charge(0.6, "rho", label="b")
    assert (tmp_path / "alias.json").is_symlink() and len(first.entries) == 1
    # one NaN (or negative, or missing) charge: every release refused, not enforcement disabled
    from secured.exceptions import PrivacyBudgetError

    for bad in ("NaN", "-1", '"x"', "Infinity"):
        state = json.loads(real.read_text())
        text = json.dumps(state).replace('"charged": 0.6', f'"charged": {bad}')
        real.write_text(text)
        with pytest.raises(PrivacyBudgetError, match="corrupt"):
            BudgetLedger(real).charge(0.01, "rho")
        with pytest.raises(PrivacyBudgetError):
            dp_histogram(one_row_per_patient, CELLS, rho=0.01, domains=DOMAINS, ledger=first)
        real.write_text(json.dumps(state))


@pytest.mark.parametrize("k", [1, 3])
def test_zcdp_spent_matches_discrete_gaussian_formula(df, k):
    """rho = Delta^2 / (2 sigma^2) with L2 sensitivity Delta = contributions."""
    rel = dp_histogram(df, CELLS, rho=0.3, id_column="patient_nbr", contributions=k, domains=DOMAINS, ledger=_ledger())
    assert rel.rho == pytest.approx(k**2 / (2 * rel.scale**2), rel=1e-9)
    assert 0.3 * (1 - 1e-6) <= rel.rho <= 0.3
    assert rel.scale == pytest.approx(k / math.sqrt(2 * 0.3), rel=1e-6)
    assert rel.rows_used == int(df.groupby("patient_nbr").size().clip(upper=k).sum())


@pytest.mark.parametrize("columns", [CELLS, []])
def test_pure_dp_spent_matches_discrete_laplace_formula(df, columns):
    """epsilon = Delta_1 / b with L1 sensitivity Delta_1 = contributions (histogram and total)."""
    rel = dp_histogram(df, columns, epsilon=0.7, id_column="patient_nbr", contributions=2,
                       domains=DOMAINS if columns else None, ledger=_ledger())
    assert rel.epsilon == pytest.approx(2 / rel.scale, rel=1e-9)
    assert 0.7 * (1 - 1e-6) <= rel.epsilon <= 0.7 and rel.rho is None


def test_total_count(df):
    rel = dp_histogram(df, [], rho=0.5, id_column="patient_nbr", ledger=_ledger())
    assert rel.mechanism == "count+discrete_gaussian" and rel.other is None
    assert list(rel.table.columns) == ["count", "count_clipped"] and len(rel.table) == 1
    assert abs(int(rel.table["count"].iloc[0]) - 71518) <= 6 * rel.scale
    assert rel.rho == pytest.approx(1 / (2 * rel.scale**2), rel=1e-9)


def test_noise_variance_matches_scale():
    """Over ~50k noisy cells of a tiny table: mean ~0, variance ~sigma^2 (discrete Gaussian) and
    ~2e^{-1/b}/(1-e^{-1/b})^2 (discrete Laplace)."""
    t = pd.DataFrame({"x": ["a"] * 5 + ["b"] * 2})
    domain = ["a", "b"] + [f"c{i}" for i in range(1998)]
    truth = np.zeros(2001)
    truth[:2] = [5, 2]
    for budget, expected in [({"rho": 1 / 18}, lambda s: s**2),
                             ({"epsilon": 1 / 3},
                              lambda b: 2 * math.exp(-1 / b) / (1 - math.exp(-1 / b)) ** 2)]:
        noise = []
        for _ in range(25):
            rel = dp_histogram(t, ["x"], domains={"x": domain}, **budget, ledger=_ledger())
            noise.append(np.append(rel.table["count"].to_numpy(), rel.other) - truth)
        noise = np.concatenate(noise)
        assert rel.scale == pytest.approx(3.0, rel=1e-6)
        assert abs(noise.mean()) < 0.15
        assert noise.var() == pytest.approx(expected(rel.scale), rel=0.05)


def test_bound_rows_is_uniform_and_seeded():
    ids = np.repeat(np.arange(20_000), 2)
    keep = _bound_rows(ids, 1, np.random.default_rng(1))
    assert len(keep) == 20_000 and len(np.unique(ids[keep])) == 20_000
    assert abs(np.mean(keep % 2 == 0) - 0.5) < 0.02  # first or second row, equally likely
    assert np.array_equal(keep, _bound_rows(ids, 1, np.random.default_rng(1)))
    assert not np.array_equal(keep, _bound_rows(ids, 1, np.random.default_rng(2)))
    assert np.array_equal(_bound_rows(ids, 2, np.random.default_rng(0)), np.arange(40_000))


# ----------------------------------------------------------------------------- ledger


def test_epsilon_release_is_charged_as_rho_in_a_rho_ledger(one_row_per_patient, tmp_path):
    ledger = BudgetLedger(tmp_path / "l.json", rho=1.0)
    rel = dp_histogram(one_row_per_patient, CELLS, epsilon=1.0, domains=DOMAINS, ledger=ledger)
    (e,) = ledger.entries
    assert e["kind"] == "epsilon" and e["amount"] == rel.epsilon
    assert e["charged"] == pytest.approx(rel.epsilon**2 / 2) and ledger.spent == e["charged"]
    ledger.charge(0.3, "rho")
    assert ledger.spent == pytest.approx(rel.epsilon**2 / 2 + 0.3)
    with pytest.raises(BudgetExceededError):
        ledger.charge(1.0, "epsilon")  # 0.5 more rho: past 1.0
    assert len(ledger.entries) == 2


def test_epsilon_ledger_refuses_rho(one_row_per_patient, tmp_path):
    ledger = BudgetLedger(tmp_path / "l.json", epsilon=2.0)
    ledger.charge(0.5, "epsilon", label="x")
    before = ledger.path.read_bytes()
    with pytest.raises(ConfigurationError, match="epsilon") as info:
        dp_histogram(one_row_per_patient, CELLS, rho=0.1, domains=DOMAINS, ledger=ledger)
    assert not isinstance(info.value, BudgetExceededError)
    with pytest.raises(ConfigurationError, match="rho"):
        ledger.charge(0.1, "rho")
    assert ledger.path.read_bytes() == before and ledger.spent == 0.5 and ledger.remaining == 1.5


def test_reopen_ledger(tmp_path):
    p = tmp_path / "l.json"
    with pytest.raises(ConfigurationError, match="rho= or epsilon="):
        BudgetLedger(p)  # missing and no budget
    BudgetLedger(p, rho=1.0).charge(0.25, "rho", label="a")
    with pytest.raises(ConfigurationError, match="cannot change"):
        BudgetLedger(p, rho=2.0)
    with pytest.raises(ConfigurationError, match="cannot change"):
        BudgetLedger(p, epsilon=1.0)
    same = BudgetLedger(p, rho=1.0)
    stored = BudgetLedger(p)
    assert stored.kind == "rho" and stored.total == 1.0
    assert same.spent == stored.spent == 0.25 and stored.entries[0]["label"] == "a"
    for _ in range(3):
        stored.charge(0.25, "rho")  # exactly the total is allowed
    assert stored.remaining == 0.0
    (tmp_path / "junk.json").write_text("[1, 2]")
    with pytest.raises(ConfigurationError, match="not a SECURED budget ledger"):
        BudgetLedger(tmp_path / "junk.json", rho=1.0)
    assert (tmp_path / "junk.json").read_text() == "[1, 2]"


def _charge_worker(path: str, barrier) -> None:
    ledger = BudgetLedger(path)
    barrier.wait()
    try:
        ledger.charge(0.1, "rho", label="worker")
    except BudgetExceededError:
        sys.exit(3)
    sys.exit(0)


@pytest.mark.skipif(sys.platform == "win32", reason="fcntl locking")
def test_concurrent_charges_never_overspend_or_lose_entries(tmp_path):
    ctx = mp.get_context("fork")
    for round_ in range(3):
        path = tmp_path / f"l{round_}.json"
        BudgetLedger(path, rho=0.25)
        barrier = ctx.Barrier(4)
        procs = [ctx.Process(target=_charge_worker, args=(str(path), barrier)) for _ in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        codes = sorted(p.exitcode for p in procs)
        assert codes == [0, 0, 3, 3]
        ledger = BudgetLedger(path)
        assert len(ledger.entries) == 2 and ledger.spent == pytest.approx(0.2)
        assert not list(tmp_path.glob(f".l{round_}.json.*.tmp"))


# ----------------------------------------------------------------------------- bad input


@pytest.fixture(scope="module")
def small(df) -> pd.DataFrame:
    return df.head(300).reset_index(drop=True)


def _no_data_values(message: str, table: pd.DataFrame) -> None:
    for c in ["age", "readmitted", "patient_nbr"]:
        for v in table[c].dropna().unique():
            assert str(v) not in message, (c, message)


def _with_missing(table: pd.DataFrame, column: str) -> pd.DataFrame:
    out = table.copy()
    out[column] = out[column].astype(object)
    out.loc[[3, 7], column] = None
    return out


@pytest.mark.parametrize("make_kwargs, needles", [
    (lambda t: dict(df=t, columns=["agee"], rho=0.5), ["'agee'", "not in the table"]),
    (lambda t: dict(df=t, columns=["age"], rho=0.5, id_column="patient"), ["'patient'"]),
    (lambda t: dict(df=_with_missing(t, "age"), columns=CELLS, rho=0.5), ["'age'", "fill", "drop"]),
    (lambda t: dict(df=_with_missing(t, "patient_nbr"), columns=CELLS, rho=0.5,
                    id_column="patient_nbr"), ["'patient_nbr'", "missing"]),
    (lambda t: dict(df=t, columns=CELLS, rho=0.5, epsilon=1.0), ["rho=", "epsilon=", "not both"]),
    (lambda t: dict(df=t, columns=CELLS), ["rho=", "epsilon=", "required"]),
    (lambda t: dict(df=t, columns=CELLS, rho=-0.5), ["rho", "positive"]),
    (lambda t: dict(df=t, columns=CELLS, epsilon=0.0), ["epsilon", "positive"]),
    (lambda t: dict(df=t, columns=CELLS, rho=float("nan")), ["rho", "positive"]),
    (lambda t: dict(df=t, columns=CELLS, rho=0.5, contributions=2), ["id_column", "contributions"]),
    (lambda t: dict(df=t, columns=CELLS, rho=0.5, id_column="patient_nbr", contributions=0),
     ["contributions", ">= 1"]),
    (lambda t: dict(df=t, columns=["age"], rho=0.5, domains={"gender": ["F"]}), ["'gender'", "domains"]),
    (lambda t: dict(df=t, columns=["age"], rho=0.5, domains={"age": []}), ["'age'", "empty"]),
    (lambda t: dict(df=t.iloc[:0], columns=["age"], rho=0.5), ["empty"]),
])
def test_bad_input_is_a_clear_error_without_data_values(small, make_kwargs, needles):
    kwargs = make_kwargs(small)
    table = kwargs.pop("df")
    with pytest.raises(ConfigurationError) as info:
        dp_histogram(table, **kwargs, ledger=_ledger())
    message = str(info.value)
    for needle in needles:
        assert needle in message, (needle, message)
    _no_data_values(message, small)


def test_refused_release_returns_nothing_and_writes_nothing(small, tmp_path):
    ledger = BudgetLedger(tmp_path / "l.json", epsilon=0.5)
    before = ledger.path.read_bytes()
    with pytest.raises(BudgetExceededError, match="Nothing was released") as info:
        dp_histogram(small, CELLS, epsilon=1.0, domains=DOMAINS, ledger=ledger)
    _no_data_values(str(info.value), small)
    assert ledger.path.read_bytes() == before and ledger.entries == []
