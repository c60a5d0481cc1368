"""kill -9 of a real ``hubmgr convert`` process mid-write: nothing under the final name, and the
next run removes the stray temp output."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hubmgr.convert import convert_checkpoint
from hubmgr.testing.faults import default_signals


@pytest.fixture(scope="module")
def big_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~200 MB fp32 state_dict in 25 tensors: a write that lasts long enough to be interrupted."""
    path = tmp_path_factory.mktemp("big") / "big.pth"
    gen = torch.Generator().manual_seed(0)
    torch.save({f"layer{i}.weight": torch.randn(2000, 1000, generator=gen) for i in range(25)}, path)
    return path


def _hubmgr_cmd() -> list[str]:
    script = Path(sys.executable).parent / "hubmgr"
    return [str(script)] if script.exists() else [sys.executable, "-c", "from hubmgr.cli import main; main()"]


@pytest.mark.parametrize("sharded", [False, True], ids=["file", "sharded-dir"])
def test_kill_9_mid_write_leaves_no_final_output(tmp_path: Path, big_checkpoint: Path, sharded: bool) -> None:
    final = tmp_path / ("out" if sharded else "out.safetensors")
    args = [*_hubmgr_cmd(), "--catalog", str(tmp_path / "c.db"), "convert", str(big_checkpoint), "--out", str(final)]
    if sharded:
        args += ["--max-shard-size", "20MB"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    temp_name = f".{final.name}.hubmgr-tmp-{proc.pid}"
    deadline = time.monotonic() + 60
    try:
        while not (tmp_path / temp_name).exists():
            assert proc.poll() is None, f"convert ended before writing: {proc.stderr.read().decode()}"
            assert time.monotonic() < deadline, "the temp output never appeared"
            time.sleep(0.0005)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not final.exists(), "a killed run must leave nothing under the final name"
    assert (tmp_path / temp_name).exists()

    result = convert_checkpoint(big_checkpoint, out=final, max_shard_size=20 * 10**6 if sharded else None)
    assert str(tmp_path / temp_name) in result.removed_temps
    assert not (tmp_path / temp_name).exists() and final.exists() and result.verified
    leftovers = [p.name for p in tmp_path.iterdir() if ".hubmgr-" in p.name]
    assert leftovers == []


def test_ctrl_c_mid_write_removes_the_temp_output(tmp_path: Path, big_checkpoint: Path) -> None:
    final = tmp_path / "out.safetensors"
    args = [*_hubmgr_cmd(), "--catalog", str(tmp_path / "c.db"), "convert", str(big_checkpoint), "--out", str(final)]
    # default_signals: SIGINT reaches it even when pytest runs as a background job (SIGINT ignored)
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, preexec_fn=default_signals)
    temp = tmp_path / f".{final.name}.hubmgr-tmp-{proc.pid}"
    deadline = time.monotonic() + 60
    try:
        while not temp.exists():
            assert proc.poll() is None, f"convert ended before writing: {proc.stderr.read().decode()}"
            assert time.monotonic() < deadline, "the temp output never appeared"
            time.sleep(0.0005)
        os.kill(proc.pid, signal.SIGINT)
    finally:
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert "interrupted" in err.decode()
    assert not final.exists() and not temp.exists()
