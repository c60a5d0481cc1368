"""Model dirs: pytorch_model.bin (single and sharded) -> a complete safetensors dir transformers loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hubmgr.convert import convert_checkpoint
from hubmgr.errors import NotFoundError, UsageError


def _logits(model, tokenizer) -> torch.Tensor:
    enc = tokenizer(["1 + 2 = 3", "45 * 6 ="], return_tensors="pt", padding=True)
    with torch.no_grad():
        return model(**enc).logits


def _load(path: Path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(path)
    model.eval()
    return model


def test_tiny_gpt2_bin_dir_converts_to_identical_logits(tmp_path: Path, tiny_gpt2, tiny_gpt2_bin_dir: Path) -> None:
    model, tokenizer = tiny_gpt2
    out = tmp_path / "converted"
    result = convert_checkpoint(tiny_gpt2_bin_dir, out=out)
    assert result.source_kind == "hf_model" and result.output == str(out)
    assert [(g.kept, g.dropped) for g in result.tied] == [("transformer.wte.weight", ("lm_head.weight",))]
    names = {f.path for f in result.files}
    assert "model.safetensors" in names and "config.json" in names and "tokenizer.json" in names
    assert "pytorch_model.bin" not in {p.name for p in out.iterdir()}
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), framework="pt") as f:
        assert "lm_head.weight" not in f.keys() and f.metadata() == {"format": "pt"}
    loaded = _load(out)
    assert loaded.lm_head.weight.data_ptr() == loaded.transformer.wte.weight.data_ptr()  # re-tied on load
    assert torch.equal(_logits(loaded, tokenizer), _logits(model, tokenizer))


def test_small_max_shard_size_writes_shards_transformers_loads(tmp_path: Path, tiny_gpt2,
                                                               tiny_gpt2_bin_dir: Path) -> None:
    model, tokenizer = tiny_gpt2
    out = tmp_path / "sharded"
    result = convert_checkpoint(tiny_gpt2_bin_dir, out=out, max_shard_size=60_000)
    shards = sorted(p.name for p in out.glob("model-*.safetensors"))
    assert len(shards) >= 3 and shards[0] == f"model-00001-of-{len(shards):05d}.safetensors"
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"].values()) == set(shards)
    assert index["metadata"]["total_size"] == result.tensor_bytes
    assert not (out / "model.safetensors").exists()
    assert torch.equal(_logits(_load(out), tokenizer), _logits(model, tokenizer))


def test_sharded_bin_dir_with_index(tmp_path: Path, tiny_gpt2, tiny_gpt2_bin_dir: Path) -> None:
    """The Trainer-era layout: pytorch_model-0000i-of-0000n.bin + pytorch_model.bin.index.json."""
    import shutil

    model, tokenizer = tiny_gpt2
    src = tmp_path / "bin-sharded"
    shutil.copytree(tiny_gpt2_bin_dir, src)
    (src / "pytorch_model.bin").unlink()
    state = model.state_dict()
    names = list(state)
    halves = [names[: len(names) // 2], names[len(names) // 2:]]
    weight_map = {}
    for i, part in enumerate(halves, start=1):
        file = f"pytorch_model-{i:05d}-of-00002.bin"
        torch.save({k: state[k] for k in part}, src / file)
        weight_map.update({k: file for k in part})
    (src / "pytorch_model.bin.index.json").write_text(json.dumps({"metadata": {"total_size": 0},
                                                                   "weight_map": weight_map}))
    (src / "training_args.bin").write_bytes(b"\x80\x04N.")  # a pickle: never copied into the safe dir
    result = convert_checkpoint(src)
    out = tmp_path / "bin-sharded-safetensors"
    assert result.output == str(out) and result.source_format == "sharded_bin"
    assert len(result.source_files) == 2 and result.source_sha256 is None
    assert result.skipped_files == ("training_args.bin",)
    files = {p.name for p in out.iterdir()}
    assert "model.safetensors" in files and not any(f.endswith(".bin") or "bin.index" in f for f in files)
    assert torch.equal(_logits(_load(out), tokenizer), _logits(model, tokenizer))


def test_dtype_bf16_dir_updates_config(tmp_path: Path, tiny_gpt2_bin_dir: Path) -> None:
    out = tmp_path / "bf16"
    result = convert_checkpoint(tiny_gpt2_bin_dir, out=out, dtype="bf16")
    assert result.dtype == "BF16"
    config = json.loads((out / "config.json").read_text())
    assert config["dtype"] == "bfloat16"
    loaded = _load(out)
    assert loaded.transformer.h[0].attn.c_attn.weight.dtype == torch.bfloat16


def test_dir_without_weights_or_already_converted(tmp_path: Path, tiny_gpt2_dir: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(NotFoundError, match="no pytorch_model.bin"):
        convert_checkpoint(tmp_path / "empty")
    with pytest.raises(UsageError, match="already holds safetensors"):
        convert_checkpoint(tiny_gpt2_dir, out=tmp_path / "x")
    assert not (tmp_path / "x").exists()
    shards = tmp_path / "shards"  # safetensors shards without an index (or under other names)
    shards.mkdir()
    (shards / "model-00001-of-00002.safetensors").write_bytes(b"x")
    with pytest.raises(UsageError, match="already holds safetensors"):
        convert_checkpoint(shards)


def test_full_model_pickle_of_a_transformers_model(tmp_path: Path, tiny_gpt2, tiny_gpt2_bin_dir: Path) -> None:
    """``torch.save(model)`` of GPT2LMHeadModel: recovered through stubs, no transformers class imported."""
    import shutil

    model, tokenizer = tiny_gpt2
    torch.save(model, tmp_path / "gpt2-full.pt")
    out = tmp_path / "dir"
    shutil.copytree(tiny_gpt2_bin_dir, out, ignore=shutil.ignore_patterns("*.bin"))
    result = convert_checkpoint(tmp_path / "gpt2-full.pt", out=out / "model.safetensors")
    assert result.source_kind == "full_model_pickle"
    assert result.class_name.endswith("GPT2LMHeadModel")
    assert [g.kept for g in result.tied] == ["transformer.wte.weight"]
    assert torch.equal(_logits(_load(out), tokenizer), _logits(model, tokenizer))
