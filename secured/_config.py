"""Process-wide and context-local settings: ``config_context``, ``get_config``, ``set_config``.

Settings live in a :mod:`contextvars` variable so that threads and asyncio tasks each see
their own ``config_context`` overrides, while ``set_config`` changes the process default.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
from collections.abc import Iterator
from typing import Any

from .exceptions import ConfigurationError

__all__ = ["config_context", "get_config", "set_config", "BACKEND_NAMES"]

#: Names accepted for ``backend``; ``None`` means "decide from the inputs, then
#: ``SECURED_BACKEND``, then the CPU default (cython)".
BACKEND_NAMES = ("numpy", "cython", "cupy")

_DEFAULTS: dict[str, Any] = {"backend": None, "fractional_bits": 16}
_global: dict[str, Any] = dict(_DEFAULTS)
_local: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "secured_config", default=None
)


def _validate(key: str, value: Any) -> Any:
    if key not in _DEFAULTS:
        raise ConfigurationError(
            f"Unknown setting {key!r}. Known settings: {', '.join(sorted(_DEFAULTS))}."
        )
    if key == "backend" and value is not None and value not in BACKEND_NAMES:
        raise ConfigurationError(
            f"The 'backend' setting must be one of {', '.join(BACKEND_NAMES)} or None. "
            f"Got {value!r} instead."
        )
    if key == "fractional_bits":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 62:
            raise ConfigurationError(
                "The 'fractional_bits' setting must be an int in the range [0, 62]. "
                f"Got {value!r} instead."
            )
    return value


def get_config() -> dict[str, Any]:
    """Return a copy of the settings in force in this context."""
    local = _local.get()
    return dict(local if local is not None else _global)


def set_config(**settings: Any) -> None:
    """Change process-wide defaults (``backend``, ``fractional_bits``)."""
    for key, value in settings.items():
        _global[key] = _validate(key, value)


@contextlib.contextmanager
def config_context(**settings: Any) -> Iterator[dict[str, Any]]:
    """Temporarily override settings inside a ``with`` block.

    >>> import secured
    >>> with secured.config_context(backend="numpy"):
    ...     secured.get_config()["backend"]
    'numpy'
    """
    current = get_config()
    for key, value in settings.items():
        current[key] = _validate(key, value)
    token = _local.set(current)
    try:
        yield dict(current)
    finally:
        _local.reset(token)


def backend_from_environment() -> str | None:
    """The backend named by ``SECURED_BACKEND`` (validated), or None when unset."""
    name = os.environ.get("SECURED_BACKEND", "").strip().lower()
    if not name:
        return None
    if name not in BACKEND_NAMES:
        raise ConfigurationError(
            f"SECURED_BACKEND must be one of {', '.join(BACKEND_NAMES)}. "
            f"Got {name!r} instead; unset it to use the default."
        )
    return name
