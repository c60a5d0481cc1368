"""Hub downloads hash while the bytes arrive (hubmgr.hf.download): the digest handed to pull is the
bytes' own, a damaged body never takes its final name, a dropped body or a killed pull resumes with
Range instead of downloading again. Real huggingface_hub client and Hub test server."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from hubmgr import deploy
from hubmgr.config import load_settings
from hubmgr.errors import VerificationError
from hubmgr.formats.hashing import git_blob_sha1
from hubmgr.hf.download import PARTIAL_DIR
from hubmgr.remotes import PushRequest, open_remote, parse_target
from hubmgr.testing.hub_server import ALICE_WRITE_TOKEN

pytest.importorskip("huggingface_hub")
WEIGHTS = r"/resolve/.*model\.safetensors"
SIZE = 3 * 1024 * 1024 + 12345  # several of the downloader's batches, not a multiple of any of them


@pytest.fixture
def pushed(hub_server, tmp_path: Path):
    """(remote, commit sha, source folder) of a small model pushed to the test Hub."""
    src = tmp_path / "model"
    src.mkdir()
    (src / "config.json").write_text('{"model_type": "gpt2"}\n')
    (src / "model.safetensors").write_bytes(os.urandom(SIZE))
    remote = open_remote(parse_target("alice/dl"), load_settings(), token=ALICE_WRITE_TOKEN)
    sha = remote.push(PushRequest(folder=str(src), upload=("config.json", "model.safetensors"))).commit_sha
    return remote, sha, src


def test_each_file_is_handed_over_with_the_digest_of_its_bytes(hub_server, pushed, tmp_path: Path,
                                                               sink: str) -> None:
    remote, sha, src = pushed
    files = remote.list_files(sha)
    reported = {}
    remote.download(sha, tmp_path / "s", files=files, on_file=lambda f, digest: reported.__setitem__(f.path, digest))
    assert set(reported) == {f.path for f in files}
    for f in files:
        data = (tmp_path / "s" / f.path).read_bytes()
        digest = reported[f.path]
        assert digest.size == len(data) == f.size and digest.sha256 == hashlib.sha256(data).hexdigest()
        if f.sha256 is None:  # a regular (non-LFS) file is checked by its git blob id
            assert digest.git_blob_sha1 == git_blob_sha1(data) == f.git_oid
    assert (tmp_path / "s" / "model.safetensors").read_bytes() == (src / "model.safetensors").read_bytes()
    assert not (tmp_path / "s" / ".cache").exists()  # partial files are not part of the release
    assert hub_server.count("HEAD", "/resolve/") == 0  # the listing gave sizes and hashes: one GET per file


@pytest.fixture(params=["writer thread", "inline"])
def sink(request, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both ways of hashing and writing: on a writer thread (few large files) or in the receiving thread."""
    from hubmgr.hf import remote as hf_remote

    monkeypatch.setattr(hf_remote, "writer_thread_pays", lambda files: request.param == "writer thread")
    return request.param


def test_a_corrupted_byte_is_refused_before_the_file_takes_its_name(hub_server, pushed, tmp_path: Path,
                                                                    sink: str) -> None:
    remote, sha, _ = pushed
    corrupt = hub_server.faults.corrupt(WEIGHTS)
    with pytest.raises(VerificationError, match="sha256"):
        remote.download(sha, tmp_path / "s", files=remote.list_files(sha))
    assert corrupt.hits == 1
    assert not (tmp_path / "s" / "model.safetensors").exists()
    assert not list((tmp_path / "s").rglob("*.part"))  # bad bytes are never resumed from


def test_a_dropped_body_resumes_where_it_stopped(hub_server, pushed, tmp_path: Path, sink: str) -> None:
    remote, sha, src = pushed
    hub_server.faults.drop(WEIGHTS, after_bytes=1_500_000)
    remote.download(sha, tmp_path / "s", files=remote.list_files(sha))
    assert (tmp_path / "s" / "model.safetensors").read_bytes() == (src / "model.safetensors").read_bytes()
    assert hub_server.count("GET", WEIGHTS) == 2
    assert hub_server.bytes_served(WEIGHTS) == SIZE  # the second GET asked only for the rest


@pytest.mark.parametrize("prefix", ["right", "wrong"])
def test_a_killed_pull_continues_its_partial_file(hub_server, pushed, tmp_path: Path, run_cli, monkeypatch,
                                                  caplog: pytest.LogCaptureFixture, prefix: str) -> None:
    """What a pull killed mid-download leaves (staging dir + partial file) is continued by the next pull;
    a partial file whose bytes are not the file's start is caught by the sha256 and downloaded again
    from zero, in the same pull."""
    remote, sha, src = pushed
    monkeypatch.setenv("HF_TOKEN", ALICE_WRITE_TOKEN)
    dest = tmp_path / "deploy"
    weights = (src / "model.safetensors").read_bytes()
    have = weights[:1_000_000] if prefix == "right" else os.urandom(1_000_000)
    partial = deploy.staging_dir(dest, sha) / PARTIAL_DIR / "model.safetensors.part"
    partial.parent.mkdir(parents=True)
    partial.write_bytes(have)

    run = run_cli("pull", f"alice/dl@{sha}", "--dest", str(dest), "--json")
    assert run.exit_code == 0, run.stderr
    if prefix == "right":
        assert hub_server.bytes_served(WEIGHTS) == SIZE - len(have)
    else:  # the rest of the file, refused by its sha256, then all of it
        assert "damaged; downloading it again" in caplog.text
        assert hub_server.bytes_served(WEIGHTS) == SIZE - len(have) + SIZE
    assert (dest / "current" / "model.safetensors").read_bytes() == weights
    assert not deploy.release_problems(dest / "releases" / sha, verify=True)
    assert not (dest / "releases" / sha / ".cache").exists()


def test_lfs_content_is_fetched_from_its_cdn_without_the_token(hub_server, pushed, tmp_path: Path, run_cli,
                                                                monkeypatch) -> None:
    """The real Hub answers an LFS resolve with a redirect to a CDN of another origin: it is followed,
    and the token stays with the Hub."""
    remote, sha, src = pushed
    monkeypatch.setenv("HF_TOKEN", ALICE_WRITE_TOKEN)
    hub_server.cdn_redirect = True
    dest = tmp_path / "deploy"
    run = run_cli("pull", f"alice/dl@{sha}", "--dest", str(dest), "--json")
    assert run.exit_code == 0, run.stderr
    assert (dest / "current" / "model.safetensors").read_bytes() == (src / "model.safetensors").read_bytes()
    hub = [r for r in hub_server.requests if r.method == "GET" and "/resolve/" in r.path]
    cdn = [r for r in hub_server.requests if r.path.startswith("/cdn/")]
    assert {r.status for r in hub} == {200, 302} and all(r.user == "alice" for r in hub)
    assert len(cdn) == 1 and cdn[0].status == 200 and cdn[0].user is None  # no Authorization header reached it
    assert hub_server.bytes_served("^/cdn/") == SIZE


def test_a_writer_thread_only_while_large_files_leave_cores_free() -> None:
    from hubmgr.hf.download import BATCH_BYTES, writer_thread_pays
    from hubmgr.remotes import RemoteFile

    cores = os.cpu_count() or 1
    big = [RemoteFile(f"model-{k}.safetensors", BATCH_BYTES) for k in range(cores)]
    assert writer_thread_pays([RemoteFile("config.json", 100), *big[:cores - 1]])
    assert not writer_thread_pays(big)  # every core already has a download to receive
