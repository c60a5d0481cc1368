"""pickle_safety: verdicts for real torch files and malicious pickles; nothing is ever executed."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from hubmgr.models import VERDICT_NEEDS_CODE, VERDICT_SAFE, VERDICT_UNKNOWN, VERDICT_UNSAFE
from hubmgr.formats.pickle_grade import grade_pickle, is_code_class
from hubmgr.formats.pickle_scan import analyze_file, merge
from hubmgr.testing import checkpoint_factory as cf

torch = pytest.importorskip("torch")


class UserNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(2, 2)


def _torch_unsafe_globals(path: Path) -> set[str]:
    """torch's own opinion (cross-check only)."""
    return set(torch.serialization.get_unsafe_globals_in_checkpoint(str(path)))


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_plain_and_training_checkpoints_are_safe(tmp_path: Path, legacy: bool) -> None:
    for path in (cf.save_state_dict(tmp_path / "sd.pt", legacy=legacy),
                 cf.save_training_checkpoint(tmp_path / "train.pt", legacy=legacy)):
        info = analyze_file(path).safety
        assert info.verdict == VERDICT_SAFE, info
        assert "torch._utils._rebuild_tensor_v2" in info.globals
        if not legacy:
            assert _torch_unsafe_globals(path) == set()


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_full_model_pickle_needs_code(tmp_path: Path, legacy: bool) -> None:
    path = tmp_path / "m.pt"
    torch.save(UserNet(), path, _use_new_zipfile_serialization=not legacy)
    info = analyze_file(path).safety
    assert info.verdict == VERDICT_NEEDS_CODE
    assert f"{__name__}.UserNet" in info.classes_needed
    assert "torch.nn.modules.linear.Linear" in info.classes_needed and not info.reasons
    if not legacy:
        assert f"{__name__}.UserNet" in _torch_unsafe_globals(path)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_os_system_pickle_is_unsafe_and_never_runs(tmp_path: Path, legacy: bool) -> None:
    marker = tmp_path / "marker"
    path = cf.save_malicious_checkpoint(tmp_path / "evil.pth", marker, legacy=legacy)
    info = analyze_file(path).safety
    assert info.verdict == VERDICT_UNSAFE
    assert any(g.endswith(".system") for g in info.offending)
    assert any("calls posix.system" in r for r in info.reasons)
    if not legacy:
        assert any(g.endswith(".system") for g in _torch_unsafe_globals(path))
    assert not marker.exists()


