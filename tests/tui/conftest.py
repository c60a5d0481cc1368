"""Fixtures for the TUI tests: a real workspace on disk with a real catalog.

Checkpoints are real files written by torch/transformers. They are registered in
the catalog with ``hubmgr.checkpoints.inspect_checkpoint`` when that exists, else
with facts read from the files here (sizes, safetensors header, state_dict keys).
"""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import pytest

from hubmgr.catalog import Catalog
from hubmgr.models import CheckpointInfo, FileInfo, SafetyInfo, TensorInfo




def _safetensors_tensors(file: Path) -> list[TensorInfo]:
    with file.open("rb") as fh:
        (n,) = struct.unpack("<Q", fh.read(8))
        header = json.loads(fh.read(n))
    return [TensorInfo(name, meta["dtype"], tuple(meta["shape"]), file.name)
            for name, meta in sorted(header.items()) if name != "__metadata__"]


def _state_dict_tensors(file: Path) -> list[TensorInfo]:
    import torch

    state = torch.load(file, map_location="cpu", weights_only=True)
    names = {torch.float32: "F32", torch.float16: "F16", torch.int64: "I64", torch.bool: "BOOL"}
    return [TensorInfo(k, names.get(v.dtype, str(v.dtype)), tuple(v.shape), file.name) for k, v in sorted(state.items())]


def describe(path: Path, **extra) -> CheckpointInfo:
    """Facts about a checkpoint we wrote ourselves (fallback when the core inspector is absent)."""
    try:
        from hubmgr.checkpoints import inspect_checkpoint
    except ImportError:
        inspect_checkpoint = None
    if inspect_checkpoint is not None:
        info = inspect_checkpoint(str(path))
        if extra:
            from dataclasses import replace

            info = replace(info, **extra)
        return info
    files = sorted(p for p in ([path] if path.is_file() else path.rglob("*")) if p.is_file())
    file_infos = tuple(FileInfo(str(p.relative_to(path)) if path.is_dir() else p.name, p.stat().st_size)
                       for p in files)
    if path.is_dir():
        tensors = _safetensors_tensors(path / "model.safetensors")
        kind, fmt, verdict = "hf_model", "safetensors", SafetyInfo("not_pickle")
    else:
        tensors = _state_dict_tensors(path)
        kind, fmt = "state_dict", "torch_zip"
        verdict = SafetyInfo("safe", globals=("collections.OrderedDict", "torch._utils._rebuild_tensor_v2"))
    params = 0
    for t in tensors:
        count = 1
        for d in t.shape:
            count *= d
        params += count
    fields = dict(path=str(path), name=path.name, kind=kind, format=fmt,
                  size_bytes=sum(f.size_bytes for f in file_infos), params=params,
                  dtypes=tuple(sorted({t.dtype for t in tensors})), safety=verdict, files=file_infos,
                  tensors=tuple(tensors), model_type="gpt2",
                  tied_groups=(("lm_head.weight", "transformer.wte.weight"),) if kind == "state_dict" else ())
    fields.update(extra)
    return CheckpointInfo(**fields)


@pytest.fixture(scope="session")
def state_dict_file(tmp_path_factory, tiny_gpt2) -> Path:
    import torch

    model, _ = tiny_gpt2
    out = tmp_path_factory.mktemp("sd") / "model.pt"
    torch.save(model.state_dict(), out)
    return out


@pytest.fixture
def workspace(tmp_path: Path, tiny_gpt2_dir: Path, state_dict_file: Path) -> Path:
    """runs/gpt2-add-1k (HF dir), runs/gpt2-add-5k (HF dir), runs/model.pt (state_dict)."""
    ws = tmp_path / "ws"
    runs = ws / "runs"
    runs.mkdir(parents=True)
    shutil.copytree(tiny_gpt2_dir, runs / "gpt2-add-1k")
    shutil.copytree(tiny_gpt2_dir, runs / "gpt2-add-5k")
    shutil.copy(state_dict_file, runs / "model.pt")
    return ws


@pytest.fixture
def catalog(workspace: Path) -> Catalog:
    """A real catalog in the workspace with the three checkpoints registered."""
    cat = Catalog(workspace / ".hubmgr" / "catalog.db")
    runs = workspace / "runs"
    cat.upsert_checkpoints([
        describe(runs / "gpt2-add-1k", step=120, best_metric=0.31, metrics={"eval_loss": 0.31}),
        describe(runs / "gpt2-add-5k", step=500, best_metric=0.12, metrics={"eval_loss": 0.12}),
        describe(runs / "model.pt"),
    ])
    return cat


@pytest.fixture
def make_app(workspace: Path, catalog: Catalog):
    """Build the app on the fixture workspace (no background rescan unless asked)."""
    from hubmgr.tui.app import create_app

    def make(**kwargs):
        kwargs.setdefault("rescan_on_start", False)
        kwargs.setdefault("workspace_label", "~/ws")
        kwargs.setdefault("show_eta", False)
        return create_app(workspace, catalog=catalog, **kwargs)

    return make
