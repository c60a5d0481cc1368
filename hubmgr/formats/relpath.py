"""The one guard for relative paths a remote or a folder hands us (pull, download, upload).

A remote must never make hubmgr write outside the directory a path is joined to, nor into its
``.git``: absolute paths, ``..``/``.``/empty parts, backslashes, NUL and drive letters are refused.
"""

from __future__ import annotations

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
