"""Fingerprints that let a rescan skip checkpoints whose files did not change (issue 16).

A fingerprint is made from ``stat()`` alone: the names, sizes, mtimes and inodes of what a
checkpoint's inspection reads, plus a digest of hubmgr's own inspection code. An unchanged
fingerprint means the stored result is still what inspecting again would give, so a warm rescan
reads no file contents. The code digest matters: a verdict graded by an older, weaker pickle
scanner must never survive an upgrade just because the file did not change.
"""

from __future__ import annotations

import functools
import hashlib
import os
from pathlib import Path

# models.py too: it defines the stored shape, which `ls --json` streams as stored (stored.py)
_INSPECTION_CODE = ("checkpoints.py", "models.py", "formats")


@functools.cache
def inspection_code_digest() -> str:
    """sha1 of the source of every module inspection runs or whose shape it stores (see above)."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha1()
    for name in _INSPECTION_CODE:
        path = here / name
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for file in files:
            try:
                h.update(file.name.encode() + b"\0" + file.read_bytes())
            except OSError:
                h.update(file.name.encode() + b"\0missing")
    return h.hexdigest()


def fingerprint(path: str | os.PathLike[str], *, is_dir: bool, hash_files: bool = True) -> str | None:
    """What inspecting ``path`` depends on, or None when it cannot be told (then inspect again).

    A dir: its own files (subdirs are checkpoints of their own) and its own mtime (a file added or
    removed); for a Trainer ``checkpoint-N`` also the run's ``*_results.json`` and
    ``trainer_state.json``, which can describe it.
    """
    h = hashlib.sha1(f"{inspection_code_digest()} hashed={hash_files}\n".encode())
    try:
        h.update(_stat_line(os.stat(path)))
        if is_dir:
            entries = list(os.scandir(path))
            if os.path.basename(path).startswith("checkpoint-"):
                entries += [e for e in os.scandir(os.path.dirname(path))
                            if e.name.endswith("_results.json") or e.name == "trainer_state.json"]
            for entry in sorted(entries, key=lambda e: e.path):
                if entry.is_file(follow_symlinks=False) or entry.is_symlink():
                    h.update(entry.path.encode(errors="surrogateescape") + b"\0")
                    h.update(_stat_line(entry.stat(follow_symlinks=False)))
                    if entry.is_symlink():  # the target's own state: a link can keep pointing at new bytes
                        h.update(_stat_line(os.stat(entry.path)))
    except OSError:
        return None
    return h.hexdigest()


def _stat_line(st: os.stat_result) -> bytes:
    # ctime too: it moves on every content change and cannot be set back by utime()
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}\n".encode()
