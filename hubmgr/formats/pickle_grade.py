"""Grade one pickle stream by what it would do, from its opcodes alone (nothing is imported or run).

An abstract interpreter walks the opcodes with a symbolic stack and memo, so it knows
for every imported global *how* it is used: called (REDUCE, INST, OBJ), instantiated
(NEWOBJ, ``copyreg._reconstructor``, ``_rebuild_from_type_v2``) or given state (BUILD).

Verdicts (an allowlist, never a blocklist):
- ``safe``: every global is in torch's ``weights_only`` allowlist (``TORCH_WEIGHTS_ONLY``,
  copied from torch 2.13 ``_weights_only_unpickler._get_allowed_globals``; a test keeps it in
  step) or in ``PURE_DATA`` (constructors that only build data), and every object given
  state by BUILD was built by one of them;
- ``needs_code``: besides those, only *code classes* (``is_code_class``: the user's own
  classes; the nn.Module layers and configs of torch and transformers models, ``_FRAMEWORK_MODULES``;
  the HF Trainer's argument classes in ``TRAINER_CLASSES``), used only the way a pickled
  ``nn.Module`` uses them: instantiated
  without a call, then one BUILD with a plain dict state (no dunder keys);
- ``unsafe``: anything else imported, any call of something outside the allowlist, any
  call of a computed value, any BUILD on something that is not a freshly built object.
"""

from __future__ import annotations

import importlib.metadata
import io
import pickletools
import sys
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from . import limits

# torch 2.13 torch._weights_only_unpickler._get_allowed_globals() (tests/unit/test_pickle_grade.py checks it).
_DTYPE_NAMES = ("bfloat16 bits16 bits1x8 bits2x4 bits4x2 bits8 bool complex128 complex32 complex64 float16 "
                "float32 float4_e2m1fn_x2 float64 float8_e4m3fn float8_e4m3fnuz float8_e5m2 float8_e5m2fnuz "
                "float8_e8m0fnu int1 int16 int2 int3 int32 int4 int5 int6 int64 int7 int8 qint32 qint8 quint2x4 "
                "quint4x2 quint8 uint1 uint16 uint2 uint3 uint32 uint4 uint5 uint6 uint64 uint7 uint8").split()
_TENSOR_TYPES = "BFloat16 Bool Byte Char Double Float Half Int Long Short".split()
_STORAGES = _TENSOR_TYPES + "ComplexDouble ComplexFloat QInt32 QInt8 QUInt2x4 QUInt4x2 QUInt8".split()
_CUDA_STORAGES = _TENSOR_TYPES + ["ComplexDouble", "ComplexFloat"]
_SPARSE = [t for t in _TENSOR_TYPES if t != "Bool"]
TENSOR_REBUILDERS = frozenset(f"torch._utils._rebuild_{n}" for n in (
    "parameter", "parameter_with_state", "qtensor", "tensor", "tensor_v2", "tensor_v3", "sparse_tensor",
    "meta_tensor_no_storage", "nested_tensor", "wrapper_subclass", "device_tensor_from_numpy",
    "device_tensor_from_cpu_tensor"))
TORCH_WEIGHTS_ONLY = frozenset(
    {"collections.OrderedDict", "collections.Counter", "torch.nn.parameter.Parameter",
     "torch.serialization._get_layout", "torch.Size", "torch.Tensor", "torch.device", "_codecs.encode",
     "builtins.bytearray", "builtins.set", "builtins.complex", "torch.storage.TypedStorage",
     "torch.storage.UntypedStorage", "torch._tensor._rebuild_from_type_v2"}
    | {f"torch.{n}" for n in _DTYPE_NAMES}
    | {f"torch.{t}Tensor" for t in _TENSOR_TYPES} | {f"torch.cuda.{t}Tensor" for t in _TENSOR_TYPES}
    | {f"torch.sparse.{t}Tensor" for t in _SPARSE} | {f"torch.cuda.sparse.{t}Tensor" for t in _SPARSE}
    | {f"torch.{t}Storage" for t in _STORAGES} | {f"torch.cuda.{t}Storage" for t in _CUDA_STORAGES}
    | {f"torch.per_{n}" for n in ("tensor_affine", "tensor_symmetric", "channel_affine", "channel_symmetric",
                                   "channel_affine_float_qparams")}
    | TENSOR_REBUILDERS
)

