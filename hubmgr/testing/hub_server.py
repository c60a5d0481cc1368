"""A real Hugging Face Hub test server: stdlib HTTP on 127.0.0.1, on-disk storage.

It speaks the subset of the Hub HTTP API that ``huggingface_hub`` 2.x uses for
repos, commits, refs, listings, LFS uploads and downloads (see
``shared/HUB_PROTOCOL.md`` §12), with tokens, private and gated repos, and fault
injection for reliability tests. The real client talks to it with
``HF_HUB_DISABLE_XET=1`` (the server has no Xet CAS; the ``xet-*-token`` routes
answer 404 so an accidental Xet upload fails loudly).

Storage under ``root``::

    blobs/<sha256>               content-addressed file bytes (regular and LFS files)
    commits/<sha>.json           {parent, title, message, author, date, files: {path: entry}}
    repos/<type>/<ns>/<name>.json  {private, gated, refs: {branches, tags, prs}, next_pr}
    tmp/                         uploads in flight (renamed into blobs/ once the sha256 matches)

Use it in tests with ``running_hub_server(tmp_dir, tokens={...})`` (pytest fixture
``hub_server``) or standalone: ``python -m hubmgr.testing.hub_server --root DIR
--token hf_xxx:alice:write`` prints the endpoint URL and serves until Ctrl-C.
"""

from __future__ import annotations

import base64
import contextlib
import fnmatch
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

CHUNK = 1 << 20
LFS_THRESHOLD = 10 * 1024 * 1024  # the Hub sends files >= 10 MiB to LFS
ROLE_READ = "read"
ROLE_WRITE = "write"
API_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in ("*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib",
                    "*.lfs.*", "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot",
                    "*.parquet", "*.pb", "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors",
                    "saved_model/**/*", "*.tar.*", "*.tar", "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip",
                    "*.zst", "*tfevents*")
)
# Tokens the pytest fixture ``hub_server`` accepts. Distinctive, so tests can grep for leaks.
ALICE_WRITE_TOKEN = "hf_hubmgrTEST_aliceWRITE_7f3c9e1d"
ALICE_READ_TOKEN = "hf_hubmgrTEST_aliceREAD_2b8a4f60"
BOB_WRITE_TOKEN = "hf_hubmgrTEST_bobWRITE_9d1e5a37"
TEST_TOKENS = {ALICE_WRITE_TOKEN: ("alice", "write"), ALICE_READ_TOKEN: ("alice", "read"),
               BOB_WRITE_TOKEN: ("bob", "write")}
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_HEX_RE = re.compile(r"^[0-9a-f]{5,40}$")


