"""A real transformers.Trainer run -> metric import, eval, card with hyper-parameters, compare of its checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubmgr.cards import write_card
from hubmgr.catalog import Catalog
from hubmgr.compare import compare_checkpoints
from hubmgr.evaluate import evaluate_checkpoint, import_training_metrics


@pytest.fixture(scope="module")
def trainer_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hubmgr.testing.tiny_models import train_with_trainer

    return train_with_trainer(tmp_path_factory.mktemp("trainer") / "run", steps=20, eval_steps=10)


def test_trainer_run_metrics_card_and_compare(trainer_run: Path, tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.db")
    eval_results = json.loads((trainer_run / "eval_results.json").read_text())

    imported = import_training_metrics(trainer_run, catalog=catalog)
    got = {(m.source, m.metric): m.value for m in imported.metrics}
    assert got[("eval_results", "eval_loss")] == eval_results["eval_loss"]
    assert got[("trainer_state", "eval_loss")] == eval_results["eval_loss"]  # the final evaluate() is logged too
    assert ("trainer_state", "best_eval_loss") in got  # metric_for_best_model read from training_args.bin
    assert ("all_results", "train_loss") in got

    scored = evaluate_checkpoint(trainer_run, n=30, digits=1, ops="+", catalog=catalog)
    assert scored.n == 30 and scored.imported is not None and scored.imported.recorded == 0  # already imported

    card = write_card(trainer_run, license="apache-2.0", catalog=catalog)
    text = (trainer_run / "README.md").read_text()
    for row in ("| learning_rate | 0.003 |", "| max_steps | 20 |", "| per_device_train_batch_size | 32 |",
                "| metric_for_best_model | eval_loss |", "| lr_scheduler_type | linear |"):
        assert row in text
    assert "Training examples: 256" in text and "Optimizer steps: 20" in text
    from huggingface_hub import ModelCard

    results = ModelCard.load(trainer_run / "README.md").data.eval_results
    by_type = {r.metric_type: r.metric_value for r in results}
    assert card.eval_results == len(results) == 2
    assert by_type["loss"] == eval_results["eval_loss"] and by_type["accuracy"] == scored.metrics["accuracy"]

    first, last = trainer_run / "checkpoint-10", trainer_run / "checkpoint-20"
    # The Trainer saved these without a tokenizer: the run dir's tokenizer is used (and recorded).
    assert not (first / "tokenizer.json").exists()
    early = evaluate_checkpoint(first, n=10, digits=1, ops="+", catalog=catalog)
    assert early.params["tokenizer_from"] == str(trainer_run) and early.imported is not None
    result = compare_checkpoints([first, last], catalog=catalog)
    rows = {r.label: r for r in result.rows}
    loss = rows["eval_loss (trainer)"]
    state = json.loads((last / "trainer_state.json").read_text())
    evals = [e["eval_loss"] for e in state["log_history"] if "eval_loss" in e]
    assert loss.values == (evals[0], evals[-1]) and loss.better == "lower"
    assert loss.best == ((0,) if evals[0] < evals[-1] else (1,))
    assert rows["steps"].values == (10.0, 20.0)
