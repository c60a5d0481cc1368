"""LFS objects moved by hubmgr itself (hubmgr/git/lfs_transfer.py): into and out of file:// bare repos and
a real HTTP LFS server (giftless on 127.0.0.1), read back by plain git + git-lfs clients."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from hubmgr import deploy
from hubmgr.errors import VerificationError
from hubmgr.git.cmd import git_text, run_git
from hubmgr.git.lfs_transfer import object_path, parse_endpoint
from hubmgr.remotes import PushRequest, open_remote
from hubmgr.testing.cli_runner import run_cli

pytestmark = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is required (apt-get install git-lfs)")


def _model(folder: Path, version: str, weights: bytes | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"version": version}))
    (folder / "model.safetensors").write_bytes(weights if weights is not None else os.urandom(300_000))
    return folder


def _plain_clone(url: str, dest: Path, *, lfs_url: str | None = None) -> Path:
    """What a user without hubmgr does: git clone (no smudge), git lfs pull."""
    run_git(["clone", "-q", url, str(dest)], env={"GIT_LFS_SKIP_SMUDGE": "1"})
    if lfs_url:
        run_git(["config", "lfs.url", lfs_url], cwd=dest)
    run_git(["lfs", "pull"], cwd=dest)
    return dest


def _assert_same_as_git_lfs_would_commit(clone: Path) -> None:
    # git status runs git-lfs's clean filter over the checked-out weights: a clean status means the
    # pointer blob hubmgr wrote is byte for byte the one git-lfs makes
    assert git_text(["status", "--porcelain"], cwd=clone) == ""


@pytest.fixture
def giftless(tmp_path: Path):
    pytest.importorskip("giftless")
    from hubmgr.testing.lfs_server import giftless_server

    storage = tmp_path / "giftless"
    with giftless_server(storage) as base:
        yield base, storage


def _use_lfs_server(base: str, repo: str) -> str:
    """The user's git config points LFS at the server (what `git config --global lfs.url` does)."""
    url = f"{base}/{repo}.git/info/lfs"
    run_git(["config", "--global", "lfs.url", url], lfs=False)
    return url


def _bare_repo_on_server(tmp_path: Path, base: str, repo: str) -> Path:
    """The refs live in a bare repo on disk, the objects on the LFS server."""
    _use_lfs_server(base, repo)
    bare = tmp_path / f"{repo.rsplit('/', 1)[-1]}.git"
    run_git(["init", "-q", "--bare", str(bare)])
    return bare


def _deploy_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = Path(os.environ["HUBMGR_HOME"]) / "registry"
    host = tmp_path / "host-home"
    host.mkdir()
    (host / "config.toml").write_text(f'[registry]\ndir = "{registry}"\n')
    monkeypatch.setenv("HUBMGR_HOME", str(host))


def test_push_to_the_local_registry_is_read_by_plain_git_lfs_and_sends_no_extra_copy(tmp_path, monkeypatch):
    folder = _model(tmp_path / "m", "1")
    # paths git quotes, a nested file, an empty weight file (git-lfs leaves those as empty blobs)
    (folder / "sub dir").mkdir()
    (folder / "sub dir" / "adapter ü.safetensors").write_bytes(os.urandom(5000))
    (folder / "empty.safetensors").write_bytes(b"")
    (folder / "tool.onnx").write_bytes(os.urandom(3000))
    run = run_cli("push", str(folder), "local:m", "--json")
    assert run.exit_code == 0, run.stderr
    weights = (folder / "model.safetensors").read_bytes()
    oid = hashlib.sha256(weights).hexdigest()
    bare = Path(os.environ["HUBMGR_HOME"]) / "registry" / "m.git"
    stored = object_path(bare / "lfs" / "objects", oid)
    assert stored.read_bytes() == weights
    # a copy, not a link to the user's file (editing the folder later cannot change the pushed object)
    assert stored.stat().st_nlink == 1 and (folder / "model.safetensors").stat().st_nlink == 1
    # no clean filter ran: hubmgr's working copy holds no second copy of the weights
    remote = open_remote("local:m")
    assert not list((remote.git_dir / "lfs").rglob(oid))
    clone = _plain_clone(bare.as_uri(), tmp_path / "clone")
    for rel in ("model.safetensors", "sub dir/adapter ü.safetensors", "empty.safetensors", "tool.onnx"):
        assert (clone / rel).read_bytes() == (folder / rel).read_bytes(), rel
    _assert_same_as_git_lfs_would_commit(clone)
    # and hubmgr's own pull (another host) writes the release straight from the store
    _deploy_host(tmp_path, monkeypatch)
    pulled = run_cli("pull", "local:m", "--dest", str(tmp_path / "srv"), "--json")
    assert pulled.exit_code == 0, pulled.stderr
    assert (tmp_path / "srv" / "current" / "model.safetensors").read_bytes() == weights
    assert not list((open_remote("local:m").git_dir / "lfs").rglob(oid))  # nothing went through the cache


