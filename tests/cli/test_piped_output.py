"""Tables piped into another program (stdout not a terminal) are complete: tab-separated, with a header.

A real subprocess of the installed ``hubmgr`` with stdout a pipe, as in ``hubmgr ls | cat``.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

HUBMGR = Path(sys.executable).with_name("hubmgr")
LONG = "gpt2-arithmetic-finetune-lr3e-4-warmup500-epoch12-final"  # longer than any terminal column


def _safetensors(path: Path, n: int) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}).encode()
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\0" * (4 * n))


def hubmgr_piped(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "60"}  # a narrow terminal would have cut columns before
    return subprocess.run([str(HUBMGR), *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120)


def test_ls_piped_is_complete_tsv(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    _safetensors(ws / f"{LONG}.safetensors", 109_000)
    scanned = hubmgr_piped("scan", cwd=ws)
    assert scanned.returncode == 0, scanned.stderr
    listed = hubmgr_piped("ls", cwd=ws)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    header = lines[0].split("\t")
    assert header == ["name", "kind", "format", "size", "params", "step", "best metric", "safety", "sync"]
    row = dict(zip(header, lines[1].split("\t")))
    assert row["name"] == f"{LONG}.safetensors"  # whole, no ellipsis, no cut
    assert row["size"] == "436.1 KB" and row["params"] == "109.0K"
    assert row["sync"] == "local only" and row["safety"] == "not_pickle"
    assert "[" not in listed.stdout and "\x1b" not in listed.stdout  # no markup, no colour codes
