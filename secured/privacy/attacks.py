"""Attacks that score a release: singling-out, linkability and attribute inference.

Each attack is run three ways, the way Anonymeter (Giomi et al., PETS 2023) frames them:
against targets drawn from the ORIGINAL rows the release was made from (the attack), against
rows of a CONTROL set that the release never saw (what the release teaches about anyone from
the same population), and as a random guess (the baseline). The residual risk

    R = (A - C) / (1 - C)

with A and C the attack and control success rates (Wilson score centres at 95 %) is what the
release leaks about its own people beyond general knowledge; its interval propagates both
rates' Wilson errors to first order. Every attack is seeded and reproducible; the attacker's
knowledge (which columns) is an explicit argument.

Generalized releases. A target's raw value (age 37) and a released cell ('[30-40)', '*', an
ICD-9 chapter) are compared by coverage: the distance is 0 where the cell covers the value
(equal, '*', an interval that contains it, or an ancestor in a given hierarchy) and 1 where
it does not. Raw numeric columns use |a - b| / range (range over all rows involved); other
columns 0/1 on equality; a row's distance is the sum over the columns the attacker knows.
Ties among nearest rows are broken at random (seeded): breaking them by row order inflates
linkability and majority votes inflate inference.

Singling-out is duplicate-aware: a predicate is kept only when it matches exactly one row of
the release, and it succeeds only when it matches exactly one row (or one person, with an id
column) of the original; equivalence classes of a k-anonymous release are never mistaken
for unique people. Predicates are evaluated on the whole original (a predicate that isolates
a person counts wherever that person is), and on the whole control; because a predicate
singles out with a probability that depends on the table's size, the control count is
corrected to the original's size (exactly when the control is larger, by Anonymeter's fitted
size model when it is smaller: ``control_singles_at_size``). An attacker who cannot form
``n_attacks`` predicates fails the rest: rates are over ``n_attacks``.

The nearest-neighbour scan and the predicate counting run in the compiled core, parallel over
targets (``secured._kernels._privacy`` through ``secured.backend.privacy_kernels``).
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..exceptions import BadInputError, ConfigurationError
from .hierarchy import Hierarchy

__all__ = ["SuccessRate", "PrivacyRisk", "AttackResult", "wilson", "residual_risk", "linkability",
           "inference", "singling_out", "control_singles_at_size", "MixedSpace"]

Z95 = 1.959963984540054


@dataclass(frozen=True)
class SuccessRate:
    """A success rate: Wilson score centre and half-width at 95 %."""
    value: float
    error: float


@dataclass(frozen=True)
class PrivacyRisk:
    """A residual risk and its 95 % interval."""
    value: float
    ci: tuple[float, float]


@dataclass
class AttackResult:
    """One attack's outcome: risk, attack/control/baseline rates, counts, timing and details."""
    attack: str
    risk: PrivacyRisk
    attack_rate: SuccessRate
    baseline_rate: SuccessRate
    control_rate: SuccessRate
    n_attacks: int
    successes: dict[str, int]
    seconds: float
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["risk"]["ci"] = list(self.risk.ci)
        return out


def wilson(successes: int, n: int, z: float = Z95) -> SuccessRate:
    """Wilson score interval centre and half-width for ``successes`` out of ``n``."""
    if n <= 0:
        raise ConfigurationError("A success rate needs at least one attempt (n_attacks >= 1).")
    z2 = z * z
    centre = (successes + z2 / 2) / (n + z2)
    half = z / (n + z2) * math.sqrt(successes * (n - successes) / n + z2 / 4)
    return SuccessRate(centre, half)


def residual_risk(attack: SuccessRate, control: SuccessRate) -> PrivacyRisk:
    """(A - C) / (1 - C) clipped to [0, 1], with a first-order propagated interval."""
    a, c = attack.value, control.value
    r = (a - c) / (1 - c)
    err = math.hypot(attack.error / (1 - c), control.error * (a - 1) / (1 - c) ** 2)
    clip = lambda x: min(max(x, 0.0), 1.0)  # noqa: E731
    return PrivacyRisk(clip(r), (clip(r - err), clip(r + err)))


# -- a common space for original, control and released rows ----------------------------------

_NUMBER = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_INTERVAL = re.compile(rf"^\s*([\[(])\s*({_NUMBER})\s*(?:,|-|\.\.)\s*({_NUMBER})\s*([\])])\s*$")
_SET = re.compile(r"^\{(.*)\}$", re.S)


