"""formats.sniff: pickles recognised by content, and the look-alikes that are not pickles."""

from __future__ import annotations

import gzip
import io
import json
import pickle
import struct
import tarfile
import zipfile
from pathlib import Path

from hubmgr.formats.sniff import sniff_pickle


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_pickles_in_any_wrapper(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "blob.zip", "w") as zf:  # a member pickled under a neutral name
        zf.writestr("weights/blob", pickle.dumps({"a": 1}, protocol=2))
        zf.writestr("readme", "hi")
    with tarfile.open(tmp_path / "blob.tar", "w") as tar:
        data = pickle.dumps([1], protocol=4)
        info = tarfile.TarInfo("blob")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    assert sniff_pickle(tmp_path / "blob.zip") == "torch_zip"
    assert sniff_pickle(tmp_path / "blob.tar") == "torch_tar"
    assert sniff_pickle(_write(tmp_path / "p0.txt", pickle.dumps({"a": [1, 2]}, protocol=0))) == "pickle"
    assert sniff_pickle(_write(tmp_path / "p1.dat", pickle.dumps((1, "x"), protocol=1))) == "pickle"
    assert sniff_pickle(_write(tmp_path / "m.joblib", gzip.compress(pickle.dumps([1], protocol=3)))) == \
        "compressed_pickle"


def test_look_alikes_are_not_pickles(tmp_path: Path) -> None:
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    header += b" " * (0x0280 - len(header))  # size field bytes 80 02 ...: a protocol-2 header look-alike
    assert sniff_pickle(_write(tmp_path / "w.safetensors", struct.pack("<Q", len(header)) + header + b"\0" * 4)) \
        is None
    vocab = "".join(f"[unused{i}]\n" for i in range(300)) + "(hello)\nI am\n"
    assert sniff_pickle(_write(tmp_path / "vocab.txt", vocab.encode())) is None
    npy = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }"
    npy += b" " * (63 - (10 + len(npy)) % 64) + b"\n"
    assert sniff_pickle(_write(tmp_path / "a.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(npy)) + npy
                               + b"\0" * 4)) is None
    assert sniff_pickle(_write(tmp_path / "notes.gz", gzip.compress(b"plain text"))) is None
    with zipfile.ZipFile(tmp_path / "docs.zip", "w") as zf:
        zf.writestr("readme.txt", "hello")
    assert sniff_pickle(tmp_path / "docs.zip") is None
    assert sniff_pickle(_write(tmp_path / "empty.bin", b"")) is None
