#!/usr/bin/env bash
# The main job: resolve this repository's docker-bake.hcl and every example as `buildx bake --print`
# would, and show each as one merged, deduplicated build graph (the build itself comes with the solver).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== bake --list targets"
.venv/bin/bake --list targets
echo "== bake --print"
.venv/bin/bake --print
echo "== bake --plan: every target and platform as one deduplicated build graph"
.venv/bin/bake --plan
echo "== bake --check: BuildKit's lint rules on every target's Dockerfile"
.venv/bin/bake --check
for d in examples/*/; do
  echo "== $d: bake --print, bake --plan"
  (cd "$d" && ../../.venv/bin/bake --print && ../../.venv/bin/bake --plan)
done
