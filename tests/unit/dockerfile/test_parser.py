"""Dockerfile text → nodes: directives, continuations, heredocs, forms, errors."""

from __future__ import annotations

import pytest

from bake.dockerfile.parser import decode, parse
from bake.errors import DockerfileError


def test_directives_only_at_the_top() -> None:
    doc = parse("# syntax=docker/dockerfile:1\n# ESCAPE=`\n# check=skip=all\nFROM a\n# escape=\\\\\n")
    assert doc.directives == {"syntax": ("docker/dockerfile:1", 1), "escape": ("`", 2), "check": ("skip=all", 3)}
    assert doc.escape == "`"
    late = parse("FROM a\n# escape=`\nRUN x \\\n  y\n")
    assert late.escape == "\\" and late.directives == {}
    after_blank = parse("\n# escape=`\nFROM a\n")
    assert after_blank.directives == {}
    with pytest.raises(DockerfileError, match="only one escape parser directive"):
        parse("# escape=`\n# escape=`\nFROM a\n")


def test_continuations_comments_and_empty_lines() -> None:
    doc = parse("FROM a\nRUN echo a \\\n  # comment inside\n\n  && echo b\n  \n# top comment\nrun x\n")
    run, run2 = doc.nodes[1], doc.nodes[2]
    assert (run.keyword, run.args, run.start_line, run.end_line) == ("run", ("echo a   && echo b",), 2, 5)
    assert doc.warnings and "empty continuation" in doc.warnings[0]
    assert (run2.keyword, run2.start_line) == ("run", 8)


def test_backtick_escape_and_crlf_and_bom() -> None:
    doc = parse("\ufeff# escape=`\r\nFROM windows\r\nRUN dir `\r\n  c:\\ \r\n")
    assert doc.nodes[1].args == ("dir   c:\\",)


def test_json_and_shell_forms() -> None:
    doc = parse('FROM a\nCMD ["echo", "hi"]\nCMD echo hi\nENTRYPOINT [not json\nCOPY ["a b", "/c/"]\n')
    cmd_json, cmd_shell, bad, copy = doc.nodes[1:]
    assert (cmd_json.json, cmd_json.args) == (True, ("echo", "hi"))
    assert (cmd_shell.json, cmd_shell.args) == (False, ("echo hi",))
    assert (bad.json, bad.args) == (False, ("[not json",))  # invalid JSON falls back to shell form
    assert (copy.json, copy.args) == (True, ("a b", "/c/"))


def test_flags_are_split_off() -> None:
    doc = parse("FROM --platform=$BUILDPLATFORM alpine AS b\nRUN --mount=type=cache,target=/c --network=none make\n")
    assert doc.nodes[0].flags == ("--platform=$BUILDPLATFORM",)
    assert doc.nodes[0].args == ("alpine AS b",)
    assert doc.nodes[1].flags == ("--mount=type=cache,target=/c", "--network=none")
    assert doc.nodes[1].args == ("make",)


def test_heredocs() -> None:
    text = (
        "FROM a\n"
        "RUN <<EOF\nset -e\necho ${X}\nEOF\n"
        "RUN <<-'EOT' bash\n\techo $HOME\n\tEOT\n"
        "COPY <<one <<\"two\" /dst/\n1\none\n2\ntwo\n"
        "RUN python3 <<PY\nprint(1)\nPY\n"
    )
    nodes = parse(text).nodes
    run, trimmed, copy, interp = nodes[1:]
    assert [(h.name, h.content, h.chomp, h.expand) for h in run.heredocs] == [("EOF", "set -e\necho ${X}\n", False, True)]
    assert (run.start_line, run.end_line) == (2, 5)
    assert [(h.name, h.chomp, h.expand) for h in trimmed.heredocs] == [("EOT", True, False)]
    assert [(h.name, h.content, h.expand) for h in copy.heredocs] == [("one", "1\n", True), ("two", "2\n", False)]
    assert interp.heredocs[0].content == "print(1)\n"


def test_onbuild_wraps_an_instruction() -> None:
    node = parse("FROM a\nONBUILD RUN --mount=type=cache,target=/c echo later\n").nodes[1]
    assert node.keyword == "onbuild" and node.sub is not None
    assert (node.sub.keyword, node.sub.flags, node.sub.args) == ("run", ("--mount=type=cache,target=/c",), ("echo later",))


@pytest.mark.parametrize(("text", "line", "message"), [
    ("FROM a\nFRUM b\n", 2, r"unknown instruction: FRUM \(did you mean from\?\)"),
    ("FROM a\nRUNN b\n", 2, r"unknown instruction: RUNN \(did you mean run\?\)"),
    ("FROM a\nXYZZY b\n", 2, "unknown instruction: XYZZY$"),
    ('FROM a\nCMD [ "echo", [ "nested json" ] ]\n', 2,
     "when using JSON array syntax, arrays must be comprised of strings only"),  # BuildKit v0.32.2
    ("FROM a\nRUN <<EOF\necho\n", 2, "unterminated heredoc"),
    ("FROM a\nONBUILD FROM b\n", 2, "FROM isn't allowed as an ONBUILD trigger"),
    ("# escape=x\nFROM a\n", 1, "invalid escape token"),
])
def test_errors_name_the_line(text: str, line: int, message: str) -> None:
    with pytest.raises(DockerfileError, match=message) as info:
        parse(text, "Dockerfile.dev")
    assert (info.value.file, info.value.line) == ("Dockerfile.dev", line)


def test_bytes_that_are_not_utf8_are_an_error_at_their_line_and_column() -> None:
    with pytest.raises(DockerfileError) as info:
        decode(b"FROM busybox\nRUN echo \xff\n", "Dockerfile")
    assert (info.value.line, info.value.col) == (2, 10)
    assert info.value.text == "RUN echo \ufffd"
    assert decode("FROM é\n".encode()) == "FROM é\n"


def test_json_nested_beyond_reason_is_shell_form() -> None:
    (node,) = parse("CMD " + "[" * 5000 + "]" * 5000 + "\n").nodes
    assert not node.json and node.args == ("[" * 5000 + "]" * 5000,)
