"""The evaluation against independent references (the k-marginal score recomputed in plain
Python, copies counted directly), the memorization flag on a deliberately overfitted model,
the HTML page, and augment's cross-validated recommendation."""

from __future__ import annotations

import itertools
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from secured.exceptions import BadInputError, ConfigurationError
from secured.synth import MST, TVAE, GaussianCopula, TabDDPM, augment, evaluate, k_marginal_score
from secured.synth.html import evaluation_html


def small(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.choice(["x", "y", "z"], n), "b": rng.choice(["u", "v"], n),
                         "c": rng.choice(["p", "q"], n), "d": rng.choice(["r", "s", "t"], n)})


def reference_k_marginal(real: pd.DataFrame, other: pd.DataFrame) -> float:
    """SDNist's score written out: every 3-column marginal, sum of |share differences|."""
    totals = []
    for cols in itertools.combinations(real.columns, 3):
        p = Counter(tuple(r) for r in real[list(cols)].itertuples(index=False))
        q = Counter(tuple(r) for r in other[list(cols)].itertuples(index=False))
        cells = set(p) | set(q)
        totals.append(sum(abs(p[c] / len(real) - q[c] / len(other)) for c in cells))
    return 500 * (2 - sum(totals) / len(totals))


def test_k_marginal_matches_a_plain_python_reference():
    real, other = small(700, 0), small(500, 1)
    assert k_marginal_score(real, other) == pytest.approx(reference_k_marginal(real, other), abs=1e-9)
    assert k_marginal_score(real, real) == pytest.approx(1000.0)
    disjoint = real.assign(a="w", b="w", c="w", d="w")
    assert k_marginal_score(real, disjoint) == pytest.approx(0.0)
    # SDNist's CRC form: the group column in every marginal, numbers cut at the real percentiles
    nist = real.assign(puma=np.where(real["a"] == "x", "01", "02"), age=np.arange(len(real)) % 90)
    grouped = k_marginal_score(nist, nist.sample(frac=1, random_state=0), group="puma", exclude=["d"])
    assert grouped == pytest.approx(1000.0)
    with pytest.raises(BadInputError, match="'nope'"):
        k_marginal_score(nist, nist, group="nope")


def random_rows(n: int, seed: int) -> pd.DataFrame:
    """Rows that are almost all unique: unseen rows essentially never copy training rows."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame({f"c{i}": rng.choice(list("abcdef"), n) for i in range(7)})


def test_a_memorizing_generator_is_flagged_and_a_general_one_is_not():
    train, holdout = random_rows(120, 0), random_rows(120, 1)
    # deliberately overfitted: a large diffusion model trained long on 120 rows reproduces them
    memorizer = TabDDPM(iterations=1500, batch_size=120, lr=3e-3, seed=0).fit(train)
    copies = memorizer.sample(400, seed=1)
    report = evaluate(train, copies, holdout, n_attacks=60, seed=0)
    seen = set(train.astype(str).agg("|".join, axis=1))
    direct = copies.astype(str).agg("|".join, axis=1).isin(seen).mean()
    assert report["privacy"]["exact_copies"] == pytest.approx(direct)
    assert direct > 0.3 and report["privacy"]["exact_copies_holdout"] == 0.0
    assert report["privacy"]["memorizes"] and "copy a training row" in report["privacy"]["reasons"][0]
    # the copula keeps shares, not rows: no flag
    general = GaussianCopula(seed=0).fit(train).sample(400, seed=1)
    assert not evaluate(train, general, holdout, n_attacks=60, seed=0)["privacy"]["memorizes"]


def test_the_html_page_shows_scores_never_cells():
    train, holdout = small(400, 0), small(300, 1)
    marked = train.assign(a=np.where(np.arange(len(train)) == 5, "zzmarker", train["a"]))
    syn = GaussianCopula(seed=0).fit(marked).sample(400, seed=1)
    report = evaluate(marked, syn, holdout, target="b", n_attacks=60)
    page = evaluation_html(report)
    assert "k-marginal" in page and "Utility" in page and "Privacy" in page and "zzmarker" not in page
    assert page.startswith("<!doctype html>") and "<script" not in page


def test_augment_says_either_way_and_grows_to_the_size_asked():
    from secured.data import load
    from secured.synth import typed

    df = typed(load("adult")).sample(500, random_state=0).reset_index(drop=True)
    result = augment(df, target="salary-class", to=1200, generator=TVAE(iterations=150, seed=0), folds=2,
                     indicator="synthetic", seed=0)
    assert len(result.table) == 1200 and result.table["synthetic"].sum() == 700
    real_part = result.table.loc[~result.table["synthetic"], df.columns].reset_index(drop=True)
    pd.testing.assert_frame_equal(real_part.astype(str), df.astype(str))
    assert result.metric == "AUROC" and len(result.folds) == 2
    wins = sum(f["with_synthetic"] > f["real_only"] for f in result.folds)
    assert result.recommended == (result.with_synthetic > result.real_only and wins * 2 > 2)
    assert ("helps" if result.recommended else "does not help") in result.message
    minority = augment(df, target="salary-class", to=700, generator=GaussianCopula(), folds=2,
                       conditions={"salary-class": ">50K"}, make_table=True)
    assert (minority.table.iloc[len(df):]["salary-class"] == ">50K").all()


def test_augment_refuses_what_it_cannot_judge():
    df = small(200, 0)
    for kwargs, error in ((dict(target="nope", to=300), BadInputError),
                          (dict(target="a", to=100), ConfigurationError),
                          (dict(target="a", to=300, folds=1), ConfigurationError),
                          (dict(target="a", to=300, indicator="b"), ConfigurationError)):
        with pytest.raises(error):
            augment(df, generator=GaussianCopula(), **kwargs)
    with pytest.raises(BadInputError, match="one class"):
        augment(df.assign(a="x"), target="a", to=300, generator=GaussianCopula())
    with pytest.raises(ConfigurationError, match="DP generator"):
        augment(df, target="a", to=300, generator=MST(epsilon=1.0, delta=1e-6, domain={"a": ["x", "y", "z"]}))
