"""A differentially private generator from noisy marginals, in the style of MST (McKenna,
Miklau and Sheldon, "Winning the NIST Contest", 2021): every column's 1-way marginal and the
2-way marginals of a spanning tree chosen privately are measured with OpenDP noise, a tree
graphical model is fitted to the noisy measurements, and rows are drawn from it.

Privacy
    ``MST(epsilon=..., delta=..., domain=...)`` takes the guarantee and the public domain as
    required keyword arguments; ``fit(df, ledger=...)`` takes a
    :class:`~secured.privacy.dp.BudgetLedger`. The (epsilon, delta) target becomes a zCDP
    budget rho (``secured.privacy.mechanisms.rho_for``, OpenDP's conversion), split in thirds
    (MST's split): the 1-way marginals, the choice of the tree (d - 1 exponential-mechanism
    rounds of Kruskal's algorithm, OpenDP ``make_noisy_max``, scored by how far each pair's
    marginal is from independence), and the tree's 2-way marginals (discrete Gaussian counts,
    OpenDP ``make_gaussian``). Before any noise is drawn the whole budget is checked against the
    ledger; then each measurement is charged to it (a rho ledger: one entry per measurement;
    an epsilon ledger with a delta budget: one (epsilon, delta) entry listing them) before its
    noise is drawn. With ``id_column`` each person keeps at most ``contributions`` rows and the
    noise is scaled to that bound. Everything after the measurements (compressing rare
    categories, the model, the samples, the saved file) is post-processing.

Public domain
    Nothing about the columns is read from the private rows: ``domain`` maps every modelled
    column to its public description:

    - a list of categories, or ``{"categories": [...], "missing": True, "other": "label"}``
      (``other``: cells outside the list are counted, and sampled, as that label);
    - ``{"low": a, "high": b, "bins": n}`` (equal-width bins; ``"kind": "integer"`` or
      ``"datetime"`` with ISO dates; ``"scale": "log"`` for geometric bins of a positive range),
      or ``{"edges": [e0, ..., em]}``; ``"missing": True`` adds a missing-value bin.

    A categorical cell outside its list is refused (the error names the column, never the
    value); numbers outside [low, high] are clipped into the end bins. Sampled numbers are
    uniform inside their bin, so the bins are the resolution of the synthetic numbers.

Model
    After the 1-way measurements, categories whose noisy count is below three noise standard
    deviations are merged into one group (MST's domain compression); a merged group is sampled
    back uniformly among its members. The tree model's log-potentials are fitted by mirror
    descent with exact belief propagation (Private-PGM's estimator, on a tree) to minimise the
    squared error to every measurement weighted by its noise variance. Sampling is exact
    ancestral sampling; conditions are exact too (evidence in belief propagation).

>>> import pandas as pd, tempfile, os
>>> from secured.privacy.dp import BudgetLedger
>>> df = pd.DataFrame({"sex": ["F", "M"] * 500, "age": [30, 60] * 500})
>>> ledger = BudgetLedger(os.path.join(tempfile.mkdtemp(), "ledger.json"), rho=1.0)
>>> gen = MST(epsilon=1.0, delta=1e-6, domain={"sex": ["F", "M"], "age": {"low": 0, "high": 99, "bins": 10,
...       "kind": "integer"}}).fit(df, ledger=ledger)
>>> len(ledger.entries), gen.sample(5, seed=0).shape
(3, (5, 2))
"""

from __future__ import annotations

import itertools
import math
import time
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..exceptions import BadInputError, ConfigurationError, PrivacyBudgetError
from ..progress import Progress, emit
from .base import Generator
from .schema import ColumnSpec, Schema, to_numbers

__all__ = ["MST", "Domain"]

_EPOCH = pd.Timestamp("1970-01-01")
_MAX_CELLS = 1_000_000


