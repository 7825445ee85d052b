"""Assessment of a release by attack, and the closed loop that strengthens the anonymization
until every attack's risk is below the producer's threshold.

``assess(original, release, control, quasi_identifiers, sensitive)`` runs singling-out
(univariate and multivariate, over the quasi-identifiers), linkability (the
quasi-identifiers split between two attackers) and attribute inference (each sensitive column
from the quasi-identifiers), plus the re-identification risk models, and returns a JSON-ready
report. When the release is generalized, pass the ``Anonymizer`` that made it (or one restored
with ``Anonymizer.from_recoding``): targets are then generalized the way the release was
before they are compared, which is what an attacker who knows the recoding does; without it,
cells are matched by coverage (intervals, sets, '*', hierarchy ancestors), a weaker attacker.

``Protector(Anonymizer(...), max_risk=0.05, sensitive=[...]).fit(df)`` is the loop, built the
way scikit-learn's ``GridSearchCV`` is: the anonymizer is the template (every one of its
options applies in the loop) and ``search`` is the space tried, from the weakest setting up:
``{"k": [2, 5, 10, ...], "method": [...], "max_suppression": [...]}`` by default (with
``"l": [None, 2]`` of the first sensitive column when sensitive columns are attacked and the
template sets neither l nor t). The first
key ("k") makes the rounds; within a round every combination of the others is tried, and
once a round has a passing release the loop stops (a larger k only costs utility).

- Control. Without a control table, ``control_fraction`` of the people (rows without an id
  column) are held out; the release is made from the others (the members) only. With one,
  every row is a member.
- What is published is what was attacked: ``release_`` is exactly the table whose attack
  results are in the report (the members' release; held-out control rows are never
  published), and ``recoding_`` holds what ``secured assess --recoding`` needs to reproduce
  every number: hierarchies, the fitted recoding, the split, the attack settings.
- Certifiable thresholds. A risk can only be shown to be below ``max_risk`` if its interval
  can be that narrow. Before anything is anonymized, the loop computes for each attack the
  upper bound of a release that leaks nothing (attack and control succeed equally often, as
  often as a guess from the population: a random released row's secret for inference) at the
  largest target and control counts it may use (``certifiable_thresholds``). If ``max_risk``
  is not above every such bound, no release could pass: the loop says so, with the smallest
  threshold that could be certified and the rows it would need, and anonymizes nothing.
- Undecided releases (every point estimate below the threshold, an upper bound above it) are
  attacked again with four times the targets and controls (up to ``max_attacks`` and what the
  tables hold) before the loop pays utility for stronger settings.
- Among the passing releases the most useful (lowest loss) is kept. If none passes,
  ``release_`` is None and the report says why.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import time
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from ..exceptions import BadInputError, ConfigurationError
from ..progress import Progress, emit
from .anonymizer import Anonymizer
from .attacks import _check_frames, inference, linkability, residual_risk, singling_out, wilson
from .hierarchy import Hierarchy
from .reports import AssessmentReport, ProtectionReport
from .risk import reidentification_risk
from .screening import screen_columns

__all__ = ["assess", "Protector", "DEFAULT_SEARCH", "split_control", "table_fingerprint", "certifiable_thresholds"]

DEFAULT_K = (2, 5, 10, 20, 50, 100)
DEFAULT_SEARCH: dict[str, tuple] = {"k": DEFAULT_K, "method": ("optimal", "mondrian"), "max_suppression": (0.0, 0.02)}


def _check_columns(original: pd.DataFrame, release: pd.DataFrame, control: pd.DataFrame | None,
                   columns: list[str], anonymizer: Anonymizer | None) -> None:
    _check_frames(original, release, control, columns)
    removed = set(anonymizer.drop or []) if anonymizer is not None else set()
    extra = [c for c in release.columns if c not in original.columns]
    lost = [c for c in original.columns if c not in release.columns and c not in removed]
    if extra or lost:
        raise BadInputError(
            "The original and the release have different columns"
            + (f"; only in the release: {', '.join(map(repr, extra))}" if extra else "")
            + (f"; only in the original: {', '.join(map(repr, lost))}" if lost else "")
            + ". Assess a release against the table it was made from.")
    if control is not None:
        lost = [c for c in original.columns if c not in control.columns]
        if lost:
            raise BadInputError(f"The control table lacks column(s) {', '.join(map(repr, lost))}.")


def assess(original: pd.DataFrame, release: pd.DataFrame, control: pd.DataFrame, quasi_identifiers: list[str],
           sensitive: Sequence[str] = (), *, anonymizer: Anonymizer | None = None, id_column: str | None = None,
           numeric: list[str] | None = None, hierarchies: dict[str, Hierarchy] | None = None,
           n_attacks: int = 1000, n_singling: int = 300, max_attempts: int = 50_000, seed: int = 0,
           items: Sequence[str] | None = None, m: int | None = None, item_dates: dict[str, str] | None = None,
           attacker_precision: str = "day", progress: Progress | None = None) -> AssessmentReport:
    """Risks of ``release`` (made from ``original``) measured against ``control``. With item
    columns (``items`` and ``m``, or an anonymizer that protected items) the attacks of an
    attacker who knows a person's quasi-identifiers and m of their items run too
    (``secured.privacy.longitudinal``); with ``item_dates`` (item column -> date column) the
    attacker also knows those items' dates to ``attacker_precision``."""
    qis, sensitive = list(quasi_identifiers), list(sensitive)
    if not qis:
        raise ConfigurationError("Name the quasi-identifiers the attacker knows.")
    if control is None:
        raise ConfigurationError("Assessment needs a control table (rows from the same population that the "
                                 "release did not use); pass --control or hold some rows out.")
    _check_columns(original, release, control, [*qis, *sensitive], anonymizer)
    start = time.perf_counter()
    if anonymizer is not None:  # targets generalized as the release was; ids kept to count people
        ori_g = anonymizer.transform(original, direct_identifiers=False)
        ctl_g = anonymizer.transform(control, direct_identifiers=False)
        attack_numeric = [c for c in (numeric or []) if c not in qis] if anonymizer.method != "mdav" else None
        hierarchies = hierarchies if hierarchies is not None else anonymizer.hierarchies_
    else:
        ori_g, ctl_g, attack_numeric = original, control, numeric
    results = []
    for mode in ("univariate", "multivariate"):
        emit(progress, f"singling-out ({mode})")
        results.append(singling_out(ori_g, release, ctl_g, qis, mode=mode, n_attacks=n_singling,
                                    max_attempts=max_attempts, id_column=id_column if id_column in ori_g else None,
                                    numeric=attack_numeric, hierarchies=hierarchies, seed=seed))
    if len(qis) >= 2:
        emit(progress, "linkability")
        half = (len(qis) + 1) // 2
        results.append(linkability(ori_g, release, ctl_g, (qis[:half], qis[half:]), n_attacks=n_attacks,
                                   numeric=attack_numeric, hierarchies=hierarchies, seed=seed))
    for secret in sensitive:
        emit(progress, f"inference of {secret}")
        results.append(inference(ori_g, release, ctl_g, qis, secret, n_attacks=n_attacks, numeric=attack_numeric,
                                 hierarchies=hierarchies, seed=seed))
    if anonymizer is not None and anonymizer.items and items is None:
        items, m = list(anonymizer.items), int(anonymizer.m)
        item_dates = item_dates if item_dates is not None else anonymizer.item_dates
    if items:
        from .longitudinal import item_attacks

        if not id_column:
            raise ConfigurationError("Item attacks need the id column (a person's items come from all their rows).")
        emit(progress, f"attacks with {m} known item(s)")
        generalize = (lambda f: anonymizer.transform(f, direct_identifiers=False)) if anonymizer is not None else None
        results.extend(item_attacks(original, release, control, id_column=id_column, items=items,
                                    quasi_identifiers=qis, m=m, n_attacks=n_attacks, generalize=generalize, seed=seed,
                                    dates=dict(item_dates) if item_dates else None,
                                    attacker_precision=attacker_precision))
    risks = {}
    for r in results:
        name = r.attack if r.attack != "inference" else f"inference:{r.details['secret']}"
        risks[name] = r.to_dict()
    worst = max(risks.items(), key=lambda kv: kv[1]["risk"]["ci"][1])
    return AssessmentReport.from_dict({
        "risks": risks,
        "max_risk_upper": float(worst[1]["risk"]["ci"][1]),
        "riskiest": worst[0],
        "reidentification": reidentification_risk(release, qis, id_column=id_column),
        "settings": {"quasi_identifiers": qis, "sensitive": sensitive, "id_column": id_column,
                     "numeric": list(numeric) if numeric is not None else None, "n_attacks": int(n_attacks),
                     "items": list(items) if items else None, "m": int(m) if items else None,
                     "item_dates": dict(item_dates) if items and item_dates else None,
                     "attacker_date_precision": attacker_precision if items and item_dates else None,
                     "n_singling": int(n_singling), "max_attempts": int(max_attempts), "seed": int(seed),
                     "targets": "generalized by the recoding" if anonymizer is not None else "matched by coverage"},
        "seconds": time.perf_counter() - start,
    })


