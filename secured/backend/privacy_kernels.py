"""The seam between the privacy module and the compiled core's hot loops (DESIGN.md: only
``secured.backend`` imports ``secured._kernels``).

- ``mdav_groups(X, k)``: MDAV group label per row of a standardized float64 matrix.
- ``mixed_kneighbors(data, queries, inv_range, kind, tables, offsets, ncells, tiebreak, k)``:
  k nearest data rows per query under the mixed-type distance (parallel over queries).
- ``mixed_nearest(data, queries, inv_range, kind, tables, offsets, ncells)``: distance to the
  nearest data row per query and how many rows lie at that distance.
- ``count_matches(data, cols, ops, vals, cap)``: rows matching each conjunctive predicate,
  counting stopped at ``cap``.

Each has a pure-numpy twin in ``secured.backend._privacy_numpy`` (``reference``) that gives the
same results: the compiled core is tested against it, and it stands in, with a warning, when
the core is not built (``make build`` builds it), so the privacy module imports on any checkout.
"""

from __future__ import annotations

import warnings

from . import _privacy_numpy as reference
from ..exceptions import BackendUnavailableError

__all__ = ["mdav_groups", "mixed_kneighbors", "mixed_nearest", "count_matches", "compiled", "reference"]

try:
    from .._kernels import privacy as _core
except BackendUnavailableError as exc:  # an unbuilt checkout: slow but correct
    warnings.warn(f"{exc} The privacy module uses its numpy reference loops meanwhile (much slower).",
                  RuntimeWarning, stacklevel=2)
    _core = reference
    compiled = False
else:
    compiled = True

mdav_groups = _core.mdav_groups
mixed_kneighbors = _core.mixed_kneighbors
mixed_nearest = _core.mixed_nearest
count_matches = _core.count_matches
