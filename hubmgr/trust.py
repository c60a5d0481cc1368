"""Publisher signatures in the OpenSSF model-signing format (``model.sig``), key-based, offline.

A signature is a Sigstore bundle holding a DSSE envelope over an in-toto statement whose
predicate lists every signed file with its sha256 (predicate type
``https://model_signing/signature/v1.0``, "files" serialization). It is byte-compatible with
``model_signing sign key`` / ``model_signing verify key``: each side verifies the other's.

hubmgr never re-reads a file to sign or verify it: push already hashed every file for its plan,
and pull hashed every byte it downloaded (``hubmgr.lock.json``). So signing and checking a
release costs one ECDSA operation over a manifest, not another pass over the weights.

The ``model_signing`` package is imported lazily (a host that never signs does not need it).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Mapping, Sequence

from .errors import HubmgrError, NotFoundError, SignatureError, UsageError
from .models import JsonMixin

SIGNATURE_NAME = "model.sig"
# What model_signing ignores by default, plus our own deploy bookkeeping, recorded in every
# manifest hubmgr signs so `model_signing verify` skips them too.
IGNORED_PATHS = (SIGNATURE_NAME, ".git", ".gitattributes", ".github", ".gitignore", "hubmgr.lock.json")
MAX_SIGNATURE_BYTES = 16 * 2**20  # a manifest of 100k files is ~15 MB; a signature is remote input
_PREDICATE_TYPE = "https://model_signing/signature/v1.0"


@dataclass(frozen=True)
class KeygenResult(JsonMixin):
    private_key: str  # path, mode 0600
    public_key: str  # path
    fingerprint: str  # sha256 of the public key PEM: the "hint" model-signing puts in signatures


@dataclass(frozen=True)
class SignatureCheck(JsonMixin):
    """Outcome of checking ``model.sig`` against a set of files."""

    status: str  # "valid" | "unsigned" | "invalid"
    signer: str | None = None  # fingerprint of the key that verified (or the hint the signature names)
    files: int = 0  # files the signature covers
    reason: str | None = None  # why it is not valid


def _require_model_signing():
    try:
        import model_signing  # noqa: F401
        from model_signing import manifest  # noqa: F401
    except ImportError as exc:  # pragma: no cover - the [sign] extra is part of the default install
        raise HubmgrError("signing needs the model-signing package",
                          "pip install 'hubmgr[sign]' (model-signing and pyopenssl)") from exc


def fingerprint(public_key_pem: bytes) -> str:
    """The key id model-signing writes into a signature (sha256 of the SubjectPublicKeyInfo PEM)."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(public_key_pem)
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(pem).hexdigest()


