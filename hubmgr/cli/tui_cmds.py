"""CLI commands: tui (owned by the TUI feature)."""

from __future__ import annotations

from pathlib import Path

import click

from .root import CliContext, pass_ctx, cli


@cli.command("tui")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@pass_ctx
def tui_command(ctx: CliContext, directory: Path | None) -> None:
    """Open the terminal UI on a workspace (default: the current directory).

    Browse checkpoints from the catalog (a rescan runs in the background), see their
    tensors, model card, evals and history, and convert, eval, card, compare, push,
    pull, roll back or delete them with live progress. Press ? for every key.

    \b
    Examples:
      hubmgr tui                 # the current directory
      hubmgr tui runs/           # another workspace
      python tui.py runs/        # the same, without the console script
    """
    from ..tui.app import run

    workspace = (directory or ctx.workspace).resolve()
    catalog = ctx.catalog_path if directory is None else None
    run(workspace, catalog_path=catalog)