class Domain:
    """One column's public domain: its kind, its codes and how codes map back to values."""

    def __init__(self, name: str, spec: Any) -> None:
        self.name = name
        if isinstance(spec, (list, tuple)):
            spec = {"categories": list(spec)}
        if not isinstance(spec, Mapping):
            raise ConfigurationError(f"domain[{name!r}] must be a list of categories or a mapping with "
                                     "'categories', 'low'/'high'/'bins' or 'edges'.")
        known = {"categories", "missing", "other", "low", "high", "bins", "edges", "kind", "scale"}
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ConfigurationError(f"domain[{name!r}] has unknown key(s) {unknown}; use {sorted(known)}.")
        self.missing = spec.get("missing", False)
        if not isinstance(self.missing, bool):
            raise ConfigurationError(f"domain[{name!r}]['missing'] must be true or false.")
        self.spec = dict(spec)
        if "categories" in spec:
            cats = spec["categories"]
            if isinstance(cats, (str, bytes)) or not isinstance(cats, (list, tuple)) or not cats:
                raise ConfigurationError(f"domain[{name!r}]['categories'] must be a non-empty list.")
            if any(pd.isna(c) for c in cats):
                raise ConfigurationError(f"domain[{name!r}] lists a missing value; say 'missing': true instead.")
            if len(set(map(repr, cats))) != len(cats):
                raise ConfigurationError(f"domain[{name!r}] lists a category twice.")
            self.kind = "categorical"
            self.categories = [c.item() if isinstance(c, np.generic) else c for c in cats]
            self.edges = None
            self.other = spec.get("other")
            if self.other is not None:
                if pd.isna(self.other) or self.other in self.categories:
                    raise ConfigurationError(f"domain[{name!r}]['other'] must be a new label for the cells outside "
                                             "the listed categories.")
                self.categories = self.categories + [self.other]
        else:
            self.kind = spec.get("kind", "numeric")
            if self.kind not in ("numeric", "integer", "datetime"):
                raise ConfigurationError(f"domain[{name!r}]['kind'] must be 'numeric', 'integer' or 'datetime'.")
            if "other" in spec:
                raise ConfigurationError(f"domain[{name!r}]: 'other' goes with 'categories'.")
            self.edges = self._edges(spec)
            self.categories = None
            self.other = None
        self.size = (len(self.categories) if self.kind == "categorical" else len(self.edges) - 1) + self.missing

    def _number(self, value: Any, what: str) -> float:
        try:
            if self.kind == "datetime":
                return float((pd.Timestamp(value) - _EPOCH) / pd.Timedelta(days=1))
            if isinstance(value, bool):
                raise TypeError
            out = float(value)
        except (TypeError, ValueError):
            raise ConfigurationError(f"domain[{self.name!r}]['{what}'] is not a "
                                     f"{'date' if self.kind == 'datetime' else 'number'}.") from None
        if not math.isfinite(out):
            raise ConfigurationError(f"domain[{self.name!r}]['{what}'] must be finite.")
        return out

    def _edges(self, spec: Mapping[str, Any]) -> np.ndarray:
        if "edges" in spec:
            if any(k in spec for k in ("low", "high", "bins", "scale")):
                raise ConfigurationError(f"domain[{self.name!r}]: give 'edges' or 'low'/'high'/'bins', not both.")
            raw = spec["edges"]
            if not isinstance(raw, (list, tuple)) or len(raw) < 2:
                raise ConfigurationError(f"domain[{self.name!r}]['edges'] must list at least two edges.")
            edges = np.array([self._number(e, "edges") for e in raw])
        else:
            if "low" not in spec or "high" not in spec:
                raise ConfigurationError(f"domain[{self.name!r}] needs 'low' and 'high' (or 'edges').")
            low, high = self._number(spec["low"], "low"), self._number(spec["high"], "high")
            bins = spec.get("bins")
            if bins is None:
                bins = int(high - low + 1) if self.kind != "numeric" and high - low + 1 <= 100 else 32
            if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= 10_000:
                raise ConfigurationError(f"domain[{self.name!r}]['bins'] must be an int in 1..10000.")
            if spec.get("scale", "linear") == "log":
                if low <= 0:
                    raise ConfigurationError(f"domain[{self.name!r}]: a log scale needs low > 0.")
                edges = np.geomspace(low, high, bins + 1)
            elif spec.get("scale", "linear") == "linear":
                if self.kind != "numeric" and bins == int(high - low + 1):
                    edges = np.arange(low, high + 2) - 0.5          # one bin per whole number
                    edges[0], edges[-1] = low, high
                else:
                    edges = np.linspace(low, high, bins + 1)
            else:
                raise ConfigurationError(f"domain[{self.name!r}]['scale'] must be 'linear' or 'log'.")
        if not np.all(np.diff(edges) > 0):
            raise ConfigurationError(f"domain[{self.name!r}]: the edges must increase (low < high).")
        return edges

    def codes(self, values: pd.Series) -> np.ndarray:
        """Code per row (the missing code last); a value outside a categorical list is refused."""
        absent = values.isna().to_numpy()
        if absent.any() and not self.missing:
            raise BadInputError(f"Column {self.name!r} has missing cells but its domain does not declare "
                                "'missing': true.")
        out = np.full(len(values), self.size - 1, dtype=np.int64)
        present = ~absent
        if self.kind == "categorical":
            index = pd.Index(self.categories)
            got = index.get_indexer(values[present].astype(object))
            if (got < 0).any():
                # the categories may be written as numbers in the data and text in the domain
                text = pd.Index([str(c) for c in self.categories])
                got = np.where(got < 0, text.get_indexer(values[present].astype(str)), got)
            if (got < 0).any() and self.other is not None:
                got = np.where(got < 0, len(self.categories) - 1, got)
            if (got < 0).any():
                raise BadInputError(f"Column {self.name!r} holds {int((got < 0).sum())} cell(s) outside its public "
                                    "domain; add the category to the domain or recode those cells.")
            out[present] = got
            return out
        try:
            x = to_numbers(values[present], self.kind)
        except (TypeError, ValueError):
            raise BadInputError(f"Column {self.name!r} has cells that are not "
                                f"{'dates' if self.kind == 'datetime' else 'numbers'}; convert them "
                                "(or make them missing) first.") from None
        out[present] = np.clip(np.searchsorted(self.edges, x, "right") - 1, 0, len(self.edges) - 2)
        return out

    def values(self, codes: np.ndarray, rng: np.random.Generator) -> pd.Series:
        """Values for codes: the category, or a number uniform in the code's bin."""
        gone = codes == self.size - 1 if self.missing else np.zeros(len(codes), bool)
        safe = np.where(gone, 0, codes)
        if self.kind == "categorical":
            values = np.asarray(self.categories, dtype=object)[safe]
            return pd.Series(np.where(gone, None, values), dtype=object)
        lo, hi = self.edges[safe], self.edges[safe + 1]
        if self.kind == "numeric":
            x = lo + rng.random(len(codes)) * (hi - lo)
            series = pd.Series(x, dtype=float)
            return series.mask(gone)
        first = np.ceil(lo - 1e-9)
        last = np.where(safe + 1 == len(self.edges) - 1, np.floor(hi + 1e-9), np.ceil(hi - 1e-9) - 1)
        last = np.maximum(last, first)
        x = first + np.floor(rng.random(len(codes)) * (last - first + 1))
        if self.kind == "integer":
            series = pd.Series(x.astype(np.int64))
            return series.astype("Int64").mask(gone) if self.missing else series
        dates = pd.Series(_EPOCH + pd.to_timedelta(x, unit="D"))
        return dates.where(~gone)

    def column_spec(self) -> ColumnSpec:
        if self.kind == "categorical":
            return ColumnSpec(self.name, "categorical", categories=list(self.categories), missing=float(self.missing))
        return ColumnSpec(self.name, self.kind, low=float(self.edges[0]), high=float(self.edges[-1]),
                          missing=float(self.missing))


