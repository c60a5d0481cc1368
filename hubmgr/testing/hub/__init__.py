"""A real Hugging Face Hub test server: stdlib HTTP on 127.0.0.1, on-disk storage.

It speaks the subset of the Hub HTTP API that ``huggingface_hub`` 2.x uses for repos, commits,
refs, listings, LFS uploads and downloads (see ``shared/HUB_PROTOCOL.md`` §12), with tokens,
private and gated repos, and fault injection for reliability tests. The real client talks to it
with ``HF_HUB_DISABLE_XET=1`` (the server has no Xet CAS; the ``xet-*-token`` routes answer 404
so an accidental Xet upload fails loudly).

Modules: ``protocol`` (constants, test tokens, ids, the HTTP error), ``storage`` (repos, commits,
blobs on disk), ``handler`` (HTTP plumbing, auth, access checks), ``routes`` (routing, repos,
listings), ``transfers`` (uploads, commits, downloads), ``faults`` (the fault-injection extension
point), ``server`` (``HubServer``, ``running_hub_server``, the ``main`` entry).

Use it in tests with ``running_hub_server(tmp_dir, tokens={...})`` (pytest fixture ``hub_server``)
or standalone: ``python -m hubmgr.testing.hub_server --root DIR --token hf_xxx:alice:write``
prints the endpoint URL and serves until Ctrl-C.
"""

from hubmgr.testing.hub.faults import KINDS, ExtraTreeEntry, Fault, FaultInjector
from hubmgr.testing.hub.handler import RequestRecord
from hubmgr.testing.hub.protocol import (
    ALICE_READ_TOKEN, ALICE_WRITE_TOKEN, API_TYPES, BOB_WRITE_TOKEN, CHUNK, DEFAULT_GITATTRIBUTES,
    LFS_THRESHOLD, ROLE_READ, ROLE_WRITE, TEST_TOKENS, URL_PREFIX, HubHTTPError, git_blob_sha1, lfs_pointer,
)
from hubmgr.testing.hub.routes import HubRequestHandler
from hubmgr.testing.hub.server import HubServer, main, running_hub_server
from hubmgr.testing.hub.storage import HubStorage, Repo, file_entry_for

__all__ = [
    "ALICE_READ_TOKEN", "ALICE_WRITE_TOKEN", "API_TYPES", "BOB_WRITE_TOKEN", "CHUNK", "DEFAULT_GITATTRIBUTES",
    "KINDS", "LFS_THRESHOLD", "ROLE_READ", "ROLE_WRITE", "TEST_TOKENS", "URL_PREFIX", "ExtraTreeEntry", "Fault",
    "FaultInjector", "HubHTTPError", "HubRequestHandler", "HubServer", "HubStorage", "Repo", "RequestRecord",
    "file_entry_for", "git_blob_sha1", "lfs_pointer", "main", "running_hub_server",
]
