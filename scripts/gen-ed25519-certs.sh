#!/usr/bin/env bash
# Regenerates tests/data/ed25519/: an Ed25519 root CA, a server leaf and a client leaf.
#
# The hostile-peer tests (tests/harness/hostile/) replay recorded TLS exchanges against fresh
# connections, which only works if every handshake message is reproducible. Ed25519 signatures
# are deterministic (ECDSA and RSA-PSS signatures are not), so these keys make the server's
# CertificateVerify, and with it the whole handshake, the same on every run.
#
# Usage: scripts/gen-ed25519-certs.sh   (OpenSSL 3.0 command line; valid 3650 days from the run)
set -euo pipefail

root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$root_dir/tests/data/ed25519"
days=3650
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

openssl genpkey -algorithm ED25519 -out "$out/ca.key"
openssl genpkey -algorithm ED25519 -out "$out/server.key"
openssl genpkey -algorithm ED25519 -out "$out/client.key"

openssl req -x509 -new -key "$out/ca.key" -days "$days" -subj "/O=lltls test/CN=lltls test Ed25519 root CA" \
    -addext "basicConstraints=critical,CA:true" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$out/ca.pem"

cat >"$work/server.ext" <<EOT
basicConstraints=critical,CA:false
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
EOT
cat >"$work/client.ext" <<EOT
basicConstraints=critical,CA:false
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
EOT

for leaf in server client; do
    openssl req -new -key "$out/$leaf.key" -subj "/O=lltls test/CN=lltls test Ed25519 $leaf" -out "$work/$leaf.csr"
    openssl x509 -req -in "$work/$leaf.csr" -CA "$out/ca.pem" -CAkey "$out/ca.key" -CAcreateserial \
        -CAserial "$work/serial" -days "$days" -extfile "$work/$leaf.ext" -out "$out/$leaf.pem" 2>/dev/null
    cat "$out/$leaf.pem" "$out/ca.pem" >"$out/$leaf-fullchain.pem"
done
rm -f "$out/server.pem" "$out/client.pem"
