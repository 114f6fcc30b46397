"""The model file: a readable JSON record of a fit, written atomically, read back with every field checked."""

from __future__ import annotations

import datetime as _dt
import json
import math
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from linfit import __version__
from linfit.errors import DataError
from linfit.files import read_small_text
from linfit.start import Start

FORMAT = "linfit-model"
FORMAT_VERSION = 1
WRITE_ONE = "Write one with: linfit train DATA -o MODEL.json"  # what to do when a model file is not one


@dataclass(frozen=True)
class SavedModel:
    a: float
    b: float
    path: str
    record: dict[str, Any]

    def start(self) -> Start:
        """Where a warm start from this model begins."""
        return Start(self.a, self.b, "model")


def model_record(fit: dict[str, Any], data_sha256: str, init_from: str | None) -> dict[str, Any]:
    """The file's content: the fit's JSON (less its history), plus provenance and versions."""
    import torch

    record = {"format": FORMAT, "format_version": FORMAT_VERSION}
    record.update({key: value for key, value in fit.items() if key != "history"})
    record["interrupted"] = fit["stop_reason"] == "interrupted"
    record["seed"] = fit["config"]["seed"]
    record["init"] = {**fit["init"], "from": init_from}
    record["data"] = {**fit["data"], "sha256": data_sha256}
    record["versions"] = {"linfit": __version__, "torch": torch.__version__, "python": platform.python_version()}
    record["created"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    return record


def model_text(record: dict[str, Any]) -> str:
    """The model file's text: indented JSON, a non-finite number (an interrupted run's) as null."""
    from linfit.output import finite_or_null

    return json.dumps(finite_or_null(record), indent=2, allow_nan=False, ensure_ascii=False) + "\n"


def load_model(path: str | Path) -> SavedModel:
    """Read a model file; a missing, unreadable, oversized or malformed one is a DataError naming the file and key."""
    name = str(path)
    record = _parse(name, _read_text(path, name))
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise DataError(f'{name}: not a linfit model file (no "format": "{FORMAT}").', WRITE_ONE)
    values = []
    for key in ("a", "b"):
        value = record.get(key)
        number = _finite(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        if number is None:
            raise DataError(f"{name}: key '{key}' must be a finite number, got {_short(value)}.")
        values.append(number)
    for key in ("data", "config", "init"):
        if key in record and not isinstance(record[key], dict):
            raise DataError(f"{name}: key '{key}' must be an object, got {_short(record[key])}.", WRITE_ONE)
    data = record.get("data", {})
    for key in ("x", "y", "w"):  # the columns eval and predict read by default: a name, or a 0-based index
        if key not in data:
            continue
        column = data[key]
        index_ok = isinstance(column, int) and not isinstance(column, bool) and 0 <= column < 1 << 31
        if not (isinstance(column, str) or index_ok):
            raise DataError(f"{name}: key 'data.{key}' must be a column name or index, got {_short(column)}.", WRITE_ONE)
    return SavedModel(a=values[0], b=values[1], path=name, record=record)


MAX_BYTES = 1 << 20  # a model file is a few kilobytes; refuse to read a huge file into memory
MAX_DEPTH = 32  # nesting of objects and lists; the format uses 3


def _read_text(path: str | Path, name: str) -> str:
    return read_small_text(path, name, "model file", MAX_BYTES, DataError, WRITE_ONE)


def _parse(name: str, text: str) -> Any:
    depth = _nesting(text)
    if depth > MAX_DEPTH:
        raise DataError(f"{name}: nested {depth} levels deep (limit {MAX_DEPTH}): not a linfit model file.", WRITE_ONE)
    try:
        return json.loads(text, parse_constant=_no_constant, parse_int=_integer, object_pairs_hook=_once_each)
    except json.JSONDecodeError as exc:
        raise DataError(f"{name}: not a JSON model file (line {exc.lineno}: {exc.msg}).", WRITE_ONE) from None
    except _Repeated as exc:
        raise DataError(
            f"{name}: {exc}: which one is meant cannot be told.", "Keep one of them, or write the file again with linfit train -o."
        ) from None
    except ValueError as exc:
        raise DataError(f"{name}: not a JSON model file ({exc}).", WRITE_ONE) from None
    except RecursionError:
        raise DataError(f"{name}: nested too deeply: not a linfit model file.", WRITE_ONE) from None


def _nesting(text: str) -> int:
    """The deepest nesting of [ and { outside strings, in one pass without recursion."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return 0  # cannot be deeper than the limit: skip the scan
    deepest = depth = 0
    in_string = escaped = False
    for character in text:
        if in_string:
            if escaped:
                escaped = False
            elif character == "\\":
                escaped = True
            elif character == '"':
                in_string = False
        elif character == '"':
            in_string = True
        elif character in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif character in "]}":
            depth -= 1
    return deepest


class _Repeated(ValueError):
    pass


def _once_each(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are each given once: a key given twice would silently take the last value."""
    record = dict(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise _Repeated(f"key '{twice}' is given twice")
    return record


def require_prediction_column_free(columns: list[str], source: str, added: tuple[str, ...] = ("prediction",)) -> None:
    """`predict` adds a column 'prediction' (and 'lower', 'upper' with --interval): an input that has one already
    would give two of that name."""
    for name in added:
        if name not in columns:
            continue
        raise DataError(
            f"{source}: already has a column '{name}': the output would have two of that name.",
            "Rename or drop that column first (a file written by linfit predict holds one), or use --format json.",
        )


def _no_constant(word: str) -> float:
    raise ValueError(f"{word} is not a JSON number")


def _integer(digits: str) -> int | float:
    """An integer as JSON writes it; one too long for a float stays text-sized and is refused later."""
    return int(digits) if len(digits) <= 300 else float("inf")


def _finite(value: int | float) -> float | None:
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
