"""Routing of the Hub test server, plus account, repo and listing routes (HUB_PROTOCOL.md §12)."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode

from hubmgr.testing.hub.protocol import (
    API_TYPES, DEFAULT_GITATTRIBUTES, ROLE_WRITE, URL_PREFIX, HubHTTPError, git_blob_sha1, now,
)
from hubmgr.testing.hub.storage import Repo, file_entry_for
from hubmgr.testing.hub.transfers import TransferRoutes


class HubRequestHandler(TransferRoutes):
    """Answers one request: ``_route`` maps method + path to a handler method here or in ``TransferRoutes``."""

    # --- routing ----------------------------------------------------------------------------------
    def _route(self) -> None:
        s, m = self._segments, self.command
        if s[:1] == ["_test"]:  # observation for out-of-process users (bench/hub.py)
            return self._test_admin(s[1:], m)
        if s[:1] == ["api"]:
            return self._route_api(s[1:], m)
        if s[:1] == ["lfs-upload"] and len(s) == 2 and m == "PUT":
            return self._lfs_basic_put(s[1])
        if s[:1] == ["lfs-part"] and len(s) == 3 and m == "PUT":
            return self._lfs_part_put(s[1], s[2])
        if s[:1] == ["lfs-complete"] and len(s) == 2 and m == "POST":
            return self._lfs_complete(s[1])
        if s[:1] == ["cdn"] and len(s) == 2 and m in ("GET", "HEAD"):
            return self._cdn(s[1])
        repo_type = "model"
        if s and s[0] in ("datasets", "spaces"):
            repo_type, s = API_TYPES[s[0]], s[1:]
        if len(s) >= 6 and s[1].endswith(".git") and s[2:5] == ["info", "lfs", "objects"]:
            if s[5] == "batch" and m == "POST":
                return self._lfs_batch(repo_type, s[0], s[1][:-4])
            if s[5] == "verify" and m == "POST":
                return self._lfs_verify(repo_type, s[0], s[1][:-4])
        if len(s) >= 5 and s[2] == "resolve" and m in ("GET", "HEAD"):
            return self._resolve(repo_type, s[0], s[1], s[3], "/".join(s[4:]))
        if len(s) == 2 and m == "GET":
            repo = self._repo(repo_type, s[0], s[1])
            return self._send(200, f"<h1>{repo.repo_id}</h1>".encode(), content_type="text/html")
        raise HubHTTPError(404, f"no route for {m} {self._raw_path}")

    def _test_admin(self, s: list[str], m: str) -> None:
        server = self.server
        if s == ["stats"] and m == "GET":
            return self._json({"requests": len(server.requests),
                               "lfs_puts": server.count("PUT", "^/lfs-(upload|part)/"),
                               "lfs_bytes": server.lfs_bytes_received(),
                               "commits": server.count("POST", "/commit/"),
                               # tree pages and paths-info batches: what a push spends learning the remote
                               "listing_calls": server.count("GET", "/tree/") + server.count("POST", "/paths-info/"),
                               "resolve_gets": server.count("GET", "/resolve/"),
                               "resolve_bytes": server.bytes_served("/resolve/")})
        if s == ["reset"] and m == "POST":
            server.clear_requests()
            return self._json({})
        raise HubHTTPError(404, "unknown test route")

    def _route_api(self, s: list[str], m: str) -> None:
        if s == ["agent-harnesses"]:
            return self._json({"standardEnvVars": [], "harnesses": {}})
        if s == ["whoami-v2"] and m == "GET":
            return self._whoami()
        if s == ["validate-yaml"] and m == "POST":
            self._read_json()
            return self._json({"errors": [], "warnings": []})
        if s == ["repos", "create"] and m == "POST":
            return self._create_repo()
        if s == ["repos", "delete"] and m == "DELETE":
            return self._delete_repo()
        if len(s) >= 3 and s[0] in API_TYPES:
            repo_type, ns, name, rest = API_TYPES[s[0]], s[1], s[2], s[3:]
            head = rest[0] if rest else None
            if not rest and m == "GET":
                return self._repo_info(repo_type, ns, name, None)
            if head == "revision" and len(rest) >= 2 and m == "GET":
                return self._repo_info(repo_type, ns, name, "/".join(rest[1:]))
            if head == "refs" and m == "GET":
                return self._refs(repo_type, ns, name)
            if head == "branch" and len(rest) >= 2:
                return self._branch(repo_type, ns, name, "/".join(rest[1:]))
            if head == "tag" and len(rest) >= 2:
                return self._tag(repo_type, ns, name, "/".join(rest[1:]))
            if head == "commits" and m == "GET":
                return self._commits(repo_type, ns, name, "/".join(rest[1:]) or "main")
            if head == "tree" and len(rest) >= 2 and m == "GET":
                return self._tree(repo_type, ns, name, rest[1], "/".join(rest[2:]))
            if head == "paths-info" and len(rest) >= 2 and m == "POST":
                return self._paths_info(repo_type, ns, name, "/".join(rest[1:]))
            if head == "preupload" and len(rest) >= 2 and m == "POST":
                return self._preupload(repo_type, ns, name, "/".join(rest[1:]))
            if head == "commit" and len(rest) >= 2 and m == "POST":
                return self._commit(repo_type, ns, name, "/".join(rest[1:]))
            if head == "settings" and m == "PUT":
                return self._settings(repo_type, ns, name)
            if head in ("xet-read-token", "xet-write-token"):
                raise HubHTTPError(404, "Xet is not supported by this test server: set HF_HUB_DISABLE_XET=1")
        raise HubHTTPError(404, f"no route for {m} {self._raw_path}")

    # --- account and repos ------------------------------------------------------------------------
    def _whoami(self) -> None:
        if self._user is None:
            raise HubHTTPError(401, "Invalid credentials in Authorization header")
        u = self._user
        self._json({"type": "user", "id": hashlib.sha1(u["user"].encode()).hexdigest()[:24], "name": u["user"],
                    "fullname": u["user"].title(), "email": f"{u['user']}@hub.invalid", "emailVerified": True,
                    "canPay": False, "isPro": False,
                    "orgs": [{"type": "org", "name": o, "fullname": o} for o in u["orgs"]],
                    "auth": {"type": "access_token", "accessToken": {
                        "displayName": "test", "role": u["role"], "createdAt": "2024-01-01T00:00:00.000Z"}}})

    def _create_repo(self) -> None:
        body = self._read_json()
        if self._user is None:
            raise HubHTTPError(401, "You must be authenticated to create a repository")
        name = body.get("name") or ""
        ns = body.get("organization") or self._user["user"]
        repo_type = body.get("type") or "model"
        if repo_type not in URL_PREFIX or not re.fullmatch(r"[\w.-]+", name) or not re.fullmatch(r"[\w.-]+", ns):
            raise HubHTTPError(400, f"invalid repo name or type: {ns}/{name} ({repo_type})")
        if ns not in self._namespaces():
            raise HubHTTPError(403, f"You don't have the rights to create a repository under the namespace {ns}")
        if self._user["role"] != ROLE_WRITE:
            raise HubHTTPError(403, "This token has read-only access (role: read)")
        storage = self.server.storage
        key = f"{repo_type}/{ns}/{name}"
        with storage.lock:
            if key in storage.repos:
                repo = storage.repos[key]
                return self._json({"error": "You already created this model repo", "url": self._repo_url(repo)},
                                  409)
            repo = Repo(key, repo_type, f"{ns}/{name}", private=body.get("visibility") == "private"
                        or bool(body.get("private")), created=now(), internal_id=secrets.token_hex(12))
            data = DEFAULT_GITATTRIBUTES.encode()
            oid = storage.put_bytes(data)
            files = {".gitattributes": file_entry_for(oid, len(data), False, data)}
            repo.branches["main"] = storage.new_commit(repo, None, files, "initial commit", "", ns)
            storage.repos[key] = repo
            storage.save_repo(repo)
        self._json({"url": self._repo_url(repo), "name": repo.repo_id, "id": repo.internal_id})

    def _delete_repo(self) -> None:
        body = self._read_json()
        ns = body.get("organization") or (self._user or {}).get("user", "")
        repo = self._repo(body.get("type") or "model", ns, body.get("name", ""), write=True)
        self.server.storage.delete_repo(repo)
        self._json({})

    def _settings(self, repo_type: str, ns: str, name: str) -> None:
        body = self._read_json()
        repo = self._repo(repo_type, ns, name, write=True)
        with self.server.storage.lock:
            if "visibility" in body:
                repo.private = body["visibility"] == "private"
            if "private" in body:
                repo.private = bool(body["private"])
            if "gated" in body:
                repo.gated = body["gated"] not in (False, None, "false")
            self.server.storage.save_repo(repo)
        self._json({})

    def _repo_info(self, repo_type: str, ns: str, name: str, rev: str | None) -> None:
        repo = self._repo(repo_type, ns, name)
        faults = self.server.faults
        sha = self.server.storage.resolve(repo, faults.real_revision(repo.repo_id, rev))
        commit = self.server.storage.commit(sha)
        blobs = (self._query.get("blobs") or ["false"])[0].lower() in ("true", "1")
        siblings = []
        for path, e in sorted(commit["files"].items()):
            sib: dict[str, Any] = {"rfilename": path}
            if blobs:
                sib.update(size=e["size"], blobId=e["git_oid"])
                if e["lfs"]:
                    claimed_sha, claimed_size = faults.claimed(repo.repo_id, path, e["sha256"], e["size"])
                    sib["lfs"] = {"size": claimed_size, "sha256": claimed_sha, "pointerSize": e["pointer_size"]}
            siblings.append(sib)
        self._json({"_id": repo.internal_id, "id": repo.repo_id, "author": ns,
                    "sha": faults.shown_commit(repo.repo_id, sha),
                    "lastModified": commit["date"], "createdAt": repo.created, "private": repo.private,
                    "gated": "auto" if repo.gated else False, "disabled": False, "downloads": 0, "likes": 0,
                    "tags": [], "siblings": siblings,
                    "usedStorage": sum(e["size"] for e in commit["files"].values())})

    def _refs(self, repo_type: str, ns: str, name: str) -> None:
        repo = self._repo(repo_type, ns, name)
        with self.server.storage.lock:
            data: dict[str, Any] = {
                "branches": [{"name": b, "ref": f"refs/heads/{b}",
                              "targetCommit": self.server.faults.shown_commit(repo.repo_id, c)}
                             for b, c in sorted(repo.branches.items())],
                "converts": [],
                "tags": [{"name": t, "ref": f"refs/tags/{t}", "targetCommit": c} for t, c in sorted(repo.tags.items())],
            }
            if self._query.get("include_prs"):
                data["pullRequests"] = [{"name": f"refs/pr/{n}", "ref": f"refs/pr/{n}", "targetCommit": c}
                                        for n, c in sorted(repo.prs.items())]
        self._json(data)

    def _branch(self, repo_type: str, ns: str, name: str, branch: str) -> None:
        body = self._read_json() if self.command == "POST" else {}
        repo = self._repo(repo_type, ns, name, write=True)
        storage = self.server.storage
        with storage.lock:
            if self.command == "POST":
                if branch in repo.branches:
                    raise HubHTTPError(409, f"Reference already exists: refs/heads/{branch}")
                repo.branches[branch] = storage.resolve(repo, body.get("startingPoint") or "main")
            elif self.command == "DELETE":
                if branch not in repo.branches:
                    raise HubHTTPError(404, f"Invalid rev id: {branch}", "RevisionNotFound")
                if branch == "main":
                    raise HubHTTPError(403, "Cannot delete the default branch")
                del repo.branches[branch]
            else:
                raise HubHTTPError(405, "method not allowed")
            storage.save_repo(repo)
        self._json({})

    def _tag(self, repo_type: str, ns: str, name: str, rev_or_tag: str) -> None:
        body = self._read_json() if self.command == "POST" else {}
        repo = self._repo(repo_type, ns, name, write=True)
        storage = self.server.storage
        with storage.lock:
            if self.command == "POST":  # the path holds the revision being tagged
                tag = body.get("tag") or ""
                if not re.fullmatch(r"[\w.\-/]+", tag):
                    raise HubHTTPError(400, f"invalid tag name: {tag!r}")
                if tag in repo.tags:
                    raise HubHTTPError(409, "Tag already exists")
                repo.tags[tag] = storage.resolve(repo, rev_or_tag)
            elif self.command == "DELETE":
                if rev_or_tag not in repo.tags:
                    raise HubHTTPError(404, f"Invalid rev id: {rev_or_tag}", "RevisionNotFound")
                del repo.tags[rev_or_tag]
            else:
                raise HubHTTPError(405, "method not allowed")
            storage.save_repo(repo)
        self._json({})

    # --- listings ---------------------------------------------------------------------------------
    def _paginate(self, items: list, page_size: int) -> None:
        cursor = int((self._query.get("cursor") or ["0"])[0] or 0)
        page = items[cursor:cursor + page_size]
        headers = {}
        if cursor + page_size < len(items):
            query = {k: v for k, v in self._query.items() if k != "cursor"}
            query["cursor"] = [str(cursor + page_size)]
            headers["Link"] = f'<{self.server.url}{self._raw_path}?{urlencode(query, doseq=True)}>; rel="next"'
        self._json(page, headers=headers)

    def _commits(self, repo_type: str, ns: str, name: str, rev: str) -> None:
        repo = self._repo(repo_type, ns, name)
        sha = self.server.storage.resolve(repo, self.server.faults.real_revision(repo.repo_id, rev))
        formatted = any("formatted" in v for k, vs in self._query.items() if k.startswith("expand") for v in vs)
        items = []
        for c in self.server.storage.history(sha):
            item = {"id": self.server.faults.shown_commit(repo.repo_id, c["id"]), "title": c["title"], "message": c["message"],
                    "authors": [{"user": c["author"], "avatar": ""}], "date": c["date"]}
            if formatted:
                item["formatted"] = {"title": c["title"], "message": c["message"]}
            items.append(item)
        self._paginate(items, self.server.page_size)

    def _entries(self, repo: Repo, sha: str, expand: bool) -> dict[str, dict]:
        """Every file and directory at ``sha`` as tree entries, keyed by path."""
        files = self.server.storage.commit(sha)["files"]
        entries: dict[str, dict] = {}
        for path, e in files.items():
            claimed_sha, claimed_size = self.server.faults.claimed(repo.repo_id, path, e["sha256"], e["size"])
            entry: dict[str, Any] = {"type": "file", "oid": e["git_oid"], "size": claimed_size, "path": path}
            if e["lfs"]:
                entry["lfs"] = {"oid": claimed_sha, "size": claimed_size, "pointerSize": e["pointer_size"]}
            if expand:
                last = self._last_commit(sha, path)
                entry["lastCommit"] = {"id": last["id"], "title": last["title"], "date": last["date"]}
            entries[path] = entry
            parts = path.split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                entries.setdefault(d, {"type": "directory", "oid": hashlib.sha1(f"{sha}:{d}".encode()).hexdigest(),
                                       "size": 0, "path": d})
        for extra in self.server.faults.extra_entries_for(repo.repo_id):
            entries[extra.path] = {"type": "file", "oid": git_blob_sha1(extra.content),
                                   "size": len(extra.content), "path": extra.path}
        return entries

    def _last_commit(self, sha: str, path: str) -> dict:
        history = list(self.server.storage.history(sha))
        last = history[0]
        for c in history:
            if c["files"].get(path) != history[0]["files"].get(path):
                break
            last = c
        return last

    def _tree(self, repo_type: str, ns: str, name: str, rev: str, path: str) -> None:
        repo = self._repo(repo_type, ns, name)
        sha = self.server.storage.resolve(repo, self.server.faults.real_revision(repo.repo_id, rev))
        expand = (self._query.get("expand") or ["false"])[0].lower() == "true"
        recursive = (self._query.get("recursive") or ["false"])[0].lower() == "true"
        entries = self._entries(repo, sha, expand)
        path = path.strip("/")
        if path and (path not in entries or entries[path]["type"] != "directory"):
            raise HubHTTPError(404, f"Entry not found: {path}", "EntryNotFound")
        prefix = f"{path}/" if path else ""
        selected = [e for p, e in entries.items() if p.startswith(prefix) and p != path
                    and (recursive or "/" not in p[len(prefix):])]
        selected.sort(key=lambda e: (e["type"] != "directory", e["path"]))
        self._paginate(selected, self.server.expand_page_size if expand else self.server.page_size)

    def _paths_info(self, repo_type: str, ns: str, name: str, rev: str) -> None:
        raw = self._body.read_all(limit=16 * 1024**2).decode()
        if "json" in (self.headers.get("Content-Type") or ""):
            form = json.loads(raw or "{}")
            paths, expand = form.get("paths", []), bool(form.get("expand"))
        else:
            form = parse_qs(raw, keep_blank_values=True)
            paths, expand = form.get("paths", []), (form.get("expand") or ["false"])[0].lower() == "true"
        repo = self._repo(repo_type, ns, name)
        sha = self.server.storage.resolve(repo, self.server.faults.real_revision(repo.repo_id, rev))
        entries = self._entries(repo, sha, expand)
        self._json([entries[p.strip("/")] for p in paths if p.strip("/") in entries])
