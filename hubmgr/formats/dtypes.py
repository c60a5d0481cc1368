"""The one dtype table: safetensors spellings, their sizes, and the torch names that map to them."""

from __future__ import annotations

# dtype (safetensors spelling) -> bytes per element. Sub-byte packed types count 1 (see SUB_BYTE).
ITEMSIZE: dict[str, int] = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
    "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1, "C64": 8, "C128": 16, "C32": 4,
    "F4": 1, "F6_E2M3": 1, "F6_E3M2": 1, "F8_E4M3FNUZ": 1, "F8_E5M2FNUZ": 1,
}
# Packed below a byte per element: a header's span is trusted instead of numel * itemsize.
SUB_BYTE = frozenset({"F4", "F6_E2M3", "F6_E3M2"})
# Bits per element of every dtype the `safetensors` library (0.8) accepts in a header, and only those.
SAFETENSORS_BITS: dict[str, int] = {
    "BOOL": 8, "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
    "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32,
    "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64,
}
# What a safetensors header may carry.
SAFETENSORS_READABLE = frozenset(SAFETENSORS_BITS)
# What hubmgr's writer produces (convert refuses anything else).
SAFETENSORS_WRITABLE = frozenset({"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2", "I64", "I32", "I16", "I8",
                                  "U64", "U32", "U16", "U8", "BOOL", "C64", "C128"})
# Floats ``convert --dtype`` may round to F16/BF16.
FLOAT_DTYPES = frozenset({"F64", "F32", "F16", "BF16"})

# torch dtype attribute name -> safetensors spelling (aliases included).
TORCH_DTYPES: dict[str, str] = {
    "float32": "F32", "float": "F32", "float64": "F64", "double": "F64", "float16": "F16", "half": "F16",
    "bfloat16": "BF16", "int64": "I64", "long": "I64", "int32": "I32", "int": "I32", "int16": "I16",
    "short": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL", "uint16": "U16", "uint32": "U32",
    "uint64": "U64", "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2", "complex64": "C64",
    "cfloat": "C64", "complex128": "C128", "cdouble": "C128", "complex32": "C32", "chalf": "C32",
}
# Legacy typed storage class -> dtype.
STORAGE_DTYPES: dict[str, str] = {
    "FloatStorage": "F32", "DoubleStorage": "F64", "HalfStorage": "F16", "BFloat16Storage": "BF16",
    "LongStorage": "I64", "IntStorage": "I32", "ShortStorage": "I16", "CharStorage": "I8",
    "ByteStorage": "U8", "BoolStorage": "BOOL", "ComplexFloatStorage": "C64", "ComplexDoubleStorage": "C128",
    "UntypedStorage": "U8",
}
# safetensors spelling -> the canonical torch attribute name (first spelling above wins).
TORCH_NAMES: dict[str, str] = {}
for _name, _code in TORCH_DTYPES.items():
    TORCH_NAMES.setdefault(_code, _name)


def torch_dtype(code: str):  # noqa: ANN201 - a torch.dtype; torch is imported by the caller's path only
    import torch

    return getattr(torch, TORCH_NAMES[code])