def test_push_and_pull_through_an_http_lfs_server(tmp_path, monkeypatch, giftless):
    base, storage = giftless
    lfs_url = _use_lfs_server(base, "team/m")
    bare = tmp_path / "m.git"  # the refs live in a bare repo on disk, the objects on the LFS server
    run_git(["init", "-q", "--bare", str(bare)])
    folder = _model(tmp_path / "m", "1")
    weights = (folder / "model.safetensors").read_bytes()
    oid = hashlib.sha256(weights).hexdigest()
    run = run_cli("push", str(folder), str(bare), "--json")
    assert run.exit_code == 0, run.stderr
    assert (storage / "team" / "m" / oid).read_bytes() == weights
    assert not list((bare / "lfs").rglob(oid)) if (bare / "lfs").exists() else True
    clone = _plain_clone(bare.as_uri(), tmp_path / "clone", lfs_url=lfs_url)
    assert (clone / "model.safetensors").read_bytes() == weights
    _assert_same_as_git_lfs_would_commit(clone)
    again = run_cli("push", str(folder), str(bare), "--json")
    assert again.exit_code == 0 and again.json()["created_commit"] is False

    _deploy_host(tmp_path, monkeypatch)
    pulled = run_cli("pull", str(bare), "--dest", str(tmp_path / "srv"), "--json")
    assert pulled.exit_code == 0, pulled.stderr
    assert (tmp_path / "srv" / "current" / "model.safetensors").read_bytes() == weights
    assert json.loads((tmp_path / "srv" / "current" / "config.json").read_text())["version"] == "1"


def test_a_corrupted_object_on_the_lfs_server_is_refused_by_pull(tmp_path, monkeypatch, giftless):
    base, storage = giftless
    bare = _bare_repo_on_server(tmp_path, base, "team/m")
    folder = _model(tmp_path / "m", "1")
    assert run_cli("push", str(folder), str(bare)).exit_code == 0
    oid = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    stored = storage / "team" / "m" / oid
    data = bytearray(stored.read_bytes())
    data[1234] ^= 0x01  # one bit, same size
    stored.write_bytes(bytes(data))
    _deploy_host(tmp_path, monkeypatch)
    dest = tmp_path / "srv"
    run = run_cli("pull", str(bare), "--dest", str(dest))
    assert run.exit_code == 1
    assert "model.safetensors is corrupt" in run.stderr
    assert not (dest / "current").exists()
    assert deploy.live_sha(dest) is None
    assert [p.name for p in (dest / "releases").iterdir() if not p.name.startswith(".")] == []


def _stale_request(folder: Path) -> PushRequest:
    """A push whose plan hashed the weights before they were rewritten (same size, other bytes)."""
    old = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(os.urandom(len(old)))
    return PushRequest(folder=str(folder), upload=("config.json", "model.safetensors"), message="stale",
                       hashes=(("model.safetensors", hashlib.sha256(old).hexdigest()),))


