"""CLI command: ``gc`` (prune Trainer checkpoints)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from . import output
from .root import CliContext, cli, pass_ctx

_ACTION_STYLE = {"delete": "red", "strip": "yellow", "keep": "green"}


@cli.command("gc")
@click.argument("run_dirs", nargs=-1, type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--keep-best", default=1, show_default=True, type=click.IntRange(min=0), metavar="K",
              help="Keep the K best checkpoints of each run by --best-by.")
@click.option("--keep-last", default=1, show_default=True, type=click.IntRange(min=0), metavar="K",
              help="Keep the K checkpoints with the highest step.")
@click.option("--best-by", default=None, metavar="METRIC",
              help="Metric ranking --keep-best (default: the run's metric_for_best_model, else the stored "
                   "eval score, else eval_loss).")
@click.option("--suite", default=None, help="Rank by scores of this suite only (trainer, arithmetic, jsonl...).")
@click.option("--strip-optimizer", is_flag=True,
              help="Remove optimizer/scheduler/rng state from kept checkpoints (they can no longer resume).")
@click.option("--include-unpushed", is_flag=True,
              help="Also delete checkpoints the catalog says were never pushed anywhere.")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (scripts).")
@click.option("--json", "json_mode", is_flag=True, help=output.json_option_help)
@pass_ctx
def gc_cmd(ctx: CliContext, run_dirs: tuple[Path, ...], keep_best: int, keep_last: int, best_by: str | None,
           suite: str | None, strip_optimizer: bool, include_unpushed: bool, dry_run: bool, yes: bool,
           json_mode: bool) -> None:
    """Prune the checkpoint-N dirs of Trainer runs (all catalogued runs without RUN_DIR).

    Keeps the best K (by one metric of one suite), the last K, and always what
    was pushed or deployed and the run's best model (trainer_state.json). A
    checkpoint never pushed anywhere is kept unless --include-unpushed (it may be
    the only copy). Prints the plan, then asks at a terminal; --yes for scripts.

    \b
    Examples:
      hubmgr gc runs/run-5000 --dry-run
      hubmgr gc runs/run-5000 --keep-best 2 --keep-last 1 --include-unpushed
      hubmgr gc runs/run-5000 --best-by eval_accuracy --strip-optimizer --yes
      hubmgr gc --dry-run --json                  # every run in the catalog
    """
    from ..errors import UsageError
    from ..gc import plan_gc, run_gc_plan

    catalog = ctx.catalog()
    with output.progress_bars(not json_mode) as progress:
        plan = plan_gc(run_dirs, keep_best=keep_best, keep_last=keep_last, best_by=best_by, suite=suite,
                       strip_optimizer=strip_optimizer, include_unpushed=include_unpushed, catalog=catalog,
                       progress=progress)
    work = plan.deleted or plan.stripped
    if dry_run or not work:
        output.emit(plan, json_mode=json_mode, render=lambda console: _render(console, plan))
        return
    if not yes:
        if not json_mode:
            _render(output.stdout, plan)
        if not sys.stdin.isatty():
            raise UsageError(f"refusing to prune {len(plan.deleted)} checkpoint(s) without confirmation",
                             "pass --yes (or --dry-run to only see the plan)")
        click.confirm(f"Delete {len(plan.deleted)} and strip {len(plan.stripped)} checkpoint(s), freeing "
                      f"{output.human_size(plan.bytes_freed)}?", abort=True, err=True)
    with output.progress_bars(not json_mode) as progress:
        result = run_gc_plan(plan, catalog=catalog, progress=progress)
    output.emit(result, json_mode=json_mode, render=lambda console: _render(console, result, plan_shown=not yes))


def _render(console: Any, result: Any, *, plan_shown: bool = False) -> None:
    if not plan_shown:
        for item in result.items:
            style = _ACTION_STYLE[item.action]
            score = f"  {item.score:.4g}" if item.score is not None else ""
            size = f"  {output.human_size(item.bytes_freed)}" if item.bytes_freed else ""
            console.print(f"  [{style}]{item.action:<6}[/] {item.path}{size}{score}  ({'; '.join(item.reasons)})",
                          highlight=False)
            if item.stripped_files:
                console.print(f"         removes {', '.join(item.stripped_files)}", highlight=False)
    output.warnings(result.warnings)
    verb = "freed" if result.done else "would free"
    console.print(f"{'pruned' if result.done else 'plan'}: delete {len(result.deleted)}, strip "
                  f"{len(result.stripped)}, keep {len(result.items) - len(result.deleted) - len(result.stripped)}; "
                  f"{verb} {output.human_size(result.bytes_freed)}"
                  + ("" if result.done else "; nothing was changed"), highlight=False)
