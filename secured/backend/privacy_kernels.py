"""The seam between the privacy module and the compiled core's hot loops (DESIGN.md: only
``secured.backend`` imports ``secured._kernels``).

- ``mdav_groups(X, k)``: MDAV group label per row of a standardized float64 matrix.
- ``mixed_kneighbors(data, queries, inv_range, kind, tables, offsets, ncells, tiebreak, k)``:
  k nearest data rows per query under the mixed-type distance (parallel over queries).
- ``count_matches(data, cols, ops, vals, cap)``: rows matching each conjunctive predicate,
  counting stopped at ``cap``.

Importing this module without a built core raises BackendUnavailableError naming the
command that builds it (``make build``).
"""

from __future__ import annotations

from .._kernels import privacy as _core

__all__ = ["mdav_groups", "mixed_kneighbors", "count_matches"]

mdav_groups = _core.mdav_groups
mixed_kneighbors = _core.mixed_kneighbors
count_matches = _core.count_matches
