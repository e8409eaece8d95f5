"""Source ops: what each source's cache key reads (its salt) and the snapshot it becomes — a local
context (the files its excludes keep), an image (over a fake registry), a git repository (a local
one), a file over HTTP (a local server). A source that fails leaves no snapshot behind."""

from __future__ import annotations

import http.server
import os
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import anyio
import pytest

from bake.graph.ops import SourceOp
from bake.registry.reference import parse_reference
from bake.worker.errors import SourceError, UnsupportedSource
from bake.worker.ops import source
from bake.worker.state import WorkerState
from tests.unit.worker.fakes import CopySnapshots, worker_state
from tests.unit.worker.registryfake import FakeRegistry, digest


def tree(state: WorkerState, sid: str) -> dict[str, bytes]:
    assert isinstance(state.snapshots, CopySnapshots)
    return state.snapshots.tree(sid)


def materialize(state: WorkerState, op: SourceOp, log: list[bytes] | None = None) -> str:
    return anyio.run(source.materialize, state, op, None, (log if log is not None else []).append)


def salt(state: WorkerState, op: SourceOp) -> str:
    return anyio.run(source.salt, state, op, None)


# --- local contexts ---------------------------------------------------------------------------


def test_a_context_is_copied_without_its_excluded_files_keeping_links_modes_and_times(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    (ctx / "src").mkdir(parents=True)
    (ctx / "src" / "main.c").write_text("int main;")
    os.chmod(ctx / "src" / "main.c", 0o640)
    os.utime(ctx / "src" / "main.c", ns=(1_000_000_000, 1_000_000_000))
    (ctx / "node_modules").mkdir()
    (ctx / "node_modules" / "big").write_text("x")
    os.symlink("src/main.c", ctx / "link")
    os.mkfifo(ctx / "fifo")  # not sent, as with Docker's context transfer
    os.chmod(ctx / "src", 0o750)
    os.utime(ctx / "src", ns=(2_000_000_000, 2_000_000_000))
    state = worker_state(tmp_path / "root", cwd=tmp_path)
    sid = materialize(state, SourceOp("local://ctx", (("exclude", "node_modules\n"),)))
    upper = Path(state.snapshots.upper(sid))
    assert sorted(os.listdir(upper)) == ["link", "src"]
    assert os.readlink(upper / "link") == "src/main.c"
    copied = os.stat(upper / "src" / "main.c")
    assert stat.S_IMODE(copied.st_mode) == 0o640 and copied.st_mtime_ns == 1_000_000_000
    assert stat.S_IMODE(os.stat(upper / "src").st_mode) == 0o750
    assert os.stat(upper / "src").st_mtime_ns == 2_000_000_000  # set after its contents were copied
    assert state.snapshots.committed(sid)


def test_a_context_with_include_patterns_is_refused_and_leaves_no_snapshot(tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    state = worker_state(tmp_path / "root", cwd=tmp_path)
    with pytest.raises(UnsupportedSource, match="include patterns"):
        materialize(state, SourceOp("local://ctx", (("include", "src"),)))
    assert state.snapshots.ids() == []


def test_an_unknown_scheme_has_no_salt(tmp_path: Path) -> None:
    state = worker_state(tmp_path / "root")
    with pytest.raises(UnsupportedSource, match="oci-layout://x: not supported yet"):
        salt(state, SourceOp("oci-layout://x"))


# --- images -----------------------------------------------------------------------------------


def test_an_images_salt_is_its_manifest_digest_and_its_snapshot_the_pulled_layers(tmp_path: Path) -> None:
    registry = FakeRegistry()
    manifest = registry.image(str(parse_reference("alpine:3")), {"etc/alpine-release": "3.20"})
    state = worker_state(tmp_path / "root", client=registry.client)
    op = SourceOp("docker-image://docker.io/library/alpine:3")
    assert salt(state, op) == manifest.digest
    assert registry.fetched == [manifest.body["config"]["digest"]]  # the salt fetches no layer
    log: list[bytes] = []
    sid = materialize(state, op, log)
    assert tree(state, sid) == {"/etc/alpine-release": b"3.20"}
    assert b"unpacked 1 layer(s)" in b"".join(log)


# --- git --------------------------------------------------------------------------------------


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A local repository with a commit on ``main`` (``docs/`` and ``README``); yields it and the commit."""
    path = tmp_path / "repo"
    (path / "docs").mkdir(parents=True)
    (path / "README").write_text("hello")
    (path / "docs" / "guide.md").write_text("# guide")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example", "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "first"]):
        subprocess.run(["git", "-C", str(path), *args], check=True, env=env, capture_output=True)
    commit = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], check=True, capture_output=True,
                            text=True).stdout.strip()
    yield path, commit


def git_op(repo: Path, fragment: str, **attrs: str) -> SourceOp:
    return SourceOp(f"git://example.com/repo.git#{fragment}", (("fullurl", f"file://{repo}"), *attrs.items()))


def test_a_git_refs_salt_is_the_commit_it_names(tmp_path: Path, repo: tuple[Path, str]) -> None:
    path, commit = repo
    state = worker_state(tmp_path / "root")
    assert salt(state, git_op(path, "main")) == commit
    assert salt(state, git_op(path, "")) == commit  # the remote's HEAD
    assert salt(state, git_op(path, "f" * 40)) == "f" * 40  # a full commit id is its own answer, unasked
    with pytest.raises(SourceError, match="git ref 'no-such-branch' not found"):
        salt(state, git_op(path, "no-such-branch"))
    with pytest.raises(SourceError, match="git ls-remote"):
        salt(state, git_op(tmp_path / "not-a-repo", "main"))


def test_a_git_checkout_without_and_with_its_git_dir(tmp_path: Path, repo: tuple[Path, str]) -> None:
    path, _ = repo
    state = worker_state(tmp_path / "root")
    plain = materialize(state, git_op(path, "main"))
    assert sorted(os.listdir(state.snapshots.upper(plain))) == ["README", "docs"]
    kept = materialize(state, git_op(path, "main", **{"keep-git-dir": "true"}))
    assert sorted(os.listdir(state.snapshots.upper(kept))) == [".git", "README", "docs"]
    sub = materialize(state, git_op(path, "main:docs"))
    assert tree(state, sub) == {"/guide.md": b"# guide"}


def test_a_git_source_that_fails_leaves_no_snapshot(tmp_path: Path, repo: tuple[Path, str]) -> None:
    path, _ = repo
    state = worker_state(tmp_path / "root")
    with pytest.raises(SourceError, match="no such directory in the repository"):
        materialize(state, git_op(path, "main:../outside"))
    with pytest.raises(SourceError, match="git fetch failed"):
        materialize(state, git_op(path, "no-such-branch"))
    assert state.snapshots.ids() == []


# --- https files ----------------------------------------------------------------------------------


class Files(http.server.BaseHTTPRequestHandler):
    """Serves ``/dir/file.txt`` and ``/`` (with a date) and ``/download?x`` (named by Content-Disposition);
    404 else."""

    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        Files.hits.append(self.path)
        if self.path in ("/dir/file.txt", "/"):
            self.send_response(200)
            self.send_header("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT")
            body = b"payload"
        elif self.path.startswith("/download"):
            self.send_response(200)
            self.send_header("Content-Disposition", 'attachment; filename="../report.csv"')
            body = b"a,b"
        else:
            self.send_response(404)
            body = b""
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    Files.hits = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_urls_salt_is_its_contents_digest_and_it_is_fetched_once(tmp_path: Path, server: str) -> None:
    state = worker_state(tmp_path / "root")
    op = SourceOp(f"{server}/dir/file.txt")
    assert salt(state, op) == digest(b"payload")
    sid = materialize(state, op)
    upper = Path(state.snapshots.upper(sid))
    assert os.listdir(upper) == ["file.txt"] and (upper / "file.txt").read_bytes() == b"payload"
    st = os.stat(upper / "file.txt")
    assert stat.S_IMODE(st.st_mode) == 0o600 and int(st.st_mtime) == 1445412480  # as BuildKit: 0600, Last-Modified
    assert Files.hits == ["/dir/file.txt"]  # one download per build


def test_add_names_the_file_after_the_url_as_the_dockerfile_frontend_asks(tmp_path: Path, server: str) -> None:
    # recorded from BuildKit v0.32.2: ADD http://…/ gives __unnamed__, and a server's
    # Content-Disposition does not rename what a Dockerfile's ADD fetched
    state = worker_state(tmp_path)
    sid = materialize(state, SourceOp(f"{server}/download?id=7"))
    assert os.listdir(state.snapshots.upper(sid)) == ["download"]  # the server says report.csv
    top = materialize(state, SourceOp(f"{server}/"))
    assert os.listdir(state.snapshots.upper(top)) == ["__unnamed__"]


@pytest.mark.parametrize(("url", "disposition", "name"), [
    ("http://h/a/file.txt?x=1", "", "file.txt"),
    ("http://h/dl", 'attachment; filename="../report.csv"', "report.csv"),  # never a path out of the directory
    ("http://h/dl", "attachment; filename*=UTF-8''r%C3%A9sum%C3%A9.txt", "résumé.txt"),  # RFC 2231
    ("http://h/dl", 'attachment; filename="dir/"', "dl"),  # a directory name does not count
    ("http://h/", "", "download"),
    ("http://h/dl", 'attachment; filename="bad\x01name"', "download"),
])
def test_without_an_asked_name_the_server_names_the_file_as_buildkits_http_source(url: str, disposition: str,
                                                                                   name: str) -> None:
    from bake.worker.remote import _filename

    assert _filename(url, disposition) == name
    assert _filename(url, disposition, asked="chosen.bin") == "chosen.bin"


def test_a_checksum_mismatch_and_a_missing_file_are_source_errors(tmp_path: Path, server: str) -> None:
    state = worker_state(tmp_path / "root")
    wrong = "sha256:" + "0" * 64
    with pytest.raises(SourceError, match=f"digest mismatch {digest(b'payload')}: expected {wrong}"):
        materialize(state, SourceOp(f"{server}/dir/file.txt", (("checksum", wrong),)))
    with pytest.raises(SourceError, match="invalid response status 404"):
        materialize(state, SourceOp(f"{server}/missing"))
    assert state.snapshots.ids() == []
    downloads = Path(state.scratch) / "downloads"
    assert all(os.listdir(downloads / d) == [] for d in os.listdir(downloads))  # nothing half-written
