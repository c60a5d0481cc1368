"""convert_checkpoint on single torch files: every input kind, the edge cases, refusals, atomicity."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from hubmgr.catalog import Catalog
from hubmgr.convert import convert_checkpoint
from hubmgr.errors import (CancelledError, ConflictError, CorruptFileError, NotFoundError, UnsafePickleError,
                           UsageError)
from hubmgr.progress import CancelToken


def edge_case_state_dict() -> dict[str, torch.Tensor]:
    """Everything that broke the reference torch.load + save_file path."""
    torch.manual_seed(0)
    wte = torch.randn(16, 8)
    qkv = torch.randn(24, 8)
    return {
        "transformer.wte.weight": wte,
        "lm_head.weight": wte,  # tied: save_file refuses these
        "wte_first_rows": wte[:4],  # a slice of a tied tensor: the reference dedup drops it silently
        "attn.q.weight": qkv[0:8],  # non-overlapping slices of one storage (fused q/k/v)
        "attn.k.weight": qkv[8:16],
        "attn.v.weight": qkv[16:24],
        "transposed": torch.randn(5, 3).t(),  # non-contiguous
        "expanded": torch.randn(1, 4).expand(3, 4),  # stride 0
        "every_other": torch.arange(20, dtype=torch.int64)[::2],
        "scalar": torch.tensor(3.25),  # 0-dim
        "empty": torch.zeros(0, 5),
        "fp16": torch.randn(4, 4).half(),
        "bf16": torch.randn(4, 4).to(torch.bfloat16),
        "int8": torch.tensor([-128, 0, 127], dtype=torch.int8),
        "bool": torch.tensor([[True, False], [False, True]]),
        "f64": torch.randn(3, dtype=torch.float64),
        "u8": torch.tensor([0, 255], dtype=torch.uint8),
    }


def assert_same_tensors(path: Path, expected: dict[str, torch.Tensor], *, skip: set[str] = frozenset()) -> None:
    back = load_file(str(path))
    assert set(back) == set(expected) - set(skip)
    for name, tensor in back.items():
        want = expected[name]
        assert tensor.dtype == want.dtype and tensor.shape == want.shape, name
        assert torch.equal(tensor, want.contiguous()), name


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_state_dict_edge_cases_round_trip(tmp_path: Path, legacy: bool) -> None:
    sd = edge_case_state_dict()
    src = tmp_path / "weights.pth"
    torch.save(sd, src, _use_new_zipfile_serialization=not legacy)
    result = convert_checkpoint(src)
    out = tmp_path / "weights.safetensors"
    assert result.output == str(out) and result.verified
    assert result.source_format == ("torch_legacy" if legacy else "torch_zip")
    assert result.source_kind == "state_dict"
    assert [(g.kept, g.dropped) for g in result.tied] == [("transformer.wte.weight", ("lm_head.weight",))]
    assert_same_tensors(out, sd, skip={"lm_head.weight"})
    with safe_open(str(out), framework="pt") as f:
        assert f.metadata() == {"format": "pt"}
    assert result.files[0].size_bytes == out.stat().st_size
    import hashlib

    assert result.files[0].sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert result.source_sha256 == hashlib.sha256(src.read_bytes()).hexdigest()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["weights.pth", "weights.safetensors"]


def test_plain_contiguous_path_does_not_import_torch(tmp_path: Path) -> None:
    sd = {"a": torch.randn(64, 64), "b": torch.arange(10), "tied": None}
    sd["tied"] = sd["a"]
    torch.save(sd, tmp_path / "m.pth")
    code = ("import sys\nfrom hubmgr.convert import convert_checkpoint\n"
            f"convert_checkpoint({str(tmp_path / 'm.pth')!r})\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "NO-TORCH"
    assert_same_tensors(tmp_path / "m.safetensors", sd, skip={"tied"})


def test_training_checkpoint_keeps_weights_and_lists_the_rest(tmp_path: Path) -> None:
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    opt = torch.optim.AdamW(net.parameters())
    net(torch.randn(2, 4)).sum().backward()
    opt.step()
    src = tmp_path / "last.ckpt"
    torch.save({"epoch": 7, "global_step": 700, "model_state_dict": net.state_dict(),
                "optimizer_state_dict": opt.state_dict(), "rng_state": torch.get_rng_state(),
                "run_name": "baseline"}, src)
    result = convert_checkpoint(src)
    assert result.source_kind == "training_checkpoint" and result.source_key == "model_state_dict"
    assert {"epoch", "global_step", "optimizer_state_dict", "rng_state", "run_name"} <= set(result.dropped)
    assert result.metadata == {"format": "pt", "epoch": "7", "global_step": "700", "run_name": "baseline"}
    assert_same_tensors(tmp_path / "last.safetensors", net.state_dict())
    with safe_open(str(tmp_path / "last.safetensors"), framework="pt") as f:
        assert f.metadata()["epoch"] == "7"


def test_lightning_style_checkpoint_with_key_and_strip_prefix(tmp_path: Path) -> None:
    inner = {"model.encoder.weight": torch.randn(3, 3), "model.encoder.bias": torch.randn(3)}
    src = tmp_path / "epoch=1.ckpt"
    torch.save({"state_dict": inner, "epoch": 1, "hyper_parameters": {"lr": 0.1}}, src)
    result = convert_checkpoint(src, key="state_dict", strip_prefix="model.", out=tmp_path / "w.safetensors")
    assert result.source_key == "state_dict"
    assert_same_tensors(tmp_path / "w.safetensors", {k.removeprefix("model."): v for k, v in inner.items()})
    with pytest.raises(NotFoundError, match="no entry 'weights'.*state_dict"):
        convert_checkpoint(src, key="weights", out=tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def test_wrapper_prefix_is_reported_when_not_stripped(tmp_path: Path) -> None:
    torch.save({"module.w": torch.ones(2), "module.b": torch.zeros(2)}, tmp_path / "ddp.pt")
    result = convert_checkpoint(tmp_path / "ddp.pt")
    assert any("--strip-prefix module." in w for w in result.warnings)
    with pytest.raises(UsageError, match="both"):
        torch.save({"module.w": torch.ones(2), "w": torch.zeros(2)}, tmp_path / "clash.pt")
        convert_checkpoint(tmp_path / "clash.pt", strip_prefix="module.")


def _save_full_model(path: Path, legacy: bool = False) -> torch.nn.Module:
    """``torch.save(model)`` of a class from a user's train.py, which the converter cannot import."""

    class TinyNet(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed = torch.nn.Embedding(10, 4)
            self.body = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
            self.head = torch.nn.Linear(4, 10, bias=False)
            self.head.weight = self.embed.weight  # tied
            self.register_buffer("scale", torch.tensor(2.0))
            self.register_buffer("cache", torch.zeros(3), persistent=False)

    TinyNet.__module__, TinyNet.__qualname__ = "__main__", "TinyNetForConvertTest"
    net = TinyNet()
    main = sys.modules["__main__"]
    setattr(main, "TinyNetForConvertTest", TinyNet)
    try:
        torch.save(net, path, _use_new_zipfile_serialization=not legacy)
    finally:
        delattr(main, "TinyNetForConvertTest")  # the class is gone: nobody can unpickle it normally
    return net


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_full_model_pickle_converts_without_its_class(tmp_path: Path, legacy: bool) -> None:
    src = tmp_path / "model.pth"
    net = _save_full_model(src, legacy)
    assert not hasattr(sys.modules["__main__"], "TinyNetForConvertTest")  # the class cannot be found
    result = convert_checkpoint(src)
    assert result.source_kind == "full_model_pickle"
    assert result.class_name == "__main__.TinyNetForConvertTest"
    expected = net.state_dict()
    assert "cache" not in expected  # non-persistent buffers are not part of a state_dict
    assert [(g.kept, g.dropped) for g in result.tied] == [("embed.weight", ("head.weight",))]
    assert_same_tensors(tmp_path / "model.safetensors", expected, skip={"head.weight"})


class _RunsShell:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_unsafe_pickle_is_refused_without_running_anything(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"
    src = tmp_path / "evil.pth"
    torch.save({"w": torch.ones(3), "payload": _RunsShell(marker)}, src)
    with pytest.raises(UnsafePickleError) as info:
        convert_checkpoint(src)
    assert "system" in str(info.value) and any("system" in g for g in info.value.globals)
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.pth"]


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("cut", [0.5, 0.98])
def test_truncated_file_is_a_clear_error_and_writes_nothing(tmp_path: Path, cut: float, legacy: bool) -> None:
    src = tmp_path / "w.pth"
    torch.save({"a": torch.randn(256, 256), "b": torch.randn(256)}, src, _use_new_zipfile_serialization=not legacy)
    data = src.read_bytes()
    src.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(CorruptFileError):
        convert_checkpoint(src)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["w.pth"]


def test_not_a_checkpoint_and_unknown_layout(tmp_path: Path) -> None:
    (tmp_path / "notes.pth").write_text("hello")
    with pytest.raises(CorruptFileError, match="not a torch checkpoint"):
        convert_checkpoint(tmp_path / "notes.pth")
    (tmp_path / "w.safetensors").write_bytes(b"")
    with pytest.raises(UsageError, match="already a safetensors"):
        convert_checkpoint(tmp_path / "w.safetensors")
    (tmp_path / "w.safetensors").unlink()
    torch.save({"lr": 0.1, "names": ["a", "b"]}, tmp_path / "config.pt")
    with pytest.raises(NotFoundError, match="no model weights found"):
        convert_checkpoint(tmp_path / "config.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.pt", "notes.pth"]


@pytest.mark.parametrize("dtype, torch_dtype", [("fp16", torch.float16), ("bf16", torch.bfloat16)])
def test_dtype_casts_floats_only(tmp_path: Path, dtype: str, torch_dtype: torch.dtype) -> None:
    sd = edge_case_state_dict()
    torch.save(sd, tmp_path / "w.pth")
    result = convert_checkpoint(tmp_path / "w.pth", dtype=dtype)
    assert result.dtype == {"fp16": "F16", "bf16": "BF16"}[dtype]
    expected = {k: (v.to(torch_dtype) if v.is_floating_point() else v) for k, v in sd.items()}
    assert_same_tensors(tmp_path / "w.safetensors", expected, skip={"lm_head.weight"})


def test_existing_output_needs_force(tmp_path: Path) -> None:
    torch.save({"a": torch.ones(2)}, tmp_path / "w.pth")
    convert_checkpoint(tmp_path / "w.pth")
    torch.save({"a": torch.zeros(2)}, tmp_path / "w.pth")
    with pytest.raises(ConflictError, match="already exists") as info:
        convert_checkpoint(tmp_path / "w.pth")
    assert "--force" in info.value.hint
    assert torch.equal(load_file(str(tmp_path / "w.safetensors"))["a"], torch.ones(2))
    convert_checkpoint(tmp_path / "w.pth", force=True)
    assert torch.equal(load_file(str(tmp_path / "w.safetensors"))["a"], torch.zeros(2))


def test_force_only_replaces_a_previous_output(tmp_path: Path) -> None:
    torch.save({"a": torch.ones(2)}, tmp_path / "w.pth")
    precious = tmp_path / "models"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    with pytest.raises(ConflictError, match="refusing to replace"):
        convert_checkpoint(tmp_path / "w.pth", out=precious, force=True)
    assert (precious / "notes.txt").read_text() == "keep me"
    (tmp_path / "odd.safetensors").mkdir()
    with pytest.raises(ConflictError, match="is a folder"):
        convert_checkpoint(tmp_path / "w.pth", out=tmp_path / "odd.safetensors", force=True)
    convert_checkpoint(tmp_path / "w.pth", out=tmp_path / "out")
    result = convert_checkpoint(tmp_path / "w.pth", out=tmp_path / "out", force=True)  # a previous output: fine
    assert [f.path for f in result.files] == ["model.safetensors"]


def test_cancel_between_tensors_leaves_nothing(tmp_path: Path) -> None:
    torch.save({f"t{i}": torch.randn(100) for i in range(10)}, tmp_path / "w.pth")
    token = CancelToken()
    seen = []

    def progress(event) -> None:
        seen.append(event)
        if event.task == "convert:write" and event.completed:
            token.cancel()

    with pytest.raises(CancelledError):
        convert_checkpoint(tmp_path / "w.pth", progress=progress, cancel=token)
    assert seen and sorted(p.name for p in tmp_path.iterdir()) == ["w.pth"]


def test_stray_temp_of_a_killed_run_is_cleaned(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    stray = tmp_path / f".w.safetensors.hubmgr-tmp-{proc.pid}"
    stray.write_bytes(b"half a file")
    torch.save({"a": torch.ones(2)}, tmp_path / "w.pth")
    result = convert_checkpoint(tmp_path / "w.pth")
    assert result.removed_temps == (str(stray),) and not stray.exists()


def test_sharded_single_file_output_and_catalog_record(tmp_path: Path) -> None:
    sd = {f"layer{i}.weight": torch.randn(64, 64) for i in range(5)}  # 16 KiB each
    torch.save(sd, tmp_path / "w.pth")
    catalog = Catalog(tmp_path / "catalog.db")
    result = convert_checkpoint(tmp_path / "w.pth", max_shard_size=40_000, catalog=catalog)
    out = tmp_path / "w-safetensors"
    assert result.output == str(out)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                     "model-00003-of-00003.safetensors", "model.safetensors.index.json"]
    import json

    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert index["metadata"]["total_size"] == 5 * 64 * 64 * 4
    merged = {}
    for shard in set(index["weight_map"].values()):
        part = load_file(str(out / shard))
        assert all(index["weight_map"][k] == shard for k in part)
        merged.update(part)
    assert all(torch.equal(merged[k], v) for k, v in sd.items()) and len(merged) == 5
    [record] = catalog.list_conversions()
    assert record.id == result.conversion_id and record.output_path == str(out)
    assert record.source_sha256 == result.source_sha256
    assert {o["path"] for o in record.outputs} == set(names)
    first = out / names[0]  # outputs land in the hash cache: a rescan hashes nothing
    st = first.stat()
    assert catalog.cached_sha256(str(first), st.st_size, st.st_mtime_ns, st.st_ino) == result.files[0].sha256


def test_a_format_entry_in_the_checkpoint_does_not_break_the_pt_marker(tmp_path: Path) -> None:
    torch.save({"state_dict": {"w": torch.ones(2)}, "format": "lightning-v2", "epoch": 1}, tmp_path / "c.ckpt")
    result = convert_checkpoint(tmp_path / "c.ckpt")
    assert result.metadata == {"format": "pt", "epoch": "1"} and "format" in result.dropped
    with safe_open(str(tmp_path / "c.safetensors"), framework="pt") as f:
        assert f.metadata()["format"] == "pt"


@pytest.mark.slow
def test_tensor_over_2_gib(tmp_path: Path) -> None:
    # A single write()/copy_file_range() moves at most ~2 GiB: the copy must loop.
    # (test_safetensors_writer covers the same loops with a shrunk chunk on any disk.)
    import shutil

    if shutil.disk_usage(tmp_path).free < 6 * 2**30:
        pytest.skip("needs ~4.3 GB of free temp disk for a >2 GiB source and output")
    n = 2**31 + 4096
    big = torch.empty(n, dtype=torch.uint8)
    big[:16] = torch.arange(16, dtype=torch.uint8)
    big[-16:] = torch.arange(16, dtype=torch.uint8)
    torch.save({"big": big, "small": torch.ones(3)}, tmp_path / "big.pth")
    del big
    result = convert_checkpoint(tmp_path / "big.pth")
    assert result.verified and result.tensor_bytes == n + 12
    with safe_open(str(tmp_path / "big.safetensors"), framework="pt") as f:
        sl = f.get_slice("big")
        assert sl.get_shape() == [n]
        assert torch.equal(sl[-16:], torch.arange(16, dtype=torch.uint8))


def test_the_source_hash_stops_when_cancelled_and_caches_nothing(tmp_path: Path) -> None:
    # convert hashes its source in a thread from the start; a failed convert cancels it.
    from hubmgr.formats.hashing import sha256_cached

    path = tmp_path / "w.pth"
    torch.save({"w": torch.randn(256, 256)}, path)
    catalog = Catalog(tmp_path / "catalog.db")
    stop = CancelToken()
    stop.cancel()
    with pytest.raises(CancelledError):
        sha256_cached(path, catalog, cancel=stop)
    st = path.stat()
    from hubmgr.formats.hashing import change_ns

    assert catalog.cached_sha256(str(path.resolve()), st.st_size, change_ns(st), st.st_ino) is None
    import hashlib

    assert sha256_cached(path, catalog, cancel=CancelToken()) == hashlib.sha256(path.read_bytes()).hexdigest()
