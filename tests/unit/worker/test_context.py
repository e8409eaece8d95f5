"""Local contexts: selection with .dockerignore, content checksums, and the stat cache."""

from __future__ import annotations

import os
from pathlib import Path

from bake.worker.context import StatCache, checksum, files


def context(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "src").mkdir(parents=True)
    (root / "src" / "main.go").write_text("package main\n")
    (root / "docs").mkdir()
    (root / "docs" / "a.md").write_text("docs")
    (root / "dist").mkdir()
    (root / "dist" / "keep.txt").write_text("keep")
    (root / "dist" / "junk").write_text("junk")
    (root / "README.md").write_text("readme")
    os.symlink("/etc/shadow", root / "shadow-link")
    return root


def test_selection_follows_dockerignore_with_exceptions(tmp_path: Path) -> None:
    root = context(tmp_path)
    assert files(str(root), ["docs", "dist", "!dist/keep.txt", "*.md"]) == [
        "dist/keep.txt", "shadow-link", "src", "src/main.go",
    ]


def test_checksums_see_content_but_only_what_is_selected(tmp_path: Path) -> None:
    root = context(tmp_path)
    before = checksum(str(root))
    only_src = checksum(str(root), selected=["src"])
    (root / "docs" / "a.md").write_text("changed")
    assert checksum(str(root)) != before
    assert checksum(str(root), selected=["src"]) == only_src  # a change elsewhere is no miss
    assert checksum(str(root), excludes=["docs"]) == checksum(str(root), excludes=["docs"])
    (root / "src" / "main.go").write_text("package main // v2\n")
    assert checksum(str(root), selected=["src"]) != only_src


def test_symlinks_are_recorded_not_followed(tmp_path: Path) -> None:
    root = context(tmp_path)
    a = checksum(str(root), selected=["shadow-link"])
    os.unlink(root / "shadow-link")
    os.symlink("/etc/passwd", root / "shadow-link")
    assert checksum(str(root), selected=["shadow-link"]) != a


def test_stat_cache_skips_unchanged_files_and_survives_restarts(tmp_path: Path) -> None:
    root = context(tmp_path)
    path = str(tmp_path / "cache" / "stat.json")
    cold = StatCache(path)
    first = checksum(str(root), cache=cold)
    cold.save()
    assert (cold.hits, cold.misses) == (0, 5)
    warm = StatCache(path)
    assert checksum(str(root), cache=warm) == first
    assert (warm.hits, warm.misses) == (5, 0)
    (root / "README.md").write_text("readme v2")
    assert checksum(str(root), cache=warm) != first and warm.misses == 1
    Path(path).write_text("{not json")
    assert checksum(str(root), cache=StatCache(path)) != first  # damaged cache: rebuilt, not trusted


def test_a_stat_cache_that_hashed_nothing_new_is_not_written_again(tmp_path: Path) -> None:
    root, path = context(tmp_path), str(tmp_path / "statcache.json")
    cold = StatCache(path)
    checksum(str(root), cache=cold)
    cold.save()
    written = os.stat(path)
    warm = StatCache(path)
    checksum(str(root), cache=warm)
    warm.save()  # only hits: the file stays as it was (no write, no fsync on a warm rebuild)
    assert warm.misses == 0 and os.stat(path).st_ino == written.st_ino
    (root / "README.md").write_text("changed")
    changed = StatCache(path)
    checksum(str(root), cache=changed)
    changed.save()
    assert changed.misses == 1 and os.stat(path).st_ino != written.st_ino  # replaced atomically
