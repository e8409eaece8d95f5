"""Variables: defaults, types, environment and --var overrides, validation, functions, cycles."""

from __future__ import annotations

import pytest

from bake.errors import DefinitionError, ValidationError
from tests.conftest import PrintFn

TYPED = '''
variable "S" { default = "x" }
variable "B" { default = false }
variable "N" { default = 1 }
variable "L" {
  type = list(string)
  default = []
}
variable "M" {
  type = map(number)
  default = {}
}
target "default" {
  args = {
    S = S
    B = B ? "yes" : "no"
    N = N + 1
    L = join("|", L)
    M = jsonencode(M)
  }
}
'''


def test_environment_overrides_are_typed(bake_print: PrintFn) -> None:
    env = {"S": '"quoted"', "B": "true", "N": "41", "L": "a,b", "M": "x:1,y:2"}
    assert bake_print(TYPED, env=env)["target"]["default"]["args"] == {
        "S": '"quoted"', "B": "yes", "N": "42", "L": "a|b", "M": '{"x":1,"y":2}',
    }


def test_json_environment_beats_plain_for_typed_variables(bake_print: PrintFn) -> None:
    args = bake_print(TYPED, env={"L": "ignored", "L_JSON": '["j1","j2"]'})["target"]["default"]["args"]
    assert args["L"] == "j1|j2"


def test_var_flag_beats_environment(bake_print: PrintFn) -> None:
    args = bake_print(TYPED, env={"S": "env"}, variables={"S": "flag"})["target"]["default"]["args"]
    assert args["S"] == "flag"


@pytest.mark.parametrize(("env", "message"), [({"N": "abc"}, "failed to parse N as number"),
                                              ({"B": "maybe"}, "failed to parse B as bool")])
def test_bad_typed_overrides(bake_print: PrintFn, env: dict[str, str], message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        bake_print(TYPED, env=env)


def test_validation_blocks(bake_print: PrintFn) -> None:
    text = '''
variable "PORT" {
  default = 80
  validation {
    condition = PORT > 0 && PORT < 65536
    error_message = "PORT out of range."
  }
}
target "default" { args = { P = PORT } }
'''
    assert bake_print(text)["target"]["default"]["args"] == {"P": "80"}
    with pytest.raises(ValidationError, match=r"Validation failed; PORT out of range\."):
        bake_print(text, env={"PORT": "70000"})


def test_cycles_and_unknown_names(bake_print: PrintFn) -> None:
    with pytest.raises(DefinitionError, match="variable cycle not allowed for A"):
        bake_print('variable "A" { default = B }\nvariable "B" { default = A }\ntarget "default" { tags = [A] }\n')
    with pytest.raises(DefinitionError, match='There is no variable named "NOPE"'):
        bake_print('target "default" { tags = [NOPE] }\n')


def test_user_functions_and_globals(bake_print: PrintFn) -> None:
    text = '''
REPO = "example"
function "tag" {
  params = [name]
  variadic_params = rest
  result = "${REPO}/${name}:${join("-", rest)}"
}
target "default" { tags = [tag("app", "1", "2"), tag("db")] }
'''
    assert bake_print(text)["target"]["default"]["tags"] == ["example/app:1-2", "example/db:"]


def test_function_errors(bake_print: PrintFn) -> None:
    with pytest.raises(DefinitionError, match="empty result not allowed for f"):
        bake_print('function "f" { params = [] }\ntarget "default" {}\n')
    with pytest.raises(DefinitionError, match="function cycle not allowed for f"):
        bake_print('function "f" {\n  params = []\n  result = f()\n}\ntarget "default" { tags = [f()] }\n')
    with pytest.raises(DefinitionError, match='There is no function named "nope"'):
        bake_print('target "default" { tags = [nope()] }\n')


def test_builtins(bake_print: PrintFn) -> None:
    t = bake_print('target "default" {\n  context = BAKE_CMD_CONTEXT\n  args = { P = BAKE_LOCAL_PLATFORM }\n}\n')["target"]["default"]
    assert t["context"] == "."
    assert t["args"]["P"].startswith("linux/")


def test_source_date_epoch_is_added_to_args(bake_print: PrintFn) -> None:
    t = bake_print('target "default" {}', env={"SOURCE_DATE_EPOCH": "1700000000"})["target"]["default"]
    assert t["args"] == {"SOURCE_DATE_EPOCH": "1700000000"}


def test_json_override_alone_and_for_untyped(bake_print: PrintFn) -> None:
    args = bake_print(TYPED, env={"L_JSON": '["x"]', "S_JSON": '{"raw": 1}'})["target"]["default"]["args"]
    assert args["L"] == "x"
    assert args["S"] == '{"raw": 1}'  # untyped: the JSON text is taken as a plain string, as buildx does


def test_unused_variables_are_still_checked(bake_print: PrintFn) -> None:
    text = 'variable "UNUSED" {\n  type = number\n  default = "x"\n}\ntarget "default" {}\n'
    with pytest.raises(DefinitionError, match="invalid type number for variable UNUSED default value"):
        bake_print(text)


def test_global_attribute_is_the_default_of_a_same_named_variable(bake_print: PrintFn) -> None:
    text = 'V = "attr"\nvariable "V" { default = "var" }\ntarget "default" { args = { V = V } }\n'
    assert bake_print(text)["target"]["default"]["args"] == {"V": "attr"}
    assert bake_print(text, env={"V": "env"})["target"]["default"]["args"] == {"V": "env"}


def test_globals_are_not_overridable_without_a_variable(bake_print: PrintFn) -> None:
    text = 'G = "attr"\ntarget "default" { args = { G = G } }\n'
    assert bake_print(text, env={"G": "env"})["target"]["default"]["args"] == {"G": "attr"}


def test_any_typed_variable_rejects_plain_overrides(bake_print: PrintFn) -> None:
    text = 'variable "A" {\n  type = any\n  default = 1\n}\ntarget "default" {}\n'
    with pytest.raises(DefinitionError, match="unsupported type dynamic for variable A"):
        bake_print(text, env={"A": "2"})


def test_env_lookup_can_be_disabled(bake_print: PrintFn) -> None:
    env = {"S": "env", "BUILDX_BAKE_DISABLE_VARS_ENV_LOOKUP": "1"}
    assert bake_print(TYPED, env=env)["target"]["default"]["args"]["S"] == "x"
