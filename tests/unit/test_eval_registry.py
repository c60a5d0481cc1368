"""Adding an eval suite touches one module: this test defines a toy suite, registers it, and walks
the user's path through the real CLI (eval --suite, card, compare) on real tiny GPT-2 dirs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, Mapping

import pytest

from hubmgr.evaluate import (EvalOptions, GenerationSuite, Problem, ScoreContext, Scores, Suite, get_suite,
                             register, suite_names, unregister)
from hubmgr.errors import UsageError


class EchoMissSuite(GenerationSuite):
    """Prompts ``"d + 0 ="``; a miss is a continuation not starting with d. Lower is better."""

    name = "toy-echo"
    help = "toy: d + 0 = d, scored as a miss rate"
    options = ("n",)
    implied_by = None
    headline_metric = "miss_rate"
    higher_is_better = False
    metric_names = {"miss_rate": "echo miss rate"}

    def load(self, options: EvalOptions) -> tuple[dict[str, Any], list[Problem]]:
        problems = [Problem(f"{d} + 0 =", str(d)) for d in range(options.n or 5)]
        return {"n": len(problems)}, problems

    def check(self, problem: Problem, output: str) -> tuple[str | None, bool]:
        got = output.strip()[:1] or None
        return got, got == problem.answer

    def score(self, model: Any, tokenizer: Any, data: list[Problem], ctx: ScoreContext) -> Scores:
        hits = super().score(model, tokenizer, data, ctx)
        return Scores({"miss_rate": 1 - hits.correct / hits.n}, hits.n, hits.correct, hits.failures, hits.params)

    def dataset_label(self, params: Mapping[str, Any]) -> tuple[str, str]:
        return "hubmgr/toy-echo", f"toy echo digits (n={params.get('n')})"

    def dataset_config(self, params: Mapping[str, Any]) -> str | None:
        return f"n={params.get('n')}"


@pytest.fixture
def toy_suite():
    suite = register(EchoMissSuite())
    yield suite
    unregister(suite.name)


def test_builtin_suites_follow_the_protocol() -> None:
    assert suite_names()[:3] == ("arithmetic", "jsonl", "perplexity")
    for name in ("arithmetic", "jsonl", "perplexity"):
        suite = get_suite(name)
        assert isinstance(suite, Suite) and suite.headline_metric in suite.metric_names
    assert get_suite("perplexity").higher_is_better is False and get_suite("arithmetic").higher_is_better
    with pytest.raises(UsageError, match="unknown suite 'nope'") as exc:
        get_suite("nope")
    assert "choose one of: arithmetic, jsonl, perplexity" in exc.value.hint

    class Clash(EchoMissSuite):
        name = "arithmetic"

    with pytest.raises(ValueError, match="already registered"):
        register(Clash())
    assert type(get_suite("arithmetic")).__name__ == "ArithmeticSuite"


def test_a_registered_suite_runs_through_eval_card_and_compare(toy_suite, run_cli, tiny_gpt2_dir: Path,
                                                               tiny_gpt2_trained_dir: Path, tmp_path: Path) -> None:
    assert "toy-echo" in run_cli("eval", "--help").stdout
    untrained = shutil.copytree(tiny_gpt2_dir, tmp_path / "untrained")
    trained = shutil.copytree(tiny_gpt2_trained_dir, tmp_path / "trained")
    results = {}
    for d in (untrained, trained):
        run = run_cli("eval", str(d), "--suite", "toy-echo", "--n", "4", "--json")
        assert run.exit_code == 0, run.stderr
        results[d.name] = run.json()
        assert results[d.name]["suite"] == "toy-echo" and results[d.name]["n"] == 4
        miss = results[d.name]["metrics"]["miss_rate"]
        assert 0.0 <= miss <= 1.0 and miss == 1 - results[d.name]["correct"] / 4

    card = run_cli("card", str(trained), "--json")
    assert card.exit_code == 0, card.stderr
    readme = (trained / "README.md").read_text()
    assert "toy echo digits (n=4)" in readme and "echo miss rate" in readme and "hubmgr/toy-echo" in readme

    compare = run_cli("compare", str(untrained), str(trained), "--json")
    assert compare.exit_code == 0, compare.stderr
    row = next(r for r in compare.json()["rows"] if r["label"].startswith("miss_rate"))
    # The name says nothing about direction; the suite does (the name rule alone would say "higher").
    assert row["better"] == "lower" and row["label"] == "miss_rate: toy echo digits (n=4)"
    values = row["values"]
    assert values == [results["untrained"]["metrics"]["miss_rate"], results["trained"]["metrics"]["miss_rate"]]
    if values[0] != values[1]:
        assert row["best"] == [values.index(min(values))]


def test_unknown_suite_is_a_usage_error_through_the_cli(run_cli, tiny_gpt2_dir: Path) -> None:
    run = run_cli("eval", str(tiny_gpt2_dir), "--suite", "toy-echo")
    assert run.exit_code == 2 and "toy-echo" in run.stderr
