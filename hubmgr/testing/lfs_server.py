"""A real Git LFS server on 127.0.0.1 for tests and benchmarks: giftless (a Python LFS server) with its
local storage backend and anonymous read-write access, served by werkzeug (what ``flask run`` uses).

Two changes to giftless's local storage (``ChunkedLocalStorage``):
- its download view hands the open file to the WSGI server, which iterates a binary file line by
  line (~20 MB/s of random bytes here, for every client alike); it gets 1 MiB blocks instead, so a
  benchmark measures the clients, not that loop;
- it makes an object's directory with check-then-mkdir, so two uploads that start together into a
  new repo race and one gets HTTP 500 (FileExistsError); here the mkdir accepts an existing dir.

    with giftless_server(tmp_path / "lfs-storage") as base:
        lfs_url = f"{base}/org/repo.git/info/lfs"   # git config lfs.url <that>

It runs in a child process (``python -m hubmgr.testing.lfs_server STORAGE``), so a benchmark's
client and server do not share one interpreter. The product never imports this module.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Iterator


@functools.lru_cache(maxsize=None)
def _chunked_storage_class():
    from giftless.storage.local_storage import LocalStorage

    class ChunkedLocalStorage(LocalStorage):
        def get(self, prefix: str, oid: str):
            fh = super().get(prefix, oid)

            def blocks():
                with fh:
                    yield from iter(lambda: fh.read(1 << 20), b"")
            return blocks()

        @staticmethod
        def _create_path(spath: str) -> None:
            Path(spath).mkdir(parents=True, exist_ok=True)  # concurrent uploads: no check-then-mkdir race

    return ChunkedLocalStorage


def _config(storage: Path, anonymous: str) -> dict:
    return {
        "AUTH_PROVIDERS": [f"giftless.auth.allow_anon:{anonymous}"],
        "LEGACY_ENDPOINTS": False,
        "TRANSFER_ADAPTERS": {"basic": {
            "factory": "giftless.transfer.basic_streaming:factory",
            "options": {"storage_class": "hubmgr.testing.lfs_server:ChunkedLocalStorage",
                        "storage_options": {"path": str(storage)}, "action_lifetime": 900},
        }},
    }


def lfs_url(base: str, repo: str) -> str:
    """The LFS endpoint of ``repo`` (org/name) on the server at ``base`` (for ``lfs.url``)."""
    return f"{base}/{repo}.git/info/lfs"


@contextlib.contextmanager
def giftless_server(storage: Path, *, anonymous: str = "read_write") -> Iterator[str]:
    """Start giftless storing objects under ``storage``; yields its base URL, stops it on exit.
    ``anonymous="read_only"``: uploads are refused (a server that wants credentials)."""
    storage.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-m", "hubmgr.testing.lfs_server", str(storage), anonymous],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError(f"giftless did not start (exit {proc.poll()})")
        yield f"http://127.0.0.1:{int(line)}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def __getattr__(name: str):
    if name == "ChunkedLocalStorage":  # giftless imports it by name in the server process only
        return _chunked_storage_class()
    raise AttributeError(name)


def main() -> None:
    storage = Path(sys.argv[1])
    anonymous = sys.argv[2] if len(sys.argv) > 2 else "read_write"
    os.environ["GIFTLESS_CONFIG_STR"] = json.dumps(_config(storage, anonymous))  # YAML reads JSON
    from giftless.app import init_app
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, init_app(), threaded=True)
    print(server.server_port, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
