"""Frozen dataclasses of a deploy dir: release lock files, releases, pull/rollback results, status.

Split from models.py (same conventions: ``*Info`` facts, ``*Result`` outcomes with ``to_dict()``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .models import JsonMixin


@dataclass(frozen=True)
class LockedFile(JsonMixin):
    """One file of a release as recorded in ``hubmgr.lock.json``."""

    path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class ReleaseLock(JsonMixin):
    """Content of ``DIR/releases/<sha>/hubmgr.lock.json``."""

    remote: str  # remote name (spec without @rev): local:demo, hub:alice/m, file:///x.git
    repo: str  # repo id / URL / registry name
    revision: str | None  # what was asked (branch, tag, sha) or None for the default branch
    commit: str  # full sha
    pulled_at: str  # ISO 8601 UTC
    files: tuple[LockedFile, ...]
    # Set when the pull checked a publisher signature: {"signer": fingerprint, "public_key": path, "files": n}
    signature: dict | None = None


@dataclass(frozen=True)
class ReleaseInfo(JsonMixin):
    sha: str
    path: str
    live: bool
    revision: str | None
    remote: str | None
    pulled_at: str | None
    files: int
    size_bytes: int
    complete: bool = True  # every file of the lock file present with its size


@dataclass(frozen=True)
class PullResult(JsonMixin):
    dest: str | None  # deploy dir (None with --cache)
    remote: str
    revision: str | None  # as asked
    commit_sha: str
    release: str | None  # DIR/releases/<sha>
    current: str | None  # DIR/current
    previous_sha: str | None  # what was live before (None: first pull)
    files: int
    bytes_total: int
    bytes_downloaded: int  # 0 when the release was already there
    reused: bool  # the release was already downloaded and verified
    bytes_shared: int = 0  # files hard-linked (or copied) from kept releases instead of downloaded
    pruned: tuple[str, ...] = ()  # shas of releases deleted by --keep
    cache_dir: str | None = None  # --cache: the HF cache snapshot filled
    pointer: str | None = None  # the pointer file pulled, if any
    signer: str | None = None  # fingerprint of the trusted key that signed the release (--require-signature)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RollbackResult(JsonMixin):
    dest: str
    from_sha: str | None
    to_sha: str
    release: str
    verified: bool = False  # sha256 of every file checked (--verify); presence + size always
    skipped: tuple[str, ...] = ()  # newer releases passed over as incomplete ("sha (why)")


@dataclass(frozen=True)
class ServerState(JsonMixin):
    """What ``hubmgr serve`` (and ``pull --follow``) last wrote into a deploy dir (serve/state.py)."""

    running: bool  # the process said it runs and is still alive
    url: str | None
    serving_sha: str | None  # the release it answers with (may lag DEST/current while loading)
    failed_sha: str | None = None  # the last release it refused to switch to
    failed_error: str | None = None
    follow_error: str | None = None  # the last thing ``pull --follow`` rolled back or refused, and why


@dataclass(frozen=True)
class DeployStatus(JsonMixin):
    dest: str
    live_sha: str | None
    remote: str | None
    revision: str | None
    pulled_at: str | None
    releases: tuple[ReleaseInfo, ...]
    remote_sha: str | None = None  # where the revision points now (check_remote)
    remote_moved: bool | None = None  # None: not checked or unreachable
    remote_error: str | None = None
    verified: bool | None = None  # None: --verify not asked
    problems: tuple[str, ...] = ()  # what is wrong with the live release (missing/size; sha256 with --verify)
    complete: bool | None = None  # live release has every file at its size (None: nothing live)
    # the live release's signature: {"status": valid|signed|unsigned|invalid, "signer": fingerprint, ...}
    signature: dict | None = None
    server: ServerState | None = None  # hubmgr serve / pull --follow on this dest, if any ran
