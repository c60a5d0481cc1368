"""Shared fixtures. Every test runs with its own HUBMGR_HOME, HF_HOME and no network."""

from __future__ import annotations

import os

# huggingface_hub reads these at import time: set them before anything imports it.
# The test Hub server speaks plain LFS, not Xet (see ../shared/HUB_PROTOCOL.md §8).
os.environ["HF_HUB_DISABLE_XET"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.pop("HF_TOKEN", None)
# huggingface_hub fixes its cache and token paths from HF_HOME at import (before the per-test
# HF_HOME below applies): never let tests read or fill the machine's real HF cache or login.
os.environ["HF_HOME"] = __import__("tempfile").mkdtemp(prefix="hubmgr-tests-hf-")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HUBMGR_HOME, HF_HOME and git identity in a fresh temp dir for each test."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HUBMGR_HOME", str(home / "hubmgr"))
    monkeypatch.setenv("HF_HOME", str(home / "hf"))
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("HUBMGR_CATALOG", raising=False)
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "hubmgr tests")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "tests@hubmgr.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "hubmgr tests")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "tests@hubmgr.invalid")
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    # never the checkout: a .hubmgr/catalog.db that a developer's own run left there would become
    # the catalog of every test that runs a command without --catalog
    (home / "cwd").mkdir()
    monkeypatch.chdir(home / "cwd")
    return home


@pytest.fixture
def no_git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host where git knows no user (a fresh container): no user.name/user.email, no GIT_AUTHOR_*."""
    from hubmgr.git.cmd import run_git

    for name in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(name, raising=False)
    # never guess from the host name (on a host with a domain git would otherwise make one up)
    run_git(["config", "--global", "user.useConfigOnly", "true"], lfs=False)


@pytest.fixture(scope="session")
def tiny_gpt2(tmp_path_factory: pytest.TempPathFactory):
    """(model, tokenizer) of an untrained 2-layer GPT-2 with a char tokenizer. Do not mutate."""
    from hubmgr.testing.tiny_models import make_tiny_gpt2

    return make_tiny_gpt2(seed=0)


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory: pytest.TempPathFactory, tiny_gpt2) -> Path:
    """A ``save_pretrained`` dir (model.safetensors + config + tokenizer). Read-only by convention."""
    from hubmgr.testing.tiny_models import save_hf_dir

    model, tokenizer = tiny_gpt2
    return save_hf_dir(model, tokenizer, tmp_path_factory.mktemp("tiny-gpt2") / "model")


@pytest.fixture(scope="session")
def tiny_gpt2_trained_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny GPT-2 trained briefly on 1-digit addition (~60-75% exact match) + all_results.json. Read-only."""
    from hubmgr.testing.tiny_models import train_addition_dir

    return train_addition_dir(tmp_path_factory.mktemp("tiny-gpt2-trained") / "model")


@pytest.fixture(scope="session")
def tiny_gpt2_bin_dir(tmp_path_factory: pytest.TempPathFactory, tiny_gpt2) -> Path:
    """The same model as a classic ``pytorch_model.bin`` dir. Read-only by convention."""
    from hubmgr.testing.tiny_models import save_hf_dir

    model, tokenizer = tiny_gpt2
    return save_hf_dir(model, tokenizer, tmp_path_factory.mktemp("tiny-gpt2-bin") / "model", safe_serialization=False)


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch):
    """Run ``hubmgr ARGS`` in-process; returns (exit_code, stdout, stderr)."""
    from hubmgr.testing.cli_runner import run_cli as _run

    return _run


@pytest.fixture
def hub_server(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """A running Hub test server (hubmgr.testing.hub_server) with HF_ENDPOINT pointing at it.

    Tokens: ``hub_server_module.ALICE_WRITE_TOKEN`` etc. HF_TOKEN is NOT set: tests choose.
    """
    from hubmgr.testing.hub_server import TEST_TOKENS, running_hub_server

    with running_hub_server(tmp_path_factory.mktemp("hub"), tokens=TEST_TOKENS) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)
        try:  # a fresh HF cache per test: servers reuse repo ids, the client falls back to cached files
            from huggingface_hub import constants

            monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path_factory.mktemp("hf-cache")))
        except ImportError:
            pass
        yield server
