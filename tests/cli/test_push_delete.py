"""Issue 11 point 2: a push deletes nothing on the remote unless asked (--delete PATTERN, --mirror),
for every remote kind; pull refuses to make a release without weights or config.json live."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from hubmgr.git.cmd import run_git

pytestmark = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is required (apt-get install git-lfs)")


def _full(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text("# full model\n")
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (folder / "model.safetensors").write_bytes(os.urandom(30_000))
    (folder / "notes.txt").write_text("scratch")
    return folder


def _readme_only(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text("# only the card changed\n")
    return folder


@pytest.fixture(params=["local", "git", "hub"])
def target(request, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "local":
        return "local:keep"
    if request.param == "git":
        bare = tmp_path / "remote.git"
        run_git(["init", "-q", "--bare", str(bare)])
        return f"file://{bare}"
    pytest.importorskip("huggingface_hub")
    from hubmgr.testing.hub_server import ALICE_WRITE_TOKEN

    request.getfixturevalue("hub_server")
    monkeypatch.setenv("HF_TOKEN", ALICE_WRITE_TOKEN)
    return "alice/keep"


def _remote_files(run_cli, target: str, tmp_path: Path, name: str) -> set[str]:
    dest = tmp_path / name
    run = run_cli("pull", target, "--dest", str(dest), "--allow-incomplete", "--json")
    assert run.exit_code == 0, run.stderr
    return {p.relative_to(dest / "current").as_posix() for p in (dest / "current").rglob("*")
            if p.is_file() and p.name not in ("hubmgr.lock.json", ".gitattributes")}


def test_nothing_is_deleted_unless_asked_and_deletions_are_planned(run_cli, target: str, tmp_path: Path) -> None:
    first = run_cli("push", str(_full(tmp_path / "full")), target, "--json")
    assert first.exit_code == 0, first.stderr
    everything = {"README.md", "config.json", "model.safetensors", "notes.txt"}
    card = _readme_only(tmp_path / "card")

    plain = run_cli("push", str(card), target, "--json")
    assert plain.exit_code == 0, plain.stderr
    assert plain.json()["files_deleted"] == [] and plain.json()["files_uploaded"] == ["README.md"]
    assert _remote_files(run_cli, target, tmp_path, "after-plain") >= everything

    dry = run_cli("push", str(card), target, "--delete", "*.txt", "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert "delete notes.txt" in dry.stdout and "delete 1" in dry.stdout
    assert "model.safetensors" not in dry.stdout  # only what the pattern names
    asked = run_cli("push", str(card), target, "--delete", "*.txt", "--json").json()
    assert asked["files_deleted"] == ["notes.txt"]
    assert _remote_files(run_cli, target, tmp_path, "after-delete") == everything - {"notes.txt"}

    mirror_plan = run_cli("push", str(card), target, "--mirror", "--dry-run", "--json").json()
    assert sorted(f["path"] for f in mirror_plan["plan"]["delete"]) == ["config.json", "model.safetensors"]
    mirrored = run_cli("push", str(card), target, "--mirror", "--json").json()
    assert sorted(mirrored["files_deleted"]) == ["config.json", "model.safetensors"]
    assert mirrored["files_deleted"] == mirror_plan["files_deleted"]  # the dry run planned what ran

    refused = run_cli("pull", target, "--dest", str(tmp_path / "srv"))
    assert refused.exit_code == 1
    assert "has no weights and no config.json" in refused.stderr and "--allow-incomplete" in refused.stderr
    assert not (tmp_path / "srv" / "current").exists()
    forced = run_cli("pull", target, "--dest", str(tmp_path / "srv"), "--allow-incomplete")
    assert forced.exit_code == 0, forced.stderr
    assert (tmp_path / "srv" / "current" / "README.md").is_file()


def test_pull_names_the_one_missing_part(run_cli, tmp_path: Path) -> None:
    folder = _full(tmp_path / "m")
    (folder / "config.json").unlink()
    assert run_cli("push", str(folder), "local:noconfig").exit_code == 0
    run = run_cli("pull", "local:noconfig", "--dest", str(tmp_path / "srv"))
    assert run.exit_code == 1 and "has no config.json:" in run.stderr and "weights" not in run.stderr.split(":")[1]
