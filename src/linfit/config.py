"""The training configuration: one schema, YAML files, and the precedence defaults < file < flags.

Every key is declared once, in TrainConfig below: its type, default, allowed range, unit and
one-line meaning. Everything else is derived from that declaration: the command-line flags of
`train` and `config` with their help and shown defaults, `linfit config`'s output, and
`configs/default.yaml` (`linfit config --commented` writes it; a test keeps the file equal to it).
Types are strict: a YAML boolean (yes, on, true) given for a number is refused, never read as 1.
This module imports neither torch nor pandas: `linfit config` must start at once.
"""

from __future__ import annotations

import functools
import math
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from linfit.errors import ConfigError

Optimizer = Literal["sgd", "momentum", "adam"]
LossName = Literal["half_mse", "mse", "half_sse", "huber", "absolute", "quantile"]
Init = Literal["values", "zeros", "xavier_normal"]
DType = Literal["float64", "float32"]
Device = Literal["cpu", "cuda", "auto"]
SeType = Literal["nonrobust", "hc3"]


def setting(
    default: Any, meaning: str, *, unit: str | None = None, allowed: str | None = None, shown: str | None = None, **rules: Any
) -> Any:
    """Declare a configuration key: its default, its meaning (one line), its unit, and its range.

    `rules` are pydantic's constraints (gt, ge, lt, le, ...); the allowed range shown to people is
    derived from them unless `allowed` says it in words (for rules a validator enforces).
    """
    extra = {key: value for key, value in (("unit", unit), ("allowed", allowed), ("shown", shown)) if value is not None}
    return Field(default, description=meaning, json_schema_extra=extra or None, **rules)


