"""Push and pull through real git + git-lfs: the embedded local registry and plain bare repos."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from hubmgr import deploy, sync
from hubmgr.catalog import Catalog
from hubmgr.errors import ConflictError, RemoteNotFoundError, VerificationError
from hubmgr.remotes import PushRequest, open_remote
from hubmgr.git.cmd import GitError, git_text, run_git
from hubmgr.git.remote import GitRemote, lfs_object_path

pytestmark = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is required (apt-get install git-lfs)")


def _registry(home: Path) -> Path:
    return Path(os.environ["HUBMGR_HOME"]) / "registry"


def _model(folder: Path, version: str, *, weights: bytes | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text("# test\n")
    (folder / "config.json").write_text(json.dumps({"version": version}))
    (folder / "model.safetensors").write_bytes(weights if weights is not None else os.urandom(50_000))
    return folder


def _bare(path: Path) -> Path:
    run_git(["init", "-q", "--bare", str(path)])
    return path


def _show(git_dir: Path, rev_path: str) -> bytes:
    return run_git(["--git-dir", str(git_dir), "cat-file", "blob", rev_path], lfs=False).stdout


def _commit_count(git_dir: Path, ref: str = "main") -> int:
    return int(git_text(["--git-dir", str(git_dir), "rev-list", "--count", ref], lfs=False))


@pytest.fixture
def deploy_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Switch to another HUBMGR_HOME (a deploy host with no local git cache), same registry dir."""

    def switch() -> None:
        registry = _registry(tmp_path)
        host = tmp_path / "host-home"
        host.mkdir(exist_ok=True)
        (host / "config.toml").write_text(f'[registry]\ndir = "{registry}"\n')
        monkeypatch.setenv("HUBMGR_HOME", str(host))

    return switch


