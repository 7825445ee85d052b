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

__all__ = ["PersonItems", "km_anonymity", "m_uniqueness", "item_attacks", "ItemRecoding", "SUPPRESSED"]

SUPPRESSED = "*"


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
                   vocabulary: np.ndarray | None = None) -> "PersonItems":
        items = _check_items(df, id_column, items)
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

class _ReleaseIndex:
    """Released people by item (inverted lists) and by demographic key, for matching."""

    def __init__(self, release: pd.DataFrame, id_column: str, items: list[str], qis: list[str]) -> None:
        self.view = PersonItems.from_frame(release, id_column, items)
        self.vocab = {v: i for i, v in enumerate(self.view.vocabulary)}
        order = np.argsort(self.view.indices, kind="stable")
        owner = np.repeat(np.arange(self.view.n_people), self.view.sizes)
        self.by_item_people = owner[order]
        self.by_item_ptr = np.searchsorted(self.view.indices[order], np.arange(len(self.view.vocabulary) + 1))
        demo = release[qis].astype(str).agg("\x1f".join, axis=1).to_numpy() if qis else np.zeros(len(release), str)
        self.demo_people: dict[str, np.ndarray] = {}
        frame = pd.DataFrame({"d": demo, "p": self.view.person_of_row}).drop_duplicates()
        for key, group in frame.groupby("d", sort=False):
            self.demo_people[key] = np.unique(group["p"].to_numpy())

    def matches(self, demo: str, known: Sequence[str]) -> np.ndarray:
        people = self.demo_people.get(demo)
        if people is None:
            return np.zeros(0, np.int64)
        for item in known:
            code = self.vocab.get(item)
            if code is None:
                return np.zeros(0, np.int64)
            holders = self.by_item_people[self.by_item_ptr[code]:self.by_item_ptr[code + 1]]
            people = np.intersect1d(people, holders, assume_unique=True)
            if len(people) == 0:
                break
        return people


def _targets(frame: pd.DataFrame, id_column: str, items: list[str], qis: list[str], n: int,
             rng: np.random.Generator) -> list[tuple[Any, str, list[str]]]:
    """(person id, demographic key of one of their rows, their item set) for ``n`` random people."""
    people = pd.unique(frame[id_column])
    chosen = set(rng.choice(len(people), min(n, len(people)), replace=False).tolist())
    picked = frame[frame[id_column].isin(people[sorted(chosen)])]
    out = []
    for pid, group in picked.groupby(id_column, sort=False):
        row = group.iloc[int(rng.integers(len(group)))]
        demo = "\x1f".join(str(row[c]) for c in qis) if qis else ""
        values = pd.Series(group[items].to_numpy().ravel())
        values = values[values.notna()].astype(str)
        out.append((pid, demo, sorted(set(values[values != SUPPRESSED]))))
    return out


