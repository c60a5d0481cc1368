"""Issue 11 journey: two real tiny Trainer runs -> scan -> eval -> compare -> push RUN --checkpoint best to the
Hub test server and to local: -> pull -> transformers loads DEST/current and answers. Every step is the real
CLI (run_cli, in-process) over a real catalog, real git + git-lfs and the real huggingface_hub client."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("accelerate")
pytest.importorskip("huggingface_hub")
pytestmark = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is required (apt-get install git-lfs)")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """runs/run-a (40 steps) and runs/run-b (60 steps): checkpoint-N every 20 steps, tokenizer only at the top."""
    from hubmgr.testing.tiny_models import train_with_trainer

    root = tmp_path_factory.mktemp("journey") / "runs"
    train_with_trainer(root / "run-a", steps=40, eval_steps=20, seed=0)
    train_with_trainer(root / "run-b", steps=60, eval_steps=20, seed=1, lr=5e-3)
    return root


def _ok(result):
    assert result.exit_code == 0, f"exit {result.exit_code}\nstdout: {result.stdout}\nstderr: {result.stderr}"
    return result.json()


def _answer(dest: Path, prompt: str) -> str:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    current = dest / "current"
    model = AutoModelForCausalLM.from_pretrained(current)
    tokenizer = AutoTokenizer.from_pretrained(current)
    enc = tokenizer([prompt], return_tensors="pt")
    out = model.generate(**enc, max_new_tokens=3, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    new = out[0, enc["input_ids"].shape[1]:].tolist()
    return "".join(tokenizer.convert_ids_to_tokens(new, skip_special_tokens=True))  # char tokens, no spaces


def test_trainer_journey_scan_eval_compare_push_best_pull_and_generate(runs: Path, run_cli, hub_server,
                                                                        monkeypatch, tmp_path: Path) -> None:
    from hubmgr.testing.hub_server import ALICE_WRITE_TOKEN

    monkeypatch.setenv("HF_TOKEN", ALICE_WRITE_TOKEN)
    before = {p: p.stat().st_mtime_ns for p in runs.rglob("*")}

    scanned = _ok(run_cli("scan", str(runs), "--json"))
    names = {Path(c["path"]).relative_to(runs).as_posix() for c in scanned["checkpoints"]}
    ckpts = sorted(n for n in names if "/checkpoint-" in n)
    assert {"run-a", "run-b"} <= names and len(ckpts) == 4, names  # save_total_limit=2 per run

    for name in ckpts:
        _ok(run_cli("eval", str(runs / name), "--n", "24", "--digits", "1", "--ops", "+", "--json"))
    compared = _ok(run_cli("compare", *(str(runs / n) for n in ckpts), "--json"))
    assert len(compared["paths"]) == 4 and compared["rows"]

    run = runs / "run-b"
    state = json.loads((run / "trainer_state.json").read_text())
    best = Path(state["best_model_checkpoint"]).name  # the Trainer's own best by eval_loss
    plan = _ok(run_cli("push", str(run), "alice/adder", "--checkpoint", "best", "--dry-run", "--json"))["plan"]
    assert Path(plan["checkpoint"]).name == best and "metric_for_best_model" in plan["checkpoint_reason"]

    hub = _ok(run_cli("push", str(run), "alice/adder", "--checkpoint", "best", "--json"))
    local = _ok(run_cli("push", str(run), "local:adder", "--checkpoint", "best", "--json"))
    assert [(f["path"], f["sha256"]) for f in hub["plan"]["upload"]] == \
        [(f["path"], f["sha256"]) for f in plan["upload"]]  # the Hub push did what its dry run planned
    for pushed in (hub, local):
        assert Path(pushed["plan"]["checkpoint"]).name == best
        assert {"model.safetensors", "config.json", "tokenizer.json", "README.md"} <= set(pushed["files_uploaded"])
        assert not any(p.endswith((".pt", ".pth", ".bin")) for p in pushed["files_uploaded"])

    weights = (run / best / "model.safetensors").read_bytes()
    answers = []
    for spec, dest in (("alice/adder", tmp_path / "srv-hub"), ("local:adder", tmp_path / "srv-local")):
        _ok(run_cli("pull", spec, "--dest", str(dest), "--json"))
        assert (dest / "current" / "model.safetensors").read_bytes() == weights, spec
        answers.append(_answer(dest, "3 + 4 ="))
    assert answers[0] == answers[1] and answers[0].strip(), answers  # the same model answers from both deploys
    assert any(ch.isdigit() for ch in answers[0]), answers
    card = (tmp_path / "srv-hub" / "current" / "README.md").read_text()
    assert "alice/adder" in card and "model.safetensors" in card
    assert {p: p.stat().st_mtime_ns for p in runs.rglob("*")} == before  # the runs were never written to
