"""hubmgr scan / ls / inspect: tables, --json documents, errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from hubmgr.testing import checkpoint_factory as cf

pytest.importorskip("torch")

ENTRY_KEYS = {"path", "kind", "format", "size_bytes", "params", "dtypes", "step", "metrics", "safety"}


@pytest.fixture
def workspace(tmp_path: Path, tiny_gpt2_dir: Path) -> Path:
    ws = tmp_path / "ws"
    cf.save_state_dict(ws / "runs" / "weights.pth")
    cf.save_full_model(ws / "runs" / "model.pt")
    cf.save_malicious_checkpoint(ws / "downloads" / "evil.pth", tmp_path / "MARKER")
    cf.write_random_bytes(ws / "downloads" / "noise.pth")
    (ws / "gpt2").mkdir()
    for f in tiny_gpt2_dir.iterdir():
        (ws / "gpt2" / f.name).write_bytes(f.read_bytes())
    return ws


def test_scan_json_then_ls_json(run_cli, workspace: Path, tmp_path: Path) -> None:
    run = run_cli("-w", str(workspace), "scan", "--json")
    assert run.exit_code == 0, run.stderr
    doc = run.json()
    assert set(doc) >= {"checkpoints", "warnings"}
    by_name = {c["name"]: c for c in doc["checkpoints"]}
    assert set(by_name) == {"weights.pth", "model.pt", "evil.pth", "noise.pth", "gpt2"}
    for entry in doc["checkpoints"]:
        assert ENTRY_KEYS <= set(entry) and "tensors" not in entry
        assert set(entry["safety"]) >= {"verdict", "globals"}
    assert by_name["evil.pth"]["safety"]["verdict"] == "unsafe"
    assert by_name["model.pt"]["safety"]["verdict"] == "needs_code"
    assert by_name["gpt2"]["kind"] == "hf_model" and by_name["gpt2"]["params"] > 0
    assert any("noise.pth" in w for w in doc["warnings"])
    assert doc["files_hashed"] > 0
    assert not (tmp_path / "MARKER").exists()

    listing = run_cli("-w", str(workspace), "ls", "--json").json()
    assert {c["name"] for c in listing["checkpoints"]} == set(by_name)
    assert all(c["sync_state"]["state"] == "local only" and "tensors" not in c for c in listing["checkpoints"])
    assert listing["warnings"] == []

    warm = run_cli("-w", str(workspace), "scan", "--json").json()
    assert warm["files_hashed"] == 0 and warm["bytes_hashed"] == 0


def test_ls_table_and_scan_table(run_cli, workspace: Path) -> None:
    run = run_cli("-w", str(workspace), "scan", str(workspace / "runs"))
    assert run.exit_code == 0 and "weights.pth" in run.stdout and "2 checkpoint(s) recorded" in run.stderr
    table = run_cli("-w", str(workspace), "ls").stdout
    header = table.splitlines()[0] + table.splitlines()[1]
    for column in ("name", "kind", "format", "size", "params", "step", "safety", "sync"):
        assert column in header
    assert "full_model_pickle" in table and "needs_code" in table and "local only" in table


def test_ls_empty_catalog(run_cli, tmp_path: Path) -> None:
    run = run_cli("-w", str(tmp_path), "ls")
    assert run.exit_code == 0 and "scan" in run.stderr
    assert run_cli("-w", str(tmp_path), "ls", "--json").json() == {"checkpoints": [], "warnings": [],
                                                                   "score_label": None, "scores": {}}


def test_inspect_json_has_tensors_and_hashes(run_cli, workspace: Path) -> None:
    gpt2 = workspace / "gpt2"
    doc = run_cli("-w", str(workspace), "inspect", str(gpt2), "--json").json()
    assert ENTRY_KEYS <= set(doc)
    assert doc["tensors"] and set(doc["tensors"][0]) >= {"name", "dtype", "shape"}
    files = {f["path"]: f for f in doc["files"]}
    weights = gpt2 / "model.safetensors"
    assert files["model.safetensors"]["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert files["model.safetensors"]["size_bytes"] == weights.stat().st_size


def test_inspect_table_shows_globals_verdict_tied(run_cli, workspace: Path, tmp_path: Path) -> None:
    run = run_cli("-w", str(workspace), "inspect", str(workspace / "downloads" / "evil.pth"))
    assert run.exit_code == 0
    assert "unsafe" in run.stdout and "posix.system" in run.stdout and "globals" in run.stdout
    run = run_cli("-w", str(workspace), "inspect", str(workspace / "runs" / "weights.pth"))
    assert "tied" in run.stdout and "tied_a = tied_b" in run.stdout and "sha256" in run.stdout
    assert not (tmp_path / "MARKER").exists()


def test_inspect_errors(run_cli, tmp_path: Path) -> None:
    run = run_cli("-w", str(tmp_path), "inspect", str(tmp_path), "--json")
    assert run.exit_code == 1 and "not a checkpoint dir" in run.stderr
    assert run.json()["error"]["type"] == "NotFoundError"
    run = run_cli("-w", str(tmp_path), "inspect", str(tmp_path / "nope.pt"))
    assert run.exit_code == 2


def test_help_has_examples(run_cli) -> None:
    for command in ("scan", "ls", "inspect"):
        run = run_cli(command, "--help")
        assert run.exit_code == 0 and "Examples:" in run.stdout and "--json" in run.stdout


def test_rm_deletes_from_disk_and_catalog_and_needs_confirmation_without_a_tty(tmp_path, run_cli):
    import torch

    ws = tmp_path / "ws"
    ws.mkdir()
    weights = ws / "model_weights.pth"
    torch.save({"w": torch.ones(4)}, weights)
    assert run_cli("--workspace", str(ws), "scan").exit_code == 0
    assert len(run_cli("--workspace", str(ws), "ls", "--json").json()["checkpoints"]) == 1

    refused = run_cli("--workspace", str(ws), "rm", str(weights))
    assert refused.exit_code == 2 and "--yes" in refused.stderr
    assert weights.exists()

    done = run_cli("--workspace", str(ws), "rm", str(weights), "--yes", "--json")
    assert done.exit_code == 0, done.stderr
    assert done.json()["was_pushed"] is False and done.json()["bytes_freed"] > 0
    assert not weights.exists()
    assert not list(ws.glob(".*hubmgr-deleting*"))
    assert run_cli("--workspace", str(ws), "ls", "--json").json()["checkpoints"] == []
