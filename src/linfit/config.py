"""The training configuration: one schema, YAML files, and the precedence defaults < file < flags.

Every key is declared once below, with its meaning and units. `configs/default.yaml`
documents the same keys for people, and a test keeps the two in step.
This module imports neither torch nor pandas: `linfit config` must start at once.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal, Mapping, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from linfit.errors import ConfigError

Optimizer = Literal["sgd", "momentum", "adam"]
LossName = Literal["half_mse", "mse", "half_sse"]
Init = Literal["values", "zeros", "xavier_normal"]
DType = Literal["float64", "float32"]
Device = Literal["cpu", "cuda", "auto"]


# Each optimizer's default learning rate, chosen for the standardised half_mse surface (Hessian = identity):
#   sgd 0.9: the error shrinks 10× a step (1.0 would be Newton's step, 2.0 the edge of divergence);
#   momentum 1.0 with momentum 0.1: heavy ball's error shrinks by √m ≈ 0.32 a step for any curvature λ
#     with lr·λ in ((1 − √m)², (1 + √m)²) ≈ (0.47, 1.73); m = 0.9 would shrink it by only 0.95 a step
#     (hundreds of steps): on a round bowl momentum has nothing to gain, and a small m costs little;
#   adam 0.1 times the scale of the parameters in training coordinates (the larger of y's standard
#     deviation and the start's |α|, |β|): Adam normalises the gradient, so its lr is a step length.
#     On a quadratic Adam is slow: several hundred steps to the rounding floor where sgd takes a dozen.
# sgd and momentum divide theirs by the loss's curvature factor (1 half_mse, 2 mse, n half_sse).
DEFAULT_LR: dict[str, float] = {"sgd": 0.9, "momentum": 1.0, "adam": 0.1}


class TrainConfig(BaseModel):
    """Everything that decides a training run. Units in brackets."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lr: Optional[float] = Field(None, gt=0, description="learning rate γ in w ← w − γ·∇L; null = the optimizer's default (DEFAULT_LR): sgd 0.9, momentum 1.0 ÷ the loss's curvature factor c (1 half_mse, 2 mse, n half_sse), adam 0.1 × the parameters' scale [1 / curvature of the loss]")
    steps: int = Field(1000, ge=1, description="most gradient steps to run, one full pass over the data each (full-batch runs) [steps]")
    epochs: int = Field(20, ge=1, description="most passes over the data for mini-batch runs (--batch-size) [epochs]")
    tol: float = Field(0.0, ge=0, description="stop when the error of the predictions, by the Newton estimate, is within tol of y's spread; 0 = at the rounding floor (every digit float64 holds)")
    optimizer: Optimizer = Field("sgd", description="sgd (the hand-written w ← w − lr·∇L), momentum or adam (torch.optim)")
    momentum: float = Field(0.1, ge=0, lt=1, description="momentum factor, used by optimizer=momentum; 0.1 with lr 1.0 shrinks the error about 3× a step on the standardised surface [0 ≤ m < 1]")
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


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a YAML config file into a dict of keys; refuse anything but a mapping of known keys."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found.", "Check the path given to --config.") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file.", "Give a YAML file to --config.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc}).") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{where}: not valid YAML: {problem}.", "Fix the YAML syntax.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of keys to values, got {type(data).__name__}.")
    return {str(key): value for key, value in data.items()}


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
