"""A push to a git remote on a host where git knows no user (a fresh container, a deploy box): the
commit is made under hubmgr's stand-in identity and the user is told, instead of git's "unable to
auto-detect email address". Where git knows the user, the commit is theirs and nothing is said."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from hubmgr.git.cmd import git_text, run_git

pytestmark = pytest.mark.skipif(shutil.which("git-lfs") is None, reason="git-lfs is required (apt-get install git-lfs)")


def _model(folder: Path) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (folder / "model.safetensors").write_bytes(os.urandom(20_000))
    return folder


def test_a_push_without_a_git_identity_commits_as_hubmgr_and_says_so(tmp_path, run_cli, no_git_identity):
    folder = _model(tmp_path / "m")
    bare = tmp_path / "r.git"
    run_git(["init", "-q", "--bare", str(bare)], lfs=False)
    for target in ("local:ident", bare.as_uri()):
        run = run_cli("push", str(folder), target)
        assert run.exit_code == 0, run.stderr
        assert "git has no user.name/user.email here" in run.stderr and "git config --global user.email" in run.stderr
    author = git_text(["--git-dir", str(bare), "log", "-1", "--format=%an <%ae>|%cn <%ce>", "main"], lfs=False)
    assert author.count("@hubmgr.invalid>") == 2 and "(hubmgr)" in author
    pushed = run_cli("push", str(folder), bare.as_uri(), "--json")  # unchanged: no commit, no warning
    assert pushed.exit_code == 0 and pushed.json()["created_commit"] is False
    assert "git has no user.name" not in pushed.stderr


def test_with_a_git_identity_the_commit_is_the_users(tmp_path, run_cli, no_git_identity):
    run_git(["config", "--global", "user.name", "Ada Lovelace"], lfs=False)
    run_git(["config", "--global", "user.email", "ada@example.com"], lfs=False)
    bare = tmp_path / "r.git"
    run_git(["init", "-q", "--bare", str(bare)], lfs=False)
    run = run_cli("push", str(_model(tmp_path / "m")), bare.as_uri(), "--json")
    assert run.exit_code == 0, run.stderr
    assert not any("git has no user" in w for w in run.json()["warnings"])
    assert git_text(["--git-dir", str(bare), "log", "-1", "--format=%an <%ae>", "main"], lfs=False) == \
        "Ada Lovelace <ada@example.com>"


def test_a_remote_name_with_colons_prints_as_typed(tmp_path, run_cli):
    """rich reads :name: as an emoji code: local:hand: printed as local✋ before."""
    run = run_cli("push", str(_model(tmp_path / "m")), "local:hand")
    assert run.exit_code == 0, run.stderr
    assert "local:hand" in run.stdout and "✋" not in run.stdout
