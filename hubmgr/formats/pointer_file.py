"""Pointer files: a small JSON file that pins model weights living in a model repo.

``hubmgr guard --fix hub`` leaves one (``model.hubmgr.json``) in a code repository
after moving the weights out; ``hubmgr pull path/to/model.hubmgr.json --dest DIR``
pulls exactly the pinned commit. Format (version 1)::

    {
      "hubmgr_pointer": 1,
      "remote": "local:foo",          # target spec without @rev (hub:alice/m, file:///x.git, ...)
      "revision": "main",             # what was asked, or null
      "commit": "<40 hex>",           # the pinned commit
      "files": [{"path": "model.safetensors", "size": 123, "sha256": "<64 hex>"}]
    }
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..errors import CorruptFileError, NotFoundError
from ..models import JsonMixin

POINTER_VERSION = 1
POINTER_SUFFIX = ".hubmgr.json"
DEFAULT_POINTER_NAME = "model.hubmgr.json"
_SHA1_RE = re.compile(r"^[0-9a-f]{40}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class PointerFile(JsonMixin):
    path: str
    size: int
    sha256: str | None


@dataclass(frozen=True)
class Pointer(JsonMixin):
    remote: str  # target spec without @rev
    revision: str | None
    commit: str
    files: tuple[PointerFile, ...] = ()

    @property
    def spec(self) -> str:
        """The spec ``hubmgr pull`` resolves: the remote pinned at the commit."""
        return f"{self.remote}@{self.commit}"


def looks_like_pointer(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` names an existing file ending in ``.hubmgr.json`` (or any JSON pointer)."""
    p = Path(path)
    return p.is_file() and (p.name.endswith(POINTER_SUFFIX) or p.suffix == ".json")


def _file_entry(item: Any) -> dict[str, Any]:
    if isinstance(item, PointerFile):
        return {"path": item.path, "size": item.size, "sha256": item.sha256}
    if isinstance(item, dict):
        return {"path": item["path"], "size": int(item["size"]), "sha256": item.get("sha256")}
    # RemoteFile, FileInfo-like objects
    size = getattr(item, "size", None)
    if size is None:
        size = getattr(item, "size_bytes")
    return {"path": item.path, "size": int(size), "sha256": getattr(item, "sha256", None)}


def write_pointer(path: str | os.PathLike[str], *, remote: str, revision: str | None, commit: str,
                  files: Iterable[Any] = ()) -> Path:
    """Write a pointer file atomically; returns its path.

    ``files`` may hold ``PointerFile``s, dicts with path/size/sha256, or ``RemoteFile``s.
    """
    if not _SHA1_RE.match(commit):
        raise CorruptFileError(f"not a full commit sha: {commit!r}", "pin a 40-hex commit")
    doc = {
        "hubmgr_pointer": POINTER_VERSION,
        "remote": remote,
        "revision": revision,
        "commit": commit,
        "files": sorted((_file_entry(f) for f in files), key=lambda e: e["path"]),
    }
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    return out


def read_pointer(path: str | os.PathLike[str]) -> Pointer:
    """Parse and validate a pointer file."""
    p = Path(path)
    if not p.is_file():
        raise NotFoundError(f"no such pointer file: {p}", "give the path of a model.hubmgr.json file")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFileError(f"{p} is not a hubmgr pointer file ({exc})", "restore it from git") from exc
    if not isinstance(doc, dict) or doc.get("hubmgr_pointer") != POINTER_VERSION:
        raise CorruptFileError(f"{p} is not a hubmgr pointer file (no \"hubmgr_pointer\": 1)",
                               "a pointer is written by `hubmgr guard --fix hub`")
    remote, commit = doc.get("remote"), doc.get("commit")
    if not isinstance(remote, str) or not remote or not isinstance(commit, str) or not _SHA1_RE.match(commit):
        raise CorruptFileError(f"{p}: pointer needs a remote and a 40-hex commit", "restore it from git")
    files = []
    for entry in doc.get("files") or []:
        try:
            sha = entry.get("sha256")
            if sha is not None and not _SHA256_RE.match(sha):
                raise ValueError(f"bad sha256 {sha!r}")
            files.append(PointerFile(str(entry["path"]), int(entry["size"]), sha))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise CorruptFileError(f"{p}: bad file entry {entry!r} ({exc})", "restore it from git") from exc
    revision = doc.get("revision")
    return Pointer(remote=remote, revision=revision if isinstance(revision, str) else None, commit=commit,
                   files=tuple(files))
