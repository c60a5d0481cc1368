"""Issue 13 points 7 and 10 (safetensors): the header reader accepts exactly what the `safetensors`
library accepts (differential test on generated headers; duplicates are refused on purpose), and
hostile headers are a one-line error with exit 1, in linear time and memory."""

from __future__ import annotations

import json
import resource
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hubmgr.errors import CorruptFileError
from hubmgr.formats import limits
from hubmgr.formats.dtypes import SAFETENSORS_BITS
from hubmgr.formats.safetensors_header import read_safetensors_header
from hubmgr.testing import hostile_files as hf

safetensors = pytest.importorskip("safetensors")

E = '"dtype": "U8", "shape": [1], "data_offsets": [0, 1]'
HOSTILE_HEADERS = {
    "infinity": ('{"__metadata__": {"a": Infinity}}', b""),
    "nan_shape": ('{"a": {"dtype": "U8", "shape": [NaN], "data_offsets": [0, 1]}}', b"\0"),
    "1e400": ('{"a": {%s, "x": 1e400}}' % E, b"\0"),
    "5000_digit_int": ('{"a": {"dtype": "U8", "shape": [%s], "data_offsets": [0, 1]}}' % ("9" * 5000), b"\0"),
    "5000_digit_extra": ('{"a": {%s, "x": %s}}' % (E, "9" * 5000), b"\0"),
    "deep_nesting": ('{"a": {%s, "x": %s}}' % (E, "[" * 50_000 + "]" * 50_000), b"\0"),
    "deep_metadata": ('{"__metadata__": %s}' % hf.nested_json(3000), b""),
    "nested_metadata": ('{"__metadata__": {"a": {"b": "c"}}}', b""),
    "duplicate_tensor": ('{"a": {%s}, "a": {%s}}' % (E, E), b"\0"),
    "float_offset": ('{"a": {"dtype": "U8", "shape": [1], "data_offsets": [0.0, 1]}}', b"\0"),
    "negative_zero": ('{"a": {"dtype": "U8", "shape": [1], "data_offsets": [-0, 1]}}', b"\0"),
    "hole": ('{"a": {%s}, "b": {"dtype": "U8", "shape": [1], "data_offsets": [2, 3]}}' % E, b"\0" * 3),
    "overlap": ('{"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}, '
                '"b": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}}', b"\0" * 2),
    "trailing_data": ('{"a": {%s}}' % E, b"\0" * 9),
    "shape_overflow": ('{"a": {"dtype": "F64", "shape": [4294967296, 4294967296], "data_offsets": [0, 0]}}', b""),
    "lone_surrogate": ('{"\\ud800": {%s}}' % E, b"\0"),
    "not_utf8": (b'{"\xff": {' + E.encode() + b"}}", b"\0"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_HEADERS))
def test_hostile_headers_are_one_line_errors(tmp_path: Path, run_cli, case: str) -> None:
    header, data = HOSTILE_HEADERS[case]
    path = hf.write_safetensors_raw(tmp_path / "x.safetensors", header, data)
    with pytest.raises(CorruptFileError):
        read_safetensors_header(path)
    with pytest.raises(Exception):  # noqa: B017 - the library refuses them too (duplicates: see below)
        if case == "duplicate_tensor":
            raise ValueError("the library keeps the last duplicate; hubmgr refuses ambiguity")
        _library_read(path)
    run = run_cli("inspect", str(path))
    assert run.exit_code == 1 and "Traceback" not in run.stderr, run.stderr
    assert len([line for line in run.stderr.splitlines() if line.startswith("error:")]) == 1


def test_too_many_tensors_is_refused_before_parsing(tmp_path: Path, run_cli) -> None:
    path = hf.many_tensor_safetensors(tmp_path / "many.safetensors", limits.MAX_TENSORS + 1)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CorruptFileError, match="more than"):
        read_safetensors_header(path)
    run = run_cli("inspect", str(path))
    assert run.exit_code == 1 and "more than" in run.stderr
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KiB


def test_the_library_own_files_are_read(tmp_path: Path) -> None:
    import numpy as np
    from safetensors.numpy import save_file

    tensors = {"w": np.ones((3, 4), np.float32), "b": np.zeros(0, np.int64), "s": np.array(2, np.uint8)}
    save_file(tensors, str(tmp_path / "m.safetensors"), metadata={"format": "np"})
    header = read_safetensors_header(tmp_path / "m.safetensors")
    assert {k: (t.dtype, t.shape) for k, t in header.tensors.items()} == {
        "w": ("F32", (3, 4)), "b": ("I64", (0,)), "s": ("U8", ())}
    assert header.metadata == {"format": "np"}


# -- differential: hubmgr vs safetensors.safe_open ---------------------------------------------

def _library_read(path: Path) -> tuple[dict, dict]:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as f:
        shapes = {k: (f.get_slice(k).get_dtype(), tuple(f.get_slice(k).get_shape())) for k in f.keys()}
        return shapes, dict(f.metadata() or {})


