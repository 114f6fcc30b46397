"""Machine-readable results: the JSON objects that scripts rely on. No rounding: every digit of each float."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from linfit.config import TrainConfig
from linfit.gradient import PointGradient
from linfit.reference import LeastSquares
from linfit.train import StepRecord, TrainResult


def relative_gap(value: float, reference: float) -> float:
    """|value − reference| / |reference| (the absolute gap when the reference is 0)."""
    gap = abs(value - reference)
    return gap / abs(reference) if reference != 0 else gap


def grad_json(result: PointGradient) -> dict[str, Any]:
    return {
        "a": result.a,
        "b": result.b,
        "x": list(result.x),
        "y": list(result.y),
        "prediction": list(result.prediction),
        "loss_name": result.loss_name,
        "loss": result.loss,
        "grad_a": result.grad_a,
        "grad_b": result.grad_b,
        "hand": {"grad_a": result.hand_grad_a, "grad_b": result.hand_grad_b},
    }


def train_json(
    result: TrainResult,
    history: list[StepRecord],
    ols: LeastSquares | None,
    config: TrainConfig,
    data: dict[str, Any],
) -> dict[str, Any]:
    return {
        "a": result.a,
        "b": result.b,
        "loss": result.loss,
        "steps": result.steps,
        "converged": result.converged,
        "stop_reason": result.stop_reason,
        "wall_time_s": result.wall_time_s,
        "ols": None if ols is None else {"a": ols.a, "b": ols.b},
        "gap": None if ols is None else {"a": relative_gap(result.a, ols.a), "b": relative_gap(result.b, ols.b)},
        "init": {"method": result.start.method, "a": result.start.a, "b": result.start.b},
        "data": data,
        "config": config.model_dump(mode="json"),
        "history": [asdict(record) for record in history],
    }


def dumps(obj: dict[str, Any]) -> str:
    """One JSON object on one line; refuses NaN and infinity, which JSON cannot carry."""
    return json.dumps(obj, allow_nan=False, ensure_ascii=False)