def test_weights_rewritten_after_the_plan_are_refused_and_never_stored_under_the_old_oid(tmp_path):
    folder = _model(tmp_path / "m", "1")
    request = _stale_request(folder)
    remote = open_remote("local:m")
    with pytest.raises(VerificationError, match="changed while it was being pushed"):
        remote.push(request)
    bare = Path(os.environ["HUBMGR_HOME"]) / "registry" / "m.git"
    oid = dict(request.hashes)["model.safetensors"]
    assert not object_path(bare / "lfs" / "objects", oid).exists()
    assert not list((bare / "lfs").rglob(f"{oid}*")) if (bare / "lfs").exists() else True  # no temp left
    assert git_text(["--git-dir", str(bare), "for-each-ref"], lfs=False) == ""  # no commit published


def test_weights_rewritten_after_the_plan_never_reach_the_lfs_server_complete(tmp_path, giftless):
    base, storage = giftless
    bare = _bare_repo_on_server(tmp_path, base, "team/m")
    folder = _model(tmp_path / "m", "1", weights=os.urandom(20 * 1024 * 1024))  # several upload chunks
    request = _stale_request(folder)
    with pytest.raises(VerificationError, match="changed while it was being pushed"):
        open_remote(str(bare)).push(request)
    oid = dict(request.hashes)["model.safetensors"]
    stored = storage / "team" / "m" / oid
    # the body stopped before its last chunk: at most a partial file, which LFS servers do not count
    assert not stored.exists() or stored.stat().st_size < 20 * 1024 * 1024
    assert git_text(["--git-dir", str(bare), "for-each-ref"], lfs=False) == ""


def test_without_a_direct_route_git_lfs_moves_the_objects(tmp_path, monkeypatch):
    monkeypatch.setenv("HUBMGR_LFS_TRANSFER", "git-lfs")
    folder = _model(tmp_path / "m", "1")
    weights = (folder / "model.safetensors").read_bytes()
    assert run_cli("push", str(folder), "local:m").exit_code == 0
    bare = Path(os.environ["HUBMGR_HOME"]) / "registry" / "m.git"
    clone = _plain_clone(bare.as_uri(), tmp_path / "clone")
    assert (clone / "model.safetensors").read_bytes() == weights
    _assert_same_as_git_lfs_would_commit(clone)
    _deploy_host(tmp_path, monkeypatch)
    assert run_cli("pull", "local:m", "--dest", str(tmp_path / "srv")).exit_code == 0
    assert (tmp_path / "srv" / "current" / "model.safetensors").read_bytes() == weights


def test_a_server_refusing_uploads_goes_through_git_lfs_and_fails_as_an_auth_error(tmp_path):
    pytest.importorskip("giftless")
    from hubmgr.testing.lfs_server import giftless_server

    with giftless_server(tmp_path / "giftless", anonymous="read_only") as base:
        bare = _bare_repo_on_server(tmp_path, base, "team/m")
        folder = _model(tmp_path / "m", "1")
        run = run_cli("push", str(folder), str(bare))
    assert run.exit_code == 3, run.stderr  # remote/auth
    assert "git lfs" in run.stderr and "authentication" in run.stderr.lower()
    assert git_text(["--git-dir", str(bare), "for-each-ref"], lfs=False) == ""  # nothing published
    # git-lfs got verified copies in its cache to send (hubmgr staged the pointers)
    remote = open_remote(str(bare))
    oid = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
    assert object_path(remote.git_dir / "lfs" / "objects", oid).read_bytes() == \
        (folder / "model.safetensors").read_bytes()


