"""What a rootless build's child sends back: errors with all their fields, however they were made."""

from __future__ import annotations

from bake.app.rootless import _flatten, _rebuild
from bake.errors import BuildFailed, StepError


def test_errors_cross_the_pipe_with_their_fields() -> None:
    step = StepError("[stage-0 1/1] RUN make", "exit code: 2", ("app",), ("cc: error",), 2, "Dockerfile:3")
    again = _rebuild(*_flatten(step))
    assert isinstance(again, StepError) and str(again) == str(step)
    assert (again.step, again.targets, again.output, again.exit_code, again.source) == (
        step.step, step.targets, step.output, step.exit_code, step.source)
    both = _rebuild(*_flatten(BuildFailed((("app", step), ("web", step)))))
    assert isinstance(both, BuildFailed) and str(both) == "2 targets failed: app, web"
    assert [type(e) for _, e in both.failures] == [StepError, StepError]  # type: ignore[attr-defined]


def test_an_id_outside_a_single_mapping_gets_the_fix_named() -> None:
    from bake.app.rootless import _unmapped_id
    from bake.worker.errors import UnsafeArchiveError
    from bake.worker.userns import IdMaps, missing_range_hint

    try:
        try:
            raise OSError(22, "Invalid argument")
        except OSError as e:
            raise UnsafeArchiveError("cannot extract home/app: Invalid argument") from e
    except UnsafeArchiveError as err:
        assert _unmapped_id(err)
    assert not _unmapped_id(StepError("step", "exit code: 1"))
    hint = missing_range_hint(IdMaps(((0, 0, 1),), ((0, 0, 1),), False))
    assert "usermod --add-subuids" in hint and "root" in hint
    assert missing_range_hint(IdMaps(((0, 0, 1), (1, 100000, 65536)), ((0, 0, 1),), True)) == ""
