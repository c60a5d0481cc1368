"""Ctrl-C and SIGTERM: one line and exit 130/143 at any moment hubmgr's code runs, including while
the CLI is still importing; Ctrl-C after a Hub commit exists names the commit."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hubmgr.errors import CancelledError
from hubmgr.testing.faults import default_signals


@pytest.mark.parametrize("signame, code, line", [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "terminated")])
def test_a_signal_while_the_cli_is_still_importing_is_one_line(tmp_path: Path, signame: str, code: int,
                                                               line: str) -> None:
    # -X importtime prints a line as each module finishes: once click is in, hubmgr's entry point has
    # installed its handler and the heavy imports are under way
    proc = subprocess.Popen([sys.executable, "-X", "importtime", "-m", "hubmgr", "ls"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_signals,
                            env={**os.environ, "HUBMGR_HOME": str(tmp_path / "home")})
    seen = []
    for raw in proc.stderr:
        seen.append(raw)
        if re.search(r"\|\s+click$", raw.rstrip()):
            proc.send_signal(getattr(signal, signame))
            break
    rest = proc.stderr.read()
    proc.wait(30)
    assert any(re.search(r"\|\s+click$", s.rstrip()) for s in seen), "click was never imported"
    text = [ln for ln in rest.splitlines() if not ln.startswith("import time:")]
    assert proc.returncode == code, rest[-2000:]
    assert [ln for ln in text if ln.strip()] == [line]


def test_ctrl_c_after_the_hub_commit_exists_reports_the_commit(hub_server, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from hubmgr import sync
    from hubmgr.remotes import open_remote
    from hubmgr.testing.hub_server import ALICE_WRITE_TOKEN

    monkeypatch.setenv("HF_TOKEN", ALICE_WRITE_TOKEN)
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# m\n")

    def ctrl_c_when_the_upload_is_done(event) -> None:  # noqa: ANN001 - the user presses Ctrl-C right then
        if event.task == "push:alice/interrupted:files" and event.finished:
            raise KeyboardInterrupt

    with pytest.raises(CancelledError) as info:
        sync.push(folder, "alice/interrupted", progress=ctrl_c_when_the_upload_is_done)
    head = open_remote("alice/interrupted").resolve_revision("main")
    assert f"interrupted after commit {head}" in info.value.message and info.value.exit_code == 130
    assert {f.path for f in open_remote("alice/interrupted").list_files(head)} >= {"config.json", "README.md"}
