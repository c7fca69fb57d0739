#!/usr/bin/env bash
# Cross-backend interop: examples/https_client built on the ring backend
# (`--no-default-features --features std,ring`, its own target directory)
# fetches a page from llserver built on aws-lc-rs, over TLS 1.3 and TLS 1.2.
# The same fetch through examples/https_client_pump (the Pump, default
# build) runs after each. Exits non-zero unless every response arrives whole.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

cargo build --bins --example https_client_pump
cargo build --example https_client --no-default-features --features std,ring \
    --target-dir target/ring
client=target/ring/debug/examples/https_client

for version in 1.3 1.2; do
    exec 3< <(exec timeout 60 target/debug/llserver --certs certs/ --port 0 \
        --protover "$version" http 2>/dev/null)
    server=$!
    port=$(llserver_port 3)
    for run in "ring client:$client" "pump client:target/debug/examples/https_client_pump"; do
        response=$(timeout 30 "${run#*:}" "127.0.0.1:$port" localhost certs/ca.pem)
        case "$response" in
        "HTTP/1.0 200 OK"*"Hello world"*) echo "interop: TLS $version, ${run%%:*}, aws-lc-rs server: ok" ;;
        *) echo "interop: TLS $version, ${run%%:*}: unexpected response: $response" >&2; exit 1 ;;
        esac
    done
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
done