def test_round_trip_of_a_tiny_gpt2_through_the_local_registry(tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "gpt2"
    shutil.copytree(tiny_gpt2_dir, folder)
    catalog = Catalog(tmp_path / "catalog.db")
    pushed = sync.push(folder, "local:tiny-gpt2", catalog=catalog, message="first model")
    assert pushed.created_commit and pushed.card_written and not (folder / "README.md").exists()
    bare = _registry(tmp_path) / "tiny-gpt2.git"
    assert bare.is_dir()
    assert _show(bare, f"{pushed.commit_sha}:README.md").startswith(b"---")  # the card went to the remote only
    # weights are stored with Git LFS: git holds a pointer, the LFS store holds the bytes
    pointer = _show(bare, f"{pushed.commit_sha}:model.safetensors")
    assert pointer.startswith(b"version https://git-lfs.github.com/spec/v1")
    attributes = _show(bare, f"{pushed.commit_sha}:.gitattributes").decode()
    for pattern in ("*.safetensors", "*.bin", "*.pth", "*.pt", "*.ckpt", "*.onnx", "*.gguf", "*.h5", "*.msgpack"):
        assert f"{pattern} filter=lfs diff=lfs merge=lfs -text" in attributes
    assert git_text(["--git-dir", str(bare), "log", "-1", "--format=%s"], lfs=False) == "first model"

    dest = tmp_path / "srv"
    pulled = sync.pull("local:tiny-gpt2", dest=dest, catalog=catalog)
    assert pulled.commit_sha == pushed.commit_sha
    for f in folder.rglob("*"):
        if f.is_file():
            assert (dest / "current" / f.relative_to(folder)).read_bytes() == f.read_bytes(), f
    assert catalog.list_pulls(str(dest.resolve()))[0].commit_sha == pushed.commit_sha
    assert catalog.list_pushes()[0].remote == "local:tiny-gpt2"

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(dest / "current")
    tokenizer = AutoTokenizer.from_pretrained(dest / "current")
    ids = tokenizer("1 + 2 =", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=4, do_sample=False, pad_token_id=0)
    assert out.shape[1] == ids["input_ids"].shape[1] + 4


def test_unchanged_repush_makes_no_commit_and_changed_file_makes_one(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m", "1")
    first = sync.push(folder, "local:m")
    again = sync.push(folder, "local:m")
    bare = _registry(tmp_path) / "m.git"
    assert not again.created_commit and again.commit_sha == first.commit_sha and again.bytes_sent == 0
    assert _commit_count(bare) == 1
    (folder / "config.json").write_text('{"version": "2"}')
    third = sync.push(folder, "local:m")
    assert third.created_commit and third.files_uploaded == ("config.json",) and third.bytes_sent == 0
    assert _commit_count(bare) == 2
    # the unchanged weights were not re-added: the new commit's weights pointer is the old one
    assert _show(bare, f"{third.commit_sha}:model.safetensors") == _show(bare, f"{first.commit_sha}:model.safetensors")


def test_deleted_file_is_removed_from_the_next_commit(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m", "1")
    (folder / "notes.txt").write_text("temporary")
    sync.push(folder, "local:m")
    (folder / "notes.txt").unlink()
    kept = sync.push(folder, "local:m")  # nothing is deleted unless asked
    assert kept.files_deleted == () and not kept.created_commit
    result = sync.push(folder, "local:m", mirror=True)
    assert result.files_deleted == ("notes.txt",)
    tree = git_text(["--git-dir", str(_registry(tmp_path) / "m.git"), "ls-tree", "--name-only", "main"], lfs=False)
    assert "notes.txt" not in tree.split()


def test_tag_pins_the_same_commit_after_the_branch_moves(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m", "1")
    v1 = sync.push(folder, "local:m", tag="v1")
    _model(folder, "2")
    v2 = sync.push(folder, "local:m")
    assert v2.commit_sha != v1.commit_sha
    dest = tmp_path / "srv"
    pulled = sync.pull("local:m@v1", dest=dest)
    assert pulled.commit_sha == v1.commit_sha and pulled.revision == "v1"
    assert json.loads((dest / "current" / "config.json").read_text())["version"] == "1"
    st = deploy.status(dest)
    assert st.live_sha == v1.commit_sha and st.remote_moved is False  # the tag did not move
    latest = sync.pull("local:m", dest=dest)
    assert latest.commit_sha == v2.commit_sha and latest.previous_sha == v1.commit_sha
    # pull by (short) sha too
    assert sync.pull(f"local:m@{v1.commit_sha[:10]}", dest=dest).commit_sha == v1.commit_sha


def test_status_sees_the_remote_branch_move(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m", "1")
    sync.push(folder, "local:m")
    dest = tmp_path / "srv"
    sync.pull("local:m@main", dest=dest)
    _model(folder, "2")
    moved = sync.push(folder, "local:m")
    st = deploy.status(dest, verify=True)
    assert st.remote_moved is True and st.remote_sha == moved.commit_sha and st.verified is True


def test_existing_tag_is_not_moved_without_force(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m", "1")
    v1 = sync.push(folder, "local:m", tag="v1")
    _model(folder, "2")
    with pytest.raises(ConflictError, match="tag 'v1' already exists"):
        sync.push(folder, "local:m", tag="v1")
    remote = open_remote("local:m")
    assert remote.resolve_revision("v1") == v1.commit_sha
    moved = sync.push(folder, "local:m", tag="v1", force=True)
    assert remote.resolve_revision("v1") == moved.commit_sha


def test_big_files_go_to_lfs_by_threshold_and_plain_git_clone_sees_them(tmp_path: Path) -> None:
    (Path(os.environ["HUBMGR_HOME"])).mkdir(parents=True, exist_ok=True)
    (Path(os.environ["HUBMGR_HOME"]) / "config.toml").write_text('[git]\nlfs_threshold = "1KB"\n')
    folder = _model(tmp_path / "m", "1")
    (folder / "data").mkdir()
    (folder / "data" / "big table.csv").write_bytes(b"x,y\n" * 1000)  # 4 KB, not a weight suffix
    (folder / "small.txt").write_text("small")
    pushed = sync.push(folder, "local:m")
    bare = _registry(tmp_path) / "m.git"
    assert _show(bare, f"{pushed.commit_sha}:data/big table.csv").startswith(b"version https://git-lfs")
    assert _show(bare, f"{pushed.commit_sha}:small.txt") == b"small"
    # a plain `git clone` + `git lfs pull` of the registry repo gets the real bytes
    clone = tmp_path / "clone"
    run_git(["clone", "-q", bare.as_uri(), str(clone)])
    run_git(["lfs", "pull"], cwd=clone)
    for rel in ("model.safetensors", "data/big table.csv", "small.txt", "config.json"):
        assert (clone / rel).read_bytes() == (folder / rel).read_bytes()


def test_bare_path_file_url_and_git_plus_targets(tmp_path: Path) -> None:
    bare = _bare(tmp_path / "models" / "m.git")
    folder = _model(tmp_path / "m", "1")
    pushed = sync.push(folder, str(bare), tag="v1")
    assert open_remote(f"git+{bare.as_uri()}").resolve_revision("v1") == pushed.commit_sha
    pulled = sync.pull(f"{bare.as_uri()}@v1", dest=tmp_path / "srv")
    assert pulled.commit_sha == pushed.commit_sha and pulled.remote == bare.as_uri()
    assert (tmp_path / "srv" / "current" / "model.safetensors").read_bytes() == \
        (folder / "model.safetensors").read_bytes()
    refs = {(r.name, r.kind) for r in open_remote(str(bare)).list_refs()}
    assert refs == {("main", "branch"), ("v1", "tag")}


def test_push_to_a_branch_with_revision(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m", "1")
    main = sync.push(folder, "local:m")
    _model(folder, "exp")
    exp = sync.push(folder, "local:m", revision="exp")
    remote = open_remote("local:m")
    assert remote.resolve_revision(None) == main.commit_sha  # default branch untouched
    assert remote.resolve_revision("exp") == exp.commit_sha
    # a new branch holds exactly the folder (no files inherited from main)
    tree = git_text(["--git-dir", str(_registry(tmp_path) / "m.git"), "ls-tree", "--name-only", "exp"], lfs=False)
    assert sorted(tree.split()) == [".gitattributes", "README.md", "config.json", "model.safetensors"]
    commits = remote.list_commits("exp")
    assert commits[0].sha == exp.commit_sha


def test_corrupted_lfs_object_in_the_remote_never_changes_current(tmp_path: Path, deploy_host) -> None:
    folder = _model(tmp_path / "m", "1")
    v1 = sync.push(folder, "local:m")
    _model(folder, "2")
    v2 = sync.push(folder, "local:m")
    bare = _registry(tmp_path) / "m.git"
    deploy_host()  # a host that has never seen these objects
    dest = tmp_path / "srv"
    sync.pull(f"local:m@{v1.commit_sha}", dest=dest)
    remote = open_remote("local:m")
    oid = next(f.sha256 for f in remote.list_files(v2.commit_sha) if f.path == "model.safetensors")
    stored = lfs_object_path(bare, oid)
    data = bytearray(stored.read_bytes())
    data[100] ^= 0xFF  # same size, different bytes
    stored.unlink()  # git-lfs hard-links objects between local repos: damage only this copy
    stored.write_bytes(bytes(data))
    with pytest.raises(VerificationError, match="corrupt"):
        sync.pull("local:m", dest=dest)
    assert deploy.live_sha(dest) == v1.commit_sha
    assert not (dest / "releases" / v2.commit_sha).exists()
    assert json.loads((dest / "current" / "config.json").read_text())["version"] == "1"


def test_corrupted_object_in_the_local_cache_is_caught_and_fetched_again(tmp_path: Path, deploy_host,
                                                                        monkeypatch) -> None:
    folder = _model(tmp_path / "m", "1")
    v1 = sync.push(folder, "local:m")
    deploy_host()
    monkeypatch.setenv("HUBMGR_LFS_TRANSFER", "git-lfs")
    sync.pull("local:m", dest=tmp_path / "a")  # through git-lfs: fills this host's cache
    monkeypatch.delenv("HUBMGR_LFS_TRANSFER")
    remote = open_remote("local:m")
    assert isinstance(remote, GitRemote)
    f = next(f for f in remote.list_files(v1.commit_sha) if f.path == "model.safetensors")
    cached = lfs_object_path(remote.git_dir, f.sha256)
    data = bytearray(cached.read_bytes())
    data[0] ^= 0xFF
    cached.unlink()  # git-lfs hard-links objects between local repos: damage only the cache's copy
    cached.write_bytes(bytes(data))
    pulled = sync.pull("local:m", dest=tmp_path / "b")
    assert (tmp_path / "b" / "current" / "model.safetensors").read_bytes() == \
        (folder / "model.safetensors").read_bytes()
    assert pulled.commit_sha == v1.commit_sha


def test_diverged_remote_is_a_clear_error_and_never_force_pushed(tmp_path: Path, monkeypatch) -> None:
    folder = _model(tmp_path / "m", "1")
    base = sync.push(folder, "local:m")
    _model(folder, "2")
    remote = open_remote("local:m")
    plan = sync.plan_push(folder, "local:m")
    request = PushRequest(folder=str(folder), upload=tuple(f.path for f in plan.upload), revision="main",
                          message="ours")
    with remote._locked():
        prepared = remote._prepare_commit(request)
    # meanwhile someone else pushes to main from another machine (another working copy)
    other = tmp_path / "other"
    registry = _registry(tmp_path)
    monkeypatch.setenv("HUBMGR_HOME", str(tmp_path / "other-home"))
    (tmp_path / "other-home").mkdir()
    (tmp_path / "other-home" / "config.toml").write_text(f'[registry]\ndir = "{registry}"\n')
    theirs = sync.push(_model(other, "theirs"), "local:m")
    assert theirs.created_commit
    with remote._locked(), pytest.raises(GitError, match="diverged") as err:
        remote._publish(request, prepared)
    assert "--force" in err.value.hint
    assert remote.resolve_revision("main") == theirs.commit_sha  # their commit survives
    assert prepared.base == base.commit_sha


def test_pull_of_a_missing_registry_repo_or_revision(tmp_path: Path) -> None:
    with pytest.raises(RemoteNotFoundError, match="no repository local:nothing"):
        sync.pull("local:nothing", dest=tmp_path / "srv")
    sync.push(_model(tmp_path / "m", "1"), "local:m")
    with pytest.raises(RemoteNotFoundError, match="revision 'nope' not found"):
        sync.pull("local:m@nope", dest=tmp_path / "srv")
    assert deploy.live_sha(tmp_path / "srv") is None


def test_push_to_a_directory_that_is_not_a_git_repo_loses_nothing(tmp_path: Path) -> None:
    folder = _model(tmp_path / "m", "1")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(RemoteNotFoundError, match="no git repository at file://") as err:
        sync.push(folder, str(plain))
    assert "git init --bare" in err.value.hint
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert list(plain.iterdir()) == []


def test_auth_failure_over_http_is_an_auth_error(tmp_path: Path) -> None:
    from hubmgr.errors import AuthError

    from hubmgr.testing.git_http import auth_wall

    with auth_wall() as url:
        with pytest.raises(AuthError) as err:
            sync.pull(f"git+{url}/org/model.git", dest=tmp_path / "srv")
    assert "authentication failed" in err.value.message and "secret" not in err.value.message
    assert not (tmp_path / "srv" / "current").exists()


def test_convert_pushes_safetensors_instead_of_the_pickle(tiny_gpt2_bin_dir: Path, tmp_path: Path) -> None:
    folder = tmp_path / "old-run"
    shutil.copytree(tiny_gpt2_bin_dir, folder)
    before = sorted(p.name for p in folder.iterdir())
    result = sync.push(folder, "local:old", convert=True)
    assert result.converted == ("pytorch_model.bin",) and result.created_commit
    files = {f.path for f in open_remote("local:old").list_files(result.commit_sha)}
    assert "model.safetensors" in files and "pytorch_model.bin" not in files
    assert sorted(p.name for p in folder.iterdir()) == before  # the user's folder is left as it was
    assert not list((Path(os.environ["HUBMGR_HOME"]) / "staging").iterdir())  # staging cleaned up
    dest = tmp_path / "srv"
    sync.pull("local:old", dest=dest)
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(dest / "current")


def test_gitattributes_keeps_user_lines_and_tracks_big_files() -> None:
    from hubmgr.git.remote import gitattributes_text

    text = gitattributes_text("*.txt text eol=lf\n*.bin filter=lfs diff=lfs merge=lfs -text\n",
                              ["data/big table.csv", "weights/extra.bin"])
    lines = text.splitlines()
    assert lines[0] == "*.txt text eol=lf"
    assert lines.count("*.bin filter=lfs diff=lfs merge=lfs -text") == 1  # not duplicated
    assert "/data/big[[:space:]]table.csv filter=lfs diff=lfs merge=lfs -text" in lines
    assert not any(ln.startswith("/weights/extra.bin") for ln in lines)  # already covered by *.bin
    assert gitattributes_text(text, ["data/big table.csv"]) == text  # stable: no churn on re-push


def test_remote_names_never_carry_credentials(tmp_path: Path) -> None:
    from hubmgr.config import load_settings
    from hubmgr.remotes import parse_target

    remote = GitRemote(parse_target("https://alice:tok123@example.invalid/org/m.git"), load_settings())
    assert "tok123" not in remote.name and remote.name.startswith("https://***@")
    assert GitRemote(parse_target("local:demo"), load_settings()).name == "local:demo"


def test_plain_git_push_of_big_weights_is_rejected_by_a_github_like_host_but_hubmgr_push_passes(
        tmp_path: Path) -> None:
    from hubmgr.testing.github_like import GH001, make_github_like_remote

    limit = 200_000
    host = make_github_like_remote(tmp_path / "host" / "model.git", limit_bytes=limit)
    folder = _model(tmp_path / "m", "1", weights=os.urandom(3 * limit))
    # plain git (no LFS): the host refuses the push with GitHub's message
    work = tmp_path / "plain"
    shutil.copytree(folder, work)
    run_git(["init", "-q"], cwd=work, lfs=False)
    run_git(["add", "-A"], cwd=work, lfs=False)
    run_git(["commit", "-q", "-m", "weights"], cwd=work, lfs=False)
    proc = run_git(["push", Path(host).as_uri(), "HEAD:refs/heads/main"], cwd=work, lfs=False, check=False)
    assert proc.returncode != 0 and GH001 in proc.stderr.decode()
    # hubmgr push: the weights travel through Git LFS, git only carries a small pointer
    pushed = sync.push(folder, str(host))
    assert pushed.created_commit
    pulled = sync.pull(f"{Path(host).as_uri()}@main", dest=tmp_path / "srv")
    assert (tmp_path / "srv" / "current" / "model.safetensors").read_bytes() == \
        (folder / "model.safetensors").read_bytes()
    assert pulled.commit_sha == pushed.commit_sha


def test_bare_repo_whose_head_is_an_unborn_master(tmp_path: Path) -> None:
    bare = tmp_path / "legacy.git"
    run_git(["-c", "init.defaultBranch=master", "init", "-q", "--bare", str(bare)], lfs=False)
    pushed = sync.push(_model(tmp_path / "m", "1"), str(bare))  # HEAD -> master (unborn); we push main
    assert sync.pull(str(bare), dest=tmp_path / "srv").commit_sha == pushed.commit_sha
