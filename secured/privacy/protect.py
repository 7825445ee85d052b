"""Assessment of a release by attack, and the closed loop that strengthens the anonymization
until every attack's risk is below the producer's threshold.

``assess(original, release, control, quasi_identifiers, sensitive)`` runs singling-out
(univariate and multivariate, over the quasi-identifiers), linkability (the
quasi-identifiers split between two attackers) and attribute inference (each sensitive column
from the quasi-identifiers), plus the re-identification risk models, and returns a JSON-ready
report. When the release is generalized, pass the ``Anonymizer`` that made it: targets are
then generalized the way the release was before they are compared (what an attacker who read
the published recoding would do); without it, cells are matched by coverage (intervals, '*',
hierarchy ancestors).

``Protector(...).fit(df)`` is the loop. Without an explicit control table it holds out 20 % of
the people as control; on the other 80 % it tries settings from the weakest up (k from a
ladder, each method, l = 2 when sensitive columns are named), assesses each release and keeps
the most useful (lowest loss) one whose risks' upper bounds are all below ``max_risk``. Once a
k passes it finishes that k's methods and stops: a larger k only costs utility. A release whose
point estimates are all below the threshold but whose interval reaches it is undecided, not
failed: it is attacked again with four times the targets (up to ``max_attacks`` and the size
of the tables) before the loop pays utility for stronger settings. The release
returned is the winning settings applied to the whole input. If nothing passes, ``release_``
is None and the report says why.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from ..exceptions import ConfigurationError
from .anonymizer import Anonymizer
from .attacks import _check_frames, inference, linkability, singling_out
from .hierarchy import Hierarchy
from .risk import reidentification_risk

__all__ = ["assess", "Protector"]


def _check_columns(original: pd.DataFrame, release: pd.DataFrame, control: pd.DataFrame | None,
                   columns: list[str], anonymizer: Anonymizer | None) -> None:
    _check_frames(original, release, control, columns)
    removed = set(anonymizer.drop or []) if anonymizer is not None else set()
    extra = [c for c in release.columns if c not in original.columns]
    lost = [c for c in original.columns if c not in release.columns and c not in removed]
    if extra or lost:
        raise ConfigurationError(
            "The original and the release have different columns"
            + (f"; only in the release: {', '.join(map(repr, extra))}" if extra else "")
            + (f"; only in the original: {', '.join(map(repr, lost))}" if lost else "")
            + ". Assess a release against the table it was made from.")
    if control is not None:
        lost = [c for c in original.columns if c not in control.columns]
        if lost:
            raise ConfigurationError(f"The control table lacks column(s) {', '.join(map(repr, lost))}.")


def assess(original: pd.DataFrame, release: pd.DataFrame, control: pd.DataFrame, quasi_identifiers: list[str],
           sensitive: Sequence[str] = (), *, anonymizer: Anonymizer | None = None, id_column: str | None = None,
           numeric: list[str] | None = None, hierarchies: dict[str, Hierarchy] | None = None,
           n_attacks: int = 1000, n_singling: int = 300, max_attempts: int = 50_000, seed: int = 0,
           progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Risks of ``release`` (made from ``original``) measured against ``control``."""
    qis, sensitive = list(quasi_identifiers), list(sensitive)
    if not qis:
        raise ConfigurationError("Name the quasi-identifiers the attacker knows.")
    if control is None:
        raise ConfigurationError("Assessment needs a control table (rows from the same population that the "
                                 "release did not use); pass --control or hold some rows out.")
    _check_columns(original, release, control, [*qis, *sensitive], anonymizer)
    start = time.perf_counter()
    if anonymizer is not None:  # targets generalized as the release was
        ori_g = anonymizer.transform(original)
        ctl_g = anonymizer.transform(control)
        attack_numeric = [c for c in (numeric or []) if c not in qis] if anonymizer.method != "mdav" else None
    else:
        ori_g, ctl_g, attack_numeric = original, control, numeric
    say = progress or (lambda _: None)
    results = []
    for mode in ("univariate", "multivariate"):
        say(f"singling-out ({mode})")
        results.append(singling_out(ori_g, release, ctl_g, qis, mode=mode, n_attacks=n_singling,
                                    max_attempts=max_attempts, id_column=id_column if id_column in ori_g else None,
                                    numeric=attack_numeric, hierarchies=hierarchies, seed=seed))
    if len(qis) >= 2:
        say("linkability")
        half = (len(qis) + 1) // 2
        results.append(linkability(ori_g, release, ctl_g, (qis[:half], qis[half:]), n_attacks=n_attacks,
                                   numeric=attack_numeric, hierarchies=hierarchies, seed=seed))
    for secret in sensitive:
        say(f"inference of {secret}")
        results.append(inference(ori_g, release, ctl_g, qis, secret, n_attacks=n_attacks, numeric=attack_numeric,
                                 hierarchies=hierarchies, seed=seed))
    risks = {}
    for r in results:
        name = r.attack if r.attack != "inference" else f"inference:{r.details['secret']}"
        risks[name] = r.to_dict()
    worst = max(risks.items(), key=lambda kv: kv[1]["risk"]["ci"][1])
    return {
        "risks": risks,
        "max_risk_upper": float(worst[1]["risk"]["ci"][1]),
        "riskiest": worst[0],
        "reidentification": reidentification_risk(release, qis, id_column=id_column),
        "seconds": time.perf_counter() - start,
    }


