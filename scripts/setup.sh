#!/usr/bin/env bash
# Installs what bake needs on a fresh Debian machine: uv, and the locked Python environment in .venv.
# Later layers add system packages (runc, overlay tools, a local registry) here.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && ! command -v python3 >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if [ ! -x .venv/bin/uv ]; then
  .venv/bin/pip install -q "uv==0.13.9"
fi
UV_PROJECT_ENVIRONMENT=.venv .venv/bin/uv sync -q --frozen
