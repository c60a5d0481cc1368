"""trainer_state: metrics from trainer_state.json / *_results.json, tolerant of broken files."""

from __future__ import annotations

import json
from pathlib import Path

from hubmgr.formats.trainer_state import checkpoint_step, read_training_metrics

STATE = {
    "global_step": 20, "epoch": 2.0, "max_steps": 20, "best_metric": 1.5, "best_global_step": 10,
    "best_model_checkpoint": "out/checkpoint-10",
    "log_history": [
        {"loss": 3.0, "learning_rate": 1e-3, "step": 10, "epoch": 1.0},
        {"eval_loss": 1.5, "eval_accuracy": 0.5, "step": 10, "epoch": 1.0},
        {"loss": 2.0, "learning_rate": 5e-4, "grad_norm": 1.2, "step": 20, "epoch": 2.0},
        {"eval_loss": 1.7, "step": 20, "epoch": 2.0},
        {"train_runtime": 3.2, "train_loss": 2.5, "step": 20, "epoch": 2.0},
    ],
}


def _write(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else json.dumps(data))


def test_reads_trainer_state_and_results(tmp_path: Path) -> None:
    _write(tmp_path / "trainer_state.json", STATE)
    _write(tmp_path / "all_results.json", {"eval_loss": 1.7, "train_samples": 64, "epoch": 2.0, "eval_bleu": 3.0})
    _write(tmp_path / "eval_results.json", {"eval_loss": 1.7, "eval_samples": 8})
    m = read_training_metrics(tmp_path)
    assert m.global_step == 20 and m.epoch == 2.0 and m.best_metric == 1.5 and m.best_global_step == 10
    assert m.best_model_checkpoint == "out/checkpoint-10"
    # latest value per eval metric; keys only in an earlier eval entry are kept
    assert m.eval_metrics["eval_loss"] == 1.7 and m.eval_metrics["eval_accuracy"] == 0.5
    assert m.eval_metrics["eval_bleu"] == 3.0  # only in all_results
    assert m.eval_step == 20
    assert [row["step"] for row in m.eval_history] == [10.0, 20.0]
    assert m.train_metrics["loss"] == 2.0 and m.train_metrics["train_loss"] == 2.5
    assert m.num_train_samples == 64
    assert m.eval_results == {"eval_loss": 1.7, "eval_samples": 8}
    assert m.sources == ("trainer_state.json", "all_results.json", "eval_results.json")
    assert m.warnings == ()
    assert m.to_dict()["eval_metrics"]["eval_loss"] == 1.7


def test_checkpoint_dir_uses_parent_results_only_for_the_final_step(tmp_path: Path) -> None:
    _write(tmp_path / "trainer_state.json", STATE)
    _write(tmp_path / "all_results.json", {"eval_loss": 1.7, "eval_final": 9.0})
    _write(tmp_path / "checkpoint-20" / "trainer_state.json", STATE)
    early = dict(STATE, global_step=10, log_history=STATE["log_history"][:2])
    _write(tmp_path / "checkpoint-10" / "trainer_state.json", early)
    last = read_training_metrics(tmp_path / "checkpoint-20")
    assert last.results_from_parent and last.eval_metrics["eval_final"] == 9.0
    first = read_training_metrics(tmp_path / "checkpoint-10")
    assert not first.results_from_parent and "eval_final" not in first.eval_metrics
    assert first.eval_metrics == {"eval_loss": 1.5, "eval_accuracy": 0.5}
    assert checkpoint_step(tmp_path / "checkpoint-10") == 10 and checkpoint_step(tmp_path) is None


def test_corrupt_json_gives_warnings_not_crashes(tmp_path: Path) -> None:
    _write(tmp_path / "trainer_state.json", '{"global_step": 3, "log_hist')
    _write(tmp_path / "all_results.json", "[1, 2]")
    _write(tmp_path / "eval_results.json", {"eval_loss": "NaN?", "eval_acc": float("nan"), "eval_f1": 0.25})
    m = read_training_metrics(tmp_path)
    assert m.global_step is None
    assert m.eval_metrics == {"eval_f1": 0.25}
    assert len(m.warnings) == 2
    assert "trainer_state.json" in m.warnings[0] and "invalid JSON" in m.warnings[0]


def test_weird_log_history_entries_are_skipped(tmp_path: Path) -> None:
    _write(tmp_path / "trainer_state.json", {"global_step": "x", "log_history": [None, 3, {"eval_loss": True},
                                                                                 {"eval_loss": 2, "step": 1}]})
    m = read_training_metrics(tmp_path)
    assert m.global_step is None and m.eval_metrics == {"eval_loss": 2.0} and m.eval_step == 1


def test_empty_dir(tmp_path: Path) -> None:
    m = read_training_metrics(tmp_path)
    assert not m.found and m.eval_metrics == {} and m.warnings == ()