# -- splitting, fingerprints and certifiable thresholds -----------------------------------------------

def split_control(df: pd.DataFrame, fraction: float, seed: int, id_column: str | None = None
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(members, control): ``fraction`` of the people (or rows) held out, reproducibly."""
    if not 0 < fraction < 1:
        raise ConfigurationError(f"The control fraction must be in (0, 1); got {fraction!r}.")
    rng = np.random.default_rng(seed)
    if id_column:
        people = pd.unique(df[id_column].astype(str))
        held = set(rng.choice(people, max(1, int(len(people) * fraction)), replace=False))
        mask = df[id_column].astype(str).isin(held).to_numpy()
    else:
        mask = np.zeros(len(df), dtype=bool)
        mask[rng.choice(len(df), max(1, int(len(df) * fraction)), replace=False)] = True
    if mask.all() or not mask.any():
        raise BadInputError("The table is too small to hold out a control set; pass a control table.")
    return df[~mask].reset_index(drop=True), df[mask].reset_index(drop=True)


def table_fingerprint(df: pd.DataFrame) -> str:
    """SHA-256 over the column names and every cell's text (so a CSV and its Parquet copy with
    the same text agree); identifies the table a recoding was made from without storing it."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(map(str, df.columns)).encode())
    for c in df.columns:
        text = df[c].astype(str).where(df[c].notna(), "\x00")
        digest.update(pd.util.hash_pandas_object(text, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _upper_at(rate: float, n_targets: int, n_controls: int) -> float:
    """Upper bound of the residual risk when attack and control both succeed at ``rate``."""
    attack, control = wilson(rate * n_targets, n_targets), wilson(rate * n_controls, n_controls)
    if control.value >= 1:
        return 1.0
    return residual_risk(attack, control).ci[1]


def _guess_rate(values: pd.Series, numeric: bool, tolerance: float, seed: int) -> float:
    """Success of guessing a target's secret as a random other row's (the population guess)."""
    v = values.dropna()
    if len(v) == 0:
        return 0.0
    if not numeric:
        p = v.astype(str).value_counts(normalize=True).to_numpy()
        return float((p ** 2).sum())
    x = pd.to_numeric(v, errors="coerce").dropna().to_numpy(dtype=float)
    rng = np.random.default_rng(seed)
    a, b = rng.choice(x, 20_000), rng.choice(x, 20_000)
    return float((np.abs(a - b) <= tolerance * np.where(b == 0, 1.0, np.abs(b))).mean())


def _null_rates(df: pd.DataFrame, quasi_identifiers: Sequence[str], sensitive: Sequence[str],
                numeric: Sequence[str] | None, seed: int) -> dict[str, float]:
    """Per attack, the success rate of a release that leaks nothing: 0 for singling-out and
    linkability, the population guess for inference."""
    rates = {"singling_out_univariate": 0.0, "singling_out_multivariate": 0.0}
    if len(quasi_identifiers) >= 2:
        rates["linkability"] = 0.0
    for secret in sensitive:
        column = df[secret]
        is_num = (secret in numeric) if numeric is not None else bool(pd.to_numeric(column.dropna(),
                                                                                   errors="coerce").notna().all())
        rates[f"inference:{secret}"] = _guess_rate(column, is_num, 0.05, seed)
    return rates


def certifiable_thresholds(df: pd.DataFrame, quasi_identifiers: Sequence[str], sensitive: Sequence[str], *,
                           n_targets: int, n_controls: int, n_singling: int, numeric: Sequence[str] | None = None,
                           seed: int = 0) -> dict[str, float]:
    """Per attack, the smallest upper bound a release that leaks nothing can show with these
    counts (see the module docstring): no threshold at or below it can be certified."""
    return {name: (_upper_at(rate, n_singling, n_singling) if name.startswith("singling_out")
                   else _upper_at(rate, n_targets, n_controls))
            for name, rate in _null_rates(df, quasi_identifiers, sensitive, numeric, seed).items()}


def _rows_needed(rate: float, threshold: float) -> int | None:
    """Targets = controls needed for a non-leaking release to certify ``threshold``."""
    if _upper_at(rate, 10**9, 10**9) >= threshold:
        return None
    lo, hi = 1, 10**9
    while lo < hi:
        mid = (lo + hi) // 2
        if _upper_at(rate, mid, mid) < threshold:
            hi = mid
        else:
            lo = mid + 1
    return lo


def _grid(search: Mapping[str, Sequence[Any]]) -> list[list[dict[str, Any]]]:
    """Rounds (one per value of the first key) of parameter combinations."""
    if not search:
        return [[{}]]
    keys = list(search)
    for key, values in search.items():
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence) or not values:
            raise ConfigurationError(f"The search space entry {key!r} must be a non-empty list of values.")
    rest = [dict(zip(keys[1:], combo)) for combo in itertools.product(*(search[k] for k in keys[1:]))]
    return [[{keys[0]: first, **other} for other in rest] for first in search[keys[0]]]


def _valid(params: dict[str, Any], template: Anonymizer) -> bool:
    method = params.get("method", template.method)
    suppression = params.get("max_suppression", template.max_suppression)
    diversity = params.get("l", template.l) is not None or params.get("t", template.t) is not None
    return not (suppression and method != "optimal") and not (method == "mdav" and diversity)


class Protector:
    """The anonymize -> attack -> strengthen loop (see the module docstring).

    >>> from secured.data import load
    >>> df = load("adult").head(3000)
    >>> p = Protector(Anonymizer(k=2, quasi_identifiers=["age", "sex", "race"]), max_risk=0.2,
    ...               search={"k": [5, 10], "method": ["optimal"]}, n_attacks=300, n_singling=100).fit(df)
    >>> p.report_["passed"], len(p.release_) == p.report_["release"]["rows_out"]
    (True, True)
    """

    def __init__(self, anonymizer: Anonymizer, *, max_risk: float = 0.05, sensitive: Sequence[str] = (),
                 search: Mapping[str, Sequence[Any]] | None = None, control_fraction: float = 0.2,
                 n_attacks: int = 2000, max_attacks: int = 8000, n_singling: int = 300, seed: int = 0,
                 attacker_date_precision: str = "day", progress: Progress | None = None) -> None:
        self.attacker_date_precision = attacker_date_precision
        self.anonymizer, self.max_risk, self.sensitive, self.search = anonymizer, max_risk, sensitive, search
        self.control_fraction, self.n_attacks, self.max_attacks = control_fraction, n_attacks, max_attacks
        self.n_singling, self.seed, self.progress = n_singling, seed, progress

    def _validate(self, df: pd.DataFrame, control: pd.DataFrame | None) -> None:
        if not isinstance(self.anonymizer, Anonymizer):
            raise ConfigurationError("Protector takes an Anonymizer as its template, e.g. "
                                     "Protector(Anonymizer(k=2, quasi_identifiers=[...]), max_risk=0.05).")
        if not isinstance(df, pd.DataFrame) or len(df) == 0:
            raise BadInputError("Protector.fit needs a non-empty pandas DataFrame.")
        if isinstance(self.max_risk, bool) or not isinstance(self.max_risk, (int, float)) or not 0 < self.max_risk < 1:
            raise ConfigurationError(f"The 'max_risk' parameter of Protector must be a number in (0, 1). "
                                     f"Got {self.max_risk!r} instead.")
        for name in ("n_attacks", "max_attacks", "n_singling"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 10:
                raise ConfigurationError(f"The {name!r} parameter of Protector must be an int >= 10. "
                                         f"Got {value!r} instead.")
        from .longitudinal import _check_precision

        _check_precision(self.attacker_date_precision, "attacker_date_precision")
        sensitive = list(self.sensitive)
        missing = [c for c in sensitive if c not in df.columns]
        if missing:
            raise BadInputError(f"Sensitive column(s) {', '.join(map(repr, missing))} not in the table "
                                f"({df.shape[1]} columns).")
        clash = [c for c in sensitive if c in self.anonymizer.quasi_identifiers]
        if clash:
            raise ConfigurationError(f"Column(s) {', '.join(map(repr, clash))} cannot be both sensitive (inferred "
                                     "by the attacker) and quasi-identifiers (known to the attacker).")
        if control is not None:
            if not isinstance(control, pd.DataFrame) or len(control) == 0:
                raise BadInputError("The control table is empty; it needs rows to attack.")
            lost = [c for c in df.columns if c not in control.columns]
            if lost:
                raise BadInputError(f"The control table lacks column(s) {', '.join(map(repr, lost))}.")
        template = self.anonymizer
        template._validate(df)
        for params in itertools.chain.from_iterable(_grid(self._search())):
            if _valid(params, template):
                self._candidate(template, params)._validate_params()

    def _search(self) -> dict[str, Sequence[Any]]:
        """The search space; by default the k ladder, both methods, no or a small suppression
        budget, and, when sensitive columns are attacked and the template sets neither l nor t,
        l-diversity (none or 2) of the first sensitive column, the strengthening that inference
        attacks answer to."""
        if self.search is not None:
            return dict(self.search)
        search = dict(DEFAULT_SEARCH)
        if list(self.sensitive) and self.anonymizer.l is None and self.anonymizer.t is None:
            search["l"] = (None, 2)
        return search

    def _candidate(self, base: Anonymizer, params: dict[str, Any]) -> Anonymizer:
        params = dict(params)
        if params.get("l") is not None and base.sensitive is None and params.get("sensitive") is None:
            params["sensitive"] = list(self.sensitive)[0]
        return base.clone(**params, progress=None)

    def fit(self, df: pd.DataFrame, control: pd.DataFrame | None = None) -> "Protector":
        self._validate(df, control)
        template, say = self.anonymizer, self.progress
        sensitive = list(self.sensitive)
        qis = list(template.quasi_identifiers)
        # hierarchies from every row (members and control), so targets of both are covered
        filler = template.clone(method="optimal")
        filler._complete_hierarchies(pd.concat([df, control], ignore_index=True) if control is not None else df)
        screening = screen_columns(df, qis, [*template.declared_columns(), *sensitive], template.keep)
        if screening["flagged"]:
            raise BadInputError(
                f"Column(s) {', '.join(map(repr, screening['flagged']))} identify people (unique alone or with the "
                "quasi-identifiers) and were neither declared nor kept. Decide for each: make it a quasi-identifier "
                "or sensitive, drop or pseudonymize it, or keep it on purpose (keep=[...], --keep).")
        # screened once here: the candidates keep whatever the template does not declare
        undeclared = [c for c in df.columns if c not in set(template.declared_columns())]
        base = template.clone(hierarchies=filler.hierarchies_, numeric=filler.numeric_, keep=undeclared)
        if control is None:
            members, ctl = split_control(df, self.control_fraction, self.seed, template.id_column)
            split = {"control": "held out", "fraction": self.control_fraction, "seed": self.seed,
                     "id_column": template.id_column, "counted": "people" if template.id_column else "rows"}
        else:
            members, ctl = df.reset_index(drop=True), control.reset_index(drop=True)
            split = {"control": "given", "control_fingerprint": table_fingerprint(control)}
        split.update(input_fingerprint=table_fingerprint(df), members=int(len(members)), control_rows=int(len(ctl)))
        numeric = list(filler.numeric_)
        max_targets, max_controls = min(self.max_attacks, len(members)), min(self.max_attacks, len(ctl))
        pooled = pd.concat([members, ctl], ignore_index=True)
        floors = certifiable_thresholds(pooled, qis, sensitive, n_targets=max_targets, n_controls=max_controls,
                                        n_singling=self.n_singling, seed=self.seed)
        self.report_ = ProtectionReport.from_dict({
                        "max_risk": self.max_risk, "control": split, "rows": int(len(df)), "quasi_identifiers": qis,
                        "sensitive": sensitive, "hierarchies_built": dict(filler.hierarchies_built_),
                        "undeclared_columns": screening, "certifiable": floors,
                        "smallest_certifiable_threshold": math.ceil(max(floors.values()) * 1000) / 1000,
                        "search": {k: list(v) for k, v in self._search().items()}, "iterations": [],
                        "passed": False})
        self.release_, self.anonymizer_, self.recoding_ = None, None, None
        blocking = {name: f for name, f in floors.items() if f >= self.max_risk}
        if blocking:
            self._refuse(blocking, _null_rates(pooled, qis, sensitive, None, self.seed), max_targets, max_controls)
            return self
        history: list[dict[str, Any]] = []
        best: dict[str, Any] | None = None
        for round_ in _grid(self._search()):
            for params in round_:
                if not _valid(params, template):
                    continue
                label = " ".join(f"{k}={v}" for k, v in params.items())
                emit(say, f"{label}: anonymizing")
                entry: dict[str, Any] = {"iteration": len(history) + 1, "settings": dict(params)}
                anon = self._candidate(base, params)
                try:
                    release = anon.fit_transform(members)
                except ConfigurationError as exc:
                    entry.update(passed=False, skipped=str(exc))
                    history.append(entry)
                    continue
                emit(say, f"{label}: attacking")
                n = self.n_attacks
                assessment = self._assess(members, release, ctl, anon, n, numeric)
                while (assessment["max_risk_upper"] >= self.max_risk
                       and max(r["risk"]["value"] for r in assessment["risks"].values()) < self.max_risk
                       and n < max(max_targets, max_controls)):
                    n = min(4 * n, self.max_attacks)
                    emit(say, f"{label}: undecided, attacking again with up to {n} targets and controls")
                    assessment = self._assess(members, release, ctl, anon, n, numeric)
                passed = assessment["max_risk_upper"] < self.max_risk
                entry.update(passed=passed, n_attacks=n, targets=min(n, len(members)), controls=min(n, len(ctl)),
                             risks={name: r["risk"] for name, r in assessment["risks"].items()},
                             max_risk_upper=assessment["max_risk_upper"], riskiest=assessment["riskiest"],
                             k_achieved=anon.report_["k"], suppressed=anon.report_["suppressed"],
                             rows_out=anon.report_["rows_out"],
                             utility={key: anon.report_["utility"][key] for key in
                                      ("loss", "precision", "discernibility", "non_uniform_entropy")},
                             prosecutor_max=assessment["reidentification"]["prosecutor"]["max"])
                history.append(entry)
                if passed and (best is None or entry["utility"]["loss"] < best["entry"]["utility"]["loss"]):
                    best = {"entry": entry, "anonymizer": anon, "release": release, "assessment": assessment}
            if best is not None:
                break
        self.history_ = history
        self.report_["iterations"] = history
        if best is None:
            self._no_pass(history, len(ctl))
            return self
        chosen = best["entry"]
        emit(say, f"publishing iteration {chosen['iteration']}")
        self.release_, self.anonymizer_ = best["release"], best["anonymizer"]
        self.report_.update(passed=True, chosen=chosen["settings"], chosen_iteration=chosen["iteration"],
                            release=dict(best["anonymizer"].report_, undeclared_columns=screening),
                            assessment=best["assessment"],
                            published={"rows": int(len(best["release"])), "made_from": "members",
                                       "members": int(len(members)),
                                       "held_out_control_rows_not_published":
                                           int(len(ctl)) if control is None else 0})
        self.recoding_ = {**best["anonymizer"].recoding(), "split": split,
                          "assessment": best["assessment"]["settings"]}
        return self

    def _assess(self, members, release, ctl, anon, n_attacks, numeric) -> dict[str, Any]:
        return assess(members, release, ctl, list(anon.quasi_identifiers), list(self.sensitive), anonymizer=anon,
                      id_column=anon.id_column, numeric=numeric, n_attacks=n_attacks, n_singling=self.n_singling,
                      seed=self.seed, attacker_precision=self.attacker_date_precision)

    def _refuse(self, blocking: dict[str, float], rates: dict[str, float], targets: int, controls: int) -> None:
        smallest = self.report_["smallest_certifiable_threshold"]
        needs = []
        for name in blocking:
            rows = _rows_needed(rates[name], self.max_risk)
            needs.append(f"{name} needs about {rows:,} targets and as many control rows" if rows else
                         f"{name} cannot reach it at any size")
        self.report_["message"] = (
            f"max_risk {self.max_risk:g} cannot be certified at this data size: even a release that leaks "
            f"nothing would show upper bounds of {', '.join(f'{n} {f:.3f}' for n, f in blocking.items())} with "
            f"{targets:,} targets and {controls:,} control rows. The smallest threshold that can be certified "
            f"here is {smallest:g}; for {self.max_risk:g}, " + "; ".join(needs)
            + " (a larger control table, --control, or more attacks, --max-attacks). "
            "Nothing was anonymized and no release was written.")
        self.report_["cannot_certify"] = {"blocking": blocking, "smallest_certifiable_threshold": smallest}

    def _no_pass(self, history: list[dict[str, Any]], controls: int) -> None:
        search = self._search()
        self.report_["message"] = (f"No setting tried ({', '.join(f'{k} in {list(v)}' for k, v in search.items())}) "
                                   f"brought every risk's upper bound below {self.max_risk:g}; no release was "
                                   "written. Raise --max-risk, allow more suppression, coarsen the hierarchies or "
                                   "drop quasi-identifiers.")
        undecided = [it for it in history if "risks" in it
                     and max(r["value"] for r in it["risks"].values()) < self.max_risk]
        if undecided:
            self.report_["message"] += (
                f" {len(undecided)} setting(s) had every risk estimate below the threshold but an interval "
                f"reaching it (control: {controls} rows): a larger control set would tighten the intervals.")


# -- reproducing an assessment from a recoding file ---------------------------------------------

def release_summary(members: pd.DataFrame, release: pd.DataFrame, anonymizer: Anonymizer) -> dict[str, Any]:
    """k (people when the recoding counts people), l, t, suppression and utility of a release,
    recomputed from the release, the rows it was made from and the recoding alone."""
    from .models import check_k_anonymity, check_l_diversity, check_t_closeness
    from .utility import utility_report

    qis, id_column = list(anonymizer.quasi_identifiers), anonymizer.id_column
    kept = anonymizer.kept_rows(members)
    if int(kept.sum()) != len(release):
        raise BadInputError(f"The release has {len(release)} rows; the recoding applied to its source keeps "
                            f"{int(kept.sum())}: this release was not made with this recoding from this table.")
    counted = release
    if id_column and id_column not in release.columns:   # dropped from the release: the source's ids count
        counted = release.assign(**{id_column: members[id_column].to_numpy()[kept]})
    out: dict[str, Any] = {"method": anonymizer.method, "rows_in": int(len(members)), "rows_out": int(len(release)),
                           "suppressed": int(len(members) - len(release)),
                           "k": check_k_anonymity(counted, qis, id_column) if len(release) else 0,
                           "counted": "people" if id_column else "rows"}
    if anonymizer.sensitive:
        out["l"] = check_l_diversity(counted, qis, anonymizer.sensitive, anonymizer.l_variant, anonymizer.c, id_column)
        out["t"] = check_t_closeness(counted, qis, anonymizer.sensitive, anonymizer.t_distance,
                                     anonymizer.hierarchies_.get(anonymizer.sensitive), id_column)
    out["utility"] = utility_report(members, release, kept, qis, anonymizer.hierarchies_, anonymizer.numeric_,
                                    anonymizer.k)
    return out


def assess_from_recoding(source: pd.DataFrame, release: pd.DataFrame, recoding: dict[str, Any],
                         control: pd.DataFrame | None = None, progress: Progress | None = None) -> dict[str, Any]:
    """The loop's assessment of a published release, run again from what ``secured protect``
    wrote: ``source`` is the table given to protect, ``recoding`` its recoding file, ``control``
    the control table when one was given. The numbers equal the protect report's."""
    anonymizer = Anonymizer.from_recoding(recoding)
    split, settings = recoding.get("split"), recoding.get("assessment")
    if not isinstance(split, dict) or not isinstance(settings, dict):
        raise BadInputError("This recoding has no split and assessment settings (it was not written by protect); "
                            "assess the release with --control and the attack options instead.")
    if table_fingerprint(source) != split.get("input_fingerprint"):
        raise BadInputError("The original table is not the one this recoding was made from (its fingerprint "
                            "differs); give the file that was passed to protect.")
    if split.get("control") == "held out":
        if control is not None:
            raise ConfigurationError("This release was assessed against rows held out of the original; do not "
                                     "pass --control.")
        members, ctl = split_control(source, float(split["fraction"]), int(split["seed"]), split.get("id_column"))
    else:
        if control is None:
            raise ConfigurationError("This release was assessed against a given control table; pass it with --control.")
        if table_fingerprint(control) != split.get("control_fingerprint"):
            raise BadInputError("The control table is not the one protect used (its fingerprint differs).")
        members, ctl = source.reset_index(drop=True), control.reset_index(drop=True)
    try:
        report = assess(members, release, ctl, list(settings["quasi_identifiers"]), list(settings["sensitive"]),
                        anonymizer=anonymizer, id_column=settings.get("id_column"), numeric=settings.get("numeric"),
                        n_attacks=int(settings["n_attacks"]), n_singling=int(settings["n_singling"]),
                        max_attempts=int(settings["max_attempts"]), seed=int(settings["seed"]), progress=progress,
                        attacker_precision=settings.get("attacker_date_precision") or "day")
    except (KeyError, TypeError):
        raise BadInputError("The recoding's assessment settings are malformed.") from None
    report["release"] = release_summary(members, release, anonymizer)
    return report