# Pure-data constructors beyond torch's list: calling or BUILDing them only makes data.
# numpy: the RNG states in Trainer's rng_state.pth (ndarray/dtype rebuilt from bytes, no code).
# builtins: immutable values and containers a protocol-0/1 pickle spells as calls.
PURE_DATA = frozenset({
    "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct", "numpy.ndarray", "numpy.dtype",
    "numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar",
    "builtins.frozenset", "builtins.slice", "builtins.range", "builtins.object", "builtins.tuple", "builtins.list",
    "builtins.dict", "builtins.int", "builtins.float", "builtins.bool", "builtins.str",
})
SAFE_GLOBALS = TORCH_WEIGHTS_ONLY | PURE_DATA
# copyreg._reconstructor(cls, base, state) calls base.__new__/base.__init__: only these bases.
_RECONSTRUCT_BASES = frozenset({"builtins.object", "builtins.dict", "builtins.list", "builtins.set",
                                "builtins.tuple", "builtins.int", "builtins.float", "builtins.str"})
# Objects that may receive SETITEM(S) besides plain dicts (dict subclasses, as pickle writes them).
_DICT_LIKE = frozenset({"collections.OrderedDict", "collections.Counter"})
_RECONSTRUCTOR = "copyreg._reconstructor"
_FROM_TYPE = "torch._tensor._rebuild_from_type_v2"

# What Hugging Face's Trainer pickles into training_args.bin: dataclasses (NEWOBJ + BUILD dict)
# and enums (rebuilt by calling the class with one constant). Exact names, never prefixes.
TRAINER_CLASSES = frozenset({
    "transformers.training_args.TrainingArguments", "transformers.training_args.OptimizerNames",
    "transformers.trainer_utils.SchedulerType", "transformers.trainer_utils.IntervalStrategy",
    "transformers.trainer_utils.SaveStrategy", "transformers.trainer_utils.HubStrategy",
    "transformers.trainer_utils.FSDPOption", "transformers.debug_utils.DebugOption",
    "transformers.trainer_pt_utils.AcceleratorConfig", "accelerate.state.PartialState",
    "accelerate.utils.dataclasses.DistributedType", "transformers.training_args_seq2seq.Seq2SeqTrainingArguments",
})
_ENUM_CALL_OK = TRAINER_CLASSES - {"transformers.training_args.TrainingArguments", "accelerate.state.PartialState",
                                   "transformers.trainer_pt_utils.AcceleratorConfig",
                                   "transformers.training_args_seq2seq.Seq2SeqTrainingArguments"}

# Modules whose classes a ``torch.save(model)`` of a torch or transformers model references:
# nn.Module layers and model configs (their __setstate__ only restores attributes).
_FRAMEWORK_MODULES = ("torch.nn.modules.", "transformers.activations", "transformers.pytorch_utils",
                      "transformers.generation.configuration_utils")


def _framework_module(module: str) -> bool:
    if module.startswith(_FRAMEWORK_MODULES):
        return True
    parts = module.split(".")  # transformers.models.<model>.modeling_<model> / configuration_<model>
    return (len(parts) == 4 and parts[:2] == ["transformers", "models"]
            and parts[3].startswith(("modeling_", "configuration_")))


MAX_OPS = limits.MAX_PICKLE_OPS  # a bound on work (formats/limits.py)


@lru_cache(maxsize=1)
def _installed_top_levels() -> frozenset[str]:
    try:
        return frozenset(importlib.metadata.packages_distributions())
    except Exception:  # noqa: BLE001 - a broken metadata dir must not break grading
        return frozenset()


def is_user_module(module: str) -> bool:
    """``__main__`` or a module that is neither stdlib nor part of an installed distribution."""
    top = module.split(".")[0]
    if module == "__main__":
        return True
    if not top.isidentifier() or top in sys.stdlib_module_names or top in sys.builtin_module_names:
        return False
    return top not in _installed_top_levels()


def is_code_class(qual: str) -> bool:
    """A class a full-model pickle may legitimately need (the user's, torch.nn's, the Trainer's)."""
    module, _, name = qual.rpartition(".")
    if not module or not name.isidentifier() or name.startswith("__") or module.startswith("__main__."):
        return False
    if qual in TRAINER_CLASSES:
        return True
    if name[:1].isupper() and _framework_module(module):
        return module.replace(".", "").replace("_", "").isalnum()
    return all(part.isidentifier() for part in module.split(".")) and is_user_module(module)


# -- abstract values -----------------------------------------------------------


class _Mark:
    pass


_MARK = _Mark()


