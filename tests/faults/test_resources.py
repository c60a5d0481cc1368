"""Resource faults and concurrency through the real CLI: a full disk (a size-limited tmpfs, and a
disk filled while convert writes), a read-only destination, convert --force killed between its
renames, two pulls into one dest, rollback during a pull, scan during convert."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from hubmgr import deploy
from hubmgr.testing.faults import small_disk

pytestmark = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is required")


def _model(folder: Path, tag: str, size: int = 300_000) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text("---\nlicense: mit\n---\n# m\n")
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2", "tag": tag}))
    (folder / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      " + os.urandom(size))
    return folder


@pytest.fixture
def disk(tmp_path: Path):
    with small_disk(tmp_path / "disk", 20 * 2**20) as d:  # 20 MiB
        if d is None:
            pytest.skip("cannot mount a size-limited tmpfs here (needs root or CAP_SYS_ADMIN)")
        yield d


@pytest.mark.parametrize("remote", ["local", "hub"])
def test_pull_onto_a_full_disk_is_a_local_one_line_error_and_leaves_no_partial(
        disk: Path, tmp_path: Path, run_cli, remote: str, request: pytest.FixtureRequest,
        monkeypatch: pytest.MonkeyPatch) -> None:
    spec = "local:big"
    if remote == "hub":
        request.getfixturevalue("hub_server")
        from hubmgr.testing.hub_server import ALICE_WRITE_TOKEN

        monkeypatch.setenv("HF_TOKEN", ALICE_WRITE_TOKEN)
        spec = "alice/big"
    small = run_cli("push", str(_model(tmp_path / "small", "s")), spec, "--json")
    assert small.exit_code == 0, small.stderr
    dest = disk / "srv"
    assert run_cli("pull", spec, "--dest", str(dest)).exit_code == 0
    # 12 MB of weights + the 16 MB margin do not fit in what is left of 20 MiB
    assert run_cli("push", str(_model(tmp_path / "big", "b", 12_000_000)), spec).exit_code == 0
    r = run_cli("pull", spec, "--dest", str(dest))
    assert r.exit_code == 1, r.stderr
    assert "not enough disk space" in r.stderr and "Traceback" not in r.stderr and "retry" not in r.stderr
    assert deploy.live_sha(dest) == small.json()["commit_sha"]
    assert not list((dest / "releases").glob(".staging-*"))
    assert not deploy.release_problems(dest / "releases" / deploy.live_sha(dest), verify=True)


def test_disk_filled_while_convert_writes_is_one_line_and_nothing_is_left(tmp_path: Path, run_cli) -> None:
    import torch

    with small_disk(tmp_path / "disk", 140 * 2**20) as disk:  # room for the 120 MB + the 16 MiB margin
        if disk is None:
            pytest.skip("cannot mount a size-limited tmpfs here (needs root or CAP_SYS_ADMIN)")
        _convert_while_the_disk_fills(tmp_path, disk, run_cli, torch)


def _convert_while_the_disk_fills(tmp_path: Path, disk: Path, run_cli, torch) -> None:  # noqa: ANN001

    src = tmp_path / "big.pth"
    torch.save({f"w{i}": torch.zeros(1000, 1000) for i in range(30)}, src)  # 120 MB: a write that lasts
    out = disk / "out.safetensors"
    stop = threading.Event()

    def fill_when_the_write_starts() -> None:  # another program fills the disk after the free-space check
        while not stop.is_set():
            if any(p.name.startswith(".out.safetensors.hubmgr-tmp-") for p in disk.iterdir()):
                with open(disk / "filler", "wb") as fh, contextlib.suppress(OSError):
                    os.posix_fallocate(fh.fileno(), 0, shutil.disk_usage(disk).free)
                return
            time.sleep(0.0005)

    # leave just enough room for the check (needed + 16 MiB margin), then fill during the write
    filler = threading.Thread(target=fill_when_the_write_starts)
    filler.start()
    try:
        r = run_cli("convert", str(src), "--out", str(out))
    finally:
        stop.set()
        filler.join()
    if r.exit_code == 0:
        pytest.skip("the write finished before the disk filled up (machine too fast for this race)")
    assert r.exit_code == 1 and "Traceback" not in r.stderr, r.stderr
    assert "the disk is full" in r.stderr and len(r.stderr.strip().splitlines()) == 2  # error + hint
    assert not out.exists()
    assert [p.name for p in disk.iterdir()] == ["filler"]  # the partial temp output is gone


def test_convert_force_killed_between_its_renames_is_restored_by_the_next_run(tmp_path: Path, run_cli,
                                                                             tiny_gpt2_bin_dir: Path) -> None:
    out = tmp_path / "out"
    assert run_cli("convert", str(tiny_gpt2_bin_dir), "--out", str(out)).exit_code == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # the state a kill between `rename(out, .out.hubmgr-old-PID)` and `rename(tmp, out)` leaves
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    aside = tmp_path / f".out.hubmgr-old-{dead.stdout.strip()}"
    os.rename(out, aside)
    (tmp_path / f".out.hubmgr-tmp-{dead.stdout.strip()}").mkdir()
    # a convert without --force must see the restored output and refuse to overwrite it
    r = run_cli("convert", str(tiny_gpt2_bin_dir), "--out", str(out))
    assert r.exit_code == 1 and "already exists" in r.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_two_pulls_into_one_dest_at_once(tmp_path: Path, run_cli) -> None:
    shas = []
    for tag in ("a", "b"):
        r = run_cli("push", str(_model(tmp_path / tag, tag, 3_000_000)), "local:two", "--json")
        shas.append(r.json()["commit_sha"])
    dest = tmp_path / "srv"
    procs = [subprocess.Popen([sys.executable, "-m", "hubmgr", "pull", f"local:two@{sha}", "--dest", str(dest)],
                              stderr=subprocess.PIPE, text=True, cwd=tmp_path) for sha in shas]
    results = [(p.wait(120), p.stderr.read()) for p in procs]
    for code, err in results:
        assert code == 0 or (code == 1 and "another hubmgr pull or rollback is working" in err), err
        assert "Traceback" not in err
    assert any(code == 0 for code, _ in results)
    live = deploy.live_sha(dest)
    assert live in shas and not deploy.release_problems(dest / "releases" / live, verify=True)


def test_rollback_during_a_pull_is_refused_and_current_stays_valid(tmp_path: Path, run_cli) -> None:
    shas = []
    for tag in ("a", "b"):
        shas.append(run_cli("push", str(_model(tmp_path / tag, tag, 20_000_000)), "local:rb", "--json")
                    .json()["commit_sha"])
    dest = tmp_path / "srv"
    assert run_cli("pull", f"local:rb@{shas[0]}", "--dest", str(dest)).exit_code == 0
    pull = subprocess.Popen([sys.executable, "-m", "hubmgr", "pull", f"local:rb@{shas[1]}", "--dest", str(dest)],
                            stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    refused = None
    deadline = time.monotonic() + 60
    while pull.poll() is None and time.monotonic() < deadline:
        r = run_cli("rollback", "--dest", str(dest))
        if r.exit_code == 1 and "another hubmgr pull or rollback" in r.stderr:
            refused = r
            break
        time.sleep(0.02)
    assert pull.wait(120) == 0, pull.stderr.read()
    if refused is None:
        pytest.skip("the pull finished before a rollback could run alongside it")
    assert "Traceback" not in refused.stderr
    assert deploy.live_sha(dest) == shas[1]
    assert not deploy.release_problems(dest / "releases" / shas[1], verify=True)


def test_scan_during_convert_sees_no_half_written_output(tmp_path: Path, run_cli) -> None:
    import torch

    runs = tmp_path / "runs"
    runs.mkdir()
    src = runs / "big.pth"
    torch.save({f"w{i}": torch.randn(500, 1000) for i in range(20)}, src)  # 40 MB
    out = runs / "big.safetensors"
    conv = subprocess.Popen([sys.executable, "-m", "hubmgr", "--catalog", str(tmp_path / "c.db"), "convert",
                             str(src), "--out", str(out)], stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    scans = []
    while conv.poll() is None:
        r = run_cli("--catalog", str(tmp_path / "c.db"), "scan", str(runs), "--no-hash", "--json")
        assert r.exit_code == 0, r.stderr
        scans.append({c["path"]: c for c in r.json()["checkpoints"]})
    assert conv.wait() == 0, conv.stderr.read()
    for found in scans:  # the output is either absent or whole; never a temp file, never unreadable
        assert all(".hubmgr-tmp-" not in p for p in found)
        if str(out) in found:
            assert found[str(out)]["safety"]["verdict"] == "not_pickle"
            assert found[str(out)]["params"] == 20 * 500 * 1000 and found[str(out)]["format"] == "safetensors"
    final = run_cli("--catalog", str(tmp_path / "c.db"), "scan", str(runs), "--json").json()
    assert {c["path"] for c in final["checkpoints"]} == {str(src), str(out)}
