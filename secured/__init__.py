"""SECURED: use sensitive health data together without handing it over.

The package is layered bottom up (see README): a compiled ring core in ``secured._kernels``,
reached only through the backend seam ``secured.backend``; the SMPC engine, privacy tools
and knowledge base build on top of it.
"""

from __future__ import annotations

from ._config import config_context, get_config, set_config
from .exceptions import SecuredError

__version__ = "0.1.0"

__all__ = ["__version__", "config_context", "get_config", "set_config", "SecuredError"]
