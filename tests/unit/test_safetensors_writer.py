"""The streaming safetensors writer: layout per the spec, sharding, chunked I/O, atomic outputs, verification."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hubmgr.formats import safetensors_writer as stw
from hubmgr.formats.dtypes import ITEMSIZE
from hubmgr.errors import ConflictError, CorruptFileError, DiskSpaceError, VerificationError


def _array_source(arr: np.ndarray):
    return lambda: np.ascontiguousarray(arr)


def _tensors() -> tuple[list[stw.TensorBytes], dict[str, np.ndarray]]:
    arrays = {
        "b8": np.array([True, False, True]),
        "f32": np.arange(12, dtype=np.float32).reshape(3, 4),
        "i64": np.array([1, -2, 3], dtype=np.int64),
        "scalar": np.array(2.5, dtype=np.float32),
        "empty": np.zeros((0, 3), dtype=np.float16),
        "f16": np.linspace(0, 1, 5, dtype=np.float16),
    }
    codes = {"b8": "BOOL", "f32": "F32", "i64": "I64", "scalar": "F32", "empty": "F16", "f16": "F16"}
    return [stw.TensorBytes(k, codes[k], a.shape, _array_source(a)) for k, a in arrays.items()], arrays


def _write(path: Path, tensors, metadata=None) -> int:
    with stw.SourceFiles() as files:
        size, digest = stw.write_file(path, tensors, metadata, files=files)
    import hashlib

    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    return size


def test_header_layout_follows_the_spec(tmp_path: Path) -> None:
    tensors, arrays = _tensors()
    ordered = stw.aligned_order(tensors)
    path = tmp_path / "x.safetensors"
    size = _write(path, ordered, {"epoch": 3})
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0 and size == len(raw)
    text = raw[8:8 + n].decode()
    assert text == text.rstrip() + " " * (len(text) - len(text.rstrip()))  # padded with spaces only
    header = json.loads(text)
    assert header["__metadata__"] == {"format": "pt", "epoch": "3"}
    offsets = [header[t.name]["data_offsets"] for t in ordered]
    assert offsets[0][0] == 0 and all(a[1] == b[0] for a, b in zip(offsets, offsets[1:]))
    assert offsets[-1][1] == len(raw) - 8 - n
    for t in ordered:  # wider dtypes first: every tensor starts aligned to its itemsize
        assert (8 + n + header[t.name]["data_offsets"][0]) % ITEMSIZE[t.dtype] == 0

    from safetensors.numpy import load_file

    back = load_file(str(path))
    assert set(back) == set(arrays)
    for k, a in arrays.items():
        assert back[k].dtype == a.dtype and back[k].shape == a.shape and np.array_equal(back[k], a)


def test_plan_shards_keeps_order_and_isolates_oversized_tensors() -> None:
    def t(name: str, n: int) -> stw.TensorBytes:
        return stw.TensorBytes(name, "U8", (n,), lambda: b"\0" * n)

    shards = stw.plan_shards([t("a", 40), t("b", 50), t("c", 30), t("big", 500), t("d", 10)], 100)
    assert [[x.name for x in s] for s in shards] == [["a", "b"], ["c"], ["big"], ["d"]]
    names = stw.shard_file_names(len(shards))
    assert names[0] == "model-00001-of-00004.safetensors" and names[-1] == "model-00004-of-00004.safetensors"
    index = stw.index_document(shards, names)
    assert index["metadata"]["total_size"] == 630
    assert index["weight_map"]["big"] == "model-00003-of-00004.safetensors"
    assert stw.shard_file_names(1) == ["model.safetensors"]
    assert stw.plan_shards([t("a", 1)], None) == [[t("a", 1)]] or len(stw.plan_shards([t("a", 1)], None)) == 1


def test_big_writes_and_copies_go_in_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # One write()/copy_file_range() moves at most ~2 GiB: the loops must cover any size. Shrink the
    # chunk so a small tensor takes many rounds (the real >2 GiB case is in test_convert.py, marked slow).
    monkeypatch.setattr(stw, "CHUNK", 1000)
    monkeypatch.setattr(stw, "VERIFY_CHUNK", 777)
    payload = os.urandom(10_123)
    src = tmp_path / "src.bin"
    src.write_bytes(b"junk" + payload)
    tensors = [stw.TensorBytes("from_file", "U8", (len(payload),), stw.FileSpan(str(src), 4)),
               stw.TensorBytes("from_memory", "U8", (len(payload),), lambda: payload)]
    out = tmp_path / "out.safetensors"
    with stw.SourceFiles() as files:
        _, digest = stw.write_file(out, tensors, None, files=files)
        assert stw.verify_file(out, tensors, None, files=files) == digest
    from safetensors.numpy import load_file

    back = load_file(str(out))
    assert back["from_file"].tobytes() == payload and back["from_memory"].tobytes() == payload
    import hashlib

    assert digest == hashlib.sha256(out.read_bytes()).hexdigest()


def test_copy_falls_back_to_pread_when_copy_file_range_is_unsupported(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    def unsupported(*args, **kwargs):
        raise OSError(errno.EXDEV, "cross-device")

    monkeypatch.setattr(os, "copy_file_range", unsupported)
    src = tmp_path / "src"
    src.write_bytes(bytes(range(256)) * 10)
    dst = tmp_path / "dst"
    fd_in, fd_out = os.open(src, os.O_RDONLY), os.open(dst, os.O_WRONLY | os.O_CREAT)
    try:
        stw.copy_range(fd_in, fd_out, 10, 2000)
    finally:
        os.close(fd_in), os.close(fd_out)
    assert dst.read_bytes() == src.read_bytes()[10:2010]


def test_copy_from_a_truncated_source_is_a_clear_error(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"x" * 100)
    t = stw.TensorBytes("t", "F32", (50,), stw.FileSpan(str(src), 0))
    with pytest.raises(CorruptFileError, match="truncated|ends early"):
        _write(tmp_path / "out", [t])


def test_verification_catches_a_flipped_byte(tmp_path: Path) -> None:
    tensors, _ = _tensors()
    path = tmp_path / "x.safetensors"
    _write(path, tensors)
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x01  # inside the last tensor's bytes
    path.write_bytes(bytes(data))
    with stw.SourceFiles() as files, pytest.raises(VerificationError, match="differs from the source"):
        stw.verify_file(path, tensors, None, files=files)


def test_verification_catches_a_wrong_header(tmp_path: Path) -> None:
    tensors, _ = _tensors()
    path = tmp_path / "x.safetensors"
    _write(path, tensors)
    renamed = [stw.TensorBytes("other" if t.name == "f32" else t.name, t.dtype, t.shape, t.source) for t in tensors]
    with stw.SourceFiles() as files, pytest.raises(VerificationError, match="names differ|offsets"):
        stw.verify_file(path, renamed, None, files=files)


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temps_of_dead_runs_are_removed_and_live_ones_kept(tmp_path: Path) -> None:
    dead = _dead_pid()
    stale_file = tmp_path / f".model.safetensors.hubmgr-tmp-{dead}"
    stale_file.write_bytes(b"partial")
    stale_dir = tmp_path / f".out.hubmgr-tmp-{dead}"
    (stale_dir / "sub").mkdir(parents=True)
    mine = stw.temp_path(tmp_path / "model.safetensors")
    mine.write_bytes(b"in progress")
    unrelated = tmp_path / ".keep.me"
    unrelated.write_bytes(b"")
    removed, restored = stw.clean_stale_temps(tmp_path)
    assert sorted(Path(p).name for p in removed) == sorted([stale_file.name, stale_dir.name])
    assert restored == []
    assert mine.exists() and unrelated.exists() and not stale_file.exists() and not stale_dir.exists()


def test_an_old_output_moved_aside_by_a_dead_run_is_restored_not_deleted(tmp_path: Path) -> None:
    dead = _dead_pid()
    # --force on a folder died between its two renames: out/ is gone, its only copy is aside
    aside = tmp_path / f".out.hubmgr-old-{dead}"
    aside.mkdir()
    (aside / "model.safetensors").write_bytes(b"previous output")
    # the same run's new output, unfinished
    (tmp_path / f".out.hubmgr-tmp-{dead}").mkdir()
    # another folder whose swap finished (out2 in place): its aside copy is just garbage
    (tmp_path / "out2").mkdir()
    (tmp_path / f".out2.hubmgr-old-{dead}").mkdir()
    removed, restored = stw.clean_stale_temps(tmp_path)
    assert restored == [str(tmp_path / "out")]
    assert (tmp_path / "out" / "model.safetensors").read_bytes() == b"previous output"
    assert sorted(Path(p).name for p in removed) == [f".out.hubmgr-tmp-{dead}", f".out2.hubmgr-old-{dead}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "out2"]


def test_commit_never_overwrites_without_replace(tmp_path: Path) -> None:
    final = tmp_path / "out"
    final.mkdir()
    (final / "old.txt").write_text("old")
    temp = stw.temp_path(final)
    temp.mkdir()
    (temp / "new.txt").write_text("new")
    with pytest.raises(ConflictError):
        stw.commit(temp, final, replace=False)
    assert (final / "old.txt").exists() and temp.exists()
    stw.commit(temp, final, replace=True)
    assert sorted(p.name for p in final.iterdir()) == ["new.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temp, no old copy left


def test_disk_space_is_checked_up_front(tmp_path: Path) -> None:
    import shutil

    free = shutil.disk_usage(tmp_path).free
    stw.check_disk_space(tmp_path / "not" / "yet", 1000)
    with pytest.raises(DiskSpaceError, match="not enough disk space"):
        stw.check_disk_space(tmp_path, free + 10**9)


def test_write_file_catches_a_source_that_changes_under_it(tmp_path: Path) -> None:
    # Verification re-reads the source: a tensor whose bytes differ from what was written is caught.
    calls = []

    def unstable() -> bytes:
        calls.append(1)
        return b"\x01" * 16 if len(calls) == 1 else b"\x02" * 16

    t = stw.TensorBytes("t", "F32", (4,), unstable)
    with stw.SourceFiles() as files, pytest.raises(VerificationError, match="differs from the source"):
        stw.write_file(tmp_path / "x", [t], None, files=files)
    with stw.SourceFiles() as files:  # without verification the same write goes through
        calls.clear()
        size, digest = stw.write_file(tmp_path / "y", [t], None, files=files, verify=False)
    assert size == (tmp_path / "y").stat().st_size and len(digest) == 64


@pytest.mark.parametrize("verify", [True, False])
def test_a_byte_corrupted_while_copying_is_refused_and_the_digest_is_of_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verify: bool) -> None:
    # The read-back compares and hashes each chunk in one pass: a byte that lands wrong in the output
    # (here the copy flips one, in the middle of a chunk of the second tensor) must still be caught,
    # and the sha256 returned is of the bytes in the file, not of the ones meant to be there.
    monkeypatch.setattr(stw, "VERIFY_CHUNK", 1000)
    payload = os.urandom(5_000)
    src = tmp_path / "src.bin"
    src.write_bytes(b"head" + payload + payload[::-1])
    tensors = [stw.TensorBytes("a", "U8", (5_000,), stw.FileSpan(str(src), 4)),
               stw.TensorBytes("b", "U8", (5_000,), stw.FileSpan(str(src), 5_004))]
    real_copy = stw.copy_range
    copies = []

    def faulty_copy(src_fd: int, dst_fd: int, offset: int, count: int) -> None:
        real_copy(src_fd, dst_fd, offset, count)
        copies.append(count)
        if len(copies) == 2:  # the second tensor: flip its byte 2_345 (inside its third chunk)
            at = os.lseek(dst_fd, 0, os.SEEK_CUR) - count + 2_345
            os.pwrite(dst_fd, bytes([os.pread(dst_fd, 1, at)[0] ^ 0x40]), at)

    monkeypatch.setattr(stw, "copy_range", faulty_copy)
    out = tmp_path / "out.safetensors"
    with stw.SourceFiles() as files:
        if verify:
            with pytest.raises(VerificationError, match="'b' differs from the source"):
                stw.write_file(out, tensors, None, files=files)
            return
        size, digest = stw.write_file(out, tensors, None, files=files, verify=False)
    import hashlib

    data = out.read_bytes()
    assert size == len(data) and digest == hashlib.sha256(data).hexdigest()
    assert data[-5_000:] != payload[::-1]  # the flipped byte is in the file, and in its digest


def test_read_back_of_a_truncated_source_is_a_clear_error(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 4_000)
    t = stw.TensorBytes("t", "U8", (4_000,), stw.FileSpan(str(src), 0))
    out = tmp_path / "out.safetensors"
    with stw.SourceFiles() as files:
        stw.write_file(out, [t], None, files=files)
        src.write_bytes(b"x" * 10)  # cut after the write, before a re-check
        with pytest.raises(CorruptFileError, match="source ends before tensor 't'"):
            stw.verify_file(out, [t], None, files=files)


def test_drop_from_cache_closes_its_descriptor(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 10_000)
    fd = os.open(path, os.O_RDONLY)
    stw.drop_from_cache(fd)
    with pytest.raises(OSError):
        os.fstat(fd)
    assert path.read_bytes() == b"x" * 10_000
