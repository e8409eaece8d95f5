"""Remote sources of ``ADD``: files over HTTP(S) and git repositories.

HTTP, as BuildKit: the file is named after the URL's last path segment (or the server's
``Content-Disposition`` filename), gets mode 0600 and the ``Last-Modified`` time, and with
``--checksum`` must match it. git: ``url#ref:subdir`` is fetched at depth 1 with the ``git``
command (a ref may be a branch, a tag or a full commit id); ``.git`` is kept only with
``--keep-git-dir``. Both write into a fresh directory and leave nothing half-written on failure.
"""

from __future__ import annotations

import email.utils
import os
import posixpath
import re
import shutil
import subprocess
import tempfile
import urllib.parse

from bake.worker.errors import SourceError


async def fetch_url(url: str, dest: str, checksum: str = "") -> str:
    """Download ``url`` into the empty directory ``dest``; returns the file's name."""
    from bake.registry.download import DownloadError, download

    fd, tmp = tempfile.mkstemp(dir=dest, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as f:
            got = await download(url, f)
        if checksum and checksum != got.digest:
            raise SourceError(f"ADD {url}: digest mismatch {got.digest}: expected {checksum}")
        name = _filename(url, got.disposition)
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


def _filename(url: str, disposition: str) -> str:
    match = re.search(r'filename="?([^";]+)"?', disposition)
    name = match.group(1) if match else posixpath.basename(urllib.parse.urlparse(url).path)
    name = posixpath.basename(name.replace("\\", "/"))
    return name if name not in ("", ".", "..") else "index.html"


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
