"""A loopback Hugging Face Hub-protocol server for push/pull tests, plus its pytest fixture.

`LoopbackHub` speaks the subset of the Hub HTTP protocol that the unmodified official clients
(`huggingface_hub` 2.x, `datasets` 5.x, `transformers` 5.x) use to create repositories, upload files
and folders (NDJSON commits, LFS "basic" transfers), read repository info, list trees and paths, and
download files (`resolve`, with `ETag` / `X-Repo-Commit` / `X-Linked-*` headers and byte ranges). It
serves model, dataset and Space repositories (Spaces: files only, nothing runs; `evaluate.load("org/name")`
reads a metric script from `/spaces/org/name/resolve/...`), stores blobs under a temporary folder and keeps
every commit, so downloads by commit id work.

Clients are pointed at it through the environment (read by `huggingface_hub` at import time, so use a
subprocess or set it before importing): `hub.client_env()` returns `HF_ENDPOINT`, a fake `HF_TOKEN`,
`HF_HUB_DISABLE_XET=1` (the server speaks basic LFS only; Xet uploads would ask for a token it does
not issue) and `HF_HUB_OFFLINE=0`.

Usage:

```python
with LoopbackHub(root) as hub:
    subprocess.run([...], env={**os.environ, **hub.client_env(hf_home=tmp / "hf")})
```

or the `hub_server` pytest fixture (module scope). Run `python tests/hub_server.py --port 8765` to
serve by hand. Not a security boundary: it binds 127.0.0.1 and accepts any token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

FAKE_TOKEN = "hf_loopback_dummy_token"
FAKE_USER = "loopback-user"
REPO_TYPES = ("model", "dataset", "space")
_URL_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
_REGULAR_MAX_BYTES = 1 << 20
_REGULAR_SUFFIXES = (".md", ".json", ".py", ".txt", ".yaml", ".yml", ".gitattributes", ".gitignore", ".cfg", ".toml")
_SEGMENT = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_REPO = rf"(?P<repo>{_SEGMENT}/{_SEGMENT})"


def _git_blob_oid(content: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def _lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass
class _File:
    blob: str  # sha256 of the content = name of the blob on disk
    size: int
    lfs: bool
    regular_oid: str = ""  # git blob id of a regular (non-LFS) file

    @property
    def git_oid(self) -> str:
        """Git blob id: of the content for regular files, of the LFS pointer file for LFS files."""
        return _git_blob_oid(_lfs_pointer(self.blob, self.size)) if self.lfs else self.regular_oid


@dataclass
class _Commit:
    oid: str
    title: str
    date: str
    files: dict[str, _File]


@dataclass
class _Repo:
    repo_type: str
    repo_id: str
    private: bool
    commits: list[_Commit] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def head(self) -> _Commit:
        return self.commits[-1]

    def at(self, revision: str) -> _Commit | None:
        if revision in ("main", "refs/heads/main"):
            return self.head()
        for commit in self.commits:
            if commit.oid == revision:
                return commit
        return None


class HubError(Exception):
    """An HTTP error with the `X-Error-Code` the Hub clients map to exceptions."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class LoopbackHub:
    """A threaded Hub-protocol server on 127.0.0.1 storing repositories under `root`.

    Args:
        root (`str` or `os.PathLike`, *optional*):
            Storage folder (created); a fresh temporary folder, removed by [`stop`], if omitted.
        port (`int`, *optional*, defaults to 0):
            Port to bind on 127.0.0.1; 0 picks a free one (see `endpoint`).
    """

    def __init__(self, root: str | os.PathLike | None = None, port: int = 0) -> None:
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="loopback-hub-") if root is None else root)
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        self.repos: dict[tuple[str, str], _Repo] = {}
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status): for debugging tests
        self._lock = threading.Lock()
        hub = self

        class Handler(_Handler):
            server_hub = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """`http://127.0.0.1:<port>`, the value for `HF_ENDPOINT`."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def client_env(self, hf_home: str | os.PathLike | None = None) -> dict[str, str]:
        """Environment variables that point the official clients at this server."""
        env = {
            "HF_ENDPOINT": self.endpoint,
            "HF_TOKEN": FAKE_TOKEN,
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_OFFLINE": "0",
            "HF_HUB_DISABLE_TELEMETRY": "1",
            "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        }
        if hf_home is not None:
            env["HF_HOME"] = os.fspath(hf_home)
        return env

    def start(self) -> LoopbackHub:
        """Serve in a daemon thread; returns `self`."""
        self._thread = threading.Thread(target=self._server.serve_forever, name="loopback-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and remove the storage folder if it was a temporary one."""
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> LoopbackHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------------------------------------
    # storage

    def blob_path(self, sha256: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", sha256):
            raise HubError(400, f"invalid sha256 {sha256!r}")
        return self.root / "blobs" / sha256

    def store_blob(self, content: bytes) -> str:
        sha = hashlib.sha256(content).hexdigest()
        path = self.blob_path(sha)
        if not path.exists():
            tmp = path.with_suffix(f".tmp{threading.get_ident()}")
            tmp.write_bytes(content)
            os.replace(tmp, path)
        return sha

    def get_repo(self, repo_type: str, repo_id: str) -> _Repo:
        repo = self.repos.get((repo_type, repo_id))
        if repo is None:
            raise HubError(404, f"Repository Not Found for {repo_type} {repo_id}", "RepoNotFound")
        return repo

    def create_repo(self, repo_type: str, repo_id: str, private: bool) -> _Repo:
        if repo_type not in REPO_TYPES:
            raise HubError(400, f"repo type {repo_type!r} is not served (only {REPO_TYPES})")
        if not re.fullmatch(_REPO, repo_id):
            raise HubError(400, f"invalid repo id {repo_id!r}")
        with self._lock:
            if (repo_type, repo_id) in self.repos:
                raise HubError(409, "You already created this repo")
            repo = _Repo(repo_type, repo_id, private)
            attributes = b"".join(b"*.%s filter=lfs diff=lfs merge=lfs -text\n" % e for e in (b"parquet", b"bin"))
            sha = self.store_blob(attributes)
            files = {".gitattributes": _File(sha, len(attributes), False, _git_blob_oid(attributes))}
            repo.commits.append(self._new_commit("initial commit", files, parent=""))
            self.repos[(repo_type, repo_id)] = repo
            return repo

    @staticmethod
    def _new_commit(title: str, files: dict[str, _File], parent: str) -> _Commit:
        state = json.dumps([parent, title, time.time_ns(), sorted((p, f.blob) for p, f in files.items())])
        date = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        return _Commit(hashlib.sha1(state.encode()).hexdigest(), title, date, files)

    def commit(self, repo: _Repo, revision: str, lines: list[dict[str, Any]]) -> _Commit:
        if revision not in ("main", "refs/heads/main"):
            raise HubError(400, f"only the main branch can receive commits here, got {revision!r}")
        if not lines or lines[0].get("key") != "header":
            raise HubError(400, "a commit payload must start with a header line")
        header = lines[0]["value"]
        with repo.lock:
            head = repo.head()
            parent = header.get("parentCommit")
            if parent is not None and parent != head.oid:
                raise HubError(412, f"parent commit {parent} is not the head of main ({head.oid})")
            files = dict(head.files)
            for line in lines[1:]:
                key, value = line.get("key"), line.get("value", {})
                path = value.get("path", "")
                if not path or path.startswith("/") or ".." in path.split("/"):
                    raise HubError(400, f"invalid path in commit: {path!r}")
                if key == "file":
                    if value.get("encoding") != "base64":
                        raise HubError(400, f"unsupported encoding {value.get('encoding')!r} for {path}")
                    content = base64.b64decode(value["content"])
                    files[path] = _File(self.store_blob(content), len(content), False, _git_blob_oid(content))
                elif key == "lfsFile":
                    sha = value.get("oid", "")
                    blob = self.blob_path(sha)
                    if not blob.exists():
                        raise HubError(400, f"LFS object {sha} of {path} was never uploaded")
                    files[path] = _File(sha, blob.stat().st_size, True)
                elif key == "deletedFile":
                    if files.pop(path, None) is None:
                        raise HubError(404, f"cannot delete {path}: no such file", "EntryNotFound")
                elif key == "deletedFolder":
                    prefix = path.rstrip("/") + "/"
                    for name in [p for p in files if p.startswith(prefix)]:
                        del files[name]
                else:
                    raise HubError(400, f"unsupported commit operation {key!r}")
            commit = self._new_commit(header.get("summary") or "update", files, parent=head.oid)
            repo.commits.append(commit)
            return commit


def _entry(path: str, file: _File, commit: _Commit, expand: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "file", "path": path, "oid": file.git_oid, "size": file.size}
    if file.lfs:
        out["lfs"] = {"oid": file.blob, "size": file.size, "pointerSize": len(_lfs_pointer(file.blob, file.size))}
    if expand:
        out["lastCommit"] = {"id": commit.oid, "title": commit.title, "date": commit.date}
    return out


def _folder(path: str, commit: _Commit, expand: bool) -> dict[str, Any]:
    oid = hashlib.sha1(f"{commit.oid}:{path}".encode()).hexdigest()
    out: dict[str, Any] = {"type": "directory", "path": path, "oid": oid}
    if expand:
        out["lastCommit"] = {"id": commit.oid, "title": commit.title, "date": commit.date}
    return out


def _list_tree(commit: _Commit, path: str, recursive: bool, expand: bool) -> list[dict[str, Any]]:
    prefix = f"{path.strip('/')}/" if path.strip("/") else ""
    if prefix and not any(p.startswith(prefix) for p in commit.files):
        raise HubError(404, f"{path} does not exist on this revision", "EntryNotFound")
    entries, folders = [], set()
    for name in sorted(commit.files):
        if not name.startswith(prefix):
            continue
        rest = name[len(prefix) :].split("/")
        for depth in range(1, len(rest)):
            folder = prefix + "/".join(rest[:depth])
            if folder not in folders and (recursive or depth == 1):
                folders.add(folder)
                entries.append(_folder(folder, commit, expand))
        if recursive or len(rest) == 1:
            entries.append(_entry(name, commit.files[name], commit, expand))
    return entries


class _Handler(BaseHTTPRequestHandler):
    server_hub: LoopbackHub
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet by default
        return

    # --- plumbing -------------------------------------------------------------------------------
    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _send(
        self, status: int, body: bytes = b"", headers: dict[str, str] | None = None, ctype: str = "application/json"
    ) -> None:
        self.server_hub.requests.append((self.command, self.path, status))
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers)

    def _dispatch(self) -> None:
        try:
            url = urlsplit(self.path)
            body = self._body() if self.command in ("POST", "PUT") else b""
            for method, pattern, handler in _ROUTES:
                if method == self.command or (method == "GET" and self.command == "HEAD"):
                    match = re.fullmatch(pattern, url.path)
                    if match:
                        handler(self, match, parse_qs(url.query), body)
                        return
            raise HubError(404, f"no route for {self.command} {url.path} on the loopback hub")
        except HubError as err:
            headers = {"X-Error-Code": err.code} if err.code else {}
            headers["X-Error-Message"] = err.message
            self._json({"error": err.message}, err.status, headers)
        except (ValueError, KeyError, json.JSONDecodeError) as err:
            self._json({"error": f"bad request: {err}"}, 400, {"X-Error-Message": f"bad request: {err}"})

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _dispatch

    # --- helpers ---------------------------------------------------------------------------------
    def _repo(self, match: re.Match) -> _Repo:
        return self.server_hub.get_repo(match["type"].rstrip("s"), match["repo"])

    def _commit_at(self, repo: _Repo, revision: str) -> _Commit:
        commit = repo.at(unquote(revision))
        if commit is None:
            raise HubError(404, f"Invalid rev id: {unquote(revision)}", "RevisionNotFound")
        return commit

    # --- API routes ------------------------------------------------------------------------------
    def whoami(self, match: re.Match, query: dict, body: bytes) -> None:
        self._json({"type": "user", "name": FAKE_USER, "fullname": FAKE_USER, "orgs": [],
                    "auth": {"type": "access_token", "accessToken": {"displayName": "loopback", "role": "write"}}})

    def create(self, match: re.Match, query: dict, body: bytes) -> None:
        payload = json.loads(body or b"{}")
        repo_type = payload.get("type") or "model"
        namespace = payload.get("organization") or FAKE_USER
        repo_id = f"{namespace}/{payload['name']}"
        url = f"{self.server_hub.endpoint}/{_URL_PREFIX.get(repo_type, '')}{repo_id}"
        try:
            self.server_hub.create_repo(repo_type, repo_id, bool(payload.get("private")))
        except HubError as err:
            if err.status != 409:
                raise
            self._json({"error": err.message, "url": url}, 409, {"X-Error-Message": err.message})  # as the Hub does
            return
        self._json({"url": url, "name": repo_id, "id": repo_id})

    def delete_repo(self, match: re.Match, query: dict, body: bytes) -> None:
        payload = json.loads(body or b"{}")
        repo_type = payload.get("type") or "model"
        repo_id = f"{payload.get('organization') or FAKE_USER}/{payload['name']}"
        self.server_hub.get_repo(repo_type, repo_id)
        del self.server_hub.repos[(repo_type, repo_id)]
        self._json({})

    def validate_yaml(self, match: re.Match, query: dict, body: bytes) -> None:
        self._json({"errors": [], "warnings": []})

    def repo_info(self, match: re.Match, query: dict, body: bytes) -> None:
        repo = self._repo(match)
        commit = self._commit_at(repo, match["rev"] or "main")
        siblings = []
        for path, file in sorted(commit.files.items()):
            sibling: dict[str, Any] = {"rfilename": path, "size": file.size, "blobId": file.git_oid}
            if file.lfs:
                pointer_size = len(_lfs_pointer(file.blob, file.size))
                sibling["lfs"] = {"sha256": file.blob, "size": file.size, "pointerSize": pointer_size}
            siblings.append(sibling)
        self._json({"id": repo.repo_id, "_id": hashlib.sha1(repo.repo_id.encode()).hexdigest()[:24],
                    "author": repo.repo_id.split("/")[0], "sha": commit.oid, "private": repo.private,
                    "gated": False, "disabled": False, "lastModified": commit.date, "createdAt": repo.commits[0].date,
                    "tags": [], "downloads": 0, "likes": 0, "siblings": siblings})

    def refs(self, match: re.Match, query: dict, body: bytes) -> None:
        repo = self._repo(match)
        self._json({"branches": [{"name": "main", "ref": "refs/heads/main", "targetCommit": repo.head().oid}],
                    "tags": [], "converts": []})

    def commits(self, match: re.Match, query: dict, body: bytes) -> None:
        repo = self._repo(match)
        head = self._commit_at(repo, match["rev"])
        history = repo.commits[: repo.commits.index(head) + 1][::-1]
        self._json([{"id": c.oid, "title": c.title, "message": "", "authors": [{"user": FAKE_USER}], "date": c.date}
                    for c in history])

    def preupload(self, match: re.Match, query: dict, body: bytes) -> None:
        self._repo(match)
        files = json.loads(body)["files"]
        out = []
        for item in files:
            path, size = item["path"], int(item["size"])
            regular = size <= _REGULAR_MAX_BYTES and path.lower().endswith(_REGULAR_SUFFIXES)
            out.append({"path": path, "uploadMode": "regular" if regular else "lfs", "shouldIgnore": False})
        self._json({"files": out, "commitOid": self._repo(match).head().oid})

    def commit(self, match: re.Match, query: dict, body: bytes) -> None:
        repo = self._repo(match)
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        commit = self.server_hub.commit(repo, unquote(match["rev"]), lines)
        url = f"{self.server_hub.endpoint}/{_URL_PREFIX[repo.repo_type]}{repo.repo_id}"
        self._json({"success": True, "commitOid": commit.oid, "commitUrl": f"{url}/commit/{commit.oid}"})

    def tree(self, match: re.Match, query: dict, body: bytes) -> None:
        repo = self._repo(match)
        commit = self._commit_at(repo, match["rev"])
        recursive = query.get("recursive", ["False"])[0].lower() == "true"
        expand = query.get("expand", ["False"])[0].lower() == "true"
        self._json(_list_tree(commit, unquote(match["path"] or ""), recursive, expand))

    def paths_info(self, match: re.Match, query: dict, body: bytes) -> None:
        repo = self._repo(match)
        commit = self._commit_at(repo, match["rev"])
        form = parse_qs(body.decode())
        expand = form.get("expand", ["False"])[0].lower() == "true"
        out = []
        for path in form.get("paths", []):
            path = path.strip("/")
            if path in commit.files:
                out.append(_entry(path, commit.files[path], commit, expand))
            elif any(p.startswith(path + "/") for p in commit.files):
                out.append(_folder(path, commit, expand))
        self._json(out)

    def xet_token(self, match: re.Match, query: dict, body: bytes) -> None:
        raise HubError(501, "the loopback hub speaks basic LFS only: set HF_HUB_DISABLE_XET=1 on the client")

    # --- LFS and file routes --------------------------------------------------------------------
    def lfs_batch(self, match: re.Match, query: dict, body: bytes) -> None:
        repo = self.server_hub.get_repo(_prefix_type(match["prefix"]), match["repo"])
        payload = json.loads(body)
        if payload.get("operation") != "upload":
            raise HubError(400, "only LFS uploads are supported; download through resolve/")
        objects = []
        for obj in payload["objects"]:
            entry: dict[str, Any] = {"oid": obj["oid"], "size": int(obj["size"])}
            if not self.server_hub.blob_path(obj["oid"]).exists():
                href = f"{self.server_hub.endpoint}/lfs-upload/{quote(repo.repo_type)}/{obj['oid']}"
                entry["actions"] = {"upload": {"href": href}}
            objects.append(entry)
        self._json({"transfer": "basic", "objects": objects, "hash_algo": "sha256"})

    def lfs_upload(self, match: re.Match, query: dict, body: bytes) -> None:
        sha = match["oid"]
        if hashlib.sha256(body).hexdigest() != sha:
            raise HubError(400, f"uploaded content does not match sha256 {sha}")
        self.server_hub.store_blob(body)
        self._send(200, b"")

    def resolve(self, match: re.Match, query: dict, body: bytes) -> None:
        repo = self.server_hub.get_repo(_prefix_type(match["prefix"]), match["repo"])
        commit = self._commit_at(repo, match["rev"])
        path = unquote(match["path"])
        file = commit.files.get(path)
        if file is None:
            raise HubError(404, f"{path} does not exist on revision {commit.oid}", "EntryNotFound")
        data = self.server_hub.blob_path(file.blob).read_bytes()
        etag = file.blob if file.lfs else file.git_oid
        headers = {"X-Repo-Commit": commit.oid, "ETag": f'"{etag}"', "Accept-Ranges": "bytes"}
        if file.lfs:
            headers.update({"X-Linked-Etag": f'"{file.blob}"', "X-Linked-Size": str(file.size)})
        range_header = self.headers.get("Range")
        if range_header and self.command == "GET":
            found = re.fullmatch(r"bytes=(\d*)-(\d*)", range_header.strip())
            if not found:
                raise HubError(416, f"unsupported range {range_header!r}")
            start_s, stop_s = found.groups()
            if start_s:
                start, stop = int(start_s), min(int(stop_s) if stop_s else len(data) - 1, len(data) - 1)
            else:
                start, stop = max(0, len(data) - int(stop_s)), len(data) - 1
            if start >= len(data) and len(data):
                self._send(416, b"", {"Content-Range": f"bytes */{len(data)}"})
                return
            headers["Content-Range"] = f"bytes {start}-{stop}/{len(data)}"
            self._send(206, data[start : stop + 1], headers, ctype="application/octet-stream")
            return
        self._send(200, data, headers, ctype="application/octet-stream")


