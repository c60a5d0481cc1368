"""Which score counts: the best of ONE suite and ONE configuration, never whatever ran last.

- ``score_column(records)``: the (suite, configuration, metric) measured on the most checkpoints and
  every checkpoint's best value in it (the "score" column of ``ls`` and the TUI table);
- ``best_checkpoint(run_dir, metric=, suite=)``: the ``checkpoint-N`` of a Trainer run with the best
  score (``push --checkpoint best``, ``gc --keep-best``). Trainer metrics (``eval_*``) come from each
  checkpoint's own ``trainer_state.json`` (the eval at its step); other metrics from the catalog's
  evals of one suite and configuration, measured on the checkpoint's current weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from .compare import better_direction
from .errors import NotFoundError, UsageError
from .models import BestCheckpoint, CheckpointScore

if TYPE_CHECKING:
    from .catalog import Catalog, EvalRecord

TRAINER_SUITE = "trainer"
DEFAULT_METRIC = "eval_loss"
def _better(a: float, b: float, direction: str) -> bool:
    return a < b if direction == "lower" else a > b


def suite_config(rec: "EvalRecord") -> str:
    """The configuration a stored score was measured with, as one comparable string."""
    from .evaluate import dataset_config

    if rec.suite == TRAINER_SUITE:
        return "trainer eval set"
    return dataset_config(rec.suite, rec.params) or ",".join(f"{k}={v}" for k, v in sorted(rec.params.items())
                                                              if k not in ("suite", "data_file"))


@dataclass(frozen=True)
class ScoreColumn:
    """Every checkpoint's best value of one metric of one suite configuration."""

    suite: str | None = None
    config: str | None = None
    metric: str | None = None
    values: dict[str, float] | None = None

    @property
    def label(self) -> str:
        return f"{self.metric} · {self.suite} ({self.config})" if self.metric else "-"

    def get(self, path: str) -> float | None:
        return (self.values or {}).get(path)


def score_column(records: Iterable["EvalRecord"], *, suite: str | None = None,
                 metric: str | None = None) -> ScoreColumn:
    """The group (suite, configuration, metric) of our own evals covering the most checkpoints (ties:
    the most recent), with each checkpoint's best value in it. Only a checkpoint's current weights
    count (the weights of its newest record in the group)."""
    groups: dict[tuple[str, str, str], list["EvalRecord"]] = {}
    for rec in records:
        if rec.source != "hubmgr" or (suite and rec.suite != suite) or (metric and rec.metric != metric):
            continue
        groups.setdefault((rec.suite, suite_config(rec), rec.metric), []).append(rec)
    if not groups:
        return ScoreColumn()
    key = max(groups, key=lambda k: (len({r.checkpoint_path for r in groups[k]}), max(r.id for r in groups[k])))
    direction = better_direction(key[2], key[0])
    newest_sha: dict[str, str | None] = {}
    for rec in groups[key]:  # ordered by id: the newest wins
        newest_sha[rec.checkpoint_path] = rec.weights_sha256
    values: dict[str, float] = {}
    for rec in groups[key]:
        if rec.weights_sha256 != newest_sha[rec.checkpoint_path]:
            continue
        prev = values.get(rec.checkpoint_path)
        if prev is None or _better(rec.value, prev, direction):
            values[rec.checkpoint_path] = rec.value
    return ScoreColumn(key[0], key[1], key[2], values)


# -- the best checkpoint of a Trainer run -----------------------------------------------------------


def run_checkpoints(run_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, dir) of every ``checkpoint-N`` of a run, oldest first."""
    from .formats.trainer_state import checkpoint_step

    run = Path(run_dir)
    found = [(checkpoint_step(d), d) for d in run.iterdir() if d.is_dir() and checkpoint_step(d) is not None]
    return sorted((s, d) for s, d in found if s is not None)


def default_metric(run_dir: str | Path, records: list["EvalRecord"] | None = None) -> tuple[str, str]:
    """(metric, why): the Trainer's metric_for_best_model, else the metric our evals stored for this
    run's checkpoints, else eval_loss."""
    from .formats.trainer_state import read_training_metrics

    tm = read_training_metrics(run_dir)
    if tm.metric_for_best:
        name = tm.metric_for_best if tm.metric_for_best.startswith("eval_") else f"eval_{tm.metric_for_best}"
        return name, "the run's metric_for_best_model"
    column = score_column(records or [])
    if column.metric:
        return column.metric, f"the stored {column.suite} score"
    return DEFAULT_METRIC, "default"


