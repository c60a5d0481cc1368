"""The resident models of a server and the hot swap.

A watcher thread polls ``DEST/current`` (one readlink, cheap). When its target changes it
loads the new release in the background while requests keep using the live one, then
swaps between requests: a request leases the live model when it is admitted and keeps that
model until it finishes, so in-flight requests end on the old release, which is freed when
its last lease is returned. A new load waits until no retired model is still draining, so
at most two models are ever resident. A release that fails to load is never switched to;
the failure is logged and written to ``DEST/.hubmgr-serve.json`` for ``hubmgr status``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

from .. import deploy
from ..errors import HubmgrError
from . import state
from .generation import LoadedModel, load_release

POLL_SECONDS = 0.25


class ModelPool:
    def __init__(self, dest: str | os.PathLike[str], *, poll: float = POLL_SECONDS,
                 log: Callable[[str], None] = print, url: str | None = None) -> None:
        self.dest = Path(dest).resolve()
        self.poll = poll
        self.log = log
        self.url = url
        self._lock = threading.Condition()
        self._live: LoadedModel | None = None
        self._resident: list[LoadedModel] = []
        self._seen: str | None = None  # last link target acted on
        self._failed: dict[str, str] = {}  # sha -> why it did not load
        self._last_error: dict | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.since: str | None = None

    # --- leases --------------------------------------------------------------------

    @property
    def live(self) -> LoadedModel | None:
        return self._live

    @property
    def resident(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(m.sha for m in self._resident)

    def acquire(self) -> LoadedModel | None:
        """Lease the live model (None when nothing is loaded); give it back with ``release``."""
        with self._lock:
            lm = self._live
            if lm is not None:
                lm.refs += 1
            return lm

    def release(self, lm: LoadedModel) -> None:
        with self._lock:
            lm.refs -= 1
            if lm.retired and lm.refs == 0:
                self._drop(lm)

    @contextlib.contextmanager
    def lease(self) -> Iterator[LoadedModel | None]:
        lm = self.acquire()
        try:
            yield lm
        finally:
            if lm is not None:
                self.release(lm)

    def _drop(self, lm: LoadedModel) -> None:  # caller holds the lock
        if lm in self._resident:
            self._resident.remove(lm)
        lm.model = lm.tokenizer = None  # the memory goes with the last reference
        self._lock.notify_all()

    # --- watching --------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._watch, name="hubmgr-serve-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self.write_state(running=False)

    def _watch(self) -> None:
        self.write_state(running=True)
        while not self._stop.is_set():
            try:
                self.check()
            except Exception as exc:  # noqa: BLE001 - the watcher must outlive any one bad release
                self.log(f"watch: unexpected error {type(exc).__name__}: {exc}")
            self._stop.wait(self.poll)

    def _target(self) -> str | None:
        try:
            return os.readlink(self.dest / deploy.CURRENT)
        except OSError:
            return None

    def check(self) -> None:
        """Act on a change of ``current``: load the new release and swap, or record why not."""
        target = self._target()
        if target is None and self._seen is None:
            self._seen = ""  # say it once
            self.log(f"nothing live in {self.dest} yet; waiting for `hubmgr pull ... --dest {self.dest}`")
        if target is None or target == self._seen:
            return
        self._seen = target
        sha = Path(target).name
        live = self._live
        if live is not None and live.sha == sha:
            return
        if sha in self._failed:
            self.log(f"release {sha[:12]} failed to load before ({self._failed[sha]}); still serving "
                     f"{live.sha[:12] if live else 'nothing'}")
            return
        self._wait_drained()
        if self._stop.is_set():
            return
        self.log(f"loading release {sha[:12]}")
        t0 = time.monotonic()
        # Loading is mostly Python holding the GIL; generation drops and retakes it around every torch op,
        # waiting up to the switch interval each time (convoy effect). A short interval while loading keeps
        # requests moving during a swap.
        interval = sys.getswitchinterval()
        sys.setswitchinterval(min(interval, 0.0005))
        try:
            lm = load_release(self.dest / deploy.RELEASES / sha)
        except HubmgrError as exc:
            self._failed[sha] = exc.message
            self._last_error = {"sha": sha, "error": exc.message, "at": state.now_iso()}
            self.log(f"release {sha[:12]} failed to load: {exc.message}; still serving "
                     f"{live.sha[:12] if live else 'nothing'}")
            self.write_state(running=True)
            return
        finally:
            sys.setswitchinterval(interval)
        if self._target() != target:  # moved again while loading: do not serve a release that is no longer live
            self.log(f"release {sha[:12]} loaded but current moved on; not switching to it")
            self._seen = None
            return
        self.since = state.now_iso()
        self._last_error = None
        self.write_state(running=True, live=lm)  # before it answers: /ready never runs ahead of status
        with self._lock:
            old = self._live
            self._resident.append(lm)
            self._live = lm
            if old is not None:
                old.retired = True
                if old.refs == 0:
                    self._drop(old)
        self.log(f"live: release {sha[:12]} ({lm.model_id}), loaded in {time.monotonic() - t0:.1f}s"
                 + (f", was {old.sha[:12]}" if old else ""))

    def _wait_drained(self) -> None:
        """At most two resident: wait until retired models have finished their requests."""
        with self._lock:
            while not self._stop.is_set() and any(m is not self._live for m in self._resident):
                self._lock.wait(0.5)

    def wait_ready(self, timeout: float) -> bool:
        end = time.monotonic() + timeout
        while self._live is None and time.monotonic() < end:
            time.sleep(0.05)
        return self._live is not None

    def write_state(self, *, running: bool, live: LoadedModel | None = None) -> None:
        live = live or self._live
        state.write_state(self.dest, state.SERVE_STATE, {
            "pid": os.getpid(), "url": self.url, "running": running,
            "serving": live.sha if live else None, "model": live.model_id if live else None, "since": self.since,
            "last_error": self._last_error,
        })
