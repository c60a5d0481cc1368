"""Issue 15: only trusted releases go live (OpenSSF model-signing format, key-based).

Real parts: keys made by `hubmgr keygen`, signatures made by hubmgr and by the `model_signing`
command line of the model-signing package, pushes to the Hub test server (real huggingface_hub
client) and to `local:` (real git + git-lfs), pulls into a deploy dir.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from hubmgr.testing.hub_server import ALICE_WRITE_TOKEN

MODEL_SIGNING = str(Path(sys.executable).with_name("model_signing"))


def _ok(run):
    assert run.exit_code == 0, f"exit {run.exit_code}\nstdout: {run.stdout}\nstderr: {run.stderr}"
    return run.json() if run.stdout.strip().startswith("{") else run


@pytest.fixture
def keys(tmp_path: Path, run_cli) -> dict:
    made = _ok(run_cli("keygen", "--out", str(tmp_path / "keys"), "--json"))
    other = _ok(run_cli("keygen", "--out", str(tmp_path / "keys"), "--name", "mallory", "--json"))
    return {"key": made["private_key"], "pub": made["public_key"], "fingerprint": made["fingerprint"],
            "other_key": other["private_key"], "other_pub": other["public_key"]}


@pytest.fixture
def model_dir(tiny_gpt2_dir: Path, tmp_path: Path) -> Path:
    folder = Path(shutil.copytree(tiny_gpt2_dir, tmp_path / "adder"))
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# adder\n")
    return folder


def _cli_sign(folder: Path, private_key: str) -> None:
    """Sign with the model-signing package's own command line (the other tool, for interop)."""
    subprocess.run([MODEL_SIGNING, "sign", "key", str(folder), "--private_key", private_key,
                    "--signature", str(folder / "model.sig")], check=True, capture_output=True)


def _cli_verify(folder: Path, public_key: str) -> subprocess.CompletedProcess:
    return subprocess.run([MODEL_SIGNING, "verify", "key", str(folder), "--public_key", public_key,
                           "--signature", str(folder / "model.sig")], capture_output=True, text=True)


def test_keygen_writes_a_private_key_only_its_owner_can_read(keys) -> None:
    mode = stat.S_IMODE(os.stat(keys["key"]).st_mode)
    assert mode == 0o600
    assert Path(keys["pub"]).read_text().startswith("-----BEGIN PUBLIC KEY-----")
    assert len(keys["fingerprint"]) == 64


def test_keygen_refuses_to_overwrite(keys, run_cli, tmp_path: Path) -> None:
    again = run_cli("keygen", "--out", str(tmp_path / "keys"))
    assert again.exit_code == 2 and "already exists" in again.stderr
    assert Path(keys["key"]).read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_signed_by_the_model_signing_cli_is_verified_by_hubmgr_pull(keys, model_dir, run_cli, tmp_path) -> None:
    _cli_sign(model_dir, keys["key"])
    _ok(run_cli("push", str(model_dir), "local:adder", "--json"))
    dest = tmp_path / "deploy"
    pulled = _ok(run_cli("pull", "local:adder", "--dest", str(dest), "--require-signature", keys["pub"], "--json"))
    assert pulled["signer"] == keys["fingerprint"]
    status = _ok(run_cli("status", "--dest", str(dest), "--offline", "--verify", "--json"))
    assert status["signature"]["status"] == "valid" and status["signature"]["signer"] == keys["fingerprint"]
    assert status["verified"] is True
    human = run_cli("status", "--dest", str(dest), "--offline")
    assert f"by key {keys['fingerprint']}" in human.stdout


