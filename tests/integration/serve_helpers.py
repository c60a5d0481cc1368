"""Helpers shared by the serve / follow / deploy-hygiene tests: publish to local:, pull, plain HTTP."""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from pathlib import Path


def publish(run_cli, model_dir: Path, work: Path, *, readme: str, tag: str | None = None, repo: str = "demo") -> str:
    """Push ``model_dir`` with a given README to local:REPO; returns the commit sha."""
    folder = work / f"src-{repo}"
    if not folder.exists():
        shutil.copytree(model_dir, folder)
    (folder / "README.md").write_text(f"---\nlicense: mit\n---\n# tiny\n{readme}\n")
    args = ["push", str(folder), f"local:{repo}", "--json"] + (["--tag", tag, "--force"] if tag else [])
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
