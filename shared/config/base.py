"""Loading and validating a role's YAML config file."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from shared.errors import ConfigError


class ConfigModel(BaseModel):
    """Base of every config model: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


M = TypeVar("M", bound=ConfigModel)


def _key_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem: ``file: key.path: message``."""
    lines = [f"{source}: invalid config ({exc.error_count()} problem(s))"]
    for err in exc.errors():
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling against the example config)"
        lines.append(f"  {source}: {_key_path(tuple(err['loc']))}: {msg}")
    return "\n".join(lines)


def validate_config(model: type[M], data: object, source: str) -> M:
    """Validate ``data`` as ``model``; errors name ``source`` and the key path."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


def load_config(model: type[M], path: Path | str) -> M:
    """Read and validate a YAML config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return validate_config(model, data, str(path))
