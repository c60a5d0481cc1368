"""The one guard for names a remote or a folder hands us (pull, download, upload): relative paths
and commit ids.

A remote must never make hubmgr write outside the directory a path is joined to, nor into its
``.git``: absolute paths, ``..``/``.``/empty parts, backslashes, NUL and drive letters are refused.
A commit id is data, not a path: it names release dirs, staging dirs and HF cache snapshots only
after ``check_commit_id`` (40 hex digits for SHA-1 git and the Hub, 64 for SHA-256 git).
"""

from __future__ import annotations

import os
import re

from ..errors import UnsafeContentError

_DRIVE = re.compile(r"^[A-Za-z]:")


def unsafe_reason(path: str) -> str | None:
    """Why ``path`` is not a safe relative path, or None when it is."""
    if not path or "\\" in path or "\0" in path or path.startswith("/") or _DRIVE.match(path):
        return "it escapes the destination"
    parts = path.split("/")
    if any(p in ("..", ".", "") for p in parts):
        return "it escapes the destination"
    if parts[0] == ".git":
        return "it writes into .git"
    return None


def is_safe_relpath(path: str) -> bool:
    return unsafe_reason(path) is None


def check_relpath(path: str, *, hint: str = "the remote repository lists an unsafe file name; do not deploy it"
                  ) -> str:
    """``path`` if it is safe; ``UnsafeContentError`` saying why otherwise."""
    reason = unsafe_reason(path)
    if reason is not None:
        raise UnsafeContentError(f"refusing remote path {path!r}: {reason}", hint)
    return path


COMMIT_ID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def is_commit_id(value: object) -> bool:
    return isinstance(value, str) and COMMIT_ID.fullmatch(value) is not None


def check_commit_id(value: object, *, source: str = "the remote") -> str:
    """``value`` if it is a commit id; ``UnsafeContentError`` otherwise (before it names anything)."""
    if not is_commit_id(value):
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise UnsafeContentError(f"{source} reported {shown} as a commit id (expected 40 or 64 hex digits)",
                                 "the server is broken or hostile; nothing was written")
    return value  # type: ignore[return-value]


def check_inside(root: "os.PathLike[str] | str", path: "os.PathLike[str] | str") -> None:
    """Refuse a final path (symlinks resolved) that is not ``root`` or below it."""
    from pathlib import Path

    real_root, real = Path(root).resolve(), Path(path).resolve()
    if real != real_root and real_root not in real.parents:
        raise UnsafeContentError(f"refusing to write {path}: it resolves outside {root}",
                                 "the server is broken or hostile; nothing else was written")
