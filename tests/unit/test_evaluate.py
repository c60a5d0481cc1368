"""Eval suites on real tiny GPT-2 checkpoints (untrained vs trained inside the session), real SQLite catalog."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hubmgr.catalog import Catalog
from hubmgr.errors import CancelledError, CorruptFileError, NotFoundError, UsageError
from hubmgr.evaluate import (arithmetic_problems, evaluate_checkpoint, extract_number, import_training_metrics,
                             normalise_answer, parse_digits)
from hubmgr.formats.hashing import sha256_file
from hubmgr.progress import CancelToken


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog(tmp_path / "catalog.db")


def test_problems_are_deterministic_in_range_and_answered_correctly() -> None:
    a = arithmetic_problems(300, seed=7, digits=(1, 2), ops="+-*")
    assert a == arithmetic_problems(300, seed=7, digits=(1, 2), ops="+-*")
    assert a != arithmetic_problems(300, seed=8, digits=(1, 2), ops="+-*")
    ops_seen = set()
    for p in a:
        left, op, right, eq = p.prompt.split()
        assert eq == "=" and 0 <= int(left) <= 99 and 0 <= int(right) <= 99
        ops_seen.add(op)
        assert int(p.answer) == eval(f"{left} {op} {right}")  # noqa: S307 - our own digits and operator
    assert ops_seen == {"+", "-", "*"}
    assert any(int(p.answer) < 0 for p in a)  # subtraction gives negative answers
    one = arithmetic_problems(50, seed=0, digits=(1, 1), ops="+", prompt_format="Q: {a}{op}{b}=")
    assert all(p.prompt.startswith("Q: ") and p.prompt.endswith("=") for p in one)


def test_bad_problem_options_are_usage_errors() -> None:
    assert parse_digits("1-2") == (1, 2) and parse_digits("3") == (3, 3) and parse_digits(1) == (1, 1)
    for bad in ("0", "2-1", "x", "1-10"):
        with pytest.raises(UsageError):
            parse_digits(bad)
    with pytest.raises(UsageError, match="only \\+ - \\*"):
        arithmetic_problems(3, ops="+/")
    with pytest.raises(UsageError, match="prompt format"):
        arithmetic_problems(3, prompt_format="{x} {op} {b} =")


def test_answer_extraction_and_normalisation() -> None:
    assert extract_number(" 8") == "8"
    assert extract_number(" 3.5") == "3.5"  # "5 + 3 = 3.5" is wrong, not rounded to right
    assert extract_number(" -28 ") == "-28"
    assert extract_number("=====") is None
    assert extract_number(" 12 + 3 = 15") == "12"  # the first number after '='
    assert normalise_answer("  Paris.\nmore text") == "paris"
    assert normalise_answer("New   York ") == "new york"


def test_trained_model_scores_clearly_higher_than_untrained(tiny_gpt2_dir: Path, tiny_gpt2_trained_dir: Path,
                                                             catalog: Catalog) -> None:
    """The eval is honest: the same architecture, briefly trained on addition, answers far more problems."""
    untrained = evaluate_checkpoint(tiny_gpt2_dir, n=100, digits=1, ops="+", catalog=catalog)
    trained = evaluate_checkpoint(tiny_gpt2_trained_dir, n=100, digits=1, ops="+", catalog=catalog)
    assert untrained.metrics["accuracy"] <= 0.1
    assert trained.metrics["accuracy"] >= 0.3
    assert trained.correct == round(trained.metrics["accuracy"] * 100) and trained.n == 100

    # Scores are stored with what produced them and the sha256 of the weights they were measured on.
    (row,) = [r for r in catalog.list_evals(str(tiny_gpt2_trained_dir)) if r.source == "hubmgr"]
    assert row.suite == "arithmetic" and row.metric == "accuracy" and row.value == trained.metrics["accuracy"]
    assert row.weights_sha256 == sha256_file(tiny_gpt2_trained_dir / "model.safetensors") == trained.weights_sha256
    assert row.params["n"] == 100 and row.params["seed"] == 0 and row.params["digits"] == "1"
    assert row.params["ops"] == "+" and row.params["prompt_format"] == "{a} {op} {b} ="
    assert row.details["correct"] == trained.correct and len(row.details["failures"]) == len(trained.failures)

    # Failures keep what the model said; they really are wrong.
    assert trained.failures and untrained.failures
    for f in trained.failures:
        assert f.predicted != f.expected
        assert f.output and f.prompt.endswith("=")
        assert extract_number(f.output) == f.predicted


def test_eval_is_deterministic(tiny_gpt2_trained_dir: Path) -> None:
    first = evaluate_checkpoint(tiny_gpt2_trained_dir, n=60, digits="1-2", ops="+-*", seed=3, batch_size=7)
    again = evaluate_checkpoint(tiny_gpt2_trained_dir, n=60, digits="1-2", ops="+-*", seed=3, batch_size=60)
    assert first.metrics == again.metrics and first.failures == again.failures  # batching does not change results


def test_jsonl_suite_agrees_with_arithmetic_on_the_same_problems(tiny_gpt2_trained_dir: Path, tmp_path: Path,
                                                                 catalog: Catalog) -> None:
    problems = arithmetic_problems(50, seed=5, digits=(1, 1), ops="+")
    data = tmp_path / "heldout.jsonl"
    data.write_text("\n".join(json.dumps({"prompt": p.prompt, "answer": int(p.answer)}) for p in problems) + "\n")
    arith = evaluate_checkpoint(tiny_gpt2_trained_dir, n=50, seed=5, digits=1, ops="+")
    result = evaluate_checkpoint(tiny_gpt2_trained_dir, data_file=data, catalog=catalog)
    assert result.suite == "jsonl" and result.n == 50
    assert result.metrics["exact_match"] == arith.metrics["accuracy"]
    assert result.params["data_sha256"] == sha256_file(data)
    (row,) = [r for r in catalog.list_evals(str(tiny_gpt2_trained_dir)) if r.source == "hubmgr"]
    assert row.metric == "exact_match" and row.params["data_sha256"] == sha256_file(data)


def test_jsonl_errors_name_the_line(tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    data = tmp_path / "bad.jsonl"
    data.write_text('{"prompt": "1 + 1 =", "answer": "2"}\n{"prompt": "no answer"}\n')
    with pytest.raises(CorruptFileError, match="bad.jsonl:2"):
        evaluate_checkpoint(tiny_gpt2_dir, data_file=data)
    with pytest.raises(UsageError, match="needs a data file"):
        evaluate_checkpoint(tiny_gpt2_dir, suite="jsonl")


def test_perplexity_is_lower_for_the_trained_model(tiny_gpt2_dir: Path, tiny_gpt2_trained_dir: Path,
                                                   tmp_path: Path) -> None:
    from hubmgr.testing.tiny_models import addition_examples

    text = tmp_path / "addition.txt"
    text.write_text("\n".join(addition_examples(40, seed=9, digits=1)))
    trained = evaluate_checkpoint(tiny_gpt2_trained_dir, perplexity_file=text)
    untrained = evaluate_checkpoint(tiny_gpt2_dir, perplexity_file=text)
    assert trained.suite == "perplexity" and trained.n > 100
    assert trained.metrics["perplexity"] < untrained.metrics["perplexity"] / 2
    assert untrained.metrics["perplexity"] > 5  # near uniform over a 20-token vocabulary


def test_missing_config_or_tokenizer_is_named(tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    no_tok = tmp_path / "no-tokenizer"
    shutil.copytree(tiny_gpt2_dir, no_tok)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (no_tok / name).unlink(missing_ok=True)
    with pytest.raises(NotFoundError, match="missing a tokenizer") as info:
        evaluate_checkpoint(no_tok, n=5)
    assert "missing config.json" not in info.value.message and info.value.hint
    no_cfg = tmp_path / "no-config"
    shutil.copytree(tiny_gpt2_dir, no_cfg)
    (no_cfg / "config.json").unlink()
    with pytest.raises(NotFoundError, match="missing config.json"):
        evaluate_checkpoint(no_cfg, n=5)
    weights_only = tmp_path / "weights-only"
    weights_only.mkdir()
    shutil.copy(tiny_gpt2_dir / "model.safetensors", weights_only)
    with pytest.raises(NotFoundError, match="config.json, a tokenizer"):
        evaluate_checkpoint(weights_only / "model.safetensors", n=5)


def test_cancel_stops_before_scoring(tiny_gpt2_dir: Path, catalog: Catalog) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        evaluate_checkpoint(tiny_gpt2_dir, n=5, catalog=catalog, cancel=token)
    assert catalog.list_evals() == []


def _write_trainer_files(directory: Path) -> None:
    state = {
        "global_step": 200, "epoch": 2.0, "max_steps": 200, "best_metric": 0.41,
        "best_model_checkpoint": str(directory / "checkpoint-100"),
        "log_history": [
            {"loss": 2.1, "learning_rate": 0.001, "step": 50, "epoch": 0.5},
            {"eval_loss": 0.55, "eval_accuracy": 0.62, "eval_runtime": 1.2, "step": 100, "epoch": 1.0},
            {"loss": 0.9, "step": 150, "epoch": 1.5},
            {"eval_loss": 0.41, "eval_accuracy": 0.71, "eval_runtime": 1.1, "step": 200, "epoch": 2.0},
        ],
    }
    (directory / "trainer_state.json").write_text(json.dumps(state))
    (directory / "all_results.json").write_text(json.dumps(
        {"epoch": 2.0, "eval_loss": 0.41, "eval_accuracy": 0.71, "train_loss": 1.3, "train_runtime": 9.5,
         "train_samples": 5000, "eval_samples": 500}))
    (directory / "eval_results.json").write_text(json.dumps({"epoch": 2.0, "eval_loss": 0.41, "eval_accuracy": 0.71}))


def test_import_training_metrics(tiny_gpt2_dir: Path, tmp_path: Path, catalog: Catalog) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_gpt2_dir, run)
    _write_trainer_files(run)
    result = import_training_metrics(run, catalog=catalog)
    got = {(m.source, m.metric): m.value for m in result.metrics}
    assert got[("trainer_state", "eval_loss")] == 0.41  # the latest eval of log_history
    assert got[("trainer_state", "eval_accuracy")] == 0.71
    assert got[("trainer_state", "best_metric")] == 0.41
    assert got[("all_results", "train_loss")] == 1.3 and got[("eval_results", "eval_loss")] == 0.41
    assert not any(k[1] in ("epoch", "train_runtime", "train_samples", "eval_runtime") for k in got)
    assert set(result.sources) >= {"trainer_state.json", "all_results.json", "eval_results.json"}
    rows = catalog.list_evals(str(run))
    assert len(rows) == result.recorded == len(result.metrics)
    sha = sha256_file(run / "model.safetensors")
    assert all(r.weights_sha256 == sha and r.suite == "trainer" and r.params["step"] == 200 for r in rows)
    assert all(r.details["num_train_samples"] == 5000 for r in rows)
    # Importing the same files again stores nothing new.
    assert import_training_metrics(run, catalog=catalog).recorded == 0
    assert len(catalog.list_evals(str(run))) == len(rows)


def test_import_without_trainer_files_is_a_clear_error(tiny_gpt2_dir: Path, catalog: Catalog) -> None:
    with pytest.raises(NotFoundError, match="no trainer_state.json"):
        import_training_metrics(tiny_gpt2_dir, catalog=catalog)


def test_classic_pytorch_model_bin_dir_is_evaluated(tiny_gpt2_bin_dir: Path, tiny_gpt2_dir: Path) -> None:
    """transformers loads pytorch_model.bin with weights_only=True; same weights, same answers."""
    from_bin = evaluate_checkpoint(tiny_gpt2_bin_dir, n=20, digits=1, ops="+")
    from_safetensors = evaluate_checkpoint(tiny_gpt2_dir, n=20, digits=1, ops="+")
    assert from_bin.weights_file == "pytorch_model.bin"
    assert from_bin.weights_sha256 == sha256_file(tiny_gpt2_bin_dir / "pytorch_model.bin")
    assert [f.output for f in from_bin.failures] == [f.output for f in from_safetensors.failures]
