"""Issue 13 points 6, 7, 10 (pickle side): tensor views are bounds-checked before numpy touches
them, and every pickle/zip reader has explicit limits with a one-line error and exit 1."""

from __future__ import annotations

import json
import pickle
import resource
import struct
from pathlib import Path

import pytest

from hubmgr.errors import CorruptFileError
from hubmgr.formats import limits
from hubmgr.formats.torchfile import load_pickle_file, load_torch_file
from hubmgr.testing import checkpoint_factory as cf
from hubmgr.testing import hostile_files as hf

pytest.importorskip("torch")

# name -> (offset, size, stride) over a 16-element float32 storage. Each one used to pass the range
# check (or crash numpy): negative strides read bytes *before* the storage, huge strides far past it.
BAD_VIEWS = {
    "negative_stride": (15, (16,), (-1,)),
    "huge_stride": (0, (4, 4), (2**40, 1)),
    "stride_past_end": (0, (4, 4), (5, 1)),
    "offset_past_end": (14, (3,), (1,)),
    "negative_offset": (-4, (4,), (1,)),
    "negative_size": (0, (-2, 4), (4, 1)),
    "strides_without_sizes": (0, (4, 4), (1,)),
}


def _one_line_failure(run, *needles: str) -> None:
    assert run.exit_code == 1, (run.exit_code, run.stdout, run.stderr)
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in run.stderr, run.stderr
    assert any(n in errors[0] for n in needles), errors[0]


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("name", sorted(BAD_VIEWS))
def test_out_of_storage_views_are_refused_by_convert_and_inspect(tmp_path: Path, run_cli, name: str,
                                                                  legacy: bool) -> None:
    src = hf.write_torch_with_views(tmp_path / "w.pth", {"w": BAD_VIEWS[name]}, legacy=legacy)
    out = tmp_path / "w.safetensors"
    conv = run_cli("convert", str(src), "--out", str(out), "--no-verify")
    _one_line_failure(conv, "storage", "negative", "strides")
    assert not out.exists()
    _one_line_failure(run_cli("inspect", str(src)), "storage", "negative", "strides")
    with pytest.raises(CorruptFileError):
        load_torch_file(src)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_in_bounds_strided_views_still_convert_exactly(tmp_path: Path, run_cli, legacy: bool) -> None:
    from safetensors.numpy import load_file

    views = {"t": (1, (3, 5), (1, 3)), "expand": (15, (2, 3), (0, 0)), "row": (4, (4,), (1,)),
             "empty": (16, (0, 5), (5, 1))}  # a transpose, a stride-0 expand, a slice, an empty tensor
    src = hf.write_torch_with_views(tmp_path / "ok.pth", views, legacy=legacy)
    out = tmp_path / "ok.safetensors"
    run = run_cli("convert", str(src), "--out", str(out), "--no-verify", "--json")
    assert run.exit_code == 0, run.stderr
    got = load_file(str(out))
    assert got["t"].tolist() == [[1 + i + 3 * j for j in range(5)] for i in range(3)]
    assert got["expand"].tolist() == [[15.0] * 3] * 2
    assert got["row"].tolist() == [4.0, 5.0, 6.0, 7.0]
    assert got["empty"].shape == (0, 5)


def test_huge_memo_index_is_refused_before_allocating(tmp_path: Path, run_cli) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    bare = tmp_path / "memo.pkl.pth"
    bare.write_bytes(hf.padded_huge_memo_pickle(621))
    assert len(bare.read_bytes()) <= 621
    in_zip = cf.save_pickle_as_torch_zip(tmp_path / "memo_zip.pth", hf.huge_memo_pickle())
    for path in (bare, in_zip):
        _one_line_failure(run_cli("inspect", str(path)), "memo index")
    with pytest.raises(CorruptFileError, match="memo index"):
        load_pickle_file(bare)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: no 2 GB memo array


def test_memo_indexes_written_by_pickle_itself_are_accepted(tmp_path: Path) -> None:
    shared = ["x"] * 3
    data = pickle.dumps({"a": shared, "b": shared, "c": [shared, {"k": shared}] * 50}, protocol=2)
    path = tmp_path / "ok.pkl"
    path.write_bytes(data)
    assert load_pickle_file(path).root == pickle.loads(data)


