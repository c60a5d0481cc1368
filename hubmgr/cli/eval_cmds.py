"""CLI commands: ``hubmgr eval``, ``hubmgr card``, ``hubmgr compare``."""

from __future__ import annotations

from pathlib import Path

import click

from . import output
from .root import CliContext, cli, pass_ctx


class SuiteChoice(click.Choice):
    """``--suite`` choices read from the eval-suite registry when used, so a registered suite is offered."""

    def __init__(self) -> None:
        super().__init__((), case_sensitive=True)

    @property
    def choices(self) -> tuple[str, ...]:
        from ..evaluate import suite_names

        return suite_names()

    @choices.setter
    def choices(self, value: tuple[str, ...]) -> None:  # click.Choice.__init__ assigns it
        pass


class _EvalGroup(click.Group):
    """``hubmgr eval PATH ...`` runs a suite (the ``run`` subcommand); ``hubmgr eval import FILE`` imports."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


@cli.group("eval", cls=_EvalGroup)
def eval_group() -> None:
    """Score a checkpoint (hubmgr eval PATH) or import scores (hubmgr eval import FILE)."""


@eval_group.command("run")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--suite", type=SuiteChoice(), default="arithmetic",
              show_default=True, help="What to measure (--data implies jsonl, --perplexity implies perplexity).")
@click.option("--n", "n", type=int, default=None, help="Problems to score (arithmetic default 200; jsonl: all).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed the arithmetic problems are drawn from.")
@click.option("--digits", default="1-2", show_default=True, metavar="LO[-HI]",
              help="Digits per operand, a number or a range.")
@click.option("--ops", default="+-*", show_default=True, help="Operators to draw from (any of + - *).")
@click.option("--prompt-format", default="{a} {op} {b} =", show_default=True,
              help="Prompt with the fields {a}, {op}, {b}.")
@click.option("--data", "data_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help='JSONL file of {"prompt": ..., "answer": ...} lines (exact match after normalisation).')
@click.option("--perplexity", "perplexity_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Text file to compute perplexity on.")
@click.option("--batch-size", type=int, default=64, show_default=True, help="Prompts generated per batch.")
@click.option("--max-new-tokens", type=int, default=None, help="Tokens to generate (default: answer length + 3).")
@click.option("--import-only", is_flag=True,
              help="Only import the metrics a Trainer wrote (trainer_state.json, all_results.json, eval_results.json).")
@click.option("--json", "json_mode", is_flag=True, help=output.json_option_help)
@pass_ctx
def eval_cmd(ctx: CliContext, path: Path, suite: str, n: int | None, seed: int, digits: str, ops: str,
             prompt_format: str, data_file: Path | None, perplexity_file: Path | None, batch_size: int,
             max_new_tokens: int | None, import_only: bool, json_mode: bool) -> None:
    """Score a causal LM (an HF dir with config + tokenizer) and store the scores in the catalog.

    Greedy decoding on CPU, batched. Every score is stored with what produced it
    (suite, n, seed, data sha256) and the sha256 of the weights. Metrics a
    transformers Trainer left in PATH are imported as well. `hubmgr eval PATH` and
    `hubmgr eval run PATH` are the same; `hubmgr eval import FILE` imports scores
    lm-evaluation-harness or the evaluate library wrote.

    \b
    Examples:
      hubmgr eval runs/gpt2-arith                        # 200 problems, 1-2 digits, + - *
      hubmgr eval runs/gpt2-arith --n 100 --digits 1 --ops +
      hubmgr eval runs/gpt2-arith --prompt-format "Q: {a}{op}{b}=" --json
      hubmgr eval runs/gpt2-arith --data heldout.jsonl
      hubmgr eval runs/gpt2-arith --perplexity wiki.txt
      hubmgr eval runs/out/checkpoint-500 --import-only
    """
    from ..evaluate import evaluate_checkpoint, import_training_metrics

    catalog = ctx.catalog()
    with output.progress_bars(not json_mode) as progress:
        if import_only:
            imported = import_training_metrics(path, catalog=catalog, progress=progress)
            output.emit(imported, json_mode=json_mode, render=lambda console: _render_imported(console, imported))
            return
        result = evaluate_checkpoint(path, suite=suite, n=n, seed=seed, digits=digits, ops=ops,
                                     prompt_format=prompt_format, data_file=data_file,
                                     perplexity_file=perplexity_file, batch_size=batch_size,
                                     max_new_tokens=max_new_tokens, catalog=catalog, progress=progress)
    output.emit(result, json_mode=json_mode, render=lambda console: _render_eval(console, result))


@eval_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--model", "model", type=click.Path(exists=True, path_type=Path), default=None,
              help="The checkpoint the scores were measured on (default: the path the file names, "
                   "lm-eval's model_args pretrained=).")
@click.option("--json", "json_mode", is_flag=True, help=output.json_option_help)
@pass_ctx
def eval_import_cmd(ctx: CliContext, file: Path, model: Path | None, json_mode: bool) -> None:
    """Import scores from an lm-evaluation-harness results_*.json or an evaluate.save JSON.

    Each score is stored with the sha256 of the model's weights and its task,
    n-shot, filter, limit and dataset; `hubmgr card` puts them into model-index.
    Importing the same file again adds nothing.

    \b
    Examples:
      hubmgr eval import out/runs__adder/results_2026-01-01T10-00-00.json
      hubmgr eval import results/result-2026_01_01-10_00_00.json --model runs/adder
      hubmgr eval import results_x.json --model runs/adder/checkpoint-500 --json
    """
    from ..evaluate import import_results

    with output.progress_bars(not json_mode) as progress:
        result = import_results(file, model=model, catalog=ctx.catalog(), progress=progress)
    output.emit(result, json_mode=json_mode, render=lambda console: _render_imported(console, result))


def _render_eval(console, result) -> None:  # noqa: ANN001 - rich Console
    from rich.table import Table

    console.print(f"[bold]{result.path}[/] ({result.weights_file}, sha256 {str(result.weights_sha256)[:12]})")
    for metric, value in result.metrics.items():
        extra = f"  ({result.correct}/{result.n} correct)" if result.correct is not None else f"  ({result.n} tokens)"
        console.print(f"  {result.suite} {metric}: [bold green]{value:.4g}[/]{extra}")
    console.print(f"  runtime {result.runtime_seconds:.2f} s; params: "
                  + ", ".join(f"{k}={v}" for k, v in result.params.items() if k not in ("suite", "data_sha256")),
                  highlight=False)
    if result.failures:
        table = Table(title="failures (sample)", box=None, pad_edge=False, title_justify="left")
        table.add_column("prompt")
        table.add_column("expected")
        table.add_column("model said")
        for f in result.failures:
            table.add_row(f.prompt, f.expected, repr(f.output.strip()))
        output.print_table(console, table)
    if result.imported is not None:
        _render_imported(console, result.imported)


def _render_imported(console, imported) -> None:  # noqa: ANN001
    console.print(f"  imported from {', '.join(imported.sources)}: {len(imported.metrics)} metric(s), "
                  f"{imported.recorded} new", highlight=False)
    for m in imported.metrics:
        console.print(f"    {m.metric} = {m.value:.4g} ({m.source})", highlight=False)
    output.warnings(imported.warnings)


@cli.command("card")
@click.argument("path", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--template", default=None, metavar="NAME|FILE",
              help="Card template: a shipped name (default) or a .md.j2 file.")
@click.option("--base-model", default=None, metavar="ID", help="Hub id of the model this was fine-tuned from.")
@click.option("--dataset", default=None, metavar="ID", help="Hub id of the training dataset.")
@click.option("--license", "license_id", default=None, metavar="ID", help="Hub license id (apache-2.0, mit, ...).")
@click.option("--language", default=None, metavar="CODE", help="ISO 639 language code (en, fr, ...).")
@click.option("--repo-id", default=None, metavar="ID",
              help="Repo the card is for (title, model-index name, how-to-use snippet; default: the dir name).")
@click.option("--json", "json_mode", is_flag=True, help=output.json_option_help)
@pass_ctx
def card_cmd(ctx: CliContext, path: Path, template: str | None, base_model: str | None, dataset: str | None,
             license_id: str | None, language: str | None, repo_id: str | None, json_mode: bool) -> None:
    """Write PATH/README.md: Hub metadata with model-index, training facts, scores, files.

    Re-running merges: parts between <!-- hubmgr:begin/end --> markers are refreshed
    unless you edited them; your own sections and metadata keys are kept. The card is
    validated the way the Hub reads it before it is written.

    \b
    Examples:
      hubmgr card runs/gpt2-arith --license apache-2.0 --language en
      hubmgr card runs/gpt2-arith --base-model openai-community/gpt2 --dataset alice/arith-5k
      hubmgr card runs/gpt2-arith --template my_card.md.j2 --json
      hubmgr card runs/gpt2-arith --repo-id alice/gpt2-arith
    """
    from ..cards import write_card

    with output.progress_bars(not json_mode) as progress:
        result = write_card(path, template=template, base_model=base_model, dataset=dataset, license=license_id,
                            language=language, catalog=ctx.catalog(), progress=progress, repo_id=repo_id)
    output.emit(result, json_mode=json_mode, render=lambda console: _render_card(console, result))


def _render_card(console, result) -> None:  # noqa: ANN001
    verb = "wrote" if result.created else "updated"
    console.print(f"{verb} [bold]{result.path}[/] (template {result.template}, "
                  f"{result.eval_results} eval result(s) in model-index)", highlight=False)
    for s in result.sections:
        console.print(f"  {s.name}: {s.action.replace('_', ' ')}", highlight=False)
    output.warnings(result.warnings)


@cli.command("compare")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "json_mode", is_flag=True, help=output.json_option_help)
@pass_ctx
def compare_cmd(ctx: CliContext, paths: tuple[Path, ...], json_mode: bool) -> None:
    """Stored scores of two or more checkpoints side by side; * marks the best value per row.

    \b
    Examples:
      hubmgr compare runs/arith-1k runs/arith-5k
      hubmgr compare runs/out/checkpoint-500 runs/out/checkpoint-1000 runs/out --json
    """
    from ..compare import compare_checkpoints

    with output.progress_bars(not json_mode) as progress:
        result = compare_checkpoints(paths, catalog=ctx.catalog(), progress=progress)
    output.emit(result, json_mode=json_mode, render=lambda console: _render_compare(console, result))


def _render_compare(console, result) -> None:  # noqa: ANN001
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    table.add_column("metric")
    names = [Path(p).name for p in result.paths]
    for name in names:
        table.add_column(name, justify="right")
    for row in result.rows:
        cells = []
        for i, value in enumerate(row.values):
            if value is None:
                cells.append("-")
                continue
            text = output.human_size(value) if "bytes" in row.label else (
                f"{value:,.0f}" if row.better is None else f"{value:.4g}")
            cells.append(f"[bold green]{text} *[/]" if i in row.best else text)
        label = row.label + (f" ({row.better} is better)" if row.better else "")
        table.add_row(label, *cells)
    output.print_table(console, table)
    output.warnings(result.warnings)
