"""cache-to / cache-from: a fresh machine (an empty bake root) reuses another's results instead of
running the steps, through a registry or an OCI layout directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_build import executed, project, run

DOCKERFILE = """FROM {base}
RUN head -c 16 /dev/urandom | od -An -tx1 > /random
ARG LAST=one
RUN echo "$LAST" > /last
"""


def hcl(cache_from: str, cache_to: str) -> str:
    return ('variable "LAST" {\n  default = "one"\n}\ntarget "default" {\n  args = { LAST = LAST }\n'
            f'  cache-from = ["{cache_from}"]\n  cache-to = ["{cache_to}"]\n  output = ["type=local,dest=out"]\n}}\n')


def test_a_fresh_root_reuses_a_registry_cache_and_runs_nothing(busybox_image: str, registry: str,
                                                               tmp_path: Path) -> None:
    ref = f"{registry}/cache/app:buildcache"
    d = project(tmp_path, hcl(f"type=registry,ref={ref}", f"type=registry,ref={ref},mode=max"),
                DOCKERFILE.format(base=busybox_image))
    first = run(d, tmp_path / "machine-1")
    assert executed(first) == 3  # image, random, last: and the cache is exported
    random = (d / "out/random").read_text()
    (d / "out/random").unlink()
    fresh = run(d, tmp_path / "machine-2")
    assert executed(fresh) == 0 and fresh[0].cached == 1  # the result came from the registry cache
    assert (d / "out/random").read_text() == random  # the very same bytes, not a rerun


def test_mode_max_lets_a_changed_last_step_reuse_the_steps_before_it(busybox_image: str, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    d = project(tmp_path, hcl("type=local,src=cache", "type=local,dest=cache,mode=max"),
                DOCKERFILE.format(base=busybox_image))
    run(d, tmp_path / "machine-1")
    random = (d / "out/random").read_text()
    config = _cache_config(d / "cache")
    assert len(config["keys"]) == 3  # every step
    monkeypatch.setenv("LAST", "two")
    again = run(d, tmp_path / "machine-2")
    assert executed(again) == 1  # only the changed step ran; the random one came from the cache
    assert (d / "out/random").read_text() == random and (d / "out/last").read_text() == "two\n"


def test_mode_min_exports_only_the_result(busybox_image: str, tmp_path: Path) -> None:
    d = project(tmp_path, hcl("type=local,src=cache", "type=local,dest=cache"), DOCKERFILE.format(base=busybox_image))
    run(d, tmp_path / "machine-1")
    config = _cache_config(d / "cache")
    assert len(config["keys"]) == 1
    (chain,) = config["keys"].values()
    assert len(chain) == 3  # busybox's layer and the two RUN layers rebuild it


def _cache_config(layout: Path) -> dict:
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs/sha256" / index["manifests"][0]["digest"].split(":")[1]).read_text())
    return json.loads((layout / "blobs/sha256" / manifest["config"]["digest"].split(":")[1]).read_text())


def test_inline_cache_travels_in_the_pushed_image(busybox_image: str, registry: str, tmp_path: Path) -> None:
    ref = f"{registry}/cache/inline:1"
    hcl_text = ('target "default" {\n'
                f'  tags = ["{ref}"]\n  cache-from = ["type=registry,ref={ref}"]\n  cache-to = ["type=inline"]\n'
                '  output = ["type=registry", "type=local,dest=out"]\n}\n')
    d = project(tmp_path, hcl_text, DOCKERFILE.format(base=busybox_image))
    run(d, tmp_path / "machine-1")
    random = (d / "out/random").read_text()
    fresh = run(d, tmp_path / "machine-2")
    assert executed(fresh) == 0 and (d / "out/random").read_text() == random


def test_a_damaged_cache_is_a_miss_with_a_warning_not_a_failure(busybox_image: str, tmp_path: Path) -> None:
    from bake.progress.events import Event, Noted

    d = project(tmp_path, hcl("type=local,src=cache", "type=local,dest=cache,mode=max"),
                DOCKERFILE.format(base=busybox_image))
    run(d, tmp_path / "machine-1")
    config = _cache_config(d / "cache")
    for layer in config["layers"][1:]:  # every layer but busybox's is lost
        (d / "cache/blobs/sha256" / layer["digest"].split(":")[1]).unlink()
    events: list[Event] = []
    again = run(d, tmp_path / "machine-2", events=events)
    assert executed(again) == 2 and again[0].cached == 1  # the base came from its intact layer; both RUNs ran
    warnings = [e.text for e in events if isinstance(e, Noted) and e.level == "warning"]
    assert any(w.startswith("cache-from #1:") and "built without it" in w for w in warnings)


def test_several_targets_restore_from_their_caches_at_once(busybox_image: str, registry: str,
                                                           tmp_path: Path) -> None:
    names = ["one", "two", "three"]
    hcl_text = f'group "default" {{\n  targets = {json.dumps(names)}\n}}\n' + "".join(
        f'target "{n}" {{\n  args = {{ NAME = "{n}" }}\n'
        f'  cache-from = ["type=registry,ref={registry}/cache/{n}:c"]\n'
        f'  cache-to = ["type=registry,ref={registry}/cache/{n}:c,mode=max"]\n}}\n' for n in names)
    d = project(tmp_path, hcl_text, f"FROM {busybox_image}\nRUN echo shared > /shared\nARG NAME\n"
                "RUN echo $NAME > /name\n")
    run(d, tmp_path / "machine-1")
    for attempt in range(3):  # the restores race each other: every attempt must restore everything
        fresh = run(d, tmp_path / f"machine-{attempt + 2}")
        assert executed(fresh) == 0
