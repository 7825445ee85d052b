"""Typed reports of the data flow, shared by the Python API, the CLI, the hub and the HTTP
service.

Each report is a dataclass: its fields are the parts every consumer relies on, typed and
documented; what is specific to a method or a run (search details, per-column screening) sits
in ``extra``. ``to_dict()`` gives the JSON document (fields and extras side by side, the
format the CLI writes), ``from_dict`` reads one back, and a report also reads like that
document (``report["k"]``, ``"l" in report``, ``report.get("t")``), so code written against the
JSON works on the object.

>>> r = AnonymizationReport(method="optimal", rows_in=10, rows_out=9, suppressed=1, k_requested=2, k=3,
...                         counted="rows", quasi_identifiers=["age"], discernibility=39.0)
>>> r.k, r["suppressed"], r.to_dict()["method"]
(3, 1, 'optimal')
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Optional

__all__ = ["Report", "AnonymizationReport", "AssessmentReport", "ProtectionReport"]


@dataclass
class Report(Mapping):
    """Base of the typed reports (see the module docstring)."""

    extra: dict[str, Any] = field(default_factory=dict, kw_only=True)

    @classmethod
    def _names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.name != "extra"]

    def to_dict(self) -> dict[str, Any]:
        out = {name: _plain(getattr(self, name)) for name in self._names()}
        out.update({k: _plain(v) for k, v in self.extra.items()})
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Report":
        names = set(cls._names())
        known = {k: v for k, v in data.items() if k in names}
        return cls(**known, extra={k: v for k, v in data.items() if k not in names})

    # the JSON document's reading
    def __getitem__(self, key: str) -> Any:
        if key in self._names():
            return getattr(self, key)
        return self.extra[key]

    def __setitem__(self, key: str, value: Any) -> None:
        if key in self._names():
            setattr(self, key, value)
        else:
            self.extra[key] = value

    def __iter__(self) -> Iterator[str]:
        yield from self._names()
        yield from self.extra

    def __len__(self) -> int:
        return len(self._names()) + len(self.extra)

    def update(self, other: Mapping[str, Any] = (), **kwargs: Any) -> None:
        for key, value in {**dict(other), **kwargs}.items():
            self[key] = value


def _plain(value: Any) -> Any:
    if isinstance(value, Report):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


@dataclass
class AnonymizationReport(Report):
    """What ``Anonymizer.fit_transform`` released: every number recomputed on the release."""

    method: str
    rows_in: int
    rows_out: int
    suppressed: int
    k_requested: int
    k: int                                  # achieved, people when ``counted == "people"``
    counted: str                            # "people" or "rows"
    quasi_identifiers: list[str]
    discernibility: float
    utility: Optional[dict[str, Any]] = None  # loss, precision, entropy, class sizes, per column
    sensitive: Optional[str] = None
    l: Optional[float] = None               # achieved l of ``sensitive`` (noqa: E741)
    t: Optional[float] = None               # achieved t of ``sensitive``


@dataclass
class AssessmentReport(Report):
    """Risks of one release by attack (``assess``), each with its interval."""

    risks: dict[str, Any]                   # attack name -> AttackResult.to_dict()
    max_risk_upper: float
    riskiest: str
    reidentification: dict[str, Any]
    settings: dict[str, Any]                # targets, seeds, counts: what reproduces the numbers
    seconds: float
    release: Optional[dict[str, Any]] = None  # k and utility recomputed (assess from a recoding)


@dataclass
class ProtectionReport(Report):
    """The protect loop: every iteration, and the published release's own numbers."""

    max_risk: float
    control: dict[str, Any]
    rows: int
    quasi_identifiers: list[str]
    sensitive: list[str]
    iterations: list[dict[str, Any]]
    passed: bool
    certifiable: dict[str, float] = field(default_factory=dict)
    smallest_certifiable_threshold: Optional[float] = None
    message: Optional[str] = None
    chosen: Optional[dict[str, Any]] = None
    chosen_iteration: Optional[int] = None
    release: Optional[Any] = None           # the published release's AnonymizationReport
    assessment: Optional[Any] = None        # the published release's AssessmentReport
    published: Optional[dict[str, Any]] = None
