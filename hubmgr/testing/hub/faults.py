"""Fault injection for the Hub test server: the one place where it misbehaves on purpose.

Extension point. A fault *kind* is a key of ``KINDS`` naming the phase where it acts:

- ``"request"``: before auth and routing, in ``FaultInjector.before_request`` (``slow`` sleeps,
  ``status`` answers an HTTP error, ``reset`` closes the connection without an answer, ``flaky``
  does one of the last two to a seeded random share of the matching requests);
- ``"body"``: while a file download streams, in ``stream_with_fault`` (``drop`` cuts the
  connection after ``after_bytes``, ``corrupt`` flips bytes);
- listings: ``add_tree_entry`` makes tree listings and downloads show a file no commit holds
  (``../evil``, ``/abs/path``);
- hostile repos: ``report_commit`` makes the server name a fake commit id (``../../escape``, an
  absolute path) everywhere it reports one, and still serve the real commit under that name;
  ``lie_about_file`` makes listings and ETags claim another sha256 and/or size for a file.

A new mode adds its kind to ``KINDS`` (plus a helper like ``fail``/``drop``) and its behaviour
in the hook of its phase; the request handler calls only these hooks.
"""

from __future__ import annotations

import contextlib
import random
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from hubmgr.testing.hub.protocol import CHUNK, HubHTTPError

KINDS = {"slow": "request", "status": "request", "reset": "request", "flaky": "request", "drop": "body",
         "corrupt": "body"}


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
    rate: float = 1.0  # flaky: share of matching requests that fail
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


@dataclass
class HostileRepo:
    """What a hostile server says about ``repo_id``: a fake commit id and false file claims."""

    repo_id: str
    commit: str | None = None
    claims: dict[str, dict[str, Any]] = field(default_factory=dict)  # path -> {"sha256": ..., "size": ...}


