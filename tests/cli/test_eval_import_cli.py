"""`hubmgr eval import FILE`: lm-evaluation-harness results written by lm_eval's own EvaluationTracker (a real
offline run on a tiny local task) and evaluate.save JSON, into the catalog and a valid model-index."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hubmgr.catalog import Catalog
from hubmgr.formats.hashing import sha256_file
from hubmgr.hf.card import parse_card


@pytest.fixture(scope="module")
def lm_eval_run(tiny_gpt2_trained_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(model dir, results_*.json) of a real lm_eval run on that model."""
    base = tmp_path_factory.mktemp("lm-eval")
    model = Path(shutil.copytree(tiny_gpt2_trained_dir, base / "adder"))
    out = subprocess.run([sys.executable, "-m", "hubmgr.testing.lm_eval_results", str(model), str(base / "work")],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return model, Path(out.stdout.strip().splitlines()[-1])


def test_lm_eval_results_into_catalog_and_card(run_cli, lm_eval_run: tuple[Path, Path], tmp_path: Path) -> None:
    model, results = lm_eval_run
    doc = json.loads(results.read_text())
    value = doc["results"]["tiny_arith"]["exact_match,none"]
    db = str(tmp_path / "c.db")
    run = run_cli("--catalog", db, "eval", "import", str(results), "--json")
    assert run.exit_code == 0, run.stderr
    got = run.json()
    assert got["path"] == str(model) and got["recorded"] == 1
    assert got["weights_sha256"] == sha256_file(model / "model.safetensors")
    assert [(m["metric"], m["value"]) for m in got["metrics"]] == [("tiny_arith/exact_match", value)]
    again = run_cli("--catalog", db, "eval", "import", str(results), "--json").json()
    assert again["recorded"] == 0  # same file: nothing new
    [rec] = [r for r in Catalog(db).list_evals(str(model)) if r.suite == "lm-eval"]
    assert rec.params["task"] == "tiny_arith" and rec.params["num_fewshot"] == 0 and rec.params["split"] == "test"
    assert rec.params["n"] == 12 and rec.details["stderr"] is not None

    # The same problems through hubmgr's own scorer give the same exact match.
    data = next(results.parent.parent.parent.glob("tiny_arith.jsonl"))
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    jsonl = tmp_path / "same.jsonl"
    jsonl.write_text("".join(json.dumps({"prompt": r["question"], "answer": r["answer"]}) + "\n" for r in rows))
    own = run_cli("--catalog", db, "eval", str(model), "--data", str(jsonl), "--json")
    assert own.exit_code == 0, own.stderr
    assert own.json()["metrics"]["exact_match"] == value > 0

    card = run_cli("--catalog", db, "card", str(model), "--repo-id", "alice/adder", "--json")
    assert card.exit_code == 0, card.stderr
    meta, evals = parse_card((model / "README.md").read_text())  # huggingface_hub's own reading
    imported = [e for e in evals if e.dataset_type == "tiny_arith"]
    assert len(imported) == 1
    e = imported[0]
    assert (e.task_type, e.dataset_name, e.dataset_split, e.metric_type, e.metric_name, e.metric_value) == (
        "text-generation", "tiny_arith (0-shot)", "test", "exact_match", "exact match", value)
    assert meta["model-index"][0]["name"] == "alice/adder"
    assert "| lm-eval | tiny_arith (0-shot) | exact_match |" in (model / "README.md").read_text()


def test_results_naming_a_hub_model_need_model_flag(run_cli, lm_eval_run: tuple[Path, Path], tmp_path: Path) -> None:
    model, results = lm_eval_run
    doc = json.loads(results.read_text())
    doc["config"]["model_args"] = "pretrained=EleutherAI/pythia-70m,dtype=float32"
    moved = tmp_path / "results_hub.json"
    moved.write_text(json.dumps(doc))
    db = str(tmp_path / "c.db")
    run = run_cli("--catalog", db, "eval", "import", str(moved))
    assert run.exit_code == 1 and "EleutherAI/pythia-70m" in run.stderr and "--model PATH" in run.stderr
    run = run_cli("--catalog", db, "eval", "import", str(moved), "--model", str(model), "--json")
    assert run.exit_code == 0 and run.json()["recorded"] == 1
    (tmp_path / "junk.json").write_text('{"hello": 1}')
    bad = run_cli("--catalog", db, "eval", "import", str(tmp_path / "junk.json"))
    assert bad.exit_code == 1 and "neither an lm-eval results file" in bad.stderr


def test_evaluate_save_json(run_cli, tiny_gpt2_trained_dir: Path, tmp_path: Path) -> None:
    import evaluate

    model = Path(shutil.copytree(tiny_gpt2_trained_dir, tmp_path / "adder"))
    saved = Path(evaluate.save(str(tmp_path / "results") + "/", accuracy=0.75, f1=0.7, experiment="heldout-arith",
                               dataset="alice/arith-heldout", split="test", learning_rate=3e-4, seed=1))
    db = str(tmp_path / "c.db")
    run = run_cli("--catalog", db, "eval", "import", str(saved), "--model", str(model), "--json")
    assert run.exit_code == 0, run.stderr
    doc = run.json()
    # settings saved next to the scores (learning_rate, seed) are not scores
    assert sorted((m["metric"], m["value"]) for m in doc["metrics"]) == [("heldout-arith/accuracy", 0.75),
                                                                        ("heldout-arith/f1", 0.7)]
    assert run_cli("--catalog", db, "card", str(model)).exit_code == 0
    _, evals = parse_card((model / "README.md").read_text())
    assert {(e.dataset_type, e.metric_type, e.metric_name, e.metric_value) for e in evals
            if e.dataset_type == "alice/arith-heldout"} == {("alice/arith-heldout", "accuracy", "accuracy", 0.75),
                                                            ("alice/arith-heldout", "f1", "F1", 0.7)}


def test_compare_shows_the_best_of_one_configuration(run_cli, lm_eval_run: tuple[Path, Path],
                                                     tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    model, results = lm_eval_run
    other = Path(shutil.copytree(tiny_gpt2_dir, tmp_path / "untrained"))
    doc = json.loads(results.read_text())
    value = doc["results"]["tiny_arith"]["exact_match,none"]
    doc["results"]["tiny_arith"]["exact_match,none"] = value / 2  # a later, worse run of the same configuration
    rerun = tmp_path / "results_rerun.json"
    rerun.write_text(json.dumps(doc))
    db = str(tmp_path / "c.db")
    for args in ((str(results),), (str(rerun), "--model", str(model)), (str(rerun), "--model", str(other))):
        assert run_cli("--catalog", db, "eval", "import", *args).exit_code == 0
    res = run_cli("--catalog", db, "compare", str(model), str(other), "--json")
    assert res.exit_code == 0, res.stderr
    [row] = [r for r in res.json()["rows"] if "tiny_arith" in r["label"]]
    assert row["label"].startswith("exact_match: tiny_arith (0-shot) [lm-eval ")
    assert row["values"] == [value, value / 2] and row["best"] == [0] and row["better"] == "higher"
