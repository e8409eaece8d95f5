"""HCL-JSON and compose files, alone and merged with HCL."""

from __future__ import annotations

import json

import jsonschema
import pytest

from tests.conftest import SCHEMAS, PrintFn

BAKE_FILE_SCHEMA = json.loads((SCHEMAS / "bake-file.schema.json").read_text())


def check_bake_file_schema(text: str) -> None:
    jsonschema.validate(json.loads(text), BAKE_FILE_SCHEMA)


def test_bake_file_schema_rejects_malformed_targets() -> None:
    with pytest.raises(jsonschema.ValidationError):
        check_bake_file_schema('{"target": {"app": {"tags": {"not": "a list"}}}}')

JSON_FILE = """
{
  "variable": {"TAG": {"default": "1.0"}, "N": {"default": 3}},
  "function": {"img": {"params": ["n"], "result": "repo/${n}:${TAG}"}},
  "group": {"default": {"targets": ["app"]}},
  "target": {
    "app": {
      "tags": ["${img(\\"app\\")}", "plain(\\"x\\")"],
      "args": {"N": "${N + 1}", "LIT": 5},
      "output": [{"type": "oci", "dest": "out.tar"}]
    }
  }
}
"""


def test_json_bake_file(bake_print: PrintFn) -> None:
    check_bake_file_schema(JSON_FILE)
    t = bake_print(files={"docker-bake.json": JSON_FILE})["target"]["app"]
    assert t["tags"] == ["repo/app:1.0", 'plain("x")']
    assert t["args"] == {"N": "4", "LIT": "5"}
    assert t["output"] == [{"dest": "out.tar", "type": "oci"}]


def test_json_blocks_as_lists(bake_print: PrintFn) -> None:
    text = '{"target": [{"a": [{"tags": ["x"]}]}, {"b": {"inherits": ["a"]}}]}'
    check_bake_file_schema(text)
    out = bake_print(files={"bake.json": text}, targets=["b"])
    assert out["target"]["b"]["tags"] == ["x"]


COMPOSE = """
services:
  web:
    image: example/web:latest
    build:
      context: ./web
      dockerfile: web.Dockerfile
      args:
        - MODE=prod
        - EMPTY
        - FROM_ENV
      labels:
        com.example: "yes"
      target: final
      platforms: [linux/amd64]
      cache_from: ["type=local,src=/tmp/c"]
      secrets: [token]
      additional_contexts:
        base: service:base
      x-bake:
        tags: ["example/web:${TAG:-dev}"]
        output: type=docker
  base:
    build: ./base
  db:
    image: postgres
secrets:
  token:
    environment: TOKEN
"""


def test_compose_services_become_targets(bake_print: PrintFn) -> None:
    out = bake_print(files={"compose.yaml": COMPOSE}, env={"TAG": "7", "FROM_ENV": "e"})
    assert out["group"]["default"] == {"targets": ["base", "web"]}
    web = out["target"]["web"]
    assert web["context"] == "web" and web["dockerfile"] == "web.Dockerfile"
    assert web["args"] == {"MODE": "prod", "FROM_ENV": "e"}
    assert web["labels"] == {"com.example": "yes"}
    assert web["tags"] == ["example/web:7"]
    assert web["target"] == "final"
    assert web["contexts"] == {"base": "target:base"}
    assert web["secret"] == [{"env": "TOKEN", "id": "token"}]
    assert web["output"] == [{"type": "docker"}]
    assert out["target"]["base"]["context"] == "base"


def test_hcl_merges_over_compose(bake_print: PrintFn) -> None:
    hcl = 'target "web" {\n  tags = ["override:1"]\n}\ngroup "default" { targets = ["web"] }\n'
    out = bake_print(files={"compose.yaml": COMPOSE, "docker-bake.hcl": hcl})
    assert out["group"]["default"] == {"targets": ["web"]}
    assert out["target"]["web"]["tags"] == ["override:1"]
    assert out["target"]["web"]["dockerfile"] == "web.Dockerfile"


def test_unknown_extension_is_detected(bake_print: PrintFn) -> None:
    out = bake_print(files={"bake.conf": 'target "default" { tags = ["t"] }\n'})
    assert out["target"]["default"]["tags"] == ["t"]


def test_compose_details_follow_buildx(bake_print: PrintFn) -> None:
    compose = """
services:
  app:
    image: app:img
    environment:
      FROM_SVC: svc
    build:
      context: .
      args:
        FROM_SVC:
        FROM_ENV:
        MISSING:
      shm_size: 128m
      ulimits:
        nofile: 1024
        nproc: {soft: 10, hard: 20}
      extra_hosts:
        - "db:10.0.0.2"
      ssh: ["key=/dev/null", "default"]
      no_cache: false
      sbom: true
      x-bake:
        platforms: linux/amd64 linux/arm64
        contexts:
          base: service:other
  other:
    build: ./other
"""
    t = bake_print(files={"compose.yaml": compose}, env={"FROM_ENV": "env", "SSH_AUTH_SOCK": "/s"})["target"]["app"]
    assert t["args"] == {"FROM_ENV": "env", "FROM_SVC": "svc"}
    assert t["shm-size"] == "128MiB"
    assert t["ulimits"] == ["nofile=1024:1024", "nproc=10:20"]
    assert t["extra-hosts"] == {"db": "10.0.0.2"}
    assert t["ssh"] == [{"id": "default"}, {"id": "key", "paths": ["/dev/null"]}]
    assert "no-cache" not in t
    assert t["attest"] == [{"type": "sbom"}]
    assert t["platforms"] == ["linux/amd64", "linux/arm64"]
    assert t["contexts"] == {"base": "target:other"}
    assert t["tags"] == ["app:img"]
