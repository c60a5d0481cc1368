"""``hubmgr guard`` on the command line: exit codes, --json, install, fix, errors."""

from __future__ import annotations

import os
import random
import shutil
import sys
from pathlib import Path

import pytest

from hubmgr.testing.github_like import git, init_code_repo, make_github_like_remote


def add_big_file(repo: Path, name: str = "model.bin", size: int = 1_500_000) -> str:
    path = repo / name
    path.write_bytes(random.Random(size).randbytes(size))
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", f"add {name}")
    return git(repo, "rev-parse", "HEAD").stdout.decode().strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    github = make_github_like_remote(tmp_path / "github.git", limit_bytes=1_000_000)
    return init_code_repo(tmp_path / "project", origin=github)


def test_clean_repo_exits_0(run_cli, repo: Path) -> None:
    result = run_cli("guard", str(repo), "--limit", "1MB", "--warn", "500KB")
    assert result.exit_code == 0, result.stderr
    assert "ok: no file over 0.48 MiB" in result.stdout  # --warn 500KB, in the MiB git prints


def test_oversized_file_exits_1_with_explanation_and_json(run_cli, repo: Path) -> None:
    added = add_big_file(repo)

    text = run_cli("guard", str(repo), "--limit", "1MB", "--warn", "500KB")
    assert text.exit_code == 1
    assert "model.bin" in text.stdout and added[:10] in text.stdout
    assert "GitHub rejects the whole push" in text.stdout
    assert f"hubmgr guard {repo} --limit 1000000B --fix lfs" in text.stdout  # a command that works as is

    result = run_cli("guard", str(repo), "--limit", "1MB", "--warn", "500KB", "--json")
    assert result.exit_code == 1
    doc = result.json()
    assert doc["ok"] is False
    assert doc["blocking"][0]["paths"] == ["model.bin"]
    assert doc["blocking"][0]["added_in"] == [added]
    assert doc["limit_bytes"] == 1_000_000


def test_fix_lfs_exits_0_and_prints_the_rewrite(run_cli, repo: Path) -> None:
    add_big_file(repo)
    pushed = git(repo, "rev-parse", "origin/main").stdout

    result = run_cli("guard", str(repo), "--limit", "1MB", "--fix", "lfs", "--json")

    assert result.exit_code == 0, result.stderr
    doc = result.json()
    assert doc["method"] == "lfs" and doc["paths"] == ["model.bin"] and doc["after"]["ok"] is True
    assert git(repo, "rev-parse", "origin/main").stdout == pushed
    assert git(repo, "push", "origin", "main", check=False).returncode == 0


def test_install_writes_a_hook_that_runs_this_python(run_cli, repo: Path) -> None:
    result = run_cli("guard", "install", str(repo), "--limit", "1MB", "--json")

    assert result.exit_code == 0, result.stderr
    hook = Path(result.json()["hook"])
    assert hook == repo / ".git" / "hooks" / "pre-push"
    text = hook.read_text()
    assert sys.executable in text and "-m hubmgr guard --pre-push --limit 1000000" in text
    assert os.access(hook, os.X_OK)


def test_help_has_examples(run_cli) -> None:
    result = run_cli("guard", "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.stdout
    assert "hubmgr guard --fix lfs" in result.stdout and "hubmgr guard install" in result.stdout


def test_fix_hub_needs_a_target(run_cli, repo: Path) -> None:
    add_big_file(repo)
    head = git(repo, "rev-parse", "HEAD").stdout
    result = run_cli("guard", str(repo), "--limit", "1MB", "--fix", "hub")
    assert result.exit_code == 2
    assert "--fix hub needs a target" in result.stderr
    assert git(repo, "rev-parse", "HEAD").stdout == head


def test_not_a_git_repo_is_one_clear_line(run_cli, tmp_path: Path) -> None:
    result = run_cli("guard", str(tmp_path))
    assert result.exit_code == 1
    assert "not a git repository" in result.stderr
    assert "Traceback" not in result.stderr


def test_git_missing_is_one_clear_line(run_cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    result = run_cli("guard", str(tmp_path))
    assert result.exit_code == 1
    assert "git is not installed" in result.stderr and "apt-get install git" in result.stderr


def test_git_lfs_missing_for_fix_lfs(run_cli, repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    add_big_file(repo)
    head = git(repo, "rev-parse", "HEAD").stdout
    only_git = tmp_path / "only-git"
    only_git.mkdir()
    (only_git / "git").symlink_to(shutil.which("git"))
    saved = os.environ["PATH"]
    monkeypatch.setenv("PATH", str(only_git))

    result = run_cli("guard", str(repo), "--limit", "1MB", "--fix", "lfs")

    monkeypatch.setenv("PATH", saved)
    assert result.exit_code == 1
    assert "git-lfs is not installed" in result.stderr and "apt-get install git-lfs" in result.stderr
    assert git(repo, "rev-parse", "HEAD").stdout == head
    assert (repo / "model.bin").stat().st_size == 1_500_000


def test_fix_hub_with_the_issue_spelling(run_cli, tmp_path: Path, tiny_gpt2_dir: Path) -> None:
    """`hubmgr guard REPO --fix hub TARGET` (target as the last word, as in the issue) == `--to TARGET`."""
    github = make_github_like_remote(tmp_path / "github.git", limit_bytes=200_000)
    repo = init_code_repo(tmp_path / "project", origin=github)
    shutil.copytree(tiny_gpt2_dir, repo / "model")
    git(repo, "add", "model")
    git(repo, "commit", "-q", "-m", "model")

    result = run_cli("guard", str(repo), "--limit", "200KB", "--fix", "hub", "local:from-guard")

    assert result.exit_code == 0, result.stderr
    assert "weights pushed to local:from-guard" in result.stdout
    assert "model/model.hubmgr.json" in result.stdout
    assert (repo / "model" / "model.hubmgr.json").is_file()
    assert git(repo, "push", "origin", "main", check=False).returncode == 0


def test_guard_table_piped_is_complete_tsv(repo: Path, tmp_path: Path) -> None:
    from test_piped_output import hubmgr_piped

    added = add_big_file(repo)
    result = hubmgr_piped("guard", str(repo), "--limit", "1MB", cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    title = next(i for i, line in enumerate(lines) if line.startswith("over 0.95 MiB"))
    assert lines[title + 1].split("\t") == ["size", "path", "added in", "still in HEAD", "deleted in"]
    size, path, added_in, *_ = lines[title + 2].split("\t")
    assert size.endswith(" MiB") and path == "model.bin" and added_in == added[:10]
