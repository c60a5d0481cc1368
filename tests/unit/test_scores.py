"""'Best' is the best score of one suite and one configuration, never the latest of whatever ran last."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hubmgr.catalog import Catalog
from hubmgr.errors import NotFoundError, UsageError
from hubmgr.evaluate import evaluate_checkpoint
from hubmgr.scores import best_checkpoint, resolve_checkpoint, score_column


@pytest.fixture
def run(tiny_gpt2_dir: Path, tiny_gpt2_trained_dir: Path, tmp_path: Path) -> Path:
    """A run dir whose checkpoint-10 is untrained and checkpoint-20 trained (no Trainer files)."""
    run = tmp_path / "run"
    shutil.copytree(tiny_gpt2_dir, run / "checkpoint-10")
    shutil.copytree(tiny_gpt2_trained_dir, run / "checkpoint-20")
    (run / "checkpoint-20" / "all_results.json").unlink()
    return run


def test_best_is_one_suite_one_configuration(run: Path, tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "c.db")
    one_digit = dict(n=30, digits=1, ops="+", catalog=catalog)
    trained = evaluate_checkpoint(run / "checkpoint-20", **one_digit).metrics["accuracy"]
    untrained = evaluate_checkpoint(run / "checkpoint-10", **one_digit).metrics["accuracy"]
    assert trained > untrained
    # The last thing that ran: another configuration on the untrained checkpoint only.
    evaluate_checkpoint(run / "checkpoint-10", n=5, digits=3, ops="*", catalog=catalog)

    column = score_column(catalog.list_evals())
    assert (column.suite, column.metric) == ("arithmetic", "accuracy") and "digits=1," in column.config
    assert column.get(str(run / "checkpoint-20")) == trained
    assert column.get(str(run / "checkpoint-10")) == untrained  # not the later 3-digit score

    # `hubmgr ls` and the TUI table show the same column, named.
    from hubmgr.testing.cli_runner import run_cli
    from hubmgr.tui.app import read_snapshot

    assert run_cli("--catalog", str(catalog.path), "scan", str(run)).exit_code == 0
    ls = run_cli("--catalog", str(catalog.path), "ls", "--json").json()
    assert ls["scores"] == {str(run / "checkpoint-10"): untrained, str(run / "checkpoint-20"): trained}
    assert ls["score_label"].startswith("accuracy · arithmetic (digits=1,ops=+,n=30,seed=0)")
    human = run_cli("--catalog", str(catalog.path), "ls")
    assert f"{trained:.4g}" in human.stdout and "best metric: accuracy · arithmetic" in human.stderr
    snapshot = read_snapshot(catalog)
    assert {Path(r.path).name: r.best_metric for r in snapshot.rows} == {"checkpoint-10": untrained,
                                                                    "checkpoint-20": trained}
    assert snapshot.score_label == ls["score_label"]

    best = best_checkpoint(run, catalog=catalog)
    assert Path(best.path).name == "checkpoint-20" and best.metric == "accuracy" and best.value == trained
    assert best.better == "higher" and "digits=1," in best.config and "stored arithmetic score" in best.reason
    assert [s.value for s in best.scores] == [untrained, trained]
    path, why = resolve_checkpoint(run, "best", catalog=catalog)
    assert path.name == "checkpoint-20" and why.startswith("best: ")
    assert resolve_checkpoint(run, "last")[0].name == "checkpoint-20"
    assert resolve_checkpoint(run, "10")[0].name == "checkpoint-10"
    with pytest.raises(NotFoundError, match="checkpoint-7"):
        resolve_checkpoint(run, "7")
    with pytest.raises(UsageError):
        resolve_checkpoint(run, "newest")
    with pytest.raises(NotFoundError, match="no eval_loss score"):
        best_checkpoint(run, metric="eval_loss", catalog=catalog)


def test_retrained_weights_drop_their_old_scores(run: Path, tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "c.db")
    for name in ("checkpoint-10", "checkpoint-20"):
        evaluate_checkpoint(run / name, n=20, digits=1, ops="+", catalog=catalog)
    # checkpoint-20 is overwritten with the untrained weights: its high score no longer describes it
    shutil.copy(tiny_gpt2_dir / "model.safetensors", run / "checkpoint-20" / "model.safetensors")
    best = best_checkpoint(run, catalog=catalog)
    assert Path(best.path).name == "checkpoint-10"
    assert [s.value is None for s in best.scores] == [False, True]


def test_trainer_metric_per_checkpoint_step(tmp_path: Path) -> None:
    from hubmgr.testing.checkpoint_factory import run_tiny_trainer

    run = run_tiny_trainer(tmp_path / "run", steps=3)
    best = best_checkpoint(run)
    assert best.metric == "eval_loss" and best.suite == "trainer" and "metric_for_best_model" in best.reason
    values = [s.value for s in best.scores]
    assert None not in values and len(set(values)) == 3  # each checkpoint's own eval, not the run's last
    assert best.value == min(values)
