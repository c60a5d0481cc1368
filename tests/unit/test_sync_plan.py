"""Push planning: what is uploaded, skipped, deleted; refusals (pickles, secrets, symlinks); dry run."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hubmgr import sync
from hubmgr.catalog import Catalog
from hubmgr.errors import UnsafeContentError, UsageError
from hubmgr.testing.dir_remote import DirRemote


def _folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "README.md").write_text("# m\n")
    (root / "config.json").write_text('{"a": 1}')
    (root / "model.safetensors").write_bytes(os.urandom(2048))
    return root


@pytest.fixture
def remote(tmp_path: Path) -> DirRemote:
    return DirRemote(tmp_path / "remote")


def test_plan_against_a_new_repo_uploads_everything(remote: DirRemote, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "m")
    plan = sync.plan_push(folder, remote.target, remote=remote)
    assert plan.base_commit is None
    assert [f.path for f in plan.upload] == ["README.md", "config.json", "model.safetensors"]
    assert {f.reason for f in plan.upload} == {"new"} and not plan.skip and not plan.delete
    assert plan.bytes_to_upload == sum((folder / f.path).stat().st_size for f in plan.upload)


def test_plan_skips_unchanged_uploads_changed_and_deletes_removed(remote: DirRemote, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "m")
    (folder / "old.txt").write_text("bye")
    first = sync.push(folder, remote.target, remote=remote)
    (folder / "old.txt").unlink()
    (folder / "config.json").write_text('{"a": 2}')
    plan = sync.plan_push(folder, remote.target, remote=remote)
    assert plan.base_commit == first.commit_sha
    assert [(f.path, f.reason) for f in plan.upload] == [("config.json", "changed")]
    assert sorted(f.path for f in plan.skip) == ["README.md", "model.safetensors"]
    assert plan.delete == ()  # removed locally is not a request to delete remotely
    assert [f.path for f in sync.plan_push(folder, remote.target, remote=remote, mirror=True).delete] == ["old.txt"]
    assert [f.path for f in sync.plan_push(folder, remote.target, remote=remote, delete=("*.txt",)).delete] \
        == ["old.txt"]
    assert sync.plan_push(folder, remote.target, remote=remote, delete=("*.md",)).delete == ()


def test_deletes_are_limited_to_the_include_scope(remote: DirRemote, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "m")
    sync.push(folder, remote.target, remote=remote)
    only = tmp_path / "only"
    only.mkdir()
    (only / "model.safetensors").write_bytes(b"new weights")
    plan = sync.plan_push(only, remote.target, remote=remote, include=("*.safetensors",), mirror=True)
    assert [f.path for f in plan.upload] == ["model.safetensors"] and not plan.delete


def test_unchanged_push_makes_no_commit_and_sends_nothing(remote: DirRemote, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "m")
    catalog = Catalog(tmp_path / "catalog.db")
    first = sync.push(folder, remote.target, remote=remote, catalog=catalog)
    again = sync.push(folder, remote.target, remote=remote, catalog=catalog)
    assert first.created_commit and not again.created_commit
    assert again.commit_sha == first.commit_sha and again.bytes_sent == 0 and again.files_uploaded == ()
    assert len(remote.list_commits()) == 1
    pushes = catalog.list_pushes(str(folder.resolve()))
    assert [p.commit_sha for p in pushes] == [first.commit_sha] * 2
    assert pushes[1].details["created_commit"] is False


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pth", "w.pt", "last.ckpt"])
def test_pickled_weights_are_refused_unless_allowed(remote: DirRemote, tmp_path: Path, name: str) -> None:
    folder = _folder(tmp_path / "m")
    (folder / name).write_bytes(b"\x80\x02pickle")
    with pytest.raises(UnsafeContentError, match="pickled weights or data") as err:
        sync.plan_push(folder, remote.target, remote=remote)
    assert "--convert" in err.value.hint and "--allow-pickle" in err.value.hint
    plan = sync.plan_push(folder, remote.target, remote=remote, allow_pickle=True)
    assert name in {f.path for f in plan.upload}
    plan = sync.plan_push(folder, remote.target, remote=remote, exclude=(name,))
    assert name not in {f.path for f in plan.upload}


@pytest.mark.parametrize("name,content", [
    (".env", "A=1"), ("deploy.pem", "-----BEGIN"), ("id_rsa", "k"), ("id_rsa.pub", "k"),
    ("notes.txt", "token = hf_" + "a1B2c3D4e5" * 4),
])
def test_secret_looking_files_are_refused_unless_excluded(remote: DirRemote, tmp_path: Path, name: str,
                                                          content: str) -> None:
    folder = _folder(tmp_path / "m")
    (folder / name).write_text(content)
    with pytest.raises(UnsafeContentError, match="look like secrets") as err:
        sync.plan_push(folder, remote.target, remote=remote)
    assert name in err.value.message and "--exclude" in err.value.hint
    assert "hf_a1B2" not in err.value.message  # the token itself is never echoed
    sync.plan_push(folder, remote.target, remote=remote, exclude=(name,))


def test_short_hf_prefixed_words_are_not_secrets(remote: DirRemote, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "m")
    (folder / "notes.txt").write_text("see hf_hub_download and hf_transfer")
    sync.plan_push(folder, remote.target, remote=remote)


def test_symlinks_out_of_the_folder_are_never_followed(remote: DirRemote, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "m")
    secret = tmp_path / "outside.txt"
    secret.write_text("outside")
    (folder / "leak.txt").symlink_to(secret)
    (tmp_path / "outdir").mkdir()
    (tmp_path / "outdir" / "x.txt").write_text("x")
    (folder / "linkdir").symlink_to(tmp_path / "outdir")
    (folder / "alias.json").symlink_to(folder / "config.json")  # inside: pushed as its content
    plan = sync.plan_push(folder, remote.target, remote=remote)
    paths = {f.path for f in plan.upload}
    assert "leak.txt" not in paths and not any(p.startswith("linkdir") for p in paths)
    assert "alias.json" in paths
    assert any("leak.txt" in w for w in plan.warnings)


def test_git_dirs_caches_and_lock_files_are_not_pushed(remote: DirRemote, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "m")
    for d in (".git", ".hubmgr", ".cache/huggingface"):
        (folder / d).mkdir(parents=True)
        (folder / d / "f").write_text("x")
    (folder / "hubmgr.lock.json").write_text("{}")
    plan = sync.plan_push(folder, remote.target, remote=remote)
    assert sorted(f.path for f in plan.upload) == ["README.md", "config.json", "model.safetensors"]


def test_dry_run_changes_nothing(remote: DirRemote, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "m")
    (folder / "README.md").unlink()
    catalog = Catalog(tmp_path / "catalog.db")
    result = sync.push(folder, remote.target, remote=remote, dry_run=True, tag="v1", catalog=catalog)
    assert result.dry_run and not result.created_commit and result.commit_sha is None
    # the card is generated into staging for the plan too (the plan is what runs), never into the folder
    assert [f.path for f in result.plan.upload] == ["README.md", "config.json", "model.safetensors"]
    assert result.plan.upload[0].origin == "model card, generated for this push" and result.card_written
    assert not (folder / "README.md").exists()
    assert not list((Path(os.environ["HUBMGR_HOME"]) / "staging").iterdir())  # staging removed
    assert remote.list_refs() == [] and catalog.list_pushes() == []


def test_revision_in_target_and_option_must_agree(remote: DirRemote, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "m")
    from hubmgr.remotes import RemoteTarget

    target = RemoteTarget(remote.target.kind, remote.target.location, "dev")
    with pytest.raises(UsageError, match="two revisions"):
        sync.plan_push(folder, target, remote=remote, revision="main")
    plan = sync.plan_push(folder, target, remote=remote, revision="dev")
    assert plan.revision == "dev"


def test_push_to_a_branch_then_tag_pins_a_commit(remote: DirRemote, tmp_path: Path) -> None:
    folder = _folder(tmp_path / "m")
    tagged = sync.push(folder, remote.target, remote=remote, tag="v1")
    (folder / "config.json").write_text(json.dumps({"a": 3}))
    moved = sync.push(folder, remote.target, remote=remote)
    assert moved.commit_sha != tagged.commit_sha
    assert remote.resolve_revision("v1") == tagged.commit_sha
    assert remote.resolve_revision("main") == moved.commit_sha


def test_nothing_to_push_is_a_usage_error(remote: DirRemote, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="nothing to push"):
        sync.plan_push(tmp_path / "empty", remote.target, remote=remote)