def test_the_endpoint_is_what_git_lfs_env_resolved(tmp_path):
    bare = tmp_path / "r.git"
    env = f"Endpoint={bare.as_uri()} (auth=none)\nLocalMediaDir=/x\n"
    assert parse_endpoint(env).local_store == bare / "lfs" / "objects"
    http = parse_endpoint("Endpoint=https://u:p%40ss@git.example/org/r.git/info/lfs (auth=none)\n")
    assert http.url == "https://git.example/org/r.git/info/lfs" and http.local_store is None
    assert http.headers["Authorization"] == "Basic dTpwQHNz"  # u:p@ss
    # ssh remotes authenticate through git-lfs-authenticate: left to git-lfs
    assert parse_endpoint("Endpoint=https://github.com/a/b.git/info/lfs (auth=none)\n  SSH=git@github.com:a/b.git\n") \
        is None
    assert parse_endpoint("Endpoint=ftp://x/y (auth=none)\n") is None
    # git-lfs's lfs.concurrenttransfers (its `git lfs env` line) sets how many objects go at once
    assert http.concurrent == 8
    assert parse_endpoint("Endpoint=https://h/r.git/info/lfs (auth=none)\nConcurrentTransfers=3\n").concurrent == 3
    assert parse_endpoint("Endpoint=https://h/r.git/info/lfs (auth=none)\nConcurrentTransfers=x\n").concurrent == 8


class _InFlight:
    """Wraps a transfer function to count how many objects are on the wire at once. With ``meet``, the
    first two calls wait (10 s at most) until both have started: the count cannot depend on timing."""

    def __init__(self, real, *, meet: bool) -> None:
        import threading

        self.real, self.now, self.most, self.threads = real, 0, 0, set()
        self.lock = threading.Lock()
        self.barrier = threading.Barrier(2, timeout=10) if meet else None

    def __call__(self, *args, **kwargs):
        import threading

        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)
            self.threads.add(threading.current_thread().name)
            waits = self.barrier is not None and len(self.threads) <= 2
        try:
            if waits:
                with contextlib.suppress(threading.BrokenBarrierError):
                    self.barrier.wait()
            return self.real(*args, **kwargs)
        finally:
            with self.lock:
                self.now -= 1


def test_a_sharded_model_moves_its_objects_several_at_once(tmp_path, monkeypatch, giftless):
    """Over HTTP, objects go lfs.concurrenttransfers at a time (git-lfs's default 8), push and pull."""
    from hubmgr.git import lfs_transfer

    base, storage = giftless
    bare = _bare_repo_on_server(tmp_path, base, "team/shards")
    folder = _model(tmp_path / "m", "1")
    shards = {f"model-0000{k}-of-00006.safetensors": os.urandom(1_000_000 + k) for k in range(1, 7)}
    for name, data in shards.items():
        (folder / name).write_bytes(data)
    sending = _InFlight(lfs_transfer._send_file, meet=True)
    monkeypatch.setattr(lfs_transfer, "_send_file", sending)
    run = run_cli("push", str(folder), str(bare), "--json")
    assert run.exit_code == 0, run.stderr
    assert sending.most >= 2 and len(sending.threads) >= 2
    for data in shards.values():
        assert (storage / "team" / "shards" / hashlib.sha256(data).hexdigest()).read_bytes() == data

    _deploy_host(tmp_path, monkeypatch)
    receiving = _InFlight(lfs_transfer._receive_file, meet=True)
    monkeypatch.setattr(lfs_transfer, "_receive_file", receiving)
    pulled = run_cli("pull", str(bare), "--dest", str(tmp_path / "srv"), "--json")
    assert pulled.exit_code == 0, pulled.stderr
    assert receiving.most >= 2
    for name, data in shards.items():
        assert (tmp_path / "srv" / "current" / name).read_bytes() == data

    # one at a time when the user's git config says so
    run_git(["config", "--global", "lfs.concurrenttransfers", "1"], lfs=False)
    for name in shards:
        (folder / name).write_bytes(os.urandom(500_000))
    one = _InFlight(lfs_transfer._send_file, meet=False)
    monkeypatch.setattr(lfs_transfer, "_send_file", one)
    assert run_cli("push", str(folder), str(bare)).exit_code == 0
    assert one.most == 1 and len(one.threads) == 1


