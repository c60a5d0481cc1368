"""``hubmgr push/pull/status/rollback/remote`` end to end through the local registry (real git + git-lfs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is required (apt-get install git-lfs)")


def _model(folder: Path, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text("# cli test\n")
    (folder / "config.json").write_text(json.dumps({"version": version}))
    (folder / "model.safetensors").write_bytes(os.urandom(20_000))
    return folder


def test_push_pull_status_rollback_json(run_cli, tmp_path: Path) -> None:
    folder = _model(tmp_path / "m", "1")
    first = run_cli("push", str(folder), "local:demo", "--tag", "v1", "--json")
    assert first.exit_code == 0, first.stderr
    doc = first.json()
    assert doc["created_commit"] and doc["tag"] == "v1" and len(doc["commit_sha"]) == 40
    assert sorted(doc["files_uploaded"]) == ["README.md", "config.json", "model.safetensors"]

    again = run_cli("push", str(folder), "local:demo", "--json").json()
    assert not again["created_commit"] and again["commit_sha"] == doc["commit_sha"] and again["bytes_sent"] == 0

    _model(folder, "2")
    second = run_cli("push", str(folder), "local:demo", "--json").json()
    dest = tmp_path / "srv"
    p1 = run_cli("pull", "local:demo@v1", "--dest", str(dest), "--json")
    assert p1.exit_code == 0, p1.stderr
    assert p1.json()["commit_sha"] == doc["commit_sha"]
    p2 = run_cli("pull", "local:demo", "--dest", str(dest), "--json").json()
    assert p2["commit_sha"] == second["commit_sha"] and p2["previous_sha"] == doc["commit_sha"]

    st = run_cli("status", "--dest", str(dest), "--verify", "--json")
    assert st.exit_code == 0, st.stderr
    sd = st.json()
    assert sd["live_sha"] == second["commit_sha"] and sd["verified"] is True and sd["remote_moved"] is False
    assert len(sd["releases"]) == 2

    rb = run_cli("rollback", "--dest", str(dest), "--json").json()
    assert rb["to_sha"] == doc["commit_sha"]
    assert json.loads((dest / "current" / "config.json").read_text())["version"] == "1"

    human = run_cli("status", "--dest", str(dest))
    assert doc["commit_sha"] in human.stdout and "live" in human.stdout


def test_dry_run_prints_the_plan_and_changes_nothing(run_cli, tmp_path: Path) -> None:
    folder = _model(tmp_path / "m", "1")
    run = run_cli("push", str(folder), "local:demo", "--dry-run")
    assert run.exit_code == 0, run.stderr
    assert "dry run" in run.stdout and "upload model.safetensors" in run.stdout and "nothing was changed" in run.stdout
    assert run_cli("remote", "repos", "--json").json()["repos"] == []


def test_status_verify_fails_with_exit_1_when_the_release_was_modified(run_cli, tmp_path: Path) -> None:
    folder = _model(tmp_path / "m", "1")
    assert run_cli("push", str(folder), "local:demo").exit_code == 0
    dest = tmp_path / "srv"
    assert run_cli("pull", "local:demo", "--dest", str(dest)).exit_code == 0
    (dest / "current" / "config.json").write_text('{"version": "tampered"}')
    run = run_cli("status", "--dest", str(dest), "--verify")
    assert run.exit_code == 1 and "config.json" in run.stdout and "CHANGED" in run.stdout


def test_remote_ls_and_repos(run_cli, tmp_path: Path) -> None:
    folder = _model(tmp_path / "m", "1")
    run_cli("push", str(folder), "local:org/demo", "--tag", "v1", "-m", "first")
    ls = run_cli("remote", "ls", "local:org/demo", "--json")
    assert ls.exit_code == 0, ls.stderr
    doc = ls.json()
    assert {(r["name"], r["kind"]) for r in doc["refs"]} == {("main", "branch"), ("v1", "tag")}
    assert doc["commits"][0]["title"] == "first"
    repos = run_cli("remote", "repos", "--json").json()
    assert [r["name"] for r in repos["repos"]] == ["local:org/demo"]
    assert repos["repos"][0]["tags"] == ["v1"]


def test_pull_from_a_pointer_file(run_cli, tmp_path: Path) -> None:
    from hubmgr.formats.pointer_file import write_pointer

    folder = _model(tmp_path / "m", "1")
    pinned = run_cli("push", str(folder), "local:demo", "--json").json()["commit_sha"]
    _model(folder, "2")
    run_cli("push", str(folder), "local:demo")
    ptr = write_pointer(tmp_path / "code" / "model.hubmgr.json", remote="local:demo", revision="main",
                        commit=pinned, files=[])
    run = run_cli("pull", str(ptr), "--dest", str(tmp_path / "srv"), "--json")
    assert run.exit_code == 0, run.stderr
    assert run.json()["commit_sha"] == pinned
    assert json.loads((tmp_path / "srv" / "current" / "config.json").read_text())["version"] == "1"


def test_refusals_and_remote_errors_have_exit_codes(run_cli, tmp_path: Path) -> None:
    folder = _model(tmp_path / "m", "1")
    (folder / "pytorch_model.bin").write_bytes(b"pickle")
    run = run_cli("push", str(folder), "local:demo")
    # a refusal of unsafe content is not a usage error: calling differently does not make it safe
    assert run.exit_code == 1 and "pickled weights or data" in run.stderr and "--convert" in run.stderr
    missing = run_cli("pull", "local:nothing", "--dest", str(tmp_path / "srv"), "--json")
    assert missing.exit_code == 3 and missing.json()["error"]["type"] == "RemoteNotFoundError"
    cache = run_cli("pull", "local:nothing", "--cache")
    assert cache.exit_code != 0
    no_dest = run_cli("pull", "local:nothing")
    assert no_dest.exit_code == 2 and "--dest" in no_dest.stderr


def test_cache_is_refused_for_git_remotes(run_cli, tmp_path: Path) -> None:
    run_cli("push", str(_model(tmp_path / "m", "1")), "local:demo")
    run = run_cli("pull", "local:demo", "--cache")
    assert run.exit_code == 2 and "Hub remote" in run.stderr


def test_auth_failure_is_exit_3_and_never_shows_credentials(run_cli, tmp_path: Path) -> None:
    from hubmgr.testing.git_http import auth_wall

    with auth_wall() as url:
        secret_url = url.replace("http://", "http://alice:s3cr3t-pass@")
        run = run_cli("pull", f"git+{secret_url}/org/m.git", "--dest", str(tmp_path / "srv"))
    assert run.exit_code == 3, run.stderr
    assert "authentication failed" in run.stderr
    assert "s3cr3t-pass" not in run.stderr + run.stdout


def _hubmgr_without(tmp_path: Path, *, keep: tuple[str, ...], args: list[str]) -> subprocess.CompletedProcess:
    """Run the CLI in a subprocess whose PATH only has ``keep`` programs."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in keep:
        (bin_dir / tool).symlink_to(shutil.which(tool))
    env = {**os.environ, "PATH": str(bin_dir)}
    return subprocess.run([sys.executable, "-m", "hubmgr", *args], env=env, capture_output=True, text=True,
                          cwd=tmp_path)


@pytest.mark.parametrize("keep,missing", [((), "git is not installed"), (("git",), "git-lfs is not installed")])
def test_missing_git_or_git_lfs_is_one_clear_line(tmp_path: Path, keep: tuple[str, ...], missing: str) -> None:
    folder = _model(tmp_path / "m", "1")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    proc = _hubmgr_without(tmp_path, keep=keep, args=["push", str(folder), "local:demo"])
    assert proc.returncode == 1, proc.stderr
    assert missing in proc.stderr and "apt-get install" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
