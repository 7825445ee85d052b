"""Differentially private counts, histograms and marginals through OpenDP, with a budget ledger.

All noise comes from OpenDP (``make_count`` / ``make_count_by_categories`` chained with
``make_gaussian`` or ``make_laplace`` on integers, i.e. the discrete Gaussian and discrete
Laplace mechanisms); this module never samples noise itself. OpenDP is imported lazily in
:func:`_dp`, the one place in SECURED where ``dp.enable_features("contrib")`` is called.

Neighbouring tables
    Two tables are neighbours when one is obtained from the other by adding or removing all
    rows of one patient. Before anything is counted, each patient (``id_column``) keeps at most
    ``contributions`` rows, chosen uniformly at random. After this bound, neighbouring tables
    differ by at most ``contributions`` rows, i.e. their symmetric distance is
    ``d_in = contributions``, and every privacy map below is evaluated at that ``d_in``. Without
    ``id_column`` each row is taken to be a different patient (``contributions`` must be 1).

Privacy measures
    ``epsilon=`` gives pure epsilon-DP (discrete Laplace noise, L1 sensitivity
    ``contributions``). ``rho=`` gives rho-zero-concentrated DP (zCDP, discrete Gaussian noise,
    L2 sensitivity ``contributions`` since all kept rows of one patient may fall in one cell).
    zCDP composes by adding rho, and rho-zCDP implies (rho + 2 sqrt(rho log(1/delta)),
    delta)-DP for every delta > 0. Pure epsilon-DP implies (epsilon^2 / 2)-zCDP, which is how
    :class:`BudgetLedger` charges an epsilon release to a rho budget.

Domains
    The categories of every released column must be public: pass them in ``domains`` (rows
    whose value lies outside the domain go to OpenDP's extra "null" category, released as the
    separate noisy count ``other``). Reading the categories from the data is not differentially
    private (one patient's unique value would appear in the release), so a column without a
    domain is refused, unless ``key_selection=True`` is chosen explicitly: then the categories
    present in the data are released only through a DP key-selection mechanism, OpenDP's
    thresholded Laplace counts (``make_count_by`` >> ``make_laplace_threshold``: noisy counts
    of the joint categories, those below a threshold dropped), which is (epsilon, delta)-DP;
    it needs ``epsilon=`` and ``delta=`` and an epsilon ledger with a delta budget. The
    threshold is the smallest for which OpenDP's privacy map gives at most ``delta``.

``rows_used`` (the number of rows after the contribution bound) is exact, not protected: it is
kept for the data holder's audit and the ledger, and left out of :meth:`DPRelease.to_dict`.
"""

from __future__ import annotations

import fcntl
import json
import math
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ..exceptions import BudgetExceededError, ConfigurationError, PrivacyBudgetError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["DPRelease", "BudgetLedger", "BudgetExceededError", "dp_histogram"]

Kind = Literal["rho", "epsilon"]

_MAX_CELLS = 10_000_000
# Relative slack when comparing a sum of float charges with the total (so that e.g. three
# charges of 0.1 fit in 0.3); it lets a ledger overspend by at most 1e-12 of its total.
_LEDGER_RTOL = 1e-12
_LEDGER_FORMAT = "secured-dp-budget-ledger"

_DP_MODULE: Any = None


def _dp() -> Any:
    """``opendp.prelude`` with the "contrib" features enabled (the one place they are)."""
    global _DP_MODULE
    if _DP_MODULE is None:
        try:
            import opendp.prelude as dp
        except ImportError as exc:  # pragma: no cover - opendp is a dependency
            raise ConfigurationError(
                "Differential privacy needs the 'opendp' package; install it with "
                "`pip install 'opendp>=0.16'`.") from exc
        dp.enable_features("contrib")
        _DP_MODULE = dp
    return _DP_MODULE


