#!/usr/bin/env bash
# Sign-in load run (issue 14): 500 customers signing in with the right
# password over 16 connections from one address must never get 429. Runs
# against the embedded SQLite, or MariaDB with RESGUARDO_LOAD_MYSQL.
# Loopback only; bounded in time.
#
#   bash tools/load/signins.sh
#   RESGUARDO_LOAD_MYSQL=mysql://root@127.0.0.1:3306/rgload bash tools/load/signins.sh
#
# CUSTOMERS, CONC and DURATION (Go duration) change the shape.
set -euo pipefail
cd "$(dirname "$0")/../.."
go build -trimpath -o bin/resguardo ./cmd/resguardo
go build -trimpath -o bin/signins ./tools/load/signins

work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
args=(serve --data-dir "$work/data" --addr 127.0.0.1:18080 --staff-addr 127.0.0.1:18081 --log-level error)
backend=sqlite
if [ -n "${RESGUARDO_LOAD_MYSQL:-}" ]; then
	backend=mariadb
	db=${RESGUARDO_LOAD_MYSQL##*/}
	mariadb -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS \`$db\`; CREATE DATABASE \`$db\`"
	export RESGUARDO_DATABASE=$RESGUARDO_LOAD_MYSQL
	args+=(--migrate)
fi
bin/resguardo "${args[@]}" &
pid=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:18080/readyz >/dev/null && break; sleep 0.1; done
echo "== $backend"
timeout 900 bin/signins -base http://127.0.0.1:18080 -customers "${CUSTOMERS:-500}" -conc "${CONC:-16}" -duration "${DURATION:-20s}"
