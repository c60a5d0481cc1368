"""Helpers shared by the serve / follow / deploy-hygiene tests: publish to local:, pull, plain HTTP."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from pathlib import Path


def publish(run_cli, model_dir: Path, work: Path, *, readme: str, tag: str | None = None,
            target: str = "local:demo") -> str:
    """Push ``model_dir`` with a given README to ``target`` (tag moved if it exists); returns the commit sha."""
    folder = work / f"src-{target.replace(':', '-').replace('/', '-')}"
    if not folder.exists():
        shutil.copytree(model_dir, folder)
    (folder / "README.md").write_text(f"---\nlicense: mit\n---\n# tiny\n{readme}\n")
    args = ["push", str(folder), target, "--json"] + (["--tag", tag, "--force"] if tag else [])
    run = run_cli(*args)
    assert run.exit_code == 0, run.stderr
    return run.json()["commit_sha"]


def pull(run_cli, spec: str, dest: Path, *extra: str) -> str:
    run = run_cli("pull", spec, "--dest", str(dest), "--json", *extra)
    assert run.exit_code == 0, run.stderr
    return run.json()["commit_sha"]


def http(url: str, body: dict | None = None, *, method: str | None = None) -> tuple[int, dict, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"),
                                 headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def broken_release(run_cli, model_dir: Path, work: Path, tag: str) -> str:
    """A release whose config does not match its weights: it downloads and verifies, but cannot load."""
    folder = work / "src-broken"
    shutil.copytree(model_dir, folder)
    config = json.loads((folder / "config.json").read_text())
    config["n_embd"] = 32
    (folder / "config.json").write_text(json.dumps(config))
    run = run_cli("push", str(folder), "local:demo", "--tag", tag, "--force", "--json")
    assert run.exit_code == 0, run.stderr
    return run.json()["commit_sha"]