@dataclass(eq=False)
class _Val:
    kind: str  # const | global | obj | data | list | dict | tuple | set | unknown
    qual: str = ""  # global name; for obj/data: the class or function that made it
    value: Any = None  # const value / tuple items
    keys: list = field(default_factory=list)  # dict: keys seen
    builds: int = 0

    def describe(self) -> str:
        if self.kind == "global":
            return self.qual
        if self.kind in ("obj", "data") or self.kind == "unknown" and self.qual:
            return f"the result of {self.qual}"
        return "an unknown value" if self.kind == "unknown" else f"a {self.kind}"


@dataclass
class PickleGrade:
    verdict: str  # safe | needs_code | unsafe | unknown
    globals: list[str] = field(default_factory=list)
    offending: list[str] = field(default_factory=list)
    classes: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    end: int = 0  # offset just after STOP
    value: Any = None  # the pickled value when it is a plain constant (legacy magic/protocol checks)
    computed: bool = False  # the pickled value came out of a call: it could be anything, even the magic number
    error: str | None = None


class _Walk:
    def __init__(self) -> None:
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[Any, Any] = {}
        self.globals: dict[str, None] = {}
        self.classes: dict[str, None] = {}
        self.offending: dict[str, None] = {}
        self.reasons: dict[str, None] = {}

    def bad(self, reason: str, *quals: str) -> None:
        self.reasons.setdefault(reason)
        for q in quals:
            if q:
                self.offending.setdefault(q)

    def pop(self) -> Any:
        if not self.stack:
            raise ValueError("stack underflow")
        return self.stack.pop()

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise ValueError("no MARK")
        at = self.marks.pop()
        items = self.stack[at:]
        del self.stack[at:]
        return items

    # -- uses of values --

    def call(self, func: Any, args: list[Any], how: str) -> _Val:
        if not (isinstance(func, _Val) and func.kind == "global"):
            what = func.describe() if isinstance(func, _Val) else "a computed value"
            self.bad(f"{how} calls {what}", getattr(func, "qual", ""))
            return _Val("unknown")
        q = func.qual
        if q == _RECONSTRUCTOR:
            return self._reconstruct(args)
        if q == _FROM_TYPE:
            return self._from_type(args)
        if q in SAFE_GLOBALS:
            return _Val("data", q)
        if q in _ENUM_CALL_OK and len(args) == 1 and isinstance(args[0], _Val) and args[0].kind == "const":
            self.classes.setdefault(q)
            return _Val("data", q)
        self.bad(f"{how} calls {q}", q)
        return _Val("unknown", q)

    def new(self, cls: Any, how: str) -> _Val:
        if isinstance(cls, _Val) and cls.kind == "global":
            if cls.qual in SAFE_GLOBALS:
                return _Val("data", cls.qual)
            if is_code_class(cls.qual) and cls.value != "dotted":
                self.classes.setdefault(cls.qual)
                return _Val("obj", cls.qual)
        what = cls.describe() if isinstance(cls, _Val) else "a computed value"
        self.bad(f"{how} instantiates {what}", getattr(cls, "qual", ""))
        return _Val("unknown")

    def _args(self, args: list[Any], n: int) -> list[Any]:
        return list(args[:n]) + [None] * (n - len(args))

    def _reconstruct(self, args: list[Any]) -> _Val:
        cls, base, _state = self._args(args, 3)
        if not (isinstance(base, _Val) and base.kind == "global" and base.qual in _RECONSTRUCT_BASES):
            what = base.describe() if isinstance(base, _Val) else "a computed value"
            self.bad(f"copyreg._reconstructor with base {what} (base.__new__/__init__ run)",
                     getattr(base, "qual", ""))
        return self.new(cls, "copyreg._reconstructor")

    def _from_type(self, args: list[Any]) -> _Val:
        func, new_type, _fargs, state = self._args(args, 4)
        if not (isinstance(func, _Val) and func.kind == "global" and func.qual in TENSOR_REBUILDERS):
            what = func.describe() if isinstance(func, _Val) else "a computed value"
            self.bad(f"_rebuild_from_type_v2 calls {what}", getattr(func, "qual", ""))
        if not (isinstance(new_type, _Val) and new_type.kind == "global" and new_type.qual in
                ("torch.Tensor", "torch.nn.parameter.Parameter")):
            obj = self.new(new_type, "_rebuild_from_type_v2")
            if obj.kind == "obj":
                self.build(obj, state)  # the subclass's __setstate__ gets ``state``
        return _Val("data", _FROM_TYPE)

    def build(self, target: Any, state: Any) -> None:
        if not (isinstance(target, _Val) and target.kind in ("obj", "data")):
            what = target.describe() if isinstance(target, _Val) else "a computed value"
            self.bad(f"BUILD on {what}", getattr(target, "qual", ""))
            return
        target.builds += 1
        if target.builds > 1:
            self.bad(f"second BUILD on a {target.qual} (can call a __setstate__ planted by the first)",
                     target.qual)
        for part in (state.value if isinstance(state, _Val) and state.kind == "tuple" else [state])[:2]:
            if target.kind == "data" and not (isinstance(part, _Val) and part.kind == "dict"):
                continue  # tensors and numpy arrays take tuple states (torch's weights_only BUILD cases)
            if isinstance(part, _Val) and part.kind == "dict":
                odd = [k for k in part.keys if not (isinstance(k, _Val) and k.kind == "const"
                                                    and isinstance(k.value, str) and not k.value.startswith("__"))]
                if odd:
                    self.bad(f"BUILD of {target.qual} sets {odd[0].describe() if isinstance(odd[0], _Val) else odd[0]}"
                             f"{' ' + repr(odd[0].value) if isinstance(odd[0], _Val) and odd[0].kind == 'const' else ''}",
                             target.qual)
            elif not (isinstance(part, _Val) and part.kind == "const" and part.value is None):
                self.bad(f"BUILD of {target.qual} with a state that is not a dict", target.qual)


