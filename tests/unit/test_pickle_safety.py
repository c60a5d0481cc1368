"""pickle_safety: verdicts for real torch files and malicious pickles; nothing is ever executed."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from hubmgr.models import VERDICT_NEEDS_CODE, VERDICT_SAFE, VERDICT_UNKNOWN, VERDICT_UNSAFE
from hubmgr.formats.pickle_scan import analyze_file, is_dangerous, merge, static_globals, verdict_for
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
    assert "torch.nn.modules.linear.Linear" in info.offending
    if not legacy:
        assert f"{__name__}.UserNet" in _torch_unsafe_globals(path)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_os_system_pickle_is_unsafe_and_never_runs(tmp_path: Path, legacy: bool) -> None:
    marker = tmp_path / "marker"
    path = cf.save_malicious_checkpoint(tmp_path / "evil.pth", marker, legacy=legacy)
    info = analyze_file(path).safety
    assert info.verdict == VERDICT_UNSAFE
    assert any(g.endswith(".system") for g in info.offending)
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


def test_truncated_malicious_pickle_still_flagged_statically(tmp_path: Path) -> None:
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


def test_static_globals_resolves_stack_global() -> None:
    class Local:
        pass

    data = pickle.dumps({"x": [1, 2], "od": __import__("collections").OrderedDict()}, protocol=4)
    scan = static_globals(data)
    assert scan.complete and scan.globals == ("collections.OrderedDict",)
    assert static_globals(data[:-5]).complete is False


def test_verdict_rules() -> None:
    assert verdict_for(["collections.OrderedDict", "torch.FloatStorage"]).verdict == VERDICT_SAFE
    assert verdict_for(["__main__.Net"], constructed=["__main__.Net"]).verdict == VERDICT_NEEDS_CODE
    # an Enum rebuilt by value (a class call) needs code; a function call is unsafe
    assert verdict_for(["pkg.mod.Mode"], called=["pkg.mod.Mode"]).verdict == VERDICT_NEEDS_CODE
    assert verdict_for(["pkg.mod.run"], called=["pkg.mod.run"]).verdict == VERDICT_UNSAFE
    assert verdict_for(["subprocess.Popen"]).verdict == VERDICT_UNSAFE
    assert verdict_for(["builtins.eval"]).verdict == VERDICT_UNSAFE
    assert is_dangerous("os.path.join") and is_dangerous("torch.hub.load") and not is_dangerous("__main__.Net")
    merged = merge([verdict_for(["collections.OrderedDict"]), verdict_for(["os.system"], called=["os.system"])])
    assert merged.verdict == VERDICT_UNSAFE and "os.system" in merged.offending


def test_trainer_training_args_needs_code_not_unsafe(tmp_path: Path) -> None:
    out = cf.run_tiny_trainer(tmp_path / "run", steps=1)
    info = analyze_file(out / "training_args.bin").safety
    assert info.verdict == VERDICT_NEEDS_CODE
    assert "transformers.training_args.TrainingArguments" in info.classes_needed
    assert analyze_file(out / "checkpoint-1" / "optimizer.pt").safety.verdict == VERDICT_SAFE
    assert analyze_file(out / "checkpoint-1" / "rng_state.pth").safety.verdict == VERDICT_SAFE