def _coverage(values: np.ndarray, cells: np.ndarray, hierarchy: Hierarchy | None) -> np.ndarray:
    """(values x cells) booleans: the cell is the value, '*', an interval holding the value, a
    set '{a, b}' listing it, or (with a hierarchy) one of the value's ancestors."""
    cover = values[:, None] == cells[None, :]
    cover |= (cells == "*")[None, :]
    numbers = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(dtype=float)
    position = {v: i for i, v in enumerate(values)}
    for ci, cell in enumerate(cells):
        m = _INTERVAL.match(cell)
        if m:
            lo, hi = float(m.group(2)), float(m.group(3))
            left = numbers >= lo if m.group(1) == "[" else numbers > lo
            right = numbers <= hi if m.group(4) == "]" else numbers < hi
            cover[:, ci] |= left & right
            continue
        m = _SET.match(cell)
        if m:
            for member in m.group(1).split(", "):
                vi = position.get(member)
                if vi is not None:
                    cover[vi, ci] = True
    if hierarchy is not None and len(values):
        keys = hierarchy.keys(pd.Series(values, dtype=object))
        present = keys.isin(hierarchy.table.index).to_numpy()
        rows = np.flatnonzero(present)
        ancestors = hierarchy.table.loc[keys[present].to_numpy()].to_numpy()
        where = pd.Index(cells)
        for level in range(ancestors.shape[1]):
            ci = where.get_indexer(ancestors[:, level])
            ok = ci >= 0
            cover[rows[ok], ci[ok]] = True
    return cover


class MixedSpace:
    """Rows of the original/control (queries) and of the release (data) as float matrices over
    ``columns``, with a per-column kind (0 categorical, 1 numeric, 2 coverage table)."""

    def __init__(self, release: pd.DataFrame, others: Sequence[pd.DataFrame], columns: list[str],
                 numeric: list[str] | None = None, hierarchies: dict[str, Hierarchy] | None = None) -> None:
        self.columns = list(columns)
        hierarchies = hierarchies or {}
        self.kind = np.zeros(len(columns), dtype=np.uint8)
        self.inv_range = np.zeros(len(columns))
        tables, offsets, ncells = [], [], []
        self.release = np.empty((len(release), len(columns)))
        self.others = [np.empty((len(o), len(columns))) for o in others]
        self.cells: list[np.ndarray | None] = []   # release cell labels for coverage columns
        self.cover: list[np.ndarray | None] = []   # (query code x cell code) -> covers
        self.query_values: list[Any] = []
        offset = 0
        frames = [release, *others]
        for j, c in enumerate(columns):
            # one hash pass over all rows; numbers and text are worked out on the distinct values
            combined = pd.concat([pd.Series(x[c].to_numpy(dtype=object)) for x in frames], ignore_index=True)
            codes, uniques = pd.factorize(combined, use_na_sentinel=False)
            bounds = np.cumsum([0] + [len(x) for x in frames])
            parts = [codes[a:b] for a, b in zip(bounds[:-1], bounds[1:])]
            as_num = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce").to_numpy(dtype=float)
            is_num = (c in numeric) if numeric is not None else bool(
                (~np.isnan(as_num) | pd.isna(pd.Series(uniques, dtype=object)).to_numpy()).all())
            if is_num:
                finite = as_num[np.isfinite(as_num)]
                span = finite.max() - finite.min() if len(finite) else 0.0
                self.kind[j] = 1
                self.inv_range[j] = 1.0 / span if span > 0 else 0.0
                self.release[:, j] = as_num[parts[0]]
                for o, part in zip(self.others, parts[1:]):
                    o[:, j] = as_num[part]
                self.cells.append(None)
                self.cover.append(None)
                offsets.append(offset)
                ncells.append(0)
                continue
            labels, label_of = np.unique(pd.Series(uniques, dtype=object).astype(str).to_numpy(), return_inverse=True)
            rel_lab = label_of[parts[0]]
            present = np.unique(rel_lab)
            cell_labels, cell_codes = labels[present], np.searchsorted(present, rel_lab)
            q_lab = label_of[np.concatenate(parts[1:])] if len(parts) > 1 else np.zeros(0, dtype=np.int64)
            q_present = np.unique(q_lab)
            query_labels, query_codes = labels[q_present], np.searchsorted(q_present, q_lab)
            cover = _coverage(query_labels, cell_labels, hierarchies.get(c))
            self.kind[j] = 2
            self.release[:, j] = cell_codes
            for o, a, b in zip(self.others, bounds[1:-1] - len(release), bounds[2:] - len(release)):
                o[:, j] = query_codes[a:b]
            self.cells.append(cell_labels)
            self.cover.append(cover)
            tables.append((~cover).astype(np.float64).ravel())
            offsets.append(offset)
            ncells.append(len(cell_labels))
            offset += cover.size
        self.tables = np.concatenate(tables) if tables else np.zeros(1)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.ncells = np.asarray(ncells, dtype=np.int64)

    def subset(self, columns: list[str]) -> np.ndarray:
        return np.asarray([self.columns.index(c) for c in columns], dtype=np.int64)

    def kneighbors(self, queries: np.ndarray, cols: np.ndarray, k: int, rng: np.random.Generator
                   ) -> np.ndarray:
        from ..backend import privacy_kernels as kernels

        idx, _ = kernels.mixed_kneighbors(
            np.ascontiguousarray(self.release[:, cols]), np.ascontiguousarray(queries[:, cols]),
            np.ascontiguousarray(self.inv_range[cols]), np.ascontiguousarray(self.kind[cols]), self.tables,
            np.ascontiguousarray(self.offsets[cols]), np.ascontiguousarray(self.ncells[cols]),
            int(rng.integers(0, 2**63)), int(k))
        return idx


