"""Sync state of a checkpoint, from the catalog's records: the one vocabulary of `hubmgr ls` and the TUI.

- ``local only``: no push or conversion recorded.
- ``converted``: a safetensors copy exists and neither was pushed.
- ``pushed @sha``: the last push of it (or of its converted copy) holds what is on disk.
- ``modified @sha``: a file its last push recorded has other content on disk now, told by sha256
  (the catalog's hash cache makes an unchanged file cost one stat). A file added since does not
  count until it is pushed: a README written by ``card`` after the push is not a change of the model.
- ``pulled @sha``: a release dir a pull wrote (``DEST/releases/<sha>``).

Pushed and pulled states also carry a signature word (``signed``, ``unverified``, ``unsigned``,
``INVALID``): whether the push signed it, whether the pull checked a publisher's signature.

There is no "behind": to git users that means the remote has commits the local copy lacks, which
the catalog cannot know without asking the remote.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .formats.hashing import sha256_cached
from .models import (SYNC_CONVERTED, SYNC_LOCAL, SYNC_MODIFIED, SYNC_PULLED, SYNC_PUSHED, CheckpointInfo,
                     SyncState)

if TYPE_CHECKING:
    from .catalog import Catalog, PushRecord


def sync_states(catalog: "Catalog") -> Callable[[CheckpointInfo | str], SyncState]:
    """Read the catalog's pushes, conversions and pulls once; the returned function decides per checkpoint
    (given its ``CheckpointInfo`` or its path)."""
    pushes: dict[str, list["PushRecord"]] = {}
    for p in catalog.list_pushes():
        pushes.setdefault(p.checkpoint_path, []).append(p)
    converted_to: dict[str, list[str]] = {}
    for c in catalog.list_conversions():
        converted_to.setdefault(c.source_path, []).append(c.output_path)
    released = {str(Path(p.dest) / "releases" / p.commit_sha): p for p in catalog.list_pulls()}

    def state(info: CheckpointInfo | str) -> SyncState:
        path = info if isinstance(info, str) else info.path  # a path is enough: ls decides before parsing
        pulled = released.get(path)
        if pulled is not None:
            from .deploy import signature_badge

            return SyncState(SYNC_PULLED, pulled.remote, pulled.commit_sha, signature_badge(Path(path)))
        own = pushes.get(path, [])
        via_copies = [p for out in converted_to.get(path, []) for p in pushes.get(out, [])]
        if own or via_copies:
            last = max((*own, *via_copies), key=lambda p: p.created_at)
            # Only its own push can be compared file by file; a converted copy holds other files.
            modified = last in own and changed_since_push(path, last, catalog)
            signed = "signed" if (last.details or {}).get("signed_by") else "unsigned"
            return SyncState(SYNC_MODIFIED if modified else SYNC_PUSHED, last.remote, last.commit_sha, signed)
        return SyncState(SYNC_CONVERTED if path in converted_to else SYNC_LOCAL)

    return state


def changed_since_push(path: str, push: "PushRecord", catalog: "Catalog | None") -> bool:
    """True when a file the push recorded (and still on disk) has other content now."""
    recorded = (push.details or {}).get("files")
    if not isinstance(recorded, list):
        return False  # a push recorded before file lists were kept: nothing to compare
    base = Path(path)
    for f in recorded:
        if not isinstance(f, dict) or not f.get("sha256") or not f.get("path"):
            continue
        file = base / f["path"] if base.is_dir() else base
        try:
            if not file.is_file() or (file == base and f["path"] != base.name):
                continue  # left out of this folder (e.g. a --convert push sent a converted copy)
            if sha256_cached(file, catalog) != f["sha256"]:
                return True
        except OSError:
            continue
    return False
