"""Loading and validating a role's YAML config file.

Every error names the file and the key's path (``edge.yaml: exchanges[0].depht:
unknown key``), so an operator can fix it without reading code. Secrets never live
in config files: a key that looks like one is refused and the operator is told to
set it in the environment instead.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from shared.errors import ConfigError


class ConfigModel(BaseModel):
    """Base of every config model: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


M = TypeVar("M", bound=ConfigModel)

# A key naming a secret, by its words: "api_key", "apiKey", "db_password", "auth-token",
# "client_secret". A key ending in "_env" is allowed: it names the environment variable
# that holds the secret, which is the one way a secret reaches TickerML.
_SECRET_WORDS = re.compile(
    r"(secret|passwor?d|passwd|passphrase|token|api_?key|private_?key|credentials?)"
)
_ENV_REFERENCE = re.compile(r"_env$")


def is_secret_key(key: str) -> bool:
    """Whether a config key names a secret (and so may not appear in a file)."""
    normalized = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower().replace("-", "_")
    return bool(_SECRET_WORDS.search(normalized)) and not _ENV_REFERENCE.search(normalized)


def key_path(loc: tuple[int | str, ...]) -> str:
    """``("exchanges", 0, "depth")`` -> ``exchanges[0].depth``."""
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def _keys(data: object, loc: tuple[int | str, ...] = ()) -> Iterator[tuple[int | str, ...]]:
    """The path of every mapping key in a parsed YAML document, depth first."""
    if isinstance(data, dict):
        for key, value in data.items():
            path = (*loc, str(key))
            yield path
            yield from _keys(value, path)
    elif isinstance(data, list):
        for index, item in enumerate(data):
            yield from _keys(item, (*loc, index))


def secret_keys(data: object) -> list[str]:
    """Paths of the keys in ``data`` that name secrets."""
    return [key_path(loc) for loc in _keys(data) if is_secret_key(str(loc[-1]))]


class KeyProblems(ValueError):
    """Raised by a model validator that checks keys against each other: each problem
    keeps the path of the key it is about (a plain ``ValueError`` would be reported
    at the model's own path), relative to the model."""

    def __init__(self, problems: list[tuple[tuple[int | str, ...], str]]) -> None:
        super().__init__("; ".join(f"{key_path(loc)}: {msg}" for loc, msg in problems))
        self.problems = problems


def _problems(err: Any) -> list[tuple[tuple[int | str, ...], str]]:
    """(key path, message) of one pydantic error; a :class:`KeyProblems` gives several."""
    loc = tuple(err["loc"])
    cause = err.get("ctx", {}).get("error")
    if isinstance(cause, KeyProblems):
        return [((*loc, *sub), msg) for sub, msg in cause.problems]
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key (check the spelling against the example config)"
    elif err["type"] == "missing":
        msg = "required key is missing"
    return [(loc, msg)]


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem: ``file: key.path: message``."""
    problems = [problem for err in exc.errors() for problem in _problems(err)]
    lines = [f"{source}: invalid config ({len(problems)} problem(s))"]
    lines += [f"  {source}: {key_path(loc)}: {msg}" for loc, msg in problems]
    return "\n".join(lines)


def validate_config(model: type[M], data: object, source: str) -> M:
    """Validate ``data`` as ``model``; errors name ``source`` and the key path."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping, got {type(data).__name__}")
    secrets = secret_keys(data)
    if secrets:
        lines = [f"{source}: secrets are not allowed in config files ({len(secrets)} key(s))"]
        lines += [
            f"  {source}: {path}: looks like a secret; set it in the environment instead"
            for path in secrets
        ]
        raise ConfigError("\n".join(lines))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source)) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping.

    Plain YAML keeps the last value silently, which turns a pasted duplicate into a
    setting nobody sees.
    """

    def construct_mapping(
        self, node: yaml.MappingNode, deep: bool = False
    ) -> dict[Hashable, object]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_yaml(text: str, source: str) -> object:
    """Parse one YAML document; errors name ``source`` and the line."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        where = ""
        if exc.problem_mark is not None:
            where = f" (line {exc.problem_mark.line + 1}, column {exc.problem_mark.column + 1})"
        what = "; ".join(part for part in (exc.context, exc.problem) if part)
        raise ConfigError(f"{source}: not valid YAML{where}: {what}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None


def load_config(model: type[M], path: Path | str) -> M:
    """Read and validate a YAML config file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a YAML text file (byte {exc.start} is not UTF-8): is this the "
            "config file? (see config/*.example.yaml)"
        ) from None
    return validate_config(model, parse_yaml(text, str(path)), str(path))