def public_key_pem(private_key: str | os.PathLike[str], password: str | None = None) -> bytes:
    """The public half (SubjectPublicKeyInfo PEM) of a PEM private key."""
    from cryptography.hazmat.primitives import serialization

    path = Path(private_key).expanduser()
    if not path.is_file():
        raise NotFoundError(f"signing key {path} not found", "create one with `hubmgr keygen --out DIR`")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password.encode() if password else None)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"cannot use {path} as a signing key ({exc})",
                         "give an unencrypted ECDSA private key in PEM, e.g. from `hubmgr keygen`") from exc
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def keygen(out_dir: str | os.PathLike[str], *, name: str = "hubmgr", force: bool = False) -> KeygenResult:
    """Write an ECDSA P-256 key pair as PEM: ``NAME.key`` (mode 0600) and ``NAME.pub``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    private, public = out / f"{name}.key", out / f"{name}.pub"
    if not force and (private.exists() or public.exists()):
        raise UsageError(f"{private} or {public} already exists", "choose another --out or --name, or pass --force")
    key = ec.generate_private_key(ec.SECP256R1())
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    # the private key is never readable by others, not even for an instant
    tmp = private.with_name(f".{private.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(private_pem)
    os.replace(tmp, private)
    public.write_bytes(public_pem)
    return KeygenResult(private_key=str(private), public_key=str(public), fingerprint=fingerprint(public_pem))


def signed_paths(paths: Iterable[str]) -> list[str]:
    """The subset of repo paths a signature covers (everything but the ignored paths)."""
    out = []
    for p in paths:
        first = p.split("/", 1)[0]
        if p in IGNORED_PATHS or first in IGNORED_PATHS:
            continue
        out.append(p)
    return sorted(out)


def sign_manifest(files: Mapping[str, str], *, private_key: str | os.PathLike[str], model_name: str,
                  password: str | None = None) -> bytes:
    """A ``model.sig`` (Sigstore bundle JSON) over ``{repo path: sha256}``; ignored paths are dropped."""
    _require_model_signing()
    from model_signing import manifest as ms_manifest
    from model_signing._hashing.hashing import Digest
    from model_signing._signing import sign_ec_key, signing

    key_path = Path(private_key).expanduser()
    if not key_path.is_file():
        raise NotFoundError(f"signing key {key_path} not found", "create one with `hubmgr keygen --out DIR`")
    serialization = ms_manifest.SerializationType.from_args(
        {"method": "files", "hash_type": "sha256", "allow_symlinks": False, "ignore_paths": list(IGNORED_PATHS)})
    items = []
    for path in signed_paths(files):
        digest = files[path]
        if not isinstance(digest, str) or len(digest) != 64:
            raise UsageError(f"cannot sign {path}: no sha256 known for it", "this is a bug: report it")
        items.append(ms_manifest.FileManifestItem(path=PurePosixPath(path), digest=Digest("sha256", bytes.fromhex(digest))))
    if not items:
        raise UsageError("nothing to sign", "the signature must cover at least one file")
    try:
        signer = sign_ec_key.Signer(key_path, password)
    except (ValueError, TypeError) as exc:
        raise UsageError(f"cannot use {key_path} as a signing key ({exc})",
                         "give an unencrypted ECDSA P-256/P-384/P-521 private key in PEM, e.g. from `hubmgr keygen`") from exc
    signature = signer.sign(signing.Payload(ms_manifest.Manifest(model_name, items, serialization)))
    return signature.bundle.to_json().encode("utf-8")


def _signature_hint(raw: bytes) -> str | None:
    try:
        return json.loads(raw)["verificationMaterial"]["publicKey"]["hint"] or None
    except (ValueError, KeyError, TypeError):
        return None


def _load_signature(raw: bytes):
    from model_signing._signing import sign_sigstore_pb

    if len(raw) > MAX_SIGNATURE_BYTES:
        raise SignatureError(f"{SIGNATURE_NAME} is {len(raw)} bytes, over the {MAX_SIGNATURE_BYTES} byte limit",
                             "this is not a model signature")
    import tempfile

    # model_signing reads signatures from a path; a private temp file keeps the bytes we checked
    with tempfile.NamedTemporaryFile(suffix=".sig") as tmp:
        tmp.write(raw)
        tmp.flush()
        try:
            return sign_sigstore_pb.Signature.read(Path(tmp.name))
        except Exception as exc:  # third-party parser: any failure means "not a signature we can read"
            raise SignatureError(f"{SIGNATURE_NAME} is not a valid model signature ({type(exc).__name__}: {exc})",
                                 "the publisher must re-sign the release") from exc


def verify_manifest(signature: bytes, files: Mapping[str, str], *, public_keys: Sequence[str | os.PathLike[str]],
                    ) -> SignatureCheck:
    """Check ``signature`` against ``{repo path: sha256}`` with any of ``public_keys``.

    Valid only if one trusted key verifies the envelope and the signed manifest lists exactly the
    files present (minus the ignored paths the manifest records), each with the same sha256.
    Raises ``SignatureError`` with a one-line reason otherwise.
    """
    _require_model_signing()
    from model_signing._signing import sign_ec_key

    if not public_keys:
        raise UsageError("no trusted public key given", "pass --require-signature PUBKEY or set [trust] keys")
    sig = _load_signature(signature)
    manifest = None
    errors = []
    signer = None
    for key in public_keys:
        key_path = Path(key).expanduser()
        try:
            verifier = sign_ec_key.Verifier(key_path)
        except FileNotFoundError as exc:
            raise NotFoundError(f"trusted key {key_path} not found", "check --require-signature / [trust] keys") from exc
        except (ValueError, TypeError) as exc:
            raise UsageError(f"{key_path} is not an EC public key in PEM ({exc})",
                             "give the .pub file written by `hubmgr keygen`") from exc
        try:
            manifest = verifier.verify(sig)
            signer = fingerprint(key_path.read_bytes())
            break
        except Exception as exc:  # InvalidSignature, ValueError (key mismatch, bad payload), protobuf errors
            errors.append(f"{key_path.name}: {type(exc).__name__} {exc}".strip())
    if manifest is None:
        hint = _signature_hint(signature)
        who = f" (signed by key {hint[:16]}…)" if hint else ""
        raise SignatureError(f"{SIGNATURE_NAME} is not signed by a trusted key{who}",
                             "add the publisher's public key with --require-signature, or refuse this release")
    ignored = set(manifest.serialization_type.get("ignore_paths", ())) | set(IGNORED_PATHS)
    signed = {str(rd.identifier): rd.digest.digest_hex for rd in manifest.resource_descriptors()}
    if manifest.serialization_type.get("method") != "files" or any(
            rd.digest.algorithm != "sha256" for rd in manifest.resource_descriptors()):
        raise SignatureError("the signature does not use sha256 per file",
                             "re-sign with file serialization and sha256 (the model_signing default)")
    present = {p: d for p, d in files.items()
               if p not in ignored and p.split("/", 1)[0] not in ignored}
    missing = sorted(set(signed) - set(present))
    extra = sorted(set(present) - set(signed))
    changed = sorted(p for p in set(signed) & set(present) if signed[p] != present[p])
    problems = []
    if changed:
        problems.append(f"changed since signing: {', '.join(changed[:5])}")
    if extra:
        problems.append(f"not covered by the signature: {', '.join(extra[:5])}")
    if missing:
        problems.append(f"signed but missing: {', '.join(missing[:5])}")
    if problems:
        raise SignatureError("signature mismatch: " + "; ".join(problems),
                             "the files are not what the publisher signed: do not deploy them")
    return SignatureCheck(status="valid", signer=signer, files=len(signed))


def check_release(root: str | os.PathLike[str], files: Mapping[str, str], *,
                  public_keys: Sequence[str | os.PathLike[str]]) -> SignatureCheck:
    """Verify ``root/model.sig`` over a downloaded release whose files' sha256 are known."""
    sig_path = Path(root) / SIGNATURE_NAME
    if not sig_path.is_file():
        raise SignatureError(f"the release is not signed (no {SIGNATURE_NAME})",
                             "ask the publisher to push with --sign KEY, or pull without --require-signature")
    with open(sig_path, "rb") as fh:
        raw = fh.read(MAX_SIGNATURE_BYTES + 1)
    return verify_manifest(raw, files, public_keys=public_keys)


def describe(root: str | os.PathLike[str], files: Mapping[str, str] | None = None,
             public_keys: Sequence[str | os.PathLike[str]] = ()) -> SignatureCheck:
    """For status and the TUI badge: unsigned / valid (with keys) / who signed it (without keys)."""
    sig_path = Path(root) / SIGNATURE_NAME
    if not sig_path.is_file():
        return SignatureCheck(status="unsigned")
    try:
        with open(sig_path, "rb") as fh:
            raw = fh.read(MAX_SIGNATURE_BYTES + 1)
    except OSError as exc:
        return SignatureCheck(status="invalid", reason=str(exc))
    if public_keys and files is not None:
        try:
            return verify_manifest(raw, files, public_keys=public_keys)
        except SignatureError as exc:
            return SignatureCheck(status="invalid", signer=_signature_hint(raw), reason=exc.message)
    return SignatureCheck(status="signed", signer=_signature_hint(raw))


def decode_payload(signature: bytes) -> dict:
    """The in-toto statement inside a signature, unverified (for display and tests)."""
    doc = json.loads(signature)
    return json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
