"""`hubmgr eval`, `hubmgr card`, `hubmgr compare` through the real CLI entry point."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hubmgr.catalog import Catalog


@pytest.fixture
def model_dir(tiny_gpt2_trained_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_gpt2_trained_dir, tmp_path / "arith-1k"))


def test_eval_json_stores_the_score(run_cli, model_dir: Path, tmp_path: Path) -> None:
    db = tmp_path / "cat.db"
    run = run_cli("--catalog", str(db), "eval", str(model_dir), "--n", "30", "--digits", "1", "--ops", "+", "--json")
    assert run.exit_code == 0, run.stderr
    doc = run.json()
    assert doc["suite"] == "arithmetic" and doc["n"] == 30 and 0.3 <= doc["metrics"]["accuracy"] <= 1
    assert doc["params"]["digits"] == "1" and doc["params"]["ops"] == "+" and doc["runtime_seconds"] > 0
    assert all(set(f) == {"prompt", "expected", "predicted", "output"} for f in doc["failures"])
    assert doc["imported"]["sources"] == ["all_results.json"]  # the run's all_results.json came along
    stored = [r for r in Catalog(db).list_evals(str(model_dir)) if r.source == "hubmgr"]
    assert [r.value for r in stored] == [doc["metrics"]["accuracy"]]


def test_eval_human_output_and_missing_tokenizer(run_cli, model_dir: Path, tmp_path: Path) -> None:
    run = run_cli("--catalog", str(tmp_path / "c.db"), "eval", str(model_dir), "--n", "20", "--digits", "1")
    assert run.exit_code == 0, run.stderr
    assert "arithmetic accuracy:" in run.stdout and "/20 correct" in run.stdout and "failures" in run.stdout
    (model_dir / "tokenizer.json").unlink()
    (model_dir / "tokenizer_config.json").unlink()
    run = run_cli("--catalog", str(tmp_path / "c.db"), "eval", str(model_dir), "--n", "5", "--json")
    assert run.exit_code == 1
    assert "missing a tokenizer" in run.stderr and "hint:" in run.stderr
    assert json.loads(run.stdout)["error"]["type"] == "NotFoundError"
    run = run_cli("eval", str(model_dir), "--digits", "0-3")
    assert run.exit_code == 2 and "out of range" in run.stderr


def test_card_and_compare(run_cli, model_dir: Path, tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    db = str(tmp_path / "cat.db")
    other = Path(shutil.copytree(tiny_gpt2_dir, tmp_path / "untrained"))
    for d in (model_dir, other):
        assert run_cli("--catalog", db, "eval", str(d), "--n", "20", "--digits", "1", "--ops", "+").exit_code == 0
    run = run_cli("--catalog", db, "card", str(model_dir), "--license", "mit", "--language", "en",
                  "--dataset", "alice/arith-1k", "--json")
    assert run.exit_code == 0, run.stderr
    doc = run.json()
    assert doc["created"] and doc["eval_results"] == 1 and doc["metadata"]["license"] == "mit"
    assert (model_dir / "README.md").read_text().startswith("---\nlicense: mit\n")
    run = run_cli("--catalog", db, "card", str(model_dir))
    assert run.exit_code == 0 and "updated" in run.stdout and "evaluation: refreshed" in run.stdout

    run = run_cli("--catalog", db, "card", str(other), "--license", "Apache License")
    assert run.exit_code == 1 and "not a Hub license id" in run.stderr and not (other / "README.md").exists()

    run = run_cli("--catalog", db, "compare", str(other), str(model_dir), "--json")
    assert run.exit_code == 0, run.stderr
    rows = {r["label"]: r for r in run.json()["rows"]}
    acc = next(r for label, r in rows.items() if label.startswith("accuracy"))
    assert acc["best"] == [1] and acc["better"] == "higher"
    run = run_cli("--catalog", db, "compare", str(other), str(model_dir))
    assert run.exit_code == 0 and " *" in run.stdout and "higher is better" in run.stdout
    run = run_cli("--catalog", db, "compare", str(other))
    assert run.exit_code == 2 and "at least two" in run.stderr


@pytest.mark.parametrize("command", ["eval", "card", "compare"])
def test_help_has_examples(run_cli, command: str) -> None:
    run = run_cli(command, "--help")
    assert run.exit_code == 0 and "Examples:" in run.stdout and f"hubmgr {command} " in run.stdout
