"""The ``hubmgr`` command line. A thin layer over the core: parse, call one core
function, hand its ``*Result`` to ``output``. ``main()`` is the only error boundary.

Exit codes: 0 ok, 1 failed, 2 usage, 3 remote/auth, 130 interrupted.
``HUBMGR_DEBUG=1`` adds tracebacks to handled errors.
"""

from __future__ import annotations

import os
import sys

import click

from ..errors import ENVIRONMENT_ERRNOS, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_USAGE, HubmgrError, local_os_error
from .output import print_error
from .root import cli

# Each module adds its commands to ``cli`` when imported. One module per area,
# so features can grow without touching each other.
from . import scan_cmds  # noqa: F401,E402  scan, ls, inspect
from . import convert_cmds  # noqa: F401,E402  convert
from . import eval_cmds  # noqa: F401,E402  eval, card, compare
from . import sync_cmds  # noqa: F401,E402  push, pull, rollback, status, remote
from . import guard_cmds  # noqa: F401,E402  guard
from . import gc_cmds  # noqa: F401,E402  gc
from . import app_cmds  # noqa: F401,E402  demo
from . import tui_cmds  # noqa: F401,E402  tui
from . import trust_cmds  # noqa: F401,E402  keygen
from . import serve_cmds  # noqa: F401,E402  serve


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so the same cleanups run."""


def _raise_terminated(signum, frame) -> None:  # noqa: ANN001
    raise Terminated()


def raise_interrupts() -> None:
    """SIGINT -> KeyboardInterrupt, SIGTERM -> Terminated (main thread of the process only)."""
    import signal

    for signum, handler in ((signal.SIGINT, signal.default_int_handler), (signal.SIGTERM, _raise_terminated)):
        if signal.getsignal(signum) is not signal.SIG_IGN:
            signal.signal(signum, handler)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    args = sys.argv[1:] if argv is None else argv
    json_mode = "--json" in args
    try:
        # With standalone_mode=False click returns the code of `raise click.exceptions.Exit(n)`.
        code = cli.main(args=args, prog_name="hubmgr", standalone_mode=False)
    except HubmgrError as exc:
        print_error(exc, json_mode=json_mode)
        if os.environ.get("HUBMGR_DEBUG") == "1":
            import traceback

            traceback.print_exc()
        sys.exit(exc.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:
        # click turns KeyboardInterrupt into Abort (after a newline that ends the terminal's ^C)
        if isinstance(exc, Terminated) or isinstance(exc.__cause__, Terminated):
            click.echo("terminated", err=True)
            sys.exit(128 + 15)
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except OSError as exc:
        # the environment, not a bug: a full disk, a read-only or unwritable directory
        if exc.errno not in ENVIRONMENT_ERRNOS:
            raise
        print_error(local_os_error(exc, "local file system error"), json_mode=json_mode)
        sys.exit(EXIT_FAILED)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE if isinstance(exc, click.UsageError) else EXIT_FAILED)
    sys.exit(code if type(code) is int else 0)


__all__ = ["cli", "main", "raise_interrupts"]
