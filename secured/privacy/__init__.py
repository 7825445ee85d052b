"""Data flow: anonymization (hierarchies, privacy models, optimal recoding) — in progress.

Pure pandas/numpy; no Ray here.
"""

from .hierarchy import Hierarchy
from .lattice import LatticeResult, optimal_recoding
from .models import check_k_anonymity, check_l_diversity, check_t_closeness, equivalence_classes

__all__ = ["Hierarchy", "LatticeResult", "optimal_recoding", "check_k_anonymity", "check_l_diversity",
           "check_t_closeness", "equivalence_classes"]
