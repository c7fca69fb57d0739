#!/usr/bin/env bash
# Regenerates the test PKI in certs/, certs/rsa/ and tests/data/bigchain/.
#
# Usage: scripts/gen-certs.sh            (from anywhere; paths are relative to the repository)
#
# Only the `openssl` command line is used (written against OpenSSL 3.0). File names and
# certificate contents are fixed; keys, serial numbers and dates are new on every run.
# Certificates are valid for 3650 days from the moment of the run, except the deliberately
# expired and not-yet-valid ones. tests/certs.rs fails 90 days before anything expires.
set -euo pipefail

root_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
certs_dir="$root_dir/certs"
bigchain_dir="$root_dir/tests/data/bigchain"
days=3650

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# openssl's `ca` wants YYYYMMDDHHMMSSZ; GNU date computes the offsets.
timestamp() { date -u -d "$1" +%Y%m%d%H%M%SZ; }

# genkey KIND OUT: a fresh private key in PKCS#8 PEM (`genpkey` always writes PKCS#8).
genkey() {
    case "$1" in
        ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$2" ;;
        rsa) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$2" 2>/dev/null ;;
        *) echo "unknown key kind $1" >&2; exit 1 ;;
    esac
    chmod 600 "$2"
}

# write_conf CA_NAME KIND SANS: an `openssl ca` configuration whose database lives in
# $work/CA_NAME. The database is what lets us revoke certificates, generate CRLs and answer
# OCSP requests. KIND picks the server key usage: keyEncipherment only makes sense for RSA.
write_conf() {
    local name=$1 kind=$2 sans=$3 db="$work/$1"
    local server_ku="digitalSignature"
    if [ "$kind" = rsa ]; then
        server_ku="digitalSignature, keyEncipherment"
    fi
    mkdir -p "$db/newcerts"
    : >"$db/index.txt"
    echo 1000 >"$db/serial"
    echo 1000 >"$db/crlnumber"
    cat >"$db/openssl.cnf" <<EOF
[ ca ]
default_ca = ca_default

[ ca_default ]
database = $db/index.txt
new_certs_dir = $db/newcerts
serial = $db/serial
crlnumber = $db/crlnumber
default_md = sha256
default_days = $days
default_crl_days = $days
policy = policy_any
unique_subject = no
email_in_dn = no
# Extensions come only from the sections below, never from the request.
copy_extensions = none
crl_extensions = crl_ext

# Listed in the order openssl ca writes them into the issued subject.
[ policy_any ]
organizationName = optional
commonName = supplied

[ req ]
distinguished_name = req_dn
prompt = no

[ req_dn ]
CN = unused

# webpki requires CA certificates to carry basicConstraints CA:true and, when keyUsage is
# present, keyCertSign (and cRLSign for the CRL issuer).
[ v3_ca ]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ v3_server ]
basicConstraints = critical, CA:false
keyUsage = critical, $server_ku
extendedKeyUsage = serverAuth
subjectAltName = $sans
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ v3_client ]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ crl_ext ]
authorityKeyIdentifier = keyid:always
EOF
}

# make_root CA_NAME KIND SUBJECT OUT_PREFIX: a self-signed CA certificate and its key.
make_root() {
    local name=$1 kind=$2 subject=$3 out=$4
    genkey "$kind" "$out.key"
    openssl req -x509 -new -config "$work/$name/openssl.cnf" -extensions v3_ca \
        -key "$out.key" -subj "$subject" -days "$days" -sha256 -out "$out.pem"
}

