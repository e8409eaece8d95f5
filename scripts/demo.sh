#!/usr/bin/env bash
# The main job: resolve this repository's own docker-bake.hcl and every example, as `buildx bake --print` would.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== bake --list targets"
.venv/bin/bake --list targets
echo "== bake --print"
.venv/bin/bake --print
for d in examples/*/; do
  echo "== examples/$d: bake --print"
  (cd "$d" && ../../.venv/bin/bake --print)
done
