"""HubRemote (hubmgr.hf.remote) against the Hub test server, through the real huggingface_hub client."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from hubmgr.config import load_settings
from hubmgr.errors import AuthError, ConflictError, RemoteNotFoundError, UnsafeContentError
from hubmgr.formats.hashing import git_blob_sha1
from hubmgr.progress import CancelToken, ProgressEvent
from hubmgr.remotes import PushRequest, RemoteFile, open_remote, parse_target
from hubmgr.testing.hub_server import ALICE_READ_TOKEN, ALICE_WRITE_TOKEN, BOB_WRITE_TOKEN

pytest.importorskip("huggingface_hub")


def _remote(repo: str, token: str | None = ALICE_WRITE_TOKEN):
    return open_remote(parse_target(repo), load_settings(), token=token)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    src = tmp_path / "model"
    (src / "sub").mkdir(parents=True)
    (src / "config.json").write_text('{"model_type": "gpt2"}\n')
    (src / "model.safetensors").write_bytes(os.urandom(300_000))
    (src / "sub" / "notes.txt").write_text("notes\n")
    return src


def _all(folder: Path) -> tuple[str, ...]:
    return tuple(sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()))


def test_push_creates_private_repo_lists_and_tags(hub_server, folder: Path, monkeypatch) -> None:
    from hubmgr.hf import transfer, upload

    monkeypatch.setattr(transfer, "PROGRESS_INTERVAL", 0)
    monkeypatch.setattr(upload, "BODY_CHUNK", 64 * 1024)  # progress within the 300 kB weights
    events: list[ProgressEvent] = []
    remote = _remote("alice/tiny")
    assert remote.name == "hub:alice/tiny"
    out = remote.push(PushRequest(folder=str(folder), upload=_all(folder), private=True, tag="v1",
                                  message="first"), progress=events.append)
    assert out.created_commit and len(out.commit_sha) == 40
    assert out.commit_url == f"{hub_server.url}/alice/tiny/commit/{out.commit_sha}"
    assert out.bytes_sent == sum((folder / p).stat().st_size for p in _all(folder))
    assert set(out.files_uploaded) == set(_all(folder))
    assert events[-1].finished and events[-1].completed == len(_all(folder))
    sent = [e.completed for e in events if e.unit == "B"]
    assert sent == sorted(sent) and sent[-1] == out.bytes_sent
    import itertools

    sizes = [(folder / p).stat().st_size for p in _all(folder)]
    whole_files = {sum(c) for r in range(len(sizes) + 1) for c in itertools.combinations(sizes, r)}
    assert any(n not in whole_files for n in sent)  # moved while the weights were streaming

    storage = hub_server.storage
    assert storage.repos["model/alice/tiny"].private is True
    assert remote.resolve_revision("v1") == remote.resolve_revision(None) == out.commit_sha
    assert remote.resolve_revision(out.commit_sha[:8]) == out.commit_sha
    files = {f.path: f for f in remote.list_files(out.commit_sha)}
    weights = (folder / "model.safetensors").read_bytes()
    assert files["model.safetensors"] == RemoteFile("model.safetensors", len(weights),
                                                    hashlib.sha256(weights).hexdigest(),
                                                    files["model.safetensors"].git_oid, True)
    config = (folder / "config.json").read_bytes()
    assert files["config.json"].git_oid == git_blob_sha1(config) and not files["config.json"].is_lfs
    assert "sub/notes.txt" in files and ".gitattributes" in files
    refs = {(r.name, r.kind): r.commit_sha for r in remote.list_refs()}
    assert refs == {("main", "branch"): out.commit_sha, ("v1", "tag"): out.commit_sha}
    assert [c.title for c in remote.list_commits(limit=1)] == ["first"]


def test_push_nothing_makes_no_commit_and_deletes_exactly(hub_server, folder: Path) -> None:
    remote = _remote("alice/m")
    first = remote.push(PushRequest(folder=str(folder), upload=_all(folder)))
    hub_server.clear_requests()
    same = remote.push(PushRequest(folder=str(folder), upload=()))
    assert not same.created_commit and same.commit_sha == first.commit_sha and same.bytes_sent == 0
    assert hub_server.count("POST", "/commit/") == 0 and hub_server.count("PUT") == 0

    gone = remote.push(PushRequest(folder=str(folder), upload=(), delete=("sub/notes.txt",), message="rm"))
    assert gone.created_commit and gone.bytes_sent == 0
    assert "sub/notes.txt" not in {f.path for f in remote.list_files(gone.commit_sha)}
    tagged = remote.push(PushRequest(folder=str(folder), upload=(), tag="v1"))  # tags the current head
    assert remote.resolve_revision("v1") == tagged.commit_sha == gone.commit_sha
    (folder / "config.json").write_text('{"changed": true}\n')
    with pytest.raises(ConflictError, match="already exists"):
        remote.push(PushRequest(folder=str(folder), upload=("config.json",), tag="v1"))
    assert remote.resolve_revision("v1") == gone.commit_sha  # tags never move


def test_push_to_new_branch_and_pr(hub_server, folder: Path) -> None:
    remote = _remote("alice/b")
    main = remote.push(PushRequest(folder=str(folder), upload=("config.json",)))
    dev = remote.push(PushRequest(folder=str(folder), upload=("model.safetensors",), revision="dev"))
    assert remote.resolve_revision("dev") == dev.commit_sha != main.commit_sha
    assert remote.resolve_revision("main") == main.commit_sha
    pr = remote.push(PushRequest(folder=str(folder), upload=("sub/notes.txt",), create_pr=True))
    assert pr.pr_url and pr.pr_url.endswith("/discussions/1")
    assert remote.resolve_revision("refs/pr/1") == pr.commit_sha
    assert remote.resolve_revision("main") == main.commit_sha


def test_download_is_byte_identical_and_leaves_no_bookkeeping(hub_server, folder: Path, tmp_path: Path) -> None:
    remote = _remote("alice/d")
    sha = remote.push(PushRequest(folder=str(folder), upload=_all(folder))).commit_sha
    reader = _remote("alice/d", token=None)
    files = reader.list_files(sha)
    events: list[ProgressEvent] = []
    dest = tmp_path / "staging"
    reader.download(sha, dest, files=files, progress=events.append)
    for rel in _all(folder):
        assert (dest / rel).read_bytes() == (folder / rel).read_bytes()
    assert not (dest / ".cache").exists()
    byte_events = [e for e in events if e.unit == "B"]
    assert byte_events[-1].finished and byte_events[-1].completed == sum(f.size for f in files)


def test_download_retries_server_errors_and_dropped_connections(hub_server, folder: Path, tmp_path: Path) -> None:
    sha = _remote("alice/r").push(PushRequest(folder=str(folder), upload=_all(folder))).commit_sha
    remote = _remote("alice/r")
    files = remote.list_files(sha)
    hub_server.faults.fail(r"/resolve/.*model\.safetensors", status=500, method="GET")
    hub_server.faults.drop(r"/resolve/.*model\.safetensors", after_bytes=100_000)
    remote.download(sha, tmp_path / "s", files=files)
    assert (tmp_path / "s" / "model.safetensors").read_bytes() == (folder / "model.safetensors").read_bytes()
    assert all(f.hits == 1 for f in hub_server.faults.faults)
    assert hub_server.count("GET", r"/resolve/.*model\.safetensors") == 3


def test_download_refuses_escaping_paths(hub_server, folder: Path, tmp_path: Path) -> None:
    remote = _remote("alice/e")
    sha = remote.push(PushRequest(folder=str(folder), upload=("config.json",))).commit_sha
    hub_server.faults.add_tree_entry("alice/e", "../evil")
    files = remote.list_files(sha)
    assert "../evil" in {f.path for f in files}
    with pytest.raises(UnsafeContentError, match="escapes"):
        remote.download(sha, tmp_path / "s" / "x", files=files)
    assert not (tmp_path / "s" / "evil").exists()


def test_cancel_stops_download(hub_server, folder: Path, tmp_path: Path) -> None:
    from hubmgr.errors import CancelledError

    remote = _remote("alice/c")
    sha = remote.push(PushRequest(folder=str(folder), upload=_all(folder))).commit_sha
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        remote.download(sha, tmp_path / "s", files=remote.list_files(sha), cancel=token)


def test_auth_and_not_found_errors_have_hints_and_no_token(hub_server, folder: Path, monkeypatch) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    _remote("alice/priv").push(PushRequest(folder=str(folder), upload=("config.json",), private=True))
    _remote("alice/pub").push(PushRequest(folder=str(folder), upload=("config.json",)))
    errors = []
    with pytest.raises(AuthError) as no_login:
        _remote("alice/pub", token=None).push(PushRequest(folder=str(folder), upload=("config.json",)))
    assert "hf auth login" in no_login.value.hint
    errors.append(no_login.value)
    with pytest.raises(AuthError) as read_only:
        _remote("alice/pub", token=ALICE_READ_TOKEN).push(PushRequest(folder=str(folder), upload=("sub/notes.txt",)))
    assert "write access" in read_only.value.message
    errors.append(read_only.value)
    with pytest.raises(AuthError) as other_user:
        _remote("alice/pub", token=BOB_WRITE_TOKEN).push(PushRequest(folder=str(folder), upload=("sub/notes.txt",)))
    errors.append(other_user.value)
    bad = "hf_hubmgrTEST_bogusTOKEN_5c1a"
    with pytest.raises(AuthError) as invalid:
        _remote("alice/pub", token=bad).resolve_revision(None)
    assert "hf auth login" in invalid.value.hint
    errors.append(invalid.value)
    with pytest.raises(RemoteNotFoundError) as private:
        _remote("alice/priv", token=None).resolve_revision(None)
    assert "HF_TOKEN" in private.value.hint
    errors.append(private.value)
    with pytest.raises(RemoteNotFoundError, match="revision 'nope'"):
        _remote("alice/pub").resolve_revision("nope")
    hub_server.set_repo_flags("alice/pub", gated=True)
    pub = _remote("alice/pub", token=BOB_WRITE_TOKEN)
    sha = pub.resolve_revision(None)
    with pytest.raises(AuthError, match="gated") as gated:
        pub.download(sha, hub_server.storage.root / "x", files=pub.list_files(sha))
    errors.append(gated.value)
    for err in errors:
        text = f"{err.message} {err.hint} {err!r}"
        for token in (ALICE_WRITE_TOKEN, ALICE_READ_TOKEN, BOB_WRITE_TOKEN, bad):
            assert token not in text
        assert err.exit_code == 3
    assert ALICE_WRITE_TOKEN not in repr(_remote("alice/pub"))


def test_token_from_environment(hub_server, folder: Path, monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", ALICE_WRITE_TOKEN)
    out = _remote("alice/env", token=None).push(PushRequest(folder=str(folder), upload=("config.json",)))
    assert out.created_commit


def test_fill_hf_cache_works_offline(hub_server, folder: Path, tmp_path: Path, monkeypatch) -> None:
    from huggingface_hub import constants, hf_hub_download

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    remote = _remote("alice/cache")
    sha = remote.push(PushRequest(folder=str(folder), upload=_all(folder))).commit_sha
    snapshot = remote.fill_hf_cache(sha, ["*.json", "*.safetensors"])
    assert snapshot.name == sha and (snapshot / "model.safetensors").is_file()
    assert not (snapshot / "sub").exists()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    got = hf_hub_download("alice/cache", "config.json")  # revision main -> refs/main -> sha
    assert Path(got).read_bytes() == (folder / "config.json").read_bytes()


def test_push_survives_a_failed_upload_part_and_maps_commit_failures(hub_server, folder: Path) -> None:
    from hubmgr.errors import RemoteError

    hub_server.multipart_threshold = 100_000
    hub_server.multipart_chunk_size = 100_000
    remote = _remote("alice/up")
    hub_server.faults.fail("^/lfs-part/", status=500, retry_after=0)  # the library retries parts
    out = remote.push(PushRequest(folder=str(folder), upload=_all(folder)))
    assert out.created_commit and hub_server.faults.faults[0].hits == 1
    assert hub_server.count("PUT", "^/lfs-part/") == 3 + 1  # 300 kB in 100 kB parts, one retried

    (folder / "config.json").write_text('{"v": 2}\n')
    hub_server.faults.fail("/commit/", status=412)
    with pytest.raises(ConflictError, match="changed on the Hub"):
        remote.push(PushRequest(folder=str(folder), upload=("config.json",)))
    hub_server.faults.fail("/commit/", status=503)
    with pytest.raises(RemoteError, match="HTTP 503") as unavailable:
        remote.push(PushRequest(folder=str(folder), upload=("config.json",)))
    assert unavailable.value.exit_code == 3
    assert remote.resolve_revision(None) == out.commit_sha  # nothing half-committed
