"""Reading a job's config file (YAML or JSON) against a strict pydantic schema, and checking
its output folder before any work: shared by every Ray job entry point."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, ValidationError

from ...exceptions import BadInputError, ConfigurationError

__all__ = ["Strict", "read_config", "check_output_folder", "resolve", "job_main", "require_hub_token"]


class Strict(BaseModel):
    """Unknown keys and wrongly typed values are errors (a quoted "false" is not a boolean)."""
    model_config = ConfigDict(extra="forbid", strict=True)


def _validation_message(exc: ValidationError) -> str:
    """pydantic's errors without the offending values (they could be anything)."""
    parts = []
    for error in exc.errors(include_input=False, include_url=False)[:8]:
        where = ".".join(str(x) for x in error["loc"]) or "(top level)"
        parts.append(f"{where}: {error['msg']}")
    return "; ".join(parts)


def read_config(path: str | Path, schema: type[BaseModel], what: str) -> dict[str, Any]:
    """The config file validated by ``schema``, as plain data."""
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"No config file at {path}.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise BadInputError(f"The config file {path.name} is not readable UTF-8 text.") from None
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
            raise BadInputError(f"The config file {path.name} is not valid YAML{where}.") from None
    else:
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadInputError(f"The config file {path.name} is not valid JSON (line {exc.lineno}, column "
                                f"{exc.colno}).") from None
    if not isinstance(raw, dict):
        raise BadInputError(f"The config must be a mapping of keys ({what}).")
    try:
        return schema.model_validate(raw).model_dump()
    except ValidationError as exc:
        raise ConfigurationError(f"The config file {path.name} does not match the job schema: "
                                 f"{_validation_message(exc)}.") from None


def resolve(value: str, base: Path) -> str:
    """A path of the config, relative to the config file's folder."""
    p = Path(value)
    return str(p if p.is_absolute() else (base / p).resolve())


def check_output_folder(out: Path) -> None:
    """Refuse an output that cannot be written before any work starts."""
    if out.exists() and not out.is_dir():
        raise BadInputError(f"The output {out} exists and is not a folder.")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise BadInputError(f"The output folder {out} cannot be created or written here.")


def require_hub_token() -> None:
    """A job with a ``hub`` section fails before any work when SECURED_TOKEN is not set."""
    if not os.environ.get("SECURED_TOKEN"):
        raise ConfigurationError("hub needs SECURED_TOKEN (a member's token) in the environment.")


def job_main(argv: list[str] | None, module: str, load: Callable[[str], dict], run: Callable[[dict], dict],
             summary: Callable[[dict], dict] = lambda metrics: metrics) -> int:
    """A job's command line: one config path; errors (in SECURED's words) to stderr with exit
    code 2; the summary of the metrics as one JSON line on stdout."""
    from ...exceptions import SecuredError

    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print(f"usage: python -m {module} CONFIG.(yaml|json)", file=sys.stderr)
        return 2
    try:
        metrics = run(load(argv[0]))
    except SecuredError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary(metrics)))
    return 0
