"""Gaussian copula and the generator API: mixed types, missing cells, conditions, the schema
check, save/load, and bad input (named columns and options, never values)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from secured.data import load
from secured.exceptions import BadInputError, ConfigurationError, NotFittedError
from secured.synth import GaussianCopula, Schema
from secured.synth import load as load_generator


def mixed(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Correlated numeric, integer, date and categorical columns with missing cells."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = 0.8 * x + 0.6 * rng.normal(size=n)
    df = pd.DataFrame({
        "x": 50 + 10 * x,
        "count": np.clip(np.round(3 + 2 * y), 0, None).astype(int),
        "group": np.where(x > 0.5, "high", np.where(x < -0.5, "low", "mid")),
        "admitted": pd.Timestamp("2019-01-01") + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
        "lab": np.where(rng.random(n) < 0.2, np.nan, 7 + y),
        "ward": pd.Series(np.where(rng.random(n) < 0.1, None, rng.choice(["A", "B"], n)), dtype=object),
        "site": "one",
    })
    return df


def test_marginals_correlation_and_missing_shares_are_kept():
    df = mixed()
    gen = GaussianCopula(seed=0).fit(df)
    out = gen.sample(20_000, seed=1)
    assert list(out.columns) == list(df.columns)
    assert out["x"].mean() == pytest.approx(df["x"].mean(), abs=0.5)
    assert out["x"].std() == pytest.approx(df["x"].std(), rel=0.05)
    assert np.corrcoef(out["x"], out["count"])[0, 1] == pytest.approx(np.corrcoef(df["x"], df["count"])[0, 1], abs=0.05)
    for col in ("group", "ward"):
        real = df[col].fillna("<na>").value_counts(normalize=True)
        syn = out[col].fillna("<na>").value_counts(normalize=True)
        assert (real - syn).abs().max() < 0.02, col
    assert out["lab"].isna().mean() == pytest.approx(df["lab"].isna().mean(), abs=0.02)
    # the dependence reaches the categories: high x goes with the 'high' group
    assert out.loc[out["group"] == "high", "x"].mean() > out.loc[out["group"] == "low", "x"].mean() + 10
    # the schema check: integers integral, ranges kept, dates are dates, constants constant
    assert (out["count"] == out["count"].round()).all() and out["count"].min() >= df["count"].min()
    assert pd.api.types.is_datetime64_any_dtype(out["admitted"])
    assert out["admitted"].between(df["admitted"].min(), df["admitted"].max()).all()
    assert (out["site"] == "one").all() and any("constant" in note for note in gen.schema_.notes)


def test_conditions_fix_cells_and_shift_the_rest():
    df = mixed()
    gen = GaussianCopula(seed=0).fit(df)
    high = gen.sample(2000, conditions={"group": "high"}, seed=2)
    assert (high["group"] == "high").all()
    assert high["x"].mean() > df.loc[df["group"] == "high", "x"].mean() - 3     # the conditional, not the marginal
    partial = pd.DataFrame({"group": ["low", None, "mid"], "x": [None, 70.0, None]})
    rows = gen.sample(conditions=partial, seed=3)
    assert len(rows) == 3 and rows.loc[0, "group"] == "low" and rows.loc[1, "x"] == 70.0
    with pytest.raises(ConfigurationError, match="one row is generated per condition"):
        gen.sample(5, conditions=partial)


def test_save_load_round_trip_samples_the_same(tmp_path):
    df = mixed(800)
    gen = GaussianCopula(seed=4).fit(df)
    path = tmp_path / "gen.json"
    gen.save(str(path))
    text = path.read_text()
    assert json.loads(text)["generator"] == "gaussian_copula"
    again = load_generator(str(path))
    pd.testing.assert_frame_equal(gen.sample(300, seed=9), again.sample(300, seed=9))
    # the file holds quantiles per column, not the training rows
    rows = set(df["x"].round(9).astype(str))
    assert sum(str(round(v, 9)) in rows for v in json.loads(text)["state"]["marginals"]["x"]["q"]) <= 600


def test_a_rare_record_is_not_reproduced():
    df = load("adult").head(4000).copy()
    planted = df.iloc[[0]].copy()
    planted[["native-country", "occupation", "education"]] = ["Holand-Netherlands", "Armed-Forces", "Preschool"]
    df = pd.concat([df, planted], ignore_index=True)
    out = GaussianCopula(seed=0).fit(df).sample(20_000, seed=1)
    key = lambda f: f.astype(str).agg("|".join, axis=1)  # noqa: E731
    assert not key(out).isin(set(key(planted))).any()


def test_bad_input_is_named_never_shown():
    df = mixed(100)
    with pytest.raises(BadInputError, match="empty"):
        GaussianCopula().fit(df.iloc[:0])
    with pytest.raises(BadInputError, match="'void'"):
        GaussianCopula().fit(df.assign(void=np.nan))
    ids = df.assign(patient=[f"SECRET-{i}" for i in range(len(df))])
    with pytest.raises(BadInputError, match="'patient'") as err:
        GaussianCopula().fit(ids)
    assert "SECRET" not in str(err.value)
    assert "patient" not in GaussianCopula().fit(ids, identifiers=["patient"]).sample(5).columns
    gen = GaussianCopula().fit(df)
    for bad in ({"nope": 1}, {"group": "SECRET-unknown"}, {"x": 1e9}):
        with pytest.raises(BadInputError) as err:
            gen.sample(5, conditions=bad)
        assert "SECRET" not in str(err.value) and "1000000000" not in str(err.value)
    for n in (0, -3, 2.5, True):
        with pytest.raises(ConfigurationError, match="positive int"):
            gen.sample(n)
    with pytest.raises(NotFittedError):
        GaussianCopula().sample(5)
    with pytest.raises(ConfigurationError, match="'marginals'"):
        GaussianCopula(marginals="kde").fit(df)
    with pytest.raises(BadInputError, match="not in the table"):
        Schema.infer(df, discrete_columns=["missing_col"])
