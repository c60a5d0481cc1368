"""CLI commands: ``keygen`` (signing keys for ``push --sign`` / ``pull --require-signature``)."""

from __future__ import annotations

from pathlib import Path

import click

from . import output
from .root import cli


@cli.command("keygen")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Directory for NAME.key (private, mode 0600) and NAME.pub.")
@click.option("--name", default="hubmgr", show_default=True, help="File name stem of the key pair.")
@click.option("--force", is_flag=True, help="Overwrite an existing key pair.")
@click.option("--json", "json_mode", is_flag=True, help=output.json_option_help)
def keygen_cmd(out_dir: Path, name: str, force: bool, json_mode: bool) -> None:
    """Create an ECDSA P-256 key pair for signing models (OpenSSF model-signing format).

    Keep NAME.key secret; give NAME.pub to every deploy host. Signatures made with
    it verify with `model_signing verify key --public_key NAME.pub` too.

    \b
    Examples:
      hubmgr keygen --out ~/.config/hubmgr/keys
      hubmgr push runs/final alice/adder --sign ~/.config/hubmgr/keys/hubmgr.key
      hubmgr pull alice/adder@prod --dest /srv/adder --require-signature hubmgr.pub
    """
    from ..trust import keygen

    result = keygen(out_dir, name=name, force=force)

    def render(console) -> None:  # noqa: ANN001 - rich Console
        console.print(f"private key: {result.private_key}  (mode 0600: keep it secret)")
        console.print(f"public key:  {result.public_key}")
        console.print(f"fingerprint: {result.fingerprint}")

    output.emit(result, json_mode=json_mode, render=render)
