#!/usr/bin/env bash
# Installs what bake needs on a fresh Debian machine: system packages (as root), uv, and the locked
# Python environment in .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && ! command -v python3 >/dev/null 2>&1; then
  apt-get update -qq && apt-get install -y -qq python3 python3-venv >/dev/null
fi
# The worker's integration tests run real containers (runc; crun where its probe container starts;
# a busybox rootfs from busybox-static)
# and a real registry (Debian's docker-registry, started by the tests on a loopback port).
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  missing=""
  command -v runc >/dev/null 2>&1 || missing="$missing runc"
  command -v crun >/dev/null 2>&1 || missing="$missing crun"
  command -v openssl >/dev/null 2>&1 || missing="$missing openssl"  # the token-auth test signs JWTs with it
  command -v ssh-agent >/dev/null 2>&1 || missing="$missing openssh-client"  # ssh mounts load key files into an agent
  command -v git >/dev/null 2>&1 || missing="$missing git"  # ADD of git repositories
  dpkg -s busybox-static >/dev/null 2>&1 || missing="$missing busybox-static"
  command -v docker-registry >/dev/null 2>&1 || missing="$missing docker-registry"
  command -v skopeo >/dev/null 2>&1 || missing="$missing skopeo"  # image outputs are checked by independent tools
  command -v umoci >/dev/null 2>&1 || missing="$missing umoci"
  # the RUN sandbox: a network namespace per build reaching out through slirp4netns, and the
  # distribution's containers seccomp allowlist (bake adds its own refusals on top)
  command -v slirp4netns >/dev/null 2>&1 || missing="$missing slirp4netns"
  [ -f /usr/share/containers/seccomp.json ] || missing="$missing golang-github-containers-common"
  command -v newuidmap >/dev/null 2>&1 || missing="$missing uidmap"  # rootless builds map subordinate ids
  command -v fuse-overlayfs >/dev/null 2>&1 || missing="$missing fuse-overlayfs"  # snapshots where overlayfs cannot mount
  command -v chromium >/dev/null 2>&1 || missing="$missing chromium"  # the HTML report is checked in a headless browser
  # the `docker` builder and --load: dockerd with its built-in BuildKit (and containerd), started on a
  # private socket by scripts/dockerd.sh; never as the system's engine
  command -v dockerd >/dev/null 2>&1 || missing="$missing docker.io"
  if [ -n "$missing" ]; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if [ ! -x .venv/bin/uv ]; then
  .venv/bin/pip install -q "uv==0.13.9"
fi
UV_PROJECT_ENVIRONMENT=.venv .venv/bin/uv sync -q --frozen
