#!/usr/bin/env bash
# The main job: an offline demo build of the examples. It starts a local registry, pushes a busybox
# image made from Debian's busybox-static (amd64, plus arm64 and arm/v7 when Debian's packages for
# them can be fetched), points bake's docker.io mirror at it, and builds every example for real:
# concurrently, each shared step once, then again to show a fully cached rebuild.
# Outputs land in .cache/demo/out (replaced on every run); the registry, bake's state roots and
# everything else temporary are removed when the demo ends.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BAKE=$PWD/.venv/bin/bake
PY=$PWD/.venv/bin/python
work=$(mktemp -d /tmp/bake-demo.XXXXXX)
export BAKE_ROOT=${BAKE_ROOT:-$work/root}
out=$PWD/.cache/demo/out
rm -rf "$out" && mkdir -p "$out"

# --- a registry on a free loopback port, serving busybox as docker.io/library/busybox -----------
port=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $work/registry
http:
  addr: 127.0.0.1:$port
EOF
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
trap 'kill $registry_pid 2>/dev/null || true; wait $registry_pid 2>/dev/null || true; rm -rf "$work"' EXIT
$PY - "$port" <<'EOF'
import sys, time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/v2/", timeout=1)
        break
    except OSError:
        time.sleep(0.1)
EOF

foreign=()
debs=$PWD/.cache/demo-debs
if [ "$(dpkg --print-architecture 2>/dev/null)" = amd64 ]; then
  if [ ! -x "$debs/arm64/bin/busybox" ] || [ ! -x "$debs/armhf/bin/busybox" ]; then
    # A private apt index (under .cache/demo-apt) that knows arm64 and armhf: the system's package
    # configuration (dpkg's architectures, apt's lists) is left as it is.
    echo "== fetching Debian's busybox-static for arm64 and armhf into .cache/demo-debs (a private apt index; the system's apt and dpkg settings are untouched)"
    apt=$PWD/.cache/demo-apt
    mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$debs"
    aptopts=(-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache::Archives=$apt/archives" -o "Dir::Cache::pkgcache=" \
             -o "Dir::Cache::srcpkgcache=" -o "APT::Architectures::=amd64" -o "APT::Architectures::=arm64" \
             -o "APT::Architectures::=armhf" -o "Debug::NoLocking=1")
    apt-get "${aptopts[@]}" update -qq >/dev/null 2>&1 || true  # an unrelated unreachable index must not stop the demo
    if (cd "$debs" && apt-get "${aptopts[@]}" download -qq busybox-static:arm64 busybox-static:armhf >/dev/null 2>&1); then
      for a in arm64 armhf; do dpkg-deb -x "$debs"/busybox-static_*_"$a".deb "$debs/$a"; done
    else
      echo "   (not reachable: the demo builds for the host's platform only)"
    fi
  fi
  [ -x "$debs/arm64/bin/busybox" ] && foreign+=(--busybox "arm64=$debs/arm64/bin/busybox")
  [ -x "$debs/armhf/bin/busybox" ] && foreign+=(--busybox "arm/v7=$debs/armhf/bin/busybox")
fi
echo "== pushing busybox to the local registry"
$PY scripts/seed_registry.py "127.0.0.1:$port" "${foreign[@]}"
cat > "$work/bake.toml" <<EOF
[registry."docker.io"]
mirrors = ["127.0.0.1:$port"]
EOF
export BAKE_CONFIG=$work/bake.toml

# --- what bake reads, and the graph it will run ---------------------------------------------------
echo "== bake --list targets (this repository)"
$BAKE --list targets
echo "== bake --plan (examples/node-monorepo): one deduplicated graph for every target and platform"
(cd examples/node-monorepo && $BAKE --plan)

# --- building -----------------------------------------------------------------------------------
# RUN steps for another architecture need QEMU's binfmt handlers; where they are not registered
# (as on this machine) targets whose RUN steps run on the target platform are built for the host.
host_only=()
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || host_only=(--set "*.platform=linux/amd64")
if [ ${#foreign[@]} -eq 0 ]; then cross=(--set "*.platform=linux/amd64"); else cross=(); fi
hello=127.0.0.1:$port/bake-demo/hello:0.1.0
echo "== examples/go-cross: cross-compiled on the build platform, shipped for every platform and pushed"
(cd examples/go-cross && $BAKE --progress=plain "${cross[@]}" --set "binaries.output=type=local,dest=$out/go-cross" \
  --set "default.tags=$hello" --set "default.output=type=registry" default binaries)
echo "== examples/node-monorepo: test and production share their base, deps and build steps"
(cd examples/node-monorepo && $BAKE --progress=plain "${host_only[@]}" \
  --set "production.output=type=oci,dest=$out/node-production.oci.tar" --set "production.tags=bake-demo/web:dev")
echo "== examples/matrix-release: a 2x2 matrix of services and distros, its build cache exported to the registry"
export REGISTRY=127.0.0.1:$port  # the example's tags and cache-from/cache-to refs point at the local registry
tars=()
for t in api-alpine api-debian worker-alpine worker-debian; do tars+=(--set "$t.output=type=tar,dest=$out/$t.tar"); done
(cd examples/matrix-release && $BAKE --progress=plain "${host_only[@]}" "${tars[@]}")
echo "== outputs"
if command -v skopeo >/dev/null; then
  echo "-- $hello in the registry:"
  skopeo inspect --raw --tls-verify=false "docker://$hello" | $PY -c 'import json, sys; [print("  ", m["platform"]["os"] + "/" + m["platform"]["architecture"] + ("/" + m["platform"]["variant"] if "variant" in m["platform"] else ""), m["digest"][:19]) for m in json.load(sys.stdin).get("manifests", [])]'
  echo "-- node-production.oci.tar:"
  skopeo inspect "oci-archive:$out/node-production.oci.tar" | $PY -c 'import json, sys; d = json.load(sys.stdin); print("  ", d["Digest"][:19], len(d["Layers"]), "layers", d["Labels"])'
fi
echo "-- in $out:"
find "$out" -maxdepth 2 | sort | sed "s|^|   |"
found=0
for f in "$out"/go-cross/*/hello "$out"/go-cross/hello; do
  if [ -x "$f" ]; then echo "-- $f says: $("$f" 2>/dev/null || head -c 200 "$f" | tr '\n' ' ')"; found=1; fi
done
[ "$found" = 1 ] || { echo "the go-cross binaries were not written to $out/go-cross" >&2; exit 1; }

echo "== the same builds again: everything is cached"
start=$($PY -c 'import time; print(time.time())')
(cd examples/go-cross && $BAKE --progress=quiet "${cross[@]}" default binaries --set "binaries.output=type=local,dest=$out/go-cross")
(cd examples/node-monorepo && $BAKE --progress=quiet "${host_only[@]}")
(cd examples/matrix-release && $BAKE --progress=quiet "${host_only[@]}")
echo "   three warm rebuilds (matrix-release exports its cache again, as buildx does) in $($PY -c "import time; print(f'{time.time() - $start:.2f}')") s"
echo "== examples/matrix-release on a fresh bake root: its cache comes from the registry, nothing runs"
(cd examples/matrix-release && BAKE_ROOT=$work/fresh-root $BAKE --progress=plain "${host_only[@]}" 2>&1 | grep -E "^#[0-9]+ (\[|CACHED|DONE)" | head -12)
