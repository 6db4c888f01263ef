#!/bin/sh
# make-certs.sh DIR: the test PKI for the fake Azure server (EC P-256, fast).
#   ca.pem ca-key.pem                  test CA
#   server.pem server-key.pem          signed by ca; SAN IP:127.0.0.1, DNS:localhost, DNS:*.blob.localhost
#                                      (preflight's blob check: curl resolves *.localhost itself); 10 years
#   other-ca.pem                       a second CA nobody trusts
#   untrusted.pem untrusted-key.pem    same SANs, signed by other-ca
#   expired.pem expired-key.pem        signed by ca, validity entirely in the past
#   wronghost.pem wronghost-key.pem    signed by ca, SAN DNS:wrong.example only
#   notyet.pem notyet-key.pem          signed by ca, validity entirely in the future (2099)
# Idempotent (nothing is redone when every file exists), quiet unless it fails.
# Files are made in a temporary directory and moved into DIR only when all succeeded.
set -eu

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 64; }
out=$1
files="ca.pem ca-key.pem server.pem server-key.pem other-ca.pem untrusted.pem untrusted-key.pem
expired.pem expired-key.pem wronghost.pem wronghost-key.pem notyet.pem notyet-key.pem"

missing=0
for f in $files; do
        [ -s "$out/$f" ] || missing=1
done
[ $missing -eq 1 ] || exit 0

command -v openssl >/dev/null 2>&1 || { echo "$0: openssl not found" >&2; exit 69; }
mkdir -p "$out"
umask 077
tmp=$(mktemp -d "${TMPDIR:-/tmp}/make-certs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
log=$tmp/log

run() {
        if ! "$@" >>"$log" 2>&1; then
                echo "$0: failed: $*" >&2
                cat "$log" >&2
                exit 1
        fi
}

cat >"$tmp/openssl.cnf" <<CNF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost,DNS:*.blob.localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[wronghost_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ca]
default_ca = expired_ca
[expired_ca]
database = $tmp/index.txt
new_certs_dir = $tmp/newcerts
serial = $tmp/serial
default_md = sha256
policy = any_name
unique_subject = no
copy_extensions = none
[any_name]
commonName = supplied
CNF
: >"$tmp/index.txt"
echo 01 >"$tmp/serial"
mkdir "$tmp/newcerts"

key() {
        run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/$1"
}

ca() {  # name key CN
        key "$2"
        run openssl req -new -x509 -config "$tmp/openssl.cnf" -key "$tmp/$2" -subj "/CN=$3" \
                -days 3650 -sha256 -extensions ca_ext -out "$tmp/$1"
}

leaf() {  # name key CN ca ca-key extensions
        key "$2"
        run openssl req -new -config "$tmp/openssl.cnf" -key "$tmp/$2" -subj "/CN=$3" -out "$tmp/$1.csr"
        run openssl x509 -req -in "$tmp/$1.csr" -CA "$tmp/$4" -CAkey "$tmp/$5" \
                -set_serial "0x$(openssl rand -hex 8)" -days 3650 -sha256 \
                -extfile "$tmp/openssl.cnf" -extensions "$6" -out "$tmp/$1"
}

ca ca.pem ca-key.pem "vsensor-init test CA"
ca other-ca.pem other-ca-key.pem "vsensor-init other test CA"
leaf server.pem server-key.pem localhost ca.pem ca-key.pem server_ext
leaf untrusted.pem untrusted-key.pem localhost other-ca.pem other-ca-key.pem server_ext
leaf wronghost.pem wronghost-key.pem wrong.example ca.pem ca-key.pem wronghost_ext

# OpenSSL 3.0's x509 cannot backdate; `openssl ca` can.
key expired-key.pem
run openssl req -new -config "$tmp/openssl.cnf" -key "$tmp/expired-key.pem" -subj "/CN=localhost" \
        -out "$tmp/expired.csr"
run openssl ca -batch -notext -config "$tmp/openssl.cnf" -cert "$tmp/ca.pem" -keyfile "$tmp/ca-key.pem" \
        -startdate 20200101000000Z -enddate 20210101000000Z -extfile "$tmp/openssl.cnf" \
        -extensions server_ext -in "$tmp/expired.csr" -out "$tmp/expired.pem"

# Not yet valid (a clock far behind sees the same): `openssl ca` takes a future start too.
key notyet-key.pem
run openssl req -new -config "$tmp/openssl.cnf" -key "$tmp/notyet-key.pem" -subj "/CN=localhost" \
        -out "$tmp/notyet.csr"
run openssl ca -batch -notext -config "$tmp/openssl.cnf" -cert "$tmp/ca.pem" -keyfile "$tmp/ca-key.pem" \
        -startdate 20990101000000Z -enddate 21000101000000Z -extfile "$tmp/openssl.cnf" \
        -extensions server_ext -in "$tmp/notyet.csr" -out "$tmp/notyet.pem"

# Certificates are public; keys stay 0600.
chmod 0644 "$tmp"/*.pem
chmod 0600 "$tmp"/*-key.pem
for f in $files; do
        mv -f "$tmp/$f" "$out/$f"
done
