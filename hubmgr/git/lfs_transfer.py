"""Git LFS objects moved by hubmgr itself, straight between the model's files and the LFS store.

git-lfs's own path costs two extra passes over every byte: on push the clean filter reads,
hashes and copies each file into ``.git/lfs/objects`` before ``git lfs push`` reads it again;
on pull ``git lfs fetch`` fills that cache and the release is then copied (and hashed) out of
it. hubmgr already knows each file's sha256 (the push plan), and a pull hashes while it
writes, so here each byte is read once and written once:

- ``file://`` remotes (the local registry, bare repos on disk): the object is copied between
  the file and ``<repo>/lfs/objects/aa/bb/<oid>`` (git-lfs's standalone layout), through a
  temp file renamed into place only once its sha256 and size match the oid.
- HTTP(S) LFS servers: the batch API (git-lfs ``docs/api/batch.md``), ``basic`` transfer.
  An upload streams the file hashing every chunk and ends the body before its last chunk
  if the bytes are not the oid's, so a server never receives a complete wrong object.
  Objects go ``lfs.concurrenttransfers`` at a time, as git-lfs sends them; a dropped
  connection or a 5xx/429 answer is tried again (``LFS_ATTEMPTS``).

Anything else (ssh endpoints, servers asking for credentials, custom transfer agents) goes
through git-lfs as before: ``parse_endpoint`` returns None, or a transfer raises
``NeedsGitLfs`` and the caller falls back.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import os
import queue
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence, TypeVar

import encodings.idna  # noqa: F401 - here, in the importing thread: a transfer thread's first connect needs it

from ..errors import CancelledError, RemoteError, VerificationError
from ..progress import CancelToken, check_cancel
from .cmd import redact

CHUNK = 8 * 1024 * 1024
T = TypeVar("T")
_LFS_JSON = "application/vnd.git-lfs+json"
# the network failing (not the local disk: a full disk stays an OSError for the caller to report)
_NET_ERRORS = (http.client.HTTPException, ConnectionError, TimeoutError)


# git-lfs tries a failed transfer again (lfs.transfer.maxretries); a dropped connection here gets
# this many attempts in all, each from the file's start
LFS_ATTEMPTS = 3
# a server's passing trouble, tried again like a dropped connection (huggingface_hub retries these too)
_TRANSIENT_STATUS = (429, 500, 502, 503, 504)


class _Dropped(RemoteError):
    """The connection failed during a transfer (reset, broken pipe, timeout): worth another attempt."""


class NeedsGitLfs(Exception):
    """This endpoint needs git-lfs's machinery (credentials, another transfer): use it instead."""


@dataclass(frozen=True)
class LfsEndpoint:
    url: str  # without credentials
    local_store: Path | None = None  # file:// remotes: <repo>/lfs/objects
    headers: dict = field(default_factory=dict)  # Authorization from user:pass@ in the URL
    concurrent: int = 8  # objects in flight over HTTP: git-lfs's lfs.concurrenttransfers (its default 8)


def parse_endpoint(env_text: str) -> LfsEndpoint | None:
    """The endpoint ``git lfs env`` resolved (lfs.url, remote.<name>.lfsurl, .lfsconfig, the remote URL),
    or None when only git-lfs can talk to it (ssh-authenticated endpoints, unknown schemes)."""
    url = None
    concurrent = 8
    for line in env_text.splitlines():
        line = line.strip()
        if line.startswith("SSH="):
            return None  # git-lfs-authenticate over ssh gives the headers: git-lfs's job
        if line.startswith("Endpoint=") and url is None:
            url = line[len("Endpoint="):].rsplit(" (auth=", 1)[0].strip()
        if line.startswith("ConcurrentTransfers="):
            value = line[len("ConcurrentTransfers="):].strip()
            concurrent = min(max(int(value), 1), 64) if value.isdigit() else concurrent
    if not url:
        return None
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file":
        repo = Path(urllib.parse.unquote(parts.path))
        git_dir = repo / ".git" if (repo / ".git").is_dir() else repo
        return LfsEndpoint(url, local_store=git_dir / "lfs" / "objects")
    if parts.scheme not in ("http", "https"):
        return None
    headers = {}
    if parts.username is not None:
        user_pass = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(user_pass.encode()).decode()
        netloc = parts.hostname + (f":{parts.port}" if parts.port else "")
        url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return LfsEndpoint(url.rstrip("/"), headers=headers, concurrent=concurrent)


