"""ADD's remote sources: HTTP downloads (names, modes, times, checksums) and git checkouts."""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bake.worker.errors import SourceError
from bake.worker.remote import fetch_git, fetch_url

pytestmark = pytest.mark.anyio
BODY = b"#!/bin/sh\necho tool\n"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.startswith("/missing"):
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.send_header("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT")
            if self.path.startswith("/download"):
                self.send_header("Content-Disposition", 'attachment; filename="../named.sh"')
            self.end_headers()
            self.wfile.write(BODY)

        def log_message(self, *args: object) -> None:
            """Quiet: the tests check answers, not access logs."""

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_downloads_are_named_moded_and_dated_as_buildkit_does(server: str, tmp_path: Path) -> None:
    name = await fetch_url(f"{server}/releases/tool.sh?x=1", str(tmp_path))
    path = tmp_path / name
    assert name == "tool.sh" and path.read_bytes() == BODY
    assert path.stat().st_mode & 0o777 == 0o600 and int(path.stat().st_mtime) == 1445412480
    other = tmp_path / "other"
    other.mkdir()
    assert await fetch_url(f"{server}/download?id=7", str(other)) == "named.sh"  # never a path out of dest


async def test_checksums_and_failures_leave_nothing(server: str, tmp_path: Path) -> None:
    good = "sha256:" + hashlib.sha256(BODY).hexdigest()
    assert await fetch_url(f"{server}/a.sh", str(tmp_path), checksum=good) == "a.sh"
    bad = tmp_path / "bad"
    bad.mkdir()
    with pytest.raises(SourceError, match=f"digest mismatch {good}: expected sha256:0+"):
        await fetch_url(f"{server}/a.sh", str(bad), checksum="sha256:" + "0" * 64)
    with pytest.raises(SourceError, match="invalid response status 404"):
        await fetch_url(f"{server}/missing/a.sh", str(bad))
    assert os.listdir(bad) == []


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    path = tmp_path / "repo"
    path.mkdir()

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@e", *args], check=True,
                       capture_output=True)
    git("init", "-q", "-b", "main")
    (path / "docs").mkdir()
    (path / "docs" / "guide.md").write_text("v1\n")
    (path / "README").write_text("hello\n")
    git("add", ".")
    git("commit", "-q", "-m", "one")
    git("tag", "v1")
    (path / "docs" / "guide.md").write_text("v2\n")
    git("commit", "-q", "-am", "two")
    return path


def test_git_refs_subdirs_and_the_git_dir(repo: Path, tmp_path: Path) -> None:
    url = f"file://{repo}"
    head = tmp_path / "head"
    head.mkdir()
    commit = fetch_git(url, "", "", str(head))
    assert sorted(os.listdir(head)) == ["README", "docs"] and (head / "docs" / "guide.md").read_text() == "v2\n"
    assert commit == subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()

    tagged = tmp_path / "tagged"
    tagged.mkdir()
    fetch_git(url, "v1", "docs", str(tagged))
    assert os.listdir(tagged) == ["guide.md"] and (tagged / "guide.md").read_text() == "v1\n"

    kept = tmp_path / "kept"
    kept.mkdir()
    fetch_git(url, "main", "", str(kept), keep_git_dir=True)
    assert (kept / ".git").is_dir() and sorted(os.listdir(kept)) == [".git", "README", "docs"]

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceError, match="git fetch failed"):
        fetch_git(url, "no-such-branch", "", str(empty))
    with pytest.raises(SourceError, match="no such directory"):
        fetch_git(url, "v1", "../../etc", str(empty))
    assert os.listdir(empty) == []