MAX_BOOTSTRAP = 100_000  # resamples: percentiles need no more, and each is an exact LP solve over every row

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
    """Everything that decides a training run."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    lr: Optional[float] = setting(
        None,
        "learning rate γ in w ← w − γ·∇L; unset = the optimizer's own: sgd 0.9 and momentum 1.0, each ÷ the loss's "
        "curvature factor (1 half_mse, 2 mse, n half_sse), adam 0.1 × the parameters' scale",
        unit="1/curvature",
        shown="per optimizer",
        gt=0,
    )
    steps: int = setting(1000, "most gradient steps to run, one full pass over the data each (full-batch runs)", unit="steps", ge=1)
    epochs: int = setting(20, "most passes over the data for mini-batch runs (--batch-size)", unit="epochs", ge=1)
    tol: float = setting(
        0.0,
        "stop when the Newton estimate of the predictions' error is within tol of y's spread; 0 = at the rounding floor",
        unit="relative",
        ge=0,
    )
    optimizer: Optimizer = setting("sgd", "the optimizer: sgd (the hand-written w ← w − lr·∇L), momentum or adam (torch.optim)")
    momentum: float = setting(
        0.1, "momentum factor, used by optimizer=momentum (with lr 1.0 the error shrinks about 3× a step)", ge=0, lt=1
    )
    betas: tuple[float, float] = setting(
        (0.9, 0.999), "Adam's decay rates of the gradient's mean and of its square", allowed="0 ≤ β < 1 each", strict=False
    )
    loss: LossName = setting(
        "half_mse",
        "the loss: half_mse = ½·mean(r²), mse = mean(r²), half_sse = ½·Σr², huber (½r² inside ±δ, linear outside), "
        "absolute = mean|r|, quantile = the pinball loss at τ; r = a·x + b − y, rows weighted by weight_col. "
        "With sgd (the default): huber steps by the gradient scaled by the inverse curvature of the rows inside ±δ, halved on "
        "a rise, and stops by that set's Newton step; absolute and quantile run a smoothing continuation (the same steps on the "
        "kink rounded over ±μ, μ ÷10 a stage) and stop at a two-point line that passes the subgradient check",
        unit="y units² for the squared losses and huber's inside, y units for absolute and quantile",
    )
    huber_delta: Optional[float] = setting(
        None,
        "huber's δ, where the loss turns from ½r² to linear; unset = 1.345 × MAD/0.6745 of the residuals about the "
        "least-absolute-deviations line (a robust scale of a robust line, fixed for the run)",
        unit="y units",
        shown="from the data",
        gt=0,
    )
    quantile: float = setting(0.5, "τ of the quantile loss: the line has a fraction τ of the points on or below it", gt=0, lt=1)
    weight_col: Optional[str | int] = setting(
        None, "a column of row weights (finite, ≥ 0): every loss becomes Σ wᵢ·ℓᵢ / Σ wᵢ; unset = every row weighs 1", shown="none"
    )
    bootstrap: int = setting(
        0,
        "quantile and absolute losses: this many seeded bootstrap resamples for the intervals of a and b; 0 = none",
        allowed=f"0, or 2 ≤ bootstrap ≤ {MAX_BOOTSTRAP:,}",
        ge=0,
    )
    standardize: bool = setting(True, "train on centred, unit-variance x; report a, b and dL/da, dL/db in the data's units")
    init: Init = setting("values", "starting point: values (init_a, init_b), zeros, or xavier_normal (seeded)")
    init_a: float = setting(1.0, "starting slope a when init=values", unit="y units per x unit")
    init_b: float = setting(0.5, "starting intercept b when init=values", unit="y units")
    dtype: DType = setting("float64", "floating-point type of the data and parameters")
    device: Device = setting("cpu", "where tensors live: cpu, cuda, or auto (cuda when available)")
    seed: int = setting(0, "seed for everything random (xavier_normal initialisation, mini-batches)", ge=0)
    log_every: int = setting(
        0,
        "log every this many steps; 0 = steps 1–10, then every 10th to 100, every 100th to 1000...; first and last always",
        unit="steps",
        ge=0,
    )
    threads: int = setting(0, "threads for torch's intra-op work; 0 chooses by data size", unit="threads", ge=0)
    compile: bool = setting(False, "fuse the step with torch.compile: faster steps after a compile of several seconds")
    x_col: str | int = setting("x", "the column of x: a header name, or a 0-based index")
    y_col: str | int = setting("y", "the column of y: a header name, or a 0-based index")
    sep: Optional[str] = setting(
        None,
        "the data's field separator, one character ('\\t' for tabs); unset = tab for .tsv, else comma",
        shown="tab for .tsv, else comma",
    )
    drop_na: bool = setting(False, "drop rows with a missing x or y (and say how many); without it such a row is an error")
    chunk_rows: int = setting(
        0,
        "stream the data from disk this many rows at a time, every step: memory independent of its size; 0 = read it into memory",
        unit="rows",
        ge=0,
    )
    batch_size: int = setting(
        0, "mini-batch SGD: each step uses this many shuffled rows (seeded); 0 = full-batch gradient descent", unit="rows", ge=0
    )
    holdout: float = setting(
        0.0,
        "set this fraction of the rows aside (chosen by the seed), train on the rest, and score them at every logged step; "
        "0 = train on every row",
        unit="fraction",
        allowed="0 ≤ holdout < 1",
    )
    level: float = setting(0.95, "level of the intervals of a and b (0.95 is 95%)", allowed="0 < level < 1")
    se: SeType = setting("nonrobust", "standard errors: classical, or heteroscedasticity-robust HC3 (statsmodels' cov_type; z tests)")

    @field_validator("*", mode="before")
    @classmethod
    def _no_booleans_for_numbers(cls, value: Any, info) -> Any:
        """A YAML yes/on/true where a number belongs is a mistake, not 1 (for keys not already strict)."""
        if info.field_name is not None and _holds_a_bool(value) and not _takes_bools(cls.model_fields[info.field_name].annotation):
            raise ValueError("a boolean (true/false, yes/no, on/off) is not allowed here")
        return value

    @field_validator("holdout")
    @classmethod
    def _holdout_in_range(cls, holdout: float) -> float:
        if not 0 <= holdout < 1:
            raise ValueError("must lie between 0 and 1, below 1 (0.2 holds out a fifth of the rows; 0 none)")
        return holdout

    @field_validator("level")
    @classmethod
    def _level_in_range(cls, level: float) -> float:
        if not 0 < level < 1:
            raise ValueError("must lie strictly between 0 and 1 (0.95 is 95%)")
        return level

    @field_validator("bootstrap")
    @classmethod
    def _bootstrap_in_range(cls, bootstrap: int) -> int:
        if bootstrap == 1 or bootstrap > MAX_BOOTSTRAP:  # one resample's interval is a point; 1e10 of them, the memory of (N × rows)
            raise ValueError(f"must be 0 (no bootstrap) or from 2 to {MAX_BOOTSTRAP:,} resamples")
        return bootstrap

    @field_validator("betas")
    @classmethod
    def _betas_in_range(cls, betas: tuple[float, float]) -> tuple[float, float]:
        if not all(0 <= beta < 1 for beta in betas):
            raise ValueError("each beta must satisfy 0 ≤ beta < 1")
        return betas


def _holds_a_bool(value: Any) -> bool:
    return isinstance(value, bool) or (isinstance(value, (list, tuple)) and any(isinstance(v, bool) for v in value))


def _takes_bools(annotation: Any) -> bool:
    return annotation is bool or any(_takes_bools(arg) for arg in typing.get_args(annotation))


@dataclass(frozen=True)
class Key:
    """A configuration key as people see it: what the flags, their help and the commented YAML are made from."""

    name: str
    annotation: Any  # the declared type
    default: Any
    meaning: str
    unit: str | None
    allowed: str | None  # the range in words, e.g. "> 0" or "0 ≤ x < 1"; None when any value of the type will do
    choices: tuple[str, ...] | None  # for a Literal
    shown: str | None = None  # the default in words, where its value alone says little (None → "per optimizer")

    @property
    def flag(self) -> str:
        return flag_name(self.name)


def keys() -> list[Key]:
    """Every configuration key, in declaration order, read from TrainConfig's fields."""
    return [_key(name, field) for name, field in TrainConfig.model_fields.items()]


