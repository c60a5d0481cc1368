"""Git LFS pointer files: the small text a clone without git-lfs leaves where the weights should be.

One parser for every reader (scan/inspect, the git remote, guard's history walk, deploy's check
that a download is not a pointer).
"""

from __future__ import annotations

import os
from typing import NamedTuple

# The spec's first line is "version https://git-lfs.github.com/spec/v1"; match the stable part.
LFS_POINTER_PREFIX = b"version https://git-lfs.github.com/spec/"
LFS_POINTER_MAX = 1024  # git-lfs never writes a pointer bigger than this


class LfsPointer(NamedTuple):
    oid: str  # sha256 of the content
    size: int


def format_lfs_pointer(oid: str, size: int) -> bytes:
    """The pointer git-lfs's clean filter writes for content with this sha256 and size, byte for byte."""
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


def looks_like_lfs_pointer(head: bytes) -> bool:
    """True when ``head`` (the first bytes of a file) starts like a pointer."""
    return head.startswith(LFS_POINTER_PREFIX)


def parse_lfs_pointer(data: bytes) -> LfsPointer | None:
    """The pointer ``data`` holds, or None if it is not one."""
    if len(data) > LFS_POINTER_MAX or not looks_like_lfs_pointer(data):
        return None
    oid = size = None
    for line in data.decode("utf-8", "replace").splitlines():
        key, _, value = line.partition(" ")
        if key == "oid" and value.startswith("sha256:"):
            oid = value[len("sha256:"):]
        elif key == "size" and value.isdigit():
            size = int(value)
    return LfsPointer(oid, size) if oid and size is not None else None


def read_lfs_pointer(path: str | os.PathLike[str]) -> LfsPointer | None:
    """The pointer if the file at ``path`` is one; None for anything else (or an unreadable file)."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(LFS_POINTER_MAX + 1)
    except OSError:
        return None
    return parse_lfs_pointer(data)
