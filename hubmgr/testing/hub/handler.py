"""HTTP plumbing of the Hub test server: request bodies, responses, errors, auth, repo access."""

from __future__ import annotations

import json
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from hubmgr.testing.hub.protocol import CHUNK, ROLE_WRITE, URL_PREFIX, HubHTTPError, not_found_repo
from hubmgr.testing.hub.storage import Repo

if TYPE_CHECKING:
    from hubmgr.testing.hub.server import HubServer


@dataclass(frozen=True)
class RequestRecord:
    method: str
    path: str  # without the query string
    status: int
    bytes_in: int
    user: str | None
    bytes_out: int = 0  # file bytes a download sent (resolve GETs); not headers or JSON
    # Requests are listed when they finish; this numbers them as they arrived, for tests of
    # the order a client sends in (a finished request's thread may be listed after a later one's).
    arrival: int = 0


class Body:
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


class HandlerBase(BaseHTTPRequestHandler):
    """Plumbing shared by every route: parsing, sending, errors, auth and repo access checks."""

    protocol_version = "HTTP/1.1"
    server: HubServer
    server_version = "hubmgr-test-hub/1"

    # --- plumbing ---------------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:  # quiet; requests are in server.requests
        pass

    def _handle(self) -> None:
        self._arrival = next(self.server.arrivals)
        self._status = 0
        self._user: dict | None = None
        self._sent = False
        self._bytes_out = 0
        split = urlsplit(self.path)
        self._raw_path = split.path
        self._query = parse_qs(split.query, keep_blank_values=True)
        self._segments = [unquote(s) for s in split.path.split("/")[1:]]
        self._plain_path = unquote(split.path)
        self._body = Body(self.rfile, self.headers)
        try:
            try:
                self.server.faults.before_request(self.command, self._plain_path)
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
                                             (self._user or {}).get("user"), self._bytes_out, self._arrival))

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    def _route(self) -> None:
        raise NotImplementedError

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
            raise not_found_repo()
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

    def _repo_url(self, repo: Repo) -> str:
        return f"{self.server.url}/{URL_PREFIX[repo.repo_type]}{repo.repo_id}"
