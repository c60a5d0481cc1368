"""``hubmgr pull --follow SPEC --dest DEST``: keep a deploy dir on what a branch or tag points at.

Each check: resolve the ref once; if it moved, pull that exact commit without switching
(verified as always), smoke-test it in a subprocess (load + generate), switch ``current``,
then with a health URL wait for the server's ``/ready`` to report the new sha, else roll back.
A release that fails is deleted (lock file first) and remembered in ``DEST/.hubmgr-follow.json``
so it is not tried again until the ref moves; ``current`` never stays on it. Failures back off
exponentially; every interval has jitter so many hosts following one ref do not pull in step.
Hosts need no coordination: each converges on the sha the remote names.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .. import deploy
from ..errors import CancelledError, HubmgrError, UsageError
from ..models import JsonMixin
from ..progress import CancelToken, check_cancel
from . import state

SMOKE_TIMEOUT = 600.0
MAX_BACKOFF = 3600.0


@dataclass(frozen=True)
class FollowEvent(JsonMixin):
    at: str
    kind: str  # up-to-date | pulled | smoke-passed | smoke-failed | live | ready | rolled-back | skipped | error
    sha: str | None
    message: str

    @property
    def line(self) -> str:
        return f"{self.at} {self.kind}" + (f" {self.sha[:12]}" if self.sha else "") + f": {self.message}"


@dataclass(frozen=True)
class FollowResult(JsonMixin):
    spec: str
    dest: str
    live_sha: str | None
    ok: bool  # the last check ended with the ref's commit live (or nothing to do)
    events: tuple[FollowEvent, ...]


@dataclass(frozen=True)
class FollowOptions:
    interval: float = 60.0
    smoke_test: str | None = "1"  # None: no smoke test
    health_url: str | None = None
    ready_timeout: float = 60.0
    keep: int = 3
    jitter: float = 0.1
    pull_options: tuple[tuple[str, object], ...] = ()  # passed on to sync.pull (include, exclude, token, ...)


class _Follower:
    def __init__(self, spec: str, dest: Path, opts: FollowOptions, emit: Callable[[FollowEvent], None],
                 catalog) -> None:  # noqa: ANN001
        self.spec, self.dest, self.opts, self.emit_cb, self.catalog = spec, dest, opts, emit, catalog
        doc = state.read_state(dest, state.FOLLOW_STATE) or {}
        self.bad: dict[str, str] = dict(doc.get("bad") or {})
        self.last_error: dict | None = doc.get("last_error")
        self.events: list[FollowEvent] = []
        self.failed = False  # this round failed (backoff)
        self._last_kind: tuple[str, str | None] | None = None

    def emit(self, kind: str, sha: str | None, message: str, *, quiet_repeat: bool = False) -> None:
        if quiet_repeat and self._last_kind == (kind, sha):
            return  # "up to date" every minute is noise; say it once
        self._last_kind = (kind, sha)
        event = FollowEvent(state.now_iso(), kind, sha, message)
        self.events.append(event)
        self.emit_cb(event)

    def save(self) -> None:
        state.write_state(self.dest, state.FOLLOW_STATE, {
            "spec": self.spec, "pid": os.getpid(), "live": deploy.live_sha(self.dest), "bad": self.bad,
            "last_error": self.last_error})

    def fail(self, sha: str, kind: str, why: str) -> bool:
        self.failed = True
        self.bad[sha] = why
        self.last_error = {"sha": sha, "error": why, "at": state.now_iso()}
        self.emit(kind, sha, why)
        self.save()
        return False

    def check(self, cancel: CancelToken | None) -> bool:
        """One round; True when the ref's commit is live (or already was)."""
        from ..remotes import open_remote, parse_target
        from ..sync import pull

        target = parse_target(self.spec)
        token = dict(self.opts.pull_options).get("token")
        sha = open_remote(target, token=token).resolve_revision(target.revision)
        live = deploy.live_sha(self.dest)
        if sha == live:
            self.emit("up-to-date", sha, f"{target.display} is live", quiet_repeat=True)
            return True
        if sha in self.bad:
            self.emit("skipped", sha, f"failed before ({self.bad[sha]}); waiting for {target.display} to move",
                      quiet_repeat=True)
            return False
        result = pull(self.spec, dest=self.dest, keep=self.opts.keep, commit=sha, activate=False,
                      catalog=self.catalog, cancel=cancel, **dict(self.opts.pull_options))
        self.emit("pulled", sha, f"{target.display}: {result.files} files, {result.bytes_downloaded} bytes downloaded"
                  + (" (already here)" if result.reused else ""))
        check_cancel(cancel)
        if self.opts.smoke_test is not None:
            ok, output = smoke_test(deploy.release_dir(self.dest, sha), self.opts.smoke_test)
            if not ok:
                self._discard(sha)
                return self.fail(sha, "smoke-failed", f"smoke test failed: {output}; not made live")
            self.emit("smoke-passed", sha, output)
        with deploy.locked(self.dest):
            previous = deploy.switch_current(self.dest, sha)
        self.emit("live", sha, f"current -> {sha} (was {previous[:12] if previous else 'nothing'})")
        if self.opts.health_url:
            seen = wait_ready(self.opts.health_url, sha, self.opts.ready_timeout, cancel)
            if seen != sha:
                why = (f"{self.opts.health_url} did not report {sha[:12]} within {self.opts.ready_timeout:g}s "
                       f"(last: {seen})")
                if previous is None:
                    return self.fail(sha, "error", why + "; nothing to roll back to")
                with deploy.locked(self.dest):
                    deploy.switch_current(self.dest, previous)
                self._discard(sha)
                return self.fail(sha, "rolled-back", f"{why}; rolled back to {previous[:12]}")
            self.emit("ready", sha, f"{self.opts.health_url} reports {sha[:12]}")
        with deploy.locked(self.dest):  # only now: the rollback target must survive until the new one is healthy
            deploy.prune(self.dest, self.opts.keep)
        self.save()
        return True

    def _discard(self, sha: str) -> None:
        """Delete a failed release that is not live, lock file first (never looks complete half deleted),
        so ``hubmgr rollback`` cannot pick it."""
        with deploy.locked(self.dest):
            if deploy.live_sha(self.dest) == sha:
                return
            rel = deploy.release_dir(self.dest, sha)
            (rel / deploy.LOCK_NAME).unlink(missing_ok=True)
            shutil.rmtree(rel, ignore_errors=True)


