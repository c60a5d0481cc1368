"""User settings from a TOML file (see ``paths.config_file``), with environment overrides.

Example ``config.toml``::

    [hub]
    endpoint = "https://huggingface.co"

    [git]
    lfs_threshold = "10MB"

    [guard]
    limit = "100MiB"
    warn = "50MiB"

    [sign]
    key = "~/.config/hubmgr/keys/hubmgr.key"   # push signs with it (like --sign)

    [trust]
    keys = ["/etc/hubmgr/publisher.pub"]      # every pull requires a signature by one of them
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from . import paths
from .errors import UsageError

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_UNITS = {
    "B": 1,
    "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
    "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40,
}


def parse_size(text: str | int) -> int:
    """'95MB' -> 95_000_000, '2GiB' -> 2147483648, 1234 -> 1234. Decimal units like the Hub's."""
    if isinstance(text, int):
        return text
    m = _SIZE_RE.match(str(text))
    if not m:
        raise UsageError(f"not a size: {text!r}", "write it like 95MB, 2GB or 500MiB")
    number, unit = m.groups()
    return int(float(number) * _UNITS[(unit or "B").upper()])


@dataclass(frozen=True)
class Settings:
    hub_endpoint: str | None = None  # None: huggingface_hub's default (HF_ENDPOINT or huggingface.co)
    registry_dir: Path = field(default_factory=paths.registry_dir)
    lfs_threshold_bytes: int = 10 * 10**6
    guard_limit_bytes: int = 100 * 2**20  # GitHub's limit is 100 MiB
    guard_warn_bytes: int = 50 * 2**20
    sign_key: Path | None = None  # [sign] key: push signs with it unless told otherwise
    trust_keys: tuple[Path, ...] = ()  # [trust] keys: pulls refuse releases not signed by one of them


def load_settings(path: Path | None = None) -> Settings:
    """Read the config file if it exists; environment variables win over it."""
    file = path or paths.config_file()
    data: dict = {}
    if file.exists():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"cannot read config {file}: {exc}", "fix or delete the file") from exc
    hub = data.get("hub", {})
    git = data.get("git", {})
    guard = data.get("guard", {})
    registry = data.get("registry", {})
    sign = data.get("sign", {})
    trust = data.get("trust", {})
    keys = trust.get("keys", [])
    if isinstance(keys, str):
        keys = [keys]
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
        raise UsageError(f"[trust] keys in {file} must be a list of paths", 'write keys = ["/path/publisher.pub"]')
    return Settings(
        hub_endpoint=os.environ.get("HF_ENDPOINT") or hub.get("endpoint"),
        registry_dir=Path(registry["dir"]).expanduser() if "dir" in registry else paths.registry_dir(),
        lfs_threshold_bytes=parse_size(git.get("lfs_threshold", 10 * 10**6)),
        guard_limit_bytes=parse_size(guard.get("limit", 100 * 2**20)),
        guard_warn_bytes=parse_size(guard.get("warn", 50 * 2**20)),
        sign_key=Path(sign["key"]).expanduser() if isinstance(sign.get("key"), str) else None,
        trust_keys=tuple(Path(k).expanduser() for k in keys),
    )
