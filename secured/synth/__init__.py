"""Synthetic data: generators with one estimator API (``fit`` / ``sample`` / ``save`` /
``load``), their evaluation against real rows, and growing small tables.

>>> from secured.synth import GaussianCopula, evaluate, load
"""

from .base import Generator, load
from .copula import GaussianCopula
from .evaluate import evaluate, k_marginal_score
from .schema import ColumnSpec, Schema

__all__ = ["Generator", "GaussianCopula", "evaluate", "k_marginal_score", "load", "Schema", "ColumnSpec"]
