"""Longitudinal records: people with many rows whose items (diagnoses, procedures,
prescriptions) an attacker combines across those rows.

A person-level view (``PersonItems``) reads an id column and the columns that hold items (one
code per cell, e.g. ``diag_1, diag_2, diag_3``): a person's items are the set of codes in all
their rows (missing cells and the suppression mark ``*`` are no item). On it:

- ``km_anonymity(view, k, m)``: every combination of up to ``m`` items held by someone is
  held by at least ``k`` people (Terrovitis et al., VLDB 2008); with ``classes`` (the
  released quasi-identifier class of each row) the combinations are counted within each
  class, which is (k, k^m)-anonymity for demographics plus items (Poulis et al., 2013).
- ``m_uniqueness(view, m)``: the share of people unique under m known items: ``worst`` (some
  m of their items are held by nobody else) and ``expected`` (m of their items drawn at
  random single them out; a person with fewer than m items is known by all of them).
- ``item_attacks(...)``: the attacker knows a target's quasi-identifiers and ``m`` of the
  target's items (both generalized as the release was) and looks for the people of the
  release that hold all of it. Singling-out: exactly one released person matches.
  Linkability: two sources each hold the demographics and other items of the target; the
  attacker links them through the release (a matching person picked at random on each side;
  the expected success is counted exactly). Singling-out and linkability are the residual
  risk (A - C) / (1 - C) of targets from the release's people against targets from the
  control, with Wilson intervals, as the row attacks (``PrivacyRisk``). Membership (some
  released person matches) is scored as the membership advantage A - C (true minus false
  positive rate), since nearly every control target matches someone once patterns are
  shared by k people and the residual form would then divide by almost nothing.
- ``ItemRecoding``: the protection: items generalized along their hierarchy to one level for
  the whole table, then the item of each violating combination held by the fewest people
  suppressed for the people holding it, until (k, k^m) holds; the level with the least
  information loss within the suppression budget is chosen (``fit``).

Combinations are enumerated per person from the sorted item codes, grouped by set size and
counted with one ``np.unique``: diabetes130 (71,518 patients, 268,206 patient-items) has
0.86 million 3-item combinations.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..exceptions import BadInputError, ConfigurationError
from .attacks import AttackResult, residual_risk, wilson
from .hierarchy import Hierarchy

__all__ = ["PersonItems", "km_anonymity", "m_uniqueness", "item_attacks", "ItemRecoding", "SUPPRESSED",
           "DATE_PRECISIONS", "dated_items"]

SUPPRESSED = "*"
# Date precisions, finest first; "none" drops the dates (an item is its code alone).
DATE_PRECISIONS = ("day", "month", "quarter", "year", "none")
_PERIOD = {"day": "D", "month": "M", "quarter": "Q", "year": "Y"}
_DAYS = {"day": 1.0, "month": 30.44, "quarter": 91.31, "year": 365.25}


def _check_dates(df: pd.DataFrame, items: Sequence[str], dates: Any) -> dict[str, str]:
    """``dates`` maps item columns to the column that dates them (several items may share one)."""
    if dates is None:
        return {}
    if not isinstance(dates, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in dates.items()):
        raise ConfigurationError("Item dates are a mapping from item column to date column, e.g. "
                                 "{'diag_1': 'admitted'}.")
    stray = [c for c in dates if c not in items]
    if stray:
        raise ConfigurationError(f"Dated column(s) {', '.join(map(repr, stray))} are not item columns.")
    missing = sorted({c for c in dates.values() if c not in df.columns})
    if missing:
        raise BadInputError(f"Date column(s) {', '.join(map(repr, missing))} not in the table ({df.shape[1]} columns).")
    return dict(dates)


def _check_precision(precision: Any, name: str = "date_precision") -> str:
    if precision not in DATE_PRECISIONS:
        raise ConfigurationError(f"The {name!r} parameter must be one of {', '.join(DATE_PRECISIONS)}. "
                                 f"Got {precision!r} instead.")
    return precision


def _period_start(values: pd.Series, column: str) -> tuple[pd.Series, str]:
    """(start timestamp of every value, coarsest precision seen) for a column of dates or of
    released period labels ('2019-03-14', '2019-03', '2019Q1', '2019'); '*' and missing stay
    missing. A value that is no date is refused by column name, never shown."""
    text = values.astype("string")
    present = values.notna() & (text != SUPPRESSED)
    unique = pd.unique(values[present])
    starts, coarsest = {}, 0
    order = {"D": 0, "M": 1, "Q": 2, "Y": 3, "A": 3}
    for value in unique:
        try:
            if isinstance(value, (pd.Timestamp, np.datetime64)) or hasattr(value, "year"):
                stamp, rank = pd.Timestamp(value), 0
            else:
                period = pd.Period(str(value).strip())
                stamp, rank = period.start_time, order.get(period.freqstr[0], 0)
        except (ValueError, TypeError, OverflowError):
            raise BadInputError(f"The date column {column!r} has values that do not parse as dates; use ISO dates "
                                "(2019-03-14) or periods (2019-03, 2019Q1, 2019).") from None
        if pd.isna(stamp):
            raise BadInputError(f"The date column {column!r} has values that do not parse as dates.")
        starts[value] = stamp
        coarsest = max(coarsest, rank)
    out = pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]")
    if len(unique):
        out[present] = values[present].map(starts).astype("datetime64[ns]")
    return out, ("day", "month", "quarter", "year")[coarsest]


def coarser(a: str, b: str) -> str:
    """The coarser of two date precisions."""
    return DATE_PRECISIONS[max(DATE_PRECISIONS.index(a), DATE_PRECISIONS.index(b))]


def date_labels(values: pd.Series, column: str, precision: str) -> pd.Series:
    """Dates (or released period labels no finer than ``precision``) as period labels at
    ``precision`` ('*' for "none"); missing stays missing."""
    precision = _check_precision(precision)
    starts, _ = _period_start(values, column)
    if precision == "none":
        return pd.Series(np.where(starts.notna(), SUPPRESSED, None), index=values.index, dtype=object)
    labels = pd.Series(None, index=values.index, dtype=object)
    ok = starts.notna()
    if ok.any():
        labels[ok] = starts[ok].dt.to_period(_PERIOD[precision]).astype(str).to_numpy()
    return labels


def precision_of(df: pd.DataFrame, dates: dict[str, str]) -> str:
    """The coarsest precision of the table's date columns (a release's labels show theirs)."""
    found = "day"
    for column in sorted(set(dates.values())):
        values = df[column]
        if values.isna().all() or (values.astype("string") == SUPPRESSED).all():
            found = "none"
            continue
        found = coarser(found, _period_start(values, column)[1])
    return found


def dated_items(df: pd.DataFrame, items: Sequence[str], dates: dict[str, str] | None,
                precision: str | None = None) -> pd.DataFrame:
    """The table with each dated item cell written as ``code@period`` (the date at
    ``precision``, or as given when None); an item whose date is missing or dropped is its
    code alone. Undated items and other columns are unchanged."""
    if not dates:
        return df
    out = df.copy()
    labels = {}
    for column in sorted(set(dates.values())):
        given = precision or precision_of(df, {column: column})
        labels[column] = date_labels(df[column], column, given) if given != "none" else \
            pd.Series(None, index=df.index, dtype=object)
    for item, column in dates.items():
        code = df[item]
        present = (code.notna() & (code.astype("string") != SUPPRESSED)).to_numpy()
        when = labels[column].to_numpy(dtype=object)
        dated = present & pd.notna(when) & (when != SUPPRESSED)
        cells = out[item].astype(object).to_numpy(copy=True)
        cells[dated] = code.astype(str).to_numpy()[dated] + "@" + when[dated].astype(str)
        out[item] = cells
    return out


def _check_m(m: Any) -> int:
    if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or not 1 <= m <= 4:
        raise ConfigurationError(f"The 'm' parameter (items an attacker knows) must be an int in [1, 4]. "
                                 f"Got {m!r} instead.")
    return int(m)


def _check_items(df: pd.DataFrame, id_column: str | None, items: Sequence[str]) -> list[str]:
    if isinstance(items, str) or not items:
        raise ConfigurationError("Name the item columns as a list (e.g. diag_1, diag_2, diag_3).")
    if not id_column:
        raise ConfigurationError("Item columns need an id column: a person's items are gathered from their rows.")
    missing = [c for c in [id_column, *items] if c not in df.columns]
    if missing:
        raise BadInputError(f"Column(s) {', '.join(map(repr, missing))} not in the table ({df.shape[1]} columns).")
    if df[id_column].isna().any():
        raise BadInputError(f"The id column {id_column!r} has missing values.")
    return list(items)


@dataclass
class PersonItems:
    """People and their item sets as CSR arrays over an item vocabulary."""

    people: np.ndarray          # person id values, in code order
    vocabulary: np.ndarray      # item labels, in code order
    indptr: np.ndarray          # items of person p: indices[indptr[p]:indptr[p + 1]], sorted
    indices: np.ndarray
    person_of_row: np.ndarray   # person code of every row of the table

    @classmethod
    def from_frame(cls, df: pd.DataFrame, id_column: str, items: Sequence[str],
                   vocabulary: np.ndarray | None = None, dates: dict[str, str] | None = None,
                   precision: str | None = None) -> "PersonItems":
        """The view of ``df``; with ``dates`` (item column -> date column) an item is the pair
        (code, date at ``precision``, or at the table's own precision when None)."""
        items = _check_items(df, id_column, items)
        if dates:
            df = dated_items(df, items, _check_dates(df, items, dates), precision)
        person_of_row, people = pd.factorize(df[id_column], sort=False)
        cells = np.concatenate([df[c].to_numpy(dtype=object) for c in items])
        owner = np.tile(person_of_row, len(items))
        text = pd.Series(cells, dtype=object)
        present = text.notna().to_numpy() & (text.astype(str).to_numpy() != SUPPRESSED)
        labels = text[present].astype(str).to_numpy()
        if vocabulary is None:
            vocabulary, codes = np.unique(labels, return_inverse=True)
        else:
            vocabulary = np.asarray(vocabulary, dtype=object)
            codes = pd.Index(vocabulary).get_indexer(labels)
            known = codes >= 0
            labels, codes, owner_present = labels[known], codes[known], owner[present][known]
            pairs = np.unique(np.stack([owner_present, codes], axis=1), axis=0) if len(codes) else np.zeros((0, 2),
                                                                                                             np.int64)
            return cls._build(people, vocabulary, pairs, len(people), person_of_row)
        pairs = np.unique(np.stack([owner[present], codes.astype(np.int64)], axis=1), axis=0) \
            if len(codes) else np.zeros((0, 2), np.int64)
        return cls._build(np.asarray(people), np.asarray(vocabulary, dtype=object), pairs, len(people), person_of_row)

    @classmethod
    def _build(cls, people, vocabulary, pairs, n_people, person_of_row) -> "PersonItems":
        counts = np.bincount(pairs[:, 0], minlength=n_people) if len(pairs) else np.zeros(n_people, np.int64)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        return cls(np.asarray(people), vocabulary, indptr, pairs[:, 1].astype(np.int64),
                   np.asarray(person_of_row, dtype=np.int64))

    @property
    def n_people(self) -> int:
        return len(self.indptr) - 1

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.indptr)

    def items_of(self, person: int) -> np.ndarray:
        return self.indices[self.indptr[person]:self.indptr[person + 1]]

    def combinations(self, m: int, *, exact_size: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """(combos: rows of m item codes, owner person of each row) for every m-subset of every
        person's items; with ``exact_size=False`` a person with fewer than m items contributes
        their whole set (padded with -1)."""
        combos, owners = [], []
        sizes = self.sizes
        for n in np.unique(sizes):
            n = int(n)
            if n == 0 or (n < m and exact_size):
                continue
            who = np.flatnonzero(sizes == n)
            block = self.indices[self.indptr[who][:, None] + np.arange(n)[None, :]]     # people x n
            width = min(m, n)
            pick = np.array(list(itertools.combinations(range(n), width)), dtype=np.int64)
            chosen = block[:, pick]                                                      # people x C x width
            if width < m:
                chosen = np.concatenate([chosen, np.full(chosen.shape[:2] + (m - width,), -1)], axis=2)
            combos.append(chosen.reshape(-1, m))
            owners.append(np.repeat(who, len(pick)))
        if not combos:
            return np.zeros((0, m), np.int64), np.zeros(0, np.int64)
        return np.concatenate(combos), np.concatenate(owners)


def _count_people(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(inverse, people per distinct key) for rows of ``keys`` (each person enumerates each
    of its combinations once, so rows of one key belong to distinct people)."""
    if len(keys) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
    return inverse.ravel(), counts


def _person_classes(view: PersonItems, classes: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(person, class) pairs: every class a person's rows fall in (one pseudo-class without)."""
    if classes is None:
        return np.arange(view.n_people), np.zeros(view.n_people, np.int64)
    pairs = np.unique(np.stack([view.person_of_row, np.asarray(classes, dtype=np.int64)], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


def _keyed_combinations(view: PersonItems, m: int, classes: np.ndarray | None, exact_size: bool = True):
    """Rows (class, item_1..item_m) with their owner person, for every class a person is in."""
    combos, owners = view.combinations(m, exact_size=exact_size)
    person, klass = _person_classes(view, classes)
    if classes is None:
        return np.concatenate([np.zeros((len(combos), 1), np.int64), combos], axis=1), owners
    order = np.argsort(person, kind="stable")
    person, klass = person[order], klass[order]
    start = np.searchsorted(person, owners, side="left")
    stop = np.searchsorted(person, owners, side="right")
    repeat = stop - start
    rows = np.repeat(np.arange(len(owners)), repeat)
    ends = np.cumsum(repeat)
    offsets = np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - repeat - start, repeat)
    return np.concatenate([klass[offsets][:, None], combos[rows]], axis=1), owners[rows]


def km_anonymity(view: PersonItems, k: int, m: int, classes: np.ndarray | None = None) -> dict[str, Any]:
    """Whether every combination of up to ``m`` items (within each class when ``classes``, the
    class label of every row, is given) is held by at least ``k`` people; per size j the
    number of combinations held by fewer and the people holding them."""
    m = _check_m(m)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ConfigurationError(f"The 'k' parameter must be an int >= 1. Got {k!r} instead.")
    by_size = {}
    holds = True
    for j in range(1, m + 1):
        keys, owners = _keyed_combinations(view, j, classes)
        inverse, counts = _count_people(keys)
        rare = counts < k
        people = np.unique(owners[rare[inverse]]) if len(owners) else np.zeros(0)
        by_size[j] = {"combinations": int(len(counts)), "below_k": int(rare.sum()), "people_involved": int(len(people))}
        holds &= not rare.any()
    return {"k": int(k), "m": m, "within_classes": classes is not None, "holds": bool(holds), "by_size": by_size}


def m_uniqueness(view: PersonItems, m: int, classes: np.ndarray | None = None) -> dict[str, float]:
    """Share of people singled out by m of their items (with their class when given):
    ``worst`` some m of their items are theirs alone; ``expected`` over m items drawn at random.
    A person with fewer than m items is known by all of them, matched against everyone who
    holds them all."""
    m = _check_m(m)
    if view.n_people == 0:
        return {"m": m, "worst": 0.0, "expected": 0.0}
    sizes = view.sizes
    unique_count = np.zeros(view.n_people)
    total_count = np.zeros(view.n_people)
    for j in range(1, m + 1):
        keys, owners = _keyed_combinations(view, j, classes)
        if len(keys) == 0:
            continue
        inverse, counts = _count_people(keys)
        mine = sizes[owners] == j if j < m else sizes[owners] >= m   # whose knowledge has j items
        unique = (counts[inverse] == 1) & mine
        unique_count += np.bincount(owners, weights=unique, minlength=view.n_people)
        total_count += np.bincount(owners, weights=mine, minlength=view.n_people)
    has_items = sizes > 0
    expected = np.where(total_count > 0, unique_count / np.maximum(total_count, 1), 0.0)
    return {"m": m, "worst": float((unique_count[has_items] > 0).mean()) if has_items.any() else 0.0,
            "expected": float(expected[has_items].mean()) if has_items.any() else 0.0}


# -- attacks ----------------------------------------------------------------------------------------

def _demo_keys(frame: pd.DataFrame, qis: list[str]) -> np.ndarray:
    """One string per row joining its quasi-identifier values (the attacker's demographics)."""
    if not qis:
        return np.full(len(frame), "", dtype=object)
    key = frame[qis[0]].astype(str).astype(object)
    for c in qis[1:]:
        key = key + "\x1f" + frame[c].astype(str).astype(object)
    return key.to_numpy(dtype=object)


class _ReleaseIndex:
    """Released people by (demographic key, item): sorted person lists, for matching."""

    def __init__(self, release: pd.DataFrame, id_column: str, items: list[str], qis: list[str]) -> None:
        self.view = PersonItems.from_frame(release, id_column, items)
        self.vocab = {v: i for i, v in enumerate(self.view.vocabulary)}
        demo_code, demos = pd.factorize(pd.Series(_demo_keys(release, qis), dtype=object), sort=False)
        self.demos = {d: i for i, d in enumerate(demos)}
        person_demo = np.unique(np.stack([self.view.person_of_row, demo_code.astype(np.int64)], axis=1), axis=0)
        owner = np.repeat(np.arange(self.view.n_people), self.view.sizes)
        # join (person, demo) with (person, item) on person: every (demo, item, person) triple
        order = np.argsort(owner, kind="stable")
        owner_sorted, item_sorted = owner[order], self.view.indices[order]
        lo = np.searchsorted(owner_sorted, person_demo[:, 0], side="left")
        hi = np.searchsorted(owner_sorted, person_demo[:, 0], side="right")
        reps = hi - lo
        which = np.repeat(np.arange(len(person_demo)), reps)
        ends = np.cumsum(reps)
        pos = np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - reps - lo, reps)
        demo_t, item_t, person_t = person_demo[which, 1], item_sorted[pos], person_demo[which, 0]
        n_items = max(len(self.view.vocabulary), 1)
        key = demo_t * n_items + item_t
        sort = np.lexsort((person_t, key))
        self.key, self.person = key[sort], person_t[sort]
        self.n_items = n_items

    def _holders(self, demo: int, item: int) -> np.ndarray:
        key = demo * self.n_items + item
        return self.person[np.searchsorted(self.key, key, "left"):np.searchsorted(self.key, key, "right")]

    def matches(self, demo: str, known: Sequence[str]) -> np.ndarray:
        """Released people with these demographics who hold every known item (sorted)."""
        d = self.demos.get(demo)
        if d is None:
            return np.zeros(0, np.int64)
        codes = [self.vocab.get(item) for item in known]
        if any(c is None for c in codes):
            return np.zeros(0, np.int64)
        if not codes:   # no items known: everyone with the demographics
            return np.unique(self.person[np.searchsorted(self.key, d * self.n_items, "left"):
                                         np.searchsorted(self.key, (d + 1) * self.n_items, "left")])
        lists = sorted((self._holders(d, c) for c in codes), key=len)
        people = lists[0]
        for other in lists[1:]:
            if len(people) == 0:
                break
            people = people[np.isin(people, other, assume_unique=True)]
        return people


def _targets(frame: pd.DataFrame, id_column: str, items: list[str], qis: list[str], n: int,
             rng: np.random.Generator) -> list[tuple[Any, str, list[str]]]:
    """(person id, demographic key of one of their rows, their item set) for ``n`` random people."""
    people = pd.unique(frame[id_column])
    chosen = people[np.sort(rng.choice(len(people), min(n, len(people)), replace=False))]
    picked = frame[frame[id_column].isin(chosen)]
    view = PersonItems.from_frame(picked, id_column, items)
    keys = _demo_keys(picked, qis)
    # one random row per person gives the demographics the attacker knows
    shuffled = rng.permutation(len(picked))
    first = pd.Series(shuffled).groupby(view.person_of_row[shuffled], sort=True).first()
    demo_of = np.empty(view.n_people, dtype=object)
    demo_of[first.index.to_numpy()] = keys[first.to_numpy()]
    labels = view.vocabulary
    return [(view.people[p], demo_of[p], list(labels[view.items_of(p)])) for p in range(view.n_people)]


def item_attacks(original: pd.DataFrame, release: pd.DataFrame, control: pd.DataFrame, *, id_column: str,
                 items: Sequence[str], quasi_identifiers: Sequence[str], m: int, n_attacks: int = 2000,
                 generalize: Any = None, seed: int = 0, dates: dict[str, str] | None = None,
                 attacker_precision: str = "day") -> list[AttackResult]:
    """Singling-out, linkability and membership by an attacker who knows a target's
    quasi-identifiers and ``m`` of their items (see the module docstring). ``generalize``
    (e.g. the fitted ``Anonymizer``'s ``transform``) maps the targets' rows as the release was
    made; without it they are compared as they are. With ``dates`` (item column -> date
    column) the attacker knows each known item's date to ``attacker_precision`` and matches
    it at the coarser of that and the release's own precision."""
    m = _check_m(m)
    items, qis = list(items), list(quasi_identifiers)
    for name, frame in (("original", original), ("release", release), ("control", control)):
        _check_items(frame, id_column, items)
        _check_dates(frame, items, dates)
        missing = [c for c in qis if c not in frame.columns]
        if missing:
            raise BadInputError(f"Column(s) {', '.join(map(repr, missing))} not in the {name} table.")
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    ori = generalize(original) if generalize is not None else original
    ctl = generalize(control) if generalize is not None else control
    matched_at = None
    if dates:
        matched_at = coarser(_check_precision(attacker_precision, "attacker_precision"), precision_of(release, dates))
        release, ori, ctl = (dated_items(f, items, dates, matched_at) for f in (release, ori, ctl))
    index = _ReleaseIndex(release, id_column, items, qis)
    outcomes = {}
    for side, frame in (("attack", ori), ("control", ctl)):
        single = link = member = 0.0
        targets = _targets(frame, id_column, items, qis, n_attacks, rng)
        for _, demo, held in targets:
            order = rng.permutation(len(held))
            known = [held[i] for i in order[:m]]
            found = index.matches(demo, known)
            single += len(found) == 1
            member += len(found) > 0
            other = [held[i] for i in order[m:2 * m]] or known
            found_b = index.matches(demo, other)
            if len(found) and len(found_b):
                link += len(np.intersect1d(found, found_b)) / (len(found) * len(found_b))
        outcomes[side] = (single, link, member, len(targets))
    # baseline: knowledge drawn from random released people's demographics and random released items
    base = {"singling_out": 0.0, "linkability": 0.0, "membership": 0.0}
    demos = list(index.demos)
    n_base = outcomes["attack"][3]
    for _ in range(n_base):
        demo = demos[int(rng.integers(len(demos)))] if demos else ""
        known = list(rng.choice(index.view.vocabulary, min(m, len(index.view.vocabulary)), replace=False)) \
            if len(index.view.vocabulary) else []
        found = index.matches(demo, known)
        base["singling_out"] += len(found) == 1
        base["membership"] += len(found) > 0
    results = []
    names = ("singling_out", "linkability", "membership")
    for i, name in enumerate(names):
        hits, n_a = outcomes["attack"][i], outcomes["attack"][3]
        control_hits, n_c = outcomes["control"][i], outcomes["control"][3]
        a, c = wilson(hits, max(n_a, 1)), wilson(control_hits, max(n_c, 1))
        risk = residual_risk(a, c) if name != "membership" else _advantage(a, c)
        results.append(AttackResult(f"{name}_items_m{m}", risk, a, wilson(base.get(name, 0.0), max(n_a, 1)), c,
                                    int(n_a), {"attack": float(hits), "baseline": float(base.get(name, 0.0)),
                                               "control": float(control_hits)},
                                    time.perf_counter() - start,
                                    {"knows": f"the quasi-identifiers and {m} item(s) of the target"
                                              + (f", dated to the {matched_at}" if matched_at not in (None, "none")
                                                 else ""),
                                     "items": items, "m": m, "control_targets": int(n_c),
                                     "dates": dict(dates) if dates else None, "dates_matched_at": matched_at}))
    return results


def _advantage(attack, control):
    """Membership advantage: true-positive minus false-positive rate, clipped to [0, 1], with
    both rates' Wilson errors combined (a residual form would divide by the non-members left
    unmatched, which vanish once every pattern is shared by k people)."""
    from .attacks import PrivacyRisk

    value = attack.value - control.value
    err = math.hypot(attack.error, control.error)
    clip = lambda x: min(max(x, 0.0), 1.0)  # noqa: E731
    return PrivacyRisk(clip(value), (clip(value - err), clip(value + err)))


# -- protection: item generalization and suppression ------------------------------------------------

@dataclass
class ItemRecoding:
    """Items generalized to one level of ``hierarchy`` (and their dates, with ``dates``, to one
    precision) and rare combinations suppressed until (k, k^m) holds (see the module
    docstring). ``fit(df, classes)`` chooses the level and precision (``date_precision`` fixes
    the precision instead of searching it); ``transform`` rewrites the item and date columns
    of a table (suppressed items become '*', dropped dates too)."""

    items: list[str]
    id_column: str
    k: int
    m: int
    hierarchy: Hierarchy | None = None
    max_item_suppression: float = 0.1
    dates: dict[str, str] | None = None
    date_precision: str | None = None
    levels_: list[dict] = field(default_factory=list, init=False)

    def _generalized(self, df: pd.DataFrame, level: int, precision: str | None = None) -> pd.DataFrame:
        out = df.copy()
        if level and self.hierarchy is not None:
            for c in self.items:
                values = df[c]
                present = (values.notna() & (values.astype(str) != SUPPRESSED)).to_numpy()
                column = out[c].astype(object).to_numpy(copy=True)
                column[present] = self.hierarchy.generalize(values[present], level).to_numpy()
                out[c] = column
        if self.dates and precision is not None:
            for column in sorted(set(self.dates.values())):
                out[column] = date_labels(df[column], column, precision)
        return out

    def _tokens(self, df: pd.DataFrame, precision: str | None) -> pd.DataFrame:
        return dated_items(df, self.items, self.dates, precision) if self.dates else df

    def _suppress(self, df: pd.DataFrame, classes: np.ndarray | None,
                  precision: str | None = None) -> tuple[pd.DataFrame, int, int]:
        """The table with the items of rare combinations suppressed; (table, suppressed
        person-items, person-items before)."""
        tokens = self._tokens(df, precision)
        view = PersonItems.from_frame(tokens, self.id_column, self.items)
        total = int(len(view.indices))
        width = max(len(view.vocabulary), 1)
        owner = np.repeat(np.arange(view.n_people), view.sizes)
        pair_keys = owner * width + view.indices                     # one key per person-item
        removed = np.zeros(0, np.int64)
        support = np.bincount(view.indices, minlength=len(view.vocabulary))
        for _ in range(50):
            if len(removed):
                keep = ~np.isin(pair_keys, removed)
                pairs = np.stack([owner[keep], view.indices[keep]], axis=1)
                current = PersonItems._build(view.people, view.vocabulary, pairs, view.n_people, view.person_of_row)
            else:
                current = view
            changed = False
            for j in range(1, self.m + 1):
                keys, owners = _keyed_combinations(current, j, classes)
                inverse, counts = _count_people(keys)
                rare = np.flatnonzero(counts[inverse] < self.k)
                if len(rare) == 0:
                    continue
                combos = keys[rare, 1:]
                # the item of the combination held by the fewest people overall goes
                weakest = combos[np.arange(len(combos)), np.argmin(support[combos], axis=1)]
                removed = np.union1d(removed, owners[rare] * width + weakest)
                changed = True
                break
            if not changed:
                break
        out = df.copy()
        if len(removed):
            code_of = {label: i for i, label in enumerate(view.vocabulary)}
            for c in self.items:
                cells = tokens[c]
                present = (cells.notna() & (cells.astype(str) != SUPPRESSED)).to_numpy()
                codes = np.full(len(cells), -1, np.int64)
                codes[present] = cells[present].astype(str).map(code_of).to_numpy(dtype=np.int64)
                hit = present & np.isin(view.person_of_row * width + codes, removed)
                out.loc[hit, c] = SUPPRESSED
        return out, len(removed), total

    def _precisions(self) -> list[str | None]:
        if not self.dates:
            return [None]
        if self.date_precision is not None:
            return [_check_precision(self.date_precision)]
        return list(DATE_PRECISIONS)

    def fit(self, df: pd.DataFrame, classes: np.ndarray | None = None) -> "ItemRecoding":
        _check_items(df, self.id_column, self.items)
        self.dates = _check_dates(df, self.items, self.dates) or None
        self.m = _check_m(self.m)
        heights = self.hierarchy.height if self.hierarchy is not None else 1
        if self.hierarchy is not None:
            for c in self.items:
                values = df[c][df[c].notna() & (df[c].astype(str) != SUPPRESSED)]
                self.hierarchy.check_covers(values, column=c)
        given = precision_of(df, self.dates) if self.dates else None
        precisions = [p for p in self._precisions()
                      if p is None or given is None or DATE_PRECISIONS.index(p) >= DATE_PRECISIONS.index(given)]
        if not precisions:
            raise ConfigurationError(f"The dates are already coarser than the date_precision asked for "
                                     f"({self.date_precision}); ask for {given} or coarser.")
        self.levels_ = []
        best = None
        before = len(PersonItems.from_frame(self._tokens(df, None), self.id_column, self.items).indices)
        span = self._date_span(df)
        for level in range(heights):
            if self.hierarchy is not None and level > 0 and (self.hierarchy.table[level] == SUPPRESSED).all():
                continue   # the top level: every item gone, nothing to release
            code_cost = self._level_cost(df, level)
            for precision in precisions:
                generalized = self._generalized(df, level, precision)
                released, suppressed, total = self._suppress(generalized, classes, precision)
                share = suppressed / total if total else 0.0
                cost = code_cost if precision is None else (code_cost + self._date_cost(precision, span)) / 2
                loss = (suppressed + (total - suppressed) * cost + (before - total)) / before if before else 0.0
                entry = {"level": level, "suppressed_share": share, "kept_share": 1 - share, "loss": loss,
                         "generalization_cost": cost, "within_budget": share <= self.max_item_suppression}
                if precision is not None:
                    entry["date_precision"] = precision
                self.levels_.append(entry)
                if entry["within_budget"] and (best is None or loss < best[0]):
                    best = (loss, level, precision)
        if best is None:
            raise ConfigurationError(f"No item level keeps (k, k^m) = ({self.k}, {self.k}^{self.m}) within "
                                     f"{self.max_item_suppression:.0%} item suppression; raise the budget, lower m "
                                     "or k, or give a coarser hierarchy.")
        self.level_, self.precision_ = best[1], best[2]
        return self

    def _date_span(self, df: pd.DataFrame) -> float:
        """Days covered by the dates (the denominator of a date's certainty penalty)."""
        if not self.dates:
            return 1.0
        spans = []
        for column in sorted(set(self.dates.values())):
            starts, _ = _period_start(df[column], column)
            if starts.notna().any():
                spans.append((starts.max() - starts.min()).days + 1)
        return float(max(spans)) if spans else 1.0

    @staticmethod
    def _date_cost(precision: str, span: float) -> float:
        """Normalized certainty penalty of a date coarsened to ``precision`` (1 when dropped)."""
        if precision == "none" or span <= 1:
            return 1.0 if precision == "none" else 0.0
        return min(1.0, (_DAYS[precision] - 1) / (span - 1))

    def _level_cost(self, df: pd.DataFrame, level: int) -> float:
        """Mean normalized certainty penalty of generalizing the items to ``level``."""
        if level == 0 or self.hierarchy is None:
            return 0.0
        table = self.hierarchy.table
        leaves = len(table)
        if leaves <= 1:
            return 1.0
        under = table[level].map(table[level].value_counts())
        return float(((under - 1) / (leaves - 1)).mean())

    def transform(self, df: pd.DataFrame, classes: np.ndarray | None = None) -> pd.DataFrame:
        if not hasattr(self, "level_"):
            raise ConfigurationError("Call ItemRecoding.fit first.")
        precision = getattr(self, "precision_", None)
        return self._suppress(self._generalized(df, self.level_, precision), classes, precision)[0]

    def generalize_only(self, df: pd.DataFrame) -> pd.DataFrame:
        """Rows generalized to the chosen level and precision without suppression: an
        attacker's targets."""
        return self._generalized(df, self.level_, getattr(self, "precision_", None))
