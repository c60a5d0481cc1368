"""The dependency rules of DESIGN.md, enforced.

1. The core (everything but cli/, tui/ and serve's web app) imports no front end (click, rich,
   textual) and no tensor library at import time; nowhere in its code does it import a front end.
2. Only ``hubmgr.hf`` imports ``huggingface_hub``; only ``hubmgr.git`` spawns git; only
   ``catalog.py`` imports ``sqlite3``; the product never imports ``hubmgr.testing``.
Static rules read every product source file (imports inside functions included).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import hubmgr

PACKAGE = Path(hubmgr.__file__).parent
FRONT_ENDS = ("textual", "rich", "click")
TENSOR_LIBS = ("torch", "transformers", "safetensors", "numpy")
# Not core: the front ends, the deploy server's web app, the entry points, and test support.
NOT_CORE = ("hubmgr.cli", "hubmgr.tui", "hubmgr.testing", "hubmgr.serve.app", "hubmgr.serve.server",
            "hubmgr.__main__", "hubmgr._entry")
# Homes the restructuring promised (DESIGN.md layout): each must exist.
REQUIRED = [
    "hubmgr.errors", "hubmgr.models", "hubmgr.progress", "hubmgr.paths", "hubmgr.config", "hubmgr.catalog",
    "hubmgr.checkpoints", "hubmgr.convert", "hubmgr.deploy", "hubmgr.guard", "hubmgr.sync", "hubmgr.cards",
    "hubmgr.compare", "hubmgr.remotes", "hubmgr.tiny_model", "hubmgr.demo",
    "hubmgr.formats.dtypes", "hubmgr.formats.safetensors_header", "hubmgr.formats.lfs_pointer",
    "hubmgr.formats.layout", "hubmgr.formats.hashing", "hubmgr.formats.relpath", "hubmgr.formats.torchfile",
    "hubmgr.formats.pickle_scan", "hubmgr.formats.safetensors_writer", "hubmgr.formats.trainer_state",
    "hubmgr.formats.pointer_file",
    "hubmgr.evaluate", "hubmgr.evaluate.suite", "hubmgr.evaluate.arithmetic", "hubmgr.evaluate.jsonl",
    "hubmgr.evaluate.perplexity",
    "hubmgr.hf.remote", "hubmgr.hf.card", "hubmgr.git.cmd", "hubmgr.git.remote", "hubmgr.git.registry",
    "hubmgr.git.code_repo",
    "hubmgr.testing.hub_server", "hubmgr.testing.hub.storage", "hubmgr.testing.hub.routes",
    "hubmgr.testing.hub.faults",
]
# Product modules that may start processes, and why (git is never one of them: hubmgr.git spawns it).
SUBPROCESS_ALLOWED = {
    "hubmgr.serve.follow": "runs the release smoke test in a Python subprocess",
}


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _product_files() -> dict[str, Path]:
    files = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
    return {m: p for m, p in files.items() if not m.startswith("hubmgr.testing")}


def _under(module: str, prefixes: tuple[str, ...] | str) -> bool:
    prefixes = (prefixes,) if isinstance(prefixes, str) else prefixes
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """Every module ``path`` imports, absolute names (relative imports resolved), with line numbers."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            found.append((base, node.lineno))
            found += [(f"{base}.{a.name}", node.lineno) for a in node.names]
    return found


def _violations(rule) -> list[str]:  # noqa: ANN001 - rule(module, imported) -> bool
    out = []
    for module, path in _product_files().items():
        for imported, line in _imports(module, path):
            if rule(module, imported):
                out.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {imported}")
    return sorted(set(out))


def test_every_promised_module_exists() -> None:
    import importlib.util

    missing = [m for m in REQUIRED if importlib.util.find_spec(m) is None]
    assert not missing, f"modules the layout promises are missing: {missing}"


def test_the_rules_see_every_product_module() -> None:
    files = _product_files()
    assert len(files) > 40 and "hubmgr.formats.torchfile" in files and "hubmgr.cli" in files
    # The resolver maps relative imports to absolute names (a rule that saw nothing would pass).
    hub = dict(_imports("hubmgr.hf.remote", files["hubmgr.hf.remote"]))
    assert "huggingface_hub" in {m.split(".")[0] for m in hub} and "hubmgr.errors" in hub


