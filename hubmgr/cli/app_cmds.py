"""CLI command: demo (the README's first command)."""

from __future__ import annotations

from pathlib import Path

import click

from . import output
from .root import cli


@cli.command("demo")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-workspace"),
              show_default=True, help="Where to build the demo workspace.")
@click.option("--remote", default="local:hubmgr-demo", show_default=True,
              help="Where to push (the embedded local registry by default; a Hub repo id works too).")
@click.option("--eval-n", type=click.IntRange(1, 10_000), default=100, show_default=True,
              help="Arithmetic problems per evaluated checkpoint.")
@click.option("--rebuild", is_flag=True, help="Retrain the demo models even if the workspace exists.")
@click.option("--json", "json_mode", is_flag=True, help=output.json_option_help)
def demo_command(directory: Path, remote: str, eval_n: int, rebuild: bool, json_mode: bool) -> None:
    """Build a demo workspace and run the whole lifecycle on it (no account, no network).

    Trains two tiny GPT-2s (1,000 vs 5,000 addition examples, a few seconds on CPU),
    saves checkpoints the ways tutorials do, then: scan, convert to safetensors,
    evaluate on `a + b =` problems, compare, write a model card, push the best to the
    local registry, pull it into DIR/deploy and verify it.

    \b
    Examples:
      hubmgr demo
      hubmgr demo --dir /tmp/demo --eval-n 200
      hubmgr --workspace demo-workspace ls      # then look around
      hubmgr tui demo-workspace
    """
    from ..demo import run_demo

    with output.progress_bars(not json_mode) as progress:
        result = run_demo(directory, remote=remote, eval_n=eval_n, rebuild=rebuild, progress=progress)

    def render(console) -> None:
        from rich.table import Table

        table = Table(title=f"hubmgr demo in {result.workspace}", title_justify="left", show_lines=False)
        table.add_column("step", style="bold cyan", no_wrap=True)
        table.add_column("what happened")
        table.add_column("time", justify="right", style="dim", no_wrap=True)
        for step in result.steps:
            table.add_row(step.name, step.summary, f"{step.seconds:.1f}s")
        output.print_table(console, table)
        exe = hubmgr_command()
        console.print(f"done in {result.seconds:.1f}s. Next: [bold]{exe} --workspace {result.workspace} ls[/], "
                      f"[bold]{exe} tui {result.workspace}[/]", highlight=False)

    output.emit(result, json_mode=json_mode, render=render)


def hubmgr_command() -> str:
    """How to run this hubmgr again from the current directory: ``hubmgr`` when that is on PATH and is
    this one, else its path (setup makes ``.venv/bin/hubmgr``, which is not on PATH)."""
    import os
    import shutil
    import sys

    here = Path(sys.executable).with_name("hubmgr")  # the console script next to this interpreter
    if not here.is_file():
        return "hubmgr"
    on_path = shutil.which("hubmgr")
    if on_path and Path(on_path).resolve() == here.resolve():
        return "hubmgr"
    relative = os.path.relpath(here, Path.cwd())
    return relative if not relative.startswith("..") and os.sep in relative else str(here)
