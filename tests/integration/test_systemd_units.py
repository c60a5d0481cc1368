"""The shipped systemd units run as written: their ExecStart lines, with paths and port substituted,
bring up a deploy host that serves what the followed tag points at (README "Deploy")."""

from __future__ import annotations

import configparser
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from serve_helpers import http, publish

UNITS = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
HUBMGR = str(Path(sys.executable).with_name("hubmgr"))


def exec_start(unit: str, dest: Path, port: int) -> list[str]:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read(UNITS / unit)
    line = parser["Service"]["ExecStart"]
    line = line.replace("/opt/hubmgr/.venv/bin/hubmgr", HUBMGR).replace("/srv/model", str(dest))
    return shlex.split(line.replace(":8000", f":{port}").replace("--port 8000", f"--port {port}"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_units_serve_and_follow(run_cli, tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    dest, port = tmp_path / "srv" / "model", free_port()
    serve_cmd = exec_start("hubmgr-serve.service", dest, port)
    follow_cmd = exec_start("hubmgr-follow.service", dest, port)
    assert serve_cmd[1:3] == ["serve", "--dest"] and "--follow" in follow_cmd and "1 + 1 =" in follow_cmd

    server = subprocess.Popen(serve_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # before any pull
    try:
        assert server.stdout.readline().startswith(f"hubmgr serve: http://127.0.0.1:{port}/v1")
        v1 = publish(run_cli, tiny_gpt2_dir, tmp_path, readme="v1", tag="prod")
        first = subprocess.run(follow_cmd + ["--once"], capture_output=True, text=True, timeout=300)
        assert first.returncode == 0, first.stdout + first.stderr
        assert [line.split()[1] for line in first.stdout.splitlines()] == ["pulled", "smoke-passed", "live", "ready"]
        v2 = publish(run_cli, tiny_gpt2_dir, tmp_path, readme="v2", tag="prod")
        second = subprocess.run(follow_cmd + ["--once"], capture_output=True, text=True, timeout=300)
        assert second.returncode == 0 and "ready" in second.stdout, second.stdout + second.stderr
        status, headers, _ = http(f"http://127.0.0.1:{port}/v1/completions", {"prompt": "1 + 1 =", "max_tokens": 2})
        assert status == 200 and headers["x-hubmgr-release"] == v2 != v1
    finally:
        server.send_signal(signal.SIGTERM)  # KillSignal=SIGTERM
        _, err = server.communicate(timeout=60)  # TimeoutStopSec=60
    assert server.returncode == 0, err
    assert "nothing live" in err and f"live: release {v2[:12]}" in err