def test_bare_pickle_and_getattr_chain(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    bare = tmp_path / "bare.pth"
    bare.write_bytes(cf.malicious_pickle_bytes(marker))
    analysis = analyze_file(bare)
    assert analysis.safety.verdict == VERDICT_UNSAFE and "bare pickle" in (analysis.error or "")
    chain = cf.save_pickle_as_torch_zip(tmp_path / "chain.pt", cf.getattr_chain_pickle(marker))
    info = analyze_file(chain).safety
    assert info.verdict == VERDICT_UNSAFE
    assert {"builtins.getattr", "builtins.__import__"} <= set(info.offending)
    assert not marker.exists()


def test_truncated_malicious_pickle_still_flagged(tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    good = cf.save_malicious_checkpoint(tmp_path / "evil.pt", marker, legacy=True)
    data = good.read_bytes()
    cut = tmp_path / "cut.pt"
    pos = data.find(b"system")
    cut.write_bytes(data[: pos + 20])
    analysis = analyze_file(cut)
    assert analysis.torchfile is None and analysis.error
    assert analysis.safety.verdict == VERDICT_UNSAFE
    assert not marker.exists()


def test_truncated_clean_file_is_unknown_not_safe(tmp_path: Path) -> None:
    good = cf.save_state_dict(tmp_path / "sd.pt", legacy=True)
    cut = cf.truncate_copy(good, tmp_path / "cut.pt", 0.3)
    assert analyze_file(cut).safety.verdict == VERDICT_UNKNOWN


def test_random_bytes_and_foreign_zip_are_unknown(tmp_path: Path) -> None:
    for path in (cf.write_random_bytes(tmp_path / "r.pth"), cf.write_zip_not_torch(tmp_path / "z.pt")):
        analysis = analyze_file(path)
        assert analysis.safety.verdict == VERDICT_UNKNOWN and analysis.error


def test_grade_resolves_stack_global_and_cut_pickles_are_unknown() -> None:
    data = pickle.dumps({"x": [1, 2], "od": __import__("collections").OrderedDict()}, protocol=4)
    grade = grade_pickle(data)
    assert grade.verdict == VERDICT_SAFE and grade.globals == ["collections.OrderedDict"]
    assert grade_pickle(data[:-5]).verdict == VERDICT_UNKNOWN


def test_code_class_rules() -> None:
    assert is_code_class("__main__.Net") and is_code_class("torch.nn.modules.linear.Linear")
    assert is_code_class("my_private_project.models.Net")  # neither stdlib nor installed
    assert not is_code_class("os.system") and not is_code_class("subprocess.Popen")
    assert not is_code_class("torch.serialization.os.system") and not is_code_class("__main__.os.system")
    assert not is_code_class("transformers.dynamic_module_utils.get_class_from_dynamic_module")
    merged = merge([analyze_file_safety("collections.OrderedDict"), analyze_file_safety("os.system")], ["a", "b"])
    assert merged.verdict == VERDICT_UNSAFE and merged.per_file == {"a": VERDICT_SAFE, "b": VERDICT_UNSAFE}
    assert any(r.startswith("b: ") and "os.system" in r for r in merged.reasons)


def test_user_class_only_the_nn_module_way() -> None:
    """NEWOBJ + one BUILD with a plain dict: needs_code; a call, a dunder key or a second BUILD: unsafe."""
    new = b"\x80\x02cmy_training_code\nNet\n)\x81"
    assert grade_pickle(new + b"}X\x01\x00\x00\x00aK\x01sb.").verdict == VERDICT_NEEDS_CODE
    twice = grade_pickle(new + b"}X\x01\x00\x00\x00aK\x01sb}b.")
    assert twice.verdict == VERDICT_UNSAFE and any("second BUILD" in r for r in twice.reasons)
    dunder = grade_pickle(new + b"}X\x0c\x00\x00\x00__setstate__K\x01sb.")
    assert dunder.verdict == VERDICT_UNSAFE and any("'__setstate__'" in r for r in dunder.reasons)
    called = grade_pickle(b"\x80\x02cmy_training_code\nNet\n)R.")
    assert called.verdict == VERDICT_UNSAFE and called.reasons == ["REDUCE calls my_training_code.Net"]
    state = grade_pickle(new + b"X\x01\x00\x00\x00xb.")
    assert state.verdict == VERDICT_UNSAFE and "not a dict" in state.reasons[0]


def analyze_file_safety(qual: str):
    """SafetyInfo of a pickle that calls ``qual`` with no arguments (hand-assembled, protocol 2)."""
    from hubmgr.formats.pickle_scan import _combine
    from hubmgr.formats.torch_members import TorchPickles

    module, _, name = qual.rpartition(".")
    data = b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n)R."
    return _combine([("p", grade_pickle(data))], TorchPickles("pickle"))


def test_trainer_training_args_needs_code_not_unsafe(tmp_path: Path) -> None:
    out = cf.run_tiny_trainer(tmp_path / "run", steps=1)
    info = analyze_file(out / "training_args.bin").safety
    assert info.verdict == VERDICT_NEEDS_CODE, info.reasons
    assert "transformers.training_args.TrainingArguments" in info.classes_needed
    assert analyze_file(out / "checkpoint-1" / "optimizer.pt").safety.verdict == VERDICT_SAFE
    assert analyze_file(out / "checkpoint-1" / "rng_state.pth").safety.verdict == VERDICT_SAFE


def test_inst_and_obj_are_calls_even_without_arguments() -> None:
    inst = grade_pickle(b"(ios\ngetpid\n.")  # protocol 0: INST with no arguments
    assert inst.verdict == VERDICT_UNSAFE and inst.reasons == ["INST calls os.getpid"]
    obj = grade_pickle(b"\x80\x02(cmy_training_code\nNet\no.")  # OBJ of a user class, no arguments
    assert obj.verdict == VERDICT_UNSAFE and obj.reasons == ["OBJ calls my_training_code.Net"]


def test_torchscript_archive_is_unsafe_with_the_reason(tmp_path: Path) -> None:
    """torch.load hands a TorchScript zip to torch.jit.load: not a weights file it can vouch for."""
    path = tmp_path / "scripted.pt"
    torch.jit.script(torch.nn.Linear(2, 2)).save(str(path))
    info = analyze_file(path).safety
    assert info.verdict == VERDICT_UNSAFE and any("TorchScript" in r for r in info.reasons), info


def test_legacy_pickles_longer_than_the_first_read_are_graded_whole(tmp_path: Path) -> None:
    from hubmgr.formats.torch_members import LEGACY_HEAD_BYTES
    from hubmgr.testing.pickle_corpus import call, legacy_of

    big = pickle.dumps({"notes": "x" * (LEGACY_HEAD_BYTES + 1000)}, protocol=2)
    clean = tmp_path / "big.pt"
    clean.write_bytes(legacy_of(big))
    assert analyze_file(clean).safety.verdict == VERDICT_SAFE
    hostile = tmp_path / "big_keys.pt"  # the payload sits in the storage-keys pickle, past the first read
    hostile.write_bytes(legacy_of(big, keys=call("os", "system", "touch pwned")))
    assert analyze_file(hostile).safety.verdict == VERDICT_UNSAFE
