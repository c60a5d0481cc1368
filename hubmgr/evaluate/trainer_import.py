"""Import the metrics a transformers Trainer already wrote (trainer_state.json, all_results.json,
eval_results.json) into the catalog, de-duplicated."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import NotFoundError
from ..models import ImportedMetric, ImportedMetrics
from ..progress import CancelToken, ProgressEvent, ProgressSink, check_cancel, no_progress
from .model import weights_sha256

if TYPE_CHECKING:
    from ..catalog import Catalog

IMPORT_SUITE = "trainer"
# Numbers a Trainer writes that are bookkeeping, not scores.
_NOT_A_SCORE = re.compile(r"(^epoch$|_runtime$|_per_second$|_samples$|^total_flos$|_steps$|^step$)")

# Imported copies of one metric: the final eval files beat the log history; our own runs beat both.
_SOURCE_RANK = {"eval_results": 3, "all_results": 2, "trainer_state": 1}


def source_rank(rec: Any) -> tuple[int, int]:
    return (_SOURCE_RANK.get(rec.source, 4), rec.id)


def _scores(data: dict[str, Any]) -> dict[str, float]:
    out = {}
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or _NOT_A_SCORE.search(key):
            continue
        if math.isfinite(float(value)):
            out[key] = float(value)
    return out


TRAINER_FILES = ("trainer_state.json", "all_results.json", "eval_results.json")


def has_training_metrics(directory: str | Path) -> bool:
    return any((Path(directory) / name).is_file() for name in TRAINER_FILES)


def import_training_metrics(path: str | Path, *, catalog: "Catalog", progress: ProgressSink = no_progress,
                            cancel: CancelToken | None = None) -> ImportedMetrics:
    """Store the scores in trainer_state.json (log_history eval_*, best_metric), all_results.json and
    eval_results.json of ``path`` in the catalog. Re-importing unchanged files adds nothing."""
    from ..formats.trainer_state import read_training_metrics

    p = Path(path).expanduser().resolve()
    if not p.is_dir():
        raise NotFoundError(f"{p} is not a directory", "give the Trainer's output dir or a checkpoint-N dir")
    check_cancel(cancel)
    tm = read_training_metrics(p)
    if not tm.found:
        raise NotFoundError(f"{p} has no trainer_state.json, all_results.json or eval_results.json",
                            "these are written by transformers.Trainer (save_state / save_metrics)")
    found: list[ImportedMetric] = []
    state_scores: dict[str, float] = {}
    for entry in tm.eval_history:  # later evaluations overwrite earlier ones
        state_scores.update(_scores(entry))
    found += [ImportedMetric("trainer_state", k, v) for k, v in state_scores.items()]
    if tm.best_metric is not None:
        name = f"best_{tm.metric_for_best}" if tm.metric_for_best else "best_metric"
        if not name.startswith("best_eval_") and tm.metric_for_best and not tm.metric_for_best.startswith("eval_"):
            name = f"best_eval_{tm.metric_for_best}"
        found.append(ImportedMetric("trainer_state", name, tm.best_metric))
    found += [ImportedMetric("all_results", k, v) for k, v in _scores(tm.all_results).items()]
    found += [ImportedMetric("eval_results", k, v) for k, v in _scores(tm.eval_results).items()]

    _, sha = weights_sha256(p, catalog)
    existing = {(r.weights_sha256, r.source, r.metric, r.value, r.params.get("step"))
                for r in catalog.list_evals(str(p)) if r.suite == IMPORT_SUITE}
    recorded = 0
    for m in found:
        key = (sha, m.source, m.metric, m.value, tm.global_step)
        if key in existing:
            continue
        existing.add(key)
        params = {"suite": IMPORT_SUITE, "source_file": f"{m.source}.json", "step": tm.global_step,
                  "metric_for_best": tm.metric_for_best}
        catalog.record_eval(checkpoint_path=str(p), weights_sha256=sha, suite=IMPORT_SUITE, metric=m.metric,
                            value=m.value, source=m.source, params=params,
                            details={"epoch": tm.epoch, "num_train_samples": tm.num_train_samples})
        recorded += 1
    progress(ProgressEvent("eval:import", "imported metrics", recorded, recorded, unit="metrics", finished=True))
    return ImportedMetrics(path=str(p), metrics=tuple(found), sources=tm.sources, weights_sha256=sha,
                           recorded=recorded, warnings=tm.warnings)