_CONST_OPS = {"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "STRING", "BINSTRING",
              "SHORT_BINSTRING", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "UNICODE", "SHORT_BINUNICODE",
              "BINUNICODE", "BINUNICODE8", "FLOAT", "BINFLOAT", "BYTEARRAY8"}
_MODULE_ALIASES = {"__builtin__": "builtins", "copy_reg": "copyreg"}


def _global(module: str, name: str) -> _Val:
    # A dotted name is an attribute path (pickle protocol 4 walks it with getattr): mark it.
    return _Val("global", f"{_MODULE_ALIASES.get(module, module)}.{name}", value="dotted" if "." in name else None)


def grade_pickle(data: bytes | io.BytesIO, start: int = 0) -> PickleGrade:
    """Grade the pickle starting at ``start`` (see the module docstring). Never raises on bad input."""
    stream = data if isinstance(data, io.BytesIO) else io.BytesIO(data)
    stream.seek(start)
    w = _Walk()
    error = None
    result: Any = None
    ops = 0
    try:
        for op, arg, _pos in pickletools.genops(stream):
            ops += 1
            if ops > MAX_OPS:
                raise ValueError(f"more than {MAX_OPS} opcodes")
            result = _step(w, op.name, arg)
            if op.name == "STOP":
                break
        else:
            raise ValueError("no STOP opcode")
    except Exception as exc:  # noqa: BLE001 - genops raises ValueError and friends on junk
        error = f"{type(exc).__name__}: {exc}"[:200]
    grade = PickleGrade("unknown", list(w.globals), end=stream.tell(), error=error)
    for q in w.globals:
        if q not in SAFE_GLOBALS and not is_code_class(q) and q not in w.offending:
            w.bad(f"imports {q}", q)
    grade.offending, grade.reasons = list(w.offending), list(w.reasons)
    grade.classes = [c for c in w.classes if c not in w.offending]
    if w.reasons:
        grade.verdict = "unsafe"
    elif error is not None:
        grade.verdict = "unknown"
    else:
        grade.verdict = "needs_code" if w.classes else "safe"
    if isinstance(result, _Val) and result.kind == "const":
        grade.value = result.value
    grade.computed = isinstance(result, _Val) and result.kind in ("data", "obj", "unknown")
    return grade


