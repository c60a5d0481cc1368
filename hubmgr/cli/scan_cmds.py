"""CLI commands: ``hubmgr scan``, ``hubmgr ls``, ``hubmgr inspect``, ``hubmgr rm`` (the checkpoints on disk)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from ..models import SYNC_LOCAL
from . import output
from .root import CliContext, cli, pass_ctx

VERDICT_STYLE = {"safe": "green", "not_pickle": "green", "needs_code": "yellow", "unsafe": "bold red",
                 "unknown": "dim"}


@cli.command("scan")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--no-hash", is_flag=True, help="Skip sha256 of the files (faster first scan; no fingerprints).")
@click.option("--rebuild", is_flag=True,
              help="Start a fresh catalog (for a damaged one): the old file is moved aside to "
                   "CATALOG.aside-TIME, keeping its eval/push/pull history, then PATHS are scanned.")
@click.option("--json", "json_mode", is_flag=True, help=output.json_option_help)
@pass_ctx
def scan_cmd(ctx: CliContext, paths: tuple[Path, ...], no_hash: bool, rebuild: bool, json_mode: bool) -> None:
    """Find checkpoints under PATHS (default: the workspace) and record them in the catalog.

    Finds HF model dirs, Trainer checkpoint-N dirs, single .pth/.pt/.bin/.ckpt/.safetensors
    files and Git LFS pointer files standing in for weights. Reads headers and pickles
    inertly (never executes them). Unchanged files are not hashed again.

    \b
    Examples:
      hubmgr scan                      # the workspace
      hubmgr scan runs/ ~/models       # several roots
      hubmgr scan runs/ --json | jq '.checkpoints[] | {path, kind, safety}'
      hubmgr scan --rebuild runs/      # the catalog is damaged: start a fresh one
    """
    from ..checkpoints import scan

    roots = list(paths) or [ctx.workspace]
    catalog = ctx.catalog()
    if rebuild:
        aside = catalog.move_aside()
        if aside is not None:
            output.note(f"moved the old catalog to {aside}")
    with output.progress_bars(not json_mode) as progress:
        result = scan(roots, catalog=catalog, progress=progress, hash_files=not no_hash)
    output.emit(result, json_mode=json_mode, render=lambda console: _render_scan(console, result))


@cli.command("ls")
@click.option("--json", "json_mode", is_flag=True, help=output.json_option_help)
@pass_ctx
def ls_cmd(ctx: CliContext, json_mode: bool) -> None:
    """List the checkpoints in the catalog (run `hubmgr scan` first).

    \b
    Columns: name, kind, format, size, params, step, best metric, safety, sync state
    (local only / converted / pushed @sha / modified @sha = changed on disk since that push /
    pulled @sha). The best metric is each checkpoint's best score of ONE suite configuration
    (the one measured on the most checkpoints; named below the table), else the Trainer's metric.

    \b
    Examples:
      hubmgr ls
      hubmgr ls --json | jq '.checkpoints[] | select(.safety.verdict == "unsafe") | .path'
    """
    from ..checkpoints import list_checkpoints

    result = list_checkpoints(catalog=ctx.catalog())
    output.emit(result, json_mode=json_mode, render=lambda console: _render_list(console, result))


@cli.command("inspect")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--all-tensors", is_flag=True, help="Show every tensor (default: the first 40).")
@click.option("--json", "json_mode", is_flag=True, help=output.json_option_help)
@pass_ctx
def inspect_cmd(ctx: CliContext, path: Path, all_tensors: bool, json_mode: bool) -> None:
    """Show one checkpoint: tensors, tied groups, pickle globals and verdict, files with sha256.

    PATH is a model dir (config.json + weights), a Trainer checkpoint-N dir, or one
    weights file. Nothing is loaded or executed: headers and an inert pickle read only.

    \b
    Examples:
      hubmgr inspect runs/gpt2-finetuned
      hubmgr inspect runs/out/checkpoint-500
      hubmgr inspect downloads/model.pth --json | jq .safety
    """
    from ..checkpoints import inspect_checkpoint

    with output.progress_bars(not json_mode) as progress:
        info = inspect_checkpoint(path, catalog=ctx.catalog(), progress=progress)
    if info.format == "unknown" and path.is_file():
        # An unreadable file is a failure (exit 1), but still show what could be read: size, sha256, verdict.
        from dataclasses import replace

        from ..errors import CorruptFileError

        shown = replace(info, warnings=info.warnings[1:]) if info.warnings else info
        output.emit(info, json_mode=json_mode, render=lambda console: _render_inspect(console, shown, all_tensors))
        output.print_error(CorruptFileError(info.warnings[0] if info.warnings else f"{path}: unreadable",
                                            "the file is truncated, damaged or not a checkpoint"))
        raise click.exceptions.Exit(1)
    output.emit(info, json_mode=json_mode, render=lambda console: _render_inspect(console, info, all_tensors))


# -- rendering -----------------------------------------------------------------


@cli.command("rm")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation (needed without a terminal).")
@click.option("--json", "json_mode", is_flag=True, help=output.json_option_help)
@pass_ctx
def rm_cmd(ctx: CliContext, path: Path, yes: bool, json_mode: bool) -> None:
    """Delete a checkpoint (file or dir) from disk and from the catalog.

    Asks first, and says so when the checkpoint was never pushed anywhere
    (then this is the only copy hubmgr knows of).

    \b
    Examples:
      hubmgr rm runs/old-experiment
      hubmgr rm scripts/model.pth --yes
    """
    import sys

    from ..checkpoints import delete_checkpoint
    from ..errors import UsageError

    catalog = ctx.catalog()
    target = path.resolve()
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError(f"refusing to delete {target} without confirmation", "pass --yes")
        pushed = bool(catalog.list_pushes(str(target)))
        warning = "" if pushed else " It was never pushed: this may be the only copy."
        click.confirm(f"Delete {target}?{warning}", abort=True, err=True)
    result = delete_checkpoint(target, catalog=catalog)
    output.emit(result, json_mode=json_mode, render=lambda console: console.print(
        f"deleted {result.path} ({output.human_size(result.bytes_freed)})", highlight=False))


def _verdict(verdict: str) -> str:
    return f"[{VERDICT_STYLE.get(verdict, 'dim')}]{verdict}[/]"


def _verdict_cell(safety: Any) -> str:
    """The verdict, plus the file that earned it when a dir holds several pickles."""
    worst = [n for n, v in safety.per_file.items() if v == safety.verdict]
    if len(safety.per_file) > 1 and worst:
        return f"{_verdict(safety.verdict)} ({output.safe(worst[0])}{' +' if len(worst) > 1 else ''})"
    return _verdict(safety.verdict)


def _metric(info: Any, scores: Any = None) -> str:
    if scores is not None:  # one suite configuration for every row: no mixing with Trainer metrics
        return f"{scores[info.path]:.4g}" if info.path in scores else "-"
    if info.best_metric is not None:
        return f"{info.best_metric:.4g}"
    if info.metrics:
        key = "eval_loss" if "eval_loss" in info.metrics else sorted(info.metrics)[0]
        return f"{key}={info.metrics[key]:.4g}"
    return "-"


def _table(console: Any, infos: Any, *, with_sync: bool, scores: dict[str, float] | None = None) -> None:
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    infos = list(infos)
    name_width = min(40, max((len(i.name) for i in infos), default=4))
    for column, justify in (("name", "left"), ("kind", "left"), ("format", "left"), ("size", "right"),
                            ("params", "right"), ("step", "right"), ("best metric", "right"),
                            ("safety", "left")):
        table.add_column(column, justify=justify, no_wrap=column != "name",  # type: ignore[arg-type]
                         overflow="fold", min_width=name_width if column == "name" else None)
    if with_sync:
        table.add_column("sync", no_wrap=True)
    for info in infos:
        row = [output.safe(info.name), output.safe(info.kind), output.safe(info.format),
               output.human_size(info.size_bytes),
               output.human_count(info.params), "-" if info.step is None else str(info.step), _metric(info, scores),
               _verdict_cell(info.safety)]
        if with_sync:
            row.append(info.sync_state.label if info.sync_state else SYNC_LOCAL)
        table.add_row(*row)
    output.print_table(console, table)


def _render_scan(console: Any, result: Any) -> None:
    _table(console, result.checkpoints, with_sync=False)
    output.warnings(result.warnings)
    forgotten = f", forgot {result.forgotten} vanished" if result.forgotten else ""
    output.note(f"{len(result.checkpoints)} checkpoint(s) recorded; hashed {result.files_hashed} file(s), "
                f"{output.human_size(result.bytes_hashed)}{forgotten}")


def _render_list(console: Any, result: Any) -> None:
    if not result.checkpoints:
        output.note("the catalog is empty: run `hubmgr scan PATH` first")
        return
    _table(console, result.checkpoints, with_sync=True, scores=result.scores if result.score_label else None)
    if result.score_label:
        output.note(f"best metric: {result.score_label}, the best score of each checkpoint")
    output.warnings(result.warnings)


def _render_inspect(console: Any, info: Any, all_tensors: bool) -> None:
    from rich.table import Table

    safe, printable = output.safe, output.printable  # names and values come from files: never raw
    console.print(f"[bold]{safe(info.path)}[/]")
    facts = [("kind", info.kind), ("format", info.format), ("size", output.human_size(info.size_bytes)),
             ("params", output.human_count(info.params)), ("dtypes", ", ".join(info.dtypes) or "-"),
             ("architecture", info.architecture), ("model_type", info.model_type),
             ("tokenizer", "yes" if info.has_tokenizer else "no"), ("step", info.step),
             ("best metric", info.best_metric), ("sync", info.sync_state.label if info.sync_state else None)]
    for key, value in facts:
        if value is not None:
            console.print(f"  {key:<13}{safe(value)}")
    for key, value in sorted(info.metrics.items()):
        console.print(f"  {safe(key):<13}{value:.6g}")
    safety = info.safety
    console.print(f"  {'safety':<13}{_verdict(safety.verdict)}")
    if safety.offending:
        console.print(f"  {'offending':<13}{safe(', '.join(safety.offending))}")
    if safety.classes_needed:
        console.print(f"  {'needs code':<13}{safe(', '.join(safety.classes_needed))}")
    for name, verdict in safety.per_file.items():
        console.print(f"  {'pickle':<13}{safe(name)}: {_verdict(verdict)}", highlight=False)
    for reason in safety.reasons[:12]:
        console.print(f"  {'why':<13}{safe(reason)}", highlight=False)
    if safety.globals:
        console.print(f"  {'globals':<13}{safe(', '.join(safety.globals))}")
    for group in info.tied_groups:
        console.print(f"  {'tied':<13}{safe(' = '.join(group))}")
    from ..lineage import provenance_rows

    for key, value in provenance_rows(info.lineage):
        console.print(f"  {key:<13}{printable(value)}", markup=False)
    if info.tensors:
        shown = info.tensors if all_tensors else info.tensors[:40]
        table = Table(box=None, pad_edge=False, header_style="bold", title=f"{len(info.tensors)} tensors",
                      title_justify="left")
        table.add_column("name")
        table.add_column("dtype")
        table.add_column("shape")
        for t in shown:
            table.add_row(safe(t.name), safe(t.dtype), "x".join(map(str, t.shape)) or "scalar")
        output.print_table(console, table)
        if len(shown) < len(info.tensors):
            console.print(f"  ... {len(info.tensors) - len(shown)} more (--all-tensors)")
    if info.files:
        table = Table(box=None, pad_edge=False, header_style="bold", title="files", title_justify="left")
        table.add_column("file")
        table.add_column("size", justify="right")
        table.add_column("sha256")
        for f in info.files:
            table.add_row(safe(f.path), output.human_size(f.size_bytes), safe(f.sha256 or "-"))
        output.print_table(console, table)
    output.warnings(info.warnings)

