#!/usr/bin/env bash
# Cross-backend interop, every cipher suite, both directions:
# - examples/https_client built on the ring backend (`--no-default-features
#   --features std,ring`, its own target directory) fetches a page from
#   llserver (aws-lc-rs) narrowed to the suite;
# - llclient (aws-lc-rs) fetches a page from examples/https_server_pump built
#   on ring and narrowed to the suite;
# - examples/https_client_pump (the Pump, default build) fetches from
#   llserver too;
# - examples/split_echo (split halves on two threads) echoes a file back
#   to llclient, byte for byte.
# Exits non-zero unless every response arrives whole.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/common.sh

cargo build --bins --example https_client_pump --example split_echo
cargo build --examples --no-default-features --features std,ring --target-dir target/ring
ring=target/ring/debug/examples

fetched() { # what, response
    case "$2" in
    "HTTP/1.0 200 OK"*"Hello world"*) echo "interop: $1: ok" ;;
    *) echo "interop: $1: unexpected response: $2" >&2; exit 1 ;;
    esac
}

for suite in TLS13_AES_128_GCM_SHA256 TLS13_AES_256_GCM_SHA384 TLS13_CHACHA20_POLY1305_SHA256 \
    TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384 \
    TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256; do
    # aws-lc-rs server; the ring client, then the pump client.
    exec 3< <(exec timeout 60 target/debug/llserver --certs certs/ --port 0 --suite "$suite" http 2>/dev/null)
    server=$!
    port=$(llserver_port 3)
    fetched "$suite, ring client -> aws-lc-rs llserver" \
        "$(timeout 30 "$ring/https_client" "127.0.0.1:$port" localhost certs/ca.pem)"
    fetched "$suite, pump client -> aws-lc-rs llserver" \
        "$(timeout 30 target/debug/examples/https_client_pump "127.0.0.1:$port" localhost certs/ca.pem)"
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true

    # ring server; llclient.
    exec 3< <(exec timeout 60 "$ring/https_server_pump" certs/fullchain.pem certs/server.key "$suite" 1)
    server=$!
    port=$(llserver_port 3)
    fetched "$suite, aws-lc-rs llclient -> ring server" \
        "$(timeout 30 target/debug/llclient --http --cafile certs/ca.pem --port "$port" localhost 2>/dev/null)"
    read -r -t 10 -u 3 served || true
    [ "$served" = "served Some($suite)" ] || { echo "interop: ring server: $served" >&2; exit 1; }
    wait "$server"
done

# Split halves: a 3 MiB file echoed through the two-thread server.
input=$(mktemp)
output=$(mktemp)
trap 'rm -f "$input" "$output"' EXIT
head -c 3145728 /dev/urandom >"$input"
exec 3< <(exec timeout 60 target/debug/examples/split_echo certs/fullchain.pem certs/server.key)
server=$!
port=$(llserver_port 3)
timeout 60 target/debug/llclient --cafile certs/ca.pem --port "$port" localhost <"$input" >"$output" 2>/dev/null
wait "$server"
cmp "$input" "$output" || { echo "interop: split_echo: the echo differs" >&2; exit 1; }
echo "interop: split_echo: $(wc -c <"$output")B echoed by the split halves: ok"
