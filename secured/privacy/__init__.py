"""Data flow: anonymization, attacks and the protect loop, DP release.

- ``Hierarchy`` (hierarchy.py): generalization hierarchies (ARX CSV or built from values).
- ``Anonymizer`` (anonymizer.py): optimal global recoding, Mondrian, MDAV; l/t; pseudonyms.
- checks (models.py, criteria.py), utility metrics (utility.py), DP release (dp.py).
- attacks (attacks.py), risk models (risk.py), ``assess`` / ``Protector`` (protect.py).

Pure pandas/numpy plus the compiled core's hot loops; no Ray here.
"""

from .anonymizer import Anonymizer
from .hierarchy import Hierarchy
from .lattice import LatticeResult, optimal_recoding
from .models import check_k_anonymity, check_l_diversity, check_t_closeness, equivalence_classes

__all__ = ["Anonymizer", "Hierarchy", "LatticeResult", "optimal_recoding", "check_k_anonymity", "check_l_diversity",
           "check_t_closeness", "equivalence_classes"]
