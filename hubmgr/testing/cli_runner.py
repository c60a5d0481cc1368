"""Run the hubmgr CLI in-process, capturing stdout/stderr and the exit code (tests)."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass


@dataclass(frozen=True)
class CliRun:
    exit_code: int
    stdout: str
    stderr: str

    def json(self):
        import json

        return json.loads(self.stdout)


def run_cli(*args: str) -> CliRun:
    from hubmgr.cli import main, output

    out, err = io.StringIO(), io.StringIO()
    # The module-level consoles hold the real streams; point them at the buffers.
    saved = output.stdout, output.stderr
    output.stdout = output.make_console(file=out, width=200)
    output.stderr = output.make_console(file=err, width=200)
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        output.stdout, output.stderr = saved
    return CliRun(code, out.getvalue(), err.getvalue())