def smoke_test(release: Path, prompt: str, *, timeout: float = SMOKE_TIMEOUT) -> tuple[bool, str]:
    """Load + generate in a fresh interpreter; (passed, its last line of output or why it failed)."""
    try:
        proc = subprocess.run([sys.executable, "-m", "hubmgr.serve.smoke", str(release), prompt],
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"no answer within {timeout:g}s"
    lines = (proc.stdout.strip() or proc.stderr.strip() or f"exit code {proc.returncode}").splitlines()
    return proc.returncode == 0, lines[-1][:500]


def ready_url(url: str) -> str:
    """``http://host:8000`` -> ``http://host:8000/ready``; a URL with a path is used as given."""
    from urllib.parse import urlsplit

    return url.rstrip("/") + "/ready" if urlsplit(url).path in ("", "/") else url


def wait_ready(url: str, sha: str, timeout: float, cancel: CancelToken | None = None) -> str | None:
    """Poll ``url`` until its JSON names ``sha`` as its release; returns the last release seen (or error)."""
    url = ready_url(url)
    deadline = time.monotonic() + timeout
    seen: str | None = None
    while True:
        check_cancel(cancel)
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                seen = json.loads(resp.read()).get("release")
        except urllib.error.HTTPError as exc:
            seen = f"HTTP {exc.code}"
        except (OSError, ValueError) as exc:
            seen = f"unreachable ({getattr(exc, 'reason', exc)})"
        if seen == sha or time.monotonic() >= deadline:
            return seen
        time.sleep(0.25)


def next_wait(interval: float, failures: int, jitter: float, rng: random.Random | None = None) -> float:
    """Seconds to the next check: the interval, doubled per failure in a row (capped), +-jitter."""
    wait = min(interval * 2 ** min(failures, 12), max(MAX_BACKOFF, interval))
    return wait * (rng or random).uniform(1 - jitter, 1 + jitter)


def follow(spec: str, *, dest: str | os.PathLike[str], options: FollowOptions = FollowOptions(), once: bool = False,
           on_event: Callable[[FollowEvent], None] = lambda e: None, catalog=None,  # noqa: ANN001
           cancel: CancelToken | None = None, sleep: Callable[[float], None] = time.sleep) -> FollowResult:
    """Follow ``spec``'s ref into ``dest`` until cancelled (``once``: one check, for cron)."""
    if options.interval <= 0 or options.ready_timeout <= 0:
        raise UsageError("--interval and --ready-timeout must be positive", "e.g. --interval 60")
    if options.smoke_test == "":
        raise UsageError("--smoke-test needs a prompt", "or pass --no-smoke-test")
    dest_path = Path(dest).expanduser().resolve()
    dest_path.mkdir(parents=True, exist_ok=True)
    follower = _Follower(spec, dest_path, options, on_event, catalog)
    failures = 0
    while True:
        try:
            ok = follower.check(cancel)
        except CancelledError:
            raise
        except HubmgrError as exc:  # remote down, disk full, ...: say it, back off, try again
            follower.emit("error", None, exc.message + (f" ({exc.hint})" if exc.hint else ""))
            ok, follower.failed = False, True
        if once:
            return FollowResult(spec, str(dest_path), deploy.live_sha(dest_path), ok, tuple(follower.events))
        failures = failures + 1 if follower.failed else 0  # waiting on a known-bad sha is not a new failure
        follower.failed = False
        end = time.monotonic() + next_wait(options.interval, failures, options.jitter)
        while time.monotonic() < end:
            check_cancel(cancel)
            sleep(min(1.0, max(0.0, end - time.monotonic())))
