"""Issue 13 point 8: the remote's commit sha is data, not a path. The Hub test server's hostile
mode (fake commit ids, escaping and absolute file names, lying hashes and sizes) against the real
huggingface_hub client through `pull --dest`, `pull --cache` and `status`."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from hubmgr.testing.hub_server import ALICE_WRITE_TOKEN

pytest.importorskip("huggingface_hub")


@pytest.fixture
def pushed(hub_server, tiny_gpt2_dir: Path, tmp_path: Path, run_cli, monkeypatch: pytest.MonkeyPatch):
    """(repo id, commit) of the tiny GPT-2 pushed to the test Hub; HF cache in tmp_path/hf-cache."""
    from huggingface_hub import constants

    monkeypatch.setenv("HF_TOKEN", ALICE_WRITE_TOKEN)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    model = Path(shutil.copytree(tiny_gpt2_dir, tmp_path / "model"))
    repo = "alice/hostile"
    done = run_cli("push", str(model), repo, "--json")
    assert done.exit_code == 0, done.stderr
    return repo, done.json()["commit_sha"]


def _names(root: Path) -> set[str]:
    return {p.name for p in root.rglob("*")}


def _refused(run, *needles: str) -> None:
    assert run.exit_code != 0, run.stdout
    assert "Traceback" not in run.stderr and any(n in run.stderr for n in needles), run.stderr


FAKES = ["../../escape_release", "ABS/escape_release", "../" * 6 + "tmp/escape_release", "a" * 40 + "/../escape"]


@pytest.mark.parametrize("fake", FAKES, ids=["dotdot", "absolute", "deep", "sha-then-dotdot"])
def test_fake_commit_ids_never_name_a_path(hub_server, pushed, tmp_path: Path, run_cli, fake: str) -> None:
    repo, _ = pushed
    fake = fake.replace("ABS", str(tmp_path / "abs"))
    hub_server.faults.report_commit(repo, fake)
    dest = tmp_path / "deploy" / "a" / "b"
    _refused(run_cli("pull", repo, "--dest", str(dest)), "commit id")
    _refused(run_cli("pull", repo, "--cache"), "commit id")
    assert not (dest / "current").exists()
    assert not any("escape" in n for n in _names(tmp_path)), sorted(_names(tmp_path))
    assert not list((tmp_path / "hf-cache").rglob("snapshots/*"))
    assert hub_server.count("GET", "/resolve/") == 0  # refused before any download


def test_status_reports_a_hostile_remote_without_touching_the_release(hub_server, pushed, tmp_path: Path,
                                                                      run_cli) -> None:
    repo, sha = pushed
    dest = tmp_path / "deploy"
    assert run_cli("pull", repo, "--dest", str(dest)).exit_code == 0
    before = sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*"))
    hub_server.faults.report_commit(repo, "../../escape_release")
    status = run_cli("status", "--dest", str(dest), "--json")
    assert status.exit_code == 0, status.stderr
    doc = status.json()
    assert doc["live_sha"] == sha and doc["remote_sha"] is None and "commit id" in doc["remote_error"]
    human = run_cli("status", "--dest", str(dest))
    assert "not checked" in human.stdout and "commit id" in human.stdout
    assert sorted(p.relative_to(dest).as_posix() for p in dest.rglob("*")) == before
    assert not any("escape" in n for n in _names(tmp_path))


@pytest.mark.parametrize("lie", ["sha256", "size"])
def test_lying_hashes_and_sizes_never_go_live_or_stay_cached(hub_server, pushed, tmp_path: Path, run_cli,
                                                             lie: str) -> None:
    repo, _ = pushed
    claim = {"sha256": hashlib.sha256(b"something else").hexdigest()} if lie == "sha256" else {"size": 123}
    hub_server.faults.lie_about_file(repo, "model.safetensors", **claim)
    dest = tmp_path / "deploy"
    _refused(run_cli("pull", repo, "--dest", str(dest)), "sha256", "size", "does not match", "Consistency")
    assert not (dest / "current").exists()
    _refused(run_cli("pull", repo, "--cache"), "sha256", "size", "does not match", "Consistency", "ETag")
    cache = tmp_path / "hf-cache"
    assert not [p for p in cache.rglob("model.safetensors")], "an unverified file stayed in the HF cache"
    if lie == "sha256":
        assert not [p for p in cache.rglob(claim["sha256"])]


@pytest.mark.parametrize("name", ["../evil", "ABS/evil", "a/../../evil", ".git/config"])
def test_escaping_file_names_are_refused_by_pull_and_cache(hub_server, pushed, tmp_path: Path, run_cli,
                                                           name: str) -> None:
    repo, _ = pushed
    hub_server.faults.add_tree_entry(repo, name.replace("ABS", str(tmp_path / "abs")))
    dest = tmp_path / "deploy" / "inner"
    _refused(run_cli("pull", repo, "--dest", str(dest)), "escapes", ".git", "unsafe")
    _refused(run_cli("pull", repo, "--cache"), "escapes", ".git", "unsafe")
    assert not any(n == "evil" for n in _names(tmp_path)) and not (tmp_path / "abs").exists()
    assert hub_server.count("GET", "/resolve/") == 0


def test_pull_cache_still_works_against_an_honest_server(hub_server, pushed, tmp_path: Path, run_cli) -> None:
    repo, sha = pushed
    cached = run_cli("pull", repo, "--cache", "--json")
    assert cached.exit_code == 0, cached.stderr
    folder = Path(json.loads(cached.stdout)["cache_dir"])
    assert folder.name == sha and (folder / "model.safetensors").is_file()
    assert folder.resolve().is_relative_to((tmp_path / "hf-cache").resolve())