def _budget(rho: float | None, epsilon: float | None, *, where: str,
            required: bool) -> tuple[Kind, float] | tuple[None, None]:
    """Validate "exactly one of rho/epsilon" and return (kind, value)."""
    if rho is not None and epsilon is not None:
        raise ConfigurationError(
            f"{where}: give either rho= (zero-concentrated DP) or epsilon= (pure DP), not both.")
    if rho is None and epsilon is None:
        if required:
            raise ConfigurationError(
                f"{where}: a privacy budget is required; pass rho= (zero-concentrated DP, "
                f"discrete Gaussian noise) or epsilon= (pure DP, discrete Laplace noise).")
        return None, None
    kind: Kind = "rho" if rho is not None else "epsilon"
    value = rho if rho is not None else epsilon
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ConfigurationError(f"{where}: {kind} must be a positive number.")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ConfigurationError(
            f"{where}: {kind} must be a positive, finite number; pass e.g. {kind}=0.5.")
    return kind, value


def _to_rho_or_epsilon(amount: float, kind: Kind, ledger_kind: Kind) -> float:
    """The amount a release of ``kind`` costs in a ledger of ``ledger_kind``."""
    if kind == ledger_kind:
        return amount
    if kind == "epsilon" and ledger_kind == "rho":
        return amount * amount / 2.0  # pure eps-DP implies (eps^2/2)-zCDP
    raise ConfigurationError(
        "This ledger holds a pure-DP epsilon budget and cannot account for a zero-concentrated "
        "(rho) release; release with epsilon= instead, or keep zCDP releases in a rho ledger.")


