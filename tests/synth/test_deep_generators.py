"""TVAE and TabDDPM: dependence learned (against the known truth of a seeded table), mixed
types and missing cells, conditions, seeds, save/load (JSON, no pickle), devices, a planted
rare record, and bad input named without values."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from secured.exceptions import BadInputError, ConfigurationError
from secured.synth import TVAE, TabDDPM
from secured.synth import load as load_generator
from tests.synth.test_copula import mixed

FAST = {"tabddpm": dict(iterations=120, batch_size=256), "tvae": dict(iterations=120, batch_size=256)}
KINDS = {"tabddpm": TabDDPM, "tvae": TVAE}


def coupled(n: int = 4000, seed: int = 0) -> pd.DataFrame:
    """Two categorical copies of one another, a number shifted by one category, and noise."""
    rng = np.random.default_rng(seed)
    a = rng.choice(list("pqrs"), n)
    x = rng.normal(size=n)
    return pd.DataFrame({"a": a, "b": a, "x": x + 3 * (a == "p"), "y": x})


@pytest.mark.parametrize("kind", ["tabddpm", "tvae"])
def test_dependence_is_learned(kind):
    df = coupled()
    gen = KINDS[kind](iterations=800, seed=0, **({"sample_steps": 25} if kind == "tabddpm" else {})).fit(df)
    out = gen.sample(4000, seed=1)
    # independent columns would agree a quarter of the time
    assert (out["a"] == out["b"]).mean() > 0.9
    shift = out.loc[out["a"] == "p", "x"].mean() - out.loc[out["a"] != "p", "x"].mean()
    assert shift == pytest.approx(3.0, abs=0.6)
    for c in ("a", "b"):
        share = out[c].value_counts(normalize=True)
        assert (share - 0.25).abs().max() < 0.05


@pytest.mark.parametrize("kind", ["tabddpm", "tvae"])
def test_mixed_types_missing_cells_and_the_schema(kind):
    df = mixed(1500)
    gen = KINDS[kind](seed=0, **FAST[kind]).fit(df)
    out = gen.sample(3000, seed=2)
    assert list(out.columns) == list(df.columns)
    assert pd.api.types.is_datetime64_any_dtype(out["admitted"])
    assert out["admitted"].between(df["admitted"].min(), df["admitted"].max()).all()
    assert (out["count"] == out["count"].round()).all() and out["count"].min() >= df["count"].min()
    assert out["lab"].isna().mean() == pytest.approx(df["lab"].isna().mean(), abs=0.1)
    assert out["ward"].isna().any() and set(out["ward"].dropna()) <= {"A", "B"}
    assert (out["site"] == "one").all()


@pytest.mark.parametrize("kind", ["tabddpm", "tvae"])
def test_conditions_seeds_and_save_load(kind, tmp_path):
    df = mixed(1200)
    gen = KINDS[kind](seed=0, **FAST[kind]).fit(df)
    high = gen.sample(500, conditions={"group": "high"}, seed=3)
    assert (high["group"] == "high").all()
    partial = pd.DataFrame({"group": ["low", None, "mid"], "x": [None, 70.0, None], "count": [None, None, 4]})
    rows = gen.sample(conditions=partial, seed=4)
    assert rows.loc[0, "group"] == "low" and rows.loc[1, "x"] == 70.0 and rows.loc[2, "count"] == 4
    pd.testing.assert_frame_equal(gen.sample(200, seed=5), gen.sample(200, seed=5))
    assert not gen.sample(200, seed=5).equals(gen.sample(200, seed=6))
    path = tmp_path / "gen.json"
    gen.save(str(path))
    data = json.loads(path.read_text())
    assert data["generator"] == kind and "weights" in data["state"]
    again = load_generator(str(path))
    pd.testing.assert_frame_equal(gen.sample(300, seed=9), again.sample(300, seed=9), check_exact=False, rtol=1e-5)


def test_the_same_seed_gives_the_same_model():
    df = coupled(800)
    one = TabDDPM(seed=7, **FAST["tabddpm"]).fit(df).sample(100, seed=1)
    two = TabDDPM(seed=7, **FAST["tabddpm"]).fit(df).sample(100, seed=1)
    pd.testing.assert_frame_equal(one, two)


@pytest.mark.parametrize("kind", ["tabddpm", "tvae"])
def test_a_planted_rare_record_is_not_reproduced(kind):
    from secured.data import load
    from secured.synth import typed

    df = typed(load("adult").head(3000))
    planted = df.iloc[[0]].copy()
    planted[["native-country", "occupation", "education"]] = ["Holand-Netherlands", "Armed-Forces", "Preschool"]
    df = pd.concat([df, planted], ignore_index=True)
    out = KINDS[kind](seed=0, iterations=300).fit(df).sample(20_000, seed=1)
    key = lambda f: f.astype(str).agg("|".join, axis=1)  # noqa: E731
    assert not key(out).isin(set(key(planted))).any()


@pytest.mark.parametrize("kind", ["tabddpm", "tvae"])
def test_bad_input_is_named_never_shown(kind):
    df = mixed(300)
    cls = KINDS[kind]
    with pytest.raises(BadInputError, match="empty"):
        cls(**FAST[kind]).fit(df.iloc[:0])
    with pytest.raises(BadInputError, match="'void'"):
        cls(**FAST[kind]).fit(df.assign(void=np.nan))
    ids = df.assign(patient=[f"SECRET-{i}" for i in range(len(df))])
    with pytest.raises(BadInputError, match="'patient'") as err:
        cls(**FAST[kind]).fit(ids)
    assert "SECRET" not in str(err.value)
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(ConfigurationError, match="no CUDA GPU"):
            cls(device="cuda", **FAST[kind]).fit(df)
    for bad in (dict(iterations=0), dict(iterations=2.5), dict(lr=-1.0), dict(layers=[]), dict(device="tpu")):
        with pytest.raises(ConfigurationError):
            cls(**{**FAST[kind], **bad}).fit(df)
    gen = cls(**FAST[kind]).fit(df)
    for condition in ({"nope": 1}, {"group": "SECRET-unknown"}, {"x": 1e9}, {"count": 2.5}):
        with pytest.raises(BadInputError) as err:
            gen.sample(5, conditions=condition)
        assert "SECRET" not in str(err.value) and "1000000000" not in str(err.value)
    with pytest.raises(ConfigurationError, match="positive int"):
        gen.sample(0)


def test_a_malformed_generator_file_is_refused(tmp_path):
    gen = TVAE(**FAST["tvae"]).fit(coupled(300))
    path = tmp_path / "g.json"
    gen.save(str(path))
    data = json.loads(path.read_text())
    data["state"]["weights"]["out.weight"]["shape"] = [1, 1]
    path.write_text(json.dumps(data))
    with pytest.raises(BadInputError, match="malformed"):
        load_generator(str(path))


def test_tabddpm_conditioning_on_a_target_keeps_it_clean():
    df = coupled(2000)
    gen = TabDDPM(iterations=600, seed=0, condition_on="a").fit(df)
    out = gen.sample(3000, seed=1)
    # the target is drawn from its training shares, the rest follows it
    assert (out["a"].value_counts(normalize=True) - 0.25).abs().max() < 0.04
    assert (out["a"] == out["b"]).mean() > 0.9
    only_p = gen.sample(300, conditions={"a": "p"}, seed=2)
    assert (only_p["a"] == "p").all() and only_p["x"].mean() > 2
    with pytest.raises(ConfigurationError, match="'condition_on'"):
        TabDDPM(iterations=5, condition_on="x").fit(df)
    again = TabDDPM.__new__(TabDDPM)
    from secured.synth import dumps, loads

    again = loads(dumps(gen))
    pd.testing.assert_frame_equal(again.sample(100, seed=3), gen.sample(100, seed=3), check_exact=False, rtol=1e-5)
