"""The root click group and the context every command receives."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import click

from .. import __version__, paths


@dataclass
class CliContext:
    workspace: Path
    catalog_path: Path

    def catalog(self):
        from ..catalog import Catalog
        from . import output

        # the catalog is an index: its problems are warnings printed as they happen
        return Catalog(self.catalog_path, on_notice=lambda message: output.warnings([message]))


pass_ctx = click.make_pass_decorator(CliContext)

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT_SETTINGS, invoke_without_command=True)
@click.option("--workspace", "-w", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Workspace directory (default: the current directory).")
@click.option("--catalog", "catalog_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              envvar="HUBMGR_CATALOG",
              help="Catalog database (default: <workspace>/.hubmgr/catalog.db; env HUBMGR_CATALOG).")
@click.version_option(__version__, prog_name="hubmgr")
@click.pass_context
def cli(ctx: click.Context, workspace: Path | None, catalog_path: Path | None) -> None:
    """hubmgr: manage fine-tuned model checkpoints from disk to the Hub to a deployment host.

    \b
    Examples:
      hubmgr demo                       # build a demo workspace and run the whole lifecycle
      hubmgr scan runs/                 # find checkpoints, record them in the catalog
      hubmgr ls                         # table of what the catalog knows
      hubmgr inspect runs/model.pth     # tensors, pickle globals and safety verdict
      hubmgr convert runs/model.pth     # pickle -> safetensors, verified
      hubmgr push out/ local:mymodel    # push to the embedded local registry
      hubmgr pull local:mymodel --dest /srv/model
      hubmgr tui                        # terminal UI (also: bare `hubmgr` at a terminal)
    """
    _check_home()
    ws = (workspace or Path.cwd()).resolve()
    ctx.obj = CliContext(workspace=ws, catalog_path=paths.catalog_path(ws, catalog_path))
    if ctx.invoked_subcommand is None:
        import sys

        if sys.stdin.isatty() and sys.stdout.isatty():  # a person at a terminal: open the TUI
            from ..tui.app import run

            run(ws, catalog_path=ctx.obj.catalog_path)
            return
        click.echo(ctx.get_help())


def _check_home() -> None:
    """HUBMGR_HOME must be a directory (or not exist yet: it is created when needed)."""
    from ..errors import UsageError

    home = paths.hubmgr_home()
    if home is not None and home.exists() and not home.is_dir():
        raise UsageError(f"HUBMGR_HOME={home} is a file, not a directory",
                         "point HUBMGR_HOME at a directory (or unset it)")
