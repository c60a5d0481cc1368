"""Releases of one deploy dir share unchanged files: a pull links what a kept release already has.

A file is reused when a kept release holds one with the same content: same sha256 and size
(what the remote reports for LFS files), or, for small git-stored files the remote only
knows by git blob id, the same path and size and the same blob id computed from the kept
copy. Reused files are hard links (one copy on disk however many releases keep them); across
filesystems, or where links are refused, they are copied (still no download). The pull
verifies every file afterwards as if it had been downloaded.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from . import deploy
from .errors import CorruptFileError, NotFoundError
from .formats.hashing import git_blob_sha1

if TYPE_CHECKING:
    from .remotes import RemoteFile

_GIT_BLOB_MAX = 64 * 1024 * 1024  # blob ids are computed in memory: only for the small non-LFS files


def _kept_files(dest: Path) -> tuple[dict[tuple[str, int], Path], dict[tuple[str, int], list[Path]]]:
    """(sha256, size) -> file and (path, size) -> files, over every complete release of ``dest``."""
    by_hash: dict[tuple[str, int], Path] = {}
    by_path: dict[tuple[str, int], list[Path]] = {}
    for rel in deploy.list_release_dirs(dest):
        try:
            lock = deploy.read_lock(rel)
        except (NotFoundError, CorruptFileError):
            continue
        for f in lock.files:
            p = rel / f.path
            try:
                if not p.is_file() or p.is_symlink() or p.stat().st_size != f.size:
                    continue  # damaged since: never spread it
            except OSError:
                continue
            by_hash.setdefault((f.sha256, f.size), p)
            by_path.setdefault((f.path, f.size), []).append(p)
    return by_hash, by_path


def _source_for(f: "RemoteFile", by_hash, by_path) -> Path | None:  # noqa: ANN001
    if f.sha256 is not None:
        return by_hash.get((f.sha256, f.size))
    if f.git_oid is None or f.size > _GIT_BLOB_MAX:
        return None
    for candidate in by_path.get((f.path, f.size), []):
        try:
            if git_blob_sha1(candidate.read_bytes()) == f.git_oid:
                return candidate
        except OSError:
            continue
    return None


def link_or_copy(src: Path, dst: Path) -> bool:
    """Hard link ``src`` at ``dst``; copy when linking is impossible. True if linked."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.unlink(missing_ok=True)
    try:
        os.link(src, dst)
        return True
    except OSError:  # EXDEV (another filesystem), EPERM, EMLINK: a copy still saves the download
        tmp = dst.with_name(f".{dst.name}.copy-{os.getpid()}")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        return False


def reuse_kept_files(dest: Path, staging: Path, files: list["RemoteFile"]) -> tuple[list["RemoteFile"], int]:
    """Put into ``staging`` every file of ``files`` a kept release already has.

    Returns (the files still to download, bytes reused). Files already in staging (a resumed
    pull) are left to the download, which skips complete ones.
    """
    by_hash, by_path = _kept_files(dest)
    if not by_hash:
        return list(files), 0
    to_fetch, reused = [], 0
    for f in files:
        out = staging / f.path
        src = None if out.exists() else _source_for(f, by_hash, by_path)
        if src is None:
            to_fetch.append(f)
            continue
        link_or_copy(src, out)
        reused += f.size
    return to_fetch, reused
