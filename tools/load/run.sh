#!/usr/bin/env bash
# Load run for docs/contract.md §12: GET /api/v1/me and sign-in under wrk, with the
# server's RSS, against the embedded SQLite and (with RESGUARDO_LOAD_MYSQL)
# MariaDB. Loopback only; every wrk run is bounded in time.
#
#   bash tools/load/run.sh                       # SQLite
#   RESGUARDO_LOAD_MYSQL=mysql://root@127.0.0.1:3306/rgload bash tools/load/run.sh
#
# Needs wrk (Debian package) and curl.
set -euo pipefail
cd "$(dirname "$0")/../.."
here=tools/load
duration=${DURATION:-20s}
go build -trimpath -o bin/resguardo ./cmd/resguardo

source tools/load/serve.sh
base=http://127.0.0.1:18080

json=(-H 'Content-Type: application/json')
curl -sf "${json[@]}" -d '{"email":"load@example.com","password":"correct horse battery staple","name":"Load Test"}' "$base/api/v1/auth/register" >/dev/null
access=$(curl -sf "${json[@]}" -d '{"email":"load@example.com","password":"correct horse battery staple"}' "$base/api/v1/auth/login" |
	sed -E 's/.*"access_token":"([^"]+)".*/\1/')
auth=(-H "Authorization: Bearer $access")
curl -sf "${json[@]}" "${auth[@]}" -d '{"number":"+34612345678"}' "$base/api/v1/me/phones" >/dev/null
curl -sf "${json[@]}" "${auth[@]}" -d '{"line1":"Calle Mayor 1","city":"Madrid","country":"ES"}' "$base/api/v1/me/addresses" >/dev/null

rss() { awk '/VmHWM/ {print $2/1024 " MiB peak"} /VmRSS/ {print $2/1024 " MiB now"}' "/proc/$pid/status" | paste -sd' '; }

echo "== $backend: GET /api/v1/me, 64 connections, $duration"
wrk -t2 -c64 -d"$duration" --latency -H "Authorization: Bearer $access" "$base/api/v1/me" | grep -E 'Requests/sec|Latency|99%|Non-2xx|Socket'
echo "server RSS after /me: $(rss)"

echo "== $backend: POST /api/v1/auth/login, 16 connections, $duration"
wrk -t2 -c16 -d"$duration" --latency -s "$here/login.lua" "$base/api/v1/auth/login" | grep -E 'Requests/sec|Latency|99%|Non-2xx|Socket'

echo "== $backend: sign-in flood, 200 connections, $duration"
wrk -t2 -c200 -d"$duration" --timeout 10s -s "$here/login.lua" "$base/api/v1/auth/login" | grep -E 'Requests/sec|Non-2xx|Socket'
echo "server RSS after flood: $(rss)"
kill -0 "$pid" && echo "server still up"
