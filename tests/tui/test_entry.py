"""Entry points: ``hubmgr tui [DIR]`` and ``python tui.py [DIR]``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_hubmgr_tui_help_lists_examples(run_cli) -> None:
    r = run_cli("tui", "--help")
    assert r.exit_code == 0
    assert "hubmgr tui runs/" in r.stdout and "python tui.py" in r.stdout


def test_hubmgr_tui_on_a_missing_dir_is_one_clear_error(run_cli, tmp_path: Path) -> None:
    r = run_cli("tui", str(tmp_path / "nope"))
    assert r.exit_code == 1
    assert "is not a directory" in r.stderr and "Traceback" not in r.stderr


def test_tui_py_is_a_thin_entry(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "tui.py"), str(tmp_path / "nope")], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1 and "is not a directory" in proc.stderr
    text = (ROOT / "tui.py").read_text()
    assert "from hubmgr.tui.app import main" in text and len(text.splitlines()) < 10


def test_bare_hubmgr_without_a_terminal_prints_help(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "hubmgr"], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0 and "Usage:" in proc.stdout and "hubmgr tui" in proc.stdout
