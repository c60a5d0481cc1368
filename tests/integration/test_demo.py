"""The README's first command: `hubmgr demo` runs the whole lifecycle offline and is re-runnable."""

from __future__ import annotations

import subprocess
from pathlib import Path


def test_demo_runs_every_step_then_reruns_without_pushing_again(tmp_path, run_cli, no_git_identity):
    # a fresh host: git knows no user, and the demo's push still makes its commit
    ws = tmp_path / "demo"
    first = run_cli("demo", "--dir", str(ws), "--eval-n", "50", "--json")
    assert first.exit_code == 0, first.stderr
    doc = first.json()
    steps = {s["name"]: s for s in doc["steps"]}
    assert list(steps) == ["workspace", "scan", "convert", "eval", "compare", "card", "push", "pull", "status"]

    verdicts = steps["scan"]["data"]["verdicts"]
    assert verdicts["model.pth"] == "needs_code"  # torch.save(model) of a __main__ class
    assert verdicts["model_weights.pth"] == "safe"
    assert all(v["verified"] for v in steps["convert"]["data"].values())

    scores = {name: s["accuracy"] for name, s in steps["eval"]["data"].items()}
    best = Path(steps["compare"]["data"]["best"]).name
    assert scores[best] == max(scores.values())
    assert (ws / "runs" / best / "README.md").read_text().count("model-index") == 1

    pushed = steps["push"]["data"]
    assert pushed["created_commit"] and pushed["files_uploaded"]
    live = ws / "deploy" / "current"
    assert live.is_symlink() and Path(steps["pull"]["data"]["commit_sha"]).name in str(live.resolve())
    assert (live / "model.safetensors").read_bytes() == (ws / "runs" / best / "model.safetensors").read_bytes()
    assert steps["status"]["data"]["verified"] is True

    again = run_cli("demo", "--dir", str(ws), "--eval-n", "50")  # the human output this time
    assert again.exit_code == 0, again.stderr
    push_row = next(line for line in again.stdout.splitlines() if line.startswith("push\t"))
    assert "unchanged, nothing sent to" in push_row  # a re-run pushes nothing: the model did not change
    # "Next:" names commands that work as printed (setup makes .venv/bin/hubmgr, not hubmgr on PATH)
    next_line = next(line for line in again.stdout.splitlines() if "Next:" in line)
    first_cmd = next_line.split("Next:", 1)[1].split(",")[0].split()
    assert first_cmd[1:] == ["--workspace", str(ws), "ls"]
    ls = subprocess.run(first_cmd, capture_output=True, text=True, timeout=120)
    assert ls.returncode == 0, ls.stderr
    assert "gpt2-add-5k" in ls.stdout
