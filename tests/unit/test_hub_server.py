"""The Hub test server, driven by the real ``huggingface_hub`` client over HTTP (no Xet)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from hubmgr.testing.hub_server import ALICE_READ_TOKEN, ALICE_WRITE_TOKEN, BOB_WRITE_TOKEN

hf = pytest.importorskip("huggingface_hub")
from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi  # noqa: E402
from huggingface_hub.errors import (  # noqa: E402
    EntryNotFoundError, GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError,
)


def _api(server, token=ALICE_WRITE_TOKEN) -> HfApi:
    return HfApi(endpoint=server.url, token=token)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def model_files(tmp_path: Path) -> dict[str, bytes]:
    files = {
        "config.json": b'{"model_type": "gpt2"}\n',
        "README.md": b"---\nlicense: mit\n---\n# tiny\n",
        "sub/notes.txt": b"notes\n",
        "model.safetensors": os.urandom(3000),
        "big.bin": os.urandom(3 * 1024 * 1024 + 17),  # multipart with the small threshold below
    }
    for name, data in files.items():
        (tmp_path / "src" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / name).write_bytes(data)
    return files


def test_whoami_create_info_and_delete(hub_server) -> None:
    api = _api(hub_server)
    assert api.whoami()["name"] == "alice"
    url = api.create_repo("alice/probe", private=True)
    assert url.repo_id == "alice/probe"
    assert api.create_repo("alice/probe", exist_ok=True).repo_id == "alice/probe"
    with pytest.raises(HfHubHTTPError):
        api.create_repo("alice/probe")
    info = api.model_info("alice/probe", files_metadata=True)
    assert info.private is True and len(info.sha) == 40
    assert [s.rfilename for s in info.siblings] == [".gitattributes"]
    api.delete_repo("alice/probe")
    assert not api.repo_exists("alice/probe")
    api.delete_repo("alice/probe", missing_ok=True)


def test_upload_list_download_and_noop_reupload(hub_server, model_files, tmp_path: Path) -> None:
    hub_server.multipart_threshold = 1024 * 1024
    hub_server.multipart_chunk_size = 1024 * 1024
    hub_server.page_size = 2
    api = _api(hub_server)
    api.create_repo("alice/m")
    info = api.upload_folder(folder_path=tmp_path / "src", repo_id="alice/m", commit_message="first")
    assert hub_server.count("PUT", "^/lfs-part/") == 4  # big.bin: 4 parts of 1 MiB
    assert hub_server.count("PUT", "^/lfs-upload/") == 1  # model.safetensors: basic
    assert hub_server.count("POST", "/lfs-complete/") == 1

    tree = {f.path: f for f in api.list_repo_tree("alice/m", recursive=True)}  # paginated by 2
    assert set(tree) >= {"config.json", "sub", "sub/notes.txt", "model.safetensors", "big.bin", ".gitattributes"}
    assert tree["big.bin"].lfs.sha256 == _sha256(model_files["big.bin"])
    assert tree["model.safetensors"].lfs.size == 3000
    assert tree["config.json"].lfs is None and tree["config.json"].size == len(model_files["config.json"])
    top = {f.path for f in api.list_repo_tree("alice/m")}
    assert "sub/notes.txt" not in top and "sub" in top
    infos = api.get_paths_info("alice/m", ["config.json", "sub", "missing.txt"], revision=info.oid)
    assert sorted(i.path for i in infos) == ["config.json", "sub"]

    # full and short shas resolve everywhere
    assert api.model_info("alice/m", revision=info.oid).sha == info.oid
    assert api.model_info("alice/m", revision=info.oid[:7]).sha == info.oid

    local = api.snapshot_download("alice/m", revision=info.oid, local_dir=tmp_path / "dl")
    for name, data in model_files.items():
        assert (Path(local) / name).read_bytes() == data

    hub_server.clear_requests()
    again = api.upload_folder(folder_path=tmp_path / "src", repo_id="alice/m")
    assert again.oid == info.oid  # no-op: preupload oids matched, no commit
    assert hub_server.count("POST", "/commit/") == 0
    assert hub_server.count("PUT", "^/lfs-") == 0

    commits = api.list_repo_commits("alice/m")  # paginated by 2
    assert [c.title for c in commits] == ["first", "initial commit"]


def test_refs_tags_branches_pr_and_parent_commit(hub_server) -> None:
    api = _api(hub_server)
    api.create_repo("alice/r")
    c1 = api.create_commit("alice/r", [CommitOperationAdd("a.txt", b"one")], commit_message="one")
    api.create_tag("alice/r", tag="v1", tag_message="first")
    with pytest.raises(HfHubHTTPError):
        api.create_tag("alice/r", tag="v1")
    api.create_branch("alice/r", branch="dev", revision="v1")
    c2 = api.create_commit("alice/r", [CommitOperationAdd("a.txt", b"two")], commit_message="two")
    refs = api.list_repo_refs("alice/r", include_pull_requests=True)
    assert {t.name: t.target_commit for t in refs.tags} == {"v1": c1.oid}
    assert {b.name: b.target_commit for b in refs.branches} == {"main": c2.oid, "dev": c1.oid}
    assert api.model_info("alice/r", revision="v1").sha == c1.oid

    with pytest.raises(HfHubHTTPError) as stale:
        api.create_commit("alice/r", [CommitOperationAdd("b.txt", b"x")], commit_message="stale",
                          parent_commit=c1.oid)
    assert stale.value.response.status_code == 412

    pr = api.create_commit("alice/r", [CommitOperationAdd("b.txt", b"pr")], commit_message="pr", create_pr=True)
    assert pr.pr_revision == "refs/pr/1"
    assert api.model_info("alice/r", revision="refs/pr/1").sha == pr.oid
    assert api.model_info("alice/r").sha == c2.oid  # main did not move

    api.create_commit("alice/r", [CommitOperationDelete("a.txt")], commit_message="rm")
    with pytest.raises(EntryNotFoundError):
        api.create_commit("alice/r", [CommitOperationDelete("a.txt")], commit_message="rm again")
    with pytest.raises(RevisionNotFoundError):
        api.model_info("alice/r", revision="nope")
    api.delete_tag("alice/r", tag="v1")
    api.delete_branch("alice/r", branch="dev")
    refs = api.list_repo_refs("alice/r")
    assert refs.tags == [] and [b.name for b in refs.branches] == ["main"]


def test_resolve_headers_range_and_errors(hub_server, tmp_path: Path) -> None:
    import httpx2

    api = _api(hub_server)
    api.create_repo("alice/d")
    data = os.urandom(5000)
    c = api.create_commit("alice/d", [CommitOperationAdd("w.safetensors", data),
                                      CommitOperationAdd("c.json", b"{}")], commit_message="add")
    url = f"{hub_server.url}/alice/d/resolve/main/w.safetensors"
    head = httpx2.head(url)
    assert head.headers["X-Repo-Commit"] == c.oid
    assert head.headers["X-Linked-Etag"].strip('"') == _sha256(data)
    assert head.headers["X-Linked-Size"] == head.headers["Content-Length"] == "5000"
    part = httpx2.get(url, headers={"Range": "bytes=1000-"})
    assert part.status_code == 206 and part.content == data[1000:]
    assert part.headers["Content-Range"] == "bytes 1000-4999/5000"
    miss = httpx2.head(f"{hub_server.url}/alice/d/resolve/main/nope.txt")
    assert miss.status_code == 404 and miss.headers["X-Error-Code"] == "EntryNotFound"
    assert httpx2.get(f"{hub_server.url}/api/models/alice/d/xet-read-token/{c.oid}").status_code == 404

    got = api.hf_hub_download("alice/d", "w.safetensors", revision="main", cache_dir=tmp_path / "cache")
    assert Path(got).read_bytes() == data
    with pytest.raises(EntryNotFoundError):
        api.hf_hub_download("alice/d", "nope.txt", cache_dir=tmp_path / "cache")


def test_tokens_private_and_gated_repos(hub_server) -> None:
    alice, bob = _api(hub_server), _api(hub_server, BOB_WRITE_TOKEN)
    alice.create_repo("alice/secret", private=True)
    alice.create_repo("alice/public")
    with pytest.raises(RepositoryNotFoundError):
        HfApi(endpoint=hub_server.url, token=False).model_info("alice/secret")
    with pytest.raises(RepositoryNotFoundError):
        bob.model_info("alice/secret")
    with pytest.raises(HfHubHTTPError) as forbidden:
        bob.create_commit("alice/public", [CommitOperationAdd("x.txt", b"x")], commit_message="x")
    assert forbidden.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as read_only:
        _api(hub_server, ALICE_READ_TOKEN).create_commit("alice/public", [CommitOperationAdd("x", b"x")],
                                                         commit_message="x")
    assert read_only.value.response.status_code == 403
    with pytest.raises(HfHubHTTPError) as bad:
        _api(hub_server, "hf_not_a_real_token").whoami()
    assert bad.value.response.status_code == 401

    alice.create_commit("alice/public", [CommitOperationAdd("w.bin", b"\0weights")], commit_message="w")
    hub_server.set_repo_flags("alice/public", gated=True)
    with pytest.raises(GatedRepoError):
        bob.hf_hub_download("alice/public", "w.bin")
    hub_server.set_repo_flags("alice/public", granted=["bob"])
    assert Path(bob.hf_hub_download("alice/public", "w.bin")).read_bytes() == b"\0weights"


def test_faults_status_drop_and_corrupt(hub_server, tmp_path: Path) -> None:
    api = _api(hub_server)
    api.create_repo("alice/f")
    data = os.urandom(200_000)
    c = api.create_commit("alice/f", [CommitOperationAdd("w.safetensors", data)], commit_message="w")

    hub_server.faults.fail("/preupload/", status=503, retry_after=0)
    api.create_commit("alice/f", [CommitOperationAdd("x.txt", b"x")], commit_message="retried")
    assert hub_server.count("POST", "/preupload/") == 3  # two commits, one retried

    hub_server.faults.drop(r"/resolve/.*w\.safetensors", after_bytes=50_000)
    got = api.hf_hub_download("alice/f", "w.safetensors", revision=c.oid, local_dir=tmp_path / "a")
    assert Path(got).read_bytes() == data  # the client retried the dropped body

    hub_server.faults.corrupt(r"/resolve/.*w\.safetensors")
    got = api.hf_hub_download("alice/f", "w.safetensors", revision=c.oid, local_dir=tmp_path / "b")
    corrupted = Path(got).read_bytes()
    assert len(corrupted) == len(data) and corrupted != data  # the client checks the size only

    hub_server.faults.slow("/api/models/alice/f/refs", delay=0.2)
    assert api.list_repo_refs("alice/f").branches
    assert all(f.hits == f.times for f in hub_server.faults.faults)


def test_escaping_tree_entry_is_listed(hub_server) -> None:
    api = _api(hub_server)
    api.create_repo("alice/e")
    hub_server.faults.add_tree_entry("alice/e", "../evil")
    assert "../evil" in {f.path for f in api.list_repo_tree("alice/e", recursive=True)}


def test_storage_survives_restart(tmp_path: Path) -> None:
    from hubmgr.testing.hub_server import TEST_TOKENS, running_hub_server

    with running_hub_server(tmp_path / "hub", tokens=TEST_TOKENS) as server:
        api = _api(server)
        api.create_repo("alice/keep")
        sha = api.create_commit("alice/keep", [CommitOperationAdd("a.txt", b"a")], commit_message="a").oid
    with running_hub_server(tmp_path / "hub", tokens=TEST_TOKENS) as server:
        assert _api(server).model_info("alice/keep").sha == sha


def test_multipart_parts_out_of_order_and_bad_etag(hub_server) -> None:
    import httpx2

    hub_server.multipart_threshold = hub_server.multipart_chunk_size = 1000
    _api(hub_server).create_repo("alice/mp")
    data = os.urandom(2500)
    oid = _sha256(data)
    auth = {"Authorization": f"Bearer {ALICE_WRITE_TOKEN}"}

    def start() -> dict:
        batch = httpx2.post(f"{hub_server.url}/alice/mp.git/info/lfs/objects/batch", headers=auth, json={
            "operation": "upload", "transfers": ["basic", "multipart"], "objects": [{"oid": oid, "size": 2500}]})
        return batch.json()["objects"][0]["actions"]["upload"]

    upload = start()
    parts = sorted((k for k in upload["header"] if k.isdigit()), key=int)
    assert upload["header"]["chunk_size"] == "1000" and len(parts) == 3
    etags = {}
    for i in reversed(range(3)):  # out of order: completion rehashes the assembled file
        put = httpx2.put(upload["header"][parts[i]], content=data[i * 1000:(i + 1) * 1000])
        etags[i + 1] = put.headers["ETag"]
    wrong = [{"partNumber": n, "etag": '"0"' if n == 2 else e} for n, e in sorted(etags.items())]
    assert httpx2.post(upload["href"], json={"oid": oid, "parts": wrong}).status_code == 400
    assert not hub_server.storage.has_blob(oid)

    upload = start()  # a fresh upload after the failed one
    etags = {i + 1: httpx2.put(upload["header"][parts[i]], content=data[i * 1000:(i + 1) * 1000]).headers["ETag"]
             for i in (1, 0, 2)}
    done = httpx2.post(upload["href"], json={"oid": oid, "parts": [
        {"partNumber": n, "etag": e} for n, e in sorted(etags.items())]})
    assert done.status_code == 200 and hub_server.storage.blob_path(oid).read_bytes() == data