def test_one_failed_object_stops_the_others_and_is_the_error_reported(tmp_path, giftless):
    """Several objects in flight, one of them rewritten after the plan: the push fails with that
    file's error (not a cancellation of the others), and nothing is committed."""
    base, storage = giftless
    bare = _bare_repo_on_server(tmp_path, base, "team/m")
    folder = _model(tmp_path / "m", "1", weights=os.urandom(20 * 1024 * 1024))
    extras = [f"extra-{k}.safetensors" for k in range(4)]
    for name in extras:
        (folder / name).write_bytes(os.urandom(3 * 1024 * 1024))
    request = dataclasses.replace(_stale_request(folder), upload=("config.json", "model.safetensors", *extras))
    with pytest.raises(VerificationError, match="changed while it was being pushed"):
        open_remote(str(bare)).push(request)
    assert git_text(["--git-dir", str(bare), "for-each-ref"], lfs=False) == ""


def _endpoint(base: str, repo: str):
    return parse_endpoint(f"Endpoint={base}/{repo}.git/info/lfs (auth=none)\n")


def _lfs_object(tmp_path: Path, name: str, size: int):
    """A file of random bytes and its LFS object; (object, bytes)."""
    from hubmgr.git import lfs_transfer

    data = os.urandom(size)
    path = tmp_path / name
    path.write_bytes(data)
    return lfs_transfer.LfsObject(hashlib.sha256(data).hexdigest(), size, path, name), data


def test_cancel_stops_every_object_in_flight(tmp_path, giftless):
    from hubmgr.errors import CancelledError
    from hubmgr.git import lfs_transfer
    from hubmgr.progress import CancelToken

    base, storage = giftless
    endpoint = _endpoint(base, "team/c")
    objects = [_lfs_object(tmp_path, f"w{k}.bin", 20 * 1024 * 1024)[0] for k in range(4)]  # several chunks each
    cancel = CancelToken()
    sent = []

    def on_bytes(n: int) -> None:
        sent.append(n)
        cancel.cancel()  # the user presses Esc as the first chunk goes out

    with pytest.raises(CancelledError):
        lfs_transfer.upload(endpoint, objects, cancel=cancel, on_bytes=on_bytes)
    assert sum(sent) < sum(o.size for o in objects) / 2  # the others stopped at their next chunk
    assert not any((storage / "team" / "c" / o.oid).is_file() and
                   (storage / "team" / "c" / o.oid).stat().st_size == o.size for o in objects)


def _dropping_connections(monkeypatch, *, drops: int, status: int | None = None):
    """The first ``drops`` object transfers lose their connection after their first 8 MiB chunk
    (upload: a broken pipe while sending; download: a reset while receiving), or with ``status``
    get that HTTP status instead of the server's answer."""
    from hubmgr.git import lfs_transfer

    real = lfs_transfer._connection
    state = {"left": drops, "connections": 0}

    def connection(url: str):
        conn, target = real(url)
        if "/objects/storage/" not in url or url.endswith("/verify"):
            return conn, target
        state["connections"] += 1
        if state["left"] <= 0:
            return conn, target
        state["left"] -= 1
        chunks = {"n": 0}
        send, getresponse = conn.send, conn.getresponse

        def failing_send(data):
            chunks["n"] += 1
            if chunks["n"] > 2 and status is None:  # headers, the first body chunk, then the drop
                raise BrokenPipeError(32, "Broken pipe")
            return send(data)

        def failing_response():
            resp = getresponse()
            if status is not None:
                resp.status = status
                return resp
            read = resp.read

            def failing_read(n=None):
                chunks["n"] += 1
                if chunks["n"] > 1:
                    raise ConnectionResetError(104, "Connection reset by peer")
                return read(n)
            resp.read = failing_read
            return resp

        conn.send, conn.getresponse = failing_send, failing_response
        return conn, target

    monkeypatch.setattr(lfs_transfer, "_connection", connection)
    return state


