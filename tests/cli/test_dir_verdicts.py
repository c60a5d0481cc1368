"""Issue 13 point 4: a model dir's verdict is the worst of ALL its pickles, in scan, ls and inspect."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hubmgr.testing import checkpoint_factory as cf

torch = pytest.importorskip("torch")


@pytest.fixture
def model_dir(tmp_path: Path, tiny_gpt2_dir: Path) -> Path:
    """A safetensors HF dir (loads without pickles) holding extra pickles someone will torch.load."""
    folder = tmp_path / "ws" / "gpt2-run"
    shutil.copytree(tiny_gpt2_dir, folder)
    net = torch.nn.Linear(2, 2)
    torch.save(torch.optim.SGD(net.parameters(), lr=0.1).state_dict(), folder / "optimizer.pt")
    torch.save({"last_epoch": 3}, folder / "scheduler.pt")
    cf.save_malicious_checkpoint(folder / "extra_weights.pth", tmp_path / "MARKER")
    return folder


def test_worst_pickle_decides_the_dir_verdict(run_cli, model_dir: Path, tmp_path: Path) -> None:
    ws = str(model_dir.parent)
    assert run_cli("-w", ws, "scan", "--json").exit_code == 0
    entry = next(c for c in run_cli("-w", ws, "ls", "--json").json()["checkpoints"] if c["name"] == "gpt2-run")
    safety = entry["safety"]
    assert entry["format"] == "safetensors" and safety["verdict"] == "unsafe"
    assert safety["per_file"] == {"extra_weights.pth": "unsafe", "optimizer.pt": "safe", "scheduler.pt": "safe"}
    assert any(r.startswith("extra_weights.pth: ") and "system" in r for r in safety["reasons"])
    table = run_cli("-w", ws, "ls").stdout
    assert "unsafe (extra_weights.pth)" in table
    shown = run_cli("inspect", str(model_dir)).stdout
    assert "extra_weights.pth: unsafe" in shown and "optimizer.pt: safe" in shown and "why" in shown
    assert not (tmp_path / "MARKER").exists()


def test_clean_pickles_keep_the_dir_safe_and_none_is_not_pickle(run_cli, model_dir: Path) -> None:
    (model_dir / "extra_weights.pth").unlink()
    info = run_cli("inspect", str(model_dir), "--json").json()
    assert info["safety"]["verdict"] == "safe" and set(info["safety"]["per_file"]) == {"optimizer.pt", "scheduler.pt"}
    for name in ("optimizer.pt", "scheduler.pt"):
        (model_dir / name).unlink()
    assert run_cli("inspect", str(model_dir), "--json").json()["safety"]["verdict"] == "not_pickle"


def test_a_pickle_behind_any_name_counts(run_cli, model_dir: Path) -> None:
    (model_dir / "extra_weights.pth").rename(model_dir / "notes.bak")
    info = run_cli("inspect", str(model_dir), "--json").json()
    assert info["safety"]["verdict"] == "unsafe" and info["safety"]["per_file"]["notes.bak"] == "unsafe"
