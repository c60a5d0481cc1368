"""Run the app on uvicorn: ``hubmgr serve`` (``run``), or in a thread for tests and bench/.

The socket is bound before uvicorn starts, so ``--port 0`` works and the printed URL is the
real one. In ``run`` uvicorn's event loop lives on a thread and generation runs on the main
thread (torch generates a small model ~25% slower on a secondary thread); SIGTERM and Ctrl-C
stop uvicorn gracefully (in-flight requests finish), then the watcher stops and the state
file says the server is down.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import os
import queue
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import NotFoundError, UsageError
from .model_pool import ModelPool


def stderr_log(line: str) -> None:
    print(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {line}", file=sys.stderr, flush=True)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto must say TCP: asyncio only sets TCP_NODELAY on accepted sockets whose proto is IPPROTO_TCP,
    # and without it every keep-alive response waits ~40 ms (Nagle + the client's delayed ACK)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                         "pick another --port, or stop the process using it") from exc
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:  # absent, or a build that does not load here: use the pure-Python one
        return False
    return True


def http_stack() -> tuple[str, str]:
    """(HTTP parser, event loop) for uvicorn: the C ones (httptools, uvloop; the serve extra installs
    them) when they import, else the pure-Python h11 and asyncio ones, which cost more CPU per request."""
    return ("httptools" if _importable("httptools") else "h11",
            "uvloop" if sys.platform != "win32" and _importable("uvloop") else "asyncio")


def _url(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


@dataclass
class RunningServer:
    """A server started by ``start_in_thread``; ``stop()`` shuts it down."""

    url: str
    pool: ModelPool
    server: Any  # uvicorn.Server
    thread: threading.Thread

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)
        self.pool.stop()


def _prepare(dest: str | os.PathLike[str], host: str, port: int, max_queue: int, log: Callable[[str], None],
             poll: float | None, threads: int | None, executor: Any = None, stack: tuple[str, str] | None = None):
    import uvicorn

    from .app import build_app

    dest_path = Path(dest).expanduser().resolve()
    try:  # serve may start before the first pull (systemd): wait for `current` to appear
        dest_path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise NotFoundError(f"cannot use deploy dir {dest_path}: {exc.strerror or exc}",
                            "give a --dest that exists or can be created") from exc
    if max_queue < 0:
        raise UsageError("--max-queue must be 0 or more", "e.g. --max-queue 64")
    if threads:
        import torch

        torch.set_num_threads(threads)
    sock = _bind(host, port)
    url = _url(sock, host)
    pool = ModelPool(dest_path, log=log, url=url, **({"poll": poll} if poll else {}))
    app = build_app(pool, max_queue=max_queue, log=log, executor=executor)
    http, loop = stack or http_stack()
    # proxy_headers off: nothing here reads the client address, and it is one more wrapper per request
    config = uvicorn.Config(app, http=http, loop=loop, log_level="warning", access_log=False, lifespan="off",
                            proxy_headers=False, timeout_graceful_shutdown=30)
    return uvicorn.Server(config), sock, pool, url


class MainThreadExecutor:
    """``submit`` from any thread; the calls run one at a time in whichever thread calls ``run_until``."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()

    def submit(self, fn: Callable[[], Any]) -> concurrent.futures.Future:
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._jobs.put((fn, future))
        return future

    def run_until(self, finished: Callable[[], bool]) -> None:
        while not finished():
            try:
                fn, future = self._jobs.get(timeout=0.2)
            except queue.Empty:
                continue
            if not future.set_running_or_notify_cancel():
                continue  # the client went away before it started
            try:
                future.set_result(fn())
            except Exception as exc:  # noqa: BLE001 - handed to the request that asked
                future.set_exception(exc)


def run(dest: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 8000, max_queue: int = 64,
        threads: int | None = None, log: Callable[[str], None] = stderr_log,
        announce: Callable[[str], None] = print) -> None:
    """Serve until SIGTERM or Ctrl-C (in-flight requests finish first; a second Ctrl-C forces)."""
    executor = MainThreadExecutor()
    server, sock, pool, url = _prepare(dest, host, port, max_queue, log, None, threads, executor)
    announce(f"hubmgr serve: {url}/v1 (OpenAI-compatible; {url}/health, {url}/ready) serving "
             f"{pool.dest / 'current'}")
    log(f"uvicorn with {server.config.http} and {server.config.loop}")
    pool.start()
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="hubmgr-serve-http", daemon=True)

    def on_signal(signum: int, frame: Any) -> None:
        if server.should_exit:
            server.force_exit = True
            return
        log(f"{signal.Signals(signum).name}: finishing in-flight requests, then stopping")
        server.should_exit = True

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    thread.start()
    try:
        executor.run_until(lambda: not thread.is_alive())
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        server.should_exit = True
        thread.join(timeout=60)
        pool.stop()
        sock.close()
        log("stopped")


def start_in_thread(dest: str | os.PathLike[str], *, host: str = "127.0.0.1", port: int = 0, max_queue: int = 64,
                    log: Callable[[str], None] = lambda line: None, poll: float | None = None,
                    ready_timeout: float | None = 120.0, stack: tuple[str, str] | None = None) -> RunningServer:
    """Start a server on a background thread (uvicorn skips signal handling off the main thread).

    ``stack``: (http, loop) for uvicorn, e.g. ``("h11", "asyncio")``; default ``http_stack()``."""
    server, sock, pool, url = _prepare(dest, host, port, max_queue, log, poll, None, stack=stack)
    pool.start()
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="hubmgr-serve", daemon=True)
    thread.start()
    running = RunningServer(url, pool, server, thread)
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    if ready_timeout is not None and not pool.wait_ready(ready_timeout):
        running.stop()
        raise NotFoundError(f"no release became ready in {dest} within {ready_timeout:.0f}s",
                            "check `hubmgr status --dest DEST`")
    return running