def test_a_dropped_connection_is_tried_again_and_progress_counts_each_byte_once(tmp_path, monkeypatch, giftless):
    from hubmgr.git import lfs_transfer

    base, storage = giftless
    endpoint = _endpoint(base, "team/drop")
    obj, data = _lfs_object(tmp_path, "w.bin", 20 * 1024 * 1024)
    oid = obj.oid
    state = _dropping_connections(monkeypatch, drops=1)
    reported = []
    assert lfs_transfer.upload(endpoint, [obj], on_bytes=reported.append) == 1
    assert state["connections"] == 2 and sum(reported) == len(data) and min(reported) < 0
    assert (storage / "team" / "drop" / oid).read_bytes() == data

    state = _dropping_connections(monkeypatch, drops=1)
    got, reported, done = tmp_path / "out.bin", [], []
    lfs_transfer.download(endpoint, [lfs_transfer.LfsObject(oid, len(data), got, "w.bin")], on_bytes=reported.append,
                          on_done=lambda o, digest, size: done.append((digest, size)))
    assert state["connections"] == 2 and sum(reported) == len(data)
    assert done == [(oid, len(data))] and got.read_bytes() == data
    assert not list(tmp_path.glob(".*.part"))


def test_a_connection_that_keeps_dropping_fails_after_the_last_attempt(tmp_path, monkeypatch, giftless):
    from hubmgr.errors import RemoteError
    from hubmgr.git import lfs_transfer

    base, storage = giftless
    obj, data = _lfs_object(tmp_path, "w.bin", 20 * 1024 * 1024)
    state = _dropping_connections(monkeypatch, drops=99)
    with pytest.raises(RemoteError, match="uploading w.bin to the LFS server failed: .*Broken pipe"):
        lfs_transfer.upload(_endpoint(base, "team/drop"), [obj])
    assert state["connections"] == lfs_transfer.LFS_ATTEMPTS
    stored = storage / "team" / "drop" / obj.oid  # at most a partial file, which LFS servers do not count
    assert not stored.exists() or stored.stat().st_size < len(data)


@pytest.mark.parametrize("status, tried_again", [(503, True), (500, True), (404, False)])
def test_a_server_error_is_tried_again_a_refusal_is_not(tmp_path, monkeypatch, giftless, status, tried_again):
    from hubmgr.errors import RemoteError
    from hubmgr.git import lfs_transfer

    base, storage = giftless
    endpoint = _endpoint(base, "team/busy")
    objects = [_lfs_object(tmp_path, "w.bin", 1_000_000)[0]]
    state = _dropping_connections(monkeypatch, drops=1, status=status)
    if tried_again:
        assert lfs_transfer.upload(endpoint, objects) == 1
        assert state["connections"] == 2
    else:
        with pytest.raises(RemoteError, match=f"refused w.bin \\(HTTP {status}\\)"):
            lfs_transfer.upload(endpoint, objects)
        assert state["connections"] == 1


def test_ctrl_c_during_parallel_uploads_exits_at_once_and_pushes_no_ref(tmp_path, giftless):
    """A real `hubmgr push` process, Ctrl-C while its objects are on the wire: exit 130 with one line,
    promptly (the transfer threads do not hold the exit), and the branch was never pushed."""
    import signal
    import subprocess
    import sys
    import time

    from hubmgr.testing.faults import default_signals

    base, storage = giftless
    bare = _bare_repo_on_server(tmp_path, base, "team/intr")
    folder = _model(tmp_path / "m", "1", weights=os.urandom(64 * 1024 * 1024))
    for k in range(3):
        (folder / f"extra-{k}.safetensors").write_bytes(os.urandom(64 * 1024 * 1024))
    proc = subprocess.Popen([sys.executable, "-m", "hubmgr", "push", str(folder), str(bare)], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_signals)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if (storage / "team" / "intr").is_dir() and any((storage / "team" / "intr").iterdir()):
            break  # an object is arriving at the server
        time.sleep(0.01)
    assert proc.poll() is None, "the push ended before any object reached the server"
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert time.monotonic() - sent < 10
    assert [ln for ln in err.splitlines() if ln.strip()] == ["interrupted"]
    assert git_text(["--git-dir", str(bare), "for-each-ref"], lfs=False) == ""