class FaultInjector:
    """``server.faults``: add faults; each matching request consumes one use."""

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)  # flaky decisions: the same seed fails the same requests
        self._lock = threading.Lock()
        self.faults: list[Fault] = []
        self.extra_entries: list[ExtraTreeEntry] = []
        self.hostile: dict[str, HostileRepo] = {}

    def add(self, kind: str, path: str, *, method: str | None = None, times: int | None = 1, status: int = 500,
            after_bytes: int = 0, delay: float = 0.0, retry_after: int | None = None) -> Fault:
        if kind not in KINDS:
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

    def reset(self, path: str, *, times: int | None = 1, method: str | None = None) -> Fault:
        """Close the connection without answering (the client sees a dropped connection)."""
        return self.add("reset", path, times=times, method=method)

    def flaky(self, path: str = r".*", *, rate: float = 0.3, seed: int | None = None, status: int = 500,
              method: str | None = None, times: int | None = None) -> Fault:
        """Fail a random ``rate`` of matching requests (half HTTP ``status``, half dropped connections)."""
        fault = self.add("flaky", path, status=status, times=times, method=method)
        fault.rate = rate
        if seed is not None:
            self._rng.seed(seed)
        return fault

    def corrupt(self, path: str, *, times: int | None = 1, method: str | None = "GET") -> Fault:
        return self.add("corrupt", path, times=times, method=method)

    def add_tree_entry(self, repo_id: str, path: str, content: bytes = b"evil\n") -> None:
        with self._lock:
            self.extra_entries.append(ExtraTreeEntry(repo_id, path, content))

    def report_commit(self, repo_id: str, fake: str) -> None:
        """Report ``fake`` as the commit id of every revision of ``repo_id`` (and serve the real one under it)."""
        with self._lock:
            self.hostile.setdefault(repo_id, HostileRepo(repo_id)).commit = fake

    def lie_about_file(self, repo_id: str, path: str, *, sha256: str | None = None, size: int | None = None) -> None:
        """Listings and download headers claim this sha256 / size for ``path`` (the bytes served are the real ones)."""
        claim = {k: v for k, v in (("sha256", sha256), ("size", size)) if v is not None}
        with self._lock:
            self.hostile.setdefault(repo_id, HostileRepo(repo_id)).claims[path] = claim

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.extra_entries.clear()
            self.hostile.clear()

    # --- hooks the request handler calls (the only places a fault acts) -------------------------
    def before_request(self, method: str, path: str) -> None:
        """Request-phase kinds, before auth and routing: ``slow`` sleeps, ``status`` answers an error."""
        fault = self.take(("slow",), method, path)
        if fault:
            time.sleep(fault.delay)
        fault = self.take(("status", "reset", "flaky"), method, path)
        if fault is None:
            return
        kind = fault.kind
        if kind == "flaky":
            with self._lock:
                fails, drop = self._rng.random() < fault.rate, self._rng.random() < 0.5
            if not fails:
                return
            kind = "reset" if drop else "status"
        if kind == "reset":
            raise ConnectionAbortedError("injected dropped connection")  # the handler closes it unanswered
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
        raise HubHTTPError(fault.status, f"injected failure ({fault.status})", None, headers)

    def body_fault(self, method: str, path: str) -> Fault | None:
        """The body-phase fault (``drop``/``corrupt``) for this download, if any; counts one use."""
        return self.take(tuple(k for k, phase in KINDS.items() if phase == "body"), method, path)

    def shown_commit(self, repo_id: str, real: str) -> str:
        """The commit id the server reports for ``real`` (a hostile repo's fake one)."""
        hostile = self.hostile.get(repo_id)
        return hostile.commit if hostile is not None and hostile.commit else real

    def real_revision(self, repo_id: str, rev: str | None) -> str | None:
        """A request naming the fake commit id gets the real head: the lie is served consistently."""
        hostile = self.hostile.get(repo_id)
        return "main" if hostile is not None and hostile.commit and rev == hostile.commit else rev

    def claimed(self, repo_id: str, path: str, sha256: str, size: int) -> tuple[str, int]:
        """(sha256, size) the server claims for ``path``."""
        hostile = self.hostile.get(repo_id)
        claim = hostile.claims.get(path, {}) if hostile is not None else {}
        return claim.get("sha256", sha256), claim.get("size", size)

    def extra_entries_for(self, repo_id: str) -> list[ExtraTreeEntry]:
        with self._lock:
            return [x for x in self.extra_entries if x.repo_id == repo_id]

    def extra_entry(self, repo_id: str, path: str) -> ExtraTreeEntry | None:
        return next((x for x in self.extra_entries_for(repo_id) if x.path == path), None)

    def take(self, kinds: tuple[str, ...], method: str, path: str) -> Fault | None:
        """The first active fault of one of ``kinds`` matching the request; counts one use."""
        with self._lock:
            for fault in self.faults:
                if fault.kind in kinds and fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None



def stream_with_fault(fault: Fault, handler: Any, fh: BinaryIO, start: int, length: int) -> int:
    """Send ``length`` bytes of ``fh`` from ``start`` to ``handler``'s client, misbehaving as ``fault`` says.

    Returns the bytes sent."""
    sent = 0
    fh.seek(start)
    while sent < length:
        chunk = fh.read(min(CHUNK, length - sent))
        if not chunk:
            break
        if fault.kind == "drop" and sent + len(chunk) > fault.after_bytes:
            handler.wfile.write(chunk[:max(0, fault.after_bytes - sent)])
            handler.wfile.flush()
            handler.close_connection = True
            with contextlib.suppress(OSError):
                handler.connection.shutdown(socket.SHUT_RDWR)
            return sent + max(0, fault.after_bytes - sent)
        if fault.kind == "corrupt":
            chunk = bytes(b ^ 0x5A for b in chunk)
        handler.wfile.write(chunk)
        sent += len(chunk)
    return sent
