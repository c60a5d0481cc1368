"""A Ctrl-C that lands while two threads import at once can leave CPython's import locks held and
the process hangs (crash trial push-hub). So a push or a pull (Hub, local: store, git remote) imports everything its
worker threads need in the main thread first: this runs both in a fresh process and lists every
module a non-main thread had to import."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hubmgr.git.cmd import run_git
from hubmgr.testing.hub_server import ALICE_WRITE_TOKEN

RUNNER = r"""
import json, sys, threading
from_workers = []

def hook(event, args):
    # raised only when a module is really imported (not found in sys.modules)
    if event == "import" and threading.current_thread() is not threading.main_thread():
        from_workers.append((threading.current_thread().name, args[0]))

sys.addaudithook(hook)
from hubmgr.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
else:
    code = 0
print("RESULT " + json.dumps({"code": code, "from_workers": from_workers}))
"""


def _run(args: list[str], tmp_path: Path, env: dict[str, str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", RUNNER, *args], cwd=tmp_path, capture_output=True, text=True,
                          env=env, timeout=300)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert lines, proc.stderr[-2000:]
    out = json.loads(lines[-1][len("RESULT "):])
    assert out["code"] in (0, None), proc.stderr[-2000:]
    return out


@pytest.mark.parametrize("kind", ["hub", "local", "git", "git-lfs-http"])
def test_push_and_pull_import_nothing_in_worker_threads(hub_server, tmp_path: Path, kind: str) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "gpt2"}\n')
    for k in range(3):  # several files: the upload, hash and download pools all run
        (folder / f"model-{k}.safetensors").write_bytes(os.urandom(120_000 + k))
    env = {**os.environ, "HF_ENDPOINT": hub_server.url, "HF_TOKEN": ALICE_WRITE_TOKEN,
           "HUBMGR_HOME": str(tmp_path / "home"), "HF_HOME": str(tmp_path / "hf-home")}

    target = {"hub": "alice/threads", "local": "local:threads"}.get(kind, f"file://{tmp_path / 'remote.git'}")
    if kind.startswith("git"):
        run_git(["init", "-q", "--bare", str(tmp_path / "remote.git")])
    with contextlib.ExitStack() as stack:
        if kind == "git-lfs-http":  # the objects go to an HTTP LFS server, several transfer threads at once
            from hubmgr.testing.lfs_server import giftless_server, lfs_url

            base = stack.enter_context(giftless_server(tmp_path / "lfs-storage"))
            run_git(["config", "--global", "lfs.url", lfs_url(base, "team/threads")], lfs=False)
        _push_and_pull(hub_server, tmp_path, folder, target, env, kind)
    if kind == "git-lfs-http":
        assert len(list((tmp_path / "lfs-storage" / "team" / "threads").iterdir())) == 3


def _push_and_pull(hub_server, tmp_path: Path, folder: Path, target: str, env: dict, kind: str) -> None:
    pushed = _run(["push", str(folder), target], tmp_path, env)
    assert hub_server.count("POST", "/commit/") == (kind == "hub")  # the push really ran, where it was sent
    assert pushed["from_workers"] == [], pushed

    pulled = _run(["pull", target, "--dest", str(tmp_path / "deploy"), "--allow-incomplete"],
                  tmp_path, env)
    assert (tmp_path / "deploy" / "current" / "model-2.safetensors").read_bytes() == \
        (folder / "model-2.safetensors").read_bytes()
    assert pulled["from_workers"] == [], pulled
