"""Side-by-side comparison of checkpoints: every stored score plus size, steps and training examples.

Only scores measured on a checkpoint's current weights count (a retrained dir's old scores are
left out with a warning). The best value of each score row is marked; lower is better for
losses, perplexity and error rates, higher for everything else.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import NotFoundError, UsageError
from .evaluate import (IMPORT_SUITE, better_direction as suite_direction, dataset_label, find_weights,
                       has_training_metrics, import_training_metrics, source_rank, weights_sha256)
from .models import CompareResult, CompareRow
from .progress import CancelToken, ProgressEvent, ProgressSink, check_cancel, no_progress

if TYPE_CHECKING:
    from .catalog import Catalog, EvalRecord

_LOWER_IS_BETTER = re.compile(r"loss|perplexity|ppl|error|wer|cer|runtime", re.I)


def better_direction(metric: str, suite: str | None = None) -> str:
    """The registered suite that measured ``metric`` says; otherwise (Trainer metrics) the name does:
    "lower" for losses, perplexity and error rates, "higher" for everything else."""
    known = suite_direction(suite, metric) if suite else None
    return known or ("lower" if _LOWER_IS_BETTER.search(metric) else "higher")


def row_label(rec: "EvalRecord") -> str:
    """One row per metric of one suite configuration (the dataset label names the configuration)."""
    if rec.suite == IMPORT_SUITE:
        return f"{rec.metric} (trainer)"
    _, dataset = dataset_label(rec.suite, rec.params)
    if rec.source != "hubmgr":  # imported (lm-eval, evaluate): the label lacks filter/limit; say where from
        from .scores import suite_config

        return f"{rec.metric}: {dataset} [{rec.suite} {suite_config(rec)}]"
    return f"{rec.metric}: {dataset}"


def best_indexes(values: list[float | None], better: str | None) -> tuple[int, ...]:
    present = [v for v in values if v is not None]
    if better is None or len(present) < 2 or len(set(present)) == 1:
        return ()
    target = min(present) if better == "lower" else max(present)
    return tuple(i for i, v in enumerate(values) if v == target)


def _dir_size(directory: Path) -> int:
    total = 0
    for f in directory.rglob("*"):
        rel = f.relative_to(directory)
        if f.is_file() and not rel.parts[0].startswith((".", "checkpoint-")):
            total += f.stat().st_size
    return total


def _scores(records: list["EvalRecord"], sha: str | None) -> tuple[dict[str, "EvalRecord"], int]:
    """Per row label, the record shown on the current weights: the best of that one configuration
    (Trainer metrics: the final eval files over the log history); the count of stale records."""
    chosen: dict[str, "EvalRecord"] = {}
    stale = 0
    for rec in records:
        if sha is not None and rec.weights_sha256 not in (sha, None):
            stale += 1
            continue
        label = row_label(rec)
        prev = chosen.get(label)
        if prev is None:
            chosen[label] = rec
        elif rec.suite == IMPORT_SUITE:
            if source_rank(rec) >= source_rank(prev):
                chosen[label] = rec
        elif better_direction(rec.metric, rec.suite) == "lower" and rec.value < prev.value \
                or better_direction(rec.metric, rec.suite) == "higher" and rec.value > prev.value:
            chosen[label] = rec
    return chosen, stale


def compare_checkpoints(paths: list[str | Path] | tuple[str | Path, ...], *, catalog: "Catalog",
                        progress: ProgressSink = no_progress, cancel: CancelToken | None = None) -> CompareResult:
    """One table of the stored metrics of ``paths`` side by side, best value per row marked."""
    from .formats.trainer_state import read_training_metrics

    if len(paths) < 2:
        raise UsageError("compare needs at least two checkpoints", "hubmgr compare runs/a runs/b")
    dirs: list[Path] = []
    for p in paths:
        d = Path(p).expanduser().resolve()
        if not d.exists():
            raise NotFoundError(f"{d} does not exist")
        dirs.append(d if d.is_dir() else d.parent)
    warnings: list[str] = []
    per_dir: list[dict[str, "EvalRecord"]] = []
    facts: list[dict[str, Any]] = []
    for index, d in enumerate(dirs):
        check_cancel(cancel)
        progress(ProgressEvent("compare", f"reading {d.name}", index, len(dirs), unit="checkpoints"))
        if has_training_metrics(d):
            import_training_metrics(d, catalog=catalog, cancel=cancel)  # de-duplicated: cheap to repeat
        _, sha = weights_sha256(d, catalog)
        scores, stale = _scores(catalog.list_evals(str(d)), sha)
        if stale:
            warnings.append(f"{d}: {stale} stored score(s) were measured on other weights and are left out")
        if not scores:
            warnings.append(f"{d}: no stored scores; run `hubmgr eval {d}` (or import the Trainer's metrics)")
        per_dir.append(scores)
        tm = read_training_metrics(d)
        weights = find_weights(d)
        facts.append({
            "size (bytes)": float(_dir_size(d)),
            "weights (bytes)": float(sum(w.stat().st_size for w in weights)) if weights else None,
            "steps": float(tm.global_step) if tm.global_step is not None else _steps_from_results(tm),
            "training examples": float(tm.num_train_samples) if tm.num_train_samples is not None else None,
        })
    progress(ProgressEvent("compare", "done", len(dirs), len(dirs), unit="checkpoints", finished=True))

    labels: list[str] = []
    for scores in per_dir:
        labels.extend(label for label in scores if label not in labels)
    rows = []
    for label in labels:
        rec = next(s[label] for s in per_dir if label in s)
        values = [float(s[label].value) if label in s else None for s in per_dir]
        better = better_direction(rec.metric, rec.suite)
        rows.append(CompareRow(label, tuple(values), better, best_indexes(values, better)))
    for key in ("size (bytes)", "weights (bytes)", "steps", "training examples"):
        values = [f[key] for f in facts]
        if any(v is not None for v in values):
            rows.append(CompareRow(key, tuple(values), None, ()))
    return CompareResult(paths=tuple(str(d) for d in dirs), rows=tuple(rows), warnings=tuple(warnings))


def _steps_from_results(tm: Any) -> float | None:
    value = tm.all_results.get("train_steps")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
