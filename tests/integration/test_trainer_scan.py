"""A real 2-step transformers.Trainer run (CPU, tiny GPT-2), then scan + inspect its output dir."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubmgr import checkpoints as ck
from hubmgr.catalog import Catalog
from hubmgr.testing import checkpoint_factory as cf
from hubmgr.formats.trainer_state import read_training_metrics

pytest.importorskip("accelerate")


@pytest.fixture(scope="module")
def trainer_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cf.run_tiny_trainer(tmp_path_factory.mktemp("trainer") / "out", steps=2)


def test_trainer_output_has_checkpoints(trainer_run: Path) -> None:
    assert (trainer_run / "checkpoint-1" / "trainer_state.json").exists()
    assert (trainer_run / "checkpoint-2" / "trainer_state.json").exists()


def test_read_training_metrics_of_real_run(trainer_run: Path) -> None:
    state = json.loads((trainer_run / "checkpoint-2" / "trainer_state.json").read_text())
    evals = [e for e in state["log_history"] if "eval_loss" in e]
    m = read_training_metrics(trainer_run / "checkpoint-2")
    assert m.global_step == 2 and m.best_metric == state["best_metric"]
    assert m.best_model_checkpoint == state["best_model_checkpoint"]
    assert m.eval_metrics["eval_loss"] == evals[-1]["eval_loss"]
    assert len(m.eval_history) == 2 and m.metric_for_best == "eval_loss" and m.greater_is_better is False
    assert m.results_from_parent and m.all_results["eval_loss"] > 0 and m.num_train_samples == 12
    first = read_training_metrics(trainer_run / "checkpoint-1")
    assert first.global_step == 1 and not first.results_from_parent and len(first.eval_history) == 1
    top = read_training_metrics(trainer_run)
    assert top.eval_results["eval_samples"] == 4 and top.all_results["train_samples"] == 12


def test_scan_trainer_output_dir(trainer_run: Path, tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.db")
    result = ck.scan([trainer_run.parent], catalog=catalog)
    by_name = {c.name: c for c in result.checkpoints}
    assert set(by_name) == {"out", "out/checkpoint-1", "out/checkpoint-2"}, result.warnings
    for step in (1, 2):
        info = by_name[f"out/checkpoint-{step}"]
        state = json.loads((trainer_run / f"checkpoint-{step}" / "trainer_state.json").read_text())
        assert (info.kind, info.format, info.step) == ("trainer_checkpoint", "safetensors", step)
        assert info.best_metric == state["best_metric"]
        assert info.metrics["eval_loss"] == [e for e in state["log_history"] if "eval_loss" in e][-1]["eval_loss"]
        assert "eval_runtime" not in info.metrics
        assert info.extra["trainer"]["best_model_checkpoint"] == state["best_model_checkpoint"]
        # the dir's verdict is the worst of all its pickles, each named in per_file
        assert info.safety.per_file["optimizer.pt"] == "safe" and info.safety.per_file["rng_state.pth"] == "safe"
        assert info.safety.per_file["training_args.bin"] == "needs_code"
        assert info.safety.verdict == "needs_code" and info.model_type == "gpt2" and info.has_tokenizer
        assert "transformers.training_args.TrainingArguments" in info.safety.classes_needed
        assert {"optimizer.pt", "trainer_state.json", "model.safetensors"} <= {f.path for f in info.files}
    out = by_name["out"]
    assert out.kind == "hf_model" and out.step == 2 and out.metrics["eval_loss"] > 0
    assert out.extra["trainer"]["num_train_samples"] == 12
    assert ck.scan([trainer_run.parent], catalog=catalog).files_hashed == 0
