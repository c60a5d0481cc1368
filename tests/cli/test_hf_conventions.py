"""Flags and addresses as an ``hf`` / git user types them (issue 10, part 4).

Real parts: the CLI in-process, the Hub test server with the real ``huggingface_hub`` client,
real git + git-lfs for the local registry.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from hubmgr.testing.hub_server import ALICE_WRITE_TOKEN

needs_lfs = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is required")


def _model(folder: Path, version: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text("# conventions\n")
    (folder / "config.json").write_text(json.dumps({"version": version}))
    (folder / "model.safetensors").write_bytes(os.urandom(5_000))
    return folder


def _ok(run):
    assert run.exit_code == 0, f"exit {run.exit_code}\nstdout: {run.stdout}\nstderr: {run.stderr}"
    return run


def test_hub_token_flag_hf_uri_commit_description_and_web_urls(hub_server, run_cli, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from huggingface_hub import HfApi

    monkeypatch.delenv("HF_TOKEN", raising=False)
    folder = _model(tmp_path / "m", "1")
    # --token instead of HF_TOKEN, an hf:// URI, hf's commit flags, -q prints only the sha
    pushed = _ok(run_cli("push", str(folder), "hf://alice/conv", "--token", ALICE_WRITE_TOKEN,
                         "--commit-message", "Epoch 3", "--commit-description", "lr 3e-4, 2 layers", "-q"))
    sha = pushed.stdout.strip()
    assert len(sha) == 40 and ALICE_WRITE_TOKEN not in pushed.stdout + pushed.stderr
    commits = HfApi(endpoint=hub_server.url, token=ALICE_WRITE_TOKEN).list_repo_commits("alice/conv")
    assert commits[0].commit_id == sha and commits[0].title == "Epoch 3"
    assert "lr 3e-4, 2 layers" in commits[0].message

    _model(folder, "2")
    _ok(run_cli("push", str(folder), "https://huggingface.co/alice/conv", "--token", ALICE_WRITE_TOKEN,
                "--revision", "dev", "-m", "on dev"))
    # the browser address of a branch is the Hub repo at that branch (HF_ENDPOINT decides the host)
    dest = tmp_path / "srv"
    pulled = _ok(run_cli("pull", "https://huggingface.co/alice/conv/tree/dev", "--dest", str(dest),
                         "--token", ALICE_WRITE_TOKEN, "--exclude", "*.md", "--json")).json()
    assert pulled["remote"] == "hub:alice/conv" and pulled["revision"] == "dev"
    live = dest / "current"
    assert json.loads((live / "config.json").read_text())["version"] == "2"
    assert not (live / "README.md").exists() and (live / "model.safetensors").is_file()

    listing = _ok(run_cli("remote", "ls", "hf://alice/conv@dev", "--token", ALICE_WRITE_TOKEN, "--json")).json()
    assert listing["commits"][0]["title"] == "on dev"


@needs_lfs
def test_pull_revision_flag_exclude_and_quiet_on_git(run_cli, tmp_path: Path) -> None:
    folder = _model(tmp_path / "m", "1")
    first = _ok(run_cli("push", str(folder), "local:conv", "--tag", "v1", "-m", "first",
                        "--commit-description", "body line", "--json")).json()
    _model(folder, "2")
    _ok(run_cli("push", str(folder), "local:conv", "--message", "second"))  # the old spelling still works

    dest = tmp_path / "srv"
    quiet = _ok(run_cli("pull", "local:conv", "--revision", "v1", "--dest", str(dest), "--exclude", "README.md",
                        "-q"))
    release = Path(quiet.stdout.strip())  # only the release path, nothing else on stdout
    assert release == dest.resolve() / "releases" / first["commit_sha"]
    assert json.loads((release / "config.json").read_text())["version"] == "1"
    assert not (release / "README.md").exists()

    both = run_cli("pull", "local:conv@main", "--revision", "v1", "--dest", str(dest))
    assert both.exit_code == 2 and "two revisions" in both.stderr

    from hubmgr.config import load_settings
    from hubmgr.git import registry

    bare = registry.repo_path(load_settings(), "conv")
    body = subprocess.run(["git", "-C", str(bare), "log", "-1", "--format=%B", first["commit_sha"]],
                          capture_output=True, text=True, check=True).stdout
    assert body.strip() == "first\n\nbody line"


def test_user_agent_names_the_real_version(tmp_path: Path) -> None:
    """The Hub sees ``hubmgr/<version>`` (it said ``hubmgr/None``)."""
    from hubmgr import __version__
    from hubmgr.config import load_settings
    from hubmgr.errors import HubmgrError
    from hubmgr.remotes import open_remote

    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            seen.append(self.headers.get("User-Agent", ""))
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args) -> None:  # noqa: ANN002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = replace(load_settings(), hub_endpoint=f"http://127.0.0.1:{server.server_port}")
        with pytest.raises(HubmgrError):
            open_remote("alice/ua", settings).resolve_revision("main")
    finally:
        server.shutdown()
    assert seen and all(f"hubmgr/{__version__}" in ua for ua in seen), seen
    assert not any("hubmgr/None" in ua for ua in seen)
