"""formats/ is the one home of file-format facts: push and convert agree on which names are pickles,
and every LFS pointer reader uses the same parser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hubmgr.formats.layout import PICKLE_SUFFIXES, is_pickle_name, sniff_torch_file
from hubmgr.formats.lfs_pointer import LfsPointer, parse_lfs_pointer, read_lfs_pointer

POINTER = b"version https://git-lfs.github.com/spec/v1\noid sha256:" + b"ab" * 32 + b"\nsize 123\n"


def _model(folder: Path, extra: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    (folder / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    (folder / extra).write_bytes(b"\x80\x04K\x01.")  # a pickle of the int 1
    return folder


@pytest.mark.parametrize("name", ["weights.pkl", "state.pickle", "optimizer.pt", "pytorch_model.bin", "a.CKPT"])
def test_push_refuses_every_pickle_name_convert_skips(run_cli, tmp_path: Path, name: str) -> None:
    assert is_pickle_name(name)
    folder = _model(tmp_path / "m", name)
    run = run_cli("push", str(folder), "local:layout")
    assert run.exit_code == 1 and "pickled weights" in run.stderr and name in run.stderr


def test_pickle_names_and_sniffing(tmp_path: Path) -> None:
    assert {".pkl", ".pickle", ".bin", ".pt", ".pth", ".ckpt"} == set(PICKLE_SUFFIXES)
    assert not is_pickle_name("model.safetensors") and not is_pickle_name("config.json")
    raw = tmp_path / "tokens.bin"
    raw.write_bytes(b"\x01\x02\x03\x04" * 10)  # a token memmap, not a torch file
    pickled = tmp_path / "w.bin"
    pickled.write_bytes(b"\x80\x04K\x01.")
    pointer = tmp_path / "p.bin"
    pointer.write_bytes(POINTER)
    assert [sniff_torch_file(p) for p in (raw, pickled, pointer)] == [False, True, True]


def test_one_lfs_pointer_parser(tmp_path: Path) -> None:
    assert parse_lfs_pointer(POINTER) == LfsPointer("ab" * 32, 123)
    oid, size = parse_lfs_pointer(POINTER)  # callers unpack it as a pair too
    assert (oid, size) == ("ab" * 32, 123)
    assert parse_lfs_pointer(POINTER.replace(b"size 123", b"size x")) is None
    assert parse_lfs_pointer(POINTER + b"x" * 1024) is None  # git-lfs never writes one this big
    assert parse_lfs_pointer(b"not a pointer") is None
    (tmp_path / "p").write_bytes(POINTER)
    assert read_lfs_pointer(tmp_path / "p") == LfsPointer("ab" * 32, 123)
    assert read_lfs_pointer(tmp_path / "missing") is None


def test_one_relative_path_guard_for_pull_download_and_upload() -> None:
    from hubmgr.errors import UnsafeContentError
    from hubmgr.formats.relpath import check_relpath, is_safe_relpath, unsafe_reason

    for ok in ("model.safetensors", "sub/dir/tokenizer.json", ".gitattributes", "a..b/c", "ab:c.txt"):
        assert is_safe_relpath(ok) and check_relpath(ok) == ok
    for bad in ("", "../evil", "a/../../b", "/etc/passwd", "a\\b", "C:/x", "c:x", "a//b", "./a", "a/\0"):
        assert unsafe_reason(bad) == "it escapes the destination", bad
        with pytest.raises(UnsafeContentError, match="escapes"):
            check_relpath(bad)
    assert unsafe_reason(".git/hooks/post-checkout") == "it writes into .git"
