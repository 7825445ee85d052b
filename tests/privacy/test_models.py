"""k, l and t on released tables against plain-Python recomputations and hand-worked values."""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import pandas as pd
import pytest

from secured.data import load, path
from secured.exceptions import ConfigurationError
from secured.privacy import Hierarchy
from secured.privacy.models import check_k_anonymity, check_l_diversity, check_t_closeness


def _classes(df, qis, sensitive):
    out = defaultdict(list)
    for key, s in zip(df[qis].itertuples(index=False), df[sensitive]):
        out[tuple(key)].append(str(s))
    return out


@pytest.fixture(scope="module")
def release():
    df = load("adult")
    qis = ["age", "sex", "race"]
    h = {c: Hierarchy.from_arx_csv(c, path(f"arx/adult_hierarchy_{c}.csv")) for c in qis}
    out = df.copy()
    out["age"] = h["age"].generalize(df["age"], 2)
    return out, qis


def test_l_diversity_variants_match_plain_python(release):
    df, qis = release
    classes = _classes(df, qis, "occupation")
    distinct = min(len(set(v)) for v in classes.values())
    entropy = min(math.exp(-sum(c / len(v) * math.log(c / len(v)) for c in Counter(v).values()))
                  for v in classes.values())
    assert check_l_diversity(df, qis, "occupation") == distinct
    assert abs(check_l_diversity(df, qis, "occupation", "entropy") - entropy) < 1e-9

    def recursive_l(v, c):
        r = sorted(Counter(v).values(), reverse=True)
        return max([l for l in range(1, len(r) + 1) if r[0] < c * sum(r[l - 1:])], default=0)

    assert check_l_diversity(df, qis, "occupation", "recursive", c=2) == min(recursive_l(v, 2) for v in classes.values())


def test_t_closeness_equal_and_ordered_match_plain_python(release):
    df, qis = release
    classes = _classes(df, qis, "salary-class")
    glob = Counter(df["salary-class"])
    n = len(df)
    t_equal = max(0.5 * sum(abs(Counter(v)[x] / len(v) - glob[x] / n) for x in glob) for v in classes.values())
    assert abs(check_t_closeness(df, qis, "salary-class") - t_equal) < 1e-12
    numeric = df.assign(edu=df["education"].astype("category").cat.codes)
    classes = _classes(numeric, qis, "edu")
    order = sorted(set(int(x) for x in numeric["edu"]))
    gq = Counter(int(x) for x in numeric["edu"])

    def ordered(v):
        cv = Counter(int(x) for x in v)
        run, total = 0.0, 0.0
        for x in order:
            run += cv[x] / len(v) - gq[x] / n
            total += abs(run)
        return total / (len(order) - 1)

    assert abs(check_t_closeness(numeric, qis, "edu", "ordered") - max(ordered(v) for v in classes.values())) < 1e-12


def test_hierarchical_distance_hand_worked():
    """Li et al.'s example shape: leaves a1, a2 under A and b1 under B, root '*'.
    Classes {a1, a1} and {a2, b1}; both end up at EMD 0.375."""
    h = Hierarchy("s", pd.DataFrame({0: ["a1", "a2", "b1"], 1: ["A", "A", "B"], 2: ["*", "*", "*"]},
                                    index=["a1", "a2", "b1"]))
    df = pd.DataFrame({"q": [0, 0, 1, 1], "s": ["a1", "a1", "a2", "b1"]})
    # class q=0 vs global (a1 .5, a2 .25, b1 .25): extras (.5, -.25, -.25)
    # level 1 (height 1/2): A's children a1 +.5, a2 -.25 -> min(.5, .25) = .25 -> .125
    #                       B's child b1 -.25 -> 0
    # level 2 (height 1):   root's children A +.25, B -.25 -> .25
    assert abs(check_t_closeness(df, ["q"], "s", "hierarchical", hierarchy=h) - 0.375) < 1e-12


def test_k_counts_people_and_bad_input():
    df = pd.DataFrame({"q": ["a"] * 4 + ["b"] * 3, "pid": [1, 1, 2, 3, 4, 5, 5]})
    assert check_k_anonymity(df, ["q"]) == 3
    assert check_k_anonymity(df, ["q"], id_column="pid") == 2
    with pytest.raises(ConfigurationError, match="'qq'"):
        check_k_anonymity(df, ["qq"])
    with pytest.raises(ConfigurationError, match="empty"):
        check_k_anonymity(df.iloc[:0], ["q"])
    with pytest.raises(ConfigurationError, match="variant"):
        check_l_diversity(df, ["q"], "pid", "weird")