def _step(w: _Walk, name: str, arg: Any) -> Any:  # noqa: C901 - one branch per opcode family
    s = w.stack
    if name in _CONST_OPS:
        s.append(_Val("const", value=arg))
    elif name in ("NONE", "NEWTRUE", "NEWFALSE"):
        s.append(_Val("const", value={"NONE": None, "NEWTRUE": True, "NEWFALSE": False}[name]))
    elif name == "MARK":
        w.marks.append(len(s))
    elif name == "EMPTY_LIST":
        s.append(_Val("list"))
    elif name == "EMPTY_DICT":
        s.append(_Val("dict"))
    elif name == "EMPTY_SET":
        s.append(_Val("set"))
    elif name == "EMPTY_TUPLE":
        s.append(_Val("tuple", value=[]))
    elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
        n = int(name[-1])
        items = [w.pop() for _ in range(n)][::-1]
        s.append(_Val("tuple", value=items))
    elif name == "TUPLE":
        s.append(_Val("tuple", value=w.pop_mark()))
    elif name == "LIST":
        w.pop_mark()
        s.append(_Val("list"))
    elif name == "FROZENSET":
        w.pop_mark()
        s.append(_Val("set"))
    elif name == "DICT":
        items = w.pop_mark()
        s.append(_Val("dict", keys=items[0::2]))
    elif name in ("APPEND", "APPENDS"):
        _ = w.pop() if name == "APPEND" else w.pop_mark()
        if not s or not (isinstance(s[-1], _Val) and s[-1].kind == "list"):
            w.bad(f"{name} on {s[-1].describe() if s and isinstance(s[-1], _Val) else 'a non-list'} "
                  f"(calls its append/extend)", getattr(s[-1], "qual", "") if s else "")
    elif name in ("SETITEM", "SETITEMS"):
        items = [w.pop(), w.pop()][::-1] if name == "SETITEM" else w.pop_mark()
        target = s[-1] if s else None
        if isinstance(target, _Val) and target.kind == "dict":
            target.keys.extend(items[0::2])
        elif not (isinstance(target, _Val) and target.kind == "data" and target.qual in _DICT_LIKE):
            w.bad(f"{name} on {target.describe() if isinstance(target, _Val) else 'a non-dict'} "
                  f"(calls its __setitem__)", getattr(target, "qual", ""))
    elif name == "ADDITEMS":
        w.pop_mark()
        if not s or not (isinstance(s[-1], _Val) and s[-1].kind == "set"):
            w.bad("ADDITEMS on a non-set (calls its add)")
    elif name == "POP":
        w.pop()
    elif name == "POP_MARK":
        w.pop_mark()
    elif name == "DUP":
        s.append(s[-1] if s else _Val("unknown"))
    elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
        w.memo[arg] = s[-1] if s else _Val("unknown")
    elif name == "MEMOIZE":
        w.memo[len(w.memo)] = s[-1] if s else _Val("unknown")
    elif name in ("GET", "BINGET", "LONG_BINGET"):
        s.append(w.memo.get(arg, _Val("unknown")))
    elif name in ("GLOBAL", "INST"):
        module, _, attr = str(arg).partition(" ")
        g = _global(module, attr)
        w.globals.setdefault(g.qual)
        if g.value == "dotted":
            w.bad(f"imports {g.qual} through an attribute path", g.qual)
        if name == "GLOBAL":
            s.append(g)
        else:
            s.append(w.call(g, w.pop_mark(), "INST"))
    elif name == "STACK_GLOBAL":
        attr, module = w.pop(), w.pop()
        if all(isinstance(v, _Val) and v.kind == "const" and isinstance(v.value, str) for v in (module, attr)):
            g = _global(module.value, attr.value)
            if g.value == "dotted":
                w.bad(f"imports {g.qual} through an attribute path", g.qual)
        else:
            g = _Val("global", "<computed STACK_GLOBAL>")
        w.globals.setdefault(g.qual)
        s.append(g)
    elif name == "OBJ":
        items = w.pop_mark()
        if not items:
            raise ValueError("OBJ without a class")
        s.append(w.call(items[0], items[1:], "OBJ"))
    elif name == "REDUCE":
        args, func = w.pop(), w.pop()
        s.append(w.call(func, args.value if isinstance(args, _Val) and args.kind == "tuple" else [], "REDUCE"))
    elif name in ("NEWOBJ", "NEWOBJ_EX"):
        if name == "NEWOBJ_EX":
            w.pop()
        w.pop()
        s.append(w.new(w.pop(), name))
    elif name == "BUILD":
        state = w.pop()
        w.build(s[-1] if s else None, state)
    elif name in ("PERSID", "BINPERSID"):
        pid = w.pop() if name == "BINPERSID" else None
        items = pid.value if isinstance(pid, _Val) and pid.kind == "tuple" else []
        if items and isinstance(items[0], _Val) and items[0].kind == "const" and items[0].value == "module":
            s.append(items[1] if len(items) > 1 else _Val("unknown"))  # legacy nn.Module: torch returns the class
        elif items and isinstance(items[0], _Val) and items[0].kind != "const":
            s.append(items[0])  # the tar format's persistent_load returns a tuple id's first item
        else:
            s.append(_Val("unknown"))  # a storage reference, resolved by torch's persistent_load
    elif name in ("EXT1", "EXT2", "EXT4"):
        w.bad(f"{name} loads a global from the copyreg extension registry")
        s.append(_Val("unknown"))
    elif name in ("NEXT_BUFFER",):
        s.append(_Val("unknown"))
    elif name == "STOP":
        return w.pop()
    elif name in ("PROTO", "FRAME", "READONLY_BUFFER"):
        pass
    else:  # an opcode this walker does not model: do not vouch for the file
        raise ValueError(f"unmodelled opcode {name}")
    return None
