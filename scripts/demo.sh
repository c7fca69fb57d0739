#!/usr/bin/env bash
# The main job: build llserver and llclient, start the server on a free
# loopback port in http mode, and run one exchange through the client,
# showing the TLS records that cross the wire.
#
#   scripts/demo.sh            # ECDSA certificates (certs/)
#   scripts/demo.sh certs/rsa  # RSA-2048 certificates
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh
pki=${1:-certs}
pki=${pki%/}

[ -f "$pki/fullchain.pem" ] || scripts/gen-certs.sh
# The first build compiles aws-lc (a few minutes on two cores): say so, and
# show cargo's progress rather than a silent wait.
if [ ! -x "${CARGO_TARGET_DIR:-target}/debug/llserver" ]; then
    echo "== building llserver and llclient (the first build compiles aws-lc: a few minutes)" >&2
fi
cargo build --bins
bin=${CARGO_TARGET_DIR:-target}/debug

# `--port 0` lets the kernel pick a free port; the server prints the address
# it bound on its first stdout line.
exec 3< <(exec "$bin/llserver" --certs "$pki/" --port 0 --trace http 2>&1)
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT

port=$(llserver_port 3)
echo "== llserver listening on port $port"
echo "== llclient --http --cafile $pki/ca.pem --port $port --trace localhost"
timeout 20 "$bin/llclient" --http --cafile "$pki/ca.pem" --port "$port" --trace localhost
echo "== server side"
# The server's trace lines for this connection, without waiting for more.
while read -r -t 1 -u 3 line; do
    printf 'server: %s\n' "$line"
done || true
