"""Git remotes with Git LFS: push and pull model repos with real ``git`` and ``git-lfs``.

For each remote URL hubmgr keeps one bare repository under
``$HUBMGR_HOME/worktrees/<hash of url>`` (its "working copy"): pulls fetch the pinned
commit into it (shallow) and then its LFS objects; pushes build the next commit in its
index, with the user's model folder as the work tree, so nothing is copied into or
written inside the model folder. Weights go through Git LFS: ``.gitattributes`` tracks
the usual weight suffixes plus every file over ``Settings.lfs_threshold_bytes``.

Nothing is force-pushed unless the request says ``force``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

from .. import paths
from ..errors import ConflictError, RemoteNotFoundError, UsageError, VerificationError
from ..progress import CancelToken, ProgressEvent, ProgressSink, check_cancel, no_progress
from ..remotes import (KIND_LOCAL, PushOutcome, PushRequest, RemoteCommit, RemoteFile, RemoteRef, RemoteTarget,
                       branch_moved)
from . import registry as local_registry
from .cmd import GitError, commit_identity, nul_paths, redact, run_git
from ..formats.hashing import FileDigest, sha256_file
from ..formats.lfs_pointer import LFS_POINTER_MAX, parse_lfs_pointer
from .code_repo import read_blobs
from . import lfs_push, lfs_transfer

if TYPE_CHECKING:
    from ..config import Settings

LFS_PATTERNS = ("*.safetensors", "*.bin", "*.pth", "*.pt", "*.ckpt", "*.onnx", "*.gguf", "*.h5", "*.msgpack")
LFS_ATTRS = "filter=lfs diff=lfs merge=lfs -text"
_HEX_RE = re.compile(r"^[0-9a-f]{4,40}$")


def gitattributes_text(existing: str, big_files: Sequence[str]) -> str:
    """``existing`` .gitattributes plus LFS lines for the weight patterns and the big files."""
    lines = existing.splitlines()
    present = {ln.split()[0] for ln in lines if ln.strip() and not ln.lstrip().startswith("#")}
    added = []
    for pattern in LFS_PATTERNS:
        if pattern not in present:
            added.append(f"{pattern} {LFS_ATTRS}")
    for path in sorted(big_files):
        pattern = "/" + path.replace(" ", "[[:space:]]")
        if pattern not in present and not any(_matches_suffix(path, p) for p in LFS_PATTERNS):
            added.append(f"{pattern} {LFS_ATTRS}")
    if not added:
        return existing if existing.endswith("\n") or not existing else existing + "\n"
    head = existing + ("\n" if existing and not existing.endswith("\n") else "")
    return head + "# Git LFS for model weights and large files (written by hubmgr)\n" + "\n".join(added) + "\n"


def _matches_suffix(path: str, pattern: str) -> bool:
    return pattern.startswith("*.") and path.endswith(pattern[1:])


def lfs_object_path(git_dir: Path, oid: str) -> Path:
    return git_dir / "lfs" / "objects" / oid[:2] / oid[2:4] / oid


class GitRemote:
    """One repository on a git remote (kinds ``git`` and ``local``). Implements ``remotes.Remote``."""

    def __init__(self, target: RemoteTarget, settings: "Settings") -> None:
        self.target = target
        self.settings = settings
        if target.kind == KIND_LOCAL:
            self.url = local_registry.repo_url(settings, target.location)
        elif target.location.startswith("/"):
            self.url = Path(target.location).as_uri()
        else:
            self.url = target.location
        key = hashlib.sha256(self.url.encode()).hexdigest()[:16]
        self.git_dir = paths.data_dir() / "worktrees" / key
        self._held: tuple[int, ...] = ()  # fds of the flocks held while git runs (passed to git)

    # --- identity --------------------------------------------------------------

    @property
    def name(self) -> str:
        if self.target.kind == KIND_LOCAL:
            return f"local:{self.target.location}"
        return redact(self.url)

    def __repr__(self) -> str:
        return f"GitRemote({self.name})"

    # --- plumbing ----------------------------------------------------------------

    def _git(self, args: Sequence[str], *, work_tree: Path | None = None, env: dict | None = None, **kwargs):
        full_env = {"GIT_DIR": str(self.git_dir), "GIT_LITERAL_PATHSPECS": "1", **(env or {})}
        if work_tree is not None:
            full_env["GIT_WORK_TREE"] = str(work_tree)
        return run_git(list(args), env=full_env, pass_fds=self._held, **kwargs)

    def _git_text(self, args: Sequence[str], **kwargs) -> str:
        return self._git(args, **kwargs).stdout.decode(errors="replace").strip()

    def _ensure_repo(self) -> None:
        if not (self.git_dir / "HEAD").is_file():
            self.git_dir.parent.mkdir(parents=True, exist_ok=True)
            run_git(["init", "-q", "--bare", str(self.git_dir)])
        self._git(["config", "remote.origin.url", self.url], lfs=False)
        # git-lfs would otherwise keep a lock-verification setting per remote in this repo.
        self._git(["config", "lfs.locksverify", "false"], lfs=False)

    @contextlib.contextmanager
    def _locked(self, *, first: Path | None = None) -> Iterator[None]:
        """One hubmgr process at a time per working copy (and on the lock file ``first``, taken first).

        Every git we start inherits the flocks, so they are free only once every git of an
        earlier hubmgr (even one killed with SIGKILL) has exited. Whoever holds the working
        copy's lock is then its only user, and git lock files found there are stale: removed.
        """
        self.git_dir.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.ExitStack() as stack:
            fds = [stack.enter_context(_flock(p)) for p in (first, Path(f"{self.git_dir}.lock")) if p is not None]
            self._held = tuple(fds)
            try:
                _remove_stale_git_locks(self.git_dir)
                self._ensure_repo()
                yield
            finally:
                self._held = ()

    def _require_remote_repo(self) -> None:
        if self.target.kind == KIND_LOCAL:
            local_registry.require_repo(self.settings, self.target.location)

    def _ls_remote(self) -> tuple[dict[str, str], str | None]:
        """(ref -> sha with tags peeled, default branch name or None)."""
        self._require_remote_repo()
        args = ["ls-remote", "--symref", "origin"]
        proc = self._git(args, check=False, lfs=False)
        if proc.returncode != 0:
            from .cmd import classify_git_failure

            err = classify_git_failure(args, proc.stderr.decode(errors="replace"), proc.returncode)
            if isinstance(err, RemoteNotFoundError):
                raise RemoteNotFoundError(f"no git repository at {self.name}",
                                          "check the URL or path (make one with `git init --bare PATH`), "
                                          "or use local:NAME, which hubmgr creates on first push") from err
            raise err
        out = proc.stdout.decode(errors="replace").strip()
        refs: dict[str, str] = {}
        default = None
        for line in out.splitlines():
            left, _, right = line.partition("\t")
            if left.startswith("ref: ") and right == "HEAD":
                default = left[len("ref: "):].removeprefix("refs/heads/")
            elif right.endswith("^{}"):
                refs[right[:-3]] = left  # peeled annotated tag wins
            elif right not in refs:
                refs[right] = left
        if default is not None and f"refs/heads/{default}" not in refs:
            default = None
        return refs, default

    def _has_commit(self, sha: str) -> bool:
        return self._git(["cat-file", "-e", f"{sha}^{{commit}}"], check=False, lfs=False).returncode == 0

    def _fetch_commit(self, sha: str, *, depth: int = 1) -> None:
        """Make ``sha`` available locally: shallow fetch by id, falling back to every ref."""
        if depth == 1 and self._has_commit(sha):
            return
        proc = self._git(["fetch", "-q", "--no-tags", f"--depth={depth}", "origin", sha], check=False, lfs=False)
        if proc.returncode != 0 or not self._has_commit(sha):
            self._fetch_all()
        if not self._has_commit(sha):
            raise RemoteNotFoundError(f"commit {sha} not found on {self.name}", "check the revision")

    def _fetch_all(self) -> None:
        self._git(["fetch", "-q", "origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*"],
                  lfs=False)

    # --- reading -------------------------------------------------------------------

    def resolve_revision(self, revision: str | None) -> str:
        with self._locked():
            refs, default = self._ls_remote()
            if revision is None:
                branches = [r for r in refs if r.startswith("refs/heads/")]
                if default is None:  # HEAD names an unborn branch (e.g. master) while we pushed main
                    default = next((b for b in ("main", "master") if f"refs/heads/{b}" in refs), None)
                    if default is None and len(branches) == 1:
                        default = branches[0].removeprefix("refs/heads/")
                if default is None:
                    raise RemoteNotFoundError(f"{self.name} has no commits yet" if not branches else
                                              f"{self.name} has no default branch",
                                              "push a model to it first" if not branches else
                                              f"name one: hubmgr pull {self.target.display}@BRANCH")
                return refs[f"refs/heads/{default}"]
            for ref in (revision, f"refs/heads/{revision}", f"refs/tags/{revision}"):
                if ref.startswith("refs/") and ref in refs:
                    return refs[ref]
            rev = revision.lower()
            if _HEX_RE.match(rev):
                matches = {sha for sha in refs.values() if sha.startswith(rev)}
                if len(matches) == 1:
                    return matches.pop()
                if len(rev) == 40:
                    try:
                        self._fetch_commit(rev)
                        return rev
                    except (RemoteNotFoundError, GitError):
                        pass  # not fetchable by id: fall through to the "unknown revision" error below
                else:
                    self._fetch_all()
                    proc = self._git(["rev-parse", "-q", "--verify", f"{rev}^{{commit}}"], check=False, lfs=False)
                    if proc.returncode == 0:
                        return proc.stdout.decode().strip()
            raise RemoteNotFoundError(f"revision {revision!r} not found on {self.name}",
                                      f"see its branches and tags: hubmgr remote ls "
                                      f"{RemoteTarget(self.target.kind, self.target.location).display}")

    def list_files(self, commit_sha: str) -> list[RemoteFile]:
        with self._locked():
            return self._list_files(commit_sha)

    def _list_files(self, commit_sha: str) -> list[RemoteFile]:
        self._fetch_commit(commit_sha)
        out = self._git(["ls-tree", "-r", "-l", "-z", commit_sha], lfs=False).stdout.decode(errors="surrogateescape")
        entries = []
        for entry in out.split("\0"):
            meta, _, path = entry.partition("\t")
            parts = meta.split()
            # Regular files only: symlinks could point out of a release, submodules have no content here.
            if len(parts) == 4 and parts[1] == "blob" and parts[0] in ("100644", "100755"):
                entries.append((path, parts[2], int(parts[3])))
        small = read_blobs(self.git_dir, [oid for _, oid, size in entries if size <= LFS_POINTER_MAX]) \
            if entries else {}
        files = []
        for path, oid, size in entries:
            data = small.get(oid)
            pointer = parse_lfs_pointer(data) if data is not None else None
            if pointer is not None:
                files.append(RemoteFile(path, pointer[1], sha256=pointer[0], git_oid=oid, is_lfs=True))
            elif data is not None:
                files.append(RemoteFile(path, size, sha256=hashlib.sha256(data).hexdigest(), git_oid=oid))
            else:
                files.append(RemoteFile(path, size, git_oid=oid))
        return sorted(files, key=lambda f: f.path)

    def download(self, commit_sha: str, dest: Path, *, files: list[RemoteFile],
                 progress: ProgressSink = no_progress, cancel: CancelToken | None = None,
                 on_file: Callable[..., None] | None = None) -> None:
        """LFS objects go straight from the remote's store into ``dest``, hashed as they are written
        (``on_file(f, digest)`` hands the digest to the verifier: no second read); objects this working
        copy already holds are copied from it; without a direct route, git-lfs fetches into the cache."""
        with self._locked():
            self._fetch_commit(commit_sha)
            check_cancel(cancel)
            dest = Path(dest)
            total = sum(f.size for f in files)
            done = 0

            def finished(f: RemoteFile, measured: tuple[str, int] | None = None) -> None:
                """``measured``: (sha256, size) of the bytes as they were written (an LFS object)."""
                if on_file is not None:
                    on_file(f, FileDigest(measured[1], measured[0]) if measured and f.sha256 is not None else None)

            def tick(n: int) -> None:
                nonlocal done
                done += n
                progress(ProgressEvent("pull:files", "downloading", done, total))

            todo = []
            for f in files:
                out = dest / f.path
                out.parent.mkdir(parents=True, exist_ok=True)
                if out.is_file() and not out.is_symlink() and out.stat().st_size == f.size:
                    done += f.size  # left by an interrupted pull; verification will judge it
                    finished(f)
                else:
                    todo.append(f)
            direct = [f for f in todo if f.is_lfs and not self._object_ok(f, verify=False)]
            fetched: set[RemoteFile] = set()
            if direct and self._download_direct(dest, direct, tick=tick, finished=finished, cancel=cancel):
                todo = [f for f in todo if f not in direct]
            elif direct:
                progress(ProgressEvent("pull:lfs", f"git lfs fetch ({len(direct)} objects)", 0, None, unit="files"))
                self._lfs_fetch(commit_sha, direct)
                progress(ProgressEvent("pull:lfs", "git lfs fetch", len(direct), len(direct), unit="files",
                                       finished=True))
                fetched = set(direct)
            for f in todo:
                check_cancel(cancel)
                out = dest / f.path
                measured = None
                if f.is_lfs and f in fetched:  # git-lfs checked it while fetching; the copy is hashed on the way
                    measured = lfs_transfer.copy_hashing(lfs_object_path(self.git_dir, f.sha256), out, cancel=cancel)
                elif f.is_lfs:
                    measured = self._copy_lfs_object(commit_sha, f, out, cancel)  # an older cached copy: re-check it
                else:
                    data = self._git(["cat-file", "blob", f.git_oid], lfs=False).stdout
                    out.write_bytes(data)
                tick(f.size)
                finished(f, measured)
            progress(ProgressEvent("pull:files", "downloaded", done, total, finished=True))

    def _lfs_endpoint(self) -> "lfs_transfer.LfsEndpoint | None":
        """Where this remote's LFS objects live, as git-lfs resolves it (lfs.url, .lfsconfig, the URL);
        None: only git-lfs can move them (or HUBMGR_LFS_TRANSFER=git-lfs asks for it)."""
        if os.environ.get("HUBMGR_LFS_TRANSFER") == "git-lfs":
            return None
        proc = self._git(["lfs", "env"], check=False)
        return lfs_transfer.parse_endpoint(proc.stdout.decode(errors="replace")) if proc.returncode == 0 else None

    def _download_direct(self, dest: Path, files: list[RemoteFile], *, tick: Callable[[int], None],
                         finished: Callable[..., None], cancel: CancelToken | None) -> bool:
        """False when the objects need git-lfs (nothing was written then)."""
        endpoint = self._lfs_endpoint()
        if endpoint is None:
            return False
        by_path = {f.path: f for f in files}
        objects = [lfs_transfer.LfsObject(f.sha256, f.size, dest / f.path, f.path) for f in files]
        try:
            lfs_transfer.download(endpoint, objects, cancel=cancel, on_bytes=tick,
                                  on_done=lambda o, digest, size: finished(by_path[o.label], (digest, size)))
        except lfs_transfer.NeedsGitLfs:
            return False
        return True

    def _object_ok(self, f: RemoteFile, *, verify: bool) -> bool:
        obj = lfs_object_path(self.git_dir, f.sha256)
        if not obj.is_file() or obj.stat().st_size != f.size:
            return False
        return not verify or sha256_file(obj) == f.sha256

    def _lfs_fetch(self, commit_sha: str, files: list[RemoteFile]) -> None:
        args = ["lfs", "fetch", "origin", commit_sha]
        if not any(c in f.path for f in files for c in ",*?[]"):
            args += ["--include", ",".join(f.path for f in files)]
        proc = self._git(args, check=False)
        if proc.returncode == 0:
            return
        err = redact(proc.stderr.decode(errors="replace"))
        if "invalid hash" in err:
            raise VerificationError(f"an LFS object on {self.name} is corrupt: its sha256 does not match its pointer",
                                    "the remote's copy is damaged; re-push the model from a good copy")
        if "missing object" in err:
            raise VerificationError(f"{self.name} is missing LFS objects of commit {commit_sha[:12]}",
                                    "the weights were never uploaded; re-push the model with hubmgr push")
        from .cmd import classify_git_failure

        raise classify_git_failure(args, err, proc.returncode)

    def _copy_lfs_object(self, commit_sha: str, f: RemoteFile, out: Path, cancel: CancelToken | None
                         ) -> tuple[str, int]:
        """Copy an LFS object out of the cache, hashing it; a damaged cached copy is fetched again once.
        Returns (sha256, size) of what was written (a mismatch left in place is refused by pull's verifier)."""
        obj = lfs_object_path(self.git_dir, f.sha256)
        measured = ("", 0)
        for attempt in range(2):
            if not obj.is_file():
                raise VerificationError(f"git-lfs did not fetch {f.path} ({f.sha256[:12]}...)",
                                        "the remote is missing this LFS object; re-push the model")
            measured = lfs_transfer.copy_hashing(obj, out, cancel=cancel)
            if measured[0] == f.sha256:
                break
            if attempt == 0:
                obj.unlink()
                self._lfs_fetch(commit_sha, [f])
        return measured

    def list_refs(self) -> list[RemoteRef]:
        with self._locked():
            refs, _default = self._ls_remote()
        out = []
        for ref, sha in sorted(refs.items()):
            if ref.startswith("refs/heads/"):
                out.append(RemoteRef(ref[len("refs/heads/"):], "branch", sha))
            elif ref.startswith("refs/tags/"):
                out.append(RemoteRef(ref[len("refs/tags/"):], "tag", sha))
        return out

    def list_commits(self, revision: str | None = None, limit: int = 50) -> list[RemoteCommit]:
        sha = self.resolve_revision(revision)
        with self._locked():
            self._git(["fetch", "-q", "--no-tags", f"--depth={limit}", "origin", sha], check=False, lfs=False)
            self._fetch_commit(sha)
            out = self._git_text(["log", f"-n{limit}", "--format=%H%x1f%s%x1f%aI%x1f%an", sha], lfs=False)
        commits = []
        for line in out.splitlines():
            parts = line.split("\x1f")
            if len(parts) == 4:
                commits.append(RemoteCommit(parts[0], parts[1], parts[2], parts[3]))
        return commits

    # --- writing -------------------------------------------------------------------

    def push(self, request: PushRequest, *, progress: ProgressSink = no_progress,
             cancel: CancelToken | None = None) -> PushOutcome:
        if request.create_pr:
            raise UsageError("--create-pr needs a Hub remote", "git remotes have no pull requests; push a branch "
                                                               "with --revision instead")
        registry_lock = None
        if self.target.kind == KIND_LOCAL:
            repo = local_registry.ensure_repo(self.settings, self.target.location)
            # pushes from several HUBMGR_HOMEs sharing one registry queue here; the lease in
            # _publish covers every other git remote
            registry_lock = repo / "hubmgr-push.lock"
        with self._locked(first=registry_lock):
            prepared = self._prepare_commit(request, progress=progress, cancel=cancel)
            return self._publish(request, prepared, progress=progress, cancel=cancel)

    def _prepare_commit(self, request: PushRequest, *, progress: ProgressSink = no_progress,
                        cancel: CancelToken | None = None) -> "_Prepared":
        """Build the next commit in the local index on top of the remote branch tip."""
        folder = Path(request.folder)
        refs, default = self._ls_remote()
        branch = request.revision or default or "main"
        base = refs.get(f"refs/heads/{branch}")
        if request.check_base and base != request.base_commit:
            raise branch_moved(self.name, branch, request.base_commit, base)
        if base:
            self._fetch_commit(base)
            self._git(["read-tree", base], lfs=False)
        else:
            self._git(["read-tree", "--empty"], lfs=False)
        check_cancel(cancel)
        if request.delete:
            self._git(["update-index", "--force-remove", "-z", "--stdin"], input=nul_paths(request.delete),
                      work_tree=folder, lfs=False)
        # .gitattributes: the folder's own lines plus LFS tracking; also in info/attributes so the
        # clean filter applies while we add (the folder is not ours to write into).
        every = list(dict.fromkeys([*request.upload, *request.keep]))
        big = [p for p in every if _size(request.local_path(p)) > self.settings.lfs_threshold_bytes]
        existing = (folder / ".gitattributes").read_text(encoding="utf-8", errors="replace") \
            if (folder / ".gitattributes").is_file() else self._blob_text(base, ".gitattributes")
        attributes = gitattributes_text(existing, big)
        (self.git_dir / "info").mkdir(exist_ok=True)
        (self.git_dir / "info" / "attributes").write_text(attributes, encoding="utf-8")
        attr_oid = self._git_text(["hash-object", "-w", "--stdin"], input=attributes.encode(), lfs=False)
        self._git(["update-index", "--add", "--cacheinfo", f"100644,{attr_oid},.gitattributes"], lfs=False)
        uploads = [p for p in request.upload if p != ".gitattributes"]
        pointed = lfs_push.stage_pointers(self._git, self.git_dir, request, uploads, folder)
        outside = {p for p, _ in request.sources}
        regular = [p for p in uploads if p not in outside and p not in pointed and not (folder / p).is_symlink()]
        linked = [p for p in uploads if p not in outside and p not in pointed and (folder / p).is_symlink()]
        if regular:
            total = sum(_size(folder / p) for p in regular)
            progress(ProgressEvent("push:stage", f"git add ({len(regular)} files)", 0, total))
            self._git(["add", "-f", "--pathspec-from-file=-", "--pathspec-file-nul"], work_tree=folder,
                      input=nul_paths(regular))
            progress(ProgressEvent("push:stage", "git add", total, total, finished=True))
        for p in linked:  # content of an in-folder symlink, stored as a regular file
            oid = self._git_text(["hash-object", "-w", "--stdin", f"--path={p}"],
                                 input=(folder / p).read_bytes(), work_tree=folder)
            self._git(["update-index", "--add", "--cacheinfo", f"100644,{oid},{p}"], lfs=False)
        for p in uploads:  # generated files that live outside the folder (--path applies the LFS filter)
            if p in outside and p not in pointed:
                oid = self._git_text(["hash-object", "-w", f"--path={p}", str(request.local_path(p))],
                                     work_tree=folder)
                self._git(["update-index", "--add", "--cacheinfo", f"100644,{oid},{p}"], lfs=False)
        check_cancel(cancel)
        tree = self._git_text(["write-tree"], lfs=False)
        if base and self._git_text(["rev-parse", f"{base}^{{tree}}"], lfs=False) == tree:
            return _Prepared(branch, base, base, False, ())
        args = ["commit-tree", tree, "-F", "-"] + (["-p", base] if base else [])
        text = request.message + (f"\n\n{request.description}" if request.description else "")
        identity, warning = commit_identity({"GIT_DIR": str(self.git_dir)})
        commit = self._git_text(args, input=text.encode(), lfs=False, env=identity)
        return _Prepared(branch, base, commit, True, self._lfs_oids(commit, uploads),
                         {oid: (rel, path) for rel, (oid, path) in pointed.items()}, (warning,) if warning else ())

    def _blob_text(self, commit: str | None, path: str) -> str:
        if not commit:
            return ""
        proc = self._git(["cat-file", "blob", f"{commit}:{path}"], check=False, lfs=False)
        return proc.stdout.decode(errors="replace") if proc.returncode == 0 else ""

    def _lfs_oids(self, commit: str, paths: Sequence[str]) -> tuple[tuple[str, int], ...]:
        """(sha256, size) of the LFS objects the commit holds at ``paths``."""
        if not paths:
            return ()
        out = self._git(["ls-tree", "-l", "-z", commit, "--", *paths], lfs=False).stdout.decode(
            errors="surrogateescape")
        small = []
        for entry in out.split("\0"):
            meta = entry.partition("\t")[0].split()
            if len(meta) == 4 and meta[1] == "blob" and meta[3].isdigit() and int(meta[3]) <= LFS_POINTER_MAX:
                small.append(meta[2])
        pointers = [parse_lfs_pointer(data) for data in read_blobs(self.git_dir, small).values()]
        return tuple(dict.fromkeys(p for p in pointers if p is not None))

    def _publish(self, request: PushRequest, prepared: "_Prepared", *, progress: ProgressSink = no_progress,
                 cancel: CancelToken | None = None) -> PushOutcome:
        """Upload LFS objects, then update the branch (and tag) on the remote."""
        sent = sum(size for _, size in prepared.lfs_objects)
        if prepared.lfs_objects:
            lfs_push.send_objects(self._git, self.git_dir, self._lfs_endpoint(), prepared.lfs_objects,
                                  prepared.sources, branch=prepared.branch, progress=progress, cancel=cancel)
        check_cancel(cancel)
        plus = "+" if request.force else ""
        refspecs = []
        if prepared.created_commit:
            refspecs.append(f"{plus}{prepared.commit}:refs/heads/{prepared.branch}")
        if request.tag:
            refspecs.append(f"{plus}{prepared.commit}:refs/tags/{request.tag}")
        if refspecs:
            progress(ProgressEvent("push:git", "git push", 0, None))
            # compare-and-swap on the branch: the remote takes the commit only if the branch is
            # still where the commit was built (empty = must not exist)
            lease = [f"--force-with-lease=refs/heads/{prepared.branch}:{prepared.base or ''}"] \
                if prepared.created_commit and request.check_base else []
            args = ["push", "-q", "--no-verify", *lease, *(["--atomic"] if len(refspecs) > 1 else []), "origin",
                    *refspecs]
            proc = self._git(args, check=False, lfs=False)
            if proc.returncode != 0:
                err = proc.stderr.decode(errors="replace")
                if lease and "stale info" in err:
                    raise branch_moved(self.name, prepared.branch, prepared.base, None if not prepared.base else
                                       self._ls_remote()[0].get(f"refs/heads/{prepared.branch}"))
                if request.tag and "already exists" in err:
                    raise ConflictError(f"tag {request.tag!r} already exists on {self.name}",
                                        "choose another tag, or pass --force to move it")
                from .cmd import classify_git_failure

                raise classify_git_failure(args, err, proc.returncode)
            self._git(["update-ref", f"refs/remotes/origin/{prepared.branch}", prepared.commit], lfs=False)
            progress(ProgressEvent("push:git", "git push", 1, 1, finished=True))
        if not prepared.created_commit:
            sent = 0
        return PushOutcome(commit_sha=prepared.commit, commit_url=None, created_commit=prepared.created_commit,
                           bytes_sent=sent, files_uploaded=tuple(request.upload) if prepared.created_commit else (),
                           extra={"branch": prepared.branch, "parent": prepared.base,
                                  "lfs_objects": len(prepared.lfs_objects)}, warnings=prepared.warnings)


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[int]:
    """An exclusive flock on ``path`` (created if needed); yields its descriptor."""
    with open(path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        yield fh.fileno()


# Lock files git leaves behind when it is killed: index.lock, HEAD.lock, config.lock, shallow.lock,
# packed-refs.lock, refs/**/*.lock (never objects/ or lfs/, whose temp files are not locks).
def _remove_stale_git_locks(git_dir: Path) -> None:
    candidates = [git_dir / n for n in ("index.lock", "HEAD.lock", "config.lock", "shallow.lock", "packed-refs.lock",
                                        "FETCH_HEAD.lock", "ORIG_HEAD.lock")]
    refs = git_dir / "refs"
    if refs.is_dir():
        candidates.extend(refs.rglob("*.lock"))
    for p in candidates:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


class _Prepared:
    """A commit built locally, not yet on the remote."""

    def __init__(self, branch: str, base: str | None, commit: str, created_commit: bool,
                 lfs_objects: tuple[tuple[str, int], ...], sources: dict[str, tuple[str, Path]] | None = None,
                 warnings: tuple[str, ...] = ()) -> None:
        self.warnings = warnings
        self.branch = branch
        self.base = base
        self.commit = commit
        self.created_commit = created_commit
        self.lfs_objects = lfs_objects
        self.sources = sources or {}  # oid -> (repo path, local file) of objects staged as pointers


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


__all__ = ["GitRemote", "LFS_PATTERNS", "gitattributes_text", "lfs_object_path"]
