"""The training configuration: one schema, YAML files, and the precedence defaults < file < flags.

Every key is declared once below, with its meaning and units. `configs/default.yaml`
documents the same keys for people, and a test keeps the two in step.
This module imports neither torch nor pandas: `linfit config` must start at once.
"""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Any, Literal, Mapping

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from linfit.errors import ConfigError

Optimizer = Literal["sgd", "momentum", "adam"]
LossName = Literal["half_mse", "mse", "half_sse"]
Init = Literal["values", "zeros", "xavier_normal"]
DType = Literal["float64", "float32"]
Device = Literal["cpu", "cuda", "auto"]


class TrainConfig(BaseModel):
    """Everything that decides a training run. Units in brackets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lr: float = Field(0.9, gt=0, description="learning rate γ in w ← w − γ·∇L [1 / curvature of the loss]")
    steps: int = Field(1000, ge=1, description="most gradient steps to run, one full pass over the data each [steps]")
    tol: float = Field(1e-10, ge=0, description="stop when a and b are each within tol (relative) of the optimum, by the Newton estimate")
    optimizer: Optimizer = Field("sgd", description="sgd (the hand-written w ← w − lr·∇L), momentum or adam (torch.optim)")
    momentum: float = Field(0.9, ge=0, lt=1, description="momentum factor, used by optimizer=momentum [0 ≤ m < 1]")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam's decay rates of the gradient's mean and square [0 ≤ β < 1]")
    loss: LossName = Field("half_mse", description="half_mse = ½·mean(r²), mse = mean(r²), half_sse = ½·Σr², with r = a·x + b − y")
    standardize: bool = Field(True, description="train on centred, unit-variance x, report a and b in the data's units")
    init: Init = Field("values", description="starting point: values (init_a, init_b), zeros, or xavier_normal (seeded)")
    init_a: float = Field(1.0, description="starting slope a when init=values [y units per x unit]")
    init_b: float = Field(0.5, description="starting intercept b when init=values [y units]")
    dtype: DType = Field("float64", description="floating-point type of the data and parameters")
    device: Device = Field("cpu", description="where tensors live: cpu, cuda, or auto (cuda when available)")
    seed: int = Field(0, ge=0, description="seed for everything random (initialisation)")
    log_every: int = Field(0, ge=0, description="log a step every this many steps, 0 = every step to 10, every 10th to 100, ...; first and last always [steps]")
    threads: int = Field(0, ge=0, description="torch intra-op threads; 0 chooses by data size [threads]")
    compile: bool = Field(False, description="fuse the step with torch.compile: faster steps after a compile of several seconds")
    x_col: str | int = Field("x", description="the column of x: a header name, or a 0-based index")
    y_col: str | int = Field("y", description="the column of y: a header name, or a 0-based index")

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, betas: tuple[float, float]) -> tuple[float, float]:
        if not all(0 <= beta < 1 for beta in betas):
            raise ValueError("each beta must satisfy 0 ≤ beta < 1")
        return betas


KEYS: tuple[str, ...] = tuple(TrainConfig.model_fields)


def flag_name(key: str) -> str:
    """The command-line flag that sets a configuration key."""
    return "--" + key.replace("_", "-")


MAX_CONFIG_BYTES = 1 << 20  # a config file is a few hundred bytes; refuse to read a huge one
MAX_CONFIG_DEPTH = 20  # nesting of lists and mappings (the schema needs 2)
MAX_CONFIG_NODES = 10_000  # values after aliases are expanded: an alias bomb stops here, not in memory
MAX_INTEGER = 2**63 - 1


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a YAML config file into a dict of keys; refuse anything but a mapping of known keys.

    The loader is YAML's safe one with limits: the file's size, the nesting depth, and the number of
    values once aliases are expanded; numbers must be finite and fit 64 bits.
    """
    text = _read_yaml_text(path)
    try:
        data = yaml.load(text, Loader=_LimitedLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{where}: not valid YAML: {problem}.", "Fix the YAML syntax.") from None
    except _TooBig as exc:
        raise ConfigError(f"{path}: line {exc.line}: {exc}.", "A linfit config is a flat mapping of keys to values.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of keys to values, got {type(data).__name__}.")
    for key, value in data.items():
        _require_plain_numbers(path, str(key), value)
    return {str(key): value for key, value in data.items()}


def _read_yaml_text(path: Path) -> str:
    try:
        with open(path, "rb") as stream:
            data = stream.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found.", "Check the path given to --config.") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file.", "Give a YAML file to --config.") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror or exc}).") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES // 1024} KiB: not a linfit config file.", "Give a YAML file to --config.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: cannot read config file (not UTF-8 text at byte {exc.start}).") from None