def object_path(store: Path, oid: str) -> Path:
    return store / oid[:2] / oid[2:4] / oid


# --- copying with the hash computed on the way --------------------------------------------------


def _chunks(path: Path, cancel: CancelToken | None) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while True:
            check_cancel(cancel)
            chunk = fh.read(CHUNK)  # a new bytes object each time: the hashing thread may still read the last one
            if not chunk:
                return
            yield chunk


class _Sha256Beside:
    """sha256 of chunks computed on a worker thread (hashlib releases the GIL) while the caller writes
    or sends the same chunks, so hashing overlaps the I/O instead of adding to it."""

    def __init__(self) -> None:
        self._digest = hashlib.sha256()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=4)  # at most ~32 MiB in flight
        self._thread = threading.Thread(target=self._run, name="lfs-sha256", daemon=True)
        self._thread.start()
        self._hex: str | None = None

    def _run(self) -> None:
        while (chunk := self._queue.get()) is not None:
            self._digest.update(chunk)

    def update(self, chunk: bytes) -> None:
        self._queue.put(chunk)

    def hexdigest(self) -> str:
        if self._hex is None:
            self._queue.put(None)
            self._thread.join()
            self._hex = self._digest.hexdigest()
        return self._hex

    def __enter__(self) -> "_Sha256Beside":
        return self

    def __exit__(self, *exc) -> None:
        self.hexdigest()  # the thread ends whatever happened


def copy_hashing(src: Path, out: Path, *, cancel: CancelToken | None = None,
                 on_bytes: Callable[[int], None] | None = None) -> tuple[str, int]:
    """Copy ``src`` to ``out`` (through ``.out.part``, renamed at the end); (sha256, size) of the bytes written."""
    tmp = out.with_name(f".{out.name}.part")
    try:
        result = _write_hashing(_chunks(src, cancel), tmp, on_bytes)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return result


def _write_hashing(chunks: Iterable[bytes], out: Path, on_bytes: Callable[[int], None] | None) -> tuple[str, int]:
    """Write ``chunks`` to ``out``; (sha256, size) of what was written."""
    size = 0
    with _Sha256Beside() as digest, open(out, "wb") as fout:
        for chunk in chunks:
            digest.update(chunk)
            fout.write(chunk)
            size += len(chunk)
            if on_bytes is not None:
                on_bytes(len(chunk))
    return digest.hexdigest(), size


def _changed(path: str, oid: str, digest: str, size: int, expected: int) -> VerificationError:
    return VerificationError(f"{path} changed while it was being pushed (sha256 {digest[:12]}... / {size} bytes, "
                             f"the plan had {oid[:12]}... / {expected} bytes)", "push again once the file is final")


def store_object(store: Path, oid: str, size: int, src: Path, *, label: str, cancel: CancelToken | None = None,
                 on_bytes: Callable[[int], None] | None = None) -> bool:
    """Put ``src`` into a local LFS store as ``oid`` (False: it was already there). A copy whose bytes
    are not the oid's never takes the oid's name."""
    final = object_path(store, oid)
    if final.is_file() and final.stat().st_size == size:
        return False
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f"{oid}.hubmgr-{os.getpid()}")
    digest, got = copy_hashing(src, tmp, cancel=cancel, on_bytes=on_bytes)
    if digest != oid or got != size:
        tmp.unlink(missing_ok=True)
        raise _changed(label, oid, digest, got, size)
    os.replace(tmp, final)
    return True


# --- the batch API -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LfsObject:
    oid: str
    size: int
    path: Path  # upload: where the bytes are; download: where they go
    label: str  # repo path, for messages