@pytest.mark.parametrize("lie", [False, True], ids=["declared-size", "lying-size"])
def test_deflate_bomb_in_data_pkl_is_refused(tmp_path: Path, run_cli, lie: bool) -> None:
    bomb = hf.write_zip_bomb(tmp_path / "bomb.pth", inflated=limits.MAX_PICKLE_BYTES + (1 << 20),
                             lie_about_size=lie)
    assert bomb.stat().st_size < 200_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _one_line_failure(run_cli("inspect", str(bomb)), "implausibly large", "inflates past", "Bad CRC", "cannot read")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 150_000


def test_encrypted_flag_zip_is_one_line_error(tmp_path: Path, run_cli) -> None:
    path = hf.write_encrypted_flag_zip(tmp_path / "enc.pth")
    _one_line_failure(run_cli("inspect", str(path)), "encrypted")
    _one_line_failure(run_cli("convert", str(path), "--out", str(tmp_path / "o.safetensors")), "encrypted")


def test_tensor_count_limit(tmp_path: Path) -> None:
    # BININT1 0, BINPERSID, POP: one persistent storage id per tensor, as torch writes them.
    body = b"\x80\x02" + b"K\x00Q0" * (limits.MAX_TENSORS + 1) + b"N."
    path = cf.save_pickle_as_torch_zip(tmp_path / "many.pth", body)
    with pytest.raises(CorruptFileError, match="more than .* tensors"):
        load_torch_file(path, strict=False)


def test_length_prefixes_and_frames_are_checked_against_the_data(tmp_path: Path) -> None:
    cases = {
        "binbytes8": b"\x80\x04\x8e" + struct.pack("<Q", 2**40) + b"x.",
        "frame": b"\x80\x04\x95" + struct.pack("<Q", 2**40) + b"N.",
        "binunicode": b"\x80\x02X" + struct.pack("<I", 2**31) + b"x.",
        "unknown_opcode": b"\x80\x02\xff.",
        "put_5000_digits": b"(lp" + b"9" * 5000 + b"\n.",
    }
    for name, data in cases.items():
        path = tmp_path / f"{name}.pkl"
        path.write_bytes(data)
        with pytest.raises(CorruptFileError):
            load_pickle_file(path)


def test_deeply_nested_legacy_pickle_is_refused_not_a_recursion_crash(tmp_path: Path, run_cli) -> None:
    depth = limits.MAX_NESTING * 20  # {"w": [[[...]]]}: EMPTY_LIST n times, then APPEND n-1 times
    main = b"\x80\x02}X\x01\x00\x00\x00w" + b"]" * depth + b"a" * (depth - 1) + b"s."
    nested = hf.write_legacy(tmp_path / "deep.pth", main, {})
    with pytest.raises(CorruptFileError, match="nests"):
        load_torch_file(nested, strict=False)
    _one_line_failure(run_cli("inspect", str(nested)), "nests")


@pytest.mark.parametrize("bad", ["stride", "payload"])
def test_eval_checks_pickled_weights_before_transformers_loads_them(tmp_path: Path, tiny_gpt2_dir: Path, run_cli,
                                                                    bad: str) -> None:
    import shutil

    model = Path(shutil.copytree(tiny_gpt2_dir, tmp_path / "m"))
    (model / "model.safetensors").unlink()
    if bad == "stride":
        hf.write_torch_with_views(model / "pytorch_model.bin", {"transformer.wte.weight": (0, (4, 4), (2**40, 1))})
    else:
        hf.write_torch_with_views(model / "pytorch_model.bin", {"transformer.wte.weight": (0, (4,), (1,))},
                                  extra={"x": hf.RunsShell(f"touch {tmp_path / 'ran'}")})
    run = run_cli("eval", str(model), "--n", "2")
    _one_line_failure(run, "storage", "os.system", "posix.system", "allow-list")
    assert not (tmp_path / "ran").exists()


def test_zip_with_an_empty_member_name_is_graded_not_a_crash(tmp_path: Path, run_cli) -> None:
    # Found by bench/fuzz.py: ZipInfo.is_dir() raises IndexError on an empty name.
    import zipfile

    path = tmp_path / "empty_name.pth"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo(""), b"\x80\x02N.")  # first: the sniffer looks at it before data.pkl
        zf.writestr("archive/data.pkl", pickle.dumps({"a": 1}, protocol=2))
    run = run_cli("inspect", str(path), "--json")
    assert run.exit_code in (0, 1) and "Traceback" not in run.stderr, run.stderr
    assert json.loads(run.stdout)["safety"]["verdict"]