def _require_plain_numbers(path: Path, key: str, value: Any) -> None:
    """Every number under a key is finite and fits 64 bits (the structure is small: the loader's limits)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ConfigError(f"{path}: key '{key}': must be a finite number (got {item!r}).")
        if isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_INTEGER:
            raise ConfigError(f"{path}: key '{key}': the number is too large (more than 64 bits).")
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, (list, tuple)):
            pending.extend(item)


class _TooBig(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.line = line


class _LimitedLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing deep nesting and documents that aliases expand past MAX_CONFIG_NODES."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._depth = 0
        self._sizes: dict[int, int] = {}  # id(node) → values under it once aliases are expanded

    def compose_node(self, parent, index):
        line = self.peek_event().start_mark.line + 1
        alias = self.check_event(yaml.AliasEvent)
        if self._depth >= MAX_CONFIG_DEPTH:
            raise _TooBig(f"nested more than {MAX_CONFIG_DEPTH} levels deep", line)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if alias:
            if id(node) not in self._sizes:
                raise _TooBig("an alias refers to a value that contains it", line)
            return node
        size = 1
        if isinstance(node, yaml.SequenceNode):
            size += sum(self._sizes[id(child)] for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            size += sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        if size > MAX_CONFIG_NODES:
            raise _TooBig(f"more than {MAX_CONFIG_NODES:,} values once aliases are expanded", line)
        self._sizes[id(node)] = size
        return node


def resolve_config(
    path: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> TrainConfig:
    """Merge defaults < file < flags into a validated TrainConfig.

    `overrides` holds the flags the user gave (None values are ignored, so a flag
    left out never hides the file's value). Errors name the file and key, or the flag.
    """
    from_file = read_config_file(path) if path is not None else {}
    from_flags = {key: value for key, value in (overrides or {}).items() if value is not None}
    _reject_unknown(from_file, source=str(path))
    _reject_unknown(from_flags, source="flags")
    if path is not None:
        _validate(from_file, describe=lambda key: f"{path}: key '{key}'")
    return _validate({**from_file, **from_flags}, describe=lambda key: _describe(key, from_flags, path))


def _describe(key: str, from_flags: Mapping[str, Any], path: Path | None) -> str:
    if key in from_flags or path is None:
        return flag_name(key)
    return f"{path}: key '{key}'"


def _reject_unknown(values: Mapping[str, Any], source: str) -> None:
    for key in values:
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            hint = f"Did you mean '{close[0]}'?" if close else f"Valid keys: {', '.join(KEYS)}."
            raise ConfigError(f"{source}: unknown config key '{key}'.", hint)


def _validate(values: Mapping[str, Any], describe) -> TrainConfig:
    try:
        return TrainConfig(**values)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else "config"
        got = values.get(key, "<missing>")
        raise ConfigError(f"{describe(key)}: {_plain(first['msg'])} (got {got!r}).") from None


def _plain(message: str) -> str:
    """Pydantic's message without its 'Value error, ' prefix, lower-cased first letter."""
    message = message.removeprefix("Value error, ")
    return message[:1].lower() + message[1:]


def to_yaml(config: TrainConfig) -> str:
    """The configuration as YAML that `--config` reads back to the same configuration."""
    data = config.model_dump()
    data["betas"] = list(data["betas"])
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
