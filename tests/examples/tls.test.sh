#!/usr/bin/env bash
# examples/tls: the stream over beast::ssl_stream<beast::tcp_stream>.
#   tls.test.sh <path to tls_server>
# Makes a self-signed certificate for 127.0.0.1 now, starts the server with it, and reads
# /events with `curl -N --cacert`: the TLS handshake verifies against that certificate and a
# tick arrives through the encrypted stream. Without --cacert curl must refuse the peer.
source "$(dirname "${BASH_SOURCE[0]}")/support.sh"
app=$1

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
    -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>"$work/openssl.log" ||
    fail "openssl could not make a certificate"
start_server tls_server "$app" 127.0.0.1 0 "$work/cert.pem" "$work/key.pem"

rc=0
curl -sS --max-time 10 -o /dev/null "https://127.0.0.1:$port/events" 2>/dev/null || rc=$?
[[ $rc == 60 ]] || fail "curl without --cacert: expected a certificate error (60), got $rc"

open_stream events -i --cacert "$work/cert.pem" "https://127.0.0.1:$port/events"
expect events '^HTTP/1\.1 200'
expect events '^[Cc]ontent-[Tt]ype: text/event-stream$'
expect events '^event: connection$'
expect events '^event: tick$'
expect events '^data: \{"n":[0-9]+\}$'
echo "PASS"