_DTYPES = sorted(SAFETENSORS_BITS) + ["F33", "f32", "C128", ""]
_NUMBERS = st.one_of(st.integers(0, 6), st.integers(-3, -1), st.sampled_from(
    ["-0", "1.0", "2e0", "1e400", "18446744073709551615", "18446744073709551616", "4294967296", "true", "null",
     '"1"', "1e-400", "9" * 30]))


def _num(value) -> str:  # noqa: ANN001
    return str(value) if isinstance(value, int) else value


@st.composite
def headers(draw) -> tuple[str, bytes, bool]:
    """(header text, data, has_duplicate_keys). Half are clean tilings; the rest draw in a few defects."""
    clean = draw(st.booleans())

    def defect(odds: int) -> bool:
        return not clean and draw(st.integers(0, odds)) == 0

    count = draw(st.integers(0, 4))
    entries, position = [], 0
    for i in range(count):
        dtype = draw(st.sampled_from(_DTYPES)) if defect(4) else draw(
            st.sampled_from(["U8", "F32", "F16", "I64", "F4", "F6_E2M3", "BOOL", "C64", "F8_E8M0"]))
        shape = draw(st.lists(st.integers(0, 3), max_size=3))
        numel = 1
        for d in shape:
            numel *= d
        end = position + (numel * SAFETENSORS_BITS.get(dtype, 8)) // 8
        start = max(0, position + (draw(st.sampled_from([1, -1])) if defect(6) else 0))  # holes, overlaps
        shape_txt = [_num(draw(_NUMBERS)) if defect(10) else str(d) for d in shape]
        offs = [str(start), str(end)]
        if defect(8):
            offs[draw(st.integers(0, 1))] = _num(draw(_NUMBERS))
        if defect(12):
            offs.append("0")
        fields = [f'"dtype": {json.dumps(dtype)}', f'"shape": [{", ".join(shape_txt)}]',
                  f'"data_offsets": [{", ".join(offs)}]']
        if draw(st.integers(0, 6)) == 0:  # unknown fields: ignored by the library, but still parsed
            fields.append('"extra": ' + draw(st.sampled_from(
                ["1.5", "[1, [2]]", "{}", "null", "-7", "1e400", "99999999999999999999999", hf.nested_json(60),
                 hf.nested_json(124), hf.nested_json(125), hf.nested_json(126), hf.nested_json(200), '"\\ud800"'])))
        if defect(12):
            fields.pop(draw(st.integers(0, 2)))
        if defect(12):
            fields.append(fields[0])  # a duplicate field inside one tensor
        body = "{" + ", ".join(fields) + "}"
        if draw(st.integers(0, 12)) == 0:
            body = f'[{json.dumps(dtype)}, [{", ".join(shape_txt)}], [{", ".join(offs)}]]'
        name = draw(st.sampled_from([f'"t{i}"'] * 6 + ['"a.b"', '"\\u00e9x"', '""']))
        if defect(10):
            name = draw(st.sampled_from(['"\\ud800"', '"__metadata__"', '"t0"']))
        entries.append(f"{name}: {body}")
        position = end
    metadata = draw(st.sampled_from([None, "null", '{"format": "pt"}', '{}']))
    if defect(4):
        metadata = draw(st.sampled_from(['{"a": 1}', '{"a": {"b": "c"}}', "[]", '{"a": "b", "a": "c"}', '"x"',
                                         '{"a": null}', '{"a": Infinity}']))
    if metadata is not None:
        entries.insert(draw(st.integers(0, len(entries))), f'"__metadata__": {metadata}')
    text = "{" + ", ".join(entries) + "}" + (draw(st.sampled_from(["  ", "\n", "\0", "x", ","])) if defect(8) else "")
    data = b"\0" * max(0, position + (draw(st.sampled_from([1, -1])) if defect(8) else 0))
    return text, data, _has_duplicate_keys(text)


def _has_duplicate_keys(text: str) -> bool:
    found = []

    def pairs(items: list) -> dict:
        keys = [k for k, _ in items]
        found.append(len(keys) != len(set(keys)))
        return dict(items)

    try:
        json.loads(text, object_pairs_hook=pairs)
    except ValueError:
        return False
    return any(found)


@settings(max_examples=400, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=headers())
def test_differential_against_safe_open(tmp_path: Path, case: tuple[str, bytes, bool]) -> None:
    text, data, dup = case
    path = hf.write_safetensors_raw(tmp_path / "d.safetensors", text, data)
    try:
        lib = _library_read(path)
    except Exception:  # noqa: BLE001 - SafetensorError and friends: the library refuses
        lib = None
    try:
        ours = read_safetensors_header(path)
    except CorruptFileError:
        ours = None
    if ours is not None:
        assert lib is not None, f"hubmgr accepts what safetensors refuses: {text!r}"
        assert {k: (t.dtype, t.shape) for k, t in ours.tensors.items()} == lib[0]
        assert ours.metadata == lib[1]
    elif lib is not None:
        assert dup, f"hubmgr refuses what safetensors accepts: {text!r}"
