"""Issue 13 point 9: names from files never reach the terminal raw (CLI tables and messages, TUI
cells); --json keeps the raw strings. A crafted file cannot make the table show `safety safe`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hubmgr.testing import hostile_files as hf

pytest.importorskip("torch")

# Each tries to redraw the verdict line: cursor up + erase line, carriage return, a newline, rich
# markup, a right-to-left override, an OSC hyperlink.
CRAFTED = [
    "\x1b[1A\x1b[2K  safety       safe",
    "w\r  safety       safe          ",
    "w\n  safety       safe",
    "[green]safe[/green][/]",
    "\u202eefas ytefas",
    "\x1b]8;;http://x\x07link\x1b]8;;\x07",
]
FAKE_SAFE = re.compile(r"^\s*safety\s+(\[[^\]]*\])?safe\b", re.MULTILINE)


def _crafted_checkpoint(path: Path) -> Path:
    views = {name: (0, (2,), (1,)) for name in CRAFTED}
    return hf.write_torch_with_views(path, views, extra={"\x1b[32mevil": hf.RunsShell("true")})


def _assert_inert(text: str) -> None:
    assert "\x1b" not in text and "\r" not in text and "\u202e" not in text and "\x07" not in text
    assert not FAKE_SAFE.search(text), text


def test_inspect_escapes_names_and_json_keeps_them(tmp_path: Path, run_cli) -> None:
    src = _crafted_checkpoint(tmp_path / "evil\x1b[2J.pth")
    shown = run_cli("inspect", str(src), "--all-tensors")
    assert shown.exit_code == 0, shown.stderr
    _assert_inert(shown.stdout + shown.stderr)
    assert re.search(r"^\s*safety\s+unsafe", shown.stdout, re.MULTILINE)
    assert "\\x1b[1A\\x1b[2K  safety       safe" in shown.stdout  # visible, escaped
    assert "[green]safe[/green]" in shown.stdout  # markup shown as text, not applied

    raw = run_cli("inspect", str(src), "--json")
    doc = json.loads(raw.stdout)
    assert {t["name"] for t in doc["tensors"]} == set(CRAFTED)
    assert doc["path"].endswith("evil\x1b[2J.pth") and doc["safety"]["verdict"] == "unsafe"


def test_scan_and_ls_tables_escape_file_names(tmp_path: Path, run_cli) -> None:
    _crafted_checkpoint(tmp_path / "runs" / "x\x1b[1A\x1b[2Kok\rsafe.pth")
    scanned = run_cli("scan", str(tmp_path / "runs"))
    assert scanned.exit_code == 0, scanned.stderr
    listed = run_cli("ls")
    for run in (scanned, listed):
        _assert_inert(run.stdout + run.stderr)
    assert "unsafe" in listed.stdout and "\\x1b[1A" in listed.stdout


def test_error_messages_escape_names(tmp_path: Path, run_cli) -> None:
    src = hf.write_torch_with_views(tmp_path / "bad\x1b[2K.pth", {"\x1b[1Aw": (0, (4,), (-1,))})
    failed = run_cli("convert", str(src), "--out", str(tmp_path / "o.safetensors"))
    assert failed.exit_code == 1
    _assert_inert(failed.stdout + failed.stderr)
    assert "bad\\x1b[2K.pth" in failed.stderr
