"""Signing and verification cost vs one sha256 pass over the model (issue 15; goal <= 1.2x).

    .venv/bin/python bench/trust.py [--size-mb 1000] [--repeat 3]

Builds a model folder (one weights file of --size-mb random bytes + config.json), then times, best
of --repeat, with the page cache warm for every row:
  sha256        hashlib.file_digest over every file (the floor: what any verified transfer costs)
  hubmgr sign   sha256 of every file + trust.sign_manifest (what `push --sign` adds to a push whose
                plan did not hash yet; a push's plan already hashes, so there it adds only the ECDSA step)
  hubmgr verify sha256 of every file + trust.verify_manifest (what a pull adds is only the ECDSA
                step: it hashes every byte while verifying the download anyway)
  model_signing sign / verify: the model-signing package's own API on the same folder, for reference.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def sha256_all(folder: Path) -> dict[str, str]:
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.name != "model.sig":
            with open(p, "rb") as fh:
                out[p.relative_to(folder).as_posix()] = hashlib.file_digest(fh, "sha256").hexdigest()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    from model_signing import signing as ms_signing
    from model_signing import verifying as ms_verifying

    from hubmgr import trust

    with tempfile.TemporaryDirectory(prefix="bench-trust-") as tmp:
        root = Path(tmp)
        model = root / "model"
        model.mkdir()
        with open(model / "model.safetensors", "wb") as fh:
            chunk = os.urandom(1 << 20)
            for _ in range(args.size_mb):
                fh.write(chunk)
        (model / "config.json").write_text('{"model_type": "gpt2"}')
        keys = trust.keygen(root / "keys")
        sha256_all(model)  # warm the page cache

        t_sha = best(lambda: sha256_all(model), args.repeat)

        def hub_sign() -> None:
            sig = trust.sign_manifest(sha256_all(model), private_key=keys.private_key, model_name="model")
            (model / "model.sig").write_bytes(sig)

        t_sign = best(hub_sign, args.repeat)
        sig = (model / "model.sig").read_bytes()
        t_verify = best(lambda: trust.verify_manifest(sig, sha256_all(model), public_keys=[keys.public_key]),
                        args.repeat)
        t_sign_only = best(lambda: trust.sign_manifest({"model.safetensors": "0" * 64, "config.json": "1" * 64},
                                                       private_key=keys.private_key, model_name="m"), args.repeat)
        known = trust_files(model)
        t_verify_only = best(lambda: trust.verify_manifest(sig, known, public_keys=[keys.public_key]), args.repeat)

        ms_sig = root / "ms.sig"
        t_ms_sign = best(lambda: ms_signing.Config().use_elliptic_key_signer(private_key=keys.private_key)
                         .set_hashing_config(_ms_hashing()).sign(model, ms_sig), args.repeat)
        t_ms_verify = best(lambda: ms_verifying.Config().use_elliptic_key_verifier(public_key=keys.public_key)
                           .set_hashing_config(_ms_hashing()).verify(model, ms_sig), args.repeat)

    rows = [
        ("sha256 of every file", t_sha),
        ("hubmgr sign (hash + sign)", t_sign),
        ("hubmgr verify (hash + verify)", t_verify),
        ("hubmgr sign, hashes known (push)", t_sign_only),
        ("hubmgr verify, hashes known (pull)", t_verify_only),
        ("model_signing sign (API)", t_ms_sign),
        ("model_signing verify (API)", t_ms_verify),
    ]
    print(f"model: {args.size_mb} MiB weights + config.json; best of {args.repeat}; page cache warm")
    print(f"{'operation':<36} {'seconds':>9} {'vs sha256':>10}")
    for name, secs in rows:
        print(f"{name:<36} {secs:>9.3f} {secs / t_sha:>9.2f}x")


_HASHES: dict[str, dict[str, str]] = {}


def trust_files(model: Path) -> dict[str, str]:
    """The hashes a pull already has (computed once, outside the timed region)."""
    key = str(model)
    if key not in _HASHES:
        _HASHES[key] = sha256_all(model)
    return _HASHES[key]


def _ms_hashing():
    from model_signing import hashing

    return hashing.Config().set_ignored_paths(paths=["model.sig", "ms.sig"], ignore_git_paths=True)


if __name__ == "__main__":
    main()
