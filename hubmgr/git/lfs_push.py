"""The Git LFS half of a git push: pointer blobs staged without the clean filter, objects sent from the files.

git-lfs's clean filter reads, hashes and copies every weight file into ``lfs/objects`` while
``git add`` runs; the push plan has already hashed them. ``stage_pointers`` writes the pointer
blobs (byte for byte what the clean filter writes) and puts them in the index; ``send_objects``
then uploads each object straight from the user's file (``lfs_transfer``: hashed on the way,
refused if the bytes are no longer the plan's), or with ``git lfs push`` when only git-lfs can
reach the store.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Callable, Sequence

from ..errors import VerificationError
from ..formats.lfs_pointer import format_lfs_pointer
from ..progress import CancelToken, ProgressEvent, ProgressSink, check_cancel
from ..remotes import PushRequest
from . import lfs_transfer
from .cmd import nul_paths

GitRunner = Callable[..., "subprocess.CompletedProcess[bytes]"]  # GitRemote._git (args, work_tree=, input=, lfs=)


def stage_pointers(git: GitRunner, git_dir: Path, request: PushRequest, uploads: Sequence[str], folder: Path
                   ) -> dict[str, tuple[str, Path]]:
    """Stage the LFS files whose sha256 the plan knows as pointer blobs; {repo path: (oid, local file)}.

    Which files are LFS is git's own reading of the attributes (info/attributes plus the folder's
    .gitattributes files), so the result is what ``git add`` would have staged.
    """
    known = dict(request.hashes)
    candidates = [p for p in uploads if p in known]
    if not candidates:
        return {}
    out = git(["check-attr", "-z", "--stdin", "filter"], input=nul_paths(candidates), work_tree=folder,
              lfs=False).stdout.split(b"\0")
    lfs = [out[i].decode("utf-8", "surrogateescape") for i in range(0, len(out) - 2, 3) if out[i + 2] == b"lfs"]
    staged: dict[str, tuple[str, Path]] = {}
    modes: list[str] = []
    scratch = git_dir / "hubmgr-pointers"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    try:
        pointer_files = []
        for rel in lfs:
            local = request.local_path(rel)
            st = local.stat()
            if st.st_size == 0:
                continue  # git-lfs keeps empty files as they are
            pointer = scratch / str(len(pointer_files))
            pointer.write_bytes(format_lfs_pointer(known[rel], st.st_size))
            pointer_files.append(str(pointer))
            # the mode git add records: the executable bit of a regular file in the folder
            executable = st.st_mode & 0o100 and local == folder / rel and not local.is_symlink()
            modes.append("100755" if executable else "100644")
            staged[rel] = (known[rel], local)
        if not staged:
            return {}
        blobs = git(["hash-object", "-w", "--no-filters", "--stdin-paths"], input="\n".join(pointer_files).encode(),
                    lfs=False).stdout.decode().split()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    index_info = b"".join(f"{mode} {blob}\t".encode() + nul_paths([rel])
                          for mode, blob, rel in zip(modes, blobs, staged))
    git(["update-index", "-z", "--add", "--index-info"], input=index_info, lfs=False)
    return staged


def send_objects(git: GitRunner, git_dir: Path, endpoint: lfs_transfer.LfsEndpoint | None,
                 lfs_objects: Sequence[tuple[str, int]], sources: dict[str, tuple[str, Path]], *, branch: str,
                 progress: ProgressSink, cancel: CancelToken | None) -> None:
    """Upload a commit's new LFS objects. ``sources``: oid -> (repo path, local file) of the objects staged
    as pointers; the others were cleaned into ``lfs/objects`` by ``git add``. ``endpoint`` None: git-lfs."""
    store = git_dir / "lfs" / "objects"
    objects = []
    for oid, size in lfs_objects:
        rel, local = sources.get(oid, (oid, None))
        objects.append(lfs_transfer.LfsObject(oid, size, local or lfs_transfer.object_path(store, oid), rel))
    for o in objects:
        if not o.path.is_file():
            raise VerificationError(f"no content for the LFS object {o.oid[:12]}... ({o.label})",
                                    "the folder holds an LFS pointer instead of the file: `git lfs pull` it")
    total = sum(o.size for o in objects)
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        progress(ProgressEvent("push:lfs", "uploading LFS objects", done, total))

    progress(ProgressEvent("push:lfs", f"uploading {len(objects)} LFS objects", 0, total))
    try:
        if endpoint is None:
            raise lfs_transfer.NeedsGitLfs("no direct route")
        lfs_transfer.upload(endpoint, objects, ref=f"refs/heads/{branch}", cancel=cancel, on_bytes=tick)
    except lfs_transfer.NeedsGitLfs:
        for o in objects:  # git-lfs sends from its cache: verified copies of the files staged as pointers
            if o.oid in sources:
                lfs_transfer.store_object(store, o.oid, o.size, o.path, label=o.label, cancel=cancel)
        oids = [o.oid for o in objects]
        for i in range(0, len(oids), 200):
            check_cancel(cancel)
            git(["lfs", "push", "--object-id", "origin", *oids[i:i + 200]])
    progress(ProgressEvent("push:lfs", "uploaded LFS objects", total, total, finished=True))


__all__ = ["send_objects", "stage_pointers"]
