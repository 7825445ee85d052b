"""The backend seam: one ring interface, three implementations.

``get_backend(*arrays)`` picks the implementation for a call:

1. from the inputs' array type — cupy arrays run on the cupy backend; numpy and cupy arrays
   mixed in one call are a BackendMismatchError naming both;
2. else from ``secured.config_context(backend=...)`` / ``secured.set_config``;
3. else from the ``SECURED_BACKEND`` environment variable;
4. else ``cython``, the compiled CPU core. If it does not import, the error says what was
   found and which command builds it (nothing falls back silently).

``numpy`` is the pure-numpy reference and always imports; ``cupy`` imports cupy lazily.

>>> import numpy as np
>>> from secured.backend import get_backend
>>> be = get_backend(name="numpy")
>>> a = np.array([[2**64 - 1, 2]], dtype=np.uint64)
>>> b = np.array([[3], [2**63]], dtype=np.uint64)
>>> int(be.matmul(a, b)[0, 0]) == (((2**64 - 1) * 3 + 2 * 2**63) % 2**64)
True
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from .._config import BACKEND_NAMES, backend_from_environment, get_config
from ..exceptions import BackendMismatchError, ConfigurationError
from ._base import CHUNK, RING_BITS, RingBackend
from ._prg import KEY_BYTES, chacha20_words, new_key

__all__ = [
    "RingBackend",
    "get_backend",
    "available_backends",
    "array_namespace_name",
    "new_key",
    "chacha20_words",
    "KEY_BYTES",
    "RING_BITS",
    "CHUNK",
]

_instances: dict[str, RingBackend] = {}
_lock = threading.Lock()


def _create(name: str) -> RingBackend:
    if name == "numpy":
        from ._numpy import NumpyBackend

        return NumpyBackend()
    if name == "cython":
        from ._cython import CythonBackend

        return CythonBackend()
    if name == "cupy":
        from ._cupy import CupyBackend

        return CupyBackend()
    raise ConfigurationError(
        f"Unknown backend {name!r}; choose one of {', '.join(BACKEND_NAMES)}."
    )


def _instance(name: str) -> RingBackend:
    with _lock:
        if name not in _instances:
            _instances[name] = _create(name)
        return _instances[name]


def array_namespace_name(x: Any) -> str | None:
    """'numpy', 'cupy' or None (Python scalars and other objects decide nothing)."""
    if isinstance(x, (np.ndarray, np.generic)):
        return "numpy"
    module = type(x).__module__ or ""
    if module == "cupy" or module.startswith("cupy."):
        return "cupy"
    return None


def get_backend(*arrays: Any, name: str | None = None) -> RingBackend:
    """The backend for these inputs (see the module docstring for the order of precedence)."""
    kinds = {array_namespace_name(a) for a in arrays} - {None}
    if kinds == {"numpy", "cupy"}:
        raise BackendMismatchError(
            "Inputs mix numpy.ndarray and cupy.ndarray. Move them to one device first: "
            "cupy.asarray(x) to the GPU, or x.get() / cupy.asnumpy(x) to the host."
        )
    if "cupy" in kinds:
        if name not in (None, "cupy"):
            raise BackendMismatchError(
                f"cupy.ndarray inputs cannot run on the {name!r} backend (it takes "
                "numpy.ndarray); move them with cupy.asnumpy(x) or choose backend='cupy'."
            )
        return _instance("cupy")
    chosen = name or get_config()["backend"] or backend_from_environment() or "cython"
    if chosen not in BACKEND_NAMES:
        raise ConfigurationError(
            f"Unknown backend {chosen!r}; choose one of {', '.join(BACKEND_NAMES)}."
        )
    return _instance(chosen)


def available_backends() -> dict[str, str]:
    """Each backend name mapped to 'ok' or the reason it cannot be used here."""
    status = {}
    for backend_name in BACKEND_NAMES:
        try:
            _instance(backend_name)
            status[backend_name] = "ok"
        except ImportError as exc:
            status[backend_name] = str(exc)
    return status
