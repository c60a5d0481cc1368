"""Wire-level facts of the Hub test server: constants, test tokens, git/LFS ids, the HTTP error."""

from __future__ import annotations

import hashlib
import re
import time

CHUNK = 1 << 20
LFS_THRESHOLD = 10 * 1024 * 1024  # the Hub sends files >= 10 MiB to LFS
ROLE_READ = "read"
ROLE_WRITE = "write"
API_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
DEFAULT_GITATTRIBUTES = "".join(
    f"{pattern} filter=lfs diff=lfs merge=lfs -text\n"
    for pattern in ("*.7z", "*.arrow", "*.bin", "*.bz2", "*.ckpt", "*.ftz", "*.gz", "*.h5", "*.joblib",
                    "*.lfs.*", "*.mlmodel", "*.model", "*.msgpack", "*.npy", "*.npz", "*.onnx", "*.ot",
                    "*.parquet", "*.pb", "*.pickle", "*.pkl", "*.pt", "*.pth", "*.rar", "*.safetensors",
                    "saved_model/**/*", "*.tar.*", "*.tar", "*.tflite", "*.tgz", "*.wasm", "*.xz", "*.zip",
                    "*.zst", "*tfevents*")
)
# Tokens the pytest fixture ``hub_server`` accepts. Distinctive, so tests can grep for leaks.
ALICE_WRITE_TOKEN = "hf_hubmgrTEST_aliceWRITE_7f3c9e1d"
ALICE_READ_TOKEN = "hf_hubmgrTEST_aliceREAD_2b8a4f60"
BOB_WRITE_TOKEN = "hf_hubmgrTEST_bobWRITE_9d1e5a37"
TEST_TOKENS = {ALICE_WRITE_TOKEN: ("alice", "write"), ALICE_READ_TOKEN: ("alice", "read"),
               BOB_WRITE_TOKEN: ("bob", "write")}
HEX_RE = re.compile(r"^[0-9a-f]{5,40}$")


def git_blob_sha1(data: bytes) -> str:
    h = hashlib.sha1(b"blob %d\0" % len(data))
    h.update(data)
    return h.hexdigest()


def lfs_pointer(oid: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {size}\n".encode()


def now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


class HubHTTPError(Exception):
    """Raised inside handlers; becomes a JSON error response with X-Error-* headers."""

    def __init__(self, status: int, message: str, code: str | None = None, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}


def not_found_repo() -> HubHTTPError:
    return HubHTTPError(404, "Repository not found", "RepoNotFound")


def safe_repo_path(path: str) -> bool:
    """A commit may only name files inside the repo (no absolute paths, ``..`` or backslashes)."""
    return bool(path) and not path.startswith("/") and ".." not in path.split("/") and "\\" not in path
