"""The HTML report of a real build (the bake command, real containers), and that page in a real
browser: Debian's chromium, headless, draws the timeline (pixels of the bars' colours), runs the
page's script without a console message, and shows a step's details when a bar is clicked."""

from __future__ import annotations

import collections
import json
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from bake.report.jsonl import read_events

DOCKERFILE = """\
FROM {base} AS base
RUN echo "<script>alert('injected')</script>"; sleep 0.3
FROM base AS a
RUN sleep 0.4; echo a > /a
FROM base AS b
RUN echo building b; sleep 0.2; exit 3
"""
HCL = """\
group "default" { targets = ["a", "b"] }
target "a" {
  target = "a"
  output = ["type=local,dest=out/a"]
}
target "b" { target = "b" }
"""


@pytest.fixture(scope="module")
def built(busybox_image: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """Build a (ok) and b (fails) with --keep-going, --report and a rawjson log: (page, log, stderr)."""
    d = tmp_path_factory.mktemp("report")
    (d / "Dockerfile").write_text(DOCKERFILE.format(base=busybox_image))
    (d / "docker-bake.hcl").write_text(HCL)
    done = subprocess.run([sys.executable, "-m", "bake", "--root", str(d / "root"), "--keep-going",
                           "--progress", "rawjson", "--report", "report.html"], cwd=d, capture_output=True, text=True)
    assert done.returncode == 1, done.stderr  # b fails, a is built and exported
    assert (d / "out/a/a").read_text() == "a\n"
    (d / "events.jsonl").write_text(done.stdout)
    return d / "report.html", d / "events.jsonl", done.stderr


def test_a_failed_build_writes_its_report_with_every_step(built: tuple[Path, Path, str]) -> None:
    page, log, _ = built
    text = page.read_text()
    events = list(read_events(log.read_text().splitlines()))
    started = {e.step.digest for e in events if type(e).__name__ in ("Started", "Cached")}  # type: ignore[attr-defined]
    assert text.count('<tr id="s') == len(started)
    assert "<script>alert" not in text and "&lt;script&gt;alert(&#39;injected&#39;)&lt;/script&gt;" in text
    assert text.count("<script>") == 1
    assert 'class="status-failed">failed</strong>' in text
    assert "<pre>building b</pre>" in text  # the failure's log excerpt, under its target
    assert "exporting to directory out/a" in text


def test_the_same_page_comes_from_the_rawjson_log(built: tuple[Path, Path, str], tmp_path: Path) -> None:
    page, log, _ = built
    out = tmp_path / "again.html"
    done = subprocess.run([sys.executable, "-m", "bake", "report", str(log), "-o", str(out)],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert out.read_text() == page.read_text()
    bad = subprocess.run([sys.executable, "-m", "bake", "report", str(page), "-o", str(out)],
                         capture_output=True, text=True)
    assert bad.returncode == 1 and "report.html:1: not a bake progress event" in bad.stderr


CHROMIUM = shutil.which("chromium")


def chromium(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM, "chromium is installed by scripts/setup.sh"
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                           "--enable-logging=stderr", "--v=0", "--no-first-run", *args],
                          capture_output=True, text=True, timeout=120)


def console(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def test_chromium_draws_the_timeline_in_both_colour_schemes(built: tuple[Path, Path, str], tmp_path: Path) -> None:
    page, _, _ = built
    for scheme, background in (("light", (255, 255, 255)), ("dark", (0x15, 0x19, 0x1E))):
        shot = tmp_path / f"{scheme}.png"
        done = chromium("--window-size=1000,700", f"--blink-settings=preferredColorScheme={int(scheme == 'light')}",
                        f"--screenshot={shot}", page.as_uri())
        assert shot.exists(), done.stderr
        assert console(done.stderr) == []
        width, _, pixels = read_png(shot)
        assert pixels[5 * width + 5] == background
        colours = collections.Counter(pixels)
        light = {"executed": (0x2F, 0x74, 0xC0), "shared": (0x8A, 0x4F, 0xC4), "failed": (0xD2, 0x3C, 0x3C)}
        dark = {"executed": (0x4C, 0x93, 0xE0), "shared": (0xA9, 0x77, 0xE0), "failed": (0xEF, 0x5F, 0x5F)}
        for name, rgb in (light if scheme == "light" else dark).items():
            # the legend's swatch is ~100 pixels; a bar is wider than that
            assert colours.get(rgb, 0) > 300, f"{scheme}: no {name} bar drawn"


def test_clicking_a_bar_shows_its_step(built: tuple[Path, Path, str], tmp_path: Path) -> None:
    page, _, _ = built
    probe = tmp_path / "probe.html"
    click = ("<script>var b = document.querySelector('.bar.failed');"
             "b.dispatchEvent(new MouseEvent('click', {bubbles: true, cancelable: true}));</script></body>")
    probe.write_text(page.read_text().replace("</body>", click))
    done = chromium("--dump-dom", probe.as_uri())
    assert console(done.stderr) == []
    dom = done.stdout
    panel = dom[dom.index('<aside id="panel"'):dom.index("</aside>")]
    assert "hidden" not in panel.split(">", 1)[0]
    assert "RUN echo building b; sleep 0.2; exit 3" in panel and "exit code: 3" in panel
    assert "<dd>failed</dd>" in panel
    assert "building b" in panel  # the step's last output


def read_png(path: Path) -> tuple[int, int, list[tuple[int, int, int]]]:
    """An 8-bit RGB or RGBA PNG (what chromium writes) as (width, height, RGB pixels by rows)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + size]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + size
    raw = zlib.decompress(idat)
    stride = width * channels
    prev = bytearray(stride)
    pixels: list[tuple[int, int, int]] = []
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = prev[i], prev[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 255
            elif kind == 2:
                line[i] = (line[i] + up) & 255
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[i] = (line[i] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        pixels += [tuple(line[x:x + 3]) for x in range(0, stride, channels)]  # type: ignore[misc]
        prev = line
    return width, height, pixels


def test_the_log_is_what_the_schema_says(built: tuple[Path, Path, str]) -> None:
    import jsonschema

    schema = json.loads((Path(__file__).parents[2] / "schemas" / "progress-event.schema.json").read_text())
    for line in built[1].read_text().splitlines():
        jsonschema.validate(json.loads(line), schema)
