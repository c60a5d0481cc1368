"""Issue 11 point 1: pushing a Trainer output dir (as Trainer.push_to_hub would, or one checkpoint with
--checkpoint best|last|N), training_args.bin read statically into JSON, dry run == real run, and a
refused push leaving the user's folder untouched. Real Trainer runs, real git + git-lfs, the real CLI."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from hubmgr.testing import checkpoint_factory as cf

pytest.importorskip("accelerate")
pytestmark = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is required (apt-get install git-lfs)")

MODEL = {"config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"}


@pytest.fixture(scope="module")
def trainer_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cf.run_tiny_trainer(tmp_path_factory.mktemp("trainer") / "run-3", steps=3)


@pytest.fixture
def run(trainer_run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(trainer_run, tmp_path / "run-3"))


def _tree(root: Path) -> dict[str, tuple[int, int, int]]:
    """Size, mtime and ctime (a hard link would move ctime and void the cached sha256 of the weights)."""
    return {p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns, p.stat().st_ctime_ns)
            for p in root.rglob("*")}


def _ok(result):
    assert result.exit_code == 0, f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}"
    return result.json()


def _pulled(run_cli, spec: str, dest: Path) -> dict[str, bytes]:
    _ok(run_cli("pull", spec, "--dest", str(dest), "--json"))
    cur = dest / "current"
    return {p.name: p.read_bytes() for p in cur.iterdir() if p.name not in ("hubmgr.lock.json", ".gitattributes")}


def test_push_of_a_trainer_dir_is_the_final_model_like_push_to_hub(run_cli, run: Path, tmp_path: Path) -> None:
    (run / "_scratch.txt").write_text("private notes")
    before = _tree(run)
    doc = _ok(run_cli("push", str(run), "local:adder", "--json"))
    pushed = set(doc["files_uploaded"])
    assert MODEL | {"README.md", "training_args.json", "trainer_state.json"} <= pushed
    assert not any(p.startswith(("checkpoint-", "_")) or p.endswith((".pt", ".pth", ".bin")) for p in pushed)
    left = {item["path"]: item["reason"] for item in doc["plan"]["left_out"]}
    assert "pushed as training_args.json" in left["training_args.bin"]
    assert left["checkpoint-1/, checkpoint-2/, checkpoint-3/"].startswith("Trainer checkpoints are not the model")
    assert left["_scratch.txt"].startswith("starts with '_'")
    assert _tree(run) == before  # nothing written into the run (the card was generated in staging)

    files = _pulled(run_cli, "local:adder", tmp_path / "srv")
    assert files["model.safetensors"] == (run / "model.safetensors").read_bytes()
    args = json.loads(files["training_args.json"])
    assert args["metric_for_best_model"] == "eval_loss" and args["max_steps"] == 3
    assert args["lr_scheduler_type"] == "linear" and args["eval_strategy"] == "steps"  # enums as their values
    assert args["hub_token"] == "<HUB_TOKEN>" and "distributed_state" not in args


@pytest.mark.parametrize("which,step", [("best", None), ("last", 3), ("2", 2)])
def test_checkpoint_choice_pushes_that_checkpoint_and_says_why(run_cli, run: Path, tmp_path: Path, which: str,
                                                               step: int | None) -> None:
    state = json.loads((run / "trainer_state.json").read_text())
    if step is None:  # best = the Trainer's own best_model_checkpoint by its metric (eval_loss, lower)
        step = int(state["best_model_checkpoint"].rsplit("-", 1)[1])
    dry = _ok(run_cli("push", str(run), "local:adder", "--checkpoint", which, "--dry-run", "--json"))
    real = _ok(run_cli("push", str(run), "local:adder", "--checkpoint", which, "--json"))
    for doc in (dry, real):
        assert Path(doc["plan"]["checkpoint"]).name == f"checkpoint-{step}"
        assert {f["path"] for f in doc["plan"]["upload"]} == MODEL | {"README.md", "training_args.json"}
    reason = real["plan"]["checkpoint_reason"]
    assert {"best": "lowest eval_loss", "last": "highest step", "2": "asked"}[which] in reason
    if which == "best":
        assert "metric_for_best_model" in reason
    # dry run == real run: same files, same bytes (the card too)
    assert [(f["path"], f["sha256"]) for f in dry["plan"]["upload"]] == \
        [(f["path"], f["sha256"]) for f in real["plan"]["upload"]]
    files = _pulled(run_cli, "local:adder", tmp_path / "srv")
    assert files["model.safetensors"] == (run / f"checkpoint-{step}" / "model.safetensors").read_bytes()
    assert set(files) == MODEL | {"README.md", "training_args.json"}

    human = run_cli("push", str(run), "local:other", "--checkpoint", which, "--dry-run")
    assert f"checkpoint: checkpoint-{step}" in human.stdout and "optimizer.pt" in human.stdout


def test_best_by_another_metric_and_tokenizer_from_the_top_level(run_cli, run: Path) -> None:
    state = json.loads((run / "checkpoint-3" / "trainer_state.json").read_text())
    runtime = {int(e["step"]): e["eval_runtime"] for e in state["log_history"] if "eval_runtime" in e}
    fastest = min(runtime, key=lambda s: (runtime[s], -s))  # ties: the later checkpoint
    for name in ("tokenizer.json", "tokenizer_config.json"):
        for ckpt in run.glob("checkpoint-*"):
            (ckpt / name).unlink()
    doc = _ok(run_cli("push", str(run), "local:adder", "--checkpoint", "best", "--best-by", "eval_runtime",
                      "--dry-run", "--json"))
    assert Path(doc["plan"]["checkpoint"]).name == f"checkpoint-{fastest}"
    assert "lowest eval_runtime" in doc["plan"]["checkpoint_reason"] and "asked" in doc["plan"]["checkpoint_reason"]
    origins = {f["path"]: f["origin"] for f in doc["plan"]["upload"]}
    assert origins["tokenizer.json"] == "tokenizer.json"  # taken from the run's top level
    assert origins["model.safetensors"] == f"checkpoint-{fastest}/model.safetensors"


def test_checkpoint_errors_are_usage_errors(run_cli, run: Path, tmp_path: Path) -> None:
    missing = run_cli("push", str(run), "local:adder", "--checkpoint", "99")
    assert missing.exit_code == 1 and "no checkpoint-99" in missing.stderr
    model = tmp_path / "plain"
    model.mkdir()
    (model / "config.json").write_text("{}")
    plain = run_cli("push", str(model), "local:adder", "--checkpoint", "best")
    assert plain.exit_code == 2 and "no checkpoint-N dirs" in plain.stderr
    best_by = run_cli("push", str(run), "local:adder", "--best-by", "eval_loss")
    assert best_by.exit_code == 2 and "--checkpoint best" in best_by.stderr


def test_refused_push_writes_nothing_and_dry_run_refuses_the_same(run_cli, tiny_gpt2_bin_dir: Path,
                                                                  tmp_path: Path) -> None:
    folder = Path(shutil.copytree(tiny_gpt2_bin_dir, tmp_path / "old"))
    (folder / "extra_state.pt").write_bytes((folder / "pytorch_model.bin").read_bytes()[:4096])
    before = _tree(folder)
    for extra in ([], ["--dry-run"]):  # the dry run refuses exactly what the real run refuses
        refused = run_cli("push", str(folder), "local:old", *extra)
        assert refused.exit_code == 1 and "pytorch_model.bin" in refused.stderr and "--convert" in refused.stderr
    assert _tree(folder) == before  # no README.md left behind by a refused push
    assert not list((Path(os.environ["HUBMGR_HOME"]) / "staging").iterdir())
    dry = _ok(run_cli("push", str(folder), "local:old", "--convert", "--dry-run", "--json"))
    real = _ok(run_cli("push", str(folder), "local:old", "--convert", "--json"))
    assert dry["converted"] == real["converted"] == ["pytorch_model.bin"]
    assert [(f["path"], f["sha256"]) for f in dry["plan"]["upload"]] == \
        [(f["path"], f["sha256"]) for f in real["plan"]["upload"]]
    assert "model.safetensors" in real["files_uploaded"] and "pytorch_model.bin" not in real["files_uploaded"]
    left = {i["path"]: i["reason"] for i in real["plan"]["left_out"]}
    assert left == {"extra_state.pt": "a pickle that is not model weights: not converted"}
    assert _tree(folder) == before
