"""Training metrics of a ``transformers.Trainer`` output: trainer_state.json, all_results.json, eval_results.json.

``read_training_metrics(dir)`` works on an output dir or on one of its
``checkpoint-N`` dirs. For a checkpoint dir, the parent's ``*_results.json``
are used only when they describe that very step (the parent's trainer_state
ends at the same ``global_step``). ``metric_for_best_model`` is read from
``training_args.bin`` with the restricted unpickler (nothing is executed).
Broken JSON becomes a warning, never an exception.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..models import JsonMixin

CHECKPOINT_DIR_RE = re.compile(r"^checkpoint-(\d+)$")
RESULT_FILES = ("all_results.json", "eval_results.json", "train_results.json")
MAX_JSON_BYTES = 64 * 1024 * 1024  # a trainer_state.json of a long run is a few MB


@dataclass(frozen=True)
class TrainingMetrics(JsonMixin):
    path: str
    global_step: int | None = None
    epoch: float | None = None
    max_steps: int | None = None
    best_metric: float | None = None
    best_model_checkpoint: str | None = None
    best_global_step: int | None = None
    metric_for_best: str | None = None  # e.g. "eval_loss" (from training_args.bin), None if unknown
    greater_is_better: bool | None = None
    eval_metrics: dict[str, float] = field(default_factory=dict)  # latest eval_* values of log_history
    eval_step: int | None = None  # step of the latest eval entry
    eval_history: tuple[dict[str, float], ...] = ()  # every eval entry of log_history (with "step")
    train_metrics: dict[str, float] = field(default_factory=dict)  # latest loss/learning_rate/grad_norm + train_*
    all_results: dict[str, Any] = field(default_factory=dict)
    eval_results: dict[str, Any] = field(default_factory=dict)
    train_results: dict[str, Any] = field(default_factory=dict)
    num_train_samples: int | None = None
    results_from_parent: bool = False  # *_results.json came from the output dir above a checkpoint-N dir
    sources: tuple[str, ...] = ()  # files that were read
    warnings: tuple[str, ...] = ()

    @property
    def found(self) -> bool:
        return bool(self.sources)


def checkpoint_step(path: str | os.PathLike[str]) -> int | None:
    """N of a ``checkpoint-N`` dir name, else None."""
    match = CHECKPOINT_DIR_RE.match(Path(path).name)
    return int(match.group(1)) if match else None


def _read_json(path: Path, warnings: list[str]) -> dict[str, Any] | None:
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            warnings.append(f"{path}: too large to read ({path.stat().st_size} bytes)")
            return None
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        warnings.append(f"{path}: unreadable ({exc})")
        return None
    except json.JSONDecodeError as exc:
        warnings.append(f"{path}: invalid JSON ({exc.msg} at line {exc.lineno})")
        return None
    if not isinstance(data, dict):
        warnings.append(f"{path}: expected a JSON object")
        return None
    return data


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _numbers(data: dict[str, Any]) -> dict[str, float]:
    return {k: v for k, v in ((k, _number(v)) for k, v in data.items()) if v is not None}


def _metric_for_best(directory: Path, warnings: list[str]) -> tuple[str | None, bool | None]:
    args_path = directory / "training_args.bin"
    if not args_path.is_file():
        return None, None
    from ..errors import HubmgrError
    from .torchfile import Stub, load_torch_file

    try:
        root = load_torch_file(args_path, strict=False).root
    except HubmgrError as exc:
        warnings.append(f"{args_path}: {exc.message}")
        return None, None
    state = root.state if isinstance(root, Stub) and isinstance(root.state, dict) else {}
    metric = state.get("metric_for_best_model")
    greater = state.get("greater_is_better")
    return (metric if isinstance(metric, str) else None, greater if isinstance(greater, bool) else None)


def read_training_metrics(directory: str | os.PathLike[str]) -> TrainingMetrics:
    """Everything a Trainer left about a run in ``directory`` (an output dir or a checkpoint-N dir)."""
    directory = Path(directory)
    warnings: list[str] = []
    sources: list[str] = []
    facts: dict[str, Any] = {"path": str(directory)}

    state = _read_json(directory / "trainer_state.json", warnings)
    if state is not None:
        sources.append("trainer_state.json")
        facts.update(_from_trainer_state(state))

    results: dict[str, dict[str, Any]] = {}
    for name in RESULT_FILES:
        data = _read_json(directory / name, warnings)
        if data is not None:
            results[name] = data
            sources.append(name)
    if not results and checkpoint_step(directory) is not None:
        parent_results = _parent_results(directory, facts.get("global_step"), warnings)
        if parent_results:
            results = parent_results
            facts["results_from_parent"] = True
            sources.extend(f"../{n}" for n in parent_results)

    facts["all_results"] = results.get("all_results.json", {})
    facts["eval_results"] = results.get("eval_results.json", {})
    facts["train_results"] = results.get("train_results.json", {})
    merged = {**facts["train_results"], **facts["eval_results"], **facts["all_results"]}
    eval_metrics = dict(facts.get("eval_metrics", {}))
    train_metrics = dict(facts.get("train_metrics", {}))
    for key, value in _numbers(merged).items():
        if key.startswith("eval_"):
            eval_metrics.setdefault(key, value)
        elif key.startswith("train_"):
            train_metrics.setdefault(key, value)
    facts["eval_metrics"] = eval_metrics
    facts["train_metrics"] = train_metrics
    samples = merged.get("train_samples")
    if _int(samples) is not None:
        facts["num_train_samples"] = _int(samples)
    if facts.get("epoch") is None and _number(merged.get("epoch")) is not None:
        facts["epoch"] = _number(merged.get("epoch"))

    metric, greater = _metric_for_best(directory, warnings)
    if metric is None and checkpoint_step(directory) is not None:
        metric, greater = _metric_for_best(directory.parent, warnings)
    facts["metric_for_best"] = metric
    facts["greater_is_better"] = greater
    facts["sources"] = tuple(sources)
    facts["warnings"] = tuple(warnings)
    return TrainingMetrics(**facts)


def _from_trainer_state(state: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "global_step": _int(state.get("global_step")),
        "epoch": _number(state.get("epoch")),
        "max_steps": _int(state.get("max_steps")),
        "best_metric": _number(state.get("best_metric")),
        "best_global_step": _int(state.get("best_global_step")),
    }
    best = state.get("best_model_checkpoint")
    out["best_model_checkpoint"] = best if isinstance(best, str) else None
    history = state.get("log_history")
    eval_history: list[dict[str, float]] = []
    eval_metrics: dict[str, float] = {}
    train_metrics: dict[str, float] = {}
    eval_step: int | None = None
    if isinstance(history, list):
        for entry in history:
            if not isinstance(entry, dict):
                continue
            numbers = _numbers(entry)
            evals = {k: v for k, v in numbers.items() if k.startswith("eval_")}
            if evals:
                row = dict(evals)
                if "step" in numbers:
                    row["step"] = numbers["step"]
                    eval_step = int(numbers["step"])
                if "epoch" in numbers:
                    row["epoch"] = numbers["epoch"]
                eval_history.append(row)
                eval_metrics.update(evals)
            for key in ("loss", "learning_rate", "grad_norm"):
                if key in numbers:
                    train_metrics[key] = numbers[key]
            train_metrics.update({k: v for k, v in numbers.items() if k.startswith("train_")})
    out.update(eval_metrics=eval_metrics, eval_history=tuple(eval_history), train_metrics=train_metrics,
               eval_step=eval_step)
    return out


def _parent_results(directory: Path, step: int | None, warnings: list[str]) -> dict[str, dict[str, Any]]:
    """The output dir's *_results.json, if the run ended at this checkpoint's step."""
    parent = directory.parent
    parent_state = _read_json(parent / "trainer_state.json", warnings)
    if parent_state is None or step is None or _int(parent_state.get("global_step")) != step:
        return {}
    results = {}
    for name in RESULT_FILES:
        data = _read_json(parent / name, warnings)
        if data is not None:
            results[name] = data
    return results