def test_only_hf_imports_huggingface_hub() -> None:
    bad = _violations(lambda mod, imp: _under(imp, "huggingface_hub") and not _under(mod, "hubmgr.hf"))
    assert not bad, "\n".join(bad)


def test_the_product_never_imports_testing() -> None:
    bad = _violations(lambda mod, imp: _under(imp, "hubmgr.testing"))
    assert not bad, "\n".join(bad)


def test_only_the_catalog_imports_sqlite3() -> None:
    bad = _violations(lambda mod, imp: _under(imp, ("sqlite3", "_sqlite3")) and mod != "hubmgr.catalog")
    assert not bad, "\n".join(bad)


def test_the_core_never_imports_a_front_end_even_lazily() -> None:
    front = ("click", "rich", "textual", "hubmgr.cli", "hubmgr.tui")
    bad = _violations(lambda mod, imp: _under(imp, front) and not _under(mod, NOT_CORE))
    assert not bad, "\n".join(bad)


SPAWNERS = {"run", "Popen", "check_output", "check_call", "call", "system", "popen", "execvp", "execv",
            "spawnlp", "create_subprocess_exec", "create_subprocess_shell"}


def _spawns_git(node: ast.Call) -> bool:
    """A process-starting call whose command is the literal "git" (or git-lfs)."""
    func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
    if func not in SPAWNERS:
        return False
    args = node.args[:1] + [k.value for k in node.keywords if k.arg == "args"]
    for arg in args:
        if isinstance(arg, (ast.List, ast.Tuple)) and arg.elts and isinstance(arg.elts[0], ast.Constant) \
                and arg.elts[0].value in ("git", "git-lfs"):
            return True
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value.split(" ")[0] == "git":
            return True
    return False


def test_only_the_git_layer_spawns_processes_of_git() -> None:
    bad = []
    for module, path in _product_files().items():
        if _under(module, "hubmgr.git"):
            continue
        uses_subprocess = any(_under(imp, ("subprocess", "pty")) or imp in ("os.system", "os.popen", "os.execvp")
                              for imp, _ in _imports(module, path))
        if uses_subprocess and module not in SUBPROCESS_ALLOWED:
            bad.append(f"{module} starts processes (only hubmgr.git may spawn git; add a reason to the allow-list)")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and _spawns_git(node):
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} runs git outside hubmgr.git")
    assert not bad, "\n".join(bad)


def test_the_git_rule_would_catch_a_git_call(tmp_path: Path) -> None:
    call = ast.parse("subprocess.run(['git', 'status'], cwd=repo)").body[0].value
    shell = ast.parse("os.system('git push')").body[0].value
    other = ast.parse("subprocess.run([sys.executable, '-m', 'x'])").body[0].value
    lookup = ast.parse("data.get('git', {})").body[0].value
    assert _spawns_git(call) and _spawns_git(shell) and not _spawns_git(other) and not _spawns_git(lookup)


def _core_modules() -> list[str]:
    return [m for m in _product_files() if not _under(m, NOT_CORE)]


def test_core_modules_import_no_front_end_and_no_tensor_library() -> None:
    """One interpreter imports each core module in turn and names the first that pulls in a forbidden one."""
    modules = _core_modules()
    code = (
        "import importlib, sys\n"
        f"front, heavy = {FRONT_ENDS!r}, {TENSOR_LIBS!r}\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "    bad = sorted({m.split('.')[0] for m in sys.modules} & set(front + heavy))\n"
        "    if bad:\n"
        "        print(name, ' '.join(bad)); break\n"
        "else:\n"
        "    print('OK', len(" + repr(modules) + "))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == f"OK {len(modules)}", f"importing this core module loads a front end or tensor library: {out}"


def test_cli_help_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from hubmgr.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("NO-TORCH")


@pytest.mark.parametrize("module", ["hubmgr.sync", "hubmgr.deploy"])
def test_pull_path_starts_without_torch(module: str) -> None:
    code = f"import sys, importlib; importlib.import_module({module!r}); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
