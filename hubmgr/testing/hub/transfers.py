"""Hub test server routes that move bytes: preupload, LFS batch/upload/verify, commits, downloads."""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import os
import re
import secrets
from pathlib import Path

from hubmgr.testing.hub.faults import stream_with_fault
from hubmgr.testing.hub.handler import HandlerBase
from hubmgr.testing.hub.protocol import URL_PREFIX, HubHTTPError, git_blob_sha1, safe_repo_path
from hubmgr.testing.hub.storage import file_entry_for


class TransferRoutes(HandlerBase):
    # --- uploads ----------------------------------------------------------------------------------
    def _lfs_patterns(self, files: dict) -> list[str]:
        entry = files.get(".gitattributes")
        if not entry or entry["lfs"]:
            return []
        text = self.server.storage.blob_path(entry["sha256"]).read_text(errors="replace")
        return [line.split()[0] for line in text.splitlines()
                if line.strip() and not line.startswith("#") and "filter=lfs" in line]

    def _preupload(self, repo_type: str, ns: str, name: str, rev: str) -> None:
        body = self._read_json()
        repo = self._repo(repo_type, ns, name, write=True)
        storage = self.server.storage
        create_pr = bool(self._query.get("create_pr"))
        try:
            sha = storage.resolve(repo, rev)
        except HubHTTPError:
            if not create_pr:
                raise
            sha = storage.resolve(repo, "main")
        files = storage.commit(sha)["files"]
        patterns = self._lfs_patterns(files)
        out = []
        for item in body.get("files", []):
            path, size = item["path"], int(item.get("size", 0))
            sample = base64.b64decode(item.get("sample") or "")
            lfs = size >= self.server.lfs_threshold or b"\0" in sample or any(
                fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path.rsplit("/", 1)[-1], p) for p in patterns)
            mode = "lfs" if lfs and size > 0 else "regular"
            existing = files.get(path)
            oid = None
            if existing is not None:
                oid = existing["sha256"] if mode == "lfs" and existing["lfs"] else (
                    existing["git_oid"] if mode == "regular" and not existing["lfs"] else None)
            out.append({"path": path, "uploadMode": mode, "shouldIgnore": path.startswith(".git/"), "oid": oid})
        self._json({"files": out, "commitOid": sha})

    def _lfs_batch(self, repo_type: str, ns: str, name: str) -> None:
        body = self._read_json()
        repo = self._repo(repo_type, ns, name, write=body.get("operation") == "upload", content=True)
        base = self.server.url
        objects = []
        for obj in body.get("objects", []):
            oid, size = obj.get("oid", ""), int(obj.get("size", -1))
            if not re.fullmatch(r"[0-9a-f]{64}", oid) or size < 0:
                objects.append({"oid": oid, "size": size, "error": {"code": 422, "message": "invalid object"}})
                continue
            if self.server.storage.has_blob(oid, size):
                objects.append({"oid": oid, "size": size})  # no actions: already stored
                continue
            upload_id = secrets.token_hex(16)
            verify = {"href": f"{base}/{URL_PREFIX[repo.repo_type]}{repo.repo_id}.git/info/lfs/objects/verify",
                      "header": {}}
            with self.server._uploads_lock:
                self.server._uploads[upload_id] = {"oid": oid, "size": size, "repo": repo.key, "parts": {}}
            if size >= self.server.multipart_threshold:
                chunk = self.server.multipart_chunk_size
                nparts = -(-size // chunk)
                header = {"chunk_size": str(chunk)}
                header.update({f"{i:05d}": f"{base}/lfs-part/{upload_id}/{i}" for i in range(1, nparts + 1)})
                upload = {"href": f"{base}/lfs-complete/{upload_id}", "header": header}
            else:
                upload = {"href": f"{base}/lfs-upload/{upload_id}", "header": {"X-Ignored": "1"}}
            objects.append({"oid": oid, "size": size, "authenticated": True,
                            "actions": {"upload": upload, "verify": verify}})
        self._json({"transfer": "basic", "objects": objects}, headers={"Content-Type": "application/vnd.git-lfs+json"})

    def _upload(self, upload_id: str) -> dict:
        with self.server._uploads_lock:
            up = self.server._uploads.get(upload_id)
        if up is None:
            raise HubHTTPError(403, "invalid or expired upload URL")
        return up

    def _stream_body_to(self, path: Path) -> tuple[str, int]:
        """Write the request body to ``path`` in chunks; returns (sha256, size)."""
        h = hashlib.sha256()
        with open(path, "wb") as fh:
            while chunk := self._body.read():
                h.update(chunk)
                fh.write(chunk)
        return h.hexdigest(), self._body.read_bytes

    def _lfs_basic_put(self, upload_id: str) -> None:
        up = self._upload(upload_id)
        tmp = self.server.storage.tmp_path()
        try:
            oid, size = self._stream_body_to(tmp)
            if oid != up["oid"] or size != up["size"]:
                raise HubHTTPError(400, f"uploaded content does not match oid/size ({size} bytes)")
            os.replace(tmp, self.server.storage.blob_path(oid))
        finally:
            tmp.unlink(missing_ok=True)
        self._send(200, b"", content_type="text/plain")

    def _lfs_part_put(self, upload_id: str, number: str) -> None:
        """Write part N in place (offset (N-1)*chunk) of one preallocated file.

        Parts that arrive in order also feed a running sha256, so completing a large
        upload needs no second pass over the data; any other order falls back to a rehash.
        """
        up = self._upload(upload_id)
        n = int(number)
        chunk = self.server.multipart_chunk_size
        with self.server._uploads_lock:
            if "file" not in up:
                up["file"] = self.server.storage.tmp_path()
                up["file"].touch()
                up["sha256"], up["next"], up["dirty"] = hashlib.sha256(), 1, False
            in_order = n == up["next"] and not up["dirty"]
            running = up["sha256"].copy() if in_order else None
        md5 = hashlib.md5()
        with open(up["file"], "r+b") as fh:
            fh.seek((n - 1) * chunk)
            while data := self._body.read():
                md5.update(data)
                if running is not None:
                    running.update(data)
                fh.write(data)
        etag = f'"{md5.hexdigest()}"'
        with self.server._uploads_lock:
            up["parts"][n] = (self._body.read_bytes, etag)
            if running is not None and n == up["next"]:
                up["sha256"], up["next"] = running, n + 1
            else:
                up["dirty"] = True
        self._send(200, b"", {"ETag": etag}, content_type="text/plain")

    def _lfs_complete(self, upload_id: str) -> None:
        body = self._read_json()
        up = self._upload(upload_id)
        parts = sorted(body.get("parts", []), key=lambda p: int(p["partNumber"]))
        chunk = self.server.multipart_chunk_size
        expected = -(-up["size"] // chunk)
        try:
            if [int(p["partNumber"]) for p in parts] != list(range(1, expected + 1)) or "file" not in up:
                raise HubHTTPError(400, f"expected parts 1..{expected}")
            for p in parts:
                n = int(p["partNumber"])
                size, etag = up["parts"].get(n, (None, None))
                want = chunk if n < expected else up["size"] - chunk * (expected - 1)
                if etag != p.get("etag") or size != want:
                    raise HubHTTPError(400, f"part {n} missing, of the wrong size, or etag mismatch")
            path = up["file"]
            if up["dirty"] or up["next"] != expected + 1:
                with open(path, "rb") as fh:
                    digest = hashlib.file_digest(fh, "sha256").hexdigest()
            else:
                digest = up["sha256"].hexdigest()
            if digest != up["oid"] or path.stat().st_size != up["size"]:
                raise HubHTTPError(400, "assembled object does not match oid/size")
            os.replace(path, self.server.storage.blob_path(up["oid"]))
        finally:
            if "file" in up:
                up["file"].unlink(missing_ok=True)
            with self.server._uploads_lock:
                self.server._uploads.pop(upload_id, None)
        self._send(200, b"{}")

    def _lfs_verify(self, repo_type: str, ns: str, name: str) -> None:
        body = self._read_json()
        self._repo(repo_type, ns, name, write=True)
        if not self.server.storage.has_blob(body.get("oid", "x"), int(body.get("size", -1))):
            raise HubHTTPError(404, "object not found", "EntryNotFound")
        self._json({})

    def _commit(self, repo_type: str, ns: str, name: str, rev: str) -> None:
        raw = self._body.read_all()
        repo = self._repo(repo_type, ns, name, write=True)
        storage = self.server.storage
        lines = [json.loads(line) for line in raw.splitlines() if line.strip()]
        header = next((ln["value"] for ln in lines if ln.get("key") == "header"), {})
        create_pr = bool(self._query.get("create_pr"))
        with storage.lock:
            is_pr = re.fullmatch(r"refs/pr/(\d+)", rev)
            if create_pr:
                base = storage.resolve(repo, header.get("parentCommit") or rev)
            elif is_pr:
                if int(is_pr.group(1)) not in repo.prs:
                    raise HubHTTPError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
                base = repo.prs[int(is_pr.group(1))]
            else:
                if rev not in repo.branches:
                    raise HubHTTPError(404, f"Invalid rev id: {rev}", "RevisionNotFound")
                base = repo.branches[rev]
            parent = header.get("parentCommit")
            if parent and not create_pr and not base.startswith(parent.lower()):
                raise HubHTTPError(412, "A commit has happened since. Please refresh and try again.")
            files = {p: dict(e) for p, e in storage.commit(base)["files"].items()}
            for ln in lines:
                key, v = ln.get("key"), ln.get("value", {})
                if key == "header":
                    continue
                path = v.get("path", "")
                if key in ("file", "lfsFile", "deletedFile") and not safe_repo_path(path):
                    raise HubHTTPError(400, f"invalid path in commit: {path!r}")
                if key == "file":
                    data = base64.b64decode(v.get("content", "")) if v.get("encoding") == "base64" else \
                        v.get("content", "").encode()
                    files[path] = file_entry_for(storage.put_bytes(data), len(data), False, data)
                elif key == "lfsFile":
                    oid = v.get("oid", "")
                    if not storage.has_blob(oid, v.get("size")):
                        raise HubHTTPError(422, f"LFS object {oid} for {path} was not uploaded")
                    files[path] = file_entry_for(oid, storage.blob_path(oid).stat().st_size, True)
                elif key == "deletedFile":
                    if path not in files:
                        raise HubHTTPError(404, "A file with this name doesn't exist", "EntryNotFound")
                    del files[path]
                elif key == "deletedFolder":
                    prefix = path.rstrip("/") + "/"
                    gone = [p for p in files if p.startswith(prefix)]
                    if not gone:
                        raise HubHTTPError(404, "A folder with this name doesn't exist", "EntryNotFound")
                    for p in gone:
                        del files[p]
                else:
                    raise HubHTTPError(400, f"unknown commit line key {key!r}")
            author = self._user["user"] if self._user else "anonymous"
            sha = storage.new_commit(repo, base, files, header.get("summary") or "update",
                                     header.get("description") or "", author)
            pr_url = None
            if create_pr:
                number = max(repo.prs, default=0) + 1
                repo.prs[number] = sha
                pr_url = f"{self._repo_url(repo)}/discussions/{number}"
            elif is_pr:
                repo.prs[int(is_pr.group(1))] = sha
            else:
                repo.branches[rev] = sha
            storage.save_repo(repo)
        self._json({"success": True, "commitOid": sha, "commitUrl": f"{self._repo_url(repo)}/commit/{sha}",
                    "hookOutput": "", "pullRequestUrl": pr_url})

    # --- downloads --------------------------------------------------------------------------------
    def _resolve(self, repo_type: str, ns: str, name: str, rev: str, path: str) -> None:
        repo = self._repo(repo_type, ns, name, content=True)
        storage, faults = self.server.storage, self.server.faults
        sha = storage.resolve(repo, faults.real_revision(repo.repo_id, rev))
        entry = storage.commit(sha)["files"].get(path)
        extra = faults.extra_entry(repo.repo_id, path)
        if entry is None and extra is None:
            raise HubHTTPError(404, f"Entry not found: {path}", "EntryNotFound", {"X-Repo-Commit": sha})
        if extra is not None:
            blob = storage.blob_path(storage.put_bytes(extra.content))
            etag, size, lfs = git_blob_sha1(extra.content), len(extra.content), False
        else:
            blob, size, lfs = storage.blob_path(entry["sha256"]), entry["size"], entry["lfs"]
            etag = entry["sha256"] if lfs else entry["git_oid"]
        claimed_etag, claimed_size = faults.claimed(repo.repo_id, path, etag, size) if lfs else (etag, size)
        headers = {"X-Repo-Commit": faults.shown_commit(repo.repo_id, sha), "ETag": f'"{claimed_etag}"',
                   "Accept-Ranges": "bytes"}
        if lfs:
            headers.update({"X-Linked-Etag": f'"{claimed_etag}"', "X-Linked-Size": str(claimed_size)})
            if self.server.cdn_redirect and extra is None:
                # the real Hub's shape: LFS content lives on a CDN of another origin (the client drops the token)
                port = self.server.server_address[1]
                self._send(302, b"", {**headers, "Location": f"http://localhost:{port}/cdn/{entry['sha256']}"},
                           content_type="text/plain")
                return
        self._send_blob(blob, size, headers)

    def _cdn(self, oid: str) -> None:
        """The CDN side of ``cdn_redirect``: the object by its sha256, no auth needed (the URL is the secret)."""
        if not re.fullmatch(r"[0-9a-f]{64}", oid) or not self.server.storage.has_blob(oid, None):
            raise HubHTTPError(404, "no such object")
        blob = self.server.storage.blob_path(oid)
        self._send_blob(blob, blob.stat().st_size, {"ETag": f'"{oid}"', "Accept-Ranges": "bytes"})

    def _send_blob(self, blob: Path, size: int, headers: dict[str, str]) -> None:
        """Answer GET/HEAD with ``blob`` (``Range: bytes=N-M`` honoured)."""
        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range")
        if rng and self.command == "GET":
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
            if not m or (m.group(1) == "" and m.group(2) == ""):
                raise HubHTTPError(416, f"bad range {rng}")
            if m.group(1) == "":
                start = max(0, size - int(m.group(2)))
            else:
                start = int(m.group(1))
                end = min(size - 1, int(m.group(2))) if m.group(2) else size - 1
            if start >= size and size > 0:
                raise HubHTTPError(416, f"range {rng} not satisfiable", None,
                                   {"Content-Range": f"bytes */{size}"})
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        length = max(0, end - start + 1)
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self._sent = True
        if self.command == "HEAD":
            return
        self._stream_file(blob, start, length)

    def _stream_file(self, blob: Path, start: int, length: int) -> None:
        fault = self.server.faults.body_fault(self.command, self._plain_path)
        with open(blob, "rb") as fh:
            if fault is not None:
                self._bytes_out = stream_with_fault(fault, self, fh, start, length)
            elif length > 0:
                self.wfile.flush()
                self._bytes_out = self.connection.sendfile(fh, start, length)  # zero-copy; falls back to send()
