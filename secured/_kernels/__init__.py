"""Private compiled core (Cython). Only ``secured.backend`` imports from here (ring
arithmetic; the privacy module's hot loops through ``secured.backend.privacy_kernels``).

If the extension modules are missing (a source checkout that was never built, or a build for
another Python), importing this package raises a BackendUnavailableError that says what was
found and which command builds the core.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..exceptions import BackendUnavailableError

# OpenMP threads that spin after a parallel region fight OpenBLAS's spinning threads for the
# cores; on 2 cores that made a 128x128 ring matmul 80x slower than BLAS instead of 6x. Sleep
# instead of spinning (read by libgomp when the extension loads; an explicit setting wins).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = ["ring", "bits", "privacy", "fss"]

try:
    from . import _bits as bits
    from . import _privacy as privacy
    from . import _ring as ring
except ImportError as exc:  # pragma: no cover - exercised by a subprocess test
    here = Path(__file__).parent
    found = sorted(p.name for p in here.iterdir() if p.suffix in {".so", ".pyd", ".pyx", ".c"})
    raise BackendUnavailableError(
        "The compiled ring core (secured._kernels) did not import "
        f"({type(exc).__name__}: {exc}). Found in {here}: {', '.join(found) or 'nothing'} "
        f"for Python {sys.version_info.major}.{sys.version_info.minor}. Build it with "
        "`make build` (or `python setup.py build_ext --inplace` in the project root), or use "
        "the pure-numpy backend with SECURED_BACKEND=numpy."
    ) from exc

try:            # built everywhere; without AES-NI it reports AESNI = False and the numpy twin is used
    from . import _fss as fss
except ImportError:  # pragma: no cover - an older build of the core
    fss = None
