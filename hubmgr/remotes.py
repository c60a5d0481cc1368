"""Remotes: where models are pushed to and pulled from.

The backends live in ``hubmgr.hf`` (the only importer of ``huggingface_hub``) and ``hubmgr.git``
(the only spawner of git); each declares itself here in ``BACKENDS``: its kind, the spec forms it
owns, its help lines and capabilities (``fills_hf_cache``). A remote is addressed by a *target
spec* string (what the user types):

=============================  ======  ===========================================
spec                           kind    location
=============================  ======  ===========================================
``alice/tiny-gpt2`` or         hub     repo id on the Hub (``HF_ENDPOINT`` / config endpoint)
``hub:alice/tiny-gpt2``,
``hf://alice/tiny-gpt2``,
``https://huggingface.co/alice/tiny-gpt2[/tree/REV]``
``local:NAME``                 local   bare repo ``<registry_dir>/NAME.git`` (embedded default)
``git+URL``, ``file:///x.git``, git     any git remote with Git LFS
``git@host:org/r.git``,
``ssh://...``, ``https://...``,
an existing bare-repo path
=============================  ======  ===========================================

Any spec may end in ``@REV`` (branch, tag or commit sha), e.g. ``local:demo@v1``.
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Protocol

from .errors import HubmgrError, UsageError
from .models import JsonMixin
from .progress import CancelToken, ProgressSink, no_progress

if TYPE_CHECKING:
    from .config import Settings
    from .formats.hashing import FileDigest

KIND_HUB = "hub"
KIND_GIT = "git"
KIND_LOCAL = "local"

_REPO_ID_RE = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_GIT_URL_PREFIXES = ("file://", "ssh://", "git://", "http://", "https://")
_SCP_LIKE_RE = re.compile(r"^[\w.-]+@[\w.-]+:")  # git@github.com:org/repo.git
# Web addresses of the Hub that users copy from the browser; huggingface.co is the Hub, not a git host.
_HUB_WEB_RE = re.compile(r"^https?://(?:www\.)?(?:huggingface\.co|hf\.co)/(?P<rest>.*)$")
_HUB_REPO_TYPES = ("datasets/", "spaces/")


@dataclass(frozen=True)
class RemoteTarget(JsonMixin):
    kind: str  # hub | git | local
    location: str  # repo id, git URL, or registry name
    revision: str | None = None  # as asked ("main", "v1", a sha); None = default branch

    @property
    def display(self) -> str:
        base = f"{backend_for(self.kind).display_prefix}{self.location}"
        return f"{base}@{self.revision}" if self.revision else base


def _split_revision(spec: str) -> tuple[str, str | None]:
    """'x@v1' -> ('x', 'v1'); the '@' of 'git@host:...' is not a revision separator."""
    at = spec.rfind("@")
    if at <= 0 or at < spec.rfind("/") or at < spec.rfind(":"):
        return spec, None
    return spec[:at], spec[at + 1:] or None


def _parse_local(text: str) -> RemoteTarget | None:
    if not text.startswith("local:"):
        return None
    name, rev = _split_revision(text[len("local:"):])
    if not re.fullmatch(r"[\w.-]+(/[\w.-]+)?", name or ""):
        raise UsageError(f"bad local registry name: {name!r}", "use letters, digits, '.', '-' or '_'")
    return RemoteTarget(KIND_LOCAL, name.removesuffix(".git"), rev)


def _parse_hub(text: str) -> RemoteTarget | None:
    if text.startswith(("hub:", "hf://")):
        repo, rev = _split_revision(text.split(":", 1)[1].removeprefix("//"))
        return _hub_target(repo, rev)
    web = _HUB_WEB_RE.match(text)
    return _hub_web_target(web.group("rest")) if web else None


def _guess_hub(text: str) -> RemoteTarget | None:
    base, rev = _split_revision(text)
    return RemoteTarget(KIND_HUB, base, rev) if _REPO_ID_RE.match(base) else None


def _parse_git(text: str) -> RemoteTarget | None:
    if text.startswith("git+"):
        url, rev = _split_revision(text[len("git+"):])
        return RemoteTarget(KIND_GIT, url, rev)
    if text.startswith(_GIT_URL_PREFIXES) or _SCP_LIKE_RE.match(text):
        url, rev = _split_revision(text)
        return RemoteTarget(KIND_GIT, url, rev)
    return None


def _guess_git(text: str) -> RemoteTarget | None:
    base, rev = _split_revision(text)
    if base.startswith(("/", "./", "../", "~")) or base.endswith(".git") or Path(base).expanduser().is_dir():
        return RemoteTarget(KIND_GIT, str(Path(base).expanduser().resolve()), rev)
    return None


def parse_target(spec: str) -> RemoteTarget:
    """Parse what the user typed into a ``RemoteTarget``: first every backend's explicit forms
    (prefixes, URLs), then the implicit ones in ``guess_rank`` order (a local path before a repo id)."""
    text = spec.strip()
    if not text:
        raise UsageError("empty remote", "give a repo id (alice/model), local:NAME or a git URL")
    for backend in BACKENDS:
        target = backend.parse(text)
        if target is not None:
            return target
    for backend in sorted((b for b in BACKENDS if b.guess), key=lambda b: b.guess_rank):
        target = backend.guess(text)
        if target is not None:
            return target
    raise UsageError(
        f"cannot tell what remote {spec!r} is",
        "use a Hub repo id (alice/model), local:NAME, or a git URL (git+URL, file:///..., git@host:org/repo.git)",
    )


def _hub_target(repo: str, rev: str | None) -> RemoteTarget:
    if repo.startswith(_HUB_REPO_TYPES):
        raise UsageError(f"{repo!r} is not a model repo", "hubmgr pushes and pulls model repos (namespace/name)")
    repo = repo.rstrip("/")
    if not _REPO_ID_RE.match(repo):
        raise UsageError(f"bad Hub repo id: {repo!r}", "write it as namespace/name, e.g. alice/tiny-gpt2")
    return RemoteTarget(KIND_HUB, repo, rev)


def _hub_web_target(rest: str) -> RemoteTarget:
    """``ORG/NAME``, ``ORG/NAME/tree/REV`` (REV may hold '/', or be %-quoted like refs%2Fpr%2F1)."""
    from urllib.parse import unquote

    parts = rest.split("?", 1)[0].split("#", 1)[0].rstrip("/").split("/")
    if f"{parts[0]}/" in _HUB_REPO_TYPES:
        return _hub_target(rest, None)  # refused there: not a model repo
    repo, tail = "/".join(parts[:2]).removesuffix(".git"), parts[2:]  # .git: the clone address
    if not tail:
        return _hub_target(repo, None)
    if tail[0] == "tree" and len(tail) > 1:
        return _hub_target(repo, unquote("/".join(tail[1:])))
    raise UsageError(f"cannot use the page https://huggingface.co/{rest} as a repo",
                     "give the repo address (https://huggingface.co/ORG/NAME) or ORG/NAME@REV")


# --- what a remote reports ---------------------------------------------------


@dataclass(frozen=True)
class RemoteFile(JsonMixin):
    path: str  # posix, relative to the repo root
    size: int
    sha256: str | None = None  # LFS oid (sha256 of the content) when the remote knows it
    git_oid: str | None = None  # git blob sha1 of what git stores (the pointer, for LFS files)
    is_lfs: bool = False


@dataclass(frozen=True)
class RemoteRef(JsonMixin):
    name: str  # "main", "v1"
    kind: str  # "branch" | "tag"
    commit_sha: str


@dataclass(frozen=True)
class RemoteCommit(JsonMixin):
    sha: str
    title: str
    date: str  # ISO 8601
    author: str | None = None


@dataclass(frozen=True)
class PushRequest(JsonMixin):
    """Everything a remote needs to make ``revision`` hold the files of ``folder``.

    ``upload`` are the files whose content differs from the remote (relative paths);
    ``delete`` are remote files to remove. ``sync.plan_push`` computes both.
    """

    folder: str
    upload: tuple[str, ...]
    delete: tuple[str, ...] = ()
    keep: tuple[str, ...] = ()  # unchanged files that stay (git remotes need the full tree)
    revision: str | None = None  # branch; None = the remote's default branch
    message: str = "Upload with hubmgr"
    description: str | None = None  # commit body (the Hub's commit_description)
    tag: str | None = None
    private: bool = False
    create_pr: bool = False
    force: bool = False  # git only: allow a non-fast-forward push
    # The branch tip the plan was made against (None: the branch did not exist). With check_base the
    # remote refuses when the branch moved since (like the Hub's parent_commit): a stale plan would
    # keep the other push's files as "unchanged" and mix two models in one commit.
    base_commit: str | None = None
    check_base: bool = False
    # Files pushed from outside ``folder`` (generated ones: a signature, a card written to staging),
    # as (repo path, absolute local path). Nothing is ever written into the user's folder.
    sources: tuple[tuple[str, str], ...] = ()
    # (repo path, sha256) the plan already computed: a remote that needs a content hash reuses it
    # instead of reading the file a second time (each changed byte is hashed once per push).
    hashes: tuple[tuple[str, str], ...] = ()

    def local_path(self, rel: str) -> Path:
        """Where the bytes of repo path ``rel`` are on disk."""
        for path, local in self.sources:
            if path == rel:
                return Path(local)
        return Path(self.folder) / rel


@dataclass(frozen=True)
class PushOutcome(JsonMixin):
    commit_sha: str
    commit_url: str | None
    created_commit: bool  # False when nothing changed
    bytes_sent: int
    files_uploaded: tuple[str, ...] = ()
    pr_url: str | None = None
    extra: dict = field(default_factory=dict)
    warnings: tuple[str, ...] = ()  # e.g. the commit was made under hubmgr's stand-in git identity


class Remote(Protocol):
    """One repository on one remote. Implementations: hf.remote.HubRemote, git.remote.GitRemote."""

    target: RemoteTarget

    @property
    def name(self) -> str:
        """Stable text for the catalog, e.g. 'hub:alice/m' or 'local:demo' (never a token)."""
        ...

    def resolve_revision(self, revision: str | None) -> str:
        """Branch, tag or (short) sha -> full 40-hex commit sha. RemoteNotFoundError if absent."""
        ...

    def list_files(self, commit_sha: str) -> list[RemoteFile]:
        """Every file at that commit (recursive)."""
        ...

    def download(
        self, commit_sha: str, dest: Path, *, files: list[RemoteFile],
        progress: ProgressSink = no_progress, cancel: CancelToken | None = None,
        on_file: "Callable[[RemoteFile, FileDigest | None], None] | None" = None,
    ) -> None:
        """Write ``files`` of ``commit_sha`` under ``dest`` (a staging dir). Resume what is partial.

        ``on_file(f[, digest])`` is called (possibly from a worker thread) once ``f`` is complete at
        its final path, so the caller can verify it while later files still download. ``digest``:
        what the remote measured from the bytes as they arrived (size, sha256, git blob id when
        the remote knows no sha256); without it the caller reads the file. The caller (pull.py)
        verifies sizes and sha256 of every file, reported or not.
        """
        ...

    def push(self, request: PushRequest, *, progress: ProgressSink = no_progress,
             cancel: CancelToken | None = None) -> PushOutcome: ...

    def list_refs(self) -> list[RemoteRef]: ...

    def list_commits(self, revision: str | None = None, limit: int = 50) -> list[RemoteCommit]: ...


def open_remote(target: RemoteTarget | str, settings: "Settings | None" = None, *, token: str | None = None) -> Remote:
    """Build the remote for a target. Imports the backend lazily (hub needs huggingface_hub)."""
    from .config import load_settings

    if isinstance(target, str):
        target = parse_target(target)
    return backend_for(target.kind).open(target, settings or load_settings(), token)


# --- the backends ------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    """One kind of remote: how its specs look, how to open it, what it can do."""

    kind: str
    parse: Callable[[str], RemoteTarget | None]  # explicit spec forms it owns (a prefix, a URL), else None
    open: Callable[[RemoteTarget, "Settings", str | None], Remote]  # imports the implementation lazily
    help: tuple[tuple[str, str], ...]  # (spec forms, what they reach): lines of the push/pull --help
    display_prefix: str = ""  # how ``RemoteTarget.display`` spells the kind ("hub:", "local:")
    guess: Callable[[str], RemoteTarget | None] | None = None  # implicit forms (a path, a bare repo id)
    guess_rank: int = 0  # lower guesses first
    fills_hf_cache: bool = False  # ``pull --cache`` can fill the Hugging Face cache from it


def _open_hub(target: RemoteTarget, settings: "Settings", token: str | None) -> Remote:
    from .hf.remote import HubRemote

    return HubRemote(target, settings, token=token)


def _open_git(target: RemoteTarget, settings: "Settings", token: str | None) -> Remote:
    from .git.remote import GitRemote

    return GitRemote(target, settings)


BACKENDS: list[Backend] = [
    Backend(KIND_LOCAL, _parse_local, _open_git, display_prefix="local:", help=(
        ("local:NAME", "the embedded local registry ($HUBMGR_HOME/registry/NAME.git),"),
        ("", "created on first push: no server, no account, no network"))),
    Backend(KIND_HUB, _parse_hub, _open_hub, display_prefix="hub:", guess=_guess_hub, guess_rank=1,
            fills_hf_cache=True, help=(
                ("alice/model, hub:alice/model", "a Hugging Face Hub repo (HF_ENDPOINT, HF_TOKEN or --token);"),
                ("hf://alice/model", "also hf:// URIs and https://huggingface.co/alice/model[/tree/REV]"))),
    Backend(KIND_GIT, _parse_git, _open_git, guess=_guess_git, guess_rank=0, help=(
        ("git+URL, file:///x.git, /path/to/bare.git, git@host:org/r.git, https://host/r.git", ""),
        ("", "any git remote with Git LFS"))),
]


def backend_for(kind: str) -> Backend:
    for backend in BACKENDS:
        if backend.kind == kind:
            return backend
    raise UsageError(f"unknown remote kind {kind!r}", f"known: {', '.join(b.kind for b in BACKENDS)}")


def targets_help() -> str:
    """The "Targets:" block of ``push``/``pull --help``, from every backend's help lines."""
    lines = ["\b", "Targets:"]
    for backend in BACKENDS:
        for forms, text in backend.help:
            lines.append(f"  {forms:<28} {text}".rstrip() if len(forms) <= 28 else f"  {forms}")
    lines.append("  Append @REV for a branch, tag or commit: local:demo@v1")
    return "\n".join(lines)