def _trainer_score(step: int, directory: Path, metric: str) -> float | None:
    from .formats.trainer_state import read_training_metrics

    for source in (directory, directory.parent):  # the run's own state covers checkpoints it deleted
        for row in read_training_metrics(source).eval_history:
            if row.get("step") == step and metric in row:
                return float(row[metric])
    return None


def best_checkpoint(run_dir: str | Path, *, metric: str | None = None, suite: str | None = None,
                    catalog: "Catalog | None" = None) -> BestCheckpoint:
    """The ``checkpoint-N`` of ``run_dir`` with the best ``metric`` (see the module doc).

    ``suite``: "trainer" for the Trainer's own evaluations, or one of our suites (arithmetic, jsonl,
    perplexity, or an imported one); by default trainer for ``eval_*`` metrics, else our evals."""
    from .evaluate import weights_sha256

    run = Path(run_dir).expanduser().resolve()
    if not run.is_dir():
        raise NotFoundError(f"{run} is not a directory", "give a Trainer output dir (with checkpoint-N dirs)")
    checkpoints = run_checkpoints(run)
    if not checkpoints:
        raise NotFoundError(f"{run} has no checkpoint-N dirs", "--checkpoint best needs a Trainer output dir")
    records = [r for _, d in checkpoints for r in catalog.list_evals(str(d))] if catalog is not None else []
    why = "asked"
    if metric is None:
        metric, why = default_metric(run, records)
    use_trainer = suite == TRAINER_SUITE or (suite is None and metric.startswith("eval_"))
    direction = better_direction(metric, suite)
    scores: list[CheckpointScore] = []
    config: str | None = None
    if use_trainer:
        suite, config = TRAINER_SUITE, "trainer eval set"
        scores = [CheckpointScore(str(d), step, _trainer_score(step, d, metric)) for step, d in checkpoints]
    else:
        current = {str(d): weights_sha256(d, catalog)[1] for _, d in checkpoints}
        fresh = [r for r in records if r.weights_sha256 in (current.get(r.checkpoint_path), None)]
        column = score_column(fresh, suite=suite, metric=metric)
        suite, config = column.suite or suite, column.config
        scores = [CheckpointScore(str(d), step, column.get(str(d))) for step, d in checkpoints]
    scored = [s for s in scores if s.value is not None]
    if not scored:
        where = "trainer_state.json of any checkpoint" if use_trainer else "the catalog for any checkpoint"
        raise NotFoundError(f"no {metric} score in {where} of {run}",
                            "evaluate them (hubmgr eval RUN/checkpoint-N) or pick a metric with --best-by")
    best = scored[0]
    for s in scored[1:]:
        if _better(s.value, best.value, direction) or (s.value == best.value and s.step > best.step):
            best = s  # ties: the later checkpoint (trained longer on the same score)
    reason = (f"{'lowest' if direction == 'lower' else 'highest'} {metric} ({suite}, {config}) among "
              f"{len(scored)} scored checkpoint(s); metric: {why}")
    return BestCheckpoint(run_dir=str(run), path=best.path, step=best.step, metric=metric, suite=suite,
                          config=config, value=best.value, better=direction, reason=reason, scores=tuple(scores))


def resolve_checkpoint(run_dir: str | Path, which: str, *, metric: str | None = None, suite: str | None = None,
                       catalog: "Catalog | None" = None) -> tuple[Path, str]:
    """(dir, why) for ``--checkpoint best|last|N`` of a Trainer run."""
    run = Path(run_dir).expanduser().resolve()
    if which == "best":
        best = best_checkpoint(run, metric=metric, suite=suite, catalog=catalog)
        return Path(best.path), f"best: {best.path} ({best.metric}={best.value:.6g}; {best.reason})"
    checkpoints = run_checkpoints(run) if run.is_dir() else []
    if not checkpoints:
        raise NotFoundError(f"{run} has no checkpoint-N dirs", "give a Trainer output dir")
    if which == "last":
        step, d = checkpoints[-1]
        return d, f"last: checkpoint-{step} (highest step)"
    if not which.isdigit():
        raise UsageError(f"--checkpoint {which!r}: expected best, last or a step number")
    for step, d in checkpoints:
        if step == int(which):
            return d, f"checkpoint-{step} (asked)"
    raise NotFoundError(f"{run} has no checkpoint-{which}",
                        f"steps present: {', '.join(str(s) for s, _ in checkpoints)}")