def _axes(table_vars: Sequence[int], keep: Sequence[int]) -> tuple[int, ...]:
    return tuple(i for i, v in enumerate(table_vars) if v not in keep)


def _marginal(table: np.ndarray, table_vars: Sequence[int], keep: Sequence[int], log: bool) -> np.ndarray:
    """``table`` over ``table_vars`` summed (or log-sum-exp'ed) onto ``keep``, in keep's order."""
    from scipy.special import logsumexp

    axes = _axes(table_vars, keep)
    out = (logsumexp(table, axis=axes) if log else table.sum(axis=axes)) if axes else table
    rest = [v for v in table_vars if v in keep]
    return np.transpose(out, [rest.index(v) for v in keep]) if len(keep) > 1 else out


def _expand(table: np.ndarray, table_vars: Sequence[int], into: Sequence[int]) -> np.ndarray:
    """``table`` over ``table_vars`` (a subset of ``into``) shaped to broadcast over ``into``."""
    present = [v for v in into if v in table_vars]
    arranged = np.transpose(table, [list(table_vars).index(v) for v in present]) if len(present) > 1 else table
    shape = [arranged.shape[present.index(v)] if v in table_vars else 1 for v in into]
    return arranged.reshape(shape)


class _JunctionTree:
    """A junction forest over coded columns: cliques (tuples of at most three columns) with
    log-potentials, each clique but a root hanging from a parent through a separator; exact
    clique marginals by belief propagation, exact ancestral sampling."""

    def __init__(self, sizes: Sequence[int]) -> None:
        self.sizes = list(sizes)
        self.cliques: list[tuple[int, ...]] = [(i,) for i in range(len(sizes))]
        self.parent: list[int] = [-1] * len(sizes)
        self.theta: list[np.ndarray] = [np.zeros(k) for k in sizes]

    def clique_of(self, variables: Sequence[int]) -> int:
        for c, clique in enumerate(self.cliques):
            if set(variables) <= set(clique):
                return c
        raise KeyError(tuple(variables))

    def separator(self, c: int) -> tuple[int, ...]:
        p = self.parent[c]
        return () if p < 0 else tuple(v for v in self.cliques[c] if v in self.cliques[p])

    def attach(self, v: int, face: tuple[int, ...]) -> None:
        """Join the stand-alone column ``v`` to the columns ``face`` of one clique."""
        single = self.cliques.index((v,))
        host = self.clique_of(face)
        new = (v, *face)
        theta = _expand(self.theta[single], (v,), new) + np.zeros([self.sizes[u] for u in new])
        if set(self.cliques[host]) == set(face):           # the new clique grows the host
            theta = theta + _expand(self.theta[host], self.cliques[host], new)
            self.cliques[host], self.theta[host] = new, theta
        else:
            self.cliques.append(new)
            self.theta.append(theta)
            self.parent.append(host)
        self._remove(single)

    def _remove(self, c: int) -> None:
        del self.cliques[c], self.theta[c], self.parent[c]
        self.parent = [p - (p > c) if p >= 0 else -1 for p in self.parent]

    def order(self) -> list[int]:
        """Cliques with every parent before its children."""
        out, placed = [], set()
        while len(out) < len(self.cliques):
            for c in range(len(self.cliques)):
                if c not in placed and (self.parent[c] < 0 or self.parent[c] in placed):
                    out.append(c)
                    placed.add(c)
        return out

    def beliefs(self, theta: list[np.ndarray] | None = None) -> list[np.ndarray]:
        """Clique marginals (probabilities; each tree of the forest sums to one)."""
        from scipy.special import logsumexp

        theta = self.theta if theta is None else theta
        order = self.order()
        children: list[list[int]] = [[] for _ in self.cliques]
        for c in order:
            if self.parent[c] >= 0:
                children[self.parent[c]].append(c)
        up: dict[int, np.ndarray] = {}
        inside: dict[int, np.ndarray] = {}
        for c in reversed(order):
            inside[c] = theta[c] + sum((_expand(up[k], self.separator(k), self.cliques[c]) for k in children[c]),
                                       np.zeros(1))
            if self.parent[c] >= 0:
                up[c] = _marginal(inside[c], self.cliques[c], self.separator(c), log=True)
        down: dict[int, np.ndarray] = {}
        out: list[np.ndarray] = [np.zeros(0)] * len(self.cliques)
        for c in order:
            p, clique = self.parent[c], self.cliques[c]
            if p >= 0:
                sep = self.separator(c)
                above = inside[p] + _expand(down[p], self.separator(p), self.cliques[p]) if p in down else inside[p]
                above = above - _expand(up[c], sep, self.cliques[p])
                down[c] = _marginal(above, self.cliques[p], sep, log=True)
                belief = inside[c] + _expand(down[c], sep, clique)
            else:
                belief = inside[c]
            out[c] = np.exp(belief - logsumexp(belief))
        return out

    def marginal(self, beliefs: list[np.ndarray], variables: Sequence[int]) -> np.ndarray:
        c = self.clique_of(variables)
        return _marginal(beliefs[c], self.cliques[c], variables, log=False)

    def sample(self, n: int, beliefs: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
        out = np.zeros((n, len(self.sizes)), dtype=np.int64)
        for c in self.order():
            clique, table = self.cliques[c], beliefs[c]
            sep = self.separator(c)
            new = [v for v in clique if v not in sep]
            joint = _marginal(table, clique, [*sep, *new], log=False)
            cells = int(np.prod([self.sizes[v] for v in new]))
            cond = joint.reshape(-1, cells)
            cond = cond / np.maximum(cond.sum(1, keepdims=True), 1e-300)
            row = np.zeros(n, dtype=np.int64)
            for v in sep:
                row = row * self.sizes[v] + out[:, v]
            cdf = np.cumsum(cond, axis=1)[row]
            draw = np.minimum((cdf < rng.random((n, 1)) * cdf[:, -1:]).sum(1), cells - 1)
            for v in reversed(new):
                out[:, v] = draw % self.sizes[v]
                draw //= self.sizes[v]
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"sizes": self.sizes, "cliques": [list(c) for c in self.cliques], "parent": self.parent,
                "theta": [t.tolist() for t in self.theta]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "_JunctionTree":
        tree = cls([int(k) for k in data["sizes"]])
        tree.cliques = [tuple(int(v) for v in c) for c in data["cliques"]]
        tree.parent = [int(p) for p in data["parent"]]
        tree.theta = [np.asarray(t, float).reshape([tree.sizes[v] for v in c])
                      for t, c in zip(data["theta"], tree.cliques)]
        return tree


class _Measurement:
    def __init__(self, variables: tuple[int, ...], y: np.ndarray, sigma: float) -> None:
        self.variables, self.y, self.sigma = variables, y, sigma


class MST(Generator):
    """DP synthetic data from noisy 1-, 2- and 3-way marginals; see the module docstring.

    Required keywords: ``epsilon``, ``delta`` (the (epsilon, delta)-DP guarantee of the whole
    fit) and ``domain`` (public domain of every modelled column). Options: ``contributions``
    (rows kept per person with ``id_column``), ``max_way`` (2: MST's spanning tree of pairs;
    3: cliques of up to three columns), ``iterations`` of the estimator, ``max_cells`` of a
    measured marginal, ``seed`` (of everything but the noise, which OpenDP draws), ``progress``.
    """

    name = "mst"

    def __init__(self, *, epsilon: float, delta: float, domain: Mapping[str, Any], contributions: int = 1,
                 max_way: int = 3, iterations: int = 1000, max_cells: int = 100_000, seed: int = 0,
                 progress: Progress | None = None) -> None:
        self.epsilon, self.delta, self.domain = epsilon, delta, domain
        self.contributions, self.max_way, self.iterations, self.max_cells = contributions, max_way, iterations, max_cells
        self.seed, self.progress = seed, progress

    def get_params(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon, "delta": self.delta, "domain": _jsonable(self.domain),
                "contributions": self.contributions, "max_way": self.max_way, "iterations": self.iterations,
                "max_cells": self.max_cells, "seed": self.seed}

    def _domains(self) -> list[Domain]:
        if not isinstance(self.domain, Mapping) or not self.domain:
            raise ConfigurationError("MST needs domain={column: public description} for every column it models.")
        return [Domain(str(name), spec) for name, spec in self.domain.items()]

    # -- fitting -----------------------------------------------------------------------------------
    def fit(self, df: pd.DataFrame, discrete_columns: Sequence[str] | None = None,   # type: ignore[override]
            identifiers: Sequence[str] | None = None, *, ledger: Any = None, id_column: str | None = None) -> "MST":
        from ..privacy.dp import BudgetLedger
        from ..privacy.mechanisms import bound_contributions, rho_for
        from ._tabular import check_positive_int

        if not isinstance(ledger, BudgetLedger):
            raise ConfigurationError("MST.fit needs ledger=BudgetLedger(...): every measurement is charged to it.")
        if discrete_columns:
            raise ConfigurationError("MST takes its column kinds from domain=, not discrete_columns.")
        check_positive_int("MST", "contributions", self.contributions)
        check_positive_int("MST", "iterations", self.iterations, 0)
        check_positive_int("MST", "max_cells", self.max_cells, 4)
        if self.max_way not in (2, 3):
            raise ConfigurationError(f"The 'max_way' parameter of MST must be 2 or 3. Got {self.max_way!r} instead.")
        domains = self._domains()
        if not isinstance(df, pd.DataFrame) or len(df) == 0:
            raise BadInputError("MST fits a non-empty pandas DataFrame.")
        names = [dom.name for dom in domains]
        lacking = [c for c in names + ([id_column] if id_column else []) if c not in df.columns]
        if lacking:
            raise BadInputError(f"Column(s) {', '.join(map(repr, lacking))} of the domain are not in the table.")
        if id_column is None and self.contributions != 1:
            raise ConfigurationError("contributions > 1 needs id_column= (who the rows belong to).")
        rho = rho_for(self.epsilon, self.delta)
        rng = np.random.default_rng(self.seed)
        rows = np.arange(len(df)) if id_column is None else \
            bound_contributions(df[id_column].to_numpy(), self.contributions, rng)
        codes = np.column_stack([dom.codes(df[dom.name].iloc[rows].reset_index(drop=True)) for dom in domains])
        if ledger.kind == "rho":
            if ledger.cost(rho, "rho") > ledger.remaining * (1 + 1e-12):
                raise PrivacyBudgetError(f"MST needs rho={rho:.6g} for (epsilon={self.epsilon}, delta={self.delta}); "
                                         f"the ledger has {ledger.remaining:.6g} left. Nothing was measured.")
        else:
            ledger.charge(float(self.epsilon), "epsilon", delta=float(self.delta), label="mst",
                          mechanism="MST: discrete Gaussian marginals + exponential-mechanism selection",
                          rho=rho, columns=names)
        start = time.perf_counter()
        d = len(domains)
        rounds = d - 1
        # the budget: a fifth for the 1-way marginals, then per round one choice (a fifth over
        # all rounds) and one measurement (three fifths); with two columns there is nothing to choose
        if rounds == 0:
            split = (rho, 0.0, 0.0)
        elif d == 2:
            split = (rho / 2, 0.0, rho / 2)
        else:
            split = (rho / 5, rho / 5, 3 * rho / 5)
        self._ledger, self._measured = ledger, []

        # 1. every column's 1-way marginal, then rare categories merged (post-processing)
        groups, measurements = [], []
        for i, dom in enumerate(domains):
            emit(self.progress, "mst: 1-way marginals", i, d)
            y, sd = self._measure(codes[:, i], dom.size, split[0] / d, f"1-way {dom.name}")
            small = y < 3 * sd
            keep = ([[k] for k in np.flatnonzero(~small)] + [list(np.flatnonzero(small))]) if small.sum() > 1 \
                else [[k] for k in range(dom.size)]
            groups.append(keep)
            measurements.append(_Measurement((i,), np.array([y[g].sum() for g in keep], float), sd))
        lookup = [np.zeros(dom.size, dtype=np.int64) for dom in domains]
        for i, keep in enumerate(groups):
            for j, g in enumerate(keep):
                lookup[i][g] = j
        compressed = np.column_stack([lookup[i][codes[:, i]] for i in range(d)])
        sizes = [len(g) for g in groups]
        # measurements of merged groups add up: their noise variance grows with the group
        for i, keep in enumerate(groups):
            measurements[i].weights = np.array([1.0 / (measurements[i].sigma ** 2 * len(g)) for g in keep])
        total = max(float(np.mean([m.y.sum() for m in measurements])), 1.0)
        tree = _JunctionTree(sizes)
        self._fit_model(tree, measurements, total, 200)

        # 2. rounds: choose a marginal to add (exponential mechanism), measure it, refit
        attached: set[int] = set()
        counts: dict[tuple[int, ...], np.ndarray] = {}
        rho_choice = split[1] / rounds if rounds else 0.0
        rho_measure = split[2] / rounds if rounds else 0.0
        sd_measure = self.contributions / math.sqrt(2 * rho_measure) if rho_measure else 0.0
        for r in range(rounds):
            emit(self.progress, "mst: choosing and measuring marginals", r, rounds)
            beliefs = tree.beliefs()
            candidates, scores = [], []
            unattached = [v for v in range(d) if v not in attached]
            faces = [(x,) for x in range(d)] if not attached else \
                sorted({f for c in tree.cliques if len(c) > 1 for f in _faces(c, self.max_way - 1)})
            for v in unattached:
                for face in faces:
                    if v in face or (not attached and face[0] < v):
                        continue
                    cells = sizes[v] * int(np.prod([sizes[u] for u in face]))
                    if cells > self.max_cells:
                        continue
                    key = (v, *face)
                    if key not in counts:
                        flat = np.zeros(len(compressed), dtype=np.int64)
                        for u in key:
                            flat = flat * sizes[u] + compressed[:, u]
                        counts[key] = np.bincount(flat, minlength=cells).astype(float)
                    guess = total * np.multiply.outer(tree.marginal(beliefs, (v,)),
                                                      tree.marginal(beliefs, face)).ravel()
                    # how far the model is from the truth, less the error the noise alone would add
                    scores.append(float(np.abs(counts[key] - guess).sum()) - math.sqrt(2 / math.pi) * sd_measure * cells)
                    candidates.append((v, face))
            if not candidates:
                break
            if len(candidates) == 1 or rho_choice == 0:
                pick = int(np.argmax(scores)) if len(candidates) == 1 else 0
            else:
                pick = self._choose(scores, rho_choice)
            v, face = candidates[pick]
            tree.attach(v, face)
            attached.update((v, *face))
            key = (v, *face)
            cells = int(np.prod([sizes[u] for u in key]))
            flat = np.zeros(len(compressed), dtype=np.int64)
            for u in key:
                flat = flat * sizes[u] + compressed[:, u]
            y, sd = self._measure(flat, cells, rho_measure, "marginal " + " x ".join(domains[u].name for u in key))
            m = _Measurement(key, y.reshape([sizes[u] for u in key]), sd)
            m.weights = np.full(m.y.shape, 1.0 / sd ** 2)
            measurements.append(m)
            self._fit_model(tree, measurements, total, 150)
        emit(self.progress, "mst: fitting the model", 0, self.iterations)
        self.loss_ = self._fit_model(tree, measurements, total, self.iterations)
        self.tree_, self.groups_ = tree, [[[int(k) for k in g] for g in keep] for keep in groups]
        self.rho_, self.total_ = rho, total
        self.marginals_ = [[domains[u].name for u in m.variables] for m in measurements]
        self.measure_seconds_ = time.perf_counter() - start
        self.schema_ = Schema([dom.column_spec() for dom in domains], int(round(total)),
                              ["rows is a noisy count; categories and ranges come from the public domain"])
        del self._ledger, self._measured
        return self

    def _measure(self, codes: np.ndarray, cells: int, rho: float, label: str) -> tuple[np.ndarray, float]:
        from ..privacy.mechanisms import counts_scale, noisy_counts

        if self._ledger.kind == "rho":
            self._ledger.charge(rho, "rho", label=f"mst: {label}", mechanism="discrete Gaussian counts",
                                contributions=self.contributions)
        y, _ = noisy_counts(codes, cells, rho, self.contributions)
        return y.astype(float), counts_scale(rho, self.contributions)

    def _choose(self, scores: list[float], rho: float) -> int:
        from ..privacy.mechanisms import noisy_select

        if self._ledger.kind == "rho":
            self._ledger.charge(rho, "rho", label="mst: marginal choice",
                                mechanism="exponential mechanism (Gumbel noisy max)", contributions=self.contributions)
        return noisy_select(scores, rho, float(self.contributions))[0]

    @staticmethod
    def _fit_model(tree: _JunctionTree, measurements: list[_Measurement], total: float, iterations: int) -> float:
        """Mirror descent on the cliques' log-potentials (Private-PGM's estimator): the squared
        error to every measurement, weighted by its noise variance."""
        homes = [tree.clique_of(m.variables) for m in measurements]

        def loss_and_grad(beliefs):
            loss, grads = 0.0, [np.zeros_like(t) for t in tree.theta]
            for m, c in zip(measurements, homes):
                mu = _marginal(beliefs[c], tree.cliques[c], m.variables, log=False)
                r = total * mu - m.y
                loss += float((m.weights * r * r).sum())
                grads[c] = grads[c] + _expand(2 * total * m.weights * r, m.variables, tree.cliques[c])
            return loss, grads

        loss, grads = loss_and_grad(tree.beliefs())
        heaviest = max(float(np.max(m.weights)) for m in measurements)
        step = 1.0 / (2 * total ** 2 * heaviest)
        for _ in range(iterations):
            for _ in range(30):
                theta = [t - step * g for t, g in zip(tree.theta, grads)]
                new_loss, new_grads = loss_and_grad(tree.beliefs(theta))
                if new_loss <= loss:
                    break
                step *= 0.5
            else:
                break
            gain = loss - new_loss
            tree.theta, loss, grads = theta, new_loss, new_grads
            step *= 1.1
            if gain <= 1e-9 * max(loss, 1.0):
                break
        return loss

    # -- sampling ----------------------------------------------------------------------------------
    def _sample(self, n: int, conditions: pd.DataFrame | None, rng: np.random.Generator) -> pd.DataFrame:
        domains = self._domains()
        d = len(domains)
        tree = self.tree_
        if conditions is None:
            codes = tree.sample(n, tree.beliefs(), rng)
        else:
            codes = np.zeros((n, d), dtype=np.int64)
            given = np.full((n, d), -1, dtype=np.int64)
            for i, dom in enumerate(domains):
                if dom.name in conditions.columns:
                    present = conditions[dom.name].notna().to_numpy()
                    if not present.any():
                        continue
                    raw = dom.codes(conditions[dom.name][present].reset_index(drop=True))
                    lookup = np.zeros(dom.size, dtype=np.int64)
                    for j, g in enumerate(self.groups_[i]):
                        lookup[g] = j
                    given[present, i] = lookup[raw]
            keys = pd.Series([tuple(r) for r in given])
            for key, where in keys.groupby(keys).groups.items():
                where = np.asarray(where)
                theta = [t.copy() for t in tree.theta]
                for i, code in enumerate(key):
                    if code >= 0:
                        c = tree.clique_of((i,))
                        mask = np.full(tree.sizes[i], -np.inf)
                        mask[code] = 0.0
                        theta[c] = theta[c] + _expand(mask, (i,), tree.cliques[c])
                codes[where] = tree.sample(len(where), tree.beliefs(theta), rng)
        frame = {}
        for i, dom in enumerate(domains):
            groups = self.groups_[i]
            sizes = np.array([len(g) for g in groups])
            pick = np.floor(rng.random(n) * sizes[codes[:, i]]).astype(np.int64)
            flat = np.array([k for g in groups for k in g], dtype=np.int64)
            starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            frame[dom.name] = dom.values(flat[starts[codes[:, i]] + pick], rng).reset_index(drop=True)
        out = pd.DataFrame(frame)
        return out if conditions is None else self._write_conditions(out, conditions)

    # -- persistence -------------------------------------------------------------------------------
    def _state(self) -> dict[str, Any]:
        return {"groups": self.groups_, "rho": self.rho_, "total": self.total_, "marginals": self.marginals_,
                "model": self.tree_.to_dict()}

    def _load_state(self, state: dict[str, Any]) -> None:
        self.groups_ = [[list(map(int, g)) for g in keep] for keep in state["groups"]]
        self.rho_, self.total_ = float(state["rho"]), float(state["total"])
        self.marginals_ = [list(m) for m in state["marginals"]]
        self.tree_ = _JunctionTree.from_dict(state["model"])


def _faces(clique: tuple[int, ...], size: int) -> list[tuple[int, ...]]:
    """Sub-tuples of a clique with 1..size columns (sorted), the faces a new column may join."""
    out = []
    for k in range(1, min(size, len(clique)) + 1):
        out += [tuple(sorted(f)) for f in itertools.combinations(clique, k)]
    return out


def _jsonable(domain: Any) -> Any:
    if not isinstance(domain, Mapping):
        return domain
    out = {}
    for name, spec in domain.items():
        if isinstance(spec, (list, tuple)):
            spec = {"categories": list(spec)}
        out[str(name)] = {k: (list(v) if isinstance(v, (list, tuple, np.ndarray)) else
                              (v.item() if isinstance(v, np.generic) else v)) for k, v in dict(spec).items()}
        if "categories" in out[str(name)]:
            out[str(name)]["categories"] = [c.item() if isinstance(c, np.generic) else c
                                            for c in out[str(name)]["categories"]]
    return out