def upload(endpoint: LfsEndpoint, objects: Sequence[LfsObject], *, ref: str | None = None,
           cancel: CancelToken | None = None, on_bytes: Callable[[int], None] | None = None) -> int:
    """Send every object the remote lacks; returns how many were sent."""
    objects = list({o.oid: o for o in objects}.values())
    if endpoint.local_store is not None:
        try:
            return sum(store_object(endpoint.local_store, o.oid, o.size, o.path, label=o.label, cancel=cancel,
                                    on_bytes=on_bytes) for o in objects)
        except PermissionError as exc:
            raise RemoteError(f"cannot write to the LFS store {endpoint.local_store}: {exc.strerror}",
                              "check that you may write to the remote repository") from exc
    todo = [(o, entry["actions"]) for o, entry in zip(objects, _batch(endpoint, "upload", objects, ref))
            if "upload" in (entry.get("actions") or {})]  # no upload action: the server has it

    def send(item: tuple[LfsObject, dict], stop: CancelToken, report: Callable[[int], None]) -> None:
        o, actions = item
        _again_if_dropped(lambda counted: _send_file(actions["upload"], o, stop, counted), stop, report)
        if "verify" in actions:
            verify = actions["verify"]
            body = json.dumps({"oid": o.oid, "size": o.size}).encode()
            status, data = _request("POST", verify["href"], body,
                                    {"Content-Type": _LFS_JSON, "Accept": _LFS_JSON, **verify.get("header", {})})
            if status >= 300:
                raise RemoteError(f"the LFS server did not verify {o.label} (HTTP {status})", _server_hint(data))

    _in_parallel(todo, send, workers=endpoint.concurrent, cancel=cancel, on_bytes=on_bytes)
    return len(todo)


def download(endpoint: LfsEndpoint, objects: Sequence[LfsObject], *, ref: str | None = None,
             cancel: CancelToken | None = None, on_bytes: Callable[[int], None] | None = None,
             on_done: Callable[[LfsObject, str, int], None] | None = None) -> None:
    """Write each object to its ``path``, hashing as the bytes arrive; ``on_done(obj, sha256, size)``.

    The digest is of the bytes written; the caller compares it (pull's verifier refuses a mismatch).
    """
    if endpoint.local_store is not None:
        for o in objects:
            src = object_path(endpoint.local_store, o.oid)
            if not src.is_file():
                raise _missing(endpoint, [o])
            if not os.access(src, os.R_OK):  # (errors writing the release stay OSErrors: a local problem)
                raise RemoteError(f"cannot read {src} in the LFS store", "check that you may read the repository")
            digest, size = copy_hashing(src, o.path, cancel=cancel, on_bytes=on_bytes)
            if on_done is not None:
                on_done(o, digest, size)
        return
    entries = _batch(endpoint, "download", objects, ref)
    absent = [o for o, e in zip(objects, entries) if "download" not in (e.get("actions") or {})]
    if absent:
        raise _missing(endpoint, absent)
    done_lock = threading.Lock()

    def receive(item: tuple[LfsObject, dict], stop: CancelToken, report: Callable[[int], None]) -> None:
        o, entry = item
        action = entry["actions"]["download"]
        digest, size = _again_if_dropped(lambda counted: _receive_file(action, o, stop, counted), stop, report)
        if on_done is not None:
            with done_lock:  # the caller's callback need not be thread-safe
                on_done(o, digest, size)

    _in_parallel(list(zip(objects, entries)), receive, workers=endpoint.concurrent, cancel=cancel,
                 on_bytes=on_bytes)


class _Stop(CancelToken):
    """Set when one transfer failed (the others stop at their next chunk), or when the user's token is."""

    def __init__(self, user: CancelToken | None) -> None:
        super().__init__()
        self._user = user

    @property
    def cancelled(self) -> bool:
        return super().cancelled or (self._user is not None and self._user.cancelled)


def _again_if_dropped(attempt: Callable[[Callable[[int], None]], T], stop: CancelToken,
                      report: Callable[[int], None]) -> T:
    """``attempt(report)``, again (up to ``LFS_ATTEMPTS`` in all) while the connection drops; the
    bytes a failed attempt reported are taken back so progress does not count them twice."""
    for number in range(1, LFS_ATTEMPTS + 1):
        counted = 0

        def counting(n: int) -> None:
            nonlocal counted
            counted += n
            report(n)

        try:
            return attempt(counting)
        except _Dropped:
            if number == LFS_ATTEMPTS or stop.cancelled:
                raise
            report(-counted)
            deadline = time.monotonic() + 0.5 * number  # a short pause, cut short by a cancel
            while time.monotonic() < deadline and not stop.cancelled:
                time.sleep(0.05)
            check_cancel(stop)
    raise AssertionError("unreachable")


