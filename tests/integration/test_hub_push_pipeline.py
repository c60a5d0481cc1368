"""Issue 16.1: a Hub push hashes each changed byte once, uploads while it still hashes, sends the parts of
one large file in parallel, and reuses the catalog's sha256 of unchanged files; the server still checks
every byte against the sha256 the push announced.

Real parts: huggingface_hub's client against the Hub test server, a real SQLite catalog, the CLI in-process.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from hubmgr.config import load_settings
from hubmgr.remotes import PushRequest, open_remote, parse_target
from hubmgr.testing.hub_server import ALICE_WRITE_TOKEN

pytest.importorskip("huggingface_hub")

PARTS = r"^/lfs-part/"


def _remote_sha256(hub_server, repo: str, rel: str) -> str:
    remote = open_remote(parse_target(repo), load_settings(), token=ALICE_WRITE_TOKEN)
    head = remote.resolve_revision(None)
    return {f.path: f.sha256 for f in remote.list_files(head)}[rel]


def test_push_reuses_the_catalogs_sha256_and_rehashes_a_changed_file(hub_server, logged_in, model_dir: Path,
                                                                     run_cli) -> None:
    weights = model_dir / "model.safetensors"
    size = weights.stat().st_size
    assert run_cli("scan", str(model_dir)).exit_code == 0  # the scan hashes the weights into the catalog
    first = run_cli("push", str(model_dir), "alice/reuse", "--json")
    assert first.exit_code == 0, first.stderr
    plan = first.json()["plan"]
    assert plan["bytes_hashed"] < size  # the weights' sha256 came from the scan, not a second read
    assert _remote_sha256(hub_server, "alice/reuse", "model.safetensors") == hashlib.sha256(
        weights.read_bytes()).hexdigest()

    again = run_cli("push", str(model_dir), "alice/reuse", "--json")
    assert again.exit_code == 0 and not again.json()["created_commit"]
    assert again.json()["plan"]["bytes_hashed"] == 0  # nothing changed: nothing read

    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # same size, one byte different
    weights.write_bytes(bytes(data))
    changed = run_cli("push", str(model_dir), "alice/reuse", "--json")
    assert changed.exit_code == 0, changed.stderr
    assert changed.json()["plan"]["bytes_hashed"] >= size  # the changed file was read again
    assert set(changed.json()["files_uploaded"]) == {"model.safetensors", "README.md"}  # the card lists its sha256
    assert _remote_sha256(hub_server, "alice/reuse", "model.safetensors") == hashlib.sha256(data).hexdigest()


def test_bytes_that_do_not_match_the_announced_sha256_are_refused_and_nothing_is_committed(
        hub_server, logged_in, model_dir: Path, run_cli) -> None:
    """A stale sha256 (here: the catalog's cache poisoned for the weights' exact fingerprint) is never
    trusted by the server: it hashes what arrives and refuses the upload; no commit is made."""
    from hubmgr import paths
    from hubmgr.catalog import Catalog
    from hubmgr.formats.hashing import change_ns

    weights = (model_dir / "model.safetensors").resolve()
    st = weights.stat()
    Catalog(paths.catalog_path()).store_sha256(str(weights), st.st_size, change_ns(st), st.st_ino, "0" * 64)
    r = run_cli("push", str(model_dir), "alice/corrupt", "--json")
    assert r.exit_code == 1, r.stderr
    assert "refused the bytes of model.safetensors" in r.stderr and "do not match" in r.stderr
    assert "Traceback" not in r.stderr
    assert hub_server.count("POST", "/commit/") == 0


def test_the_parts_of_one_large_file_go_in_parallel(hub_server, tmp_path: Path) -> None:
    hub_server.multipart_threshold = hub_server.multipart_chunk_size = 100_000
    folder = tmp_path / "m"
    folder.mkdir()
    data = os.urandom(650_000)  # 7 parts: more than the upload workers
    (folder / "model.safetensors").write_bytes(data)
    hub_server.faults.slow(PARTS + r"[0-9a-f]+/1$", delay=1.0, method="PUT")  # part 1 answers late
    remote = open_remote(parse_target("alice/parallel"), load_settings(), token=ALICE_WRITE_TOKEN)
    out = remote.push(PushRequest(folder=str(folder), upload=("model.safetensors",)))
    assert out.created_commit
    parts = [rec.path.rsplit("/", 1)[-1] for rec in hub_server.requests if rec.method == "PUT"
             and rec.path.startswith("/lfs-part/")]
    assert sorted(parts) == ["1", "2", "3", "4", "5", "6", "7"]
    assert parts[-1] == "1"  # the others did not wait for it
    assert _remote_sha256(hub_server, "alice/parallel", "model.safetensors") == hashlib.sha256(data).hexdigest()


def test_many_files_keep_each_files_parts_in_order(hub_server, tmp_path: Path) -> None:
    """Files of a few parts each: each file's parts go one after the other (as the library sends them),
    so the server can hash them as they arrive; the files go in parallel."""
    hub_server.multipart_threshold = hub_server.multipart_chunk_size = 100_000
    folder = tmp_path / "m"
    folder.mkdir()
    for k in range(8):
        (folder / f"model-{k}.safetensors").write_bytes(os.urandom(250_000))  # 3 parts each
    remote = open_remote(parse_target("alice/shards"), load_settings(), token=ALICE_WRITE_TOKEN)
    files = tuple(sorted(p.name for p in folder.iterdir()))
    assert remote.push(PushRequest(folder=str(folder), upload=files)).created_commit
    by_upload: dict[str, list[str]] = {}
    for rec in sorted(hub_server.requests, key=lambda r: r.arrival):  # the order they were sent in
        if rec.method == "PUT" and rec.path.startswith("/lfs-part/") and rec.status == 200:  # not a retried drop
            upload_id, number = rec.path.split("/")[2:4]
            by_upload.setdefault(upload_id, []).append(number)
    assert len(by_upload) == 8
    assert all(numbers == ["1", "2", "3"] for numbers in by_upload.values())


def test_a_push_session_uploads_before_its_plan_is_complete(hub_server, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(os.urandom(200_000))
    (folder / "config.json").write_text('{"model_type": "gpt2"}\n')
    weights = folder / "model.safetensors"
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    remote = open_remote(parse_target("alice/early"), load_settings(), token=ALICE_WRITE_TOKEN)
    session = remote.begin_push(revision=None, base_commit=None, check_base=True)
    try:
        session.start()
        session.offer("model.safetensors", weights, weights.stat().st_size, sha)
        deadline = time.monotonic() + 60
        while hub_server.count("PUT", r"^/lfs-(upload|part)/") == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert hub_server.count("PUT", r"^/lfs-(upload|part)/") == 1  # sent before finish() was called
        out = session.finish(PushRequest(folder=str(folder), upload=("config.json", "model.safetensors"),
                                         hashes=(("model.safetensors", sha),), check_base=True))
    finally:
        session.close()
    assert out.created_commit and set(out.files_uploaded) == {"config.json", "model.safetensors"}
    assert hub_server.count("PUT", r"^/lfs-(upload|part)/") == 1  # not uploaded twice
    assert _remote_sha256(hub_server, "alice/early", "model.safetensors") == sha


def test_cancel_stops_a_push_while_it_uploads(hub_server, tmp_path: Path) -> None:
    from hubmgr.errors import CancelledError
    from hubmgr.progress import CancelToken

    hub_server.multipart_threshold = hub_server.multipart_chunk_size = 100_000
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(os.urandom(1_000_000))
    hub_server.faults.slow(PARTS, delay=0.5, method="PUT", times=None)
    cancel = CancelToken()
    remote = open_remote(parse_target("alice/cancel"), load_settings(), token=ALICE_WRITE_TOKEN)

    def progress(event) -> None:
        if event.unit == "B" and event.completed > 0:
            cancel.cancel()

    with pytest.raises(CancelledError):
        remote.push(PushRequest(folder=str(folder), upload=("model.safetensors",)), progress=progress,
                    cancel=cancel)
    assert hub_server.count("POST", "/commit/") == 0
    assert hub_server.count("PUT", PARTS) < 10  # stopped before sending every part
