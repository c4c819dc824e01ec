#!/usr/bin/env bash
# Make a throw-away certificate authority (kept in DIR and reused when it is
# there) and, signed by it, a certificate for NAME and the other names, for
# test hosts that serve HTTPS: the nginx_proxy scenario's site, the acme
# scenario's ACME server. Writes DIR/ca.crt, DIR/NAME.crt and DIR/NAME.key.
#
# usage: make-test-cert.sh DIR NAME [NAME...]
set -euo pipefail
[ "$#" -ge 2 ] || { echo "usage: $0 DIR NAME [NAME...]" >&2; exit 2; }
dir="$1"
name="$2"
shift
cd "$dir"
if [ ! -f ca.crt ]; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=flaskops test CA" -keyout ca.key -out ca.crt 2>/dev/null
fi
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=$name" -keyout "$name.key" -out "$name.csr" 2>/dev/null
san="$(printf 'DNS:%s,' "$@")"
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "${san%,}" > "$name.ext"
openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
  -extfile "$name.ext" -out "$name.crt" 2>/dev/null
rm -f "$name.csr" "$name.ext" ca.srl
