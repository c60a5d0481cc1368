"""checkpoints: discovery, inspection, catalog records, bad input, warm rescans."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from hubmgr import checkpoints as ck
from hubmgr.catalog import MIGRATIONS, Catalog
from hubmgr.errors import CancelledError, CorruptFileError, NotFoundError
from hubmgr.progress import CancelToken
from hubmgr.testing import checkpoint_factory as cf

torch = pytest.importorskip("torch")


class ScanNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = torch.nn.Linear(4, 4)
        self.head = torch.nn.Linear(4, 2)


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog(tmp_path / "cat" / "catalog.db")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _by_name(result) -> dict:
    return {c.name: c for c in result.checkpoints}


def test_hf_safetensors_dir(tiny_gpt2_dir: Path, tiny_gpt2) -> None:
    from safetensors import safe_open

    info = ck.inspect_checkpoint(tiny_gpt2_dir)
    assert (info.kind, info.format) == ("hf_model", "safetensors")
    assert info.model_type == "gpt2" and info.architecture == "GPT2LMHeadModel" and info.has_tokenizer
    assert info.safety.verdict == "not_pickle"
    with safe_open(str(tiny_gpt2_dir / "model.safetensors"), "pt") as f:
        expected = {k: (tuple(f.get_slice(k).get_shape()), f.get_slice(k).get_dtype()) for k in f.keys()}
    assert {t.name: (t.shape, t.dtype) for t in info.tensors} == expected
    assert info.params == sum(int(torch.tensor(s).prod()) if s else 1 for s, _ in expected.values())
    files = {f.path: f for f in info.files}
    assert files["model.safetensors"].sha256 == _sha(tiny_gpt2_dir / "model.safetensors")
    assert files["config.json"].size_bytes == (tiny_gpt2_dir / "config.json").stat().st_size
    assert info.size_bytes == sum(f.size_bytes for f in info.files)


def test_hf_bin_dir_has_tied_weights(tiny_gpt2_bin_dir: Path, tiny_gpt2) -> None:
    model, _ = tiny_gpt2
    info = ck.inspect_checkpoint(tiny_gpt2_bin_dir)
    assert (info.kind, info.format) == ("hf_model", "torch_zip")
    assert info.safety.verdict == "safe"
    assert ("lm_head.weight", "transformer.wte.weight") in info.tied_groups
    assert info.params == model.num_parameters()  # tied weights counted once
    assert {t.name for t in info.tensors} == set(model.state_dict())


def test_sharded_safetensors_dir(tmp_path: Path, tiny_gpt2) -> None:
    model, tokenizer = tiny_gpt2
    out = tmp_path / "sharded"
    model.save_pretrained(out, max_shard_size="100KB")
    info = ck.inspect_checkpoint(out)
    assert info.format == "sharded_safetensors"
    shards = {t.file for t in info.tensors}
    assert len(shards) > 1 and all(s and (out / s).exists() for s in shards)
    assert "model.safetensors.index.json" in info.extra["index"]
    assert not info.has_tokenizer


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_single_torch_files(tmp_path: Path, legacy: bool) -> None:
    sd = cf.save_state_dict(tmp_path / "weights.pth", legacy=legacy)
    model_path = tmp_path / "model.pt"
    torch.save(ScanNet(), model_path, _use_new_zipfile_serialization=not legacy)
    train = cf.save_training_checkpoint(tmp_path / "last.ckpt", legacy=legacy)
    fmt = "torch_legacy" if legacy else "torch_zip"

    info = ck.inspect_checkpoint(sd)
    assert (info.kind, info.format, info.safety.verdict) == ("state_dict", fmt, "safe")
    assert {"F32", "F16", "BF16", "I8", "BOOL", "I64"} <= set(info.dtypes)
    assert ("tied_a", "tied_b") in info.tied_groups

    info = ck.inspect_checkpoint(model_path)
    assert (info.kind, info.safety.verdict) == ("full_model_pickle", "needs_code")
    assert info.extra["class_name"] == f"{__name__}.ScanNet"
    assert f"{__name__}.ScanNet" in info.safety.classes_needed
    assert {t.name for t in info.tensors} == set(ScanNet().state_dict())
    assert info.params == sum(p.numel() for p in ScanNet().parameters())

    info = ck.inspect_checkpoint(train)
    assert (info.kind, info.safety.verdict) == ("training_checkpoint", "safe")
    assert info.step == 120 and info.metrics == {"loss": 0.25}
    assert info.extra["source_key"] == "model_state_dict" and "optimizer_state_dict" in info.extra["dropped"]


def _bad_tree(root: Path, outside: Path, marker: Path) -> None:
    cf.save_state_dict(root / "good" / "weights.pt")
    cf.save_malicious_checkpoint(root / "evil" / "model.pth", marker)
    cf.save_malicious_checkpoint(root / "evil" / "legacy.pth", marker, legacy=True)
    cf.truncate_copy(cf.save_state_dict(outside / "src.pt"), root / "cut.pt", 0.6)
    cf.write_safetensors_huge_header(root / "huge.safetensors")
    cf.write_safetensors_bad_offsets(root / "offsets.safetensors")
    cf.truncate_copy(cf.save_safetensors(outside / "ok.safetensors"), root / "short.safetensors", 0.8)
    cf.write_zip_not_torch(root / "archive.pt")
    cf.write_random_bytes(root / "noise.pth")
    cf.write_lfs_pointer(root / "lfs" / "model.safetensors")
    (root / "README.md").write_text("not a checkpoint")
    cf.save_state_dict(outside / "secret.pt")
    os.symlink(outside / "secret.pt", root / "linked.pt")
    os.symlink(outside, root / "linked_dir")


def test_scan_survives_bad_input_and_never_executes(tmp_path: Path, catalog: Catalog) -> None:
    root, outside, marker = tmp_path / "root", tmp_path / "outside", tmp_path / "MARKER"
    root.mkdir()
    outside.mkdir()
    _bad_tree(root, outside, marker)
    result = ck.scan([root], catalog=catalog)
    found = {Path(c.path).relative_to(root).as_posix(): c for c in result.checkpoints}
    assert not marker.exists()
    assert set(found) == {"good/weights.pt", "evil/model.pth", "evil/legacy.pth", "cut.pt", "huge.safetensors",
                          "offsets.safetensors", "short.safetensors", "archive.pt", "noise.pth",
                          "lfs/model.safetensors"}
    assert found["good/weights.pt"].safety.verdict == "safe"
    for evil in ("evil/model.pth", "evil/legacy.pth"):
        assert found[evil].safety.verdict == "unsafe"
        assert any(g.endswith(".system") for g in found[evil].safety.offending)
    for bad in ("cut.pt", "huge.safetensors", "offsets.safetensors", "short.safetensors", "archive.pt",
                "noise.pth"):
        assert found[bad].kind == "unknown" and found[bad].warnings, bad
        assert found[bad].safety.verdict == "unknown", bad
    assert "claims" in found["huge.safetensors"].warnings[0]
    assert "not a torch checkpoint" in found["archive.pt"].warnings[0]
    lfs = found["lfs/model.safetensors"]
    assert (lfs.kind, lfs.format, lfs.params, lfs.tensors) == ("lfs_pointer", "lfs_pointer", None, ())
    assert any("linked.pt" in w and "outside" in w for w in result.warnings)
    assert any("linked_dir" in w for w in result.warnings)
    assert len(result.warnings) >= 8
    assert {d["path"] for d in catalog.list_checkpoint_dicts()} == {c.path for c in result.checkpoints}


def test_symlink_inside_root_is_followed(tmp_path: Path, catalog: Catalog) -> None:
    cf.save_state_dict(tmp_path / "real" / "w.pt")
    os.symlink(tmp_path / "real" / "w.pt", tmp_path / "alias.pt")
    result = ck.scan([tmp_path], catalog=catalog)
    assert {c.name for c in result.checkpoints} == {"w.pt", "alias.pt"} and not result.warnings


def test_hf_dir_files_are_not_separate_entries(tmp_path: Path, tiny_gpt2_dir: Path, tiny_gpt2,
                                               catalog: Catalog) -> None:
    model, tokenizer = tiny_gpt2
    from hubmgr.testing.tiny_models import save_hf_dir

    save_hf_dir(model, tokenizer, tmp_path / "runs" / "a")
    save_hf_dir(model, tokenizer, tmp_path / "runs" / "b", safe_serialization=False)
    cf.save_state_dict(tmp_path / "runs" / "extra.pt")
    result = ck.scan([tmp_path / "runs"], catalog=catalog)
    assert sorted(c.name for c in result.checkpoints) == ["a", "b", "extra.pt"]
    assert all(c.tensors == () for c in result.checkpoints)  # summaries; the catalog keeps the full info
    stored = catalog.get_checkpoint_dict(str(tmp_path / "runs" / "a"))
    assert stored and stored["tensors"] and stored["files"][0]["sha256"]


def test_lfs_pointer_in_hf_dir(tmp_path: Path, tiny_gpt2_dir: Path, catalog: Catalog) -> None:
    clone = tmp_path / "clone"
    clone.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (clone / name).write_bytes((tiny_gpt2_dir / name).read_bytes())
    weights = (tiny_gpt2_dir / "model.safetensors").read_bytes()
    (clone / "model.safetensors").write_text(cf.lfs_pointer_text(weights))
    info = ck.scan([tmp_path], catalog=catalog).checkpoints[0]
    assert (info.kind, info.format, info.model_type) == ("lfs_pointer", "lfs_pointer", "gpt2")
    pointer = info.extra["lfs_pointers"]["model.safetensors"]
    assert pointer == {"oid": hashlib.sha256(weights).hexdigest(), "size": len(weights)}
    assert "git lfs pull" in info.warnings[-1]


def test_warm_rescan_hashes_nothing_and_forgets_vanished(tmp_path: Path, tiny_gpt2_dir: Path,
                                                         catalog: Catalog) -> None:
    root = tmp_path / "root"
    cf.save_state_dict(root / "a.pt")
    cf.save_training_checkpoint(root / "b.pt")
    cf.save_safetensors(root / "c.safetensors")
    cold = ck.scan([root], catalog=catalog)
    assert cold.files_hashed == 3 and cold.bytes_hashed == sum(p.stat().st_size for p in root.iterdir())
    warm = ck.scan([root], catalog=catalog)
    assert (warm.files_hashed, warm.bytes_hashed) == (0, 0)
    assert [c.to_dict() for c in warm.checkpoints] == [c.to_dict() for c in cold.checkpoints]
    cf.save_state_dict(root / "a.pt", tensors={"x": torch.ones(3)})
    (root / "b.pt").unlink()
    again = ck.scan([root], catalog=catalog)
    assert again.files_hashed == 1 and again.forgotten == 1
    assert {Path(d["path"]).name for d in catalog.list_checkpoint_dicts()} == {"a.pt", "c.safetensors"}
    # another root's entries are left alone by a rescan of this one
    ck.scan([tiny_gpt2_dir], catalog=catalog)
    ck.scan([root], catalog=catalog)
    assert str(tiny_gpt2_dir) in {d["path"] for d in catalog.list_checkpoint_dicts()}


def test_old_catalog_upgrades_in_place(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    conn = sqlite3.connect(db)  # a v0 catalog: no tables yet, user_version 0
    conn.execute("PRAGMA user_version = 0")
    conn.execute("CREATE TABLE keep_me (x INTEGER)")
    conn.execute("INSERT INTO keep_me VALUES (42)")
    conn.commit()
    conn.close()
    catalog = Catalog(db)
    cf.save_state_dict(tmp_path / "w" / "a.pt")
    assert ck.scan([tmp_path / "w"], catalog=catalog).checkpoints
    assert catalog.schema_version == len(MIGRATIONS)
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT x FROM keep_me").fetchone() == (42,)
    conn.close()


def test_list_checkpoints_sync_state(tmp_path: Path, catalog: Catalog) -> None:
    for name in ("a.pt", "b.pt", "c.pt"):
        cf.save_state_dict(tmp_path / name)
    ck.scan([tmp_path], catalog=catalog)
    a, b, c = (str(tmp_path / n) for n in ("a.pt", "b.pt", "c.pt"))
    catalog.record_conversion(source_path=b, source_sha256=None, output_path=str(tmp_path / "b.safetensors"),
                              outputs=[])
    catalog.record_conversion(source_path=c, source_sha256=None, output_path=str(tmp_path / "c-out"), outputs=[])
    catalog.record_push(checkpoint_path=str(tmp_path / "c-out"), remote="local", repo="m", revision="main",
                        tag=None, commit_sha="abcdef1234567890", url=None)
    listing = ck.list_checkpoints(catalog=catalog)
    states = {Path(i.path).name: i.sync_state.text for i in listing.checkpoints}
    assert states == {"a.pt": "local only", "b.pt": "converted", "c.pt": "pushed @abcdef1"}
    assert ck.inspect_checkpoint(c, catalog=catalog).sync_state.text == "pushed @abcdef1"
    (tmp_path / "a.pt").unlink()
    assert any("a.pt" in w for w in ck.list_checkpoints(catalog=catalog).warnings)


def test_progress_and_cancel(tmp_path: Path, catalog: Catalog) -> None:
    cf.save_state_dict(tmp_path / "a.pt")
    events = []
    ck.scan([tmp_path], catalog=catalog, progress=events.append)
    assert events[-1].finished and events[-1].completed == 1 and events[-1].unit == "checkpoints"
    token = CancelToken()
    token.cancel()
    with pytest.raises(CancelledError):
        ck.scan([tmp_path], catalog=catalog, cancel=token)


def test_inspect_errors(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        ck.inspect_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(NotFoundError):
        ck.inspect_checkpoint(tmp_path)  # a plain dir, not a model dir
    info = ck.inspect_checkpoint(cf.write_random_bytes(tmp_path / "x.pth"))
    assert info.kind == "unknown" and info.safety.verdict == "unknown"


def test_safetensors_header_bounds(tmp_path: Path) -> None:
    good = cf.save_safetensors(tmp_path / "ok.safetensors", metadata={"format": "pt", "step": "7"})
    header = ck.read_safetensors_header(good)
    assert header.metadata == {"format": "pt", "step": "7"} and set(header.tensors) == {"a.weight", "a.bias", "b"}
    for bad in (cf.write_safetensors_huge_header(tmp_path / "h.safetensors"),
                cf.write_safetensors_huge_header(tmp_path / "h2.safetensors", claimed=1000),
                cf.write_safetensors_bad_offsets(tmp_path / "o.safetensors"),
                cf.truncate_copy(good, tmp_path / "t.safetensors", 0.9)):
        with pytest.raises(CorruptFileError):
            ck.read_safetensors_header(bad)
    (tmp_path / "tiny.safetensors").write_bytes(b"\x01\x02")
    with pytest.raises(CorruptFileError):
        ck.read_safetensors_header(tmp_path / "tiny.safetensors")


def test_raw_data_bin_files_are_not_checkpoints(tmp_path: Path, catalog: Catalog) -> None:
    import array

    (tmp_path / "train.bin").write_bytes(array.array("H", range(5000)).tobytes())  # nanoGPT-style token memmap
    cf.save_state_dict(tmp_path / "weights.bin")
    cf.write_lfs_pointer(tmp_path / "lfs" / "pytorch_model.bin")
    cf.write_random_bytes(tmp_path / "noise.pth")
    names = {c.name: c.kind for c in ck.scan([tmp_path], catalog=catalog).checkpoints}
    assert names == {"weights.bin": "state_dict", "pytorch_model.bin": "lfs_pointer", "noise.pth": "unknown"}


def test_scan_imports_no_tensor_library(tmp_path: Path, tiny_gpt2_dir: Path) -> None:
    import subprocess
    import sys

    cf.save_state_dict(tmp_path / "w" / "a.pt")
    cf.save_full_model(tmp_path / "w" / "m.pt")
    code = (
        "import sys\nfrom hubmgr.catalog import Catalog\nfrom hubmgr.checkpoints import scan\n"
        f"r = scan([{str(tmp_path / 'w')!r}, {str(tiny_gpt2_dir)!r}], catalog=Catalog({str(tmp_path / 'c.db')!r}))\n"
        "print(len(r.checkpoints), sorted(m for m in ('torch', 'safetensors', 'numpy', 'transformers')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "3 []"


def test_model_dir_files_linking_outside_root_are_not_read(tmp_path: Path, tiny_gpt2_dir: Path,
                                                          catalog: Catalog) -> None:
    snapshot = tmp_path / "root" / "snapshot"  # like an HF cache snapshot scanned on its own
    snapshot.mkdir(parents=True)
    for f in tiny_gpt2_dir.iterdir():
        os.symlink(f, snapshot / f.name)
    (snapshot / "config.json").unlink()
    (snapshot / "config.json").write_bytes((tiny_gpt2_dir / "config.json").read_bytes())
    result = ck.scan([tmp_path / "root"], catalog=catalog)
    (info,) = result.checkpoints
    assert info.kind == "unknown" and [f.path for f in info.files] == ["config.json"]
    assert any("model.safetensors: symlink outside" in w for w in result.warnings)
    # asked for explicitly, the same dir is inspected through its links
    assert ck.inspect_checkpoint(snapshot).format == "safetensors"
