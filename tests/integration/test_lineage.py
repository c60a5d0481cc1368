"""Issue 15 part 3: lineage recorded, not typed by hand.

A real Trainer run inside a real git repository; scan records where each checkpoint came from;
a pickle saved from the run is converted; inspect --json shows the whole chain; the card fills
base_model and a Provenance section from it; push carries that card.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def trainer_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hubmgr.testing.tiny_models import train_with_trainer

    return train_with_trainer(tmp_path_factory.mktemp("trainer") / "run", n_examples=64, eval_examples=16,
                              steps=8, eval_steps=4)


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _ok(run):
    assert run.exit_code == 0, f"exit {run.exit_code}\nstdout: {run.stdout}\nstderr: {run.stderr}"
    return run.json()


def test_trainer_run_convert_push_lineage_is_shown_by_inspect(trainer_run: Path, tmp_path: Path, run_cli) -> None:
    import torch
    from safetensors.torch import load_file

    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text("print('training')\n")
    _git(project, "init", "-q")
    _git(project, "add", "train.py")
    _git(project, "commit", "-q", "-m", "training code")
    code_commit = _git(project, "rev-parse", "HEAD")
    run = Path(shutil.copytree(trainer_run, project / "runs" / "run-64"))
    config = json.loads((run / "config.json").read_text())
    config["_name_or_path"] = "openai-community/gpt2"  # what from_pretrained("openai-community/gpt2") leaves
    (run / "config.json").write_text(json.dumps(config))
    weights = load_file(run / "model.safetensors")
    torch.save(weights, run / "model_weights.pth")  # the tutorial way, from the same run
    (project / "train.py").write_text("print('training, changed after the run')\n")  # code now dirty

    _ok(run_cli("scan", str(project), "--json"))
    checkpoints = sorted(p for p in run.iterdir() if p.name.startswith("checkpoint-"))
    assert len(checkpoints) == 2
    first, last = checkpoints

    info = _ok(run_cli("inspect", str(last), "--json"))
    lineage = info["lineage"]
    assert lineage["run"] == str(run.resolve())
    assert lineage["parent"] == str(first.resolve())
    assert lineage["base_model"] is None  # that checkpoint's config.json was written by the Trainer, unedited
    assert lineage["code"] == {"repo": str(project.resolve()), "commit": code_commit, "dirty": True}

    top = _ok(run_cli("inspect", str(run), "--json"))["lineage"]
    assert top["base_model"] == "openai-community/gpt2"
    assert "64 training samples" in top["training"] and "8 steps" in top["training"]
    assert top["run"] is None and top["parent"] is None

    # the code commit recorded at scan time stays even after the code moves on
    _git(project, "commit", "-q", "-am", "later change")
    assert _ok(run_cli("inspect", str(last), "--json"))["lineage"]["code"]["commit"] == code_commit

    converted = _ok(run_cli("convert", str(run / "model_weights.pth"), "--json"))
    out = Path(converted["output"])
    chain = _ok(run_cli("inspect", str(out), "--json"))["lineage"]
    assert chain["converted_from"]["source"] == str((run / "model_weights.pth").resolve())
    assert chain["converted_from"]["source_sha256"] == converted["source_sha256"]
    assert chain["converted_from"]["outputs"][0]["sha256"] == converted["files"][0]["sha256"]

    human = run_cli("inspect", str(out))
    assert "converted" in human.stdout and converted["source_sha256"][:12] in human.stdout

    # the card of the run: base_model in the metadata, a Provenance section, no local paths
    _ok(run_cli("card", str(run), "--license", "apache-2.0", "--dataset", "hubmgr/arithmetic", "--json"))
    card = (run / "README.md").read_text()
    assert "base_model: openai-community/gpt2" in card
    assert "- hubmgr/arithmetic" in card
    assert "## Provenance" in card and "64 training samples" in card and "project @ " in card
    assert str(tmp_path) not in card

    pushed = _ok(run_cli("push", str(run), "local:run-64", "--exclude", "*.pth", "--exclude", "training_args.bin",
                         "--exclude", "checkpoint-*", "--json"))
    dest = tmp_path / "deploy"
    _ok(run_cli("pull", f"local:run-64@{pushed['commit_sha']}", "--dest", str(dest), "--json"))
    deployed = (dest / "current" / "README.md").read_text()
    assert "## Provenance" in deployed and "base_model: openai-community/gpt2" in deployed
