#!/usr/bin/env bash
# Make a throw-away certificate authority and, signed by it, a certificate
# for secure.test (and www.secure.test, old-secure.test), for the
# nginx_proxy scenario's HTTPS site. usage: make-test-cert.sh DIR
set -euo pipefail
dir="$1"
cd "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj "/CN=flaskops test CA" -keyout ca.key -out ca.crt 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=secure.test" -keyout secure.test.key -out secure.test.csr 2>/dev/null
printf 'subjectAltName=DNS:secure.test,DNS:www.secure.test,DNS:old-secure.test\nextendedKeyUsage=serverAuth\n' > ext.cnf
openssl x509 -req -in secure.test.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 30 \
  -extfile ext.cnf -out secure.test.crt 2>/dev/null
rm -f secure.test.csr ext.cnf ca.srl
