"""Remote kinds are a registry: each backend declares its spec forms, help lines and capabilities.
A test registers a new kind (a directory remote) and the real CLI pushes to and pulls from it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubmgr import remotes
from hubmgr.remotes import BACKENDS, Backend, RemoteTarget, backend_for, parse_target, targets_help


@pytest.mark.parametrize("spec, kind, location, rev, display", [
    ("local:demo@v1", "local", "demo", "v1", "local:demo@v1"),
    ("alice/m", "hub", "alice/m", None, "hub:alice/m"),
    ("hf://alice/m@dev", "hub", "alice/m", "dev", "hub:alice/m@dev"),
    ("https://huggingface.co/alice/m/tree/v2", "hub", "alice/m", "v2", "hub:alice/m@v2"),
    ("git+https://host/r.git@main", "git", "https://host/r.git", "main", "https://host/r.git@main"),
    ("git@host:org/r.git", "git", "git@host:org/r.git", None, "git@host:org/r.git"),
])
def test_each_backend_parses_its_forms(spec: str, kind: str, location: str, rev: str | None, display: str) -> None:
    t = parse_target(spec)
    assert (t.kind, t.location, t.revision, t.display) == (kind, location, rev, display)


def test_a_local_path_is_git_before_it_is_a_hub_repo_id(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "alice" / "m").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert parse_target("alice/m").kind == "git" and parse_target("bob/m").kind == "hub"


def test_capabilities_and_help_come_from_the_backends(run_cli) -> None:
    assert [b.kind for b in BACKENDS if b.fills_hf_cache] == ["hub"]
    help_text = run_cli("push", "--help").stdout
    for backend in BACKENDS:
        for forms, text in backend.help:
            assert (forms or text).split(",")[0] in help_text
    assert targets_help().count("\n") == sum(len(b.help) for b in BACKENDS) + 2


def test_pull_cache_needs_a_backend_that_fills_the_hf_cache(run_cli, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert run_cli("push", str(folder), "local:cachetest").exit_code == 0
    run = run_cli("pull", "local:cachetest", "--cache")
    assert run.exit_code == 2 and "needs a Hub remote" in run.stderr


@pytest.fixture
def dir_backend():
    from hubmgr.testing.dir_remote import DirRemote

    def parse(text: str) -> RemoteTarget | None:
        if not text.startswith("dir:"):
            return None
        path, rev = remotes._split_revision(text[len("dir:"):])
        return RemoteTarget("dir", path, rev)

    backend = Backend("dir", parse, lambda t, settings, token: DirRemote(t.location, name=f"dir:{t.location}"),
                      help=(("dir:PATH", "a plain directory remote (test)"),), display_prefix="dir:")
    BACKENDS.append(backend)
    yield backend
    BACKENDS.remove(backend)


def test_a_registered_backend_is_used_by_push_and_pull(dir_backend, run_cli, tmp_path: Path) -> None:
    assert backend_for("dir") is dir_backend and parse_target("dir:/x@v1").display == "dir:/x@v1"
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (folder / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    spec = f"dir:{tmp_path / 'remote'}"
    pushed = run_cli("push", str(folder), spec, "--json")
    assert pushed.exit_code == 0, pushed.stderr
    pulled = run_cli("pull", spec, "--dest", str(tmp_path / "srv"), "--json")
    assert pulled.exit_code == 0, pulled.stderr
    assert pulled.json()["commit_sha"] == pushed.json()["commit_sha"]
    live = tmp_path / "srv" / "current"
    assert (live / "model.safetensors").read_bytes() == (folder / "model.safetensors").read_bytes()
