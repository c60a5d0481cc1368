"""A rescan of unchanged checkpoints reads no file contents; any change is inspected again (issue 16)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hubmgr.catalog import Catalog
from hubmgr.checkpoints import scan


def _read_bytes_so_far() -> int:
    with open("/proc/self/io") as fh:
        return int(next(line for line in fh if line.startswith("rchar:")).split()[1])


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    root = tmp_path / "ws"
    for i in range(4):
        torch.save({"w": torch.zeros(512, 512)}, root.mkdir(parents=True, exist_ok=True) or root / f"sd-{i}.pt")
        d = root / f"model-{i}"
        d.mkdir()
        (d / "config.json").write_text('{"model_type": "gpt2"}')
        save_file({"w": torch.zeros(512, 512)}, str(d / "model.safetensors"))
    return root


def _by_path(result) -> dict:
    return {c.path: (c.kind, c.safety.verdict, c.size_bytes, tuple(f.sha256 for f in c.files))
            for c in result.checkpoints}


def test_a_warm_rescan_reads_no_checkpoint_contents_and_gives_the_same_result(workspace: Path, tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.db")
    cold = scan([workspace], catalog=catalog)
    total = sum(p.stat().st_size for p in workspace.rglob("*") if p.is_file())
    assert total > 8 * 10**6
    before = _read_bytes_so_far()
    warm = scan([workspace], catalog=catalog)
    read = _read_bytes_so_far() - before
    assert _by_path(warm) == _by_path(cold) and len(warm.checkpoints) == 8
    assert warm.bytes_hashed == 0
    assert read < total / 20, f"a warm rescan read {read} bytes of {total}"


def test_a_changed_file_is_inspected_again_even_with_its_mtime_put_back(workspace: Path, tmp_path: Path) -> None:
    import torch

    catalog = Catalog(tmp_path / "catalog.db")
    scan([workspace], catalog=catalog)
    victim = workspace / "sd-0.pt"
    st = victim.stat()
    # same size on purpose is impossible to promise with torch.save; what matters: mtime restored
    torch.save({"w": torch.ones(512, 512)}, victim)
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    again = scan([workspace], catalog=catalog)
    assert again.files_hashed >= 1  # re-read: ctime moved even though mtime was put back
    sha = next(c for c in again.checkpoints if c.path == str(victim)).files[0].sha256
    from hubmgr.formats.hashing import sha256_file

    assert sha == sha256_file(victim)


def test_a_file_added_to_a_model_dir_is_seen(workspace: Path, tmp_path: Path) -> None:
    catalog = Catalog(tmp_path / "catalog.db")
    scan([workspace], catalog=catalog)
    (workspace / "model-0" / "tokenizer.json").write_text('{"version": "1.0", "model": {"type": "WordLevel"}}')
    again = scan([workspace], catalog=catalog)
    model0 = next(c for c in again.checkpoints if c.path == str(workspace / "model-0"))
    assert "tokenizer.json" in {f.path for f in model0.files}
