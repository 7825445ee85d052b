"""Synthetic data: generators with one estimator API (``fit`` / ``sample`` / ``save`` /
``load``), their evaluation against real rows, and growing small tables.

>>> from secured.synth import GaussianCopula, evaluate, load
"""

from .augment import AugmentResult, augment
from .base import Generator, dumps, load, loads
from .copula import GaussianCopula
from .evaluate import detection_auc, evaluate, k_marginal_score, split_holdout
from .diffusion import TabDDPM
from .dp import MST, Domain
from .tvae import TVAE
from .schema import ColumnSpec, Schema, typed

__all__ = ["augment", "AugmentResult", "Generator", "GaussianCopula", "TabDDPM", "TVAE", "MST", "Domain", "typed", "evaluate", "detection_auc", "k_marginal_score", "split_holdout", "load", "loads", "dumps", "Schema", "ColumnSpec"]
