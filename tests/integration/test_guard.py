"""The GitHub 100 MB guard against real git + git-lfs and a GitHub-like bare repo.

The bare repo's pre-receive hook rejects blobs over 1 MB with GitHub's GH001
message, so a 1.5 MB file plays the 500 MB model.
"""

from __future__ import annotations

import hashlib
import random
import subprocess
from pathlib import Path

import pytest

from hubmgr import guard
from hubmgr.errors import ConflictError, HubmgrError, MissingToolError
from hubmgr.models import GUARD_BLOCK, GUARD_WARN
from hubmgr.testing.github_like import GH001, git, init_code_repo, make_github_like_remote

LIMIT = 1_000_000
WARN = 500_000
BIG = 1_500_000


def write_random(path: Path, size: int, seed: int) -> bytes:
    data = random.Random(seed).randbytes(size)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def commit(repo: Path, message: str, *paths: str, rm: tuple[str, ...] = ()) -> str:
    if paths:
        git(repo, "add", "--", *paths)
    if rm:
        git(repo, "rm", "-q", "--", *rm)
    git(repo, "commit", "-q", "-m", message)
    return rev(repo, "HEAD")


def rev(repo: Path, name: str) -> str:
    return git(repo, "rev-parse", name).stdout.decode().strip()


def push(repo: Path, *args: str):
    return git(repo, "push", *args, check=False)


def tree_snapshot(repo: Path) -> dict[str, bytes]:
    """Every file of the working tree (outside .git), byte for byte."""
    return {p.relative_to(repo).as_posix(): p.read_bytes()
            for p in sorted(repo.rglob("*")) if p.is_file() and ".git" not in p.relative_to(repo).parts}


def check(repo: Path, **kwargs):
    return guard.check_repo(repo, limit_bytes=LIMIT, warn_bytes=WARN, **kwargs)


@pytest.fixture
def github(tmp_path: Path) -> Path:
    return make_github_like_remote(tmp_path / "github.git", limit_bytes=LIMIT)


@pytest.fixture
def repo(tmp_path: Path, github: Path) -> Path:
    """A code repo whose first commit is already on the GitHub-like remote (origin/main)."""
    return init_code_repo(tmp_path / "project", origin=github)


def add_then_delete_big(repo: Path) -> tuple[str, str]:
    """The user's story: commit a model, notice, delete it in a later commit. Returns (added_in, deleted_in)."""
    write_random(repo / "models" / "model.bin", BIG, seed=1)
    added = commit(repo, "add trained model", "models/model.bin")
    deleted = commit(repo, "remove model again", rm=("models/model.bin",))
    (repo / "train.py").write_text("print('training v2')\n")
    commit(repo, "more code", "train.py")
    return added, deleted


def test_plain_git_push_is_rejected_like_github(repo: Path, github: Path) -> None:
    add_then_delete_big(repo)
    before = git(github, "rev-parse", "main").stdout

    proc = push(repo, "origin", "main")

    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert GH001 in err
    assert "File models/model.bin is 1.50 MB; this exceeds GitHub's file size limit of 1.00 MB" in err
    assert git(github, "rev-parse", "main").stdout == before


def test_guard_finds_big_blob_added_then_deleted_in_unpushed_commits(repo: Path) -> None:
    added, deleted = add_then_delete_big(repo)

    report = check(repo)

    assert not report.ok
    assert report.upstream == "refs/remotes/origin/main"
    assert report.commits_checked == 3
    (blob,) = report.blocking
    assert blob.severity == GUARD_BLOCK
    assert blob.size_bytes == BIG
    assert blob.paths == ("models/model.bin",)
    assert blob.added_in == (added,)
    assert blob.deleted_in == (deleted,)
    assert blob.in_head is False
    assert {(c.commit, c.change) for c in blob.changes} == {(added, "added"), (deleted, "deleted")}
    assert "Deleting the file in a later commit does not help" in report.explanation
    assert "--fix lfs" in report.explanation
    assert report.fixes


