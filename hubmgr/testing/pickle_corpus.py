"""A corpus of hostile and benign torch-style files, for the verdict tests and bench/verdicts.py.

Every payload only creates the file ``pwned`` in the current directory (relative path), so
loading a file inside a throwaway directory shows whether it really ran code.
``build_corpus(dest)`` writes the files and returns one ``Sample`` per file.
"""

from __future__ import annotations

import io
import pickle
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARKER = "pwned"
CMD = f"touch {MARKER}"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


@dataclass(frozen=True)
class Sample:
    path: Path
    family: str  # the attack class (or "benign")
    malicious: bool  # built to run code somewhere (torch.load, numpy.load, joblib.load, pickle.load)


# -- hand-assembled pickle pieces (protocol 2 unless said) --------------------


def _s(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _g(module: str, name: str) -> bytes:
    return f"c{module}\n{name}\n".encode()


def _wrap(body: bytes) -> bytes:
    """``{"w": 1, "evil": <body>}`` as a whole protocol-2 pickle."""
    return b"\x80\x02}(" + _s("w") + b"K\x01" + _s("evil") + body + b"u."


def call(module: str, name: str, *args: str) -> bytes:
    return _wrap(_g(module, name) + b"(" + b"".join(_s(a) for a in args) + b"tR")


def dotted(module: str, name: str, *args: str) -> bytes:
    """Protocol 4 STACK_GLOBAL with a dotted name: getattr walks module.a.b."""
    body = (_s(module) + _s(name) + b"\x93(" + b"".join(_s(a) for a in args) + b"tR")
    return b"\x80\x04}(" + _s("w") + b"K\x01" + _s("evil") + body + b"u."


PICKLES: dict[str, tuple[str, bytes]] = {
    # family "direct call": the classic REDUCE of a dangerous function
    "os_system": ("direct_call", call("os", "system", CMD)),
    "posix_system": ("direct_call", call("posix", "system", CMD)),
    "subprocess_call": ("direct_call", _wrap(_g("subprocess", "call") + b"(" + b"(" + _s("touch") + _s(MARKER)
                                             + b"ltR")),
    "subprocess_popen": ("direct_call", _wrap(_g("subprocess", "Popen") + b"(" + b"(" + _s("touch") + _s(MARKER)
                                              + b"ltR")),
    "builtins_exec": ("direct_call", call("builtins", "exec", f"open('{MARKER}', 'w')")),
    "builtins_eval": ("direct_call", call("builtins", "eval", f"open('{MARKER}', 'w')")),
    "builtins_open": ("direct_call", call("builtins", "open", MARKER, "w")),
    "shutil_copy": ("direct_call", call("shutil", "copyfile", "/dev/null", MARKER)),
    "os_popen": ("direct_call", _wrap(_g("os", "popen") + b"(" + _s(CMD) + b"tR")),
    # family "timeit": code in the setup string
    "timeit_timeit": ("timeit", _wrap(_g("timeit", "timeit") + b"(" + _s("pass") + _s(f"open('{MARKER}','w')")
                                      + b"J\x01\x00\x00\x00tR")),
    # timeit.Timer.timeit(Timer("pass", setup=<code>), 1): the unbound method runs the setup
    "timeit_timer": ("timeit", b"\x80\x04}(" + _s("w") + b"K\x01" + _s("evil") + _s("timeit") + _s("Timer.timeit")
                     + b"\x93(" + _g("timeit", "Timer") + b"(" + _s("pass") + _s(f"open('{MARKER}','w')") + b"tR"
                     + b"K\x01tRu."),
    # family "dotted": a harmless-looking module reaching a dangerous one
    "dotted_torch_serialization_os": ("dotted", dotted("torch.serialization", "os.system", CMD)),
    "dotted_collect_env_run": ("dotted", dotted("torch.utils.collect_env", "run", CMD)),
    "dotted_main_torch": ("dotted", dotted("__main__", "torch.serialization.os.system", CMD)),
    "dotted_collect_env_subprocess": ("dotted", dotted("torch.utils.collect_env", "subprocess.getoutput", CMD)),
    # family "reconstructor": copyreg._reconstructor(Popen, Popen, argv) runs Popen.__init__
    "reconstructor_popen": ("reconstructor", _wrap(_g("copy_reg", "_reconstructor") + b"(" + _g("subprocess", "Popen")
                                                   + _g("subprocess", "Popen") + b"(" + _s("touch") + _s(MARKER)
                                                   + b"ltR")),
    # family "build": BUILD plants __setstate__, a second BUILD calls it
    "build_plant_namespace": ("build", _wrap(_g("argparse", "Namespace") + b")\x81}" + _s("__setstate__")
                                             + _g("os", "system") + b"sb" + _s(CMD) + b"b")),
    "build_plant_ordereddict": ("build", _wrap(_g("collections", "OrderedDict") + b")R}" + _s("__setstate__")
                                               + _g("posix", "system") + b"sb" + _s(CMD) + b"b")),
    # family "inst_obj": INST/OBJ are calls, with or without arguments
    "inst_os_system": ("inst_obj", b"(dp0\nS'evil'\np1\n(S'" + CMD.encode() + b"'\nios\nsystem\np2\ns."),
    "obj_os_system": ("inst_obj", _wrap(b"(" + _g("os", "system") + _s(CMD) + b"o")),
    "obj_no_args_partial": ("inst_obj", _wrap(b"(" + _g("functools", "partial") + b"(" + _g("os", "system")
                                              + _s(CMD) + b"tRo")),
    # family "rebuild_from_type": torch's subclass rebuild calls func(*args)
    "from_type_v2_system": ("rebuild_from_type", _wrap(_g("torch._tensor", "_rebuild_from_type_v2") + b"("
                                                       + _g("os", "system") + _g("torch", "Tensor") + b"("
                                                       + _s(CMD) + b"t}tR")),
    # family "getattr": reaching os.system through generic helpers
    "getattr_import": ("getattr", _wrap(_g("builtins", "getattr") + b"(" + _g("builtins", "__import__") + b"("
                                        + _s("os") + b"tR" + _s("system") + b"tR(" + _s(CMD) + b"tR")),
    "methodcaller_import_module": ("getattr", _wrap(_g("operator", "methodcaller") + b"(" + _s("system") + _s(CMD)
                                                    + b"tR(" + _g("importlib", "import_module") + b"(" + _s("os")
                                                    + b"tRtR")),
}
_INNER = call("os", "system", CMD)  # pickle.loads(<a pickle calling os.system>)
PICKLES["nested_pickle_loads"] = ("getattr", _wrap(_g("pickle", "loads") + b"(B" + struct.pack("<I", len(_INNER))
                                                   + _INNER + b"tR"))


# -- containers ----------------------------------------------------------------


def torch_zip(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return buf.getvalue()


def zip_of(pickle_bytes: bytes) -> bytes:
    return torch_zip([("archive/data.pkl", pickle_bytes), ("archive/byteorder", b"little"),
                      ("archive/version", b"3\n")])


def legacy_of(main: bytes, *, magic: bytes | None = None, protocol: bytes | None = None,
              sys_info: bytes | None = None, keys: bytes | None = None) -> bytes:
    """The legacy layout: magic, protocol, sys_info, object, storage keys (any may be replaced)."""
    return b"".join([
        magic or pickle.dumps(LEGACY_MAGIC, protocol=2),
        protocol or pickle.dumps(1001, protocol=2),
        sys_info or pickle.dumps({"protocol_version": 1001, "little_endian": True,
                                  "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2),
        main,
        keys or pickle.dumps([], protocol=2),
    ])


def _p0_call() -> bytes:
    """A protocol-0 pickle calling os.system (what a header pickle may hide)."""
    return b"cos\nsystem\n(S'" + CMD.encode() + b"'\ntR."


def tar_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _tar_members(pickle_member: bytes, storages: bytes | None = None, tensors: bytes | None = None) -> dict:
    return {"storages": storages or pickle.dumps(0, protocol=2) + pickle.dumps([], protocol=2),
            "tensors": tensors or pickle.dumps(0, protocol=2),
            "pickle": pickle_member}


def _corrupt_crc(data: bytes) -> bytes:
    """Flip the stored CRC of every entry (torch ignores CRCs, zipfile refuses them)."""
    out = bytearray(data)
    for sig, off in ((b"PK\x03\x04", 14), (b"PK\x01\x02", 16)):
        i = 0
        while (i := out.find(sig, i)) >= 0:
            out[i + off] ^= 0xFF
            i += 4
    return bytes(out)


def _encrypt_flag(data: bytes) -> bytes:
    out = bytearray(data)
    for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        i = 0
        while (i := out.find(sig, i)) >= 0:
            out[i + off] |= 1
            i += 4
    return bytes(out)


def _zip_rename_local(data: bytes, old: bytes, new: bytes) -> bytes:
    """Change only the first *local* header's name (the central directory keeps ``old``; same length)."""
    assert data[30:30 + len(old)] == old and len(new) == len(old)
    return data[:30] + new + data[30 + len(old):]


# -- the corpus ------------------------------------------------------------------


def build_corpus(dest: str | Path, *, with_benign: bool = True) -> list[Sample]:
    """Write every sample under ``dest`` (created) and describe them."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    samples: list[Sample] = []

    def add(name: str, family: str, data: bytes, malicious: bool = True) -> None:
        path = dest / name
        path.write_bytes(data)
        samples.append(Sample(path, family, malicious))

    safe_obj = pickle.dumps({"w": [1.0, 2.0]}, protocol=2)
    for name, (family, data) in PICKLES.items():
        add(f"{name}.zip.pt", family, zip_of(data))
        add(f"{name}.legacy.pt", family, legacy_of(data))
    # header pickles of the legacy format (all unpickled with the full unpickler), protocols 0 and 2
    add("legacy_magic_p0.pt", "legacy_header", legacy_of(safe_obj, magic=_p0_call()))
    add("legacy_magic_p2.pt", "legacy_header", legacy_of(safe_obj, magic=call("os", "system", CMD)))
    add("legacy_protocol_p0.pt", "legacy_header", legacy_of(safe_obj, protocol=_p0_call()))
    add("legacy_sysinfo_p0.pt", "legacy_header", legacy_of(safe_obj, sys_info=_p0_call()))
    add("legacy_sysinfo_p2.pt", "legacy_header", legacy_of(safe_obj, sys_info=call("posix", "system", CMD)))
    add("legacy_keys_p0.pt", "legacy_header", legacy_of(safe_obj, keys=_p0_call()))
    add("legacy_keys_p2.pt", "legacy_header", legacy_of(safe_obj, keys=call("os", "system", CMD)))
    # the pre-1.0 tar format: payload in each member; a tar whose first member *name* is a safe pickle
    evil = call("os", "system", CMD)
    add("tar_pickle_member.pt", "tar", tar_of(_tar_members(evil)))
    add("tar_storages_member.pt", "tar", tar_of(_tar_members(safe_obj, storages=evil)))
    add("tar_tensors_member.pt", "tar", tar_of(_tar_members(safe_obj, tensors=evil)))
    name_pickle = pickle.dumps(1, protocol=2)  # 5 bytes: a valid pickle as the first member's name
    add("tar_name_is_pickle.pt", "tar", tar_of({name_pickle.decode("latin1"): b"x", **_tar_members(evil)}))
    # zip member selection and ambiguity
    add("zip_xdata_before_data.pt", "zip_member", torch_zip([("archive/xdata.pkl", safe_obj),
                                                             ("archive/data.pkl", evil),
                                                             ("archive/version", b"3\n")]))
    add("zip_duplicate_first_evil.pt", "zip_member", torch_zip([("archive/data.pkl", evil),
                                                                ("archive/data.pkl", safe_obj),
                                                                ("archive/version", b"3\n")]))
    add("zip_case_variant.pt", "zip_member", torch_zip([("archive/DATA.PKL", evil), ("archive/version", b"3\n")]))
    add("zip_bad_crc.pt", "zip_member", _corrupt_crc(zip_of(evil)))
    add("zip_encrypted_flag.pt", "zip_member", _encrypt_flag(zip_of(evil)))
    add("zip_local_name_differs.pt", "zip_member",
        _zip_rename_local(torch_zip([("archive/data.pkl", evil), ("archive/version", b"3\n")]),
                          b"archive/data.pkl", b"archive/data.pkx"))
    add("zip_nested_data_pkl.pt", "zip_member", torch_zip([("archive/sub/data.pkl", safe_obj),
                                                           ("archive/data.pkl", evil),
                                                           ("archive/version", b"3\n")]))
    # pickles behind other names and wrappers (push and scan must sniff content)
    add("payload.pkl", "other_suffix", evil)
    add("payload.pickle", "other_suffix", _p0_call())
    add("checkpoint.pth.tar", "other_suffix", legacy_of(evil))
    add("weights.bak", "other_suffix", zip_of(evil))
    add("pytorch_model.bin.1", "other_suffix", zip_of(evil))
    add("model.joblib", "other_suffix", zlib.compress(evil))
    add("model.pt2", "other_suffix", torch_zip([("archive/data.pkl", evil), ("archive/version", b"3\n")]))
    npy_header = b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    npy_header += b" " * (63 - (10 + len(npy_header)) % 64) + b"\n"
    add("array.npy", "other_suffix", b"\x93NUMPY\x01\x00" + struct.pack("<H", len(npy_header)) + npy_header + evil)
    if with_benign:
        samples.extend(build_benign(dest))
    return samples


def build_benign(dest: Path) -> list[Sample]:
    """Real torch.save outputs that must be graded safe (a __main__ full model: needs_code)."""
    import torch

    from .checkpoint_factory import save_state_dict, save_training_checkpoint

    out: list[Sample] = []
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.LayerNorm(4))
    opt = torch.optim.AdamW(net.parameters())
    net(torch.randn(2, 4)).sum().backward()
    opt.step()
    for legacy in (False, True):
        tag = "legacy" if legacy else "zip"
        new_zip = not legacy
        out.append(Sample(save_state_dict(dest / f"benign_state_dict.{tag}.pt", legacy=legacy), "benign", False))
        out.append(Sample(save_training_checkpoint(dest / f"benign_training.{tag}.pt", legacy=legacy), "benign",
                          False))
        for name, obj in (("optimizer", opt.state_dict()),
                          ("mixed_dtypes", {"a": torch.ones(3, dtype=torch.bfloat16), "b": torch.arange(4),
                                            "c": torch.zeros(2, dtype=torch.int8), "flag": True, "lr": 1e-3}),
                          ("rng_state", {"cpu": torch.get_rng_state(), "numpy": _numpy_rng_state()})):
            path = dest / f"benign_{name}.{tag}.pt"
            torch.save(obj, path, _use_new_zipfile_serialization=new_zip)
            out.append(Sample(path, "benign", False))
        path = dest / f"benign_full_module.{tag}.pt"
        torch.save(_main_class_model(), path, _use_new_zipfile_serialization=new_zip)
        out.append(Sample(path, "benign_needs_code", False))
    return out


def _numpy_rng_state() -> Any:
    import numpy as np

    return np.random.RandomState(0).get_state()


def _main_class_model() -> Any:
    """An nn.Module whose class lives in ``__main__`` (what a training script saves with torch.save(model))."""
    import sys

    import torch

    main = sys.modules["__main__"]
    cls = getattr(main, "CorpusNet", None)
    if cls is None:
        def init(self: Any) -> None:
            torch.nn.Module.__init__(self)
            self.fc = torch.nn.Linear(3, 2)
            self.act = torch.nn.ReLU()

        cls = type("CorpusNet", (torch.nn.Module,), {"__init__": init, "__module__": "__main__"})
        cls.__qualname__ = "CorpusNet"
        main.CorpusNet = cls  # so pickle can find the class by name while saving
    return cls()



# -- ground truth: does the file really run code? ------------------------------

_LOADER = r"""
import json, os, sys, time, warnings
warnings.simplefilter("ignore")
out = {}
for key, path, loader, workdir in json.loads(sys.stdin.read()):
    os.chdir(workdir)
    try:
        if loader == "torch":
            import torch
            torch.load(path, weights_only=False)
        elif loader == "numpy":
            import numpy
            numpy.load(path, allow_pickle=True)
        elif loader == "joblib":
            import joblib
            joblib.load(path)
        else:
            import pickle
            with open(path, "rb") as fh:
                pickle.load(fh)
        out[key] = "loaded"
    except BaseException as exc:  # a payload may raise anything, even SystemExit
        out[key] = type(exc).__name__
time.sleep(1.0)  # Popen payloads finish their child
print(json.dumps(out))
"""


def loaders_for(path: Path) -> tuple[str, ...]:
    """The real loaders a user would point at this file: torch.load always, plus its format's own."""
    name = path.name.lower()
    extra = {".npy": "numpy", ".joblib": "joblib", ".pkl": "pickle", ".pickle": "pickle"}
    return ("torch",) + tuple(v for k, v in extra.items() if name.endswith(k))


def really_runs_code(samples: list[Sample], workroot: str | Path, *, python: str | None = None,
                     timeout: float = 300) -> dict[Path, bool]:
    """Load every sample with its real loaders (``torch.load(weights_only=False)`` ...) in ONE throwaway
    subprocess, each load in its own empty working directory; a sample ran code if ``pwned`` appeared."""
    import json
    import subprocess
    import sys

    workroot = Path(workroot)
    jobs = []
    for i, sample in enumerate(samples):
        for loader in loaders_for(sample.path):
            workdir = workroot / f"{i}-{loader}"
            workdir.mkdir(parents=True)
            jobs.append((f"{i}-{loader}", str(sample.path.resolve()), loader, str(workdir)))
    proc = subprocess.run([python or sys.executable, "-c", _LOADER], input=json.dumps(jobs), text=True,
                          capture_output=True, timeout=timeout, cwd=workroot)
    if proc.returncode != 0:
        raise RuntimeError(f"loader subprocess failed: {proc.stderr[-2000:]}")
    json.loads(proc.stdout.strip().splitlines()[-1])  # every load reported back
    ran = {s.path: False for s in samples}
    for key, path, _loader, workdir in jobs:
        if (Path(workdir) / MARKER).exists():
            ran[samples[int(key.split("-")[0])].path] = True
    return ran