def _in_parallel(items: list[T], work: Callable[[T, CancelToken, Callable[[int], None]], None], *, workers: int,
                 cancel: CancelToken | None, on_bytes: Callable[[int], None] | None) -> None:
    """``work(item, stop, report)`` for each item, ``workers`` at a time (git-lfs moves 8 objects at once);
    raises the first failure once every worker has stopped.

    Daemon threads, not an executor: on Ctrl-C the caller gets the interrupt at once, and a worker
    still blocked on a stalled server does not hold up the interpreter's exit."""
    if not items:  # everything is on the server already: no thread to start
        check_cancel(cancel)
        return
    stop = _Stop(cancel)
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for item in items:
        todo.put(item)
    lock = threading.Lock()
    failures: list[BaseException] = []

    def report(n: int) -> None:
        if on_bytes is not None:
            with lock:  # the caller's counter need not be thread-safe
                on_bytes(n)

    def run() -> None:
        while not stop.cancelled:
            try:
                item = todo.get_nowait()
            except queue.Empty:
                return
            try:
                work(item, stop, report)
            except BaseException as exc:  # noqa: BLE001 - raised in the caller's thread below
                with lock:
                    failures.append(exc)
                stop.cancel()

    threads = [threading.Thread(target=run, name=f"lfs-transfer-{i}", daemon=True)
               for i in range(max(1, min(workers, len(items))))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.2)  # in slices: a Ctrl-C in the main thread is seen at once
    except BaseException:
        stop.cancel()
        deadline = time.monotonic() + 2.0
        for t in threads:  # each stops at its next chunk; one stuck on the network is left behind (daemon)
            with contextlib.suppress(RuntimeError):  # one the interrupt kept from starting
                t.join(max(0.0, deadline - time.monotonic()))
        raise
    check_cancel(cancel)
    real = [e for e in failures if not isinstance(e, CancelledError)]  # the others stopped because of it
    if real or failures:
        raise (real or failures)[0]


def _missing(endpoint: LfsEndpoint, objects: Sequence[LfsObject]) -> VerificationError:
    names = ", ".join(o.label for o in objects[:3]) + (" ..." if len(objects) > 3 else "")
    return VerificationError(f"the LFS store {redact(endpoint.url)} is missing the objects of {names}",
                             "the weights were never uploaded; re-push the model with hubmgr push")


def _batch(endpoint: LfsEndpoint, operation: str, objects: Sequence[LfsObject], ref: str | None) -> list[dict]:
    """One entry per object, in order (an object the server reports an error for raises)."""
    out: list[dict] = []
    for i in range(0, len(objects), 100):  # git-lfs's batch size
        part = objects[i:i + 100]
        doc = {"operation": operation, "transfers": ["basic"], "hash_algo": "sha256",
               "objects": [{"oid": o.oid, "size": o.size} for o in part]}
        if ref:
            doc["ref"] = {"name": ref}
        status, data = _request("POST", f"{endpoint.url}/objects/batch", json.dumps(doc).encode(),
                                {"Content-Type": _LFS_JSON, "Accept": _LFS_JSON, **endpoint.headers})
        if status in (401, 403):
            raise NeedsGitLfs(f"HTTP {status}")  # git-lfs asks the credential helpers
        if status >= 300:
            raise RemoteError(f"the LFS server {redact(endpoint.url)} refused the batch request (HTTP {status})",
                              _server_hint(data))
        try:
            reply = json.loads(data)
            by_oid = {e["oid"]: e for e in reply.get("objects", [])}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RemoteError(f"the LFS server {redact(endpoint.url)} sent an unreadable batch reply",
                              "check lfs.url points at a Git LFS server") from exc
        if reply.get("transfer", "basic") != "basic":
            raise NeedsGitLfs(f"transfer {reply.get('transfer')}")
        for o in part:
            entry = by_oid.get(o.oid, {})
            error = entry.get("error")
            if error and error.get("code") == 404 and operation == "download":
                entry = {}  # reported as missing by download()
            elif error:
                raise RemoteError(f"the LFS server refused {o.label}: {error.get('message', error.get('code'))}",
                                  "check the server's logs and your access to the repository")
            out.append(entry)
    return out


