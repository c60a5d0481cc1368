"""Fault injection for tests and users' CI: size-limited and read-only directories, and crash trials.

``small_disk`` and ``read_only`` mount a tmpfs when the process may (root or CAP_SYS_ADMIN, as in CI
containers) and otherwise fall back to what an ordinary user can do (``chmod``), or yield ``None`` so
the caller can skip. The crash-trial harness (``run_trials``) lives below.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Iterator


def _mount(args: list[str]) -> bool:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        return False
    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@contextlib.contextmanager
def small_disk(path: Path, size_bytes: int) -> Iterator[Path | None]:
    """``path`` as a tmpfs of ``size_bytes``: writes beyond it fail with ENOSPC. ``None`` if not possible."""
    path.mkdir(parents=True, exist_ok=True)
    if not _mount(["-t", "tmpfs", "-o", f"size={size_bytes}", "tmpfs", str(path)]):
        yield None
        return
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """Make the existing directory ``path`` read-only for this process (a read-only tmpfs copy as root)."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555)
        try:
            yield path
        finally:
            path.chmod(mode)
        return
    saved = path.with_name(path.name + ".ro-saved")
    os.rename(path, saved)
    path.mkdir()
    if not _mount(["-t", "tmpfs", "tmpfs", str(path)]):
        path.rmdir()
        os.rename(saved, path)
        raise RuntimeError("cannot mount a tmpfs to make a read-only directory")
    try:
        shutil.copytree(saved, path, symlinks=True, dirs_exist_ok=True)
        subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)
        path.rmdir()
        os.rename(saved, path)


# --- catalog damage ----------------------------------------------------------------------------


def damage_catalog(path: Path, how: str, *, seed: int = 0) -> None:
    """Damage a SQLite catalog the ways disks and people do.

    ``random``: random bytes; ``truncated``: cut in the middle; ``pages``: random bytes over a few
    pages past the header; ``no-table``: a table dropped (schema version unchanged).
    """
    import random
    import sqlite3

    rng = random.Random(seed)
    # fold the WAL in first so the damage is not undone by it
    with contextlib.closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        if how == "no-table":
            conn.execute("DROP TABLE checkpoints")
            conn.commit()
            return
    size = path.stat().st_size
    if how == "random":
        path.write_bytes(rng.randbytes(max(size, 4096)))
    elif how == "truncated":
        with open(path, "r+b") as fh:
            fh.truncate(size // 2)
    elif how == "pages":
        page = 4096
        with open(path, "r+b") as fh:
            for n in rng.sample(range(1, max(2, size // page)), k=min(3, max(1, size // page - 1))):
                fh.seek(n * page)
                fh.write(rng.randbytes(page))
    else:
        raise ValueError(f"unknown damage {how!r}")
