"""The ``secured`` command line (typer). See ``secured --help``."""

from .main import app

__all__ = ["app"]