def _check_frames(original: pd.DataFrame, release: pd.DataFrame, control: pd.DataFrame | None,
                  columns: Sequence[str]) -> None:
    for name, frame in (("original", original), ("release", release), ("control", control)):
        if frame is None:
            continue
        if not isinstance(frame, pd.DataFrame):
            raise BadInputError(f"The {name} table must be a pandas DataFrame; got {type(frame).__name__}.")
        if len(frame) == 0:
            raise BadInputError(f"The {name} table is empty; it needs rows to attack.")
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise BadInputError(f"Column(s) {', '.join(map(repr, missing))} not in the {name} table.")


def _sample(n: int, size: int, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(n, size=min(size, n), replace=False)


def _result(name: str, hits: int, base_hits: int, control_hits: int, n: int, n_control: int, start: float,
            **details: Any) -> AttackResult:
    attack, control = wilson(hits, n), wilson(control_hits, n_control)
    return AttackResult(name, residual_risk(attack, control), attack, wilson(base_hits, n), control, n,
                        {"attack": hits, "baseline": base_hits, "control": control_hits},
                        time.perf_counter() - start, details)


# -- linkability ----------------------------------------------------------------------------------

def linkability(original: pd.DataFrame, release: pd.DataFrame, control: pd.DataFrame,
                aux_columns: tuple[list[str], list[str]], *, n_attacks: int = 2000, n_neighbors: int = 1,
                numeric: list[str] | None = None, hierarchies: dict[str, Hierarchy] | None = None,
                seed: int = 0) -> AttackResult:
    """Two attackers each know one half of a target's columns; each finds the target's
    ``n_neighbors`` nearest released rows; the target is linked when the two sets share a row."""
    start = time.perf_counter()
    a, b = (list(x) for x in aux_columns)
    if not a or not b or set(a) & set(b):
        raise ConfigurationError("Linkability needs two non-empty, disjoint lists of auxiliary columns.")
    _check_frames(original, release, control, a + b)
    if n_attacks < 1 or n_neighbors < 1:
        raise ConfigurationError("n_attacks and n_neighbors must be >= 1.")
    rng = np.random.default_rng(seed)
    targets = original.iloc[_sample(len(original), n_attacks, rng)]
    controls = control.iloc[_sample(len(control), n_attacks, rng)]
    space = MixedSpace(release, [targets, controls], a + b, numeric, hierarchies)

    def linked(queries: np.ndarray) -> int:
        left = space.kneighbors(queries, space.subset(a), n_neighbors, rng)
        right = space.kneighbors(queries, space.subset(b), n_neighbors, rng)
        return int(sum(bool(set(x) & set(y)) for x, y in zip(left, right)))

    hits, control_hits = linked(space.others[0]), linked(space.others[1])
    n_rel = len(release)
    base = sum(bool(set(rng.choice(n_rel, min(n_neighbors, n_rel), replace=False))
                    & set(rng.choice(n_rel, min(n_neighbors, n_rel), replace=False))) for _ in range(len(targets)))
    return _result("linkability", hits, base, control_hits, len(targets), len(controls), start,
                   aux_columns=[a, b], n_neighbors=n_neighbors)


# -- attribute inference ----------------------------------------------------------------------------

def inference(original: pd.DataFrame, release: pd.DataFrame, control: pd.DataFrame, aux_columns: list[str],
              secret: str, *, n_attacks: int = 2000, numeric: list[str] | None = None,
              hierarchies: dict[str, Hierarchy] | None = None, tolerance: float = 0.05,
              seed: int = 0) -> AttackResult:
    """The attacker knows ``aux_columns`` of a target and guesses ``secret`` as the value of the
    nearest released row. Categorical secrets must match exactly; numeric ones within
    ``tolerance`` relative error (absolute when the truth is 0)."""
    start = time.perf_counter()
    if secret in aux_columns:
        raise ConfigurationError(f"The secret {secret!r} cannot also be an auxiliary column.")
    if not aux_columns:
        raise ConfigurationError("Inference needs at least one auxiliary column.")
    _check_frames(original, release, control, [*aux_columns, secret])
    rng = np.random.default_rng(seed)
    targets = original.iloc[_sample(len(original), n_attacks, rng)]
    controls = control.iloc[_sample(len(control), n_attacks, rng)]
    space = MixedSpace(release, [targets, controls], list(aux_columns), numeric, hierarchies)
    cols = space.subset(list(aux_columns))
    secret_release = release[secret].reset_index(drop=True)
    as_num = [pd.to_numeric(x[secret], errors="coerce") for x in (release, original)]
    is_num = (secret in numeric) if numeric is not None else all(
        (n.notna() | x[secret].isna()).all() for n, x in zip(as_num, (release, original)))

    def correct(guess: pd.Series, truth: pd.Series) -> np.ndarray:
        if is_num:
            g = pd.to_numeric(guess, errors="coerce").to_numpy(dtype=float)
            t = pd.to_numeric(truth, errors="coerce").to_numpy(dtype=float)
            both_nan = np.isnan(g) & np.isnan(t)
            return both_nan | (np.abs(g - t) <= tolerance * np.where(t == 0, 1.0, np.abs(t)))
        return guess.astype(str).to_numpy() == truth.astype(str).to_numpy()

    def hits(queries: np.ndarray, truth: pd.Series) -> int:
        nearest = space.kneighbors(queries, cols, 1, rng)[:, 0]
        return int(correct(secret_release.iloc[nearest], truth).sum())

    attack_hits = hits(space.others[0], targets[secret])
    control_hits = hits(space.others[1], controls[secret])
    random_rows = rng.integers(0, len(release), len(targets))
    base = int(correct(secret_release.iloc[random_rows], targets[secret]).sum())
    return _result("inference", attack_hits, base, control_hits, len(targets), len(controls), start,
                   secret=secret, aux_columns=list(aux_columns), numeric_secret=bool(is_num))


# -- singling out -------------------------------------------------------------------------------------

def _singles_integral(n: np.ndarray | float, w_max: float) -> np.ndarray | float:
    """Integral over w in [0, w_max] of n w (1 - w)^(n - 1), the chance that a predicate of
    weight w (the share of the population it matches) singles out one of n units
    (Cohen and Nissim 2020): (1 - (n w_max + 1)(1 - w_max)^n) / (n + 1)."""
    n = np.asarray(n, dtype=float)
    return (1.0 - (n * w_max + 1.0) * (1.0 - w_max) ** n) / (n + 1.0)


def control_singles_at_size(matched: np.ndarray, m: int, n: int) -> tuple[float, dict[str, Any]]:
    """How many of the predicates would single out in a control of ``n`` units (the size of
    the original), from ``matched``: the number of units each predicate matches in the
    control, which has ``m`` units.

    - m == n: the observed count of predicates matching exactly one unit.
    - m > n: exact, no sampling noise: the expected count in a random n-subset of the
      control, sum over predicates of the hypergeometric P(exactly one of the X matched units
      is drawn).
    - m < n: the observed count times model(n) / model(m), where the model (Anonymeter's
      size correction) assumes predicate weights uniform on [0, w_eff] and is fitted by least
      squares to the exact expected counts of random subsets of the control (sizes from
      min(1000, m / 4) up to m), so the fit carries no subsampling noise.
    """
    from scipy.optimize import curve_fit
    from scipy.stats import hypergeom

    matched = np.asarray(matched, dtype=np.int64)
    observed = float((matched == 1).sum())
    if m == n or len(matched) == 0:
        return observed, {"method": "none", "factor": 1.0}
    values, counts = np.unique(matched[matched > 0], return_counts=True)

    def expected(size: int) -> float:
        return float((counts * hypergeom.pmf(1, m, values, size)).sum()) if len(values) else 0.0

    if m > n:
        value = expected(n)
        return value, {"method": "exact subsample expectation", "factor": value / observed if observed else None}
    if observed == 0:
        return 0.0, {"method": "none (no predicate singles out in the control)", "factor": 1.0}
    smallest = max(1, min(1000, m // 4))
    sizes = np.unique(np.linspace(smallest, m, 10).astype(np.int64))
    y = np.array([expected(int(s)) for s in sizes])

    def model(x, w_eff, norm):
        return norm * _singles_integral(x, w_eff)

    w0 = 1.0 / float(sizes.max())
    try:
        (w_eff, norm), _ = curve_fit(model, sizes.astype(float), y, p0=(w0, y[-1] / float(_singles_integral(m, w0))),
                                     bounds=(0, (1, np.inf)))
        factor = float(model(n, w_eff, norm) / model(m, w_eff, norm))
        if not np.isfinite(factor) or factor <= 0:
            raise ValueError("degenerate fit")
    except (RuntimeError, ValueError, FloatingPointError):
        return observed, {"method": "size model did not fit; uncorrected", "factor": 1.0}
    return observed * factor, {"method": "extrapolated (size model)", "factor": factor, "w_eff": float(w_eff)}


def singling_out(original: pd.DataFrame, release: pd.DataFrame, control: pd.DataFrame, columns: list[str], *,
                 mode: str = "multivariate", n_attacks: int = 500, n_cols: int = 3, max_attempts: int = 100_000,
                 id_column: str | None = None, numeric: list[str] | None = None,
                 hierarchies: dict[str, Hierarchy] | None = None, seed: int = 0) -> AttackResult:
    """Predicates built from the release that match exactly one released row. The attack
    succeeds when a predicate matches exactly one row (one person with ``id_column``) of the
    whole original; the control rate is the share of the same predicates that single out in
    the control, corrected to the original's size (``control_singles_at_size``)."""
    start = time.perf_counter()
    if mode not in ("univariate", "multivariate"):
        raise ConfigurationError(f"The 'mode' parameter must be 'univariate' or 'multivariate'. Got {mode!r} instead.")
    if not columns:
        raise ConfigurationError("Singling-out needs at least one column the attacker knows.")
    if isinstance(n_attacks, bool) or not isinstance(n_attacks, (int, np.integer)) or n_attacks < 1:
        raise ConfigurationError(f"The 'n_attacks' parameter must be an int >= 1. Got {n_attacks!r} instead.")
    _check_frames(original, release, control, columns)
    if id_column is not None and (id_column not in original.columns or id_column not in control.columns):
        raise ConfigurationError(f"The id column {id_column!r} must be in the original and control tables.")
    rng = np.random.default_rng(seed)
    space = MixedSpace(release, [original, control], list(columns), numeric, hierarchies)
    if id_column is None:
        units = [None, None]
        sizes = (len(original), len(control))
    else:
        units = [pd.factorize(original[id_column].astype(str))[0], pd.factorize(control[id_column].astype(str))[0]]
        sizes = (int(units[0].max()) + 1, int(units[1].max()) + 1)
    width = 1 if mode == "univariate" else min(n_cols, len(columns))
    predicates, attempts = _unique_predicates(space, mode, width, n_attacks, max_attempts, rng)

    def matched(frame: int, preds: list) -> np.ndarray:
        return np.array([_units_matched(space, frame, p, units[frame]) for p in preds], dtype=np.int64)

    on_original = matched(0, predicates)
    attack_hits = int((on_original == 1).sum())
    control_hits, correction = control_singles_at_size(matched(1, predicates), sizes[1], sizes[0])
    singled = [p for p, c in zip(predicates, on_original) if c == 1]
    # baseline: random predicates of the same shape (random columns and released values)
    d, R = len(columns), space.release
    baseline = []
    for _ in range(n_attacks):
        cols = rng.permutation(d)[:width]
        row = int(rng.integers(0, len(R)))
        baseline.append((list(cols), [0 if space.kind[j] != 1 else int(rng.integers(1, 3)) for j in cols],
                         [R[row, j] for j in cols]))
    base = int((matched(0, baseline) == 1).sum())
    return _result(f"singling_out_{mode}", attack_hits, base, control_hits, n_attacks, n_attacks, start,
                   columns=list(columns), predicates_found=len(predicates), attempts=int(attempts),
                   units="people" if id_column else "rows", original_units=sizes[0], control_units=sizes[1],
                   control_correction=correction, singled_out_in_original=attack_hits,
                   examples=[describe_predicate(space, p) for p in singled[:5]])


def _unique_predicates(space: MixedSpace, mode: str, width: int, n_attacks: int, max_attempts: int,
                       rng: np.random.Generator) -> tuple[list, int]:
    """Up to ``n_attacks`` distinct predicates (columns, ops, values) over the release's codes
    that match exactly one released row; op 0 '==' (or covers), 1 '<=', 2 '>='."""
    from ..backend import privacy_kernels as kernels

    R, d = space.release, len(space.columns)
    cands: list[tuple[list, list, list]] = []
    attempts = 0
    if mode == "univariate":
        for j in range(d):
            col = R[:, j]
            values, counts = np.unique(col[~np.isnan(col)], return_counts=True)
            cands.extend(([j], [0], [v]) for v in values[counts == 1])
            if space.kind[j] == 1 and len(values) > 1:  # extremes, when one row holds them
                if counts[0] == 1:
                    cands.append(([j], [1], [values[0]]))
                if counts[-1] == 1:
                    cands.append(([j], [2], [values[-1]]))
        attempts = len(cands)
    else:
        medians = np.array([np.nanmedian(R[:, j]) if space.kind[j] == 1 else 0.0 for j in range(d)])
        seen: set[tuple] = set()
        while len(cands) < 4 * n_attacks and attempts < max_attempts:
            b = min(1000, max_attempts - attempts)
            rows = rng.integers(0, len(R), b)
            cols = np.argsort(rng.random((b, d)), axis=1)[:, :width]
            vals = R[rows[:, None], cols]
            ops = np.where(space.kind[cols] == 1, np.where(vals > medians[cols], 2, 1), 0)
            attempts += b
            counts = kernels.count_matches(np.ascontiguousarray(R), np.ascontiguousarray(cols, dtype=np.int64),
                                           np.ascontiguousarray(ops, dtype=np.int8), np.ascontiguousarray(vals), 2)
            for i in np.flatnonzero(counts == 1):
                key = tuple(sorted(zip(cols[i].tolist(), ops[i].tolist(), vals[i].tolist())))
                if key not in seen:
                    seen.add(key)
                    cands.append((list(cols[i]), list(ops[i]), list(vals[i])))
            if len(seen) >= n_attacks:
                break
    order = rng.permutation(len(cands))[:n_attacks]
    return [cands[i] for i in order], attempts


def _units_matched(space: MixedSpace, frame: int, pred, units: np.ndarray | None) -> int:
    """Rows (or distinct people, given their codes) of query frame ``frame`` the predicate matches."""
    Q = space.others[frame]
    mask = None
    for j, op, v in zip(*pred):
        x = Q[:, j]
        if space.kind[j] == 2:
            m = space.cover[j][x.astype(np.int64), int(v)]
        elif op == 0:
            m = x == v
        elif op == 1:
            m = x <= v
        else:
            m = x >= v
        mask = m if mask is None else mask & m
    if units is None:
        return int(np.count_nonzero(mask))
    return int(np.unique(units[mask]).size)


def describe_predicate(space: MixedSpace, pred) -> str:
    """A predicate as text over column names and released cells (it names released values:
    reports go to the data holder, not to the public)."""
    parts = []
    for j, op, v in zip(*pred):
        name = space.columns[j]
        if space.kind[j] == 2:
            parts.append(f"{name} in {space.cells[j][int(v)]!r}")
        else:
            parts.append(f"{name} {['==', '<=', '>='][op]} {v:g}")
    return " and ".join(parts)
