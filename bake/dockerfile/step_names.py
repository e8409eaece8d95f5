"""Step names as BuildKit v0.32.2's Dockerfile frontend gives them (recorded:
tests/fixtures/buildkit/step-labels.json). A step is named by its instruction as written
(continuations joined), expanded and with the keyword upper-cased; the ``[stage 2/5]`` label in
front is the converter's (``bake.dockerfile.convert``), which asks ``single_stage`` whether the
stage's name belongs in it."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from bake.dockerfile import instructions as ins
from bake.dockerfile.shell import ExpansionError, expand_name, expand_word
from bake.dockerfile.stages import Stage

_HEREDOC_ONLY = re.compile(r"<<-?(['\"]?)[A-Za-z0-9_]+\1")  # RUN <<EOF: BuildKit runs the document itself


def single_stage(stages: Sequence[Stage]) -> bool:
    """Whether BuildKit labels the steps without a stage name: the Dockerfile has one stage and no
    other source. ``COPY --from=<image>`` and every ``RUN --mount`` (one without ``from=`` reads
    ``scratch``) add a source stage of their own, so ``[stage-0 2/3]``."""
    if len(stages) != 1:
        return False
    own = {stages[0].name.lower(), "0"} if stages[0].name else {"0"}
    for inst in stages[0].instructions:
        if isinstance(inst, ins.Copy) and inst.from_ and inst.from_.lower() not in own:
            return False
        if isinstance(inst, ins.Run) and inst.mounts:
            return False
    return True


def run_name(inst: ins.Run, env: Mapping[str, str], escape: str) -> str:
    """A RUN step: variables expanded with quotes kept and unset ones left as written, values of
    secret env mounts masked, a lone heredoc's first line in brackets."""
    if not inst.original:
        return "RUN " + " ".join(inst.command.args)
    masked = {**env, **{m.env: "****" for m in inst.mounts if m.type == "secret" and m.env}}
    name = _upper(expand_name(inst.original, masked, escape))
    if inst.heredocs and inst.command.shell and _HEREDOC_ONLY.fullmatch(" ".join(inst.command.args).strip()):
        lines = inst.heredocs[0].content.strip().replace("\r\n", "\n").split("\n")
        name += f" ({lines[0]}{'...' if len(lines) > 1 else ''})"
    return name


def copy_name(inst: ins.Copy, env: Mapping[str, str], escape: str) -> str:
    """A COPY or ADD step (``step_name``)."""
    frm = f"--from={inst.from_} " if inst.from_ else ""
    written = f"{'ADD' if inst.add else 'COPY'} {frm}{' '.join(inst.sources)} {inst.dest}"
    return step_name(inst.original, env, escape) or written


def step_name(original: str, env: Mapping[str, str], escape: str) -> str:
    """COPY, ADD and WORKDIR steps: ``original`` expanded as a word (quotes removed, unset variables
    empty; as written where it does not expand). "" without the original text."""
    if not original:
        return ""
    try:
        return _upper(expand_word(original, env, escape))
    except ExpansionError:
        return _upper(original)


def _upper(text: str) -> str:
    keyword, sep, rest = text.partition(" ")
    return keyword.upper() + sep + rest