def test_untrusted_unsigned_and_tampered_releases_never_go_live(keys, model_dir, run_cli, tmp_path) -> None:
    dest = tmp_path / "deploy"
    # v1: signed by the trusted key, goes live
    _cli_sign(model_dir, keys["key"])
    v1 = _ok(run_cli("push", str(model_dir), "local:adder", "--json"))["commit_sha"]
    _ok(run_cli("pull", "local:adder", "--dest", str(dest), "--require-signature", keys["pub"], "--json"))

    # v2: one byte of the weights changed (same size), old signature kept: the listing's new
    # sha256 matches the bytes, so only the signature can tell
    weights = model_dir / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    v2 = _ok(run_cli("push", str(model_dir), "local:adder", "--json"))["commit_sha"]
    assert v2 != v1
    refused = run_cli("pull", "local:adder", "--dest", str(dest), "--require-signature", keys["pub"])
    assert refused.exit_code == 1
    assert "signature mismatch: changed since signing: model.safetensors" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) <= 2  # one line + hint
    assert (dest / "current").resolve().name == v1
    assert not (dest / "releases" / v2).exists()

    # v3: signed by a key nobody trusts
    _cli_sign(model_dir, keys["other_key"])
    _ok(run_cli("push", str(model_dir), "local:adder", "--json"))
    refused = run_cli("pull", "local:adder", "--dest", str(dest), "--require-signature", keys["pub"])
    assert refused.exit_code == 1 and "not signed by a trusted key" in refused.stderr
    assert (dest / "current").resolve().name == v1

    # v4: no signature at all
    (model_dir / "model.sig").unlink()
    _ok(run_cli("push", str(model_dir), "local:adder", "--delete", "model.sig", "--json")
        if _has_delete_flag(run_cli) else run_cli("push", str(model_dir), "local:adder", "--json"))
    refused = run_cli("pull", "local:adder", "--dest", str(dest), "--require-signature", keys["pub"])
    assert refused.exit_code == 1 and "not signed" in refused.stderr
    assert (dest / "current").resolve().name == v1

    # both keys trusted (repeatable flag): the mallory-signed v3 is accepted only then
    accepted = run_cli("pull", "local:adder@" + v1, "--dest", str(dest), "--require-signature", keys["other_pub"],
                       "--require-signature", keys["pub"], "--json")
    assert _ok(accepted)["signer"] == keys["fingerprint"]


def _has_delete_flag(run_cli) -> bool:
    return "--delete" in run_cli("push", "--help").stdout


