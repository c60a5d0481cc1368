"""torchfile reads real torch.save outputs (zip and legacy) without torch and without executing anything."""

from __future__ import annotations

from pathlib import Path

import pytest

from hubmgr.errors import CorruptFileError, UnsafePickleError
from hubmgr.testing import checkpoint_factory as cf
from hubmgr.formats.torchfile import (
    Stub,
    TensorRef,
    find_state_dict,
    load_torch_file,
    shared_storage_groups,
    tied_groups,
)

torch = pytest.importorskip("torch")


class UserNet(torch.nn.Module):
    """A user class defined in the test module: torch.save(model) needs it to load."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.LayerNorm(5))
        self.decoder = torch.nn.Linear(5, 3)
        self.register_buffer("steps", torch.tensor(4))
        self.register_buffer("scratch", torch.zeros(2), persistent=False)


def _expected_bytes(t) -> bytes:
    return t.detach().contiguous().view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""


def _assert_same_bytes(tf, refs: dict[str, TensorRef], expected: dict) -> None:
    assert set(refs) == set(expected)
    for name, ref in refs.items():
        tensor = expected[name]
        assert ref.shape == tuple(tensor.shape), name
        assert ref.stride == tuple(tensor.stride()), name
        assert ref.offset == tensor.storage_offset(), name
        assert ref.nbytes == tensor.numel() * tensor.element_size(), name
        assert ref.is_contiguous() == tensor.is_contiguous(), name
        assert tf.read_tensor_bytes(ref) == _expected_bytes(tensor), name


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_state_dict_tensors_match_torch_bytes(tmp_path: Path, legacy: bool) -> None:
    path = cf.save_state_dict(tmp_path / "sd.pt", legacy=legacy)
    expected = torch.load(path, weights_only=True)
    tf = load_torch_file(path)
    assert tf.format == ("torch_legacy" if legacy else "torch_zip")
    assert tf.called == ()
    view = find_state_dict(tf.root)
    assert view.kind == "state_dict"
    _assert_same_bytes(tf, view.tensors, expected)
    dtypes = {n: r.dtype for n, r in view.tensors.items()}
    assert dtypes["half"] == "F16" and dtypes["bf16"] == "BF16" and dtypes["int8"] == "I8"
    assert dtypes["mask"] == "BOOL" and dtypes["count"] == "I64" and dtypes["linear.weight"] == "F32"
    assert view.tensors["scalar"].shape == () and view.tensors["scalar"].numel == 1
    assert not view.tensors["linear.weight_t"].is_contiguous()


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_storage_offsets_point_at_raw_bytes(tmp_path: Path, legacy: bool) -> None:
    path = cf.save_state_dict(tmp_path / "sd.pt", legacy=legacy)
    expected = torch.load(path, weights_only=True)
    tf = load_torch_file(path)
    raw = path.read_bytes()
    for name, ref in find_state_dict(tf.root).tensors.items():
        info = ref.storage
        assert info.file_offset is not None
        storage_bytes = raw[info.file_offset:info.file_offset + info.nbytes]
        torch_storage = expected[name].untyped_storage()
        assert info.nbytes == torch_storage.nbytes(), name
        assert storage_bytes == bytes(torch_storage), name
        start, end = ref.byte_range()
        assert 0 <= start <= end <= info.nbytes


def test_views_and_tied_groups(tmp_path: Path) -> None:
    tf = load_torch_file(cf.save_state_dict(tmp_path / "sd.pt"))
    tensors = find_state_dict(tf.root).tensors
    assert ("tied_a", "tied_b") in tied_groups(tensors)
    # halves are views of the same storage but different byte ranges: shared, not tied
    assert not any("first_half" in g for g in tied_groups(tensors))
    shared = shared_storage_groups(tensors)
    assert ("first_half", "second_half", "tied_a", "tied_b") in shared
    assert ("linear.weight", "linear.weight_t") in shared


def test_gpt2_lm_head_is_tied_to_wte(tmp_path: Path, tiny_gpt2) -> None:
    model, _ = tiny_gpt2
    path = tmp_path / "gpt2.bin"
    torch.save(model.state_dict(), path)
    tensors = find_state_dict(load_torch_file(path).root).tensors
    assert ("lm_head.weight", "transformer.wte.weight") in tied_groups(tensors)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_full_model_pickle_rebuilds_dotted_names(tmp_path: Path, legacy: bool) -> None:
    model = UserNet()
    path = tmp_path / "model.pt"
    torch.save(model, path, _use_new_zipfile_serialization=not legacy)
    tf = load_torch_file(path)  # strict: constructing classes is not calling them
    assert tf.called == ()
    assert f"{__name__}.UserNet" in tf.globals
    assert "torch.nn.modules.linear.Linear" in tf.constructed
    view = find_state_dict(tf.root)
    assert view.kind == "full_model_pickle"
    assert view.class_name == f"{__name__}.UserNet"
    assert isinstance(tf.root, Stub)
    _assert_same_bytes(tf, view.tensors, model.state_dict())  # non-persistent buffer left out like torch does


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_training_checkpoint_finds_weights_and_drops_optimizer(tmp_path: Path, legacy: bool) -> None:
    path = cf.save_training_checkpoint(tmp_path / "ckpt.pt", legacy=legacy)
    expected = torch.load(path, weights_only=True)
    tf = load_torch_file(path)
    view = find_state_dict(tf.root)
    assert view.kind == "training_checkpoint"
    assert view.source_key == "model_state_dict"
    _assert_same_bytes(tf, view.tensors, expected["model_state_dict"])
    assert "optimizer_state_dict" in view.dropped
    assert view.metadata["epoch"] == "3" and view.metadata["global_step"] == "120"
    assert find_state_dict(tf.root, key="model_state_dict").tensors.keys() == view.tensors.keys()


def test_training_checkpoint_with_model_key(tmp_path: Path) -> None:
    tf = load_torch_file(cf.save_training_checkpoint(tmp_path / "c.pt", model_key="model"))
    view = find_state_dict(tf.root)
    assert view.kind == "training_checkpoint" and view.source_key == "model"
    assert set(view.tensors) == {"0.weight", "0.bias", "2.weight", "2.bias"}


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_malicious_pickle_never_runs(tmp_path: Path, legacy: bool) -> None:
    marker = tmp_path / "pwned"
    path = cf.save_malicious_checkpoint(tmp_path / "evil.pt", marker, legacy=legacy)
    with pytest.raises(UnsafePickleError) as err:
        load_torch_file(path, strict=True)
    assert any(g.endswith(".system") for g in err.value.globals)
    tf = load_torch_file(path, strict=False)
    assert any(g in ("posix.system", "os.system", "nt.system") for g in tf.called)
    assert isinstance(tf.root["evil"], Stub) and tf.root["evil"].args == (f"touch {marker}",)
    assert not marker.exists()


def test_getattr_chain_is_recorded_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = cf.save_pickle_as_torch_zip(tmp_path / "chain.pt", cf.getattr_chain_pickle(marker))
    with pytest.raises(UnsafePickleError):
        load_torch_file(path)
    tf = load_torch_file(path, strict=False)
    assert {"builtins.getattr", "builtins.__import__"} <= set(tf.called)
    assert not marker.exists()


@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.9, 0.99])
@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_truncated_files_are_corrupt(tmp_path: Path, legacy: bool, fraction: float) -> None:
    good = cf.save_state_dict(tmp_path / "sd.pt", legacy=legacy)
    bad = cf.truncate_copy(good, tmp_path / "cut.pt", fraction)
    with pytest.raises(CorruptFileError):
        load_torch_file(bad)


def test_not_torch_files(tmp_path: Path) -> None:
    for path in (cf.write_zip_not_torch(tmp_path / "x.pt"), cf.write_random_bytes(tmp_path / "r.pth"),
                 cf.write_lfs_pointer(tmp_path / "p.bin")):
        with pytest.raises(CorruptFileError):
            load_torch_file(path)
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CorruptFileError):
        load_torch_file(tmp_path / "empty.pt")


def test_loading_does_not_import_torch(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = cf.save_full_model(tmp_path / "m.pt")
    code = (
        "import sys\nfrom hubmgr.formats.torchfile import load_torch_file, find_state_dict\n"
        f"tf = load_torch_file({str(path)!r})\nv = find_state_dict(tf.root)\n"
        "print(len(v.tensors), v.kind, 'torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["5", "full_model_pickle", "False"]


@pytest.mark.parametrize("pickle_bytes", [
    b"\x80\x02cbuiltins\nbytes\n\x8a\x05\x00\x00\x00\x00\x01\x85R.",  # bytes(2**32) via REDUCE
    b"\x80\x02c__builtin__\nbytes\n\x8a\x05\x00\x00\x00\x00\x01\x85\x81.",  # bytes.__new__(bytes, 2**32) via NEWOBJ
    b"\x80\x02cbuiltins\nbytearray\n\x8a\x05\x00\x00\x00\x00\x01\x85R.",
], ids=["reduce", "newobj", "bytearray"])
def test_memory_bombs_are_refused(tmp_path: Path, pickle_bytes: bytes) -> None:
    path = cf.save_pickle_as_torch_zip(tmp_path / "bomb.pt", pickle_bytes)
    with pytest.raises(CorruptFileError):
        load_torch_file(path, strict=False)


def test_bytes_of_protocol2_pickles_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "b.pt"
    torch.save({"blob": b"\x00\xffabc", "w": torch.ones(1)}, path)
    assert load_torch_file(path).root["blob"] == b"\x00\xffabc"


def test_nested_dicts_of_tensors_flatten_to_dotted_names(tmp_path: Path) -> None:
    path = tmp_path / "nested.pt"
    torch.save({"encoder": {"w": torch.ones(2), "inner": {"b": torch.zeros(1)}}, "decoder": {"w": torch.ones(3)}},
               path)
    view = find_state_dict(load_torch_file(path).root)
    assert view.kind == "state_dict"
    assert set(view.tensors) == {"encoder.w", "encoder.inner.b", "decoder.w"}
    torch.save({"a": {"w": torch.ones(2)}, "b": "text"}, path)
    assert find_state_dict(load_torch_file(path).root).kind == "unknown"


def test_rebuild_tensor_v3_dtypes(tmp_path: Path) -> None:
    """float8/uint16 go through _rebuild_tensor_v3 with an untyped storage; complex through a typed one."""
    path = tmp_path / "exotic.pt"
    tensors = {"f8": torch.randn(3, 2).to(torch.float8_e4m3fn), "u16": torch.arange(5).to(torch.uint16),
               "c64": torch.randn(2, dtype=torch.complex64)}
    torch.save(tensors, path)
    tf = load_torch_file(path)
    assert "torch._utils._rebuild_tensor_v3" in tf.globals and tf.called == ()
    refs = find_state_dict(tf.root).tensors
    assert {n: r.dtype for n, r in refs.items()} == {"f8": "F8_E4M3", "u16": "U16", "c64": "C64"}
    for name, ref in refs.items():
        assert tf.read_tensor_bytes(ref) == tensors[name].view(torch.uint8).numpy().tobytes(), name
