"""Remote sources of ``ADD``: files over HTTP(S) and git repositories.

HTTP, as BuildKit: the file is named as asked (``ADD``: the URL's last path segment, as the
Dockerfile frontend asks), else after the server's ``Content-Disposition`` filename, else the
URL's last path segment; it gets mode 0600 and the ``Last-Modified`` time, and with ``--checksum``
must match it.
git: ``url#ref:subdir`` is fetched at depth 1 with the ``git`` command (a ref may be a branch, a
tag or a full commit id); ``.git`` is kept only with ``--keep-git-dir``. Both write into a fresh
directory and leave nothing half-written on failure.
"""

from __future__ import annotations

import email.message
import email.utils
import os
import posixpath
import shutil
import subprocess
import tempfile
import urllib.parse

from bake.worker.errors import SourceError


async def fetch_url(url: str, dest: str, checksum: str = "", filename: str = "") -> str:
    """Download ``url`` into the empty directory ``dest``; returns the file's name (``filename``
    when given, as the Dockerfile frontend asks)."""
    from bake.registry.download import DownloadError, download

    fd, tmp = tempfile.mkstemp(dir=dest, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as f:
            got = await download(url, f)
        if checksum and checksum != got.digest:
            raise SourceError(f"ADD {url}: digest mismatch {got.digest}: expected {checksum}")
        name = _filename(url, got.disposition, filename)
        os.chmod(tmp, 0o600)
        if got.last_modified:
            when = email.utils.parsedate_to_datetime(got.last_modified).timestamp()
            os.utime(tmp, (when, when))
        os.replace(tmp, os.path.join(dest, name))
        return name
    except DownloadError as err:
        raise SourceError(f"ADD {url}: {err.message}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _filename(url: str, disposition: str, asked: str = "") -> str:
    """BuildKit's naming: the name the op asks for (the Dockerfile frontend always gives one),
    else the server's Content-Disposition filename (RFC 2231 ``filename*`` too; one ending in ``/``
    does not count), else the URL path's last segment — each made safe, ``download`` when nothing
    usable is left."""
    if asked:
        return _safe(asked)
    if disposition:
        header = email.message.Message()
        header["Content-Disposition"] = disposition
        served = header.get_filename()
        if served and not served.endswith("/"):
            return _safe(served)
    return _safe(urllib.parse.urlparse(url).path)


def dockerfile_name(url: str) -> str:
    """The name ``ADD <url>`` asks for, as BuildKit's Dockerfile frontend does (its http source's
    filename): the URL path's last segment, or ``__unnamed__`` — never the server's choice. The
    remote builder sends BuildKit the same name (``bake/buildkit/llb.py``)."""
    base = posixpath.basename(urllib.parse.urlparse(url).path.rstrip("/"))
    return base if base not in ("", ".") else "__unnamed__"


def _safe(name: str) -> str:
    base = posixpath.basename(name.strip().rstrip("/"))
    if base in ("", ".", "..") or any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in base):
        return "download"
    return base


def fetch_git(remote: str, ref: str, subdir: str, dest: str, keep_git_dir: bool = False) -> str:
    """Check out ``ref`` (default: the remote's HEAD) of ``remote`` into the empty directory
    ``dest``, keeping only ``subdir`` when given; returns the commit id."""
    if shutil.which("git") is None:
        raise SourceError(f"ADD {remote}: git is not installed (apt-get install git)")
    work = tempfile.mkdtemp(prefix=".git-", dir=dest)
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"}

    def git(*args: str) -> str:
        proc = subprocess.run(["git", "-C", work, *args], capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise SourceError(f"ADD {remote}#{ref}: git {args[0]} failed: {proc.stderr.strip()}")
        return proc.stdout.strip()

    try:
        git("init", "-q")
        git("remote", "add", "origin", remote)
        git("fetch", "-q", "--depth", "1", "origin", ref or "HEAD")
        git("checkout", "-q", "FETCH_HEAD")
        commit = git("rev-parse", "HEAD")
        source = os.path.normpath(os.path.join(work, subdir.strip("/"))) if subdir else work
        if os.path.commonpath([source, work]) != work or not os.path.isdir(source):
            raise SourceError(f"ADD {remote}#{ref}:{subdir}: no such directory in the repository")
        if not keep_git_dir or source != work:
            shutil.rmtree(os.path.join(work, ".git"), ignore_errors=True)
        for name in os.listdir(source):
            os.rename(os.path.join(source, name), os.path.join(dest, name))
        return commit
    finally:
        shutil.rmtree(work, ignore_errors=True)
