"""Mondrian local recoding: k recomputed from the release alone, and better utility than the
optimal global recoding on Adult (acceptance 4)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from secured.data import load, path
from secured.exceptions import ConfigurationError
from secured.privacy import Hierarchy, optimal_recoding
from secured.privacy.mondrian import mondrian

from .test_lattice import QIS, independent_k


@pytest.fixture(scope="module")
def adult():
    df = load("adult")
    return df, {c: Hierarchy.from_arx_csv(c, path(f"arx/adult_hierarchy_{c}.csv")) for c in QIS}


def test_adult_k5_beats_global_recoding(adult):
    df, H = adult
    release, report = mondrian(df, QIS, 5, hierarchies=H, numeric=["age"])
    assert len(release) == len(df) and independent_k(release, QIS) >= 5
    sizes = release.groupby(QIS).size().to_numpy().astype(float)
    assert report["discernibility"] == (sizes ** 2).sum()
    assert report["discernibility"] < optimal_recoding(df, QIS, H, k=5).metric
    # every released categorical value is a node of its hierarchy that covers the original
    for c in ["education", "occupation"]:
        table = H[c].table
        covered = [rel in set(table.loc[orig]) for orig, rel in zip(df[c].astype(str), release[c])]
        assert all(covered)
    # numeric ranges contain the original ages
    bounds = release["age"].str.strip("[]").str.split(", ", expand=True).astype(float)
    bounds[1] = bounds[1].fillna(bounds[0])
    ages = df["age"].astype(float)
    assert ((bounds[0] <= ages) & (ages <= bounds[1])).all()


def test_people_counted_once():
    rng = np.random.default_rng(1)
    pid = np.repeat(np.arange(30), 4)
    df = pd.DataFrame({"pid": pid, "age": rng.integers(20, 90, 30)[pid], "los": rng.integers(1, 14, 120)})
    release, _ = mondrian(df, ["age", "los"], 4, numeric=["age", "los"], id_column="pid")
    assert independent_k(release, ["age", "los"], "pid") >= 4


def test_bad_input():
    df = pd.DataFrame({"a": ["1", "x", "3"], "b": ["u", "v", "w"]})
    with pytest.raises(ConfigurationError, match="'a' has missing or non-numeric"):
        mondrian(df, ["a"], 2, numeric=["a"])
    with pytest.raises(ConfigurationError, match="'b' needs a hierarchy"):
        mondrian(df, ["b"], 2)
    with pytest.raises(ConfigurationError, match="larger than the number of rows"):
        mondrian(df, ["b"], 5, hierarchies={"b": Hierarchy.from_prefix("b", df["b"], [])})
    with pytest.raises(ConfigurationError, match="'zz'"):
        mondrian(df, ["zz"], 2)
