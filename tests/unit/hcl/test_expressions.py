"""Expressions, templates and heredocs, as `--print` shows them."""

from __future__ import annotations

from tests.conftest import PrintFn


def args_of(bake_print: PrintFn, body: str, **kw: object) -> dict[str, str]:
    out = bake_print(f'target "default" {{\n  args = {{\n{body}\n  }}\n}}\n', **kw)
    return out["target"]["default"]["args"]  # type: ignore[no-any-return]


def test_arithmetic_follows_hcl_precedence(bake_print: PrintFn) -> None:
    args = args_of(bake_print, 'A = 1 + 2 * 3\nB = (1 + 2) * 3\nC = 7 % 4\nD = 10 / 4\nE = -2 - -3\nF = 0.1 + 0.2')
    assert args == {"A": "7", "B": "9", "C": "3", "D": "2.5", "E": "1", "F": "0.3"}


def test_logic_comparison_and_conditionals(bake_print: PrintFn) -> None:
    args = args_of(bake_print, 'A = 1 < 2 && !false\nB = "x" == "x" ? "yes" : "no"\nC = 2 >= 3 || 1 != 1\nD = "1" == 1')
    assert args == {"A": "true", "B": "yes", "C": "false", "D": "false"}


def test_interpolation_escapes_and_directives(bake_print: PrintFn) -> None:
    text = '''
variable "PLATS" { default = ["amd64", "arm64"] }
target "default" {
  args = {
    ESC = "$${NOT}"
    DIR = "%%{ if }"
    IF = "%{ if length(PLATS) > 1 }multi%{ else }single%{ endif }"
    FOR = "%{ for i, p in PLATS }${i}:${p};%{ endfor }"
    STRIP = "a %{~ if true ~} b %{~ endif ~} c"
    NESTED = "a-${lower("B-${upper("x")}")}"
    QUOTE = "say \\"hi\\"\\n"
  }
}
'''
    args = bake_print(text)["target"]["default"]["args"]
    assert args["ESC"] == "$${NOT}"  # printed escaped, as buildx does
    assert args["DIR"] == "%%{ if }"
    assert args["IF"] == "multi"
    assert args["FOR"] == "0:amd64;1:arm64;"
    assert args["STRIP"] == "abc"
    assert args["NESTED"] == "a-b-x"
    assert args["QUOTE"] == 'say "hi"\n'


def test_heredocs_plain_and_indented(bake_print: PrintFn) -> None:
    text = '''
variable "V" { default = "1.0" }
target "default" {
  dockerfile-inline = <<EOT
FROM alpine:${V}
RUN echo "$${HOME}"
EOT
  args = {
    TRIM = <<-EOT
      line one
        indented ${V}
      EOT
  }
}
'''
    t = bake_print(text)["target"]["default"]
    assert t["dockerfile-inline"] == 'FROM alpine:1.0\nRUN echo "$${HOME}"\n'
    assert t["args"]["TRIM"] == "line one\n  indented 1.0\n"


def test_for_expressions_splat_and_indexing(bake_print: PrintFn) -> None:
    text = '''
variable "M" { default = { a = 1, b = 2, c = 3 } }
variable "L" { default = [{ n = "x", v = [1] }, { n = "y", v = [2] }] }
target "default" {
  tags = [for k, v in M : "${k}${v}" if v != 2]
  no-cache-filter = L[*].n
  labels = { for k, v in M : "k.${k}" => v * 10 }
  args = {
    GROUPED = jsonencode({ for p in ["a1", "a2", "b1"] : substr(p, 0, 1) => p... })
    ATTR = L[1].v[0]
    DOT = L.0.n
  }
}
'''
    t = bake_print(text)["target"]["default"]
    assert t["tags"] == ["a1", "c3"]
    assert t["no-cache-filter"] == ["x", "y"]
    assert t["labels"] == {"k.a": "10", "k.b": "20", "k.c": "30"}
    assert t["args"] == {"GROUPED": '{"a":["a1","a2"],"b":["b1"]}', "ATTR": "2", "DOT": "x"}


def test_function_call_with_expansion(bake_print: PrintFn) -> None:
    args = args_of(bake_print, 'A = max([3, 9, 2]...)\nB = join("-", ["a", "b"], ["c"])\nC = format("%s-%03d", "v", 7)')
    assert args == {"A": "9", "B": "a-b-c", "C": "v-007"}


def test_large_and_fractional_numbers_print_like_go(bake_print: PrintFn) -> None:
    args = args_of(bake_print, "A = 1e20\nB = 2.50\nC = 1/3")
    assert args["A"] == "100000000000000000000"
    assert args["B"] == "2.5"
    assert args["C"].startswith("0.3333333333") and len(args["C"]) > 100
