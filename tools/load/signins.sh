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

source tools/load/serve.sh
echo "== $backend"
timeout 900 bin/signins -base http://127.0.0.1:18080 -customers "${CUSTOMERS:-500}" -conc "${CONC:-16}" -duration "${DURATION:-20s}"
