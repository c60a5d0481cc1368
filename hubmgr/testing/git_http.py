"""A real HTTP server on 127.0.0.1 that refuses every git request with 401 (tests of auth failures).

Plays a private repository reached without credentials: git asks for a username,
cannot prompt (``GIT_TERMINAL_PROMPT=0``) and fails the way it does against GitHub.
"""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator


class _Deny(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="git"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_POST = do_GET

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


@contextlib.contextmanager
def auth_wall() -> Iterator[str]:
    """Yield the base URL (``http://127.0.0.1:PORT``) of a server answering 401 to everything."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Deny)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
