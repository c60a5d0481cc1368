"""CLI command: ``hubmgr convert`` (PyTorch pickles -> verified safetensors)."""

from __future__ import annotations

from pathlib import Path

import click

from . import output
from .root import CliContext, pass_ctx, cli


@cli.command("convert")
@click.argument("src", type=click.Path(exists=True, path_type=Path))
@click.option("--out", "-o", type=click.Path(path_type=Path), default=None,
              help="Output: NAME.safetensors for one file, else a folder (default: see 'Default output' above).")
@click.option("--max-shard-size", default=None, metavar="SIZE",
              help="Split into model-0000i-of-0000n.safetensors + index, e.g. 95MB or 2GB "
                   "(default: none for a file, 5GB for a model dir).")
@click.option("--strip-prefix", multiple=True, metavar="P",
              help="Remove a wrapper prefix from tensor names (module., _orig_mod., model.). Repeatable.")
@click.option("--key", default=None, metavar="K", help="Entry of a training checkpoint holding the weights.")
@click.option("--dtype", type=click.Choice(["fp16", "bf16"]), default=None,
              help="Cast floating-point tensors (default: keep every dtype).")
@click.option("--force", is_flag=True, help="Overwrite an existing output.")
@click.option("--no-verify", is_flag=True, help="Skip re-reading the output and comparing it with the source.")
@click.option("--json", "json_mode", is_flag=True, help=output.json_option_help)
@pass_ctx
def convert_cmd(ctx: CliContext, src: Path, out: Path | None, max_shard_size: str | None,
                strip_prefix: tuple[str, ...], key: str | None, dtype: str | None, force: bool, no_verify: bool,
                json_mode: bool) -> None:
    """Convert a PyTorch checkpoint (file or model dir) to safetensors, without running its pickle.

    SRC is a torch.save file (state_dict, training checkpoint, whole model) or a
    transformers dir with pytorch_model.bin or sharded pytorch_model-*.bin + index.
    Pickles that would call anything outside an allow-list (os.system, ...) are
    refused. Output is written under a temp name, verified bit for bit, then renamed.

    \b
    Default output:
      runs/model.pth      -> runs/model.safetensors
      runs/model.pth with --max-shard-size -> runs/model-safetensors/ (shards + index)
      runs/gpt2/ (dir)    -> runs/gpt2-safetensors/ (weights, config, tokenizer)

    \b
    Examples:
      hubmgr convert runs/model_weights.pth
      hubmgr convert runs/last.ckpt --key state_dict --strip-prefix model.
      hubmgr convert runs/gpt2-finetuned --out release/ --max-shard-size 95MB
      hubmgr convert model.pth --dtype bf16 --force --json
    """
    from ..config import parse_size
    from ..convert import convert_checkpoint

    shard_size = parse_size(max_shard_size) if max_shard_size is not None else None
    with output.progress_bars(not json_mode) as progress:
        result = convert_checkpoint(src, out=out, max_shard_size=shard_size, strip_prefix=strip_prefix or None,
                                    key=key, dtype=dtype, force=force, verify=not no_verify,
                                    catalog=ctx.catalog(), progress=progress)
    output.emit(result, json_mode=json_mode, render=lambda console: _render(console, result))


def _render(console, result) -> None:  # noqa: ANN001 - rich Console
    from rich.table import Table

    check = "verified" if result.verified else "not verified (--no-verify)"
    safe = output.safe  # tensor and file names come from the checkpoint
    console.print(f"[bold]{safe(result.source)}[/] ({result.source_kind}, {result.source_format})")
    console.print(f"  -> [bold green]{safe(result.output)}[/]  {result.tensors} tensors, "
                  f"{output.human_size(result.tensor_bytes)}, {check}")
    table = Table(box=None, pad_edge=False)
    table.add_column("file")
    table.add_column("size", justify="right")
    table.add_column("tensors", justify="right")
    table.add_column("sha256")
    for f in result.files:
        table.add_row(safe(f.path), output.human_size(f.size_bytes), str(f.tensors or ""), f.sha256[:16])
    output.print_table(console, table)
    for group in result.tied:
        console.print(f"  tied: kept {safe(group.kept)}, dropped {safe(', '.join(group.dropped))}")
    if result.dropped:
        console.print(f"  dropped (not weights): {safe(', '.join(list(result.dropped)[:12]))}"
                      + (" ..." if len(result.dropped) > 12 else ""))
    if len(result.metadata) > 1:
        console.print(f"  metadata: {safe(', '.join(k for k in result.metadata if k != 'format'))}")
    if result.skipped_files:
        console.print(f"  not copied (pickles): {safe(', '.join(result.skipped_files))}")
    output.warnings(result.warnings)
