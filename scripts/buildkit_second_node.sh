#!/bin/sh
# Start a second buildkitd for the remote builder's multi-node and TLS tests: loopback TCP with TLS
# (a throwaway CA, server and client certificates), its own root and state, pinned to linux/386.
# It never touches another daemon's root or socket. Usage:
#   scripts/buildkit_second_node.sh start BIN_DIR [DIR] [PORT]   (BIN_DIR holds buildkitd; DIR default /tmp/bake-bk2)
#   scripts/buildkit_second_node.sh stop [DIR]
# then, with the first daemon at unix:///work/ref/buildkitd.sock:
#   BAKE_TEST_BUILDKIT_HOSTS="unix:///work/ref/buildkitd.sock tcp://127.0.0.1:12342" \
#   BAKE_TEST_BUILDKIT_TLS=DIR/certs pytest tests/integration/test_remote_builder.py
set -eu
cmd=${1:-}
case "$cmd" in
start)
  bin=$2; dir=${3:-/tmp/bake-bk2}; port=${4:-12342}
  mkdir -p "$dir/certs" "$dir/root"
  c=$dir/certs
  if [ ! -f "$c/client.pem" ]; then
    openssl req -x509 -newkey rsa:2048 -nodes -days 7 -subj "/CN=bake-test-ca" -keyout "$c/ca.key" -out "$c/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=buildkitd" -keyout "$c/server.key" -out "$c/server.csr" 2>/dev/null
    printf "subjectAltName=IP:127.0.0.1,DNS:localhost\n" > "$c/ext"
    openssl x509 -req -in "$c/server.csr" -CA "$c/ca.pem" -CAkey "$c/ca.key" -CAcreateserial -days 7 -extfile "$c/ext" \
      -out "$c/server.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=client" -keyout "$c/client.key" -out "$c/client.csr" 2>/dev/null
    openssl x509 -req -in "$c/client.csr" -CA "$c/ca.pem" -CAkey "$c/ca.key" -CAcreateserial -days 7 -out "$c/client.pem" 2>/dev/null
  fi
  cat > "$dir/buildkitd.toml" <<TOML
root = "$dir/root"
[grpc]
  address = [ "tcp://127.0.0.1:$port" ]
  [grpc.tls]
    cert = "$c/server.pem"
    key = "$c/server.key"
    ca = "$c/ca.pem"
[otel]
  socketPath = "$dir/otel-grpc.sock"
[worker.oci]
  enabled = true
  binary = "runc"
  platforms = [ "linux/386" ]
[worker.containerd]
  enabled = false
[registry."127.0.0.1:5000"]
  http = true
  insecure = true
[registry."docker.io"]
  mirrors = [ "127.0.0.1:5000" ]
TOML
  setsid nohup "$bin/buildkitd" --config "$dir/buildkitd.toml" >> "$dir/buildkitd.log" 2>&1 < /dev/null &
  echo $! > "$dir/pid"
  echo "buildkitd pid $(cat "$dir/pid") on tcp://127.0.0.1:$port (TLS files in $c)"
  ;;
stop)
  dir=${2:-/tmp/bake-bk2}
  [ -f "$dir/pid" ] && kill "$(cat "$dir/pid")" && rm -f "$dir/pid"
  ;;
*)
  echo "usage: $0 start BIN_DIR [DIR] [PORT] | stop [DIR]" >&2; exit 2 ;;
esac
