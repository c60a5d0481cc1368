"""``push --sign KEY``: add a ``model.sig`` covering exactly the files the remote will hold.

The signature is computed from the plan's sha256s (no second read of the weights) and pushed in
the same commit, from a scratch file outside the user's folder. An unchanged model already signed
by the same key over the same files keeps its signature, so a re-push still makes no commit.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from . import trust
from .errors import UsageError
from .models import PlanFile, PushPlan

if TYPE_CHECKING:
    from .remotes import Remote


@dataclasses.dataclass(frozen=True)
class SignedPlan:
    plan: PushPlan  # the plan with model.sig added to upload (or kept as it is)
    sources: tuple[tuple[str, str], ...]  # (repo path, scratch file) for PushRequest.sources
    signer: str  # fingerprint of the signing key
    resigned: bool  # False: the remote's signature already covered exactly these files


def sign_plan(plan: PushPlan, *, remote: "Remote", private_key: str | Path, scratch: Path,
              model_name: str) -> SignedPlan:
    """Extend ``plan`` with a signature by ``private_key`` over every file of the resulting release."""
    name = trust.SIGNATURE_NAME
    uncovered = [f.path for f in plan.kept_remote if f.path != name and trust.signed_paths([f.path])]
    if uncovered:
        shown = ", ".join(uncovered[:5]) + (" ..." if len(uncovered) > 5 else "")
        raise UsageError(f"the remote keeps files that are not in {plan.path}: {shown}; "
                         "a signature must cover every file of the release",
                         "add them to the folder, remove them with --delete PATTERN, or push with --mirror")
    files = {f.path: f.sha256 for f in (*plan.upload, *plan.skip) if f.path != name}
    scratch.mkdir(parents=True, exist_ok=True)
    public = scratch / "signer.pub"
    public.write_bytes(trust.public_key_pem(private_key))
    signer = trust.fingerprint(public.read_bytes())

    existing = next((f for f in plan.kept_remote if f.path == name), None)
    unchanged = not plan.upload and not plan.delete
    if existing is not None and unchanged and _remote_signature_covers(remote, plan, files, public, scratch):
        return SignedPlan(plan, (), signer, resigned=False)

    signature = trust.sign_manifest(files, private_key=private_key, model_name=model_name)
    sig_path = scratch / name
    sig_path.write_bytes(signature)
    entry = PlanFile(name, len(signature), hashlib.sha256(signature).hexdigest(),
                     "changed" if existing is not None else "new")
    signed = dataclasses.replace(
        plan, upload=tuple(sorted((*plan.upload, entry), key=lambda f: f.path)),
        kept_remote=tuple(f for f in plan.kept_remote if f.path != name),
        bytes_to_upload=plan.bytes_to_upload + entry.size)
    return SignedPlan(signed, ((name, str(sig_path)),), signer, resigned=True)


def _remote_signature_covers(remote: "Remote", plan: PushPlan, files: dict[str, str], public: Path,
                             scratch: Path) -> bool:
    """Does the remote's model.sig verify with our key over exactly ``files``?"""
    if plan.base_commit is None:
        return False
    wanted = [f for f in remote.list_files(plan.base_commit) if f.path == trust.SIGNATURE_NAME]
    if not wanted or wanted[0].size > trust.MAX_SIGNATURE_BYTES:
        return False
    fetched = scratch / "remote"
    remote.download(plan.base_commit, fetched, files=wanted)
    try:
        trust.verify_manifest((fetched / trust.SIGNATURE_NAME).read_bytes(), files, public_keys=[public])
    except trust.SignatureError:
        return False
    return True
