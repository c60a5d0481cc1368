"""Two pushes to one remote never mix models; a killed push never blocks the next one."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hubmgr import sync
from hubmgr.errors import ConflictError
from hubmgr.git.cmd import git_text, run_git
from hubmgr.remotes import PushRequest, open_remote

pytestmark = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is required")


def _model(folder: Path, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text(f"# model {version}\n")
    (folder / "config.json").write_text(json.dumps({"version": version}))
    (folder / "model.safetensors").write_bytes(version.encode() * 20_000)
    return folder


def _tree(spec: str) -> dict[str, str]:
    remote = open_remote(spec)
    return {f.path: f.sha256 or f.git_oid for f in remote.list_files(remote.resolve_revision(None))}


def _local_tree(folder: Path) -> dict[str, str]:
    import hashlib

    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir() if p.is_file()}


def _request(plan, folder: Path, *, check_base: bool) -> PushRequest:
    return PushRequest(folder=str(folder), upload=tuple(f.path for f in plan.upload),
                       keep=tuple(f.path for f in plan.skip), revision=plan.revision, message="B",
                       base_commit=plan.base_commit, check_base=check_base)


@pytest.mark.parametrize("kind", ["local", "bare"])
def test_a_push_whose_plan_went_stale_is_refused_and_nothing_mixes(tmp_path: Path, kind: str) -> None:
    if kind == "local":
        spec = "local:race"
    else:
        run_git(["init", "-q", "--bare", str(tmp_path / "bare.git")])
        spec = str(tmp_path / "bare.git")
    sync.push(_model(tmp_path / "base", "0"), spec)
    a, b = _model(tmp_path / "a", "A"), _model(tmp_path / "b", "B")
    (b / "README.md").write_text("# model 0\n")  # B's README equals the base's: planned as unchanged
    plan_b = sync.plan_push(b, spec)  # B plans against the base ...
    landed = sync.push(a, spec)  # ... A lands first
    assert landed.created_commit and plan_b.base_commit != landed.commit_sha
    with pytest.raises(ConflictError, match="moved since the push was planned"):
        open_remote(spec).push(_request(plan_b, b, check_base=True))
    assert open_remote(spec).resolve_revision(None) == landed.commit_sha  # nothing was pushed
    # what the check prevents: the stale plan keeps A's README as "unchanged" and mixes the models
    mixed = open_remote(spec).push(_request(plan_b, b, check_base=False))
    tree = _tree(spec)
    assert mixed.created_commit and tree["model.safetensors"] == _local_tree(b)["model.safetensors"]
    assert tree["README.md"] == _local_tree(a)["README.md"] != _local_tree(b)["README.md"]
    again = sync.push(b, spec)  # a fresh plan: B whole
    tree = _tree(spec)
    assert again.created_commit and all(tree[p] == _local_tree(b)[p] for p in ("model.safetensors", "README.md"))


def test_two_concurrent_cli_pushes_to_one_local_repo_never_mix(tmp_path: Path) -> None:
    spec = "local:both"
    hubmgr = [sys.executable, "-m", "hubmgr"]
    base = _model(tmp_path / "base", "0")
    assert subprocess.run([*hubmgr, "push", str(base), spec], capture_output=True).returncode == 0
    folders = [_model(tmp_path / n, n) for n in ("A", "B")]
    for f in folders:
        (f / "README.md").write_text("# model 0\n")
    for round_ in range(3):
        procs = [subprocess.Popen([*hubmgr, "push", str(f), spec], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for f in folders]
        outs = [(p.wait(60), p.stderr.read().decode()) for p in procs]
        for code, err in outs:
            assert code == 0 or (code == 1 and "moved since the push was planned" in err), err
            assert "Traceback" not in err
        # whatever won, the tip is one whole model: its config and weights come from the same folder
        tip = _tree(spec)
        matches = [f for f in folders if all(tip[p] == _local_tree(f)[p]
                                             for p in ("config.json", "model.safetensors"))]
        assert len(matches) == 1, f"round {round_}: the remote mixes two models"
        for f in folders:  # next round: new content so both have something to push
            (f / "config.json").write_text(json.dumps({"version": f.name, "round": round_}))
    registry = Path(os.environ["HUBMGR_HOME"]) / "registry" / "both.git"
    fsck = subprocess.run(["git", "--git-dir", str(registry), "fsck", "--no-progress"], capture_output=True)
    assert fsck.returncode == 0, fsck.stderr


def test_stale_git_lock_files_in_the_work_copy_are_cleaned(tmp_path: Path, run_cli) -> None:
    spec = "local:locked"
    assert run_cli("push", str(_model(tmp_path / "m", "1")), spec).exit_code == 0
    work = open_remote(spec).git_dir
    # what a kill -9 in the middle of `git read-tree` / `git update-ref` leaves behind
    (work / "index.lock").write_text("")
    (work / "refs" / "remotes" / "origin").mkdir(parents=True, exist_ok=True)
    (work / "refs" / "remotes" / "origin" / "main.lock").write_text("")
    r = run_cli("push", str(_model(tmp_path / "m", "2")), spec)
    assert r.exit_code == 0, r.stderr
    assert not (work / "index.lock").exists()


def test_a_lock_file_on_the_remote_is_named_in_one_line(tmp_path: Path, run_cli) -> None:
    bare = tmp_path / "bare.git"
    run_git(["init", "-q", "--bare", str(bare)])
    assert run_cli("push", str(_model(tmp_path / "m", "1")), str(bare)).exit_code == 0
    lock = bare / "refs" / "heads" / "main.lock"
    lock.write_text("")  # not ours to remove: the remote may be in use by another git
    r = run_cli("push", str(_model(tmp_path / "m", "2")), str(bare))
    assert r.exit_code == 1 and "Traceback" not in r.stderr
    assert str(lock) in r.stderr and "remove it" in r.stderr
    lock.unlink()
    assert run_cli("push", str(_model(tmp_path / "m", "2")), str(bare)).exit_code == 0
    assert git_text(["--git-dir", str(bare), "rev-list", "--count", "main"], lfs=False) == "2"