def _key(name: str, field) -> Key:
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    choices = typing.get_args(field.annotation) if typing.get_origin(field.annotation) is Literal else None
    return Key(
        name=name,
        annotation=field.annotation,
        default=field.default,
        meaning=field.description or "",
        unit=extra.get("unit"),
        allowed=extra.get("allowed") or _range(name, field.metadata),
        choices=tuple(str(c) for c in choices) if choices else None,
        shown=extra.get("shown"),
    )


def _range(name: str, metadata: list) -> str | None:
    """'> 0', '≥ 1', '0 ≤ x < 1' from pydantic's constraints."""
    kinds = ("Gt", "Ge", "Lt", "Le")
    bounds = {type(rule).__name__: getattr(rule, type(rule).__name__.lower()) for rule in metadata if type(rule).__name__ in kinds}
    low = f"{bounds['Gt']:g} < " if "Gt" in bounds else f"{bounds['Ge']:g} ≤ " if "Ge" in bounds else ""
    high = f" < {bounds['Lt']:g}" if "Lt" in bounds else f" ≤ {bounds['Le']:g}" if "Le" in bounds else ""
    if low and high:
        return f"{low}{name}{high}"
    if low:
        return ("> " if "Gt" in bounds else "≥ ") + low.split()[0]
    if high:
        return high.strip()
    return None


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
    import yaml

    text = _read_yaml_text(path)
    try:
        data = yaml.load(text, Loader=_limited_loader())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{where}: not valid YAML: {problem}.", "Fix the YAML syntax.") from None
    except _TooBig as exc:
        raise ConfigError(f"{path}: line {exc.line}: {exc}.", exc.hint) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of keys to values, got {type(data).__name__}.")
    for key, value in data.items():
        _require_plain_numbers(path, str(key), value)
    return {str(key): value for key, value in data.items()}


def _read_yaml_text(path: Path) -> str:
    from linfit.files import read_small_text

    return read_small_text(path, str(path), "config file", MAX_CONFIG_BYTES, ConfigError, "Give the path of a YAML file to --config.")


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
    def __init__(self, message: str, line: int, hint: str = "A linfit config is a flat mapping of keys to values.") -> None:
        super().__init__(message)
        self.line = line
        self.hint = hint


# YAML 1.2's core schema for numbers, not 1.1's: `1e-3` is a number (1.1 wants a dot: `1.0e-3`), while
# `1:30` (base 60), `1_000`, `010` (octal) and `0b11` are text, which the schema's strict types refuse.
_INT = r"^(?:[-+]?(?:0|[1-9][0-9]*)|0o[0-7]+|0x[0-9a-fA-F]+)$"
_FLOAT = r"^(?:[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)(?:[eE][-+]?[0-9]+)?|[-+]?[0-9]+[eE][-+]?[0-9]+|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"


def number_problem(text: str) -> str | None:
    """Why the text of a number flag is refused although Python's int() or float() would read it, or None.

    The same rule as the data's cells: digit separators (`1_000`, `0_5`) are refused, never read as 1000 or 5.
    """
    if "_" in text:
        return f"{text!r} is not a number: write it without '_' (digit separators are refused, as in the data)."
    return None


