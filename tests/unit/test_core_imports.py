"""Dependency rule 1 of DESIGN.md: the core never imports a front end, and
``hubmgr --help`` does not pay for torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

CORE_MODULES = [
    "hubmgr.errors", "hubmgr.models", "hubmgr.progress", "hubmgr.paths", "hubmgr.config", "hubmgr.formats.hashing",
    "hubmgr.catalog", "hubmgr.remotes",
]
OPTIONAL_CORE = [
    "hubmgr.checkpoints", "hubmgr.formats.pickle_scan", "hubmgr.formats.torchfile", "hubmgr.scan", "hubmgr.convert",
    "hubmgr.evaluate", "hubmgr.cards", "hubmgr.compare", "hubmgr.deploy", "hubmgr.guard", "hubmgr.sync",
    "hubmgr.hf.remote",
    "hubmgr.git.remote", "hubmgr.git.registry", "hubmgr.git.cmd", "hubmgr.demo",
    "hubmgr.formats.trainer_state", "hubmgr.formats.pointer_file", "hubmgr.formats.safetensors_writer", "hubmgr.hf.card",
    "hubmgr.git.code_repo", "hubmgr.testing.hub_server", "hubmgr.testing.hub.server",
]
FRONT_ENDS = ("textual", "rich", "click", "hubmgr.cli", "hubmgr.tui")
TENSOR_LIBS = ("torch", "transformers", "safetensors", "numpy")


def _imported_after(module: str) -> set[str]:
    code = f"import importlib, sys; importlib.import_module({module!r}); print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return set(out.split())


def _existing(names: list[str]) -> list[str]:
    import importlib.util

    return [n for n in names if importlib.util.find_spec(n) is not None]


@pytest.mark.parametrize("module", CORE_MODULES + _existing(OPTIONAL_CORE))
def test_core_module_imports_no_front_end_and_no_tensor_library(module: str) -> None:
    loaded = _imported_after(module)
    bad = sorted(m for m in loaded if m.split(".")[0] in FRONT_ENDS or m.startswith(FRONT_ENDS))
    assert not bad, f"{module} imports front-end modules: {bad[:10]}"
    heavy = sorted(m for m in loaded if m.split(".")[0] in TENSOR_LIBS)
    assert not heavy, f"{module} imports tensor libraries at import time: {heavy[:10]}"


def test_cli_help_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from hubmgr.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("NO-TORCH")
