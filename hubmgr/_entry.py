"""The ``hubmgr`` console script. Stdlib only, so it is loaded before anything heavy.

Ctrl-C (SIGINT) and SIGTERM get a handler first thing: while the CLI is still importing
(click, rich, ... ~0.3 s) they print one line and exit 130 / 143 instead of a traceback.
Once the CLI is loaded, they raise ``KeyboardInterrupt`` so cleanups run, and ``cli.main``
turns that into the same one line. The only window left is the interpreter's own start
(before any Python code of ours runs).
"""

from __future__ import annotations

import os
import signal


def _exit_now(signum: int, frame: object) -> None:
    os.write(2, b"interrupted\n" if signum == signal.SIGINT else b"terminated\n")
    os._exit(128 + signum)


def _install(handler_int, handler_term) -> None:  # noqa: ANN001
    # a signal the parent set to "ignore" (a background job in a script) stays ignored
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, handler_int)
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN:
        signal.signal(signal.SIGTERM, handler_term)


def main() -> None:
    _install(_exit_now, _exit_now)
    from hubmgr.cli import main as cli_main, raise_interrupts

    raise_interrupts()
    try:
        cli_main()
    finally:  # the work is over (exit code decided): a late signal must not print a traceback
        _install(_exit_now, _exit_now)
