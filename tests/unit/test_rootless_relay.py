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
