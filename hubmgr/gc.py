"""Prune the ``checkpoint-N`` dirs of Trainer runs (``hubmgr gc``).

Each checkpoint dir is about three times the model (optimizer state). The plan keeps the best K by
one metric of one suite configuration (``scores.best_checkpoint``) and the last K by step, and always
keeps what must not go: a checkpoint that was pushed or deployed (by path, or by its weights' sha256
among the files a push recorded), the run's best model (trainer_state ``best_model_checkpoint``),
and, unless ``include_unpushed``, anything the catalog says is not pushed anywhere (it may be the only
copy). ``strip_optimizer`` removes optimizer/scheduler/rng state from the kept checkpoints (they then
cannot resume training). ``gc`` runs exactly the plan ``plan_gc`` shows.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

from .errors import HubmgrError, NotFoundError, UsageError
from .models import GcItem, GcResult
from .progress import CancelToken, ProgressEvent, ProgressSink, check_cancel, no_progress

if TYPE_CHECKING:
    from .catalog import Catalog

# What Trainer/accelerate/DeepSpeed save only to resume training.
_RESUME_STATE = re.compile(r"^(optimizer\.(pt|bin)|scheduler\.pt|scaler\.pt|rng_state(_\d+)?\.pth"
                           r"|optimizer_\d+\.(pt|bin)|global_step\d+)$")


def resume_state_files(directory: Path) -> list[Path]:
    """Files (and DeepSpeed ``global_stepN`` dirs) that only serve to resume training."""
    return sorted(p for p in directory.iterdir() if _RESUME_STATE.match(p.name))


def _size(path: Path) -> int:
    if path.is_symlink() or not path.is_dir():
        return path.lstat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if not p.is_dir() or p.is_symlink())


def trainer_runs(catalog: "Catalog") -> list[Path]:
    """Run dirs holding catalogued ``checkpoint-N`` dirs (``hubmgr gc`` without arguments)."""
    from .formats.trainer_state import checkpoint_step

    runs = {Path(i["path"]).parent for i in catalog.list_checkpoint_dicts(tensors=False)
            if checkpoint_step(i["path"]) is not None}
    return sorted(r for r in runs if r.is_dir())


class _Copies:
    """What the catalog knows was pushed and deployed, matched by path or by weights sha256."""

    def __init__(self, catalog: "Catalog") -> None:
        self.catalog = catalog
        self.pushes = catalog.list_pushes()
        self.deployed = {p.commit_sha for p in catalog.list_pulls()}

    def find(self, directory: Path) -> tuple[list[str], list[str]]:
        """(pushed-to descriptions, deployed descriptions) of ``directory``."""
        from .evaluate import weights_sha256

        sha = None
        if any(p.details.get("files") for p in self.pushes):
            sha = weights_sha256(directory, self.catalog)[1]
        hits = [p for p in self.pushes
                if p.checkpoint_path == str(directory)
                or (sha and any(f.get("sha256") == sha for f in p.details.get("files") or ()))]
        pushed = sorted({f"{p.remote}@{p.commit_sha[:7]}" for p in hits})
        deployed = sorted({f"{p.remote}@{p.commit_sha[:7]}" for p in hits if p.commit_sha in self.deployed})
        return pushed, deployed


def _best_model_names(run: Path, newest: Path | None) -> set[str]:
    from .formats.trainer_state import read_training_metrics

    names = set()
    for source in (run, newest):
        if source is not None:
            best = read_training_metrics(source).best_model_checkpoint
            if best:
                names.add(Path(best).name)
    return names


def plan_gc(run_dirs: Iterable[str | Path] = (), *, keep_best: int = 1, keep_last: int = 1,
            best_by: str | None = None, suite: str | None = None, strip_optimizer: bool = False,
            include_unpushed: bool = False, catalog: "Catalog", progress: ProgressSink = no_progress,
            cancel: CancelToken | None = None) -> GcResult:
    """What ``gc`` would delete and strip, with the reason for every checkpoint. Changes nothing."""
    from .scores import best_checkpoint, run_checkpoints

    if keep_best < 0 or keep_last < 0:
        raise UsageError("--keep-best and --keep-last must be 0 or more")
    runs = [Path(r).expanduser().resolve() for r in run_dirs] or trainer_runs(catalog)
    if not runs:
        raise NotFoundError("no Trainer runs in the catalog", "give RUN_DIR, or `hubmgr scan` your runs first")
    copies = _Copies(catalog)
    items: list[GcItem] = []
    warnings: list[str] = []
    metric_used: str | None = None
    for index, run in enumerate(runs):
        check_cancel(cancel)
        progress(ProgressEvent("gc", f"planning {run.name}", index, len(runs), unit="runs"))
        if not run.is_dir():
            raise NotFoundError(f"{run} is not a directory", "give a Trainer output dir")
        checkpoints = run_checkpoints(run)
        if not checkpoints:
            warnings.append(f"{run}: no checkpoint-N dirs")
            continue
        reasons: dict[Path, list[str]] = {d: [] for _, d in checkpoints}
        scores: dict[Path, float | None] = {}
        for _, d in checkpoints[len(checkpoints) - keep_last:] if keep_last else ():
            reasons[d].append(f"last {keep_last}")
        if keep_best:
            try:
                best = best_checkpoint(run, metric=best_by, suite=suite, catalog=catalog)
            except NotFoundError as exc:
                best = None
                warnings.append(f"{run}: {exc.message}: nothing is deleted from this run")
                for d in reasons:
                    reasons[d].append("unranked (no scores to keep the best by)")
            if best is not None:
                metric_used = best.metric
                ranked = sorted((s for s in best.scores if s.value is not None),
                                key=lambda s: (s.value if best.better == "lower" else -s.value, -(s.step or 0)))
                for rank, s in enumerate(ranked, 1):
                    scores[Path(s.path)] = s.value
                    if rank <= keep_best:
                        reasons[Path(s.path)].append(f"best {keep_best} by {best.metric} (#{rank}, {s.value:.4g})")
        best_models = _best_model_names(run, checkpoints[-1][1])
        drop = (f"not in the best {keep_best} or last {keep_last}; not pushed, deployed or the run's best model"
                + ("; --include-unpushed" if include_unpushed else ""))
        for step, d in checkpoints:
            pushed, deployed = copies.find(d)
            if deployed:
                reasons[d].append("deployed (" + ", ".join(deployed) + ")")
            elif pushed:
                reasons[d].append("pushed (" + ", ".join(pushed) + ")")
            if d.name in best_models:
                reasons[d].append("the run's best model (trainer_state best_model_checkpoint)")
            if not reasons[d] and not include_unpushed:
                reasons[d].append("never pushed (--include-unpushed deletes it)")
            if not reasons[d]:
                items.append(GcItem(str(d), step, "delete", (drop,), _size(d), scores.get(d)))
                continue
            stripped = resume_state_files(d) if strip_optimizer else []
            if stripped:
                items.append(GcItem(str(d), step, "strip", (*reasons[d], "can no longer resume training"),
                                    sum(_size(p) for p in stripped), scores.get(d),
                                    tuple(p.name for p in stripped)))
            else:
                items.append(GcItem(str(d), step, "keep", tuple(reasons[d]), 0, scores.get(d)))
    progress(ProgressEvent("gc", "planned", len(runs), len(runs), unit="runs", finished=True))
    return GcResult(runs=tuple(str(r) for r in runs), items=tuple(items), metric=metric_used,
                    bytes_freed=sum(i.bytes_freed for i in items), dry_run=True, done=False,
                    warnings=tuple(warnings))


def run_gc_plan(plan: GcResult, *, catalog: "Catalog", progress: ProgressSink = no_progress,
                cancel: CancelToken | None = None) -> GcResult:
    """Carry out ``plan`` (from ``plan_gc``): delete, then strip. Returns it with ``done=True``."""
    from .checkpoints import delete_checkpoint, scan

    work = [i for i in plan.items if i.action != "keep"]
    total = sum(i.bytes_freed for i in work)
    freed = 0
    warnings = list(plan.warnings)
    progress(ProgressEvent("gc", "pruning", 0, total, unit="bytes"))
    for item in work:
        check_cancel(cancel)
        path = Path(item.path)
        try:
            if item.action == "delete":
                delete_checkpoint(path, catalog=catalog)
            else:
                for name in item.stripped_files:
                    target = path / name
                    if target.is_dir() and not target.is_symlink():
                        shutil.rmtree(target)
                    else:
                        target.unlink(missing_ok=True)
                if catalog.get_checkpoint_dict(str(path)) is not None:
                    scan([path], catalog=catalog)  # the catalog's file list follows the disk
        except (OSError, HubmgrError) as exc:
            warnings.append(f"{path}: {getattr(exc, 'message', None) or exc}")
            continue
        freed += item.bytes_freed
        progress(ProgressEvent("gc", f"{item.action} {path.name}", freed, total, unit="bytes"))
    progress(ProgressEvent("gc", "pruned", freed, total, unit="bytes", finished=True))
    return GcResult(runs=plan.runs, items=plan.items, metric=plan.metric, bytes_freed=freed, dry_run=False,
                    done=True, warnings=tuple(warnings))


def gc(run_dirs: Iterable[str | Path] = (), *, dry_run: bool = False, catalog: "Catalog",
       progress: ProgressSink = no_progress, cancel: CancelToken | None = None, **options: Any) -> GcResult:
    """``plan_gc`` then, unless ``dry_run``, ``run_gc_plan`` of that very plan."""
    plan = plan_gc(run_dirs, catalog=catalog, progress=progress, cancel=cancel, **options)
    if dry_run:
        return plan
    return run_gc_plan(plan, catalog=catalog, progress=progress, cancel=cancel)
