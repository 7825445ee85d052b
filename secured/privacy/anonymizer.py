"""scikit-learn-shaped anonymizer and the release writer behind ``secured anonymize``.

``Anonymizer(k=5, quasi_identifiers=[...], method="optimal"|"mondrian"|"mdav", ...)``:
``__init__`` stores, ``fit_transform(df)`` returns the release and fills ``report_`` with the
achieved k (and l, t when a sensitive column is named), the suppression and the utility
metrics, all recomputed on the release; ``transform(new_rows)`` generalizes further rows the
same way (no suppression), e.g. a held-out test set.

- optimal: global recoding over the hierarchy lattice (a hierarchy per quasi-identifier),
  with record suppression up to ``max_suppression``; l-diversity and t-closeness are part of
  the search's check, not an afterthought.
- mondrian: local recoding (hierarchies for categorical quasi-identifiers, ``numeric`` for
  numeric ones); l and t constrain every cut.
- mdav: microaggregation of numeric quasi-identifiers (k-anonymity only).

A quasi-identifier given without a hierarchy gets one built from its values
(``hierarchy.auto_hierarchy``: quantile intervals for many-valued numbers, runs of 2 then 4
otherwise), listed in ``report_["hierarchies_built"]``. Columns nobody declared are screened
(``screening.screen_columns``): one that identifies people alone or with the
quasi-identifiers stops the release until it is declared or kept on purpose (``keep``).

``recoding()`` is the fitted recoding as JSON-ready data (hierarchies, chosen levels or the
Mondrian cut tree or the MDAV means, and the parameters); ``Anonymizer.from_recoding(d)``
restores an anonymizer whose ``transform`` generalizes rows exactly as the fitted one did, so
a release can be assessed later the way it was assessed when it was made.

Direct identifiers are removed (``drop``) or replaced by keyed pseudonyms (``pseudonymize``):
HMAC-SHA256 under a 32-byte key, so equal values stay linkable within (and, with the same
key, across) releases while nobody without the key can recompute them. Without a key a random
one is drawn and never stored (pseudonyms are then unlinkable to any other release).
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import secrets
from typing import Any, Sequence

import numpy as np
import pandas as pd

from ..exceptions import BadInputError, ConfigurationError, NotFittedError
from ..progress import Progress, stage_counter
from .criteria import PrivacyCriteria
from .hierarchy import Hierarchy, auto_hierarchy
from .lattice import apply_recoding, optimal_recoding
from .mdav import MDAV
from .models import check_k_anonymity, check_l_diversity, check_t_closeness
from .mondrian import Mondrian
from .reports import AnonymizationReport
from .screening import screen_columns
from .utility import utility_report

__all__ = ["Anonymizer", "pseudonymize", "METHODS", "RECODING_FORMAT"]

METHODS = ("optimal", "mondrian", "mdav")


def pseudonymize(values: pd.Series, key: bytes) -> pd.Series:
    """HMAC-SHA256 of each value's text under ``key``, as 32 hex digits (128 bits)."""
    if not isinstance(key, bytes) or len(key) < 16:
        raise ConfigurationError("A pseudonymization key must be at least 16 random bytes.")
    uniques, inverse = np.unique(values.astype(str).to_numpy(), return_inverse=True)
    digests = np.array([hmac.new(key, u.encode(), hashlib.sha256).hexdigest()[:32] for u in uniques], dtype=object)
    return pd.Series(digests[inverse], index=values.index)


RECODING_FORMAT = "secured-recoding/1"