def test_guard_only_counts_unpushed_commits_and_warns_below_the_limit(tmp_path: Path) -> None:
    plain = tmp_path / "plain.git"  # no size limit: lets us push a big file first
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(plain))
    repo = init_code_repo(tmp_path / "project", origin=plain)
    write_random(repo / "big.bin", BIG, seed=2)
    commit(repo, "big, pushed", "big.bin")
    assert push(repo, "origin", "main").returncode == 0
    write_random(repo / "medium.bin", 600_000, seed=3)
    medium = commit(repo, "medium", "medium.bin")

    report = check(repo)

    assert report.ok
    assert report.blocking == ()
    (warning,) = report.warnings
    assert (warning.severity, warning.paths, warning.added_in, warning.in_head) == (
        GUARD_WARN, ("medium.bin",), (medium,), True)
    assert report.commits_checked == 1


def test_branch_without_upstream_is_checked_against_every_remote_ref(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")  # no upstream
    write_random(repo / "weights.pt", BIG, seed=4)
    added = commit(repo, "weights", "weights.pt")

    report = check(repo)

    assert report.upstream is None
    assert report.base_refs == ("refs/remotes/origin/main",)
    assert report.commits_checked == 1
    assert [b.added_in for b in report.blocking] == [(added,)]


def test_lfs_pointer_over_the_lfs_cap_is_reported(repo: Path) -> None:
    write_random(repo / "huge.safetensors", 3000, seed=5)
    git(repo, "lfs", "track", "huge.safetensors")
    commit(repo, "lfs file", ".gitattributes", "huge.safetensors")

    report = guard.check_repo(repo, limit_bytes=LIMIT, warn_bytes=WARN, lfs_limit_bytes=2000)

    (blob,) = report.lfs_blocking
    assert blob.size_bytes == 3000 and blob.paths == ("huge.safetensors",)
    assert blob.lfs_oid == hashlib.sha256((repo / "huge.safetensors").read_bytes()).hexdigest()
    assert not report.ok and report.blocking == ()


def test_fix_lfs_makes_the_push_pass_and_keeps_the_working_tree(repo: Path, github: Path) -> None:
    add_then_delete_big(repo)
    content = write_random(repo / "models" / "final.safetensors", BIG, seed=6)
    commit(repo, "final model", "models/final.safetensors")
    pushed = rev(repo, "origin/main")
    before = tree_snapshot(repo)
    assert push(repo, "origin", "main").returncode != 0

    result = guard.fix_lfs(repo, limit_bytes=LIMIT, warn_bytes=WARN)

    assert set(result.paths) == {"models/model.bin", "models/final.safetensors"}
    assert result.commits_rewritten == 4
    assert result.after.ok and result.after.blocking == ()
    after = tree_snapshot(repo)
    after.pop(".gitattributes")
    assert after == before  # byte for byte
    # plain git (no -c filter flags, empty HOME) sees no change: the repo got the LFS filters locally
    assert subprocess.run(["git", "status", "--porcelain"], cwd=repo, capture_output=True).stdout == b""
    # pushed history untouched: same upstream sha, still an ancestor of the new HEAD
    assert rev(repo, "origin/main") == pushed
    assert git(repo, "merge-base", "--is-ancestor", pushed, "HEAD", check=False).returncode == 0
    proc = push(repo, "origin", "main")
    assert proc.returncode == 0, proc.stderr.decode()
    assert git(github, "rev-parse", "main").stdout.decode().strip() == rev(repo, "HEAD")
    sha = hashlib.sha256(content).hexdigest()
    assert (github / "lfs" / "objects" / sha[:2] / sha[2:4] / sha).read_bytes() == content


def test_fix_lfs_refuses_to_rewrite_history_pushed_elsewhere(repo: Path, tmp_path: Path) -> None:
    backup = tmp_path / "backup.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(backup))
    git(repo, "remote", "add", "backup", backup.as_uri())
    write_random(repo / "model.bin", BIG, seed=7)
    added = commit(repo, "model", "model.bin")
    assert push(repo, "backup", "main").returncode == 0  # already published there
    head, snapshot = rev(repo, "HEAD"), tree_snapshot(repo)

    with pytest.raises(ConflictError, match=rf"{added[:10]}.*already pushed to backup/main"):
        guard.fix_lfs(repo, limit_bytes=LIMIT, warn_bytes=WARN)

    assert rev(repo, "HEAD") == head
    assert rev(repo, "backup/main") == added
    assert tree_snapshot(repo) == snapshot


def test_fix_refuses_uncommitted_changes(repo: Path) -> None:
    write_random(repo / "model.bin", BIG, seed=8)
    commit(repo, "model", "model.bin")
    (repo / "train.py").write_text("print('edited, not committed')\n")
    head = rev(repo, "HEAD")

    with pytest.raises(ConflictError, match="uncommitted changes"):
        guard.fix_lfs(repo, limit_bytes=LIMIT, warn_bytes=WARN)

    assert rev(repo, "HEAD") == head
    assert (repo / "train.py").read_text() == "print('edited, not committed')\n"


def test_pre_push_hook_blocks_before_any_upload(repo: Path, github: Path) -> None:
    result = guard.install_hook(repo, limit_bytes=LIMIT)
    assert Path(result.hook).is_file()
    add_then_delete_big(repo)
    before = git(github, "rev-parse", "main").stdout

    proc = push(repo, "origin", "main")

    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "push blocked by the hubmgr guard" in err
    assert "models/model.bin" in err
    assert GH001 not in err  # the server never saw the push
    assert git(github, "rev-parse", "main").stdout == before

    # after the fix the same hook lets the push through and uploads the LFS objects
    guard.fix_lfs(repo, limit_bytes=LIMIT, warn_bytes=WARN)
    proc = push(repo, "origin", "main")
    assert proc.returncode == 0, proc.stderr.decode()
    assert git(github, "rev-parse", "main").stdout.decode().strip() == rev(repo, "HEAD")


def test_hook_keeps_and_runs_an_existing_pre_push_hook(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "previous-hook-ran"
    hooks = repo / ".git" / "hooks"
    (hooks / "pre-push").write_text(f"#!/bin/sh\ncat > {marker}\n")
    (hooks / "pre-push").chmod(0o755)

    result = guard.install_hook(repo, limit_bytes=LIMIT)
    again = guard.install_hook(repo, limit_bytes=LIMIT)  # idempotent: does not chain itself

    assert result.chained == again.chained == str(hooks / "pre-push.hubmgr-chained")
    (repo / "notes.txt").write_text("small change\n")
    commit(repo, "notes", "notes.txt")
    proc = push(repo, "origin", "main")
    assert proc.returncode == 0, proc.stderr.decode()
    assert "refs/heads/main" in marker.read_text()  # it got git's ref lines on stdin


def test_not_a_git_repository(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    with pytest.raises(HubmgrError, match="not a git repository"):
        guard.check_repo(tmp_path / "plain", limit_bytes=LIMIT, warn_bytes=WARN)


def test_git_lfs_missing_leaves_the_repo_untouched(repo: Path, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    write_random(repo / "model.bin", BIG, seed=9)
    commit(repo, "model", "model.bin")
    head, snapshot = rev(repo, "HEAD"), tree_snapshot(repo)
    import os

    saved_path = os.environ["PATH"]
    only_git = tmp_path / "bin"
    only_git.mkdir()
    (only_git / "git").symlink_to(shutil.which("git"))
    monkeypatch.setenv("PATH", str(only_git))

    assert not check(repo).ok  # checking needs git only
    with pytest.raises(MissingToolError, match="git-lfs is not installed") as info:
        guard.fix_lfs(repo, limit_bytes=LIMIT, warn_bytes=WARN)
    assert "apt-get install git-lfs" in (info.value.hint or "")

    monkeypatch.setenv("PATH", saved_path)
    assert rev(repo, "HEAD") == head
    assert tree_snapshot(repo) == snapshot


def test_fix_lfs_path_can_be_a_directory(repo: Path, github: Path) -> None:
    weights = write_random(repo / "models" / "tiny" / "weights.bin", BIG, seed=10)
    (repo / "models" / "tiny" / "config.json").write_text('{"n_layer": 2}\n')
    commit(repo, "tiny model", "models")

    result = guard.fix_lfs(repo, paths=["models/tiny"], limit_bytes=LIMIT, warn_bytes=WARN)

    assert result.paths == ("models/tiny/**",) and result.after.ok
    assert (repo / "models" / "tiny" / "weights.bin").read_bytes() == weights
    assert (repo / "models" / "tiny" / "config.json").read_text() == '{"n_layer": 2}\n'
    assert git(repo, "cat-file", "-p", "HEAD:models/tiny/config.json").stdout.startswith(b"version https://git-lfs")
    assert push(repo, "origin", "main").returncode == 0


def test_removing_paths_rewrites_only_the_unpushed_range(repo: Path) -> None:
    from hubmgr.git import code_repo as git_repo

    pushed = rev(repo, "origin/main")
    write_random(repo / "w" / "model.bin", BIG, seed=11)
    commit(repo, "weights only", "w/model.bin")  # becomes empty: pruned
    (repo / "train.py").write_text("print('v3')\n")
    commit(repo, "code", "train.py")

    git_repo.remove_paths_from_range(repo, paths=["w/model.bin"], branch="refs/heads/main",
                                     exclude=["refs/remotes/origin/main"])

    log = git(repo, "log", "--format=%s", "origin/main..HEAD").stdout.decode().split("\n")
    assert [s for s in log if s] == ["code"]
    assert rev(repo, "HEAD~1") == pushed == rev(repo, "origin/main")
    assert check(repo).ok
    assert git(repo, "for-each-ref", "refs/original/").stdout == b""


def test_fix_hub_moves_weights_to_a_model_repo_and_leaves_a_pointer(tmp_path: Path, tiny_gpt2_dir: Path,
                                                                    run_cli) -> None:
    import shutil

    from hubmgr import paths
    from hubmgr.formats.pointer_file import read_pointer

    limit = 200_000  # the tiny GPT-2's model.safetensors (~450 KB) plays the 500 MB model
    github = make_github_like_remote(tmp_path / "github.git", limit_bytes=limit)
    repo = init_code_repo(tmp_path / "project", origin=github)
    shutil.copytree(tiny_gpt2_dir, repo / "models" / "tiny")
    commit(repo, "add the trained model", "models")
    (repo / "train.py").write_text("print('trained')\n")
    commit(repo, "code", "train.py")
    weights = (repo / "models" / "tiny" / "model.safetensors").read_bytes()
    pushed, before = rev(repo, "origin/main"), tree_snapshot(repo)
    assert push(repo, "origin", "main").returncode != 0

    result = guard.fix_hub(repo, target="local:tiny", limit_bytes=limit, warn_bytes=limit)

    assert result.paths == ("models/tiny/model.safetensors",)
    assert result.after.ok
    assert result.pointer_file == "models/tiny/model.hubmgr.json"
    pointer = read_pointer(repo / result.pointer_file)
    assert (pointer.remote, pointer.commit) == ("local:tiny", result.remote_commit)
    assert [(f.path, f.size, f.sha256) for f in pointer.files] == [
        ("model.safetensors", len(weights), hashlib.sha256(weights).hexdigest())]
    # the working tree still has every file; the weights are now ignored, not tracked
    after = tree_snapshot(repo)
    assert {k: v for k, v in after.items() if k not in (".gitignore", result.pointer_file)} == before
    assert git(repo, "check-ignore", "-q", "models/tiny/model.safetensors", check=False).returncode == 0
    assert git(repo, "status", "--porcelain").stdout == b""
    assert not (repo / ".git" / "hubmgr-guard-stage").exists()
    assert b"model.safetensors" not in git(repo, "log", "--all", "--name-only", "--format=").stdout
    # pushed history untouched, and the push now passes
    assert rev(repo, "origin/main") == pushed
    assert git(repo, "merge-base", "--is-ancestor", pushed, "HEAD", check=False).returncode == 0
    proc = push(repo, "origin", "main")
    assert proc.returncode == 0, proc.stderr.decode()
    # the model repo holds the weights at the pinned commit
    model_repo = paths.registry_dir() / "tiny.git"
    listing = git(model_repo, "ls-tree", "-r", "--name-only", result.remote_commit).stdout.decode().split()
    assert "model.safetensors" in listing
    # and `hubmgr pull POINTER` gets them back, verified
    dest = tmp_path / "deploy"
    pulled = run_cli("pull", str(repo / result.pointer_file), "--dest", str(dest), "--json")
    assert pulled.exit_code == 0, pulled.stderr
    assert pulled.json()["commit_sha"] == result.remote_commit
    assert (dest / "current" / "model.safetensors").read_bytes() == weights


def test_hubmgr_push_succeeds_where_plain_git_push_fails(tmp_path: Path, tiny_gpt2_dir: Path, run_cli) -> None:
    import shutil

    limit = 200_000
    weights = (tiny_gpt2_dir / "model.safetensors").read_bytes()
    assert len(weights) > limit
    # plain git: the weights are a git blob, rejected with GH001
    plain_remote = make_github_like_remote(tmp_path / "plain.git", limit_bytes=limit)
    work = tmp_path / "plain-work"
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    shutil.copytree(tiny_gpt2_dir, work, dirs_exist_ok=True)
    commit(work, "model", ".")
    proc = git(work, "push", plain_remote.as_uri(), "main", check=False)
    assert proc.returncode != 0 and GH001 in proc.stderr.decode()

    # hubmgr push: the git remote stores weights with Git LFS, so the same host accepts it
    github = make_github_like_remote(tmp_path / "github.git", limit_bytes=limit)
    model = shutil.copytree(tiny_gpt2_dir, tmp_path / "model")  # push may add a model card: keep the fixture
    pushed = run_cli("push", str(model), github.as_uri(), "--json")

    assert pushed.exit_code == 0, pushed.stderr
    commit_sha = pushed.json()["commit_sha"]
    assert commit_sha and git(github, "rev-parse", "main").stdout.decode().strip() == commit_sha
    sha = hashlib.sha256(weights).hexdigest()
    assert (github / "lfs" / "objects" / sha[:2] / sha[2:4] / sha).read_bytes() == weights


def test_pre_push_check_reads_gits_ref_lines(repo: Path) -> None:
    zero = "0" * 40
    pushed = rev(repo, "origin/main")
    write_random(repo / "model.bin", BIG, seed=12)
    added = commit(repo, "model", "model.bin")

    update = guard.check_pre_push(repo, remote="origin", limit_bytes=LIMIT, warn_bytes=WARN,
                                  ref_lines=f"refs/heads/main {added} refs/heads/main {pushed}\n")
    new_branch = guard.check_pre_push(repo, remote="origin", limit_bytes=LIMIT, warn_bytes=WARN,
                                      ref_lines=f"refs/heads/main {added} refs/heads/other {zero}\n")
    delete = guard.check_pre_push(repo, remote="origin", limit_bytes=LIMIT, warn_bytes=WARN,
                                  ref_lines=f"(delete) {zero} refs/heads/old {pushed}\n")

    assert [b.added_in for b in update.blocking] == [(added,)] and update.commits_checked == 1
    assert [b.added_in for b in new_branch.blocking] == [(added,)] and new_branch.commits_checked == 1
    assert delete.ok and delete.commits_checked == 0


def test_empty_repository_is_clean(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main", str(tmp_path / "empty"))
    report = check(tmp_path / "empty")
    assert report.ok and report.commits_checked == 0


def test_github_like_remote_rejects_lfs_files_over_its_lfs_cap(tmp_path: Path) -> None:
    capped = make_github_like_remote(tmp_path / "capped.git", limit_bytes=LIMIT, lfs_limit_bytes=2000)
    repo = init_code_repo(tmp_path / "project", origin=capped)
    write_random(repo / "huge.safetensors", 3000, seed=13)
    git(repo, "lfs", "track", "huge.safetensors")
    commit(repo, "lfs file", ".gitattributes", "huge.safetensors")

    git(repo, "lfs", "push", "origin", "main")  # objects first, as the LFS pre-push hook would
    proc = push(repo, "origin", "main")

    assert proc.returncode != 0
    err = proc.stderr.decode()
    assert "Git LFS file huge.safetensors is" in err and "exceeds GitHub's Git LFS file size limit" in err