@dataclass(frozen=True)
class DPRelease:
    """A differentially private histogram (or a single count when ``columns`` is empty).

    Attributes
    ----------
    table : DataFrame
        One row per cell of the joint domain: the released columns, ``count`` (noisy integer)
        and ``count_clipped`` (``max(count, 0)``, post-processing).
    columns : tuple of str
        The released columns (empty for a total count).
    rho, epsilon : float or None
        The privacy spent, as given by OpenDP's privacy map at ``d_in = contributions``; the
        other one is None.
    scale : float
        The noise scale (standard deviation of the discrete Gaussian; b of the discrete Laplace).
    contributions : int
        The most rows one patient contributes (the symmetric distance ``d_in``).
    rows_used : int
        Rows counted after the contribution bound. Exact, not private; not in :meth:`to_dict`.
    domain_from_data : bool
        True when the categories came from the data, through DP key selection (never directly).
    other : int or None
        Noisy count of rows outside the given domains (None for a total count).
    mechanism : str
        The OpenDP query and noise, e.g. ``"count_by_categories+discrete_gaussian"``.
    label : str or None
        The caller's label, also recorded in the ledger.
    """

    table: pd.DataFrame
    columns: tuple[str, ...]
    scale: float
    contributions: int
    rows_used: int
    domain_from_data: bool
    mechanism: str
    rho: float | None = None
    epsilon: float | None = None
    other: int | None = None
    label: str | None = None
    data_domain_columns: tuple[str, ...] = field(default=())
    delta: float | None = None
    threshold: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable summary of the release (noisy results only; no ``rows_used``)."""
        cells = [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in rec.items()}
                 for rec in self.table.to_dict(orient="records")]
        return {
            "columns": list(self.columns),
            "mechanism": self.mechanism,
            "rho": self.rho,
            "epsilon": self.epsilon,
            "delta": self.delta,
            "threshold": self.threshold,
            "scale": self.scale,
            "contributions": self.contributions,
            "domain_from_data": self.domain_from_data,
            "data_domain_columns": list(self.data_domain_columns),
            "other": self.other,
            "label": self.label,
            "cells": cells,
        }


class BudgetLedger:
    """A privacy budget kept in a JSON file, shared safely between processes.

    ``BudgetLedger(path, rho=1.0)`` creates the ledger when ``path`` does not exist, or opens
    it (the budget given must then equal the stored one; give none to use the stored one).
    A rho ledger accepts zCDP releases (charged rho) and pure-DP releases (charged
    epsilon^2/2); an epsilon ledger accepts pure-DP releases, and (epsilon, delta)-DP ones
    when it was created with a ``delta=`` budget (epsilons and deltas add up).

    Safety: the path is resolved to the real file first (symlinks included), and the lock
    is taken on ``<real file>.lock``, so every alias of one ledger shares one lock and one
    file. Every charge is a read-check-write under that exclusive ``flock``, written
    atomically and fsynced, so concurrent charges never both overspend or lose an entry; a
    refused charge writes nothing. Reading fails closed: a ledger whose total, kind or any
    entry is missing, not a finite non-negative number (NaN, infinity) or of an unknown kind
    refuses every release (``PrivacyBudgetError``) until it is repaired.
    """

    def __init__(self, path: str | os.PathLike[str], *, rho: float | None = None,
                 epsilon: float | None = None, delta: float | None = None) -> None:
        given = Path(path)
        if given.is_dir():
            raise ConfigurationError(f"BudgetLedger: {str(given)!r} is a folder; give a file path.")
        self.path = given.resolve()
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        if not self.path.parent.is_dir():
            raise ConfigurationError(
                f"BudgetLedger: the folder of the ledger file {str(given)!r} does not exist; create it first.")
        kind, total = _budget(rho, epsilon, where="BudgetLedger", required=False)
        if delta is not None:
            delta = _delta(delta, "BudgetLedger")
            if kind == "rho":
                raise ConfigurationError("BudgetLedger: a delta budget goes with an epsilon budget "
                                         "((epsilon, delta)-DP); a rho ledger does not take one.")
        with self._locked():
            if self.path.exists():
                state = self._read()
                if kind is not None and (state["kind"] != kind or state["total"] != total
                                         or state.get("delta_total") != delta):
                    raise ConfigurationError(
                        f"BudgetLedger: {str(given)!r} holds a total budget of {state['kind']}={state['total']!r}"
                        + (f", delta={state['delta_total']!r}" if state.get("delta_total") is not None else "")
                        + ". A ledger's budget cannot change; open it without rho=/epsilon=/delta= to use the "
                          "stored budget.")
            else:
                if kind is None:
                    raise ConfigurationError(
                        f"BudgetLedger: {str(given)!r} does not exist; pass rho= or epsilon= "
                        f"to create it with that total budget.")
                state = {"format": _LEDGER_FORMAT, "version": 2, "kind": kind, "total": total,
                         "delta_total": delta, "entries": []}
                self._write(state)
        self.kind: Kind = state["kind"]
        self.total: float = float(state["total"])
        self.delta_total: float | None = state.get("delta_total")

    def __repr__(self) -> str:
        extra = f", delta={self.delta_total!r}" if self.delta_total is not None else ""
        return f"BudgetLedger({str(self.path)!r}, {self.kind}={self.total!r}{extra})"

    @contextmanager
    def _locked(self, exclusive: bool = True) -> Iterator[None]:
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _corrupt(self, what: str) -> PrivacyBudgetError:
        return PrivacyBudgetError(
            f"BudgetLedger: {self.path.name} is corrupt ({what}); every release is refused until it is repaired "
            "(it is never overwritten).")

    def _read(self) -> dict[str, Any]:
        def refuse_constant(name: str) -> Any:
            raise ValueError(name)

        try:
            state = json.loads(self.path.read_text(encoding="utf-8"), parse_constant=refuse_constant)
        except (OSError, UnicodeDecodeError, ValueError):
            raise self._corrupt("not a readable JSON ledger, or it holds NaN or infinity") from None
        if not isinstance(state, dict) or state.get("format") != _LEDGER_FORMAT:
            raise ConfigurationError(
                f"BudgetLedger: {self.path.name} is not a SECURED budget ledger; check the path "
                f"(it is never overwritten).")
        if state.get("kind") not in ("rho", "epsilon") or not _finite(state.get("total"), positive=True):
            raise self._corrupt("its kind or total budget")
        state.setdefault("delta_total", None)
        if state["delta_total"] is not None and not (_finite(state["delta_total"]) and state["delta_total"] < 1):
            raise self._corrupt("its delta budget")
        entries = state.get("entries")
        if not isinstance(entries, list):
            raise self._corrupt("its entries")
        for i, e in enumerate(entries):
            if (not isinstance(e, dict) or e.get("kind") not in ("rho", "epsilon")
                    or not _finite(e.get("charged")) or not _finite(e.get("amount"))
                    or not _finite(e.get("delta", 0.0))):
                raise self._corrupt(f"entry {i + 1} is not a finite non-negative charge")
        return state

    def _write(self, state: dict[str, Any]) -> None:
        from ..io import atomic_write

        with atomic_write(self.path) as tmp:
            tmp.write_text(json.dumps(state, indent=1, allow_nan=False) + "\n", encoding="utf-8")

    def _snapshot(self) -> dict[str, Any]:
        with self._locked(exclusive=False):
            return self._read()

    @staticmethod
    def _sum(entries: Sequence[Mapping[str, Any]], key: str = "charged") -> float:
        return math.fsum(float(e.get(key, 0.0)) for e in entries)

    @property
    def entries(self) -> list[dict[str, Any]]:
        """The recorded charges, oldest first (copies)."""
        return self._snapshot()["entries"]

    @property
    def spent(self) -> float:
        """Budget spent so far, in the ledger's unit (rho or epsilon)."""
        return self._sum(self._snapshot()["entries"])

    @property
    def delta_spent(self) -> float:
        return self._sum(self._snapshot()["entries"], "delta")

    @property
    def remaining(self) -> float:
        """Budget left, in the ledger's unit (never negative)."""
        return max(self.total - self.spent, 0.0)

    def cost(self, amount: float, kind: Kind) -> float:
        """What a release spending ``amount`` of ``kind`` costs in this ledger's unit."""
        if kind not in ("rho", "epsilon"):
            raise ConfigurationError(f"BudgetLedger: kind must be 'rho' or 'epsilon', not {kind!r}.")
        if isinstance(amount, bool) or not isinstance(amount, (int, float, np.integer, np.floating)) \
                or not (math.isfinite(float(amount)) and float(amount) > 0):
            raise ConfigurationError(
                f"BudgetLedger.charge: the amount of {kind} must be a positive, finite number.")
        return _to_rho_or_epsilon(float(amount), kind, self.kind)

    def charge(self, amount: float, kind: Kind, *, delta: float = 0.0, **meta: Any) -> dict[str, Any]:
        """Record a release spending ``amount`` of ``kind`` ('rho' or 'epsilon') and ``delta``.

        ``meta`` (e.g. label, columns, mechanism, contributions, rows_used) is stored with the
        entry and must be JSON-serialisable. Raises :class:`BudgetExceededError`, writing
        nothing, when the charge would pass the total. Returns the recorded entry.
        """
        charged = self.cost(amount, kind)
        if isinstance(delta, bool) or not _finite(delta) or not delta < 1:
            raise ConfigurationError("BudgetLedger.charge: delta must be a number in [0, 1).")
        delta = float(delta)
        if delta > 0 and (self.kind != "epsilon" or kind != "epsilon"):
            raise ConfigurationError("An (epsilon, delta)-DP release goes into an epsilon ledger with a delta budget; "
                                     "this ledger cannot account for it.")
        if delta > 0 and self.delta_total is None:
            raise ConfigurationError("This release spends a delta; the ledger has no delta budget. Create one with "
                                     "BudgetLedger(path, epsilon=..., delta=...) (--budget-delta).")
        reserved = {"time", "kind", "amount", "charged", "delta"}
        if reserved & meta.keys():
            raise ConfigurationError(
                f"BudgetLedger.charge: {sorted(reserved & meta.keys())} are set by the ledger; "
                f"rename those metadata keys.")
        entry = {"time": datetime.now(timezone.utc).isoformat(), "kind": kind,
                 "amount": float(amount), "charged": charged, "delta": delta,
                 **{k: (list(v) if isinstance(v, tuple) else v) for k, v in meta.items()}}
        try:
            json.dumps(entry, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(
                "BudgetLedger.charge: metadata must be JSON-serialisable (str, finite numbers, lists).") \
                from exc
        with self._locked():
            state = self._read()
            spent = self._sum(state["entries"])
            spent_delta = self._sum(state["entries"], "delta")
            if spent + charged > self.total * (1.0 + _LEDGER_RTOL) or (
                    delta > 0 and spent_delta + delta > self.delta_total * (1.0 + _LEDGER_RTOL)):
                raise BudgetExceededError(
                    f"Privacy budget exceeded: the ledger {self.path.name} has spent "
                    f"{self.kind}={spent:.6g} of {self.total:.6g} (remaining "
                    f"{max(self.total - spent, 0.0):.6g})"
                    + (f" and delta={spent_delta:.3g} of {self.delta_total:.3g}" if self.delta_total is not None else "")
                    + f"; this release needs {self.kind}={charged:.6g}" + (f", delta={delta:.3g}" if delta else "")
                    + ". Nothing was released or recorded. Ask for a smaller budget (more noise) or release fewer "
                      "statistics; a ledger's total cannot be raised.")
            state["entries"].append(entry)
            self._write(state)
        return dict(entry)


def _finite(value: Any, positive: bool = False) -> bool:
    """A finite non-negative (or positive) number, not a bool."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return False
    value = float(value)
    return math.isfinite(value) and (value > 0 if positive else value >= 0)


def _delta(value: Any, where: str) -> float:
    if not _finite(value, positive=True) or not value < 1:
        raise ConfigurationError(f"{where}: delta must be a number in (0, 1), e.g. 1e-6.")
    return float(value)


def _bound_rows(ids: np.ndarray, contributions: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted row indices keeping at most ``contributions`` uniformly random rows per id."""
    import pandas as pd

    codes = pd.factorize(ids)[0]
    perm = rng.permutation(len(codes))
    rank = pd.Series(codes[perm]).groupby(codes[perm]).cumcount().to_numpy()
    return np.sort(perm[rank < contributions])


def _validate_domain(column: str, domain: Any) -> list[Any]:
    import pandas as pd

    if isinstance(domain, (str, bytes)) or not isinstance(domain, (Sequence, np.ndarray, pd.Index)):
        raise ConfigurationError(
            f"domains[{column!r}] must be a list of the column's public categories.")
    values = list(domain)
    if not values:
        raise ConfigurationError(f"domains[{column!r}] is empty; list the column's categories.")
    if any(pd.isna(v) for v in values):
        raise ConfigurationError(
            f"domains[{column!r}] contains a missing value; fill missing values in the column "
            f"with a category of their own and list that category instead.")
    if len(pd.Index(values).unique()) != len(values):
        raise ConfigurationError(f"domains[{column!r}] lists a category twice; remove duplicates.")
    return values


def _noise_chain(dp: Any, kind: Kind, n_cells: int | None) -> tuple[Any, Any, str]:
    """The OpenDP query (count, or count_by_categories with a null cell) and its noise.

    Returns ``(query, noise constructor, mechanism name)``; integer counts get discrete noise.
    """
    space = dp.vector_domain(dp.atom_domain(T="i64")), dp.symmetric_distance()
    if n_cells is None:
        query = dp.t.make_count(*space, TO="i64")
        name = "count"
    else:
        metric = "L2Distance<i64>" if kind == "rho" else "L1Distance<i64>"
        query = dp.t.make_count_by_categories(*space, categories=list(range(n_cells)),
                                              null_category=True, MO=metric, TOA="i64")
        name = "count_by_categories"
    noise = dp.m.make_gaussian if kind == "rho" else dp.m.make_laplace
    return query, noise, f"{name}+discrete_{'gaussian' if kind == 'rho' else 'laplace'}"


def dp_histogram(df: pd.DataFrame, columns: Sequence[str] | str, *, rho: float | None = None,
                 epsilon: float | None = None, id_column: str | None = None,
                 contributions: int = 1, domains: Mapping[str, Sequence[Any]] | None = None,
                 ledger: BudgetLedger, label: str | None = None, key_selection: bool = False,
                 delta: float | None = None, seed: int | None = None) -> DPRelease:
    """Release a noisy joint histogram of ``columns`` (a total count when ``columns=[]``).

    Parameters
    ----------
    df : DataFrame
        The sensitive table.
    columns : list of str
        Columns of the marginal; the cells are the Cartesian product of their domains.
    rho, epsilon : float
        Exactly one: rho-zCDP (discrete Gaussian) or pure epsilon-DP (discrete Laplace).
    id_column : str, optional
        Patient identifier; each patient keeps at most ``contributions`` random rows. Without
        it every row is a patient and ``contributions`` must be 1.
    contributions : int
        Rows kept per patient, which is the ``d_in`` of the privacy map.
    domains : mapping column -> list
        Public categories per column, required for every column unless ``key_selection``;
        values outside a domain are counted in ``other``.
    key_selection : bool
        Release the joint categories present in the data through DP key selection
        (thresholded Laplace counts, (epsilon, delta)-DP; needs ``epsilon`` and ``delta``).
    delta : float
        The delta of a key-selection release.
    ledger : BudgetLedger
        Required: every release is accounted. Charged with the spent budget before any
        noisy result is computed; a refusal (:class:`BudgetExceededError`) releases nothing.
    label : str, optional
        Recorded with the release and in the ledger.
    seed : int, optional
        Seeds only the choice of rows kept per patient (for reproducible tests); the noise
        always comes from OpenDP's own secure sampler.
    """
    if not isinstance(ledger, BudgetLedger):
        raise ConfigurationError("dp_histogram needs ledger=BudgetLedger(path, rho=... or epsilon=...): every "
                                 "release is accounted.")
    import pandas as pd

    kind, budget = _budget(rho, epsilon, where="dp_histogram", required=True)
    if not isinstance(df, pd.DataFrame):
        raise ConfigurationError("dp_histogram: df must be a pandas DataFrame.")
    cols = [columns] if isinstance(columns, str) else list(columns)
    if any(not isinstance(c, str) for c in cols):
        raise ConfigurationError("dp_histogram: columns must be a list of column names.")
    if len(set(cols)) != len(cols):
        raise ConfigurationError("dp_histogram: a column is listed twice in columns; list it once.")
    missing = [c for c in cols + ([id_column] if id_column is not None else [])
               if c not in df.columns]
    if missing:
        raise ConfigurationError(
            f"dp_histogram: column(s) {', '.join(map(repr, missing))} not in the table; check "
            f"the names in columns/id_column.")
    if len(df) == 0:
        raise ConfigurationError("dp_histogram: the table is empty; there is nothing to release.")
    if isinstance(contributions, bool) or not isinstance(contributions, (int, np.integer)) \
            or contributions < 1:
        raise ConfigurationError(
            "dp_histogram: contributions must be an integer >= 1 (the most rows kept per "
            "patient).")
    contributions = int(contributions)
    if id_column is None and contributions != 1:
        raise ConfigurationError(
            "dp_histogram: contributions > 1 needs id_column= (the patient identifier) so that "
            "rows can be bounded per patient; without it every row is one patient.")
    domains = dict(domains or {})
    unknown = [c for c in domains if c not in cols]
    if unknown:
        raise ConfigurationError(
            f"dp_histogram: domains names column(s) {', '.join(map(repr, unknown))} that are not "
            f"in columns; remove them or add them to columns.")
    for c in [*cols, *([id_column] if id_column is not None else [])]:
        if df[c].isna().any():
            raise ConfigurationError(
                f"dp_histogram: column {c!r} has missing values; fill them (e.g. with an "
                f"'Unknown' category listed in domains) or drop those rows before the release.")
    given = {c: _validate_domain(c, domains[c]) for c in cols if c in domains}
    if key_selection:
        if domains:
            raise ConfigurationError("dp_histogram: key_selection releases the categories found in the data; do not "
                                     "pass domains with it.")
        if kind != "epsilon" or delta is None or not cols:
            raise ConfigurationError("dp_histogram: key_selection is (epsilon, delta)-DP: pass epsilon= and delta= "
                                     "(e.g. delta=1e-6) and at least one column.")
        delta = _delta(delta, "dp_histogram")
    else:
        if delta is not None:
            raise ConfigurationError("dp_histogram: delta= applies to key_selection releases only.")
        no_domain = [c for c in cols if c not in given]
        if no_domain:
            raise ConfigurationError(
                f"dp_histogram: column(s) {', '.join(map(repr, no_domain))} have no public domain. Categories "
                "read from the data are not differentially private (a patient's unique value would be released): "
                "pass domains={column: [categories]} (--domain), or choose key_selection=True with epsilon= and "
                "delta= (--key-selection) to release the categories found through thresholded noisy counts.")

    # Contribution bound: at most `contributions` uniformly random rows per patient.
    if id_column is None:
        keep = np.arange(len(df))
    else:
        rng = np.random.default_rng(secrets.randbits(128) if seed is None else seed)
        keep = _bound_rows(df[id_column].to_numpy(), contributions, rng)
    rows_used = int(len(keep))
    if key_selection:
        return _key_selection_release(df, cols, keep, budget, delta, contributions, ledger, label)

    # Per-column codes in the (public or data) domain; -1 for values outside it.
    doms: list[list[Any]] = []
    codes: list[np.ndarray] = []
    from_data: list[str] = []
    for c in cols:
        values = df[c].to_numpy()[keep]
        if c in given:
            dom = given[c]
        else:
            try:
                dom = sorted(pd.unique(values).tolist())
            except TypeError as exc:
                raise ConfigurationError(
                    f"dp_histogram: the values of column {c!r} cannot be sorted into a domain; "
                    f"pass its categories in domains.") from exc
            from_data.append(c)
        doms.append(dom)
        codes.append(pd.Index(dom).get_indexer(values).astype(np.int64))  # -1: outside

    n_cells = math.prod(len(d) for d in doms) if cols else None
    if n_cells is not None and n_cells > _MAX_CELLS:
        raise ConfigurationError(
            f"dp_histogram: the joint domain of {cols} has {n_cells} cells (at most {_MAX_CELLS}); "
            f"release fewer columns or coarser categories.")
    if cols:
        joint = np.zeros(rows_used, dtype=np.int64)
        outside = np.zeros(rows_used, dtype=bool)
        for dom, code in zip(doms, codes):
            joint = joint * len(dom) + code
            outside |= code < 0
        joint[outside] = -1  # not a category: OpenDP counts it in the null ("other") cell
    else:
        joint = np.zeros(rows_used, dtype=np.int64)

    # Measurement: query >> noise, scale searched for the budget at d_in = contributions.
    dp = _dp()
    query, noise, mechanism = _noise_chain(dp, kind, n_cells)

    def make_noise(s: float) -> Any:
        return noise(query.output_domain, query.output_metric, s)

    try:
        scale = float(dp.binary_search_param(make_noise, d_in=query.map(contributions), d_out=budget))
        meas = query >> make_noise(scale)
        spent = float(meas.map(contributions))
    except Exception:  # noqa: BLE001 - OpenDP's errors carry no data, but say nothing useful either
        raise ConfigurationError(f"dp_histogram: OpenDP found no noise scale for {kind}={budget:g} at "
                                 f"{contributions} contribution(s) per patient; the budget is too small (or too "
                                 "large) to release. Use a budget between 1e-6 and 1e6.") from None
    if spent > budget:  # pragma: no cover - binary_search_param guarantees this
        raise RuntimeError("OpenDP returned a measurement over the requested budget.")

    ledger.charge(spent, kind, label=label, columns=cols, mechanism=mechanism,  # charge first: a refusal
                  contributions=contributions, rows_used=rows_used)                # releases nothing

    noisy = meas(joint.tolist())
    if cols:
        counts = np.asarray(noisy[:-1], dtype=np.int64)
        other: int | None = int(noisy[-1])
        table = pd.MultiIndex.from_product(doms, names=cols).to_frame(index=False)
    else:
        counts = np.asarray([noisy], dtype=np.int64)
        other = None
        table = pd.DataFrame(index=range(1))
    table["count"] = counts
    table["count_clipped"] = np.maximum(counts, 0)
    return DPRelease(
        table=table, columns=tuple(cols), scale=scale, contributions=contributions,
        rows_used=rows_used, domain_from_data=bool(from_data), mechanism=mechanism,
        rho=spent if kind == "rho" else None, epsilon=spent if kind == "epsilon" else None,
        other=other, label=label, data_domain_columns=tuple(from_data))


def _key_selection_release(df: pd.DataFrame, cols: list[str], keep: np.ndarray, epsilon: float, delta: float,
                           contributions: int, ledger: BudgetLedger, label: str | None) -> DPRelease:
    """Noisy counts of the joint categories present in the data, those whose noisy count is
    below a threshold dropped (OpenDP's thresholded Laplace mechanism, (epsilon, delta)-DP):
    a category held by few patients is released only with probability about delta."""
    import pandas as pd

    dp = _dp()
    frame = df[cols].iloc[keep]
    keys = [json.dumps([str(v) for v in row]) for row in frame.itertuples(index=False, name=None)]
    space = dp.vector_domain(dp.atom_domain(T=str)), dp.symmetric_distance()
    query = dp.t.make_count_by(*space, TV="i64")

    def measure(scale: float, threshold: int) -> Any:
        return query >> dp.m.then_laplace_threshold(scale=scale, threshold=threshold)

    try:
        scale = float(dp.binary_search(lambda s: measure(s, 2**40).map(contributions)[0] <= epsilon, bounds=(1e-6, 1e9)))
        threshold = int(dp.binary_search(lambda t: measure(scale, t).map(contributions)[1] <= delta, bounds=(1, 2**30)))
        meas = measure(scale, threshold)
        spent_epsilon, spent_delta = (float(x) for x in meas.map(contributions))
    except Exception:  # noqa: BLE001
        raise ConfigurationError(f"dp_histogram: OpenDP found no key-selection mechanism for epsilon={epsilon:g}, "
                                 f"delta={delta:g}; use a budget between 1e-6 and 1e6 and delta in (0, 1).") from None
    if spent_epsilon > epsilon or spent_delta > delta:  # pragma: no cover - the searches guarantee this
        raise RuntimeError("OpenDP returned a measurement over the requested budget.")
    ledger.charge(spent_epsilon, "epsilon", delta=spent_delta, label=label, columns=cols,
                  mechanism="count_by+laplace_threshold", contributions=contributions, rows_used=int(len(keep)),
                  threshold=threshold)
    noisy = meas(keys)
    records = [json.loads(key) + [int(count)] for key, count in sorted(noisy.items())]
    table = pd.DataFrame(records, columns=[*cols, "count"]) if records else pd.DataFrame(columns=[*cols, "count"])
    table["count"] = table["count"].astype(np.int64)
    table["count_clipped"] = np.maximum(table["count"].to_numpy(), 0)
    return DPRelease(table=table, columns=tuple(cols), scale=scale, contributions=contributions,
                     rows_used=int(len(keep)), domain_from_data=True, mechanism="count_by+laplace_threshold",
                     epsilon=spent_epsilon, delta=spent_delta, other=None, label=label, data_domain_columns=tuple(cols),
                     threshold=threshold)