def git_blob_sha1(data: bytes) -> str:
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def lfs_pointer(oid: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


# --- errors -------------------------------------------------------------------------------------


class HubHTTPError(Exception):
    """Raised inside handlers; becomes a JSON error response with X-Error-* headers."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


def _not_found_repo() -> HubHTTPError:
    return HubHTTPError(404, "Repository not found", "RepoNotFound")


# --- fault injection ------------------------------------------------------------------------------


@dataclass
class Fault:
    """One injected misbehaviour for requests whose path matches ``path`` (a regex, searched).

    kinds: ``status`` (answer ``status`` with a JSON error), ``drop`` (send the headers and
    ``after_bytes`` of the body, then cut the connection), ``slow`` (sleep ``delay`` s before
    answering), ``corrupt`` (send a body of the right size with flipped bytes).
    ``times`` = how many matching requests it applies to (None: forever).
    """

    kind: str
    path: str
    method: str | None = None
    times: int | None = 1
    status: int = 500
    after_bytes: int = 0
    delay: float = 0.0
    retry_after: int | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method and self.method.upper() != method:
            return False
        return re.search(self.path, path) is not None


@dataclass
class ExtraTreeEntry:
    """A file entry that tree listings of ``repo_id`` show but no commit holds (e.g. ``../evil``)."""

    repo_id: str
    path: str
    content: bytes = b"evil\n"


class FaultInjector:
    """``server.faults``: add faults; each matching request consumes one use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.faults: list[Fault] = []
        self.extra_entries: list[ExtraTreeEntry] = []

    def add(self, kind: str, path: str, *, method: str | None = None, times: int | None = 1, status: int = 500,
            after_bytes: int = 0, delay: float = 0.0, retry_after: int | None = None) -> Fault:
        if kind not in ("status", "drop", "slow", "corrupt"):
            raise ValueError(f"unknown fault kind {kind!r}")
        fault = Fault(kind, path, method, times, status, after_bytes, delay, retry_after)
        with self._lock:
            self.faults.append(fault)
        return fault

    def fail(self, path: str, *, status: int = 500, times: int | None = 1, method: str | None = None,
             retry_after: int | None = None) -> Fault:
        return self.add("status", path, status=status, times=times, method=method, retry_after=retry_after)

    def drop(self, path: str, *, after_bytes: int, times: int | None = 1, method: str | None = "GET") -> Fault:
        return self.add("drop", path, after_bytes=after_bytes, times=times, method=method)

    def slow(self, path: str, *, delay: float, times: int | None = 1, method: str | None = None) -> Fault:
        return self.add("slow", path, delay=delay, times=times, method=method)

    def corrupt(self, path: str, *, times: int | None = 1, method: str | None = "GET") -> Fault:
        return self.add("corrupt", path, times=times, method=method)

    def add_tree_entry(self, repo_id: str, path: str, content: bytes = b"evil\n") -> None:
        with self._lock:
            self.extra_entries.append(ExtraTreeEntry(repo_id, path, content))

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.extra_entries.clear()

    def take(self, kinds: tuple[str, ...], method: str, path: str) -> Fault | None:
        """The first active fault of one of ``kinds`` matching the request; counts one use."""
        with self._lock:
            for fault in self.faults:
                if fault.kind in kinds and fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str  # without the query string
    status: int
    bytes_in: int
    user: str | None


# --- storage --------------------------------------------------------------------------------------


@dataclass
class Repo:
    key: str  # "model/alice/tiny"
    repo_type: str
    repo_id: str
    private: bool = False
    gated: bool = False
    granted: list[str] = field(default_factory=list)  # users allowed through the gate
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    prs: dict[int, str] = field(default_factory=dict)
    created: str = ""
    internal_id: str = ""

    def to_json(self) -> dict:
        return {"key": self.key, "repo_type": self.repo_type, "repo_id": self.repo_id, "private": self.private,
                "gated": self.gated, "granted": self.granted, "branches": self.branches, "tags": self.tags,
                "prs": {str(k): v for k, v in self.prs.items()}, "created": self.created,
                "internal_id": self.internal_id}

    @classmethod
    def from_json(cls, d: dict) -> "Repo":
        d = dict(d)
        d["prs"] = {int(k): v for k, v in d.get("prs", {}).items()}
        return cls(**d)


class HubStorage:
    """Repos, commits and blobs on disk. One lock serialises every metadata change."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for sub in ("blobs", "commits", "repos", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.repos: dict[str, Repo] = {}
        self._commits: dict[str, dict] = {}
        for file in (self.root / "repos").rglob("*.json"):
            repo = Repo.from_json(json.loads(file.read_text()))
            self.repos[repo.key] = repo

    # blobs
    def blob_path(self, sha256: str) -> Path:
        return self.root / "blobs" / sha256

    def has_blob(self, sha256: str, size: int | None = None) -> bool:
        p = self.blob_path(sha256)
        return p.is_file() and (size is None or p.stat().st_size == size)

    def put_bytes(self, data: bytes) -> str:
        oid = hashlib.sha256(data).hexdigest()
        if not self.has_blob(oid):
            tmp = self.tmp_path()
            tmp.write_bytes(data)
            os.replace(tmp, self.blob_path(oid))
        return oid

    def tmp_path(self) -> Path:
        return self.root / "tmp" / secrets.token_hex(12)

    # commits
    def commit(self, sha: str) -> dict:
        with self.lock:
            c = self._commits.get(sha)
            if c is None:
                c = json.loads((self.root / "commits" / f"{sha}.json").read_text())
                self._commits[sha] = c
            return c

    def has_commit(self, sha: str) -> bool:
        return sha in self._commits or (self.root / "commits" / f"{sha}.json").is_file()

    def new_commit(self, repo: Repo, parent: str | None, files: dict, title: str, message: str,
                   author: str) -> str:
        body = {"repo": repo.key, "parent": parent, "title": title, "message": message, "author": author,
                "date": _now(), "files": files}
        sha = hashlib.sha1(json.dumps(body, sort_keys=True).encode() + secrets.token_bytes(8)).hexdigest()
        body["id"] = sha
        with self.lock:
            (self.root / "commits" / f"{sha}.json").write_text(json.dumps(body))
            self._commits[sha] = body
        return sha

    def save_repo(self, repo: Repo) -> None:
        path = self.root / "repos" / f"{repo.key}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(repo.to_json()))
        os.replace(tmp, path)

    def delete_repo(self, repo: Repo) -> None:
        with self.lock:
            self.repos.pop(repo.key, None)
            (self.root / "repos" / f"{repo.key}.json").unlink(missing_ok=True)

    def history(self, sha: str) -> Iterator[dict]:
        current: str | None = sha
        while current:
            c = self.commit(current)
            yield c
            current = c["parent"]

    def resolve(self, repo: Repo, rev: str | None) -> str:
        """Branch, tag, refs/pr/N, refs/heads/x, full or short sha -> commit sha."""
        rev = rev or "main"
        with self.lock:
            if rev in repo.branches:
                return repo.branches[rev]
            if rev.startswith("refs/heads/") and rev[11:] in repo.branches:
                return repo.branches[rev[11:]]
            if rev in repo.tags:
                return repo.tags[rev]
            if rev.startswith("refs/tags/") and rev[10:] in repo.tags:
                return repo.tags[rev[10:]]
            m = re.fullmatch(r"refs/pr/(\d+)", rev)
            if m and int(m.group(1)) in repo.prs:
                return repo.prs[int(m.group(1))]
            if _HEX_RE.match(rev):
                for sha in self._reachable(repo):
                    if sha.startswith(rev):
                        return sha
        raise HubHTTPError(404, f"Invalid rev id: {rev}", "RevisionNotFound")

    def _reachable(self, repo: Repo) -> list[str]:
        seen: list[str] = []
        heads = list(repo.branches.values()) + list(repo.tags.values()) + list(repo.prs.values())
        for head in heads:
            for c in self.history(head):
                if c["id"] in seen:
                    break
                seen.append(c["id"])
        return seen


def file_entry_for(content_sha256: str, size: int, lfs: bool, data: bytes | None = None) -> dict:
    """A commit's record of one file. ``git_oid`` is what git would store (the pointer for LFS)."""
    if lfs:
        pointer = lfs_pointer(content_sha256, size)
        return {"size": size, "sha256": content_sha256, "lfs": True, "git_oid": git_blob_sha1(pointer),
                "pointer_size": len(pointer)}
    assert data is not None
    return {"size": size, "sha256": content_sha256, "lfs": False, "git_oid": git_blob_sha1(data)}


# --- the server -----------------------------------------------------------------------------------


class HubServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, root: Path, tokens: dict[str, Any] | None = None, *, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.storage = HubStorage(root)
        self.tokens: dict[str, dict] = {}
        for token, spec in (tokens or {}).items():
            self.add_token(token, spec)
        self.faults = FaultInjector()
        self.requests: list[RequestRecord] = []
        self.page_size = 1000
        self.expand_page_size = 50
        self.multipart_threshold = 20 * 1024 * 1024
        self.multipart_chunk_size = 8 * 1024 * 1024
        self.lfs_threshold = LFS_THRESHOLD
        self._uploads: dict[str, dict] = {}
        self._uploads_lock = threading.Lock()
        super().__init__((host, port), HubRequestHandler)

    # configuration
    def add_token(self, token: str, spec: Any) -> None:
        """``spec``: "alice" / ("alice", "write") / {"user": "alice", "role": "read", "orgs": [...]}."""
        if isinstance(spec, str):
            spec = {"user": spec, "role": ROLE_WRITE}
        elif isinstance(spec, (tuple, list)):
            spec = {"user": spec[0], "role": spec[1] if len(spec) > 1 else ROLE_WRITE}
        self.tokens[token] = {"user": spec["user"], "role": spec.get("role", ROLE_WRITE),
                              "orgs": list(spec.get("orgs", []))}

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def set_repo_flags(self, repo_id: str, *, repo_type: str = "model", private: bool | None = None,
                       gated: bool | None = None, granted: list[str] | None = None) -> None:
        with self.storage.lock:
            repo = self.storage.repos[f"{repo_type}/{repo_id}"]
            if private is not None:
                repo.private = private
            if gated is not None:
                repo.gated = gated
            if granted is not None:
                repo.granted = list(granted)
            self.storage.save_repo(repo)

    # observation
    def record(self, rec: RequestRecord) -> None:
        with self._uploads_lock:
            self.requests.append(rec)

    def count(self, method: str | None = None, path: str = "") -> int:
        """How many recorded requests match ``method`` and the ``path`` regex."""
        with self._uploads_lock:
            return sum(1 for r in self.requests
                       if (method is None or r.method == method.upper()) and re.search(path, r.path))

    def lfs_bytes_received(self) -> int:
        with self._uploads_lock:
            return sum(r.bytes_in for r in self.requests if r.path.startswith(("/lfs-upload/", "/lfs-part/")))

    def clear_requests(self) -> None:
        with self._uploads_lock:
            self.requests.clear()

    def branch_head(self, repo_id: str, branch: str = "main", repo_type: str = "model") -> str:
        return self.storage.repos[f"{repo_type}/{repo_id}"].branches[branch]


class _Body:
    """The request body as a stream: Content-Length or chunked. Tracks what is left to drain."""

    def __init__(self, rfile, headers) -> None:
        self.rfile = rfile
        self.chunked = "chunked" in (headers.get("Transfer-Encoding") or "").lower()
        self.remaining = int(headers.get("Content-Length") or 0) if not self.chunked else -1
        self.read_bytes = 0
        self._chunk_left = 0
        self._done = not self.chunked and self.remaining == 0

    def read(self, n: int = CHUNK) -> bytes:
        if self._done:
            return b""
        if not self.chunked:
            data = self.rfile.read(min(n, self.remaining))
            if not data:
                raise ConnectionError("client closed the connection mid-body")
            self.remaining -= len(data)
            self._done = self.remaining == 0
        else:
            if self._chunk_left == 0:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    self._done = True
                    return b""
                self._chunk_left = size
            data = self.rfile.read(min(n, self._chunk_left))
            self._chunk_left -= len(data)
            if self._chunk_left == 0:
                self.rfile.readline()
        self.read_bytes += len(data)
        return data

    def read_all(self, limit: int = 2 * 1024**3) -> bytes:
        parts = []
        while chunk := self.read():
            parts.append(chunk)
            if self.read_bytes > limit:
                raise HubHTTPError(413, "payload too large")
        return b"".join(parts)

    def drain(self) -> None:
        while self.read():
            pass

    @property
    def done(self) -> bool:
        return self._done


class HubRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: HubServer
    server_version = "hubmgr-test-hub/1"

    # --- plumbing ---------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # quiet; requests are in server.requests
        pass

    def _handle(self) -> None:
        self._status = 0
        self._user: dict | None = None
        self._sent = False
        split = urlsplit(self.path)
        self._raw_path = split.path
        self._query = parse_qs(split.query, keep_blank_values=True)
        self._segments = [unquote(s) for s in split.path.split("/")[1:]]
        self._plain_path = unquote(split.path)
        self._body = _Body(self.rfile, self.headers)
        try:
            try:
                fault = self.server.faults.take(("slow",), self.command, self._plain_path)
                if fault:
                    time.sleep(fault.delay)
                fault = self.server.faults.take(("status",), self.command, self._plain_path)
                if fault:
                    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                    raise HubHTTPError(fault.status, f"injected failure ({fault.status})", None, headers)
                self._authenticate()
                self._route()
            except HubHTTPError as exc:
                if not self._sent:
                    self._send_error(exc)
            except (ConnectionError, BrokenPipeError):
                self.close_connection = True
            except Exception as exc:  # a server bug: answer 500 so the client does not hang
                if not self._sent:
                    self._send_error(HubHTTPError(500, f"internal error: {type(exc).__name__}: {exc}"))
                raise
        finally:
            if not self._body.done:
                # Never leave unread body bytes on a keep-alive connection (HUB_PROTOCOL.md §10.2).
                self.close_connection = True
            self.server.record(RequestRecord(self.command, self._plain_path, self._status, self._body.read_bytes,
                                             (self._user or {}).get("user")))

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    def _send(self, status: int, body: bytes = b"", headers: dict | None = None,
              content_type: str = "application/json") -> None:
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self._sent = True
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def _json(self, data: Any, status: int = 200, headers: dict | None = None) -> None:
        self._send(status, json.dumps(data).encode(), headers)

    def _send_error(self, exc: HubHTTPError) -> None:
        headers = dict(exc.headers)
        headers["X-Error-Message"] = exc.message
        if exc.code:
            headers["X-Error-Code"] = exc.code
        if not self._body.done:
            self.close_connection = True
        self._json({"error": exc.message}, exc.status, headers)

    def _read_json(self) -> Any:
        raw = self._body.read_all(limit=64 * 1024**2)
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise HubHTTPError(400, f"invalid JSON body: {exc}") from exc

    # --- auth -------------------------------------------------------------------------------------
    def _authenticate(self) -> None:
        auth = self.headers.get("Authorization") or ""
        if not auth:
            return
        token = auth.split(" ", 1)[1].strip() if " " in auth else auth
        spec = self.server.tokens.get(token)
        if spec is None:
            # Drain first: the error is sent before the body is otherwise read.
            raise HubHTTPError(401, "Invalid credentials in Authorization header")
        self._user = spec

    def _namespaces(self) -> set[str]:
        return {self._user["user"], *self._user["orgs"]} if self._user else set()

    def _repo(self, repo_type: str, ns: str, name: str, *, write: bool = False, content: bool = False) -> Repo:
        """Look up a repo and check access. ``content``: file bytes (gated repos check access here)."""
        repo = self.server.storage.repos.get(f"{repo_type}/{ns}/{name}")
        owner = ns in self._namespaces()
        if repo is None or (repo.private and not owner):
            raise _not_found_repo()
        if write:
            if self._user is None:
                raise HubHTTPError(401, "You must be authenticated to write to this repository")
            if not owner:
                raise HubHTTPError(403, f"You don't have the rights to write to {repo.repo_id}")
            if self._user["role"] != ROLE_WRITE:
                raise HubHTTPError(403, "This token has read-only access (role: read)")
        if content and repo.gated and not owner and (self._user or {}).get("user") not in repo.granted:
            raise HubHTTPError(403, f"Access to model {repo.repo_id} is restricted. You must have access to it "
                                    "and be authenticated to access it.", "GatedRepo")
        return repo

    # --- routing ----------------------------------------------------------------------------------
    def _route(self) -> None:
        s, m = self._segments, self.command
        if s[:1] == ["_test"]:  # observation for out-of-process users (bench/hub.py)
            return self._test_admin(s[1:], m)
        if s[:1] == ["api"]:
            return self._route_api(s[1:], m)
        if s[:1] == ["lfs-upload"] and len(s) == 2 and m == "PUT":
            return self._lfs_basic_put(s[1])
        if s[:1] == ["lfs-part"] and len(s) == 3 and m == "PUT":
            return self._lfs_part_put(s[1], s[2])
        if s[:1] == ["lfs-complete"] and len(s) == 2 and m == "POST":
            return self._lfs_complete(s[1])
        repo_type = "model"
        if s and s[0] in ("datasets", "spaces"):
            repo_type, s = API_TYPES[s[0]], s[1:]
        if len(s) >= 6 and s[1].endswith(".git") and s[2:5] == ["info", "lfs", "objects"]:
            if s[5] == "batch" and m == "POST":
                return self._lfs_batch(repo_type, s[0], s[1][:-4])
            if s[5] == "verify" and m == "POST":
                return self._lfs_verify(repo_type, s[0], s[1][:-4])
        if len(s) >= 5 and s[2] == "resolve" and m in ("GET", "HEAD"):
            return self._resolve(repo_type, s[0], s[1], s[3], "/".join(s[4:]))
        if len(s) == 2 and m == "GET":
            repo = self._repo(repo_type, s[0], s[1])
            return self._send(200, f"<h1>{repo.repo_id}</h1>".encode(), content_type="text/html")
        raise HubHTTPError(404, f"no route for {m} {self._raw_path}")

    def _test_admin(self, s: list[str], m: str) -> None:
        server = self.server
        if s == ["stats"] and m == "GET":
            return self._json({"requests": len(server.requests),
                               "lfs_puts": server.count("PUT", "^/lfs-(upload|part)/"),
                               "lfs_bytes": server.lfs_bytes_received(),
                               "commits": server.count("POST", "/commit/"),
                               "resolve_gets": server.count("GET", "/resolve/")})
        if s == ["reset"] and m == "POST":
            server.clear_requests()
            return self._json({})
        raise HubHTTPError(404, "unknown test route")

    def _route_api(self, s: list[str], m: str) -> None:
        if s == ["agent-harnesses"]:
            return self._json({"standardEnvVars": [], "harnesses": {}})
        if s == ["whoami-v2"] and m == "GET":
            return self._whoami()
        if s == ["validate-yaml"] and m == "POST":
            self._read_json()
            return self._json({"errors": [], "warnings": []})
        if s == ["repos", "create"] and m == "POST":
            return self._create_repo()
        if s == ["repos", "delete"] and m == "DELETE":
            return self._delete_repo()
        if len(s) >= 3 and s[0] in API_TYPES:
            repo_type, ns, name, rest = API_TYPES[s[0]], s[1], s[2], s[3:]
            head = rest[0] if rest else None
            if not rest and m == "GET":
                return self._repo_info(repo_type, ns, name, None)
            if head == "revision" and len(rest) >= 2 and m == "GET":
                return self._repo_info(repo_type, ns, name, "/".join(rest[1:]))
            if head == "refs" and m == "GET":
                return self._refs(repo_type, ns, name)
            if head == "branch" and len(rest) >= 2:
                return self._branch(repo_type, ns, name, "/".join(rest[1:]))
            if head == "tag" and len(rest) >= 2:
                return self._tag(repo_type, ns, name, "/".join(rest[1:]))
            if head == "commits" and m == "GET":
                return self._commits(repo_type, ns, name, "/".join(rest[1:]) or "main")
            if head == "tree" and len(rest) >= 2 and m == "GET":
                return self._tree(repo_type, ns, name, rest[1], "/".join(rest[2:]))
            if head == "paths-info" and len(rest) >= 2 and m == "POST":
                return self._paths_info(repo_type, ns, name, "/".join(rest[1:]))
            if head == "preupload" and len(rest) >= 2 and m == "POST":
                return self._preupload(repo_type, ns, name, "/".join(rest[1:]))
            if head == "commit" and len(rest) >= 2 and m == "POST":
                return self._commit(repo_type, ns, name, "/".join(rest[1:]))
            if head == "settings" and m == "PUT":
                return self._settings(repo_type, ns, name)
            if head in ("xet-read-token", "xet-write-token"):
                raise HubHTTPError(404, "Xet is not supported by this test server: set HF_HUB_DISABLE_XET=1")
        raise HubHTTPError(404, f"no route for {m} {self._raw_path}")

    # --- account and repos ------------------------------------------------------------------------
    def _whoami(self) -> None:
        if self._user is None:
            raise HubHTTPError(401, "Invalid credentials in Authorization header")
        u = self._user
        self._json({"type": "user", "id": hashlib.sha1(u["user"].encode()).hexdigest()[:24], "name": u["user"],
                    "fullname": u["user"].title(), "email": f"{u['user']}@hub.invalid", "emailVerified": True,
                    "canPay": False, "isPro": False,
                    "orgs": [{"type": "org", "name": o, "fullname": o} for o in u["orgs"]],
                    "auth": {"type": "access_token", "accessToken": {
                        "displayName": "test", "role": u["role"], "createdAt": "2024-01-01T00:00:00.000Z"}}})

    def _repo_url(self, repo: Repo) -> str:
        return f"{self.server.url}/{URL_PREFIX[repo.repo_type]}{repo.repo_id}"

    def _create_repo(self) -> None:
        body = self._read_json()
        if self._user is None:
            raise HubHTTPError(401, "You must be authenticated to create a repository")
        name = body.get("name") or ""
        ns = body.get("organization") or self._user["user"]
        repo_type = body.get("type") or "model"
        if repo_type not in URL_PREFIX or not re.fullmatch(r"[\w.-]+", name) or not re.fullmatch(r"[\w.-]+", ns):
            raise HubHTTPError(400, f"invalid repo name or type: {ns}/{name} ({repo_type})")
        if ns not in self._namespaces():
            raise HubHTTPError(403, f"You don't have the rights to create a repository under the namespace {ns}")
        if self._user["role"] != ROLE_WRITE:
            raise HubHTTPError(403, "This token has read-only access (role: read)")
        storage = self.server.storage
        key = f"{repo_type}/{ns}/{name}"
        with storage.lock:
            if key in storage.repos:
                repo = storage.repos[key]
                return self._json({"error": "You already created this model repo", "url": self._repo_url(repo)},
                                  409)
            repo = Repo(key, repo_type, f"{ns}/{name}", private=body.get("visibility") == "private"
                        or bool(body.get("private")), created=_now(), internal_id=secrets.token_hex(12))
            data = DEFAULT_GITATTRIBUTES.encode()
            oid = storage.put_bytes(data)
            files = {".gitattributes": file_entry_for(oid, len(data), False, data)}
            repo.branches["main"] = storage.new_commit(repo, None, files, "initial commit", "", ns)
            storage.repos[key] = repo
            storage.save_repo(repo)
        self._json({"url": self._repo_url(repo), "name": repo.repo_id, "id": repo.internal_id})

    def _delete_repo(self) -> None:
        body = self._read_json()
        ns = body.get("organization") or (self._user or {}).get("user", "")
        repo = self._repo(body.get("type") or "model", ns, body.get("name", ""), write=True)
        self.server.storage.delete_repo(repo)
        self._json({})

    def _settings(self, repo_type: str, ns: str, name: str) -> None:
        body = self._read_json()
        repo = self._repo(repo_type, ns, name, write=True)
        with self.server.storage.lock:
            if "visibility" in body:
                repo.private = body["visibility"] == "private"
            if "private" in body:
                repo.private = bool(body["private"])
            if "gated" in body:
                repo.gated = body["gated"] not in (False, None, "false")
            self.server.storage.save_repo(repo)
        self._json({})

    def _repo_info(self, repo_type: str, ns: str, name: str, rev: str | None) -> None:
        repo = self._repo(repo_type, ns, name)
        sha = self.server.storage.resolve(repo, rev)
        commit = self.server.storage.commit(sha)
        blobs = (self._query.get("blobs") or ["false"])[0].lower() in ("true", "1")
        siblings = []
        for path, e in sorted(commit["files"].items()):
            sib: dict[str, Any] = {"rfilename": path}
            if blobs:
                sib.update(size=e["size"], blobId=e["git_oid"])
                if e["lfs"]:
                    sib["lfs"] = {"size": e["size"], "sha256": e["sha256"], "pointerSize": e["pointer_size"]}
            siblings.append(sib)
        self._json({"_id": repo.internal_id, "id": repo.repo_id, "author": ns, "sha": sha,
                    "lastModified": commit["date"], "createdAt": repo.created, "private": repo.private,
                    "gated": "auto" if repo.gated else False, "disabled": False, "downloads": 0, "likes": 0,
                    "tags": [], "siblings": siblings,
                    "usedStorage": sum(e["size"] for e in commit["files"].values())})

    def _refs(self, repo_type: str, ns: str, name: str) -> None:
        repo = self._repo(repo_type, ns, name)
        with self.server.storage.lock:
            data: dict[str, Any] = {
                "branches": [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": c}
                             for b, c in sorted(repo.branches.items())],
                "converts": [],
                "tags": [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": c} for t, c in sorted(repo.tags.items())],
            }
            if self._query.get("include_prs"):
                data["pullRequests"] = [{"name": f"refs/pr/{n}", "ref": f"refs/pr/{n}", "targetCommit": c}
                                        for n, c in sorted(repo.prs.items())]
        self._json(data)

    def _branch(self, repo_type: str, ns: str, name: str, branch: str) -> None:
        body = self._read_json() if self.command == "POST" else {}
        repo = self._repo(repo_type, ns, name, write=True)
        storage = self.server.storage
        with storage.lock:
            if self.command == "POST":
                if branch in repo.branches:
                    raise HubHTTPError(409, f"Reference already exists: refs/heads/{branch}")
                repo.branches[branch] = storage.resolve(repo, body.get("startingPoint") or "main")
            elif self.command == "DELETE":
                if branch not in repo.branches:
                    raise HubHTTPError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
                if branch == "main":
                    raise HubHTTPError(403, "Cannot delete the default branch")
                del repo.branches[branch]
            else:
                raise HubHTTPError(405, "method not allowed")
            storage.save_repo(repo)
        self._json({})

    def _tag(self, repo_type: str, ns: str, name: str, rev_or_tag: str) -> None:
        body = self._read_json() if self.command == "POST" else {}
        repo = self._repo(repo_type, ns, name, write=True)
        storage = self.server.storage
        with storage.lock:
            if self.command == "POST":  # the path holds the revision being tagged
                tag = body.get("tag") or ""
                if not re.fullmatch(r"[\w.\-/]+", tag):
                    raise HubHTTPError(400, f"invalid tag name: {tag!r}")
                if tag in repo.tags:
                    raise HubHTTPError(409, "Tag already exists")
                repo.tags[tag] = storage.resolve(repo, rev_or_tag)
            elif self.command == "DELETE":
                if rev_or_tag not in repo.tags:
                    raise HubHTTPError(404, f"Invalid rev id: {rev_or_tag}", "RevisionNotFound")
                del repo.tags[rev_or_tag]
            else:
                raise HubHTTPError(405, "method not allowed")
            storage.save_repo(repo)
        self._json({})

    # --- listings ---------------------------------------------------------------------------------
    def _paginate(self, items: list, page_size: int) -> None:
        cursor = int((self._query.get("cursor") or ["0"])[0] or 0)
        page = items[cursor:cursor + page_size]
        headers = {}
        if cursor + page_size < len(items):
            query = {k: v for k, v in self._query.items() if k != "cursor"}
            query["cursor"] = [str(cursor + page_size)]
            headers["Link"] = f'<{self.server.url}{self._raw_path}?{urlencode(query, doseq=True)}>; rel="next"'
        self._json(page, headers=headers)

    def _commits(self, repo_type: str, ns: str, name: str, rev: str) -> None:
        repo = self._repo(repo_type, ns, name)
        sha = self.server.storage.resolve(repo, rev)
        formatted = any("formatted" in v for k, vs in self._query.items() if k.startswith("expand") for v in vs)
        items = []
        for c in self.server.storage.history(sha):
            item = {"id": c["id"], "title": c["title"], "message": c["message"],
                    "authors": [{"user": c["author"], "avatar": ""}], "date": c["date"]}
            if formatted:
                item["formatted"] = {"title": c["title"], "message": c["message"]}
            items.append(item)
        self._paginate(items, self.server.page_size)

    def _entries(self, repo: Repo, sha: str, expand: bool) -> dict[str, dict]:
        """Every file and directory at ``sha`` as tree entries, keyed by path."""
        files = self.server.storage.commit(sha)["files"]
        entries: dict[str, dict] = {}
        for path, e in files.items():
            entry: dict[str, Any] = {"type": "file", "oid": e["git_oid"], "size": e["size"], "path": path}
            if e["lfs"]:
                entry["lfs"] = {"oid": e["sha256"], "size": e["size"], "pointerSize": e["pointer_size"]}
            if expand:
                last = self._last_commit(sha, path)
                entry["lastCommit"] = {"id": last["id"], "title": last["title"], "date": last["date"]}
            entries[path] = entry
            parts = path.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                entries.setdefault(d, {"type": "directory", "oid": hashlib.sha1(f"{sha}:{d}".encode()).hexdigest(),
                                       "size": 0, "path": d})
        for extra in self.server.faults.extra_entries:
            if extra.repo_id == repo.repo_id:
                entries[extra.path] = {"type": "file", "oid": git_blob_sha1(extra.content),
                                       "size": len(extra.content), "path": extra.path}
        return entries

    def _last_commit(self, sha: str, path: str) -> dict:
        history = list(self.server.storage.history(sha))
        last = history[0]
        for c in history:
            if c["files"].get(path) != history[0]["files"].get(path):
                break
            last = c
        return last

    def _tree(self, repo_type: str, ns: str, name: str, rev: str, path: str) -> None:
        repo = self._repo(repo_type, ns, name)
        sha = self.server.storage.resolve(repo, rev)
        expand = (self._query.get("expand") or ["false"])[0].lower() == "true"
        recursive = (self._query.get("recursive") or ["false"])[0].lower() == "true"
        entries = self._entries(repo, sha, expand)
        path = path.strip("/")
        if path and (path not in entries or entries[path]["type"] != "directory"):
            raise HubHTTPError(404, f"Entry not found: {path}", "EntryNotFound")
        prefix = f"{path}/" if path else ""
        selected = [e for p, e in entries.items() if p.startswith(prefix) and p != path
                    and (recursive or "/" not in p[len(prefix):])]
        selected.sort(key=lambda e: (e["type"] != "directory", e["path"]))
        self._paginate(selected, self.server.expand_page_size if expand else self.server.page_size)

    def _paths_info(self, repo_type: str, ns: str, name: str, rev: str) -> None:
        raw = self._body.read_all(limit=16 * 1024**2).decode()
        if "json" in (self.headers.get("Content-Type") or ""):
            form = json.loads(raw or "{}")
            paths, expand = form.get("paths", []), bool(form.get("expand"))
        else:
            form = parse_qs(raw, keep_blank_values=True)
            paths, expand = form.get("paths", []), (form.get("expand") or ["false"])[0].lower() == "true"
        repo = self._repo(repo_type, ns, name)
        sha = self.server.storage.resolve(repo, rev)
        entries = self._entries(repo, sha, expand)
        self._json([entries[p.strip("/")] for p in paths if p.strip("/") in entries])

    # --- uploads ----------------------------------------------------------------------------------
    def _lfs_patterns(self, files: dict) -> list[str]:
        entry = files.get(".gitattributes")
        if not entry or entry["lfs"]:
            return []
        text = self.server.storage.blob_path(entry["sha256"]).read_text(errors="replace")
        return [line.split()[0] for line in text.splitlines()
                if line.strip() and not line.startswith("#") and "filter=lfs" in line]

    def _preupload(self, repo_type: str, ns: str, name: str, rev: str) -> None:
        body = self._read_json()
        repo = self._repo(repo_type, ns, name, write=True)
        storage = self.server.storage
        create_pr = bool(self._query.get("create_pr"))
        try:
            sha = storage.resolve(repo, rev)
        except HubHTTPError:
            if not create_pr:
                raise
            sha = storage.resolve(repo, "main")
        files = storage.commit(sha)["files"]
        patterns = self._lfs_patterns(files)
        out = []
        for item in body.get("files", []):
            path, size = item["path"], int(item.get("size", 0))
            sample = base64.b64decode(item.get("sample") or "")
            lfs = size >= self.server.lfs_threshold or b"\0" in sample or any(
                fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path.rsplit("/", 1)[-1], p) for p in patterns)
            mode = "lfs" if lfs and size > 0 else "regular"
            existing = files.get(path)
            oid = None
            if existing is not None:
                oid = existing["sha256"] if mode == "lfs" and existing["lfs"] else (
                    existing["git_oid"] if mode == "regular" and not existing["lfs"] else None)
            out.append({"path": path, "uploadMode": mode, "shouldIgnore": path.startswith(".git/"), "oid": oid})
        self._json({"files": out, "commitOid": sha})

    def _lfs_batch(self, repo_type: str, ns: str, name: str) -> None:
        body = self._read_json()
        repo = self._repo(repo_type, ns, name, write=body.get("operation") == "upload", content=True)
        base = self.server.url
        objects = []
        for obj in body.get("objects", []):
            oid, size = obj.get("oid", ""), int(obj.get("size", -1))
            if not re.fullmatch(r"[0-9a-f]{64}", oid) or size < 0:
                objects.append({"oid": oid, "size": size, "error": {"code": 422, "message": "invalid object"}})
                continue
            if self.server.storage.has_blob(oid, size):
                objects.append({"oid": oid, "size": size})  # no actions: already stored
                continue
            upload_id = secrets.token_hex(16)
            verify = {"href": f"{base}/{URL_PREFIX[repo.repo_type]}{repo.repo_id}.git/info/lfs/objects/verify",
                      "header": {}}
            with self.server._uploads_lock:
                self.server._uploads[upload_id] = {"oid": oid, "size": size, "repo": repo.key, "parts": {}}
            if size >= self.server.multipart_threshold:
                chunk = self.server.multipart_chunk_size
                nparts = -(-size // chunk)
                header = {"chunk_size": str(chunk)}
                header.update({f"{i:05d}": f"{base}/lfs-part/{upload_id}/{i}" for i in range(1, nparts + 1)})
                upload = {"href": f"{base}/lfs-complete/{upload_id}", "header": header}
            else:
                upload = {"href": f"{base}/lfs-upload/{upload_id}", "header": {"X-Ignored": "1"}}
            objects.append({"oid": oid, "size": size, "authenticated": True,
                            "actions": {"upload": upload, "verify": verify}})
        self._json({"transfer": "basic", "objects": objects}, headers={"Content-Type": "application/vnd.git-lfs+json"})

    def _upload(self, upload_id: str) -> dict:
        with self.server._uploads_lock:
            up = self.server._uploads.get(upload_id)
        if up is None:
            raise HubHTTPError(403, "invalid or expired upload URL")
        return up

    def _stream_body_to(self, path: Path) -> tuple[str, int]:
        """Write the request body to ``path`` in chunks; returns (sha256, size)."""
        h = hashlib.sha256()
        with open(path, "wb") as fh:
            while chunk := self._body.read():
                h.update(chunk)
                fh.write(chunk)
        return h.hexdigest(), self._body.read_bytes

    def _lfs_basic_put(self, upload_id: str) -> None:
        up = self._upload(upload_id)
        tmp = self.server.storage.tmp_path()
        try:
            oid, size = self._stream_body_to(tmp)
            if oid != up["oid"] or size != up["size"]:
                raise HubHTTPError(400, f"uploaded content does not match oid/size ({size} bytes)")
            os.replace(tmp, self.server.storage.blob_path(oid))
        finally:
            tmp.unlink(missing_ok=True)
        self._send(200, b"", content_type="text/plain")

    def _lfs_part_put(self, upload_id: str, number: str) -> None:
        """Write part N in place (offset (N-1)*chunk) of one preallocated file.

        Parts that arrive in order also feed a running sha256, so completing a large
        upload needs no second pass over the data; any other order falls back to a rehash.
        """
        up = self._upload(upload_id)
        n = int(number)
        chunk = self.server.multipart_chunk_size
        with self.server._uploads_lock:
            if "file" not in up:
                up["file"] = self.server.storage.tmp_path()
                up["file"].touch()
                up["sha256"], up["next"], up["dirty"] = hashlib.sha256(), 1, False
            in_order = n == up["next"] and not up["dirty"]
            running = up["sha256"].copy() if in_order else None
        md5 = hashlib.md5()
        with open(up["file"], "r+b") as fh:
            fh.seek((n - 1) * chunk)
            while data := self._body.read():
                md5.update(data)
                if running is not None:
                    running.update(data)
                fh.write(data)
        etag = f'"{md5.hexdigest()}"'
        with self.server._uploads_lock:
            up["parts"][n] = (self._body.read_bytes, etag)
            if running is not None and n == up["next"]:
                up["sha256"], up["next"] = running, n + 1
            else:
                up["dirty"] = True
        self._send(200, b"", {"ETag": etag}, content_type="text/plain")

    def _lfs_complete(self, upload_id: str) -> None:
        body = self._read_json()
        up = self._upload(upload_id)
        parts = sorted(body.get("parts", []), key=lambda p: int(p["partNumber"]))
        chunk = self.server.multipart_chunk_size
        expected = -(-up["size"] // chunk)
        try:
            if [int(p["partNumber"]) for p in parts] != list(range(1, expected + 1)) or "file" not in up:
                raise HubHTTPError(400, f"expected parts 1..{expected}")
            for p in parts:
                n = int(p["partNumber"])
                size, etag = up["parts"].get(n, (None, None))
                want = chunk if n < expected else up["size"] - chunk * (expected - 1)
                if etag != p.get("etag") or size != want:
                    raise HubHTTPError(400, f"part {n} missing, of the wrong size, or etag mismatch")
            path = up["file"]
            if up["dirty"] or up["next"] != expected + 1:
                with open(path, "rb") as fh:
                    digest = hashlib.file_digest(fh, "sha256").hexdigest()
            else:
                digest = up["sha256"].hexdigest()
            if digest != up["oid"] or path.stat().st_size != up["size"]:
                raise HubHTTPError(400, "assembled object does not match oid/size")
            os.replace(path, self.server.storage.blob_path(up["oid"]))
        finally:
            if "file" in up:
                up["file"].unlink(missing_ok=True)
            with self.server._uploads_lock:
                self.server._uploads.pop(upload_id, None)
        self._send(200, b"{}")

    def _lfs_verify(self, repo_type: str, ns: str, name: str) -> None:
        body = self._read_json()
        self._repo(repo_type, ns, name, write=True)
        if not self.server.storage.has_blob(body.get("oid", "x"), int(body.get("size", -1))):
            raise HubHTTPError(404, "object not found", "EntryNotFound")
        self._json({})

    def _commit(self, repo_type: str, ns: str, name: str, rev: str) -> None:
        raw = self._body.read_all()
        repo = self._repo(repo_type, ns, name, write=True)
        storage = self.server.storage
        lines = [json.loads(line) for line in raw.splitlines() if line.strip()]
        header = next((ln["value"] for ln in lines if ln.get("key") == "header"), {})
        create_pr = bool(self._query.get("create_pr"))
        with storage.lock:
            is_pr = re.fullmatch(r"refs/pr/(\d+)", rev)
            if create_pr:
                base = storage.resolve(repo, header.get("parentCommit") or rev)
            elif is_pr:
                if int(is_pr.group(1)) not in repo.prs:
                    raise HubHTTPError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
                base = repo.prs[int(is_pr.group(1))]
            else:
                if rev not in repo.branches:
                    raise HubHTTPError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
                base = repo.branches[rev]
            parent = header.get("parentCommit")
            if parent and not create_pr and not base.startswith(parent.lower()):
                raise HubHTTPError(412, "A commit has happened since. Please refresh and try again.")
            files = {p: dict(e) for p, e in storage.commit(base)["files"].items()}
            for ln in lines:
                key, v = ln.get("key"), ln.get("value", {})
                if key == "header":
                    continue
                path = v.get("path", "")
                if key in ("file", "lfsFile", "deletedFile") and not _safe_repo_path(path):
                    raise HubHTTPError(400, f"invalid path in commit: {path!r}")
                if key == "file":
                    data = base64.b64decode(v.get("content", "")) if v.get("encoding") == "base64" else \
                        v.get("content", "").encode()
                    files[path] = file_entry_for(storage.put_bytes(data), len(data), False, data)
                elif key == "lfsFile":
                    oid = v.get("oid", "")
                    if not storage.has_blob(oid, v.get("size")):
                        raise HubHTTPError(422, f"LFS object {oid} for {path} was not uploaded")
                    files[path] = file_entry_for(oid, storage.blob_path(oid).stat().st_size, True)
                elif key == "deletedFile":
                    if path not in files:
                        raise HubHTTPError(404, "A file with this name doesn't exist", "EntryNotFound")
                    del files[path]
                elif key == "deletedFolder":
                    prefix = path.rstrip("/") + "/"
                    gone = [p for p in files if p.startswith(prefix)]
                    if not gone:
                        raise HubHTTPError(404, "A folder with this name doesn't exist", "EntryNotFound")
                    for p in gone:
                        del files[p]
                else:
                    raise HubHTTPError(400, f"unknown commit line key {key!r}")
            author = self._user["user"] if self._user else "anonymous"
            sha = storage.new_commit(repo, base, files, header.get("summary") or "update",
                                     header.get("description") or "", author)
            pr_url = None
            if create_pr:
                number = max(repo.prs, default=0) + 1
                repo.prs[number] = sha
                pr_url = f"{self._repo_url(repo)}/discussions/{number}"
            elif is_pr:
                repo.prs[int(is_pr.group(1))] = sha
            else:
                repo.branches[rev] = sha
            storage.save_repo(repo)
        self._json({"success": True, "commitOid": sha, "commitUrl": f"{self._repo_url(repo)}/commit/{sha}",
                    "hookOutput": "", "pullRequestUrl": pr_url})

    # --- downloads --------------------------------------------------------------------------------
    def _resolve(self, repo_type: str, ns: str, name: str, rev: str, path: str) -> None:
        repo = self._repo(repo_type, ns, name, content=True)
        storage = self.server.storage
        sha = storage.resolve(repo, rev)
        entry = storage.commit(sha)["files"].get(path)
        extra = next((x for x in self.server.faults.extra_entries
                      if x.repo_id == repo.repo_id and x.path == path), None)
        if entry is None and extra is None:
            raise HubHTTPError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": sha})
        if extra is not None:
            blob = storage.blob_path(storage.put_bytes(extra.content))
            etag, size, lfs = git_blob_sha1(extra.content), len(extra.content), False
        else:
            blob, size, lfs = storage.blob_path(entry["sha256"]), entry["size"], entry["lfs"]
            etag = entry["sha256"] if lfs else entry["git_oid"]
        headers = {"X-Repo-Commit": sha, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
        if lfs:
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(size)})
        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range")
        if rng and self.command == "GET":
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if not m or (m.group(1) == "" and m.group(2) == ""):
                raise HubHTTPError(416, f"bad range {rng}")
            if m.group(1) == "":
                start = max(0, size - int(m.group(2)))
            else:
                start = int(m.group(1))
                end = min(size - 1, int(m.group(2))) if m.group(2) else size - 1
            if start >= size and size > 0:
                raise HubHTTPError(416, f"range {rng} not satisfiable", None,
                                   {"Content-Range": f"bytes */{size}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = max(0, end - start + 1)
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self._sent = True
        if self.command == "HEAD":
            return
        self._stream_file(blob, start, length)

    def _stream_file(self, blob: Path, start: int, length: int) -> None:
        fault = self.server.faults.take(("drop", "corrupt"), self.command, self._plain_path)
        sent = 0
        with open(blob, "rb") as fh:
            if fault is None and length > 0:
                self.wfile.flush()
                self.connection.sendfile(fh, start, length)  # zero-copy; falls back to send() itself
                return
            fh.seek(start)
            while sent < length:
                chunk = fh.read(min(CHUNK, length - sent))
                if not chunk:
                    break
                if fault is not None and fault.kind == "drop" and sent + len(chunk) > fault.after_bytes:
                    self.wfile.write(chunk[:max(0, fault.after_bytes - sent)])
                    self.wfile.flush()
                    self.close_connection = True
                    with contextlib.suppress(OSError):
                        self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if fault is not None and fault.kind == "corrupt":
                    chunk = bytes(b ^ 0x5A for b in chunk)
                self.wfile.write(chunk)
                sent += len(chunk)


def _safe_repo_path(path: str) -> bool:
    return bool(path) and not path.startswith("/") and ".." not in path.split("/") and "\\" not in path


# --- running it -----------------------------------------------------------------------------------


@contextlib.contextmanager
def running_hub_server(root: str | os.PathLike[str], tokens: dict[str, Any] | None = None, *,
                       host: str = "127.0.0.1", port: int = 0) -> Iterator[HubServer]:
    """Start a ``HubServer`` storing under ``root`` in a background thread; stop it on exit."""
    server = HubServer(Path(root), tokens, host=host, port=port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True,
                              name="hub-test-server")
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m hubmgr.testing.hub_server",
                                     description="Run the hubmgr Hub test server on 127.0.0.1.")
    parser.add_argument("--root", required=True, help="storage directory")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", action="append", default=[], metavar="TOKEN:USER[:ROLE]",
                        help="accept TOKEN for USER (role write or read); repeatable")
    args = parser.parse_args(argv)
    tokens = {}
    for spec in args.token:
        token, user, *role = spec.split(":")
        tokens[token] = (user, role[0] if role else ROLE_WRITE)
    server = HubServer(Path(args.root), tokens, port=args.port)
    print(server.url, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        shutil.rmtree(Path(args.root) / "tmp", ignore_errors=True)


if __name__ == "__main__":
    main()
