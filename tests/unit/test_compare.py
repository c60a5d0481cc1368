"""compare: stored scores side by side, best per row, lower-is-better for losses."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hubmgr.catalog import Catalog
from hubmgr.compare import best_indexes, better_direction, compare_checkpoints
from hubmgr.errors import UsageError
from hubmgr.evaluate import evaluate_checkpoint


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog(tmp_path / "catalog.db")


def _with_trainer_results(src: Path, dest: Path, *, eval_loss: float, samples: int, steps: int) -> Path:
    shutil.copytree(src, dest)
    (dest / "trainer_state.json").write_text(json.dumps({
        "global_step": steps, "epoch": 1.0,
        "log_history": [{"eval_loss": eval_loss, "eval_runtime": 0.5, "step": steps, "epoch": 1.0}],
    }))
    (dest / "all_results.json").write_text(json.dumps({"eval_loss": eval_loss, "train_samples": samples}))
    return dest


def test_directions_and_best() -> None:
    assert better_direction("eval_loss") == "lower" and better_direction("perplexity") == "lower"
    assert better_direction("accuracy") == "higher" and better_direction("eval_accuracy") == "higher"
    assert best_indexes([0.2, 0.7, None], "higher") == (1,)
    assert best_indexes([0.2, 0.7, 0.2], "lower") == (0, 2)
    assert best_indexes([0.5, 0.5], "higher") == ()  # a tie everywhere marks nothing
    assert best_indexes([0.5, None], "higher") == ()  # nothing to compare with


def test_compare_marks_the_best_checkpoint_per_row(tiny_gpt2_dir: Path, tiny_gpt2_trained_dir: Path,
                                                   tmp_path: Path, catalog: Catalog) -> None:
    untrained = _with_trainer_results(tiny_gpt2_dir, tmp_path / "arith-0", eval_loss=2.9, samples=0, steps=0)
    trained = _with_trainer_results(tiny_gpt2_trained_dir, tmp_path / "arith-1k", eval_loss=0.6, samples=1000,
                                    steps=300)
    for d in (untrained, trained):
        evaluate_checkpoint(d, n=40, digits=1, ops="+", catalog=catalog)
    result = compare_checkpoints([untrained, trained], catalog=catalog)
    assert result.paths == (str(untrained), str(trained))
    rows = {r.label: r for r in result.rows}
    acc = next(r for label, r in rows.items() if label.startswith("accuracy: arithmetic"))
    assert acc.better == "higher" and acc.best == (1,) and acc.values[1] > acc.values[0]
    loss = rows["eval_loss (trainer)"]  # imported from the Trainer files, one row despite three copies
    assert loss.values == (2.9, 0.6) and loss.better == "lower" and loss.best == (1,)
    assert rows["training examples"].values == (0.0, 1000.0) and rows["training examples"].best == ()
    assert rows["steps"].values == (0.0, 300.0)
    assert rows["size (bytes)"].values[0] > 400_000
    assert "eval_runtime (trainer)" not in rows  # bookkeeping, not a score


def test_compare_warns_about_unscored_and_stale_checkpoints(tiny_gpt2_dir: Path, tiny_gpt2_trained_dir: Path,
                                                            tmp_path: Path, catalog: Catalog) -> None:
    a = Path(shutil.copytree(tiny_gpt2_trained_dir, tmp_path / "a"))
    b = Path(shutil.copytree(tiny_gpt2_dir, tmp_path / "b"))
    (a / "all_results.json").unlink()
    evaluate_checkpoint(a, n=10, digits=1, ops="+", catalog=catalog)
    shutil.copy(tiny_gpt2_dir / "model.safetensors", a / "model.safetensors")  # a was retrained since
    result = compare_checkpoints([a, b], catalog=catalog)
    assert any("measured on other weights" in w for w in result.warnings)
    assert any(f"run `hubmgr eval {b}`" in w for w in result.warnings)
    assert all(not r.label.startswith("accuracy") for r in result.rows)
    with pytest.raises(UsageError, match="at least two"):
        compare_checkpoints([a], catalog=catalog)