@functools.cache
def _limited_loader():
    """YAML's safe loader, refusing deep nesting and documents that aliases expand past MAX_CONFIG_NODES.

    Built on first use: yaml is imported only by the commands that read a config file.
    """
    import yaml

    class _LimitedLoader(yaml.SafeLoader):
        """Counts depth while composing, and each node's size with aliases expanded (memoised: no blow-up);
        reads numbers by YAML 1.2's rules, and refuses a key given twice in one mapping."""

        yaml_implicit_resolvers = {
            first: [(tag, regexp) for tag, regexp in resolvers if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
            for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
        }

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

        def construct_mapping(self, node, deep=False):
            seen: dict = {}  # key → the line it was first given on
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key, line = self.construct_object(key_node, deep=True), key_node.start_mark.line + 1
                try:
                    if key in seen:
                        lines = f"lines {seen[key]} and {line}" if seen[key] != line else f"line {line}"
                        raise _TooBig(f"key '{key}' is given twice ({lines})", line, f"Keep one '{key}'.")
                    seen[key] = line
                except TypeError:
                    continue  # an unhashable key: the constructor says so
            return super().construct_mapping(node, deep=deep)

    import re

    for tag, pattern, first in (("int", _INT, "-+0123456789"), ("float", _FLOAT, "-+0123456789.")):
        _LimitedLoader.add_implicit_resolver(f"tag:yaml.org,2002:{tag}", re.compile(pattern), list(first))
    return _LimitedLoader


def resolve_config(path: Path | None = None, overrides: Mapping[str, Any] | None = None, notes: list[str] | None = None) -> TrainConfig:
    """Merge defaults < file < flags into a validated TrainConfig.

    `overrides` holds the flags the user gave (None values are ignored, so a flag
    left out never hides the file's value). Errors name the file and key, or the flag. A loss's own setting
    given for a loss that does not read it is set back to its default, and `notes` (when given) gets a line saying so.
    """
    from_file = read_config_file(path) if path is not None else {}
    from_flags = {key: value for key, value in (overrides or {}).items() if value is not None}
    _reject_unknown(from_file, source=str(path))
    _reject_unknown(from_flags, source="flags")
    if path is not None:
        _validate(from_file, describe=lambda key: f"{path}: key '{key}'")
    config = _validate({**from_file, **from_flags}, describe=lambda key: _describe(key, from_flags, path))
    return _drop_unused(config, from_file, from_flags, path, notes if notes is not None else [])


USED_BY = {"huber_delta": ("huber",), "quantile": ("quantile",), "bootstrap": ("absolute", "quantile")}  # keys only these losses read


def _drop_unused(config: TrainConfig, from_file: Mapping[str, Any], from_flags: Mapping[str, Any], path: Path | None, notes: list[str]):
    """A loss's own setting given for a loss that does not read it (--quantile 0.3 with --loss mse) was ignored while the
    recorded config kept it, so the record said 0.3 of a run that never used it: it goes back to its default (what a
    run without it records) and a note says so. A file's value equal to the default (`linfit config` writes every key) is silent."""
    unused = {}
    for key, losses in USED_BY.items():
        if config.loss in losses:
            continue
        default = TrainConfig.model_fields[key].default
        if key in from_flags:
            where = flag_name(key)
        elif key in from_file and from_file[key] != default:
            where = f"{path}: key '{key}'"
        else:
            continue
        unused[key] = default
        reader = " and ".join(losses) + (" losses" if len(losses) > 1 else " loss")
        notes.append(
            f"note: {where} ({_yaml_value(getattr(config, key))}) is ignored: only the {reader} read{'' if len(losses) > 1 else 's'} it, "
            f"and this run's loss is '{config.loss}' (the config records {_yaml_value(default)})."
        )
    return config.model_copy(update=unused) if unused else config


def _yaml_value(value: Any) -> str:
    return "null" if value is None else str(value)


def _describe(key: str, from_flags: Mapping[str, Any], path: Path | None) -> str:
    if key in from_flags or path is None:
        return flag_name(key)
    return f"{path}: key '{key}'"


def _reject_unknown(values: Mapping[str, Any], source: str) -> None:
    import difflib

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
    import yaml

    return yaml.safe_dump(_plain_values(config), sort_keys=False, allow_unicode=True)


COMMENTED_HEADER = (
    "# linfit's configuration, one key a line: value  # meaning (allowed range) [unit].\n"
    "# Pass a copy with --config; flags override it. `linfit config --commented` writes this file.\n"
)


def to_commented_yaml(config: TrainConfig | None = None) -> str:
    """As to_yaml, each key followed by its meaning, range and unit: configs/default.yaml is this of the defaults."""
    import yaml

    values = _plain_values(config if config is not None else TrainConfig())
    lines = []
    for key in keys():
        value = values[key.name]
        flow = None if isinstance(value, list) else False  # a list on its own line: betas: [0.9, 0.999]
        text = yaml.safe_dump({key.name: value}, default_flow_style=flow, allow_unicode=True).strip()
        lines.append(f"{text:<21} # {describe(key)}")
    return COMMENTED_HEADER + "\n".join(lines) + "\n"


def describe(key: Key) -> str:
    """The key's meaning, then its allowed range and its unit: '... (> 0) [steps]'."""
    allowed = f" ({key.allowed})" if key.allowed else ""
    unit = f" [{key.unit}]" if key.unit else ""
    return f"{key.meaning}{allowed}{unit}"


def _plain_values(config: TrainConfig) -> dict[str, Any]:
    """The values as YAML writes them: tuples as lists."""
    return {name: list(value) if isinstance(value, tuple) else value for name, value in config.model_dump().items()}