# issue CA_NAME CA_PREFIX KIND EXTENSIONS SUBJECT OUT_PREFIX [openssl ca date options...]:
# a new key and a certificate for it, signed by the CA whose cert and key are CA_PREFIX.{pem,key}.
issue() {
    local name=$1 ca=$2 kind=$3 ext=$4 subject=$5 out=$6
    shift 6
    genkey "$kind" "$out.key"
    openssl req -new -config "$work/$name/openssl.cnf" -key "$out.key" -subj "$subject" \
        -out "$work/req.csr"
    if [ $# -eq 0 ]; then
        set -- -days "$days"
    fi
    openssl ca -batch -notext -config "$work/$name/openssl.cnf" -extensions "$ext" \
        -cert "$ca.pem" -keyfile "$ca.key" -in "$work/req.csr" -out "$out.pem" "$@" 2>/dev/null
}

# make_set DIR KIND LABEL: the core set shared by the ECDSA and RSA directories.
make_set() {
    local dir=$1 kind=$2 label=$3
    local root="root-$kind" inter="inter-$kind"
    mkdir -p "$dir"
    write_conf "$root" "$kind" "DNS:localhost, IP:127.0.0.1, IP:::1"
    write_conf "$inter" "$kind" "DNS:localhost, IP:127.0.0.1, IP:::1"

    make_root "$root" "$kind" "/O=lltls test/CN=lltls test $label root CA" "$dir/ca"
    issue "$root" "$dir/ca" "$kind" v3_ca "/O=lltls test/CN=lltls test $label intermediate CA" \
        "$dir/inter"
    issue "$inter" "$dir/inter" "$kind" v3_server "/O=lltls test/CN=localhost" "$dir/server"
    cat "$dir/server.pem" "$dir/inter.pem" "$dir/ca.pem" >"$dir/fullchain.pem"

    # Client certificates come straight from the root: rustls's client verifier checks
    # revocation along the whole chain and rejects unknown status, so a single CRL from the
    # root then covers every certificate the client presents.
    issue "$root" "$dir/ca" "$kind" v3_client "/O=lltls test/CN=lltls test $label client" \
        "$dir/client"
    issue "$root" "$dir/ca" "$kind" v3_client \
        "/O=lltls test/CN=lltls test $label revoked client" "$dir/revoked-client"
    cat "$dir/client.pem" "$dir/ca.pem" >"$dir/client-fullchain.pem"

    openssl ca -batch -config "$work/$root/openssl.cnf" -cert "$dir/ca.pem" -keyfile "$dir/ca.key" \
        -revoke "$dir/revoked-client.pem" -crl_reason keyCompromise 2>/dev/null
    openssl ca -batch -config "$work/$root/openssl.cnf" -cert "$dir/ca.pem" -keyfile "$dir/ca.key" \
        -gencrl -crldays "$days" -out "$dir/crl.pem" 2>/dev/null
    openssl crl -in "$dir/crl.pem" -outform DER -out "$dir/crl.der"
}

make_set "$certs_dir/rsa" rsa "RSA"
make_set "$certs_dir" ec "ECDSA"

# OCSP response "good" for server.pem, signed by its issuer (the intermediate), for --ocsp.
openssl ocsp -issuer "$certs_dir/inter.pem" -cert "$certs_dir/server.pem" -no_nonce \
    -reqout "$work/ocsp-req.der"
openssl ocsp -index "$work/inter-ec/index.txt" -CA "$certs_dir/inter.pem" \
    -rsigner "$certs_dir/inter.pem" -rkey "$certs_dir/inter.key" -reqin "$work/ocsp-req.der" \
    -ndays "$days" -respout "$certs_dir/ocsp.der" >/dev/null

# An unrelated CA, for "unknown issuer" tests.
write_conf other-ec ec "DNS:localhost"
make_root other-ec ec "/O=lltls test/CN=lltls test other CA" "$certs_dir/other-ca"

# A server certificate that expired a year ago, and one that becomes valid in five years.
# `openssl x509 -req` in 3.0 cannot set explicit dates; `openssl ca` can.
issue inter-ec "$certs_dir/inter" ec v3_server "/O=lltls test/CN=localhost" "$certs_dir/expired" \
    -startdate "$(timestamp '-730 days')" -enddate "$(timestamp '-365 days')"
cat "$certs_dir/expired.pem" "$certs_dir/inter.pem" "$certs_dir/ca.pem" \
    >"$certs_dir/expired-fullchain.pem"
issue inter-ec "$certs_dir/inter" ec v3_server "/O=lltls test/CN=localhost" "$certs_dir/notyet" \
    -startdate "$(timestamp '+1826 days')" -enddate "$(timestamp "+$((1826 + days)) days")"
cat "$certs_dir/notyet.pem" "$certs_dir/inter.pem" "$certs_dir/ca.pem" \
    >"$certs_dir/notyet-fullchain.pem"

# A server chain larger than one TLS record (16 KiB): a leaf with many long DNS names.
# webpki limits each certificate and the whole Certificate message to 64 KiB, so stay
# well below that (about 22 KiB).
mkdir -p "$bigchain_dir"
big_sans="DNS:localhost, IP:127.0.0.1, IP:::1"
for i in $(seq -w 1 400); do
    big_sans="$big_sans, DNS:host-$i-padding-padding-padding.example.com"
done
write_conf bigchain-ec ec "$big_sans"
make_root bigchain-ec ec "/O=lltls test/CN=lltls test bigchain root CA" "$work/bigchain-ca"
issue bigchain-ec "$work/bigchain-ca" ec v3_server "/O=lltls test/CN=localhost" \
    "$bigchain_dir/server"
cp "$work/bigchain-ca.pem" "$bigchain_dir/ca.pem"
cat "$bigchain_dir/server.pem" "$bigchain_dir/ca.pem" >"$bigchain_dir/fullchain.pem"
rm "$bigchain_dir/server.pem"

# Sanity checks, so a broken run fails here rather than in the tests.
openssl verify -CAfile "$certs_dir/ca.pem" -untrusted "$certs_dir/inter.pem" \
    -purpose sslserver "$certs_dir/server.pem" >/dev/null
openssl verify -CAfile "$certs_dir/rsa/ca.pem" -untrusted "$certs_dir/rsa/inter.pem" \
    -purpose sslserver "$certs_dir/rsa/server.pem" >/dev/null
openssl verify -CAfile "$certs_dir/ca.pem" -purpose sslclient "$certs_dir/client.pem" >/dev/null
if openssl verify -crl_check -CAfile "$certs_dir/ca.pem" -CRLfile "$certs_dir/crl.pem" \
    "$certs_dir/revoked-client.pem" >/dev/null 2>&1; then
    echo "revoked-client.pem is not revoked by crl.pem" >&2
    exit 1
fi
openssl ocsp -respin "$certs_dir/ocsp.der" -CAfile "$certs_dir/ca.pem" \
    -VAfile "$certs_dir/inter.pem" -issuer "$certs_dir/inter.pem" -cert "$certs_dir/server.pem" \
    2>/dev/null | grep -q ': good$'
openssl verify -CAfile "$bigchain_dir/ca.pem" -purpose sslserver "$bigchain_dir/fullchain.pem" \
    >/dev/null
big_size=$(openssl x509 -in "$bigchain_dir/fullchain.pem" -outform DER | wc -c)
if [ "$big_size" -le 16384 ]; then
    echo "bigchain leaf is only ${big_size}B" >&2
    exit 1
fi

echo "regenerated $certs_dir, $certs_dir/rsa and $bigchain_dir"
