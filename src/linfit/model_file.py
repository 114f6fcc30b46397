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
from linfit.files import write_atomic
from linfit.start import Start

FORMAT = "linfit-model"
FORMAT_VERSION = 1


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


def save_model(path: Path, record: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(record, indent=2, allow_nan=False, ensure_ascii=False) + "\n")


def load_model(path: str | Path) -> SavedModel:
    """Read a model file; a missing, unreadable or malformed one is a DataError that names the file and key."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{name}: model file not found.", "Write one with: linfit train DATA -o MODEL.json") from None
    except IsADirectoryError:
        raise DataError(f"{name}: is a directory, not a model file.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{name}: cannot read the model file ({exc}).") from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(f"{name}: not a JSON model file (line {exc.lineno}: {exc.msg}).") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise DataError(f"{name}: not a linfit model file (no \"format\": \"{FORMAT}\").", "Write one with: linfit train DATA -o MODEL.json")
    values = []
    for key in ("a", "b"):
        value = record.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise DataError(f"{name}: key '{key}' must be a finite number, got {value!r}.")
        values.append(float(value))
    return SavedModel(a=values[0], b=values[1], path=name, record=record)
