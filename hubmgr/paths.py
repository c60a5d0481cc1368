"""Where hubmgr keeps its data. ``HUBMGR_HOME`` overrides everything (tests use it).

- workspace catalog: ``<workspace>/.hubmgr/catalog.db`` (``--catalog`` or ``HUBMGR_CATALOG`` overrides;
  with ``HUBMGR_HOME`` set and no workspace catalog yet, ``$HUBMGR_HOME/catalog.db``)
- user data (local git registry, hub test-server storage): ``$HUBMGR_HOME`` or ``$XDG_DATA_HOME/hubmgr``
- user config: ``$HUBMGR_HOME/config.toml`` or ``$XDG_CONFIG_HOME/hubmgr/config.toml``
"""

from __future__ import annotations

import os
from pathlib import Path

WORKSPACE_DIRNAME = ".hubmgr"
CATALOG_FILENAME = "catalog.db"


def hubmgr_home() -> Path | None:
    value = os.environ.get("HUBMGR_HOME")
    return Path(value).expanduser() if value else None


def data_dir() -> Path:
    home = hubmgr_home()
    if home is not None:
        return home
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "hubmgr"


def config_file() -> Path:
    home = hubmgr_home()
    if home is not None:
        return home / "config.toml"
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "hubmgr" / "config.toml"


def registry_dir() -> Path:
    """Root of the embedded local registry of bare git repos (``local:NAME``)."""
    return data_dir() / "registry"


def catalog_path(workspace: Path | None = None, explicit: str | os.PathLike[str] | None = None) -> Path:
    """The catalog database to use for ``workspace`` (default: the current directory)."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get("HUBMGR_CATALOG")
    if env:
        return Path(env).expanduser()
    ws = Path(workspace) if workspace is not None else Path.cwd()
    local = ws / WORKSPACE_DIRNAME / CATALOG_FILENAME
    home = hubmgr_home()
    if home is not None and not local.exists():
        return home / CATALOG_FILENAME
    return local