def open_target(target: RemoteTarget | str, remote: "Remote | None" = None, token: str | None = None
                ) -> tuple[RemoteTarget, "Remote"]:
    """(target, remote): ``remote`` if given (tests, the TUI), else opened from the target."""
    t = parse_target(target) if isinstance(target, str) else target
    return t, remote if remote is not None else open_remote(t, token=token)


def asked_revision(target: RemoteTarget, revision: str | None) -> str | None:
    """The revision of ``SPEC@REV`` or ``--revision`` (giving two different ones is refused)."""
    if revision and target.revision and revision != target.revision:
        raise UsageError(f"two revisions given: {target.revision!r} in the target and --revision {revision!r}",
                         "give only one")
    return revision or target.revision


def path_matches(path: str, patterns: Iterable[str]) -> bool:
    """``--include``/``--exclude`` matching as ``hf`` does it: the repo path or its file name."""
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(name, p) for p in patterns)


def in_scope(path: str, include: tuple[str, ...] | list[str], exclude: tuple[str, ...] | list[str]) -> bool:
    if include and not path_matches(path, include):
        return False
    return not path_matches(path, exclude)


def branch_moved(remote_name: str, branch: str, expected: str | None, now: str | None) -> HubmgrError:
    """The refusal when a branch moved between the plan and the commit (every remote says the same)."""
    from .errors import ConflictError

    was = expected[:12] if expected else "no branch"
    is_ = now[:12] if now else "deleted"
    return ConflictError(f"{branch} on {remote_name} moved since the push was planned ({was} -> {is_}): "
                         "another push landed first; nothing was pushed",
                         "run the push again: it plans against the new tip (add --dry-run to see what changes)")

