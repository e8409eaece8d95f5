"""The committed *_pb2.py/.pyi are protoc's output for the committed .proto files (regenerate with
the command below after editing a .proto; grpcio-tools is a dev dependency)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
PROTO = ROOT / "bake" / "buildkit" / "proto"


def generate(out: Path) -> None:
    """``python -m grpc_tools.protoc -I . -I <grpc_tools/_proto> --python_out=. --pyi_out=. bake/buildkit/proto/*.proto``"""
    import grpc_tools

    includes = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    files = sorted(str(p.relative_to(ROOT)) for p in PROTO.glob("*.proto"))
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I", ".", "-I", includes, f"--python_out={out}",
                    f"--pyi_out={out}", *files], cwd=ROOT, check=True)


def test_generated_code_is_current(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    generate(tmp_path)
    for p in sorted((tmp_path / "bake" / "buildkit" / "proto").iterdir()):
        assert p.read_bytes() == (PROTO / p.name).read_bytes(), f"{p.name} is stale: regenerate (see generate())"