def test_trust_keys_in_the_config_apply_to_every_pull(keys, model_dir, run_cli, tmp_path) -> None:
    home = Path(os.environ["HUBMGR_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(f'[trust]\nkeys = ["{keys["pub"]}"]\n')
    _ok(run_cli("push", str(model_dir), "local:adder", "--json"))  # unsigned
    dest = tmp_path / "deploy"
    refused = run_cli("pull", "local:adder", "--dest", str(dest))
    assert refused.exit_code == 1 and "not signed" in refused.stderr
    assert not (dest / "current").exists()
    _cli_sign(model_dir, keys["key"])
    _ok(run_cli("push", str(model_dir), "local:adder", "--json"))
    assert _ok(run_cli("pull", "local:adder", "--dest", str(dest), "--json"))["signer"] == keys["fingerprint"]


def test_status_verify_catches_a_signature_tampered_after_the_pull(keys, model_dir, run_cli, tmp_path) -> None:
    _cli_sign(model_dir, keys["key"])
    _ok(run_cli("push", str(model_dir), "local:adder", "--json"))
    dest = tmp_path / "deploy"
    _ok(run_cli("pull", "local:adder", "--dest", str(dest), "--require-signature", keys["pub"], "--json"))
    sig = dest / "current" / "model.sig"
    doc = json.loads(sig.read_text())
    doc["dsseEnvelope"]["signatures"][0]["sig"] = doc["dsseEnvelope"]["signatures"][0]["sig"][::-1]
    os.chmod(sig, 0o644)
    sig.write_text(json.dumps(doc))
    checked = run_cli("status", "--dest", str(dest), "--offline", "--verify", "--json")
    assert checked.exit_code == 1
    data = checked.json()
    assert data["signature"]["status"] == "invalid" and data["verified"] is False


@pytest.mark.parametrize("garbage", [b"", b"{", b"[]", b'{"verificationMaterial": 5}', b"\x00" * 64])
def test_a_malformed_signature_is_a_one_line_refusal(keys, model_dir, run_cli, tmp_path, garbage: bytes) -> None:
    (model_dir / "model.sig").write_bytes(garbage)
    _ok(run_cli("push", str(model_dir), "local:adder", "--json"))
    refused = run_cli("pull", "local:adder", "--dest", str(tmp_path / "d"), "--require-signature", keys["pub"])
    assert refused.exit_code == 1, refused.stderr
    assert "Traceback" not in refused.stderr and "model.sig" in refused.stderr


def test_hub_round_trip_with_a_cli_signed_model(keys, model_dir, run_cli, tmp_path, hub_server, monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", ALICE_WRITE_TOKEN)
    _cli_sign(model_dir, keys["key"])
    _ok(run_cli("push", str(model_dir), "alice/adder", "--json"))
    dest = tmp_path / "deploy"
    pulled = _ok(run_cli("pull", "alice/adder", "--dest", str(dest), "--require-signature", keys["pub"], "--json"))
    assert pulled["signer"] == keys["fingerprint"]
    # The pulled release verifies with the other tool too. Its manifest does not know hubmgr's lock
    # file, so that one file is named as ignored (a hubmgr-signed manifest lists it itself).
    current = (dest / "current").resolve()  # model_signing refuses to walk through a symlink
    refused = _cli_verify(current, keys["pub"])
    assert "Extra files" in refused.stdout + refused.stderr and "hubmgr.lock.json" in refused.stdout + refused.stderr
    ok = subprocess.run([MODEL_SIGNING, "verify", "key", str(current), "--public_key", keys["pub"], "--signature",
                         str(current / "model.sig"), "--ignore-paths", str(current / "hubmgr.lock.json")],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr


# --- push --sign: every remote kind, interop both ways, no needless commits ---------------------


def _remote_spec(kind: str, tmp_path: Path, request) -> str:
    if kind == "hub":
        request.getfixturevalue("hub_server")
        request.getfixturevalue("monkeypatch").setenv("HF_TOKEN", ALICE_WRITE_TOKEN)
        return "alice/adder"
    if kind == "local":
        return "local:adder"
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    return f"git+{bare.as_uri()}"


@pytest.mark.parametrize("kind", ["hub", "local", "git"])
def test_sign_push_pull_require_signature_on_every_remote_kind(kind, keys, model_dir, run_cli, tmp_path,
                                                               request) -> None:
    spec = _remote_spec(kind, tmp_path, request)
    (model_dir / "model.sig").write_text("stale signature from an older tool")  # replaced, never pushed
    planned = _ok(run_cli("push", str(model_dir), spec, "--sign", keys["key"], "--dry-run", "--json"))
    assert "model.sig" in [f["path"] for f in planned["plan"]["upload"]]
    pushed = _ok(run_cli("push", str(model_dir), spec, "--sign", keys["key"], "--json"))
    assert pushed["signed_by"] == keys["fingerprint"] and "model.sig" in pushed["files_uploaded"]
    assert (model_dir / "model.sig").read_text() == "stale signature from an older tool"  # the folder is untouched

    dest = tmp_path / "deploy"
    pulled = _ok(run_cli("pull", spec, "--dest", str(dest), "--require-signature", keys["pub"], "--json"))
    assert pulled["signer"] == keys["fingerprint"] and pulled["commit_sha"] == pushed["commit_sha"]
    # interop: the model_signing CLI verifies hubmgr's signature on the deployed release as it is
    # (hubmgr's manifest names its lock file among the ignored paths)
    verified = _cli_verify((dest / "current").resolve(), keys["pub"])
    assert verified.returncode == 0, verified.stdout + verified.stderr

    # re-push of the same files with the same key: the signature still covers them, no commit
    again = _ok(run_cli("push", str(model_dir), spec, "--sign", keys["key"], "--json"))
    assert not again["created_commit"] and again["commit_sha"] == pushed["commit_sha"]


def test_a_signed_push_refuses_when_the_remote_keeps_files_the_signature_cannot_cover(keys, model_dir, run_cli,
                                                                                       tmp_path) -> None:
    extra = Path(shutil.copytree(model_dir, tmp_path / "with-notes"))
    (extra / "notes.txt").write_text("kept on the remote")
    _ok(run_cli("push", str(extra), "local:adder", "--json"))
    refused = run_cli("push", str(model_dir), "local:adder", "--sign", keys["key"])
    assert refused.exit_code == 2 and "notes.txt" in refused.stderr and "--mirror" in refused.stderr
    signed = _ok(run_cli("push", str(model_dir), "local:adder", "--sign", keys["key"], "--mirror", "--json"))
    assert "notes.txt" in signed["files_deleted"]
    dest = tmp_path / "deploy"
    assert _ok(run_cli("pull", "local:adder", "--dest", str(dest), "--require-signature", keys["pub"],
                       "--json"))["signer"] == keys["fingerprint"]


def test_sign_key_in_the_config_signs_every_push(keys, model_dir, run_cli, tmp_path) -> None:
    home = Path(os.environ["HUBMGR_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    (home / "config.toml").write_text(f'[sign]\nkey = "{keys["key"]}"\n')
    pushed = _ok(run_cli("push", str(model_dir), "local:adder", "--json"))
    assert pushed["signed_by"] == keys["fingerprint"]
    human = run_cli("push", str(model_dir), "local:other")
    assert f"signed by key {keys['fingerprint']}" in human.stdout
