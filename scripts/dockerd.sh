#!/usr/bin/env bash
# A private dockerd (Debian's docker.io: dockerd with its built-in BuildKit, a managed containerd,
# runc) for the `docker` driver and `--load` tests. It never touches a system engine: its own
# socket, data root, exec root and pid file live under one directory.
#
#   scripts/dockerd.sh start [DIR [DOCKERD-FLAG...]]   start (or reuse) it; prints DOCKER_HOST=unix://DIR/docker.sock
#   scripts/dockerd.sh stop [DIR]                      stop the one started there (by its pid file)
#
# Extra flags go to dockerd, e.g. --registry-mirror=http://127.0.0.1:5000 (a docker.io mirror).
#
# DIR defaults to $BAKE_DOCKERD_DIR, else /tmp/bake-dockerd. Needs root.
# --iptables=false: no firewall rules on the host. The default bridge stays: with --bridge=none
# every RUN of a build fails ("network bridge not found").
set -euo pipefail
cmd="${1:-}"
dir="$(realpath -m "${2:-${BAKE_DOCKERD_DIR:-/tmp/bake-dockerd}}")"
extra=("${@:3}")
sock="$dir/docker.sock"
pidfile="$dir/dockerd.pid"

alive() {
  [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

ping() {
  [ -S "$sock" ] && python3 - "$sock" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
try:
    s.connect(sys.argv[1])
    s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
    sys.exit(0 if s.recv(64).startswith(b"HTTP/1.") else 1)
except OSError:
    sys.exit(1)
EOF
}

case "$cmd" in
  start)
    command -v dockerd >/dev/null 2>&1 || { echo "dockerd not found (apt-get install docker.io)" >&2; exit 2; }
    [ "$(id -u)" = 0 ] || { echo "dockerd needs root" >&2; exit 2; }
    mkdir -p "$dir"
    if alive && ping; then
      echo "DOCKER_HOST=unix://$sock"
      exit 0
    fi
    dockerd --host "unix://$sock" --data-root "$dir/data" --exec-root "$dir/exec" --pidfile "$pidfile" \
      --iptables=false --ip-masq=false --userland-proxy=false ${extra[@]+"${extra[@]}"} \
      >"$dir/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 150); do
      if ping; then
        echo "DOCKER_HOST=unix://$sock"
        exit 0
      fi
      if ! kill -0 $! 2>/dev/null; then
        break
      fi
      sleep 0.2
    done
    echo "dockerd did not start; the end of $dir/dockerd.log:" >&2
    tail -n 20 "$dir/dockerd.log" >&2
    exit 1
    ;;
  stop)
    if alive; then
      pid="$(cat "$pidfile")"
      kill "$pid"
      for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
    fi
    ;;
  *)
    echo "usage: $0 start|stop [DIR]" >&2
    exit 2
    ;;
esac