def item_attacks(original: pd.DataFrame, release: pd.DataFrame, control: pd.DataFrame, *, id_column: str,
                 items: Sequence[str], quasi_identifiers: Sequence[str], m: int, n_attacks: int = 2000,
                 generalize: Any = None, seed: int = 0) -> list[AttackResult]:
    """Singling-out, linkability and membership by an attacker who knows a target's
    quasi-identifiers and ``m`` of their items (see the module docstring). ``generalize``
    (e.g. the fitted ``Anonymizer``'s ``transform``) maps the targets' rows as the release was
    made; without it they are compared as they are."""
    m = _check_m(m)
    items, qis = list(items), list(quasi_identifiers)
    for name, frame in (("original", original), ("release", release), ("control", control)):
        _check_items(frame, id_column, items)
        missing = [c for c in qis if c not in frame.columns]
        if missing:
            raise BadInputError(f"Column(s) {', '.join(map(repr, missing))} not in the {name} table.")
    start = time.perf_counter()
    index = _ReleaseIndex(release, id_column, items, qis)
    rng = np.random.default_rng(seed)
    ori = generalize(original) if generalize is not None else original
    ctl = generalize(control) if generalize is not None else control
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
    demos = list(index.demo_people)
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
                                    {"knows": f"the quasi-identifiers and {m} item(s) of the target",
                                     "items": items, "m": m, "control_targets": int(n_c)}))
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
    """Items generalized to one level of ``hierarchy`` and rare combinations suppressed until
    (k, k^m) holds (see the module docstring). ``fit(df, classes)`` chooses the level;
    ``transform`` rewrites the item columns of a table (suppressed items become '*')."""

    items: list[str]
    id_column: str
    k: int
    m: int
    hierarchy: Hierarchy | None = None
    max_item_suppression: float = 0.1
    levels_: list[dict] = field(default_factory=list, init=False)

    def _generalized(self, df: pd.DataFrame, level: int) -> pd.DataFrame:
        out = df.copy()
        if level == 0 or self.hierarchy is None:
            return out
        for c in self.items:
            values = df[c]
            present = (values.notna() & (values.astype(str) != SUPPRESSED)).to_numpy()
            column = out[c].astype(object).to_numpy(copy=True)
            column[present] = self.hierarchy.generalize(values[present], level).to_numpy()
            out[c] = column
        return out

    def _suppress(self, df: pd.DataFrame, classes: np.ndarray | None) -> tuple[pd.DataFrame, int, int]:
        """The table with the items of rare combinations suppressed; (table, suppressed
        person-items, person-items before)."""
        view = PersonItems.from_frame(df, self.id_column, self.items)
        total = int(len(view.indices))
        removed: set[tuple[int, int]] = set()
        support = np.bincount(view.indices, minlength=len(view.vocabulary))
        for _ in range(50):
            if removed:
                keep = np.array([(p, i) not in removed for p, i in
                                 zip(np.repeat(np.arange(view.n_people), view.sizes), view.indices)])
                pairs = np.stack([np.repeat(np.arange(view.n_people), view.sizes)[keep], view.indices[keep]], axis=1)
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
                for p, item in zip(owners[rare], weakest):
                    removed.add((int(p), int(item)))
                changed = True
                break
            if not changed:
                break
        out = df.copy()
        if removed:
            gone = pd.DataFrame(list(removed), columns=["p", "i"])
            gone["person"] = view.people[gone["p"].to_numpy()]
            gone["item"] = view.vocabulary[gone["i"].to_numpy()]
            mark = set(zip(gone["person"], gone["item"]))
            for c in self.items:
                hit = np.array([(pid, str(v)) in mark for pid, v in zip(df[self.id_column], df[c])])
                out.loc[hit, c] = SUPPRESSED
        return out, len(removed), total

    def fit(self, df: pd.DataFrame, classes: np.ndarray | None = None) -> "ItemRecoding":
        _check_items(df, self.id_column, self.items)
        self.m = _check_m(self.m)
        heights = self.hierarchy.height if self.hierarchy is not None else 1
        if self.hierarchy is not None:
            for c in self.items:
                values = df[c][df[c].notna() & (df[c].astype(str) != SUPPRESSED)]
                self.hierarchy.check_covers(values)
        self.levels_ = []
        best = None
        before = len(PersonItems.from_frame(df, self.id_column, self.items).indices)
        for level in range(heights):
            if self.hierarchy is not None and level > 0 and (self.hierarchy.table[level] == SUPPRESSED).all():
                continue   # the top level: every item gone, nothing to release
            generalized = self._generalized(df, level)
            released, suppressed, total = self._suppress(generalized, classes)
            share = suppressed / total if total else 0.0
            cost = self._level_cost(df, level)
            loss = (suppressed + (total - suppressed) * cost + (before - total)) / before if before else 0.0
            entry = {"level": level, "suppressed_share": share, "kept_share": 1 - share, "loss": loss,
                     "generalization_cost": cost, "within_budget": share <= self.max_item_suppression}
            self.levels_.append(entry)
            if entry["within_budget"] and (best is None or loss < best[0]):
                best = (loss, level)
        if best is None:
            raise ConfigurationError(f"No item level keeps (k, k^m) = ({self.k}, {self.k}^{self.m}) within "
                                     f"{self.max_item_suppression:.0%} item suppression; raise the budget, lower m "
                                     "or k, or give a coarser hierarchy.")
        self.level_ = best[1]
        return self

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
        return self._suppress(self._generalized(df, self.level_), classes)[0]

    def generalize_only(self, df: pd.DataFrame) -> pd.DataFrame:
        """Rows generalized to the chosen level without suppression: an attacker's targets."""
        return self._generalized(df, self.level_)
