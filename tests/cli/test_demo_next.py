"""The demo's "Next:" commands work as printed: ``hubmgr`` only when that is on PATH and is this one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hubmgr.cli.app_cmds import hubmgr_command

VENV_BIN = Path(sys.executable).parent


@pytest.mark.skipif(not (VENV_BIN / "hubmgr").is_file(), reason="needs the installed console script")
def test_next_command_runs_from_the_current_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(VENV_BIN.parent.parent)  # the project dir, where setup put .venv
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # setup does not put .venv/bin on PATH
    printed = hubmgr_command()
    assert printed != "hubmgr"
    run = subprocess.run([printed, "--version"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "hubmgr" in run.stdout

    monkeypatch.setenv("PATH", f"{VENV_BIN}{os.pathsep}/usr/bin:/bin")  # an activated venv
    assert hubmgr_command() == "hubmgr"
