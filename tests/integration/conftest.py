"""Fixtures shared by the Hub push/pull tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hubmgr.testing.hub_server import ALICE_WRITE_TOKEN


@pytest.fixture
def model_dir(tiny_gpt2_dir: Path, tmp_path: Path) -> Path:
    """A writable copy of the tiny GPT-2 (without a README.md: push generates the card in staging)."""
    return Path(shutil.copytree(tiny_gpt2_dir, tmp_path / "tiny-gpt2"))


@pytest.fixture
def logged_in(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HF_TOKEN", ALICE_WRITE_TOKEN)
    return ALICE_WRITE_TOKEN
