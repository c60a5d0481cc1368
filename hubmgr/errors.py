"""Error types shared by every layer. Stdlib only.

A ``HubmgrError`` carries a one-line message and an optional hint saying what
to do next. The CLI's ``main()`` is the only place that turns them into output
and exit codes; the TUI turns them into notifications.
"""

from __future__ import annotations

import errno

# Documented exit codes of the CLI.
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_REMOTE = 3
EXIT_INTERRUPTED = 130


class HubmgrError(Exception):
    """An expected failure with a clear message for the user."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(HubmgrError):
    """Bad arguments or input the user can fix by calling differently."""

    exit_code = EXIT_USAGE


class NotFoundError(HubmgrError):
    """A local path, checkpoint, release or catalog entry does not exist."""


class CorruptFileError(HubmgrError):
    """A file is truncated, malformed, or not what its name says."""


class UnsafeContentError(HubmgrError):
    """Refused unsafe content: pickles that run code, files that look like secrets, remote paths
    escaping the destination. Not a usage error: calling differently does not make it safe (exit 1)."""


class UnsafePickleError(UnsafeContentError):
    """A pickle would import or call something outside the allow-list."""

    def __init__(self, message: str, hint: str | None = None, *, globals_: tuple[str, ...] = ()) -> None:
        super().__init__(message, hint)
        self.globals = globals_


class ConflictError(HubmgrError):
    """Refusing to overwrite or diverge: an output exists, a remote moved, etc."""


class VerificationError(HubmgrError):
    """Written or downloaded data does not match what it should be."""


class SignatureError(VerificationError):
    """A release's signature is missing, malformed, by an untrusted key, or does not match its files."""


class IncompleteReleaseError(HubmgrError):
    """A release lacks what a deploy needs (weights, config.json)."""


class DiskSpaceError(HubmgrError):
    """Not enough free space for the output."""


class LocalIOError(HubmgrError):
    """The local file system refused: read-only, no permission, not a directory."""


class MissingToolError(HubmgrError):
    """An external program (git, git-lfs) or optional library is not installed."""


class RemoteError(HubmgrError):
    """A remote (Hub, git server) failed or refused the request."""

    exit_code = EXIT_REMOTE


class AuthError(RemoteError):
    """Not logged in, bad token, or no access to the repository."""


class RemoteNotFoundError(RemoteError):
    """A remote repository, revision or file does not exist (or is private)."""


class CancelledError(HubmgrError):
    """The user cancelled the operation (Ctrl-C, Esc in the TUI)."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, message: str = "cancelled", hint: str | None = None) -> None:
        super().__init__(message, hint)


_OS_REASONS = {
    errno.ENOSPC: ("the disk is full", "free some space (or point the output at a bigger disk) and run it again"),
    errno.EDQUOT: ("the disk quota is exceeded", "free some space and run it again"),
    errno.EROFS: ("the file system is read-only", "use a writable directory"),
    errno.EACCES: ("permission denied", "use a directory you can write to, or fix its permissions"),
    errno.EPERM: ("operation not permitted", "use a directory you can write to, or fix its permissions"),
    errno.ENOTDIR: ("a part of the path is a file, not a directory", "check the path"),
    errno.EEXIST: ("a file is in the way", "move it aside and run it again"),
    errno.ENOENT: ("no such file or directory", "check the path"),
}
ENVIRONMENT_ERRNOS = frozenset(_OS_REASONS) - {errno.ENOENT, errno.EEXIST}


def local_os_error(exc: OSError, what: str) -> HubmgrError:
    """One line for an ``OSError`` of the local file system: ``what: reason (file)`` plus a hint.

    Disk full becomes ``DiskSpaceError``; everything else ``LocalIOError``. Both exit 1: a local
    problem, never "retry the remote".
    """
    reason, hint = _OS_REASONS.get(exc.errno or 0, (exc.strerror or str(exc), None))
    where = f" ({exc.filename})" if exc.filename else ""
    cls = DiskSpaceError if exc.errno in (errno.ENOSPC, errno.EDQUOT) else LocalIOError
    return cls(f"{what}: {reason}{where}", hint)
