"""Deploy layout: releases/<sha>, atomic current, lock file, keep, rollback, status, verification.

Uses ``DirRemote``, a real Remote kept in a directory, so the layout logic is tested
without git; tests/integration/test_git_remote.py runs the same flows through git + LFS.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hubmgr import deploy, sync
from hubmgr.errors import (CancelledError, IncompleteReleaseError, LocalIOError, NotFoundError, UnsafeContentError,
                           VerificationError)
from hubmgr.progress import CancelToken
from hubmgr.remotes import RemoteFile
from hubmgr.testing.dir_remote import DirRemote


def _model(folder: Path, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"version": version}))
    (folder / "README.md").write_text("# test model\n")
    (folder / "model.safetensors").write_bytes(os.urandom(4096) + version.encode())
    (folder / "sub").mkdir(exist_ok=True)
    (folder / "sub" / "tokenizer.json").write_text('{"v": "%s"}' % version)
    return folder


@pytest.fixture
def remote(tmp_path: Path) -> DirRemote:
    return DirRemote(tmp_path / "remote")


def _push(remote: DirRemote, folder: Path, **kw) -> str:
    return sync.push(folder, remote.target, remote=remote, **kw).commit_sha


def _pull(remote: DirRemote, dest: Path, rev: str | None = None, **kw):
    return sync.pull(f"{remote.root}@{rev}" if rev else str(remote.root), dest=dest, remote=remote, **kw)


def test_pull_creates_release_lock_file_and_current(remote: DirRemote, tmp_path: Path) -> None:
    src = _model(tmp_path / "m", "1")
    sha = _push(remote, src, tag="v1")
    dest = tmp_path / "deploy"
    result = _pull(remote, dest, "v1")

    assert result.commit_sha == sha and result.revision == "v1" and not result.reused
    assert os.readlink(dest / "current") == f"releases/{sha}"
    for rel in ("config.json", "model.safetensors", "sub/tokenizer.json"):
        assert (dest / "current" / rel).read_bytes() == (src / rel).read_bytes()
    lock = json.loads((dest / "current" / deploy.LOCK_NAME).read_text())
    assert lock["commit"] == sha and lock["revision"] == "v1" and lock["remote"] == remote.name
    by_path = {f["path"]: f for f in lock["files"]}
    assert by_path["model.safetensors"]["size"] == (src / "model.safetensors").stat().st_size
    import hashlib

    assert by_path["model.safetensors"]["sha256"] == hashlib.sha256((src / "model.safetensors").read_bytes()).hexdigest()
    assert not list((dest / "releases").glob(".staging-*"))


def test_pulling_the_same_commit_again_reuses_the_release(remote: DirRemote, tmp_path: Path) -> None:
    _push(remote, _model(tmp_path / "m", "1"))
    dest = tmp_path / "deploy"
    _pull(remote, dest)
    before = remote.downloads
    again = _pull(remote, dest)
    assert again.reused and again.bytes_downloaded == 0 and remote.downloads == before


def test_keep_prunes_old_releases_but_never_the_live_one(remote: DirRemote, tmp_path: Path) -> None:
    dest = tmp_path / "deploy"
    shas = []
    for v in "1234":
        shas.append(_push(remote, _model(tmp_path / "m", v)))
        result = _pull(remote, dest, shas[-1], keep=2)
    assert result.pruned and set(os.listdir(dest / "releases")) == set(shas[-2:])
    # roll back to the older kept one, then pull something new with keep=1: the live one must stay
    deploy.rollback(dest)
    assert deploy.live_sha(dest) == shas[-2]
    pruned = deploy.prune(dest, 1)
    assert pruned == (shas[-1],) and deploy.live_sha(dest) == shas[-2]
    assert (dest / "current" / "config.json").exists()


def test_rollback_default_and_to_sha(remote: DirRemote, tmp_path: Path) -> None:
    dest = tmp_path / "deploy"
    a = _push(remote, _model(tmp_path / "m", "1"))
    _pull(remote, dest)
    b = _push(remote, _model(tmp_path / "m", "2"))
    _pull(remote, dest)
    assert deploy.live_sha(dest) == b
    back = deploy.rollback(dest)
    assert (back.from_sha, back.to_sha) == (b, a)
    assert json.loads((dest / "current" / "config.json").read_text())["version"] == "1"
    fwd = deploy.rollback(dest, to=b[:8])
    assert fwd.to_sha == b and deploy.live_sha(dest) == b
    with pytest.raises(NotFoundError):
        deploy.rollback(dest, to="deadbeef")


def test_rollback_without_an_earlier_release_is_a_clear_error(remote: DirRemote, tmp_path: Path) -> None:
    _push(remote, _model(tmp_path / "m", "1"))
    _pull(remote, tmp_path / "deploy")
    with pytest.raises(NotFoundError, match="no earlier release"):
        deploy.rollback(tmp_path / "deploy")


def test_cancelled_pull_never_changes_current_and_leaves_no_release(remote: DirRemote, tmp_path: Path) -> None:
    dest = tmp_path / "deploy"
    a = _push(remote, _model(tmp_path / "m", "1"))
    _pull(remote, dest)
    b = _push(remote, _model(tmp_path / "m", "2"))
    cancel = CancelToken()

    def cancel_after_first_file(event) -> None:  # noqa: ANN001
        if event.task == "pull:files":
            cancel.cancel()

    with pytest.raises(CancelledError):
        _pull(remote, dest, progress=cancel_after_first_file, cancel=cancel)
    assert deploy.live_sha(dest) == a
    assert not (dest / "releases" / b).exists()
    assert (dest / "releases" / f".staging-{b}").is_dir()  # kept so the next attempt resumes
    # the next attempt resumes: only the files the cancelled one did not finish are downloaded
    before = remote.downloads
    done = _pull(remote, dest)
    assert done.commit_sha == b and deploy.live_sha(dest) == b
    assert remote.downloads - before == 2  # 4 files: 1 already there, README.md unchanged (linked from a)
    assert not (dest / "releases" / f".staging-{b}").exists()


def test_corrupted_file_of_the_right_size_is_caught_by_sha256(remote: DirRemote, tmp_path: Path) -> None:
    dest = tmp_path / "deploy"
    a = _push(remote, _model(tmp_path / "m", "1"))
    _pull(remote, dest)
    b = _push(remote, _model(tmp_path / "m", "2"))
    remote.corrupt(b, "model.safetensors")
    with pytest.raises(VerificationError, match="model.safetensors is corrupt: sha256"):
        _pull(remote, dest)
    assert deploy.live_sha(dest) == a
    assert not (dest / "releases" / b).exists()
    assert not (dest / "releases" / f".staging-{b}" / "model.safetensors").exists()  # discarded, not resumed


def test_lfs_pointer_where_weights_are_expected_is_refused(remote: DirRemote, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    pointer = (b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"a" * 64 + b"\nsize 123\n")
    (folder / "model.safetensors").write_bytes(pointer)
    (folder / "README.md").write_text("# pointer only\n")
    (folder / "config.json").write_text("{}")
    sha = _push(remote, folder)
    with pytest.raises(VerificationError, match="Git LFS pointer"):
        _pull(remote, tmp_path / "deploy", sha)
    assert deploy.live_sha(tmp_path / "deploy") is None


@pytest.mark.parametrize("evil", ["../escape.txt", "/etc/passwd", "sub/../../x", "a\\..\\b", "./x", ".git/config"])
def test_remote_paths_escaping_the_destination_are_refused(remote: DirRemote, tmp_path: Path, evil: str) -> None:
    _push(remote, _model(tmp_path / "m", "1"))
    remote.extra_listing = [RemoteFile(evil, 3, sha256="0" * 64)]
    dest = tmp_path / "deploy"
    with pytest.raises(UnsafeContentError, match="refusing remote path"):
        _pull(remote, dest)
    assert not (tmp_path / "escape.txt").exists() and not (tmp_path / "x").exists()
    assert deploy.live_sha(dest) is None and not list((dest / "releases").glob("*")) if dest.exists() else True


def test_safe_relpath_accepts_ordinary_nested_paths() -> None:
    for ok in ("model.safetensors", "sub/dir/tokenizer.json", ".gitattributes", "a..b/c"):
        assert deploy.safe_relpath(ok) == ok


def test_status_reports_live_release_and_verify_detects_changes(remote: DirRemote, tmp_path: Path) -> None:
    dest = tmp_path / "deploy"
    a = _push(remote, _model(tmp_path / "m", "1"), tag="v1")
    _pull(remote, dest, "v1")
    st = deploy.status(dest, verify=True, check_remote=False)
    assert st.live_sha == a and st.revision == "v1" and st.verified is True and not st.problems
    assert [r.live for r in st.releases] == [True]
    # someone edits the deployed model in place
    weights = dest / "current" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[10] ^= 1
    weights.write_bytes(bytes(data))
    (dest / "current" / "stray.txt").write_text("x")
    st = deploy.status(dest, verify=True, check_remote=False)
    assert st.verified is False
    assert any("model.safetensors: modified" in p for p in st.problems)
    assert any("stray.txt" in p for p in st.problems)


def test_status_of_an_empty_dir_and_a_missing_dir(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    st = deploy.status(tmp_path / "empty")
    assert st.live_sha is None and st.releases == ()
    with pytest.raises(NotFoundError):
        deploy.status(tmp_path / "nope")


def test_switch_current_refuses_a_real_directory_named_current(remote: DirRemote, tmp_path: Path) -> None:
    from hubmgr.errors import ConflictError

    dest = tmp_path / "deploy"
    (dest / "current").mkdir(parents=True)
    _push(remote, _model(tmp_path / "m", "1"))
    with pytest.raises(ConflictError, match="not a symlink"):
        _pull(remote, dest)
    assert (dest / "current").is_dir() and not (dest / "current").is_symlink()


def test_include_pulls_a_subset_and_lock_lists_only_it(remote: DirRemote, tmp_path: Path) -> None:
    _push(remote, _model(tmp_path / "m", "1"))
    with pytest.raises(IncompleteReleaseError, match="has no weights"):  # the selection is what goes live
        _pull(remote, tmp_path / "deploy", include=("*.json",))
    result = _pull(remote, tmp_path / "deploy", include=("*.json",), allow_incomplete=True)
    assert result.warnings == ("deployed without weights (--allow-incomplete)",)
    assert result.files == 2  # config.json, sub/tokenizer.json
    assert not (tmp_path / "deploy" / "current" / "model.safetensors").exists()


def test_pointer_file_pins_the_commit(remote: DirRemote, tmp_path: Path) -> None:
    from hubmgr.formats.pointer_file import read_pointer, write_pointer

    a = _push(remote, _model(tmp_path / "m", "1"))
    files = remote.list_files(a)
    ptr = write_pointer(tmp_path / "code" / "model.hubmgr.json", remote=str(remote.root), revision="main",
                        commit=a, files=files)
    _push(remote, _model(tmp_path / "m", "2"))  # the branch moves on; the pointer does not
    assert read_pointer(ptr).commit == a
    result = sync.pull(ptr, dest=tmp_path / "deploy", remote=remote)
    assert result.commit_sha == a and result.pointer == str(ptr.resolve())
    assert json.loads((tmp_path / "deploy" / "current" / "config.json").read_text())["version"] == "1"
    # a pointer whose sha256 does not match the remote is refused
    doc = json.loads(ptr.read_text())
    doc["files"][0]["sha256"] = "f" * 64
    ptr.write_text(json.dumps(doc))
    with pytest.raises(VerificationError, match="differs from the pointer"):
        sync.pull(ptr, dest=tmp_path / "deploy2", remote=remote)


def test_a_second_pull_into_the_same_dir_at_the_same_time_is_refused(remote: DirRemote, tmp_path: Path) -> None:
    from hubmgr.errors import ConflictError

    _push(remote, _model(tmp_path / "m", "1"))
    dest = tmp_path / "deploy"
    with deploy.locked(dest):
        with pytest.raises(ConflictError, match="another hubmgr pull"):
            _pull(remote, dest)
    assert deploy.live_sha(dest) is None
    _pull(remote, dest)  # the lock is released afterwards
    assert deploy.live_sha(dest) is not None


def test_pulling_the_live_commit_with_another_include_replaces_the_release(remote: DirRemote, tmp_path: Path) -> None:
    sha = _push(remote, _model(tmp_path / "m", "1"))
    dest = tmp_path / "deploy"
    _pull(remote, dest, include=("*.json",), allow_incomplete=True)
    assert not (dest / "current" / "model.safetensors").exists()
    full = _pull(remote, dest)
    assert not full.reused and full.commit_sha == sha
    assert (dest / "current" / "model.safetensors").is_file()
    assert deploy.status(dest, verify=True, check_remote=False).verified is True
    assert sorted(os.listdir(dest / "releases")) == [sha]


def _three_releases(remote: DirRemote, tmp_path: Path) -> tuple[Path, list[str]]:
    dest = tmp_path / "deploy"
    shas = []
    for v in "123":
        shas.append(_push(remote, _model(tmp_path / "m", v)))
        _pull(remote, dest, shas[-1])
    return dest, shas


def test_rollback_skips_an_incomplete_release_and_refuses_it_by_name(remote: DirRemote, tmp_path: Path) -> None:
    dest, (a, b, c) = _three_releases(remote, tmp_path)
    # a prune killed half way before the fix: b keeps its lock file but lost its weights
    (dest / "releases" / b / "model.safetensors").unlink()
    with pytest.raises(VerificationError, match=r"incomplete: model.safetensors: missing"):
        deploy.rollback(dest, to=b[:10])
    assert deploy.live_sha(dest) == c
    back = deploy.rollback(dest)
    assert back.to_sha == a and deploy.live_sha(dest) == a
    assert len(back.skipped) == 1 and back.skipped[0].startswith(b[:12])
    assert not deploy.release_problems(dest / "releases" / a)  # what went live is complete


def test_rollback_verify_refuses_a_release_modified_in_place(remote: DirRemote, tmp_path: Path) -> None:
    dest, (a, b, c) = _three_releases(remote, tmp_path)
    weights = dest / "releases" / b / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[3] ^= 0xFF  # same size: only sha256 sees it
    weights.write_bytes(bytes(data))
    assert deploy.rollback(dest, verify=True).to_sha == a
    with pytest.raises(VerificationError, match="modified"):
        deploy.rollback(dest, to=b, verify=True)
    assert deploy.rollback(dest, to=b).to_sha == b  # without --verify: presence and size only


def test_rollback_with_only_incomplete_releases_is_a_clear_error(remote: DirRemote, tmp_path: Path) -> None:
    dest, (a, b, c) = _three_releases(remote, tmp_path)
    for sha in (a, b):
        (dest / "releases" / sha / "config.json").write_text("{}")  # wrong size
    with pytest.raises(NotFoundError, match="no earlier release.*incomplete.*config.json: size"):
        deploy.rollback(dest)
    assert deploy.live_sha(dest) == c


def test_status_checks_presence_and_size_of_the_live_release_without_verify(remote: DirRemote, tmp_path: Path) -> None:
    dest, (a, b, c) = _three_releases(remote, tmp_path)
    (dest / "releases" / a / "sub" / "tokenizer.json").unlink()
    (dest / "current" / "config.json").write_text("{}")
    st = deploy.status(dest, check_remote=False)
    assert st.complete is False and st.verified is None
    assert any(p.startswith("config.json: size") for p in st.problems)
    assert {r.sha: r.complete for r in st.releases} == {a: False, b: True, c: False}


def test_prune_removes_the_lock_file_first_and_pull_cleans_a_half_pruned_release(
        remote: DirRemote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dest, (a, b, c) = _three_releases(remote, tmp_path)
    seen = []

    def crash_in_rmtree(path, ignore_errors=False):  # noqa: ANN001
        seen.append((path.name, (path / deploy.LOCK_NAME).exists()))
        (path / "model.safetensors").unlink()  # part of the tree is gone, then the process dies
        raise KeyboardInterrupt

    monkeypatch.setattr(deploy.shutil, "rmtree", crash_in_rmtree)
    with pytest.raises(KeyboardInterrupt):
        deploy.prune(dest, 2)
    monkeypatch.undo()
    assert seen == [(a, False)]  # the lock file was already gone when the tree removal started
    assert [p.name for p in deploy.list_release_dirs(dest)] == [c, b]  # a no longer counts
    assert deploy.rollback(dest).to_sha == b
    _pull(remote, dest, c)
    assert not (dest / "releases" / a).exists()  # the next pull cleaned the half-pruned dir


def test_pull_restores_a_release_whose_swap_was_interrupted(remote: DirRemote, tmp_path: Path) -> None:
    dest, (a, b, c) = _three_releases(remote, tmp_path)
    # promote() renamed releases/<c> to .old-<c>-PID, then the process died before the second rename
    os.rename(dest / "releases" / c, dest / "releases" / f".old-{c}-4242")
    _pull(remote, dest, b)
    assert deploy.release_is_complete(dest, c) and not list((dest / "releases").glob(".old-*"))


def test_rollback_and_status_cli_report_incomplete_releases(remote: DirRemote, tmp_path: Path, run_cli) -> None:
    dest, (a, b, c) = _three_releases(remote, tmp_path)
    (dest / "releases" / b / "model.safetensors").unlink()
    r = run_cli("rollback", "--dest", str(dest), "--to", b[:12])
    assert r.exit_code == 1 and "incomplete: model.safetensors: missing" in r.stderr and "Traceback" not in r.stderr
    r = run_cli("rollback", "--dest", str(dest), "--json")
    assert r.exit_code == 0 and r.json()["to_sha"] == a and r.json()["skipped"][0].startswith(b[:12])
    (dest / "current" / "config.json").unlink()
    r = run_cli("status", "--dest", str(dest), "--offline")
    assert r.exit_code == 1 and "INCOMPLETE" in r.stdout and "config.json: missing" in r.stdout


def test_read_only_deploy_dir_is_one_line(remote: DirRemote, tmp_path: Path, run_cli) -> None:
    from hubmgr.testing.faults import read_only

    dest, (a, b, c) = _three_releases(remote, tmp_path)
    with read_only(dest):
        r = run_cli("rollback", "--dest", str(dest))
        assert r.exit_code == 1 and "Traceback" not in r.stderr, r.stderr
        assert "cannot use the deploy dir" in r.stderr, r.stderr
        assert "read-only" in r.stderr or "permission denied" in r.stderr
        with pytest.raises(LocalIOError, match="cannot use the deploy dir"):
            _pull(remote, dest, a)
        assert deploy.live_sha(dest) == c
