"""Data files a suite reads: resolved, hashed (the sha256 is stored with every score) and labelled."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from ..errors import NotFoundError
from ..formats.hashing import sha256_file


def read_data_file(path: str | Path) -> tuple[Path, str]:
    """(resolved path, sha256); a clear error when it cannot be read."""
    p = Path(path).expanduser().resolve()
    try:
        return p, sha256_file(p)
    except OSError as exc:
        raise NotFoundError(f"cannot read {p}: {exc}") from exc


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise NotFoundError(f"cannot read {path}: {exc}") from exc


def data_file_label(params: Mapping[str, Any]) -> str:
    name = Path(str(params.get("data_file", "data"))).name
    return f"{name} (sha256 {str(params.get('data_sha256', ''))[:12]})"