_API = rf"/api/(?P<type>models|datasets|spaces)/{_REPO}"
_FILE = rf"/(?P<prefix>datasets/|spaces/)?{_REPO}"


def _prefix_type(prefix: str | None) -> str:
    """Repo type of a file URL's prefix (`datasets/`, `spaces/` or none)."""
    return {"datasets/": "dataset", "spaces/": "space"}.get(prefix or "", "model")
_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", r"/api/whoami-v2", _Handler.whoami),
    ("POST", r"/api/repos/create", _Handler.create),
    ("DELETE", r"/api/repos/delete", _Handler.delete_repo),
    ("POST", r"/api/validate-yaml", _Handler.validate_yaml),
    ("GET", rf"{_API}(?:/revision/(?P<rev>[^/]+))?", _Handler.repo_info),
    ("GET", rf"{_API}/refs", _Handler.refs),
    ("GET", rf"{_API}/commits/(?P<rev>[^/]+)", _Handler.commits),
    ("POST", rf"{_API}/preupload/(?P<rev>[^/]+)", _Handler.preupload),
    ("POST", rf"{_API}/commit/(?P<rev>[^/]+)", _Handler.commit),
    ("GET", rf"{_API}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", _Handler.tree),
    ("POST", rf"{_API}/paths-info/(?P<rev>[^/]+)", _Handler.paths_info),
    ("GET", rf"{_API}/xet-write-token/(?P<rev>[^/]+)", _Handler.xet_token),
    ("POST", rf"{_FILE}\.git/info/lfs/objects/batch", _Handler.lfs_batch),
    ("PUT", r"/lfs-upload/(?P<type>model|dataset|space)/(?P<oid>[0-9a-f]{64})", _Handler.lfs_upload),
    ("GET", rf"{_FILE}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", _Handler.resolve),
]


try:  # the fixture, when pytest is around
    import pytest

    @pytest.fixture(scope="module")
    def hub_server() -> Iterator[LoopbackHub]:
        """A running [`LoopbackHub`] on 127.0.0.1 with temporary storage, shared by a test module."""
        with LoopbackHub() as hub:
            yield hub

except ImportError:  # pragma: no cover
    pass


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="serve a loopback Hub-protocol server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--root", help="storage folder (default: a temporary one)")
    args = parser.parse_args()
    server = LoopbackHub(args.root, port=args.port)
    print(json.dumps(server.client_env()), flush=True)
    try:
        server._server.serve_forever()
    except KeyboardInterrupt:
        server.stop()
