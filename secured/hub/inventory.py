"""Inventory fields from the reports of ``secured anonymize`` and ``secured protect``.

``inventory_fields(report)`` maps a report onto the keyword arguments of
``Hub.register_dataset`` / ``Hub.update_dataset``:

- the release's scores: ``k`` (with the anonymization settings: method, requested k,
  quasi-identifiers, suppression, search levels, l/t settings, what was counted, and utility
  loss, precision and discernibility), ``l`` and ``t``. An anonymize report holds them at its
  top level; a protect report under ``"release"``.
- a protect report's own attack results (``"assessment"``): ``risks`` (each attack's risk
  value and confidence interval) and ``max_risk_upper``.
- a bias report run on the release (``"bias"``, from ``--bias-protected``): its findings
  (``secured.bias.BiasReport.findings``) become ``bias``.

Fields the report does not have are left out (the entry keeps what it had). A report that is
not shaped like either kind is refused with :class:`IntegrityError`; messages name the field,
never a value from the report.
"""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, Mapping

from ..exceptions import IntegrityError

__all__ = ["inventory_fields", "synthetic_fields", "bias_fields"]

_SETTINGS = ("method", "k_requested", "quasi_identifiers", "suppressed", "search_levels", "l_variant", "t_distance",
             "counted")
_UTILITY = ("loss", "precision", "discernibility")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise IntegrityError(f"The report's {what} must be a finite number.")
    return float(value)


def inventory_fields(report: Mapping[str, Any]) -> dict[str, Any]:
    """The inventory fields recorded from an anonymize or protect report (see the module)."""
    if not isinstance(report, Mapping):
        raise IntegrityError("An anonymize or protect report is a JSON object (a mapping).")
    release = report.get("release", report)
    if not isinstance(release, Mapping):
        raise IntegrityError("The report's 'release' must be a mapping.")
    out: dict[str, Any] = {}
    if release.get("k") is not None:
        out["k"] = _number(release["k"], "k")
        anonymization = {key: release[key] for key in _SETTINGS if key in release}
        utility = release.get("utility")
        if utility is not None:
            if not isinstance(utility, Mapping):
                raise IntegrityError("The report's 'utility' must be a mapping.")
            anonymization["utility"] = {key: utility[key] for key in _UTILITY if key in utility}
        out["anonymization"] = anonymization
    for key in ("l", "t"):
        if release.get(key) is not None:
            out[key] = _number(release[key], key)
    assessment = report.get("assessment")
    if assessment:  # protect: the published release's own attack results
        if not isinstance(assessment, Mapping) or not isinstance(assessment.get("risks"), Mapping):
            raise IntegrityError("The report's 'assessment' must be a mapping with 'risks' per attack.")
        risks = {}
        for name, result in assessment["risks"].items():
            if not isinstance(name, str) or not isinstance(result, Mapping) or \
                    not isinstance(result.get("risk"), Mapping):
                raise IntegrityError("Each attack in the report's 'risks' must be a mapping with a 'risk'.")
            risks[name] = dict(result["risk"])
        out["risks"] = risks
        out["max_risk_upper"] = _number(assessment.get("max_risk_upper"), "max_risk_upper")
    bias = report.get("bias")
    if bias is not None:
        out["bias"] = bias_fields(bias)
    return out


def bias_fields(bias: Mapping[str, Any]) -> dict[str, Any]:
    """The inventory's ``bias`` field from a bias report (its findings: protected columns,
    smallest group, largest parity difference, smallest disparate impact, ...)."""
    if not isinstance(bias, Mapping) or not isinstance(bias.get("findings"), Mapping):
        raise IntegrityError("The report's 'bias' must be a bias report with 'findings'.")
    findings = dict(bias["findings"])
    for key, value in findings.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise IntegrityError(f"The bias finding {key!r} must be a finite number.")
    if bias.get("target") is not None:
        findings["target"] = bias["target"]
    return findings


def synthetic_fields(generator: Mapping[str, Any], evaluation: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Inventory fields of a fully synthetic table: ``synthetic=True``; under ``anonymization``
    the generator (its name, parameters, and epsilon/delta when it is differentially private)
    and, from a ``secured.synth.evaluate`` report, the fidelity, utility and privacy scores;
    the report's attacks become ``risks`` and ``max_risk_upper``."""
    if not isinstance(generator, Mapping) or not isinstance(generator.get("generator"), str):
        raise IntegrityError("The generator description must be a mapping with the generator's name.")
    params = dict(generator.get("params") or {})
    params.pop("domain", None)                   # public, but long; it stays in the generator file
    made: dict[str, Any] = {"method": f"synthetic: {generator['generator']}", "params": params}
    for key in ("epsilon", "delta"):
        if params.get(key) is not None:
            made[key] = _number(params[key], key)
    out: dict[str, Any] = {"synthetic": True, "anonymization": made}
    if evaluation is None:
        return out
    if not isinstance(evaluation, Mapping) or "shapes" not in evaluation or "k_marginal" not in evaluation:
        raise IntegrityError("The evaluation must be a report of secured.synth.evaluate (shapes, k_marginal, ...).")
    scores: dict[str, Any] = {"k_marginal": _number(evaluation["k_marginal"], "k_marginal"),
                              "shapes": _number(evaluation["shapes"]["mean"], "shapes"),
                              "pair_trends": _number(evaluation["pair_trends"], "pair_trends"),
                              "detection_auroc": _number(evaluation["detection"]["auroc"], "detection auroc")}
    utility = evaluation.get("utility")
    if isinstance(utility, Mapping):
        scores["utility"] = {name: {"tstr_f1": _number(u["tstr"]["f1_macro"], "tstr f1"),
                                    "trtr_f1": _number(u["trtr"]["f1_macro"], "trtr f1")}
                             for name, u in utility.items() if isinstance(u, Mapping) and "tstr" in u}
    made["evaluation"] = scores
    privacy = evaluation.get("privacy")
    if isinstance(privacy, Mapping):
        made["memorizes"] = bool(privacy.get("memorizes"))
        made["exact_copies"] = _number(privacy["exact_copies"], "exact_copies")
        out["risks"] = {name: dict(r) for name, r in privacy.get("attacks", {}).items()}
        out["max_risk_upper"] = _number(privacy["max_attack_upper"], "max_attack_upper")
    return out