def _server_hint(data: bytes) -> str:
    try:
        message = json.loads(data).get("message")
    except (ValueError, AttributeError):
        message = None
    return f"the server says: {message}" if message else "check the LFS server and lfs.url"


def _connection(url: str) -> tuple[http.client.HTTPConnection, str]:
    parts = urllib.parse.urlsplit(url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = cls(parts.hostname, parts.port, timeout=300)
    target = parts.path or "/"
    return conn, target + (f"?{parts.query}" if parts.query else "")


def _request(method: str, url: str, body: bytes, headers: dict) -> tuple[int, bytes]:
    conn, target = _connection(url)
    try:
        conn.request(method, target, body=body, headers=headers)
        resp = conn.getresponse()
        return resp.status, resp.read()
    except _NET_ERRORS + (OSError,) as exc:
        raise RemoteError(f"cannot reach the LFS server {redact(url)}: {exc}", "check lfs.url and the server") \
            from exc
    finally:
        conn.close()


def _send_file(action: dict, o: LfsObject, cancel: CancelToken | None,
               on_bytes: Callable[[int], None] | None) -> None:
    sent = 0

    def body(digest: _Sha256Beside) -> Iterator[bytes]:
        nonlocal sent
        for chunk in _chunks(o.path, cancel):
            digest.update(chunk)
            sent += len(chunk)
            if sent >= o.size and (digest.hexdigest() != o.oid or sent != o.size):
                # not the plan's bytes: stop before the body is complete, the server stores nothing
                raise _changed(o.label, o.oid, digest.hexdigest(), sent, o.size)
            yield chunk
            if on_bytes is not None:
                on_bytes(len(chunk))
        if sent != o.size:
            raise _changed(o.label, o.oid, digest.hexdigest(), sent, o.size)

    conn, target = _connection(action["href"])
    headers = {"Content-Type": "application/octet-stream", **action.get("header", {}),
               "Content-Length": str(o.size)}
    try:
        with _Sha256Beside() as digest:
            conn.request("PUT", target, body=body(digest), headers=headers, encode_chunked=False)
        resp = conn.getresponse()
        data = resp.read()
    except _NET_ERRORS as exc:
        raise _Dropped(f"uploading {o.label} to the LFS server failed: {exc}", "run the push again") from exc
    finally:
        conn.close()
    if resp.status in _TRANSIENT_STATUS:
        raise _Dropped(f"the LFS server failed to take {o.label} (HTTP {resp.status})", _server_hint(data))
    if resp.status >= 300:
        raise RemoteError(f"the LFS server refused {o.label} (HTTP {resp.status})", _server_hint(data))


def _receive_file(action: dict, o: LfsObject, cancel: CancelToken | None,
                  on_bytes: Callable[[int], None] | None) -> tuple[str, int]:
    conn, target = _connection(action["href"])
    tmp = o.path.with_name(f".{o.path.name}.part")
    try:
        conn.request("GET", target, headers=dict(action.get("header", {})))
        resp = conn.getresponse()
        if resp.status >= 300:
            kind = _Dropped if resp.status in _TRANSIENT_STATUS else RemoteError
            raise kind(f"the LFS server refused to send {o.label} (HTTP {resp.status})", _server_hint(resp.read()))
        def received() -> Iterator[bytes]:
            while chunk := resp.read(CHUNK):
                check_cancel(cancel)
                yield chunk

        digest, size = _write_hashing(received(), tmp, on_bytes)
        os.replace(tmp, o.path)
    except _NET_ERRORS as exc:
        tmp.unlink(missing_ok=True)
        raise _Dropped(f"downloading {o.label} from the LFS server failed: {exc}", "run the pull again") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        conn.close()
    return digest, size


__all__ = ["LfsEndpoint", "LfsObject", "NeedsGitLfs", "copy_hashing", "download", "object_path", "parse_endpoint",
           "store_object", "upload"]
