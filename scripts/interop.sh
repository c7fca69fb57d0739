#!/usr/bin/env bash
# Cross-backend interop: examples/https_client built on the ring backend
# (`--no-default-features --features std,ring`, its own target directory)
# fetches a page from llserver built on aws-lc-rs, over TLS 1.3 and TLS 1.2.
# Exits non-zero unless both responses arrive whole.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

cargo build --bins
cargo build --example https_client --no-default-features --features std,ring \
    --target-dir target/ring
client=target/ring/debug/examples/https_client

for version in 1.3 1.2; do
    exec 3< <(exec timeout 60 target/debug/llserver --certs certs/ --port 0 \
        --protover "$version" http 2>/dev/null)
    server=$!
    port=$(llserver_port 3)
    response=$(timeout 30 "$client" "127.0.0.1:$port" localhost certs/ca.pem)
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    case "$response" in
    "HTTP/1.0 200 OK"*"Hello world"*) echo "interop: TLS $version, ring client, aws-lc-rs server: ok" ;;
    *) echo "interop: TLS $version: unexpected response: $response" >&2; exit 1 ;;
    esac
done
