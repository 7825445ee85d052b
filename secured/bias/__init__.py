"""Bias: find under-represented and unfairly labelled groups, fix them, and prove the fix.

- ``bias_report``: representation and label bias of a table for its protected attributes
  and every intersection of them, with intervals; small cells suppressed.
- ``model_report``: a fitted classifier's error rates, AUROC and calibration per group.
- ``Reweighing``, ``Resampling``, ``SyntheticRebalancing``: mitigations, each returning the
  mitigated table (or weights) and a before/after report in ``report_``.

>>> from secured.bias import bias_report
"""

from .mitigate import Resampling, Reweighing, SyntheticRebalancing
from .model import from_registry, model_report, model_scores
from .report import FOUR_FIFTHS, BiasReport, bias_report

__all__ = ["bias_report", "BiasReport", "FOUR_FIFTHS", "model_report", "model_scores", "from_registry", "Reweighing",
           "Resampling", "SyntheticRebalancing"]
