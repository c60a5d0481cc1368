"""``DirRemote``: a complete ``remotes.Remote`` kept in a plain directory (tests, TUI demos).

Each commit is a folder ``<root>/commits/<sha>/files/...`` plus ``manifest.json`` (path, size,
sha256 recorded when the commit was made); refs live in ``<root>/refs.json``. It is a real
remote with real files, so tests can exercise push/pull/deploy logic without git or HTTP,
and can damage it the way real remotes get damaged:

- ``corrupt(sha, path)`` flips bytes of a stored file keeping its size (the manifest keeps
  the original sha256, as a Hub keeps the LFS oid);
- ``extra_listing`` adds entries to ``list_files`` (e.g. a ``../evil`` path a hostile server
  could report; such a file cannot exist in a git tree).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from ..errors import ConflictError, RemoteNotFoundError
from ..progress import CancelToken, ProgressEvent, ProgressSink, check_cancel, no_progress
from ..remotes import KIND_GIT, PushOutcome, PushRequest, RemoteCommit, RemoteFile, RemoteRef, RemoteTarget


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


class DirRemote:
    def __init__(self, root: str | Path, *, name: str = "dir:test") -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.target = RemoteTarget(KIND_GIT, str(self.root))
        self._name = name
        self.extra_listing: list[RemoteFile] = []
        self.downloads = 0  # files written by download() (tests check resume/reuse)

    @property
    def name(self) -> str:
        return self._name

    # --- storage -------------------------------------------------------------------

    def _refs(self) -> dict:
        path = self.root / "refs.json"
        return json.loads(path.read_text()) if path.exists() else {"branches": {}, "tags": {}, "log": []}

    def _save_refs(self, refs: dict) -> None:
        (self.root / "refs.json").write_text(json.dumps(refs, indent=1))

    def _commit_dir(self, sha: str) -> Path:
        return self.root / "commits" / sha

    def _manifest(self, sha: str) -> dict:
        path = self._commit_dir(sha) / "manifest.json"
        if not path.exists():
            raise RemoteNotFoundError(f"commit {sha} not found on {self.name}")
        return json.loads(path.read_text())

    def corrupt(self, sha: str, path: str) -> None:
        """Damage a stored file in place, same size (a flipped first byte)."""
        f = self._commit_dir(sha) / "files" / path
        data = bytearray(f.read_bytes())
        data[0] ^= 0xFF
        f.write_bytes(bytes(data))

    # --- Remote protocol -----------------------------------------------------------------

    def resolve_revision(self, revision: str | None) -> str:
        refs = self._refs()
        rev = revision or "main"
        for table in ("branches", "tags"):
            if rev in refs[table]:
                return refs[table][rev]
        commits = self.root / "commits"
        if commits.is_dir():
            matches = [p.name for p in commits.iterdir() if p.name.startswith(rev)]
            if len(matches) == 1:
                return matches[0]
        raise RemoteNotFoundError(f"revision {rev!r} not found on {self.name}")

    def list_files(self, commit_sha: str) -> list[RemoteFile]:
        manifest = self._manifest(commit_sha)
        files = [RemoteFile(e["path"], e["size"], sha256=e["sha256"], is_lfs=True) for e in manifest["files"]]
        return files + list(self.extra_listing)

    def download(self, commit_sha: str, dest: Path, *, files: list[RemoteFile],
                 progress: ProgressSink = no_progress, cancel: CancelToken | None = None,
                 on_file: Callable[[RemoteFile], None] | None = None) -> None:
        src = self._commit_dir(commit_sha) / "files"
        total = sum(f.size for f in files)
        done = 0
        for f in files:
            check_cancel(cancel)
            out = Path(dest) / f.path
            out.parent.mkdir(parents=True, exist_ok=True)
            if out.is_file() and out.stat().st_size == f.size:
                done += f.size
                continue  # resume: what a previous attempt finished
            shutil.copyfile(src / f.path, out)
            self.downloads += 1
            done += f.size
            progress(ProgressEvent("pull:files", f"downloading {f.path}", done, total))
            if on_file is not None:
                on_file(f)

    def push(self, request: PushRequest, *, progress: ProgressSink = no_progress,
             cancel: CancelToken | None = None) -> PushOutcome:
        refs = self._refs()
        branch = request.revision or "main"
        parent = refs["branches"].get(branch)
        entries: dict[str, dict] = {}
        if parent:
            entries = {e["path"]: e for e in self._manifest(parent)["files"]}
        for p in request.delete:
            entries.pop(p, None)
        sent = 0
        for p in request.upload:
            check_cancel(cancel)
            file = request.local_path(p)
            entries[p] = {"path": p, "size": file.stat().st_size, "sha256": _sha256(file)}
            sent += file.stat().st_size
        files = sorted(entries.values(), key=lambda e: e["path"])
        created = not parent or files != self._manifest(parent)["files"]
        if created:
            body = json.dumps({"parent": parent, "files": files, "message": request.message, "t": time.time_ns()})
            sha = hashlib.sha1(body.encode()).hexdigest()
            cdir = self._commit_dir(sha)
            (cdir / "files").mkdir(parents=True)
            prev = self._commit_dir(parent) / "files" if parent else None
            for e in files:
                out = cdir / "files" / e["path"]
                out.parent.mkdir(parents=True, exist_ok=True)
                src = request.local_path(e["path"]) if e["path"] in request.upload else prev / e["path"]
                shutil.copyfile(src, out)
            (cdir / "manifest.json").write_text(json.dumps({"parent": parent, "files": files,
                                                            "message": request.message,
                                                            "date": datetime.now(timezone.utc).isoformat()}))
            refs["branches"][branch] = sha
        else:
            sha = parent
            sent = 0
        if request.tag:
            if request.tag in refs["tags"] and refs["tags"][request.tag] != sha and not request.force:
                raise ConflictError(f"tag {request.tag!r} already exists on {self.name}")
            refs["tags"][request.tag] = sha
        self._save_refs(refs)
        return PushOutcome(commit_sha=sha, commit_url=None, created_commit=created, bytes_sent=sent,
                           files_uploaded=tuple(request.upload) if created else ())

    def list_refs(self) -> list[RemoteRef]:
        refs = self._refs()
        return [RemoteRef(n, "branch", s) for n, s in sorted(refs["branches"].items())] + \
            [RemoteRef(n, "tag", s) for n, s in sorted(refs["tags"].items())]

    def list_commits(self, revision: str | None = None, limit: int = 50) -> list[RemoteCommit]:
        sha = self.resolve_revision(revision)
        out = []
        while sha and len(out) < limit:
            m = self._manifest(sha)
            out.append(RemoteCommit(sha, m["message"], m["date"]))
            sha = m["parent"]
        return out
