"""On-disk storage of the Hub test server: repos, commits and content-addressed blobs.

Layout under ``root``::

    blobs/<sha256>               content-addressed file bytes (regular and LFS files)
    commits/<sha>.json           {parent, title, message, author, date, files: {path: entry}}
    repos/<type>/<ns>/<name>.json  {private, gated, refs: {branches, tags, prs}, next_pr}
    tmp/                         uploads in flight (renamed into blobs/ once the sha256 matches)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from hubmgr.testing.hub.protocol import HEX_RE, HubHTTPError, git_blob_sha1, lfs_pointer, now


@dataclass
class Repo:
    key: str  # "model/alice/tiny"
    repo_type: str
    repo_id: str
    private: bool = False
    gated: bool = False
    granted: list[str] = field(default_factory=list)  # users allowed through the gate
    branches: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    prs: dict[int, str] = field(default_factory=dict)
    created: str = ""
    internal_id: str = ""

    def to_json(self) -> dict:
        return {"key": self.key, "repo_type": self.repo_type, "repo_id": self.repo_id, "private": self.private,
                "gated": self.gated, "granted": self.granted, "branches": self.branches, "tags": self.tags,
                "prs": {str(k): v for k, v in self.prs.items()}, "created": self.created,
                "internal_id": self.internal_id}

    @classmethod
    def from_json(cls, d: dict) -> "Repo":
        d = dict(d)
        d["prs"] = {int(k): v for k, v in d.get("prs", {}).items()}
        return cls(**d)


class HubStorage:
    """Repos, commits and blobs on disk. One lock serialises every metadata change."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        for sub in ("blobs", "commits", "repos", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.repos: dict[str, Repo] = {}
        self._commits: dict[str, dict] = {}
        for file in (self.root / "repos").rglob("*.json"):
            repo = Repo.from_json(json.loads(file.read_text()))
            self.repos[repo.key] = repo

    # blobs
    def blob_path(self, sha256: str) -> Path:
        return self.root / "blobs" / sha256

    def has_blob(self, sha256: str, size: int | None = None) -> bool:
        p = self.blob_path(sha256)
        return p.is_file() and (size is None or p.stat().st_size == size)

    def put_bytes(self, data: bytes) -> str:
        oid = hashlib.sha256(data).hexdigest()
        if not self.has_blob(oid):
            tmp = self.tmp_path()
            tmp.write_bytes(data)
            os.replace(tmp, self.blob_path(oid))
        return oid

    def tmp_path(self) -> Path:
        return self.root / "tmp" / secrets.token_hex(12)

    # commits
    def commit(self, sha: str) -> dict:
        with self.lock:
            c = self._commits.get(sha)
            if c is None:
                c = json.loads((self.root / "commits" / f"{sha}.json").read_text())
                self._commits[sha] = c
            return c

    def has_commit(self, sha: str) -> bool:
        return sha in self._commits or (self.root / "commits" / f"{sha}.json").is_file()

    def new_commit(self, repo: Repo, parent: str | None, files: dict, title: str, message: str,
                   author: str) -> str:
        body = {"repo": repo.key, "parent": parent, "title": title, "message": message, "author": author,
                "date": now(), "files": files}
        sha = hashlib.sha1(json.dumps(body, sort_keys=True).encode() + secrets.token_bytes(8)).hexdigest()
        body["id"] = sha
        with self.lock:
            (self.root / "commits" / f"{sha}.json").write_text(json.dumps(body))
            self._commits[sha] = body
        return sha

    def save_repo(self, repo: Repo) -> None:
        path = self.root / "repos" / f"{repo.key}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(repo.to_json()))
        os.replace(tmp, path)

    def delete_repo(self, repo: Repo) -> None:
        with self.lock:
            self.repos.pop(repo.key, None)
            (self.root / "repos" / f"{repo.key}.json").unlink(missing_ok=True)

    def history(self, sha: str) -> Iterator[dict]:
        current: str | None = sha
        while current:
            c = self.commit(current)
            yield c
            current = c["parent"]

    def resolve(self, repo: Repo, rev: str | None) -> str:
        """Branch, tag, refs/pr/N, refs/heads/x, full or short sha -> commit sha."""
        rev = rev or "main"
        with self.lock:
            if rev in repo.branches:
                return repo.branches[rev]
            if rev.startswith("refs/heads/") and rev[11:] in repo.branches:
                return repo.branches[rev[11:]]
            if rev in repo.tags:
                return repo.tags[rev]
            if rev.startswith("refs/tags/") and rev[10:] in repo.tags:
                return repo.tags[rev[10:]]
            m = re.fullmatch(r"refs/pr/(\d+)", rev)
            if m and int(m.group(1)) in repo.prs:
                return repo.prs[int(m.group(1))]
            if HEX_RE.match(rev):
                for sha in self._reachable(repo):
                    if sha.startswith(rev):
                        return sha
        raise HubHTTPError(404, f"Invalid rev id: {rev}", "RevisionNotFound")

    def _reachable(self, repo: Repo) -> list[str]:
        seen: list[str] = []
        heads = list(repo.branches.values()) + list(repo.tags.values()) + list(repo.prs.values())
        for head in heads:
            for c in self.history(head):
                if c["id"] in seen:
                    break
                seen.append(c["id"])
        return seen


def file_entry_for(content_sha256: str, size: int, lfs: bool, data: bytes | None = None) -> dict:
    """A commit's record of one file. ``git_oid`` is what git would store (the pointer for LFS)."""
    if lfs:
        pointer = lfs_pointer(content_sha256, size)
        return {"size": size, "sha256": content_sha256, "lfs": True, "git_oid": git_blob_sha1(pointer),
                "pointer_size": len(pointer)}
    assert data is not None
    return {"size": size, "sha256": content_sha256, "lfs": False, "git_oid": git_blob_sha1(data)}