class Anonymizer:
    """k-anonymity (with l-diversity / t-closeness) by global recoding, Mondrian or MDAV.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"age": [31, 35, 38, 33, 52, 55, 58, 51], "sex": list("FMFMFMFM"),
    ...                    "dx": list("abcdabcd")})
    >>> anon = Anonymizer(k=2, quasi_identifiers=["age", "sex"], method="mondrian", numeric=["age"],
    ...                   hierarchies={"sex": Hierarchy.from_spec("sex", "flat", df["sex"])})
    >>> release = anon.fit_transform(df)
    >>> anon.report_["k"] >= 2
    True
    """

    def __init__(self, *, k: int, quasi_identifiers: list[str], method: str = "optimal",
                 hierarchies: dict[str, Hierarchy] | None = None, numeric: list[str] | None = None,
                 max_suppression: float = 0.0, id_column: str | None = None, sensitive: str | None = None,
                 l: float | None = None, l_variant: str = "distinct", c: float | None = None,
                 t: float | None = None, t_distance: str = "equal", drop: list[str] | None = None,
                 pseudonymize: list[str] | None = None, pseudonym_key: bytes | None = None,
                 keep: Sequence[str] | str | None = None, items: list[str] | None = None, m: int | None = None,
                 item_hierarchy: Hierarchy | None = None, max_item_suppression: float = 0.1,
                 item_dates: dict[str, str] | None = None, date_precision: str | None = None,
                 utility: bool = True, progress: Progress | None = None) -> None:
        self.k, self.quasi_identifiers, self.method = k, quasi_identifiers, method
        self.hierarchies, self.numeric = hierarchies, numeric
        self.max_suppression, self.id_column, self.sensitive = max_suppression, id_column, sensitive
        self.l, self.l_variant, self.c, self.t, self.t_distance = l, l_variant, c, t, t_distance
        self.drop, self.pseudonymize, self.pseudonym_key = drop, pseudonymize, pseudonym_key
        self.keep, self.utility, self.progress = keep, utility, progress
        self.items, self.m, self.item_hierarchy = items, m, item_hierarchy
        self.max_item_suppression = max_item_suppression
        self.item_dates, self.date_precision = item_dates, date_precision

    # -- scikit-learn style parameters -------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]

    def get_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> "Anonymizer":
        unknown = [p for p in params if p not in self._param_names()]
        if unknown:
            raise ConfigurationError(f"Unknown Anonymizer parameter(s) {', '.join(map(repr, unknown))}; "
                                     f"known: {', '.join(self._param_names())}.")
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def clone(self, **params: Any) -> "Anonymizer":
        """An unfitted copy with the same parameters, ``params`` changed."""
        return type(self)(**self.get_params()).set_params(**params)

    # -- fitting -------------------------------------------------------------------------------
    def _criteria(self) -> PrivacyCriteria:
        t_hierarchy = self.hierarchies_.get(self.sensitive) if self.t_distance == "hierarchical" else None
        return PrivacyCriteria(k=self.k, sensitive=self.sensitive, l=self.l, l_variant=self.l_variant, c=self.c,
                               t=self.t, t_distance=self.t_distance, t_hierarchy=t_hierarchy, id_column=self.id_column)

    def _validate_params(self) -> None:
        if self.method not in METHODS:
            raise ConfigurationError(f"The 'method' parameter of Anonymizer must be one of {', '.join(METHODS)}. "
                                     f"Got {self.method!r} instead.")
        if not self.quasi_identifiers or isinstance(self.quasi_identifiers, str):
            raise ConfigurationError("Name at least one quasi-identifier (a list of column names).")
        if isinstance(self.k, bool) or not isinstance(self.k, (int, np.integer)) or self.k < 2:
            raise ConfigurationError(f"The 'k' parameter of Anonymizer must be an int in the range [2, inf). "
                                     f"Got {self.k!r} instead.")
        if not isinstance(self.max_suppression, (int, float)) or not 0.0 <= self.max_suppression < 1.0:
            raise ConfigurationError(f"The 'max_suppression' parameter of Anonymizer must be a number in [0, 1). "
                                     f"Got {self.max_suppression!r} instead.")
        if self.max_suppression and self.method != "optimal":
            raise ConfigurationError(
                "Record suppression (max_suppression) applies to method 'optimal' only: Mondrian generalizes each "
                "box on its own, so a rare value widens only its box, and MDAV has no classes to drop.")
        if self.items is not None:
            if isinstance(self.items, str) or not self.items:
                raise ConfigurationError("The 'items' parameter of Anonymizer must be a list of item columns.")
            if not self.id_column:
                raise ConfigurationError("Item columns need an id column: a person's items come from all their rows.")
            if isinstance(self.m, bool) or not isinstance(self.m, (int, np.integer)) or not 1 <= self.m <= 4:
                raise ConfigurationError(f"The 'm' parameter of Anonymizer (items an attacker knows) must be an int "
                                         f"in [1, 4] with items. Got {self.m!r} instead.")
            if not (isinstance(self.max_item_suppression, (int, float)) and 0 <= self.max_item_suppression < 1):
                raise ConfigurationError("The 'max_item_suppression' parameter must be a number in [0, 1).")
            if self.item_dates is not None:
                if not isinstance(self.item_dates, dict) or not all(
                        isinstance(k, str) and isinstance(v, str) for k, v in self.item_dates.items()):
                    raise ConfigurationError("The 'item_dates' parameter maps item columns to date columns, e.g. "
                                             "{'diag_1': 'admitted'}.")
                stray = [c for c in self.item_dates if c not in self.items]
                if stray:
                    raise ConfigurationError(f"item_dates names column(s) {', '.join(map(repr, stray))} that are "
                                             "not item columns.")
            if self.date_precision is not None:
                from .longitudinal import _check_precision

                if not self.item_dates:
                    raise ConfigurationError("The 'date_precision' parameter applies with item_dates.")
                _check_precision(self.date_precision)
        elif self.m is not None or self.item_dates is not None:
            raise ConfigurationError("The 'm' and 'item_dates' parameters apply with item columns (items=[...]).")
        if self.keep is not None and self.keep != "all" and (isinstance(self.keep, str) or
                                                              not all(isinstance(c, str) for c in self.keep)):
            raise ConfigurationError("The 'keep' parameter of Anonymizer must be a list of column names or 'all'.")

    def _validate(self, df: pd.DataFrame) -> None:
        if not isinstance(df, pd.DataFrame):
            raise BadInputError(f"Anonymizer.fit_transform takes a pandas DataFrame; got {type(df).__name__}.")
        if len(df) == 0:
            raise BadInputError("The table is empty.")
        self._validate_params()
        direct = [*(self.drop or []), *(self.pseudonymize or [])]
        cols = [*self.quasi_identifiers, *(c for c in (self.id_column, self.sensitive) if c), *direct,
                *(self.items or []), *sorted(set((self.item_dates or {}).values()))]
        missing = [c for c in cols if c not in df.columns]
        if missing:
            raise BadInputError(f"Column(s) {', '.join(map(repr, missing))} not in the table "
                                f"({df.shape[1]} columns); check the names and the header row.")
        clash = [c for c in direct if c in self.quasi_identifiers or c == self.sensitive]
        if clash:
            raise ConfigurationError(f"Column(s) {', '.join(map(repr, clash))} cannot be both a direct identifier "
                                     "(drop/pseudonymize) and a quasi-identifier or the sensitive column.")
        nan = [c for c in self.quasi_identifiers if df[c].isna().any()]
        if nan:
            raise BadInputError(f"Quasi-identifier(s) {', '.join(map(repr, nan))} have missing values (NaN); "
                                "fill or drop them first.")
        unknown = [c for c in (self.hierarchies or {}) if c not in df.columns]
        if unknown:
            raise ConfigurationError(f"Hierarchies given for column(s) {', '.join(map(repr, unknown))}, which are "
                                     "not in the table.")
        for c in self.quasi_identifiers:
            if c in (self.hierarchies or {}) and not (self.method == "mondrian" and c in (self.numeric or [])):
                self.hierarchies[c].check_covers(df[c])
        if self.keep not in (None, "all"):
            absent = [c for c in self.keep if c not in df.columns]
            if absent:
                raise BadInputError(f"keep names column(s) {', '.join(map(repr, absent))}, not in the table.")

    def _complete_hierarchies(self, df: pd.DataFrame) -> None:
        self.hierarchies_ = dict(self.hierarchies or {})
        self.numeric_ = list(self.numeric or [])
        self.hierarchies_built_: dict[str, str] = {}
        if self.method == "mdav":
            return
        for c in self.quasi_identifiers:
            if c in self.hierarchies_ or (self.method == "mondrian" and c in self.numeric_):
                continue
            h, spec, numeric = auto_hierarchy(c, df[c])
            self.hierarchies_[c] = h
            self.hierarchies_built_[c] = spec
            if numeric and c not in self.numeric_:
                self.numeric_.append(c)

    def declared_columns(self) -> list[str]:
        return [*self.quasi_identifiers, *(c for c in (self.id_column, self.sensitive) if c),
                *(self.drop or []), *(self.pseudonymize or []), *(self.items or []),
                *sorted(set((self.item_dates or {}).values()))]

    def fit_transform(self, df: pd.DataFrame) -> pd.DataFrame:
        """The release of ``df``; the report in ``report_`` (see the module docstring)."""
        self._validate(df)
        qis = list(self.quasi_identifiers)
        self._complete_hierarchies(df)
        screening = screen_columns(df, qis, self.declared_columns(), self.keep)
        if screening["flagged"]:
            raise BadInputError(
                f"Column(s) {', '.join(map(repr, screening['flagged']))} identify people ("
                + "; ".join(f"{r['column']!r}: unique alone for {r['unique_alone']:.0%} of rows, with the "
                            f"quasi-identifiers for {r['unique_with_quasi_identifiers']:.0%}"
                            for r in screening["columns"] if r["identifying"])
                + ") and were neither declared nor kept. Decide for each: make it a quasi-identifier or the "
                "sensitive column, drop or pseudonymize it, or keep it on purpose (keep=[...], --keep).")
        criteria = self._criteria()
        criteria.validate()
        details: dict[str, Any] = {}
        if self.method == "optimal":
            result = optimal_recoding(df, qis, self.hierarchies_, criteria, self.max_suppression,
                                      progress=stage_counter(self.progress, "lattice nodes"))
            release, kept = apply_recoding(df, qis, self.hierarchies_, result.levels, criteria, return_kept=True)
            self.levels_ = result.levels
            details = {"levels": result.levels, "nodes_checked": result.nodes_checked,
                       "nodes_total": result.nodes_total, "level_costs": result.level_costs}
        elif self.method == "mondrian":
            self.model_ = Mondrian(qis, criteria, hierarchies=self.hierarchies_, numeric=self.numeric_)
            release = self.model_.fit_transform(df, progress=stage_counter(self.progress, "rows partitioned"))
            kept = np.ones(len(df), dtype=bool)
            details = {"partitions": self.model_.partitions_}
        else:
            self.model_ = MDAV(qis, criteria)
            release = self.model_.fit_transform(df, progress=stage_counter(self.progress, "rows aggregated"))
            kept = np.ones(len(df), dtype=bool)
            details = {"groups": self.model_.groups_}
        report: dict[str, Any] = {
            "method": self.method, "rows_in": int(len(df)), "rows_out": int(len(release)),
            "suppressed": int(len(df) - len(release)),
            "suppression_rate": float((len(df) - len(release)) / len(df)),
            "k_requested": self.k, "k": check_k_anonymity(release, qis, self.id_column) if len(release) else 0,
            "counted": "people" if self.id_column else "rows",
            "quasi_identifiers": qis, "hierarchies_built": dict(self.hierarchies_built_),
            "undeclared_columns": screening, **{f"search_{key}": v for key, v in details.items()},
        }
        if self.method == "optimal":
            few = max(10, int(0.005 * len(df)))
            report["levels_decided_by_few_rows"] = [
                c for c in details["level_costs"] if not c["passes_one_level_lower"]
                and 0 < c["rows_to_suppress_one_level_lower"] <= few]
        if self.sensitive:
            report.update(sensitive=self.sensitive, l_variant=self.l_variant, l_requested=self.l,
                          t_distance=self.t_distance, t_requested=self.t)
            report["l"] = check_l_diversity(release, qis, self.sensitive, self.l_variant, self.c, self.id_column)
            report["t"] = check_t_closeness(release, qis, self.sensitive, self.t_distance,
                                            self.hierarchies_.get(self.sensitive), self.id_column)
            report["sensitive_counted"] = ("per person (a person weighs 1 in a class, split over their distinct "
                                           "values there)" if self.id_column else "per row")
            if (self.l is not None and report["l"] < self.l - 1e-9) or (self.t is not None and report["t"] > self.t + 1e-9):
                raise ConfigurationError(  # the searches enforce l and t; this guards the written file
                    f"The release misses the requested l or t for {self.sensitive!r}; raise k or allow suppression.")
        if report["k"] < self.k:
            raise ConfigurationError("The release misses the requested k; this is a bug, please report it.")
        if self.utility:
            report["utility"] = utility_report(df, release, kept, qis, self.hierarchies_, self.numeric_, self.k)
            report["discernibility"] = report["utility"]["discernibility"]
        else:
            sizes = release.groupby(qis).size().astype(float)
            report["discernibility"] = float((sizes ** 2).sum() + (len(df) - len(release)) * len(df))
        if self.items:
            release = self._protect_items(df, release, report)
        release = self._direct_identifiers(release, report)
        self.kept_ = kept
        self.report_ = AnonymizationReport.from_dict(report)
        return release

    def _protect_items(self, df: pd.DataFrame, release: pd.DataFrame, report: dict[str, Any]) -> pd.DataFrame:
        """(k, k^m) on the item columns, within the released quasi-identifier classes."""
        from .longitudinal import ItemRecoding, PersonItems, km_anonymity, m_uniqueness
        from .models import equivalence_classes

        hierarchy = self.item_hierarchy
        if hierarchy is None:   # one code hierarchy for every item column: ICD-9 shaped codes by default
            values = pd.concat([df[c] for c in self.items]).dropna()
            hierarchy = Hierarchy.icd9("items", values)
        classes = equivalence_classes(release, list(self.quasi_identifiers)) if len(release) else None
        dates = dict(self.item_dates) if self.item_dates else None
        self.items_ = ItemRecoding(list(self.items), self.id_column, self.k, int(self.m), hierarchy,
                                   self.max_item_suppression, dates, self.date_precision).fit(release, classes)
        out = self.items_.transform(release, classes)
        after = PersonItems.from_frame(out, self.id_column, self.items, dates=dates)
        before = PersonItems.from_frame(df, self.id_column, self.items, dates=dates)
        report["items"] = {
            "columns": list(self.items), "m": int(self.m), "k": int(self.k), "level": int(self.items_.level_),
            "levels": self.items_.levels_, "dates": dates, "date_precision": self.items_.precision_,
            "km": km_anonymity(after, self.k, int(self.m), classes),
            "m_uniqueness": {"original": [m_uniqueness(before, j) for j in range(1, int(self.m) + 1)],
                             "release": [m_uniqueness(after, j, classes) for j in range(1, int(self.m) + 1)]},
        }
        return out

    def _direct_identifiers(self, release: pd.DataFrame, report: dict[str, Any] | None = None) -> pd.DataFrame:
        if self.drop:
            release = release.drop(columns=list(self.drop))
        if self.pseudonymize:
            if not hasattr(self, "_key"):
                self._key = self.pseudonym_key if self.pseudonym_key is not None else secrets.token_bytes(32)
            for c in self.pseudonymize:
                release[c] = pseudonymize(release[c], self._key)
        if report is not None:
            report["dropped"] = list(self.drop or [])
            report["pseudonymized"] = list(self.pseudonymize or [])
            if self.pseudonymize:
                report["pseudonym_key"] = "given" if self.pseudonym_key is not None else "random, not stored"
        return release

    def transform(self, df: pd.DataFrame, *, direct_identifiers: bool = True) -> pd.DataFrame:
        """Further rows generalized as the fitted release was (no suppression, no new classes).
        ``direct_identifiers=False`` leaves dropped and pseudonymized columns as they are (an
        attacker's targets keep their ids, so people are still counted once)."""
        if not hasattr(self, "levels_") and not hasattr(self, "model_"):
            raise NotFittedError("This Anonymizer is not fitted yet; call fit_transform first.")
        if not isinstance(df, pd.DataFrame):
            raise BadInputError(f"Anonymizer.transform takes a pandas DataFrame; got {type(df).__name__}.")
        missing = [c for c in self.quasi_identifiers if c not in df.columns]
        if missing:
            raise BadInputError(f"Column(s) {', '.join(map(repr, missing))} not in the table.")
        if self.method == "optimal":
            out = df.copy()
            for c in self.quasi_identifiers:
                self.hierarchies_[c].check_covers(df[c])
                out[c] = self.hierarchies_[c].generalize(df[c], self.levels_[c])
        else:
            out = self.model_.transform(df)
        if getattr(self, "items_", None) is not None:
            out = self.items_.generalize_only(out)   # items generalized, never suppressed, for targets
        if not direct_identifiers:
            return out
        if self.pseudonymize and not hasattr(self, "_key"):
            raise NotFittedError("This Anonymizer was restored from a recoding without its pseudonym key; "
                                 "use transform(..., direct_identifiers=False).")
        return self._direct_identifiers(out)

    # -- persistence -----------------------------------------------------------------------------
    def recoding(self) -> dict[str, Any]:
        """The fitted recoding as JSON-ready data (never the pseudonym key). It holds the
        hierarchies, i.e. the quasi-identifiers' values: keep it with the data, not the release."""
        if not hasattr(self, "levels_") and not hasattr(self, "model_"):
            raise NotFittedError("This Anonymizer is not fitted yet; call fit_transform first.")
        params = {name: value for name, value in self.get_params().items()
                  if name not in ("hierarchies", "pseudonym_key", "progress")}
        params["numeric"] = list(self.numeric_)
        if self.method == "optimal":
            model = {"levels": {c: int(v) for c, v in self.levels_.items()}}
        else:
            model = self.model_.to_dict()
        if getattr(self, "items_", None) is not None:
            model = {**model, "items": {"level": int(self.items_.level_),
                                        "hierarchy": self.items_.hierarchy.to_dict(),
                                        "date_precision": self.items_.precision_}}
        params.pop("item_hierarchy", None)
        return {"format": RECODING_FORMAT, "params": params, "hierarchies_built": dict(self.hierarchies_built_),
                "hierarchies": {c: h.to_dict() for c, h in self.hierarchies_.items()}, "model": model}

    @classmethod
    def from_recoding(cls, recoding: dict[str, Any]) -> "Anonymizer":
        """A fitted anonymizer from ``recoding()``'s data: ``transform`` works, ``fit_transform``
        fits anew. A pseudonym key is not stored, so pseudonymized columns cannot be recomputed."""
        if not isinstance(recoding, dict) or recoding.get("format") != RECODING_FORMAT:
            raise BadInputError(f"Not a recoding file (expected format {RECODING_FORMAT!r}).")
        try:
            params = dict(recoding["params"])
            hierarchies = {c: Hierarchy.from_dict(h) for c, h in recoding["hierarchies"].items()}
            model = recoding["model"]
            anon = cls(**params, hierarchies=hierarchies)
        except (KeyError, TypeError) as exc:
            raise BadInputError(f"The recoding is malformed ({type(exc).__name__}).") from None
        anon._validate_params()
        anon.hierarchies_, anon.numeric_ = hierarchies, list(params.get("numeric") or [])
        anon.hierarchies_built_ = dict(recoding.get("hierarchies_built", {}))
        criteria = anon._criteria()
        if anon.items:
            from .longitudinal import ItemRecoding

            try:
                spec = model["items"]
                anon.items_ = ItemRecoding(list(anon.items), anon.id_column, anon.k, int(anon.m),
                                           Hierarchy.from_dict(spec["hierarchy"]), anon.max_item_suppression,
                                           dict(anon.item_dates) if anon.item_dates else None, anon.date_precision)
                anon.items_.level_ = int(spec["level"])
                anon.items_.precision_ = spec.get("date_precision")
            except (KeyError, TypeError):
                raise BadInputError("The recoding's item section is malformed.") from None
        if anon.method == "optimal":
            levels = model.get("levels") if isinstance(model, dict) else None
            if not isinstance(levels, dict) or set(levels) != set(anon.quasi_identifiers):
                raise BadInputError("The recoding's levels do not match its quasi-identifiers.")
            anon.levels_ = {c: int(v) for c, v in levels.items()}
        elif anon.method == "mondrian":
            anon.model_ = Mondrian.from_dict(model, list(anon.quasi_identifiers), criteria, hierarchies)
        else:
            anon.model_ = MDAV.from_dict(model, list(anon.quasi_identifiers), criteria)
        return anon

    def kept_rows(self, df: pd.DataFrame) -> np.ndarray:
        """Which rows of ``df`` (the table it was fitted on) a release keeps: the suppression of
        global recoding recomputed from the recoding; every row for Mondrian and MDAV."""
        if self.method != "optimal":
            return np.ones(len(df), dtype=bool)
        return apply_recoding(df, list(self.quasi_identifiers), self.hierarchies_, self.levels_, self._criteria(),
                              return_kept=True)[1]
