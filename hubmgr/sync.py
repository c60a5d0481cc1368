"""Push use case (and the folder/remote helpers pull shares): local folder -> remote (Hub or git).

- ``plan_push``: what would be uploaded, skipped, deleted (safety checks first: pickles, secrets, symlinks).
- ``push``: write the card if missing, convert pickles on request, push only what changed, record it.
- ``pull`` (in ``pull.py``, re-exported here): download, verify, promote, switch ``DIR/current``.

Remotes do the transport (``remotes.open_remote``); this module never runs git or HTTP itself.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from . import deploy
from .errors import CancelledError, NotFoundError, RemoteNotFoundError, UnsafeContentError
from .formats.hashing import git_blob_sha1
from .formats.layout import PICKLE_SUFFIXES, is_pickle_name
from .models import PlanFile, PushPlan, PushResult
from .progress import CancelToken, ProgressSink, check_cancel, no_progress
from .pull import WEIGHT_SUFFIXES, list_registry, list_remote, missing_for_deploy, pull  # noqa: F401 - sync.pull
from .remotes import (KIND_HUB, PushRequest, RemoteFile, RemoteTarget, asked_revision, in_scope, open_target,
                      path_matches)

if TYPE_CHECKING:
    from concurrent.futures import Future

    from .catalog import Catalog
    from .remotes import Remote

SKIP_DIRS = frozenset({".git", ".hubmgr", ".cache", "__pycache__"})
SKIP_FILES = frozenset({deploy.LOCK_NAME, ".DS_Store"})
SECRET_NAME_PATTERNS = (".env", ".env.*", "*.pem", "id_rsa*", "id_ed25519*", "id_ecdsa*", "*.key", ".netrc")
_HF_TOKEN_RE = re.compile(rb"hf_[A-Za-z0-9]{30,}")
_SECRET_SCAN_MAX = 10 * 10**6  # weights are binary and huge; tokens hide in small text files
NEVER_DELETE = frozenset({".gitattributes"})


# --- helpers ---------------------------------------------------------------------


def local_files(folder: Path, *, include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()
                ) -> tuple[dict[str, Path], list[str]]:
    """``relpath -> file`` of everything to push under ``folder``, and warnings.

    Never follows a symlink out of ``folder``; symlinks inside it count as the file they name.
    """
    root = folder.resolve()
    found: dict[str, Path] = {}
    warnings: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        kept_dirs = []
        for d in sorted(dirnames):
            if d in SKIP_DIRS:
                continue
            if (here / d).is_symlink():
                warnings.append(f"skipped symlinked directory {(here / d).relative_to(root).as_posix()}")
                continue
            kept_dirs.append(d)
        dirnames[:] = kept_dirs
        for name in sorted(filenames):
            path = here / name
            rel = path.relative_to(root).as_posix()
            if name in SKIP_FILES or not in_scope(rel, include, exclude):
                continue
            if path.is_symlink():
                real = path.resolve()
                if not real.is_relative_to(root) or not real.is_file():
                    warnings.append(f"skipped {rel}: symlink pointing outside the folder")
                    continue
            elif not path.is_file():
                continue
            found[rel] = path
    return found, warnings


def pickle_files(files: dict[str, Path]) -> dict[str, str]:
    """Files whose loading unpickles: by content whatever their names (.pkl .pth.tar .npy .joblib .bak ...),
    plus the torch weight names (pytorch_model.bin ...) that loaders hand to torch.load whatever they hold."""
    from .formats.sniff import sniff_pickle

    found = {rel: sniff_pickle(path) or ("pickle name" if is_pickle_name(rel) else None)
             for rel, path in sorted(files.items())}
    return {rel: kind for rel, kind in found.items() if kind is not None}


def check_pickles(files: dict[str, Path], *, allow_pickle: bool) -> None:
    if allow_pickle:
        return
    pickles = pickle_files(files)
    if pickles:
        shown = ", ".join(f"{rel} ({kind})" for rel, kind in list(pickles.items())[:5]) + (
            " ..." if len(pickles) > 5 else "")
        raise UnsafeContentError(f"refusing to push pickled weights or data: {shown}",
                         "convert them to safetensors with --convert, or pass --allow-pickle "
                         "(anyone loading them runs code)")


def find_secrets(files: dict[str, Path]) -> list[str]:
    """Files that look like credentials: by name, or holding a Hugging Face token."""
    found = []
    for rel, path in sorted(files.items()):
        if path_matches(rel, SECRET_NAME_PATTERNS):
            found.append(f"{rel} (name of a secrets file)")
            continue
        try:
            if path.stat().st_size <= _SECRET_SCAN_MAX and not rel.endswith((".safetensors", *PICKLE_SUFFIXES)):
                with open(path, "rb") as fh:
                    if _HF_TOKEN_RE.search(fh.read()):
                        found.append(f"{rel} (contains a Hugging Face token)")
        except OSError:
            continue
    return found


def _same_content(path: Path, sha256: str, rf: RemoteFile, size: int) -> bool:
    if rf.size != size:
        return False
    if rf.sha256 is not None:
        return rf.sha256 == sha256
    if rf.git_oid is not None:
        return git_blob_sha1(path.read_bytes()) == rf.git_oid
    return False


# --- push --------------------------------------------------------------------------


def _refuse_unsafe(allow_pickle: bool) -> "Callable[[dict[str, Path]], None]":
    def check(files: dict[str, Path]) -> None:
        check_pickles(files, allow_pickle=allow_pickle)
        secrets = find_secrets(files)
        if secrets:
            raise UnsafeContentError("refusing to push files that look like secrets: " + "; ".join(secrets),
                                     "remove them or leave them out with --exclude PATTERN")
    return check


def _stage(folder: Path, t: RemoteTarget, *, checkpoint, best_by, include, exclude, allow_pickle, convert,
           record, catalog, progress, cancel, on_hashed=None):
    from .push_source import stage

    if not folder.is_dir():
        raise NotFoundError(f"{folder} is not a directory", "push a model folder (config, weights, tokenizer)")
    if (folder / "README.md").is_file() and checkpoint is None:
        _check_existing_card(folder)
    return stage(folder, repo_id=t.location if t.kind == KIND_HUB else None,  # a Hub id loads with from_pretrained
                 checkpoint=checkpoint, best_by=best_by, include=include, exclude=exclude, convert=convert,
                 check=_refuse_unsafe(allow_pickle), record_conversion=record, catalog=catalog,
                 on_hashed=on_hashed, progress=progress, cancel=cancel)


class _EarlyUpload:
    """Uploads each file the plan will upload as soon as its sha256 is known, on a remote that can
    begin a push (``begin_push``: the Hub); nothing of it is visible until the commit. The remote's
    state (branch tip and files) is read in a thread meanwhile, so hashing starts at once."""

    def __init__(self, remote: "Remote", state: "Future", *, branch, private, create_pr, progress, cancel) -> None:
        self._remote, self._state, self.session = remote, state, None
        self._options = dict(revision=branch, check_base=True, private=private, create_pr=create_pr,
                             progress=progress, cancel=cancel)

    def __call__(self, rel: str, file: Path, size: int, sha: str) -> None:
        base_commit, remote_files = self._state.result()
        rf = remote_files.get(rel)
        if rf is not None and _same_content(file, sha, rf, size):  # the plan's own test (_plan)
            return
        if self.session is None:
            self.session = self._remote.begin_push(base_commit=base_commit, **self._options)
            self.session.start()  # checks passed (hashing comes after them): repo and branch get ready
        self.session.offer(rel, file, size, sha)

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


def _remote_state(remote: "Remote", branch: str | None) -> tuple[str | None, dict[str, RemoteFile]]:
    """The branch tip the plan is made against and its files. A push landing after this read makes
    the plan stale: the commit names this tip as its parent, so the remote refuses it."""
    try:
        base_commit = remote.resolve_revision(branch)
        return base_commit, {f.path: f for f in remote.list_files(base_commit)}
    except RemoteNotFoundError:
        return None, {}  # a new repository or branch: everything is new


def _plan(staged, t: RemoteTarget, remote: "Remote", branch: str | None, base_commit: str | None,
          remote_files: dict[str, RemoteFile], *, include, exclude, delete, mirror, cancel) -> PushPlan:
    """Compare the staged files with the remote revision; changes nothing."""
    upload, skip = [], []
    for rel, file in sorted(staged.files.items()):
        check_cancel(cancel)
        size, sha = staged.hashes[rel]
        rf = remote_files.get(rel)
        origin = staged.origins.get(rel)
        if rf is not None and _same_content(file, sha, rf, size):
            skip.append(PlanFile(rel, size, sha, "unchanged", origin))
        else:
            upload.append(PlanFile(rel, size, sha, "changed" if rf is not None else "new", origin))
    doomed = remote_deletions(remote_files.values(), staged.files, include=include, exclude=exclude,
                              delete=tuple(delete), mirror=mirror)
    gone = {f.path for f in doomed}
    kept_remote = tuple(PlanFile(rf.path, rf.size, rf.sha256, "kept") for path, rf in sorted(remote_files.items())
                        if path not in staged.files and path not in gone)
    return PushPlan(
        path=str(staged.folder), target=RemoteTarget(t.kind, t.location, branch).display, remote=remote.name,
        kind=t.kind, revision=branch, base_commit=base_commit, upload=tuple(upload), skip=tuple(skip),
        delete=doomed, bytes_to_upload=sum(f.size for f in upload),
        bytes_skipped=sum(f.size for f in skip), warnings=tuple(staged.warnings), kept_remote=kept_remote,
        source=str(staged.source), checkpoint=str(staged.checkpoint) if staged.checkpoint else None,
        checkpoint_reason=staged.checkpoint_reason, left_out=tuple(staged.left_out),
        bytes_hashed=staged.bytes_hashed,
    )


def plan_push(path: str | os.PathLike[str], target: RemoteTarget | str, **options) -> PushPlan:
    """What ``push(path, target, **options)`` does: it runs this very staging and comparison, then stops.

    Changes nothing (no signature is made: signing needs the key, and the plan's files are the same).
    """
    options.setdefault("sign", "")
    return push(path, target, dry_run=True, **options).plan


def remote_deletions(remote_files: Iterable[RemoteFile], pushed: Iterable[str], *, include: tuple[str, ...] = (),
                     exclude: tuple[str, ...] = (), delete: tuple[str, ...] = (), mirror: bool = False
                     ) -> tuple[PlanFile, ...]:
    """Remote files this push removes: only what the user asked for, as ``hf upload`` does.

    ``delete`` patterns name remote files to remove; ``mirror`` removes every remote file the push
    does not hold (within --include/--exclude, so a partial push never wipes the rest). A file
    being uploaded is never also deleted; ``.gitattributes`` is never deleted.
    """
    keep = set(pushed)
    out = []
    for rf in remote_files:
        if rf.path in keep or rf.path in NEVER_DELETE:
            continue
        if (mirror and in_scope(rf.path, include, exclude)) or (delete and path_matches(rf.path, delete)):
            out.append(PlanFile(rf.path, rf.size, rf.sha256, "deleted"))
    return tuple(sorted(out, key=lambda f: f.path))


def _check_existing_card(folder: Path) -> None:
    """Refuse a README.md whose Hub metadata would not parse (cards module validates)."""
    card = folder / "README.md"
    text = card.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return
    from .hf import card as hub_card

    meta, _evals = hub_card.parse_card(text)
    hub_card.check_license(meta.get("license"))


def push(
    path: str | os.PathLike[str],
    target: RemoteTarget | str,
    *,
    checkpoint: str | None = None,
    best_by: str | None = None,
    revision: str | None = None,
    tag: str | None = None,
    private: bool = False,
    message: str | None = None,
    description: str | None = None,
    create_pr: bool = False,
    include: tuple[str, ...] | list[str] = (),
    exclude: tuple[str, ...] | list[str] = (),
    delete: tuple[str, ...] | list[str] = (),
    mirror: bool = False,
    allow_pickle: bool = False,
    convert: bool = False,
    dry_run: bool = False,
    force: bool = False,
    token: str | None = None,
    sign: str | os.PathLike[str] | None = None,
    catalog: "Catalog | None" = None,
    remote: "Remote | None" = None,
    progress: ProgressSink = no_progress,
    cancel: CancelToken | None = None,
) -> PushResult:
    """Push a model folder, a Trainer run (as ``Trainer.push_to_hub`` would) or one of its checkpoints.

    Only what changed is sent; an unchanged model makes no commit; nothing remote is deleted unless
    ``delete`` patterns or ``mirror`` ask. ``checkpoint``: best|last|N of a Trainer run (``best_by``:
    the metric). ``dry_run`` stops after the plan: the same staging (card, training_args.json,
    conversion, signature) and comparison run either way, so the plan is what runs.
    ``sign``: a private key (PEM); a ``model.sig`` over every file of the resulting release is pushed
    in the same commit (the config's ``[sign] key`` when None; ``False``-y empty string: never).
    """
    folder = Path(path).expanduser().resolve()
    include, exclude = tuple(include), tuple(exclude)
    t, remote = open_target(target, remote, token)
    branch = asked_revision(t, revision)
    sign_key = _signing_key(sign)
    if sign_key is not None:  # hubmgr writes model.sig itself; a stale one in the folder is not pushed
        from .trust import SIGNATURE_NAME

        exclude = (*exclude, SIGNATURE_NAME)
    scratch = None
    staged = None
    early = None
    if hasattr(remote, "preload"):  # before any worker thread: no two threads importing at a Ctrl-C
        remote.preload()
    reader = ThreadPoolExecutor(1, thread_name_prefix="push-remote-state")
    try:
        # The branch tip the plan is made against and its files, read while the files are hashed;
        # the commit is made against that tip only (a push landing meanwhile makes the remote refuse).
        state = reader.submit(_remote_state, remote, branch)
        if not dry_run and hasattr(remote, "begin_push"):
            early = _EarlyUpload(remote, state, branch=branch, private=private, create_pr=create_pr,
                                 progress=progress, cancel=cancel)
        staged = _stage(folder, t, checkpoint=checkpoint, best_by=best_by, include=include, exclude=exclude,
                        allow_pickle=allow_pickle, convert=convert, record=not dry_run, catalog=catalog,
                        progress=progress, cancel=cancel, on_hashed=early)
        base_commit, remote_files = state.result()
        plan = _plan(staged, t, remote, branch, base_commit, remote_files, include=include, exclude=exclude,
                     delete=delete, mirror=mirror, cancel=cancel)
        signed = None
        if sign_key is not None:
            from . import paths
            from .push_signing import sign_plan

            (paths.data_dir() / "staging").mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix="sign-", dir=paths.data_dir() / "staging"))
            signed = sign_plan(plan, remote=remote, private_key=sign_key, scratch=scratch, model_name=t.location)
            plan = signed.plan
        done = dict(card=staged.card_written, converted=staged.converted, warnings=list(plan.warnings),
                    signer=signed.signer if signed else None)
        if dry_run:
            return _result(folder, t, remote, plan, tag, commit=plan.base_commit, url=None, created=False, sent=0,
                           dry_run=True, **done)
        check_cancel(cancel)
        if not plan.changes and not tag and plan.base_commit is not None:
            outcome = None
        else:
            request = PushRequest(
                folder=str(staged.folder), upload=tuple(f.path for f in plan.upload),
                delete=tuple(f.path for f in plan.delete), keep=tuple(f.path for f in plan.skip),
                revision=plan.revision, sources=(*staged.sources, *(signed.sources if signed else ())),
                hashes=tuple((f.path, f.sha256) for f in plan.upload if f.sha256),
                message=message or _default_message(plan), description=description, tag=tag, private=private,
                create_pr=create_pr, force=force, base_commit=plan.base_commit, check_base=True,
            )
            outcome = (early.session.finish(request) if early is not None and early.session is not None
                       else remote.push(request, progress=progress, cancel=cancel))
        commit = outcome.commit_sha if outcome else plan.base_commit
        created = bool(outcome and outcome.created_commit)
        done["warnings"] += list(outcome.warnings) if outcome else []
        result = _result(folder, t, remote, plan, tag, commit=commit, url=outcome.commit_url if outcome else None,
                         created=created, sent=outcome.bytes_sent if outcome else 0, dry_run=False,
                         pr_url=outcome.pr_url if outcome else None, **done)
        if catalog is not None and commit:
            try:
                _record_push(catalog, staged.source, remote, t, plan, tag, commit, result, created, staged.converted)
            except KeyboardInterrupt:  # the commit exists: say so rather than a bare "interrupted"
                raise CancelledError(f"interrupted after commit {commit} was pushed to {plan.target} (it is "
                                     "there; not recorded in the catalog)", "nothing to redo") from None
        return result
    finally:
        reader.shutdown(wait=False)
        if early is not None:
            early.close()
        if staged is not None:
            staged.cleanup()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _record_push(catalog: "Catalog", source: Path, remote: "Remote", t: RemoteTarget, plan: PushPlan,
                 tag: str | None, commit: str, result: PushResult, created: bool, converted) -> None:
    """Recorded under the dir the model came from (the checkpoint-N dir with --checkpoint: gc keeps it)."""
    catalog.record_push(
        checkpoint_path=str(source), remote=remote.name, repo=t.location, revision=plan.revision, tag=tag,
        commit_sha=commit, url=result.commit_url,
        details={"created_commit": created, "files_uploaded": len(result.files_uploaded),
                 "files_skipped": len(result.files_skipped), "bytes_sent": result.bytes_sent,
                 "converted": list(converted), "signed_by": result.signed_by,
                 # what the remote now holds, so sync_state.py can tell "modified" by content later
                 "files": [{"path": f.path, "sha256": f.sha256} for f in plan.files]},
    )


def _default_message(plan: PushPlan) -> str:
    n_up, n_del = len(plan.upload), len(plan.delete)
    parts = []
    if n_up:
        names = ", ".join(f.path for f in plan.upload[:3]) + (" ..." if n_up > 3 else "")
        parts.append(f"upload {n_up} file{'s' * (n_up != 1)} ({names})")
    if n_del:
        parts.append(f"delete {n_del} file{'s' * (n_del != 1)}")
    return "hubmgr push: " + ("; ".join(parts) if parts else "tag only")


def _result(folder: Path, t: RemoteTarget, remote: "Remote", plan: PushPlan, tag: str | None, *, commit, url,
            created: bool, sent: int, dry_run: bool, card: bool, converted, warnings, pr_url=None,
            signer: str | None = None) -> PushResult:
    uploaded = tuple(f.path for f in plan.upload) if (created or dry_run) else ()
    return PushResult(
        path=str(folder), target=plan.target, remote=remote.name, revision=plan.revision, tag=tag,
        commit_sha=commit, commit_url=url, created_commit=created, files_uploaded=uploaded,
        files_skipped=tuple(f.path for f in plan.skip),
        files_deleted=tuple(f.path for f in plan.delete) if (created or dry_run) else (),
        bytes_sent=sent, dry_run=dry_run, plan=plan, card_written=card, converted=tuple(converted),
        pr_url=pr_url, signed_by=signer, warnings=tuple(dict.fromkeys(warnings)),
    )


def _signing_key(sign) -> str | None:
    """--sign KEY, else the config's [sign] key; an empty string turns signing off."""
    if sign is not None:
        return str(sign) or None
    from .config import load_settings

    key = load_settings().sign_key
    return str(key) if key else None

