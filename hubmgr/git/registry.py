"""The embedded local registry: bare git repos (with Git LFS) under ``Settings.registry_dir``.

``local:NAME`` is ``<registry_dir>/NAME.git`` (``$HUBMGR_HOME/registry`` by default), created on
the first push. Git LFS reaches it through git-lfs's standalone file transfer for ``file://``
URLs, so it needs no server, no network and no account.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import RemoteNotFoundError
from ..models import RegistryListing, RegistryRepo
from .cmd import git_text, run_git

if TYPE_CHECKING:
    from ..config import Settings


def repo_path(settings: "Settings", name: str) -> Path:
    return Path(settings.registry_dir) / f"{name}.git"


def repo_url(settings: "Settings", name: str) -> str:
    return repo_path(settings, name).resolve().as_uri()


def exists(settings: "Settings", name: str) -> bool:
    return (repo_path(settings, name) / "HEAD").is_file()


def ensure_repo(settings: "Settings", name: str) -> Path:
    """Create ``local:NAME`` as an empty bare repo (default branch main) if it does not exist."""
    path = repo_path(settings, name)
    if not exists(settings, name):
        path.parent.mkdir(parents=True, exist_ok=True)
        run_git(["init", "-q", "--bare", str(path)], lfs=True)  # LFS_CONFIG sets init.defaultBranch=main
    return path


def require_repo(settings: "Settings", name: str) -> Path:
    if not exists(settings, name):
        raise RemoteNotFoundError(f"no repository local:{name} in the registry {settings.registry_dir}",
                                  f"push one first (hubmgr push PATH local:{name}); list them: hubmgr remote repos")
    return repo_path(settings, name)


def _describe(path: Path, name: str) -> RegistryRepo:
    out = git_text(["--git-dir", str(path), "for-each-ref", "--format=%(refname) %(objectname)",
                    "refs/heads/", "refs/tags/"], lfs=False)
    branches, tags = [], []
    for line in out.splitlines():
        ref, _, _sha = line.partition(" ")
        if ref.startswith("refs/heads/"):
            branches.append(ref[len("refs/heads/"):])
        elif ref.startswith("refs/tags/"):
            tags.append(ref[len("refs/tags/"):])
    head = run_git(["--git-dir", str(path), "rev-parse", "-q", "--verify", "HEAD^{commit}"], check=False, lfs=False)
    head_sha = head.stdout.decode().strip() or None if head.returncode == 0 else None
    return RegistryRepo(name=f"local:{name}", path=str(path), branches=tuple(branches), tags=tuple(tags),
                        head_sha=head_sha)


def list_repos(settings: "Settings") -> RegistryListing:
    """Every repo in the registry (``org/name.git`` nesting allowed)."""
    root = Path(settings.registry_dir)
    repos = []
    if root.is_dir():
        for path in sorted(root.rglob("*.git")):
            if (path / "HEAD").is_file():
                name = path.relative_to(root).as_posix().removesuffix(".git")
                repos.append(_describe(path, name))
    return RegistryListing(registry_dir=str(root), repos=tuple(repos))
