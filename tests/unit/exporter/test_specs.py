"""Output and cache entries become typed specs when the plan is made; a bad one is refused before
anything builds, in the words the user sees."""

from __future__ import annotations

import pytest

from bake.errors import UsageError
from bake.exporter import table
from bake.exporter.job import ExportJob, Kind
from bake.exporter.specs import TargetSpecs, cache_spec, output_spec, plan_specs
from bake.model import CacheEntry, CacheSpec, ExportEntry, OutputSpec, Plan, Target


def entry(text: str) -> ExportEntry:
    """``type=…,k=v`` as the bake file's CSV form gives it (``;`` stands for a comma inside a value)."""
    attrs = {k: v.replace(";", ",") for k, v in (part.split("=", 1) for part in text.split(","))}
    kind, dest = attrs.pop("type"), attrs.pop("dest", "")
    return ExportEntry(kind, dest, tuple(attrs.items()))


def test_an_image_output_is_typed() -> None:
    spec = output_spec(entry("type=image,name=a:1;b:2,push=true,compression=zstd,compression-level=3,"
                             "force-compression=true,oci-mediatypes=false,rewrite-timestamp=true,"
                             "name-canonical=true,registry.insecure=true,annotation.org.x=1"), "target app: output")
    assert spec == OutputSpec("image", "", ("a:1", "b:2"), push=True, insecure=True, name_canonical=True,
                              compression="zstd", compression_level=3, force_compression=True, oci_mediatypes=False,
                              rewrite_timestamp=True, annotations=(("org.x", "1"),))


def test_defaults_are_buildx_defaults() -> None:
    spec = output_spec(entry("type=oci,dest=x.tar"), "w")
    assert (spec.tar, spec.multi_target, spec.compression, spec.compression_level, spec.oci_mediatypes) == (
        True, False, "gzip", None, None)
    layout = output_spec(entry("type=oci,dest=d,tar=false,multi-target=true"), "w")
    assert (layout.tar, layout.multi_target) == (False, True)


@pytest.mark.parametrize(("text", "message"), [
    ("type=s3,bucket=x", "target app: output type=s3 is not supported yet (supported: local, tar, cacheonly"),
    ("type=local", "target app: output type=local needs dest="),
    ("type=tar", "target app: output type=tar needs dest="),
    ("type=oci", "target app: output type=oci needs dest="),
    ("type=image,compression=lz4", "target app: output type=image: compression=lz4 is not supported"),
    ("type=image,compression-level=12", "compression-level=12 (expected a whole number from 0 to 9 for gzip)"),
    ("type=image,compression=zstd,compression-level=x", "compression-level=x (expected a whole number from 0 to 22"),
    ("type=image,push=yes", "target app: output type=image: push=yes (expected true or false)"),
    ("type=oci,dest=x,tar=0", "tar=0 (expected true or false)"),
])
def test_a_bad_output_is_refused_with_where_it_is(text: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        output_spec(entry(text), f"target app: output type={text.split(',')[0][5:]}")
    assert message in info.value.message


def test_cache_entries_are_typed_and_checked() -> None:
    where = "target app: cache-to type=registry"
    spec = cache_spec(CacheEntry("registry", (("ref", "r/c:1"), ("mode", "max"))), where, export=True)
    assert spec == CacheSpec("registry", True, "max", "r/c:1")
    local = cache_spec(CacheEntry("local", (("src", "c"), ("tag", "t"))), "w", export=False)
    assert (local.src, local.tag, local.supported) == ("c", "t", True)
    assert not cache_spec(CacheEntry("gha", (("scope", "x"),)), "w", export=True).supported  # reported, skipped
    assert not cache_spec(CacheEntry("inline"), "w", export=False).supported  # only cache-to writes inline
    assert cache_spec(CacheEntry("inline"), "w", export=True).supported
    with pytest.raises(UsageError, match=r"mode=all \(expected min or max\)"):
        cache_spec(CacheEntry("local", (("dest", "c"), ("mode", "all"))), where, export=True)
    with pytest.raises(UsageError, match="target app: this cache entry needs ref="):
        cache_spec(CacheEntry("registry"), where, export=True)
    with pytest.raises(UsageError, match="needs dest="):
        cache_spec(CacheEntry("local", (("src", "c"),)), where, export=True)
    with pytest.raises(UsageError, match="needs src="):
        cache_spec(CacheEntry("local", (("dest", "c"),)), where, export=False)
    with pytest.raises(UsageError, match="compression-level=99"):
        cache_spec(CacheEntry("local", (("dest", "c"), ("compression-level", "99"))), where, export=True)


def test_a_plan_is_checked_target_by_target() -> None:
    app = Target(("name",), "app", output=(entry("type=local,dest=out"),),
                 cache_from=(CacheEntry("registry", (("ref", "r/c"),)),), cache_to=(CacheEntry("inline"),))
    specs = plan_specs(Plan({}, {"app": app, "bare": Target(("name",), "bare")}))
    assert specs["bare"] == TargetSpecs()
    assert specs["app"].outputs == (OutputSpec("local", "out"),)
    assert [c.type for c in specs["app"].cache_from + specs["app"].cache_to] == ["registry", "inline"]
    bad = Target(("name",), "bad", output=(entry("type=local"),))
    with pytest.raises(UsageError, match="target bad: output type=local needs dest="):
        plan_specs(Plan({}, {"app": app, "bad": bad}))


class Counting:
    """A new output type, as another module would register it."""

    kind: Kind = "none"

    def __init__(self) -> None:
        self.checked: list[OutputSpec] = []
        self.exported: list[OutputSpec] = []

    def check(self, spec: OutputSpec, where: str) -> None:
        self.checked.append(spec)

    def describe(self, spec: OutputSpec) -> str:
        return "counted"

    def export(self, spec: OutputSpec, job: ExportJob) -> list[str]:
        self.exported.append(spec)
        return ["counted"]


def test_one_register_call_adds_an_output_type_everywhere() -> None:
    counting = Counting()
    assert table.register("counted", counting) is None
    try:
        spec = output_spec(entry("type=counted,dest=x"), "w")
        assert counting.checked == [spec] and table.exporter("counted") is counting
        assert table.exporter("counted").export(spec, ExportJob("app", (), "/")) == ["counted"]
        old = table.register("counted", Counting())
        assert old is counting
    finally:
        del table.EXPORTERS["counted"]
    with pytest.raises(UsageError, match="type=counted is not supported yet"):
        output_spec(entry("type=counted,dest=x"), "w")
