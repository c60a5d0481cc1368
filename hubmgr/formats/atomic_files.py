"""Atomic outputs: write to a temp name beside the final one, fsync, rename into place; clean what a
killed run left behind (only when the process that made it is gone); check free space first."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from ..errors import DiskSpaceError

TEMP_MARK = ".hubmgr-tmp-"
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.hubmgr-(?P<kind>tmp|old)-(?P<pid>\d+)$")


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- atomic outputs ----------------------------------------------------------


def temp_path(final: Path, kind: str = "tmp") -> Path:
    """``dir/.NAME.hubmgr-tmp-<pid>``: same folder (so rename is atomic), hidden, owner recorded."""
    return final.parent / f".{final.name}.hubmgr-{kind}-{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale_temps(directory: Path) -> tuple[list[str], list[str]]:
    """Tidy what runs that died (their pid is gone) left in ``directory``: (removed, restored).

    A ``.NAME.hubmgr-old-PID`` is the previous output a ``--force`` run moved aside; if that run
    died before its second rename, ``NAME`` is missing and the old copy is the only one: it is
    renamed back, never deleted. Temp files of unfinished writes are removed.
    """
    removed: list[str] = []
    restored: list[str] = []
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except FileNotFoundError:
        return removed, restored
    for entry in entries:
        m = _TEMP_RE.match(entry.name)
        if not m or _pid_alive(int(m.group("pid"))):
            continue
        final = Path(directory) / m.group("name")
        if m.group("kind") == "old" and not (final.exists() or final.is_symlink()):
            os.rename(entry.path, final)
            restored.append(str(final))
            continue
        remove_path(Path(entry.path))
        removed.append(entry.path)
    return removed, restored


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def fsync_dir(directory: Path) -> None:
    """A directory's entries (a rename) made durable: the same open+fsync as a file."""
    fsync_path(directory)


def commit(temp: Path, final: Path, *, replace: bool) -> None:
    """Move a finished temp file or dir to its final name (replacing it only if ``replace``)."""
    if final.exists() or final.is_symlink():
        if not replace:
            from ..errors import ConflictError

            raise ConflictError(f"{final} already exists", "pass --force to overwrite it")
        if final.is_dir() and not final.is_symlink():
            # A dir cannot be replaced by rename(2) in one step: move the old one aside first.
            old = temp_path(final, "old")
            os.rename(final, old)
            os.rename(temp, final)
            remove_path(old)
        else:
            os.replace(temp, final)
    else:
        os.rename(temp, final)
    fsync_dir(final.parent)


def check_disk_space(directory: Path, needed: int, *, hint: str = "free some space or write elsewhere with --out"
                     ) -> None:
    """Fail up front (before writing anything) when ``needed`` bytes will not fit."""
    probe = directory
    while not probe.exists():
        probe = probe.parent
    free = shutil.disk_usage(probe).free
    margin = 16 * 2**20
    if needed + margin > free:
        raise DiskSpaceError(
            f"not enough disk space in {probe}: need {needed / 1e6:,.1f} MB, {free / 1e6:,.1f} MB free",
            hint,
        )