DEFAULT_K = (2, 5, 10, 20, 50, 100)


class Protector:
    """The anonymize -> attack -> strengthen loop (see the module docstring)."""

    def __init__(self, *, quasi_identifiers: list[str], sensitive: Sequence[str] = (), max_risk: float = 0.05,
                 hierarchies: dict[str, Hierarchy] | None = None, numeric: list[str] | None = None,
                 id_column: str | None = None, max_suppression: float = 0.05, methods: Sequence[str] = ("optimal", "mondrian"),
                 k_values: Sequence[int] = DEFAULT_K, control_fraction: float = 0.2, n_attacks: int = 1000,
                 max_attacks: int = 8000, n_singling: int = 300, drop: list[str] | None = None, pseudonymize: list[str] | None = None,
                 seed: int = 0, progress: Callable[[str], None] | None = None) -> None:
        self.quasi_identifiers, self.sensitive, self.max_risk = quasi_identifiers, sensitive, max_risk
        self.hierarchies, self.numeric, self.id_column = hierarchies, numeric, id_column
        self.max_suppression, self.methods, self.k_values = max_suppression, methods, k_values
        self.control_fraction, self.n_attacks, self.n_singling = control_fraction, n_attacks, n_singling
        self.max_attacks = max(max_attacks, n_attacks)
        self.drop, self.pseudonymize, self.seed, self.progress = drop, pseudonymize, seed, progress

    def _split(self, df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        rng = np.random.default_rng(self.seed)
        if self.id_column:
            people = df[self.id_column].astype(str).unique()
            held = set(rng.choice(people, max(1, int(len(people) * self.control_fraction)), replace=False))
            mask = df[self.id_column].astype(str).isin(held).to_numpy()
        else:
            mask = np.zeros(len(df), dtype=bool)
            mask[rng.choice(len(df), max(1, int(len(df) * self.control_fraction)), replace=False)] = True
        return df[~mask].reset_index(drop=True), df[mask].reset_index(drop=True)

    def _auto_hierarchies(self, df: pd.DataFrame) -> None:
        """A hierarchy for every quasi-identifier without one: numeric columns with many values
        get nested quantile intervals (16, 8, 4, 2 bins) and are cut as numbers by Mondrian;
        other columns ordered runs (2, then 4 neighbours, natural order)."""
        self.hierarchies_ = dict(self.hierarchies or {})
        self.numeric_qis_ = [c for c in (self.numeric or []) if c in self.quasi_identifiers]
        self.auto_hierarchies_ = {}
        for c in self.quasi_identifiers:
            if c in self.hierarchies_:
                continue
            values = df[c]
            numbers = pd.to_numeric(values, errors="coerce")
            if numbers.notna().all() and numbers.nunique() > 16:
                self.hierarchies_[c] = Hierarchy.from_quantiles(c, numbers, [16, 8, 4, 2])
                self.auto_hierarchies_[c] = "quantiles:16,8,4,2"
                if c not in self.numeric_qis_:
                    self.numeric_qis_.append(c)
            else:
                self.hierarchies_[c] = Hierarchy.from_ordered(c, values, [2, 4])
                self.auto_hierarchies_[c] = "ordered:2,4"

    def _anonymizer(self, method: str, k: int) -> Anonymizer:
        sens = list(self.sensitive)
        return Anonymizer(
            k=k, quasi_identifiers=list(self.quasi_identifiers), method=method, hierarchies=self.hierarchies_,
            numeric=list(self.numeric_qis_),
            max_suppression=self.max_suppression if method == "optimal" else 0.0, id_column=self.id_column,
            sensitive=sens[0] if sens else None, l=2 if sens else None)

    def _assess(self, ori: pd.DataFrame, release: pd.DataFrame, ctl: pd.DataFrame, anon: Anonymizer,
                n_attacks: int) -> dict[str, Any]:
        return assess(ori, release, ctl, list(self.quasi_identifiers), list(self.sensitive), anonymizer=anon,
                      id_column=self.id_column, numeric=self.numeric, hierarchies=self.hierarchies_,
                      n_attacks=n_attacks, n_singling=self.n_singling, seed=self.seed)

    def fit(self, df: pd.DataFrame, control: pd.DataFrame | None = None) -> "Protector":
        if not isinstance(df, pd.DataFrame) or len(df) == 0:
            raise ConfigurationError("Protector.fit needs a non-empty pandas DataFrame.")
        if not 0 < self.max_risk < 1:
            raise ConfigurationError(f"'max_risk' must be in (0, 1); got {self.max_risk!r}.")
        unknown = [m for m in self.methods if m not in ("optimal", "mondrian", "mdav")]
        if unknown:
            raise ConfigurationError(f"Unknown method(s) {', '.join(map(repr, unknown))}; use optimal, mondrian, mdav.")
        say = self.progress or (lambda _: None)
        missing = [c for c in [*self.quasi_identifiers, *self.sensitive, *([self.id_column] if self.id_column else [])]
                   if c not in df.columns]
        if missing:
            raise ConfigurationError(f"Column(s) {', '.join(map(repr, missing))} not in the table; "
                                     f"available: {', '.join(map(str, df.columns))}.")
        nan = [c for c in self.quasi_identifiers if df[c].isna().any()]
        if nan:
            raise ConfigurationError(f"Quasi-identifier(s) {', '.join(map(repr, nan))} have missing values (NaN); "
                                     "fill or drop them first.")
        self._auto_hierarchies(pd.concat([df, control]) if control is not None else df)
        if control is None:
            ori, ctl = self._split(df)
            control_source = f"held out {self.control_fraction:.0%} of the {'people' if self.id_column else 'rows'}"
        else:
            if len(control) == 0:
                raise ConfigurationError("The control table is empty; it needs rows to attack.")
            ori, ctl = df, control
            control_source = "given"
        history: list[dict[str, Any]] = []
        best: tuple[float, dict[str, Any]] | None = None
        for k in self.k_values:
            for method in self.methods:
                settings = {"method": method, "k": k, "l": 2 if self.sensitive else None,
                            "max_suppression": self.max_suppression if method == "optimal" else 0.0}
                say(f"k={k} {method}: anonymizing")
                entry: dict[str, Any] = {"iteration": len(history) + 1, "settings": settings}
                anon = self._anonymizer(method, k)
                try:
                    release = anon.fit_transform(ori)
                except ConfigurationError as exc:
                    entry.update(passed=False, skipped=str(exc))
                    history.append(entry)
                    continue
                say(f"k={k} {method}: attacking")
                n_attacks = self.n_attacks
                report = self._assess(ori, release, ctl, anon, n_attacks)
                # Undecided (every point estimate below the threshold, an upper bound above it):
                # sharpen the estimate with more targets before paying utility for a stronger setting.
                while (report["max_risk_upper"] >= self.max_risk and n_attacks < self.max_attacks
                       and n_attacks < min(len(ori), len(ctl))
                       and max(r["risk"]["value"] for r in report["risks"].values()) < self.max_risk):
                    n_attacks = min(4 * n_attacks, self.max_attacks)
                    say(f"k={k} {method}: undecided, attacking again with {n_attacks} targets")
                    report = self._assess(ori, release, ctl, anon, n_attacks)
                entry["n_attacks"] = n_attacks
                passed = report["max_risk_upper"] < self.max_risk
                entry.update(passed=passed, risks={n: r["risk"] for n, r in report["risks"].items()},
                             max_risk_upper=report["max_risk_upper"], riskiest=report["riskiest"],
                             k_achieved=anon.report_["k"], suppressed=anon.report_["suppressed"],
                             utility={key: anon.report_["utility"][key] for key in
                                      ("loss", "precision", "discernibility", "non_uniform_entropy")},
                             prosecutor_max=report["reidentification"]["prosecutor"]["max"])
                history.append(entry)
                if passed and (best is None or entry["utility"]["loss"] < best[0]):
                    best = (entry["utility"]["loss"], settings)
            if best is not None:
                break
        self.history_ = history
        self.report_ = {"max_risk": self.max_risk, "control": control_source, "rows": int(len(df)),
                        "quasi_identifiers": list(self.quasi_identifiers), "sensitive": list(self.sensitive),
                        "hierarchies_built": self.auto_hierarchies_,
                        "iterations": history, "passed": best is not None}
        if best is None:
            self.release_ = None
            self.report_["message"] = (f"No setting tried (k up to {max(self.k_values)}, methods "
                                       f"{', '.join(self.methods)}) brought every risk's upper bound below "
                                       f"{self.max_risk:g}; no release was written. Raise --max-risk, allow more "
                                       "suppression, coarsen the hierarchies or drop quasi-identifiers.")
            undecided = [it for it in history if "risks" in it
                         and max(r["value"] for r in it["risks"].values()) < self.max_risk]
            if undecided:
                self.report_["message"] += (
                    f" {len(undecided)} setting(s) had every risk estimate below the threshold but an interval "
                    f"reaching it (control: {len(ctl)} rows): a larger control set would tighten the intervals.")
            return self
        settings = best[1]
        say(f"releasing with k={settings['k']} {settings['method']}")
        final = self._anonymizer(settings["method"], settings["k"])
        final.drop, final.pseudonymize = self.drop, self.pseudonymize
        self.release_ = final.fit_transform(df)
        self.anonymizer_ = final
        self.report_.update(chosen=settings, release=final.report_)
        return self
