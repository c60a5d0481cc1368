"""Running ``git`` and ``git-lfs`` as subprocesses. The one place that spawns git.

Every call passes the Git LFS filter configuration explicitly, so hubmgr works
whether or not the user ever ran ``git lfs install`` (and in tests, whose HOME
is empty). Failures become ``HubmgrError``s with hints; the command line shown in
messages never contains credentials (URLs are redacted).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from typing import Sequence

from ..errors import AuthError, HubmgrError, MissingToolError, RemoteError, RemoteNotFoundError

# Equivalent to `git lfs install`, but per call and without touching any config file.
LFS_CONFIG = (
    "-c", "filter.lfs.clean=git-lfs clean -- %f",
    "-c", "filter.lfs.smudge=git-lfs smudge -- %f",
    "-c", "filter.lfs.process=git-lfs filter-process",
    "-c", "filter.lfs.required=true",
    "-c", "init.defaultBranch=main",
)

_CRED_RE = re.compile(r"(://)[^/@\s]+@")
_LOCK_FILE_RE = re.compile(r"Unable to create '([^']+\.lock)': File exists")
_HTTP_AUTH_RE = re.compile(r"(?<![0-9a-f])40[13](?![0-9a-f])")  # HTTP 401/403, not digits inside a sha


def redact(text: str) -> str:
    """Remove user:password@ from URLs in ``text``."""
    return _CRED_RE.sub(r"\1***@", text)


class GitError(HubmgrError):
    """A git command failed."""

    def __init__(self, message: str, hint: str | None = None, *, stderr: str = "", returncode: int = 1) -> None:
        super().__init__(message, hint)
        self.stderr = stderr
        self.returncode = returncode


def require_git() -> str:
    path = shutil.which("git")
    if not path:
        raise MissingToolError("git is not installed", "install it: apt-get install git")
    return path


def require_git_lfs() -> str:
    path = shutil.which("git-lfs")
    if not path:
        raise MissingToolError("git-lfs is not installed", "install it: apt-get install git-lfs")
    return path


def _base_env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GIT_TERMINAL_PROMPT", "0")  # never hang on a password prompt
    env.setdefault("GIT_LFS_SKIP_PUSH_LOCK_VERIFY", "1")  # file:// remotes have no lock API
    if extra:
        env.update(extra)
    return env


def run_git(
    args: Sequence[str],
    *,
    cwd: str | os.PathLike[str] | None = None,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    check: bool = True,
    lfs: bool = True,
    timeout: float | None = None,
    pass_fds: Sequence[int] = (),
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git ARGS``; raise a ``GitError`` (or a more specific ``HubmgrError``) on failure.

    ``pass_fds``: descriptors git inherits, e.g. a held flock, so a git orphaned by a killed
    hubmgr keeps the lock until it exits.
    """
    git = require_git()
    if lfs:
        require_git_lfs()
    cmd = [git, *(LFS_CONFIG if lfs else ()), *args]
    try:
        proc = subprocess.run(cmd, cwd=cwd, env=_base_env(env), input=input, capture_output=True, timeout=timeout,
                              pass_fds=tuple(pass_fds))
    except subprocess.TimeoutExpired as exc:
        raise RemoteError(f"git {args[0]} timed out after {timeout:.0f}s", "check the remote is reachable") from exc
    if check and proc.returncode != 0:
        raise classify_git_failure(args, proc.stderr.decode(errors="replace"), proc.returncode, cwd)
    return proc


def commit_identity(git_env: dict[str, str]) -> tuple[dict[str, str], str | None]:
    """Who a commit hubmgr makes is by: ``({}, None)`` when git knows the user (user.name/user.email,
    GIT_AUTHOR_*), else hubmgr's stand-in identity as environment variables and a warning.

    git refuses to commit without one ("unable to auto-detect email address"), which a fresh host or
    container often is; a model push should not fail on it, but the user should know."""
    author = run_git(["var", "GIT_AUTHOR_IDENT"], env=git_env, check=False, lfs=False)
    committer = run_git(["var", "GIT_COMMITTER_IDENT"], env=git_env, check=False, lfs=False)
    if author.returncode == 0 and committer.returncode == 0:
        return {}, None
    import getpass

    try:
        user = getpass.getuser() or "hubmgr"
    except (KeyError, OSError):  # no passwd entry for this uid (some containers)
        user = "hubmgr"
    name, email = f"{user} (hubmgr)", f"{user}@hubmgr.invalid"
    env = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name,
           "GIT_COMMITTER_EMAIL": email}
    return env, (f"git has no user.name/user.email here: the commit is by '{name} <{email}>' "
                 "(git config --global user.email you@example.com, and user.name, to sign your own)")


def nul_paths(paths: Sequence[str]) -> bytes:
    """Paths as git's ``-z`` stdin wants them (NUL-terminated, any bytes the file system allows)."""
    return b"".join(p.encode("utf-8", errors="surrogateescape") + b"\0" for p in paths)


def git_text(args: Sequence[str], **kwargs) -> str:
    """stdout of a git command as stripped text."""
    return run_git(args, **kwargs).stdout.decode(errors="replace").strip()


def classify_git_failure(args: Sequence[str], stderr: str, returncode: int, cwd=None) -> HubmgrError:
    """Map git's stderr to one clear error with a hint."""
    text = redact(stderr.strip())
    last = next((ln for ln in reversed(text.splitlines()) if ln.strip()), "") if text else ""
    cmd = "git " + " ".join(redact(str(a)) for a in args[:2])
    low = text.lower()
    if "not a git repository" in low:
        where = f" {cwd}" if cwd else ""
        return GitError(f"not a git repository:{where}", "run it inside a git repository, or `git init` first",
                        stderr=text, returncode=returncode)
    if any(s in low for s in ("authentication failed", "permission denied", "could not read username",
                              "terminal prompts disabled")) or _HTTP_AUTH_RE.search(low):
        return AuthError(f"{cmd}: authentication failed ({last})",
                         "check your credentials (ssh key or credential helper) and your access to the repository")
    if any(s in low for s in ("does not appear to be a git repository", "repository not found",
                              "could not read from remote repository", "no such file or directory")):
        return RemoteNotFoundError(f"{cmd}: remote repository not found ({last})",
                                   "check the URL, or create the repository first")
    locked = _LOCK_FILE_RE.search(text)
    if locked:
        lock_file = os.path.normpath(locked.group(1))
        return GitError(f"{cmd}: {lock_file} exists (left by a git process that was killed, or one still running)",
                        f"if no git or hubmgr process is using it, remove it: rm {lock_file}",
                        stderr=text, returncode=returncode)
    if "non-fast-forward" in low or "fetch first" in low or "rejected" in low and "(fetch first)" in low:
        return GitError(f"{cmd}: the remote has commits you do not have (diverged)",
                        "pull or inspect the remote first; hubmgr never force-pushes unless you pass --force",
                        stderr=text, returncode=returncode)
    return GitError(f"{cmd} failed: {last or 'exit ' + str(returncode)}", None, stderr=text, returncode=returncode)

