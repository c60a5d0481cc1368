"""The Hub test server process: configuration, observation, and running it.

``HubServer`` holds the storage, tokens, fault injector and request log; requests are answered
by ``routes.HubRequestHandler``.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

from hubmgr.testing.hub.faults import FaultInjector
from hubmgr.testing.hub.handler import RequestRecord
from hubmgr.testing.hub.protocol import LFS_THRESHOLD, ROLE_WRITE
from hubmgr.testing.hub.routes import HubRequestHandler
from hubmgr.testing.hub.storage import HubStorage


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
        self.arrivals = itertools.count(1)  # next() is atomic under the GIL: one number per request
        self.page_size = 1000
        self.expand_page_size = 50
        self.multipart_threshold = 20 * 1024 * 1024
        self.multipart_chunk_size = 8 * 1024 * 1024
        self.lfs_threshold = LFS_THRESHOLD
        self.cdn_redirect = False  # True: LFS downloads answer 302 to /cdn/<oid> on another origin (localhost)
        self._uploads: dict[str, dict] = {}
        self._uploads_lock = threading.Lock()
        super().__init__((host, port), HubRequestHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up mid-body (a download it refused, a cancel) is normal, not a server error."""
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)

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

    def bytes_served(self, path: str = "/resolve/") -> int:
        """File bytes sent by downloads whose path matches the regex ``path``."""
        with self._uploads_lock:
            return sum(r.bytes_out for r in self.requests if re.search(path, r.path))

    def clear_requests(self) -> None:
        with self._uploads_lock:
            self.requests.clear()


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
        pass  # Ctrl-C is how the standalone server is stopped; finally shuts it down
    finally:
        server.server_close()
        shutil.rmtree(Path(args.root) / "tmp", ignore_errors=True)


if __name__ == "__main__":
    main()
