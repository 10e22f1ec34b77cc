#!/usr/bin/env bash
# Writes the secrets compose.yaml mounts into deploy/container/secrets/ (git-ignored):
# the master key (made by `resguardo keys init` on a throw-away SQLite directory, so it
# is the same kind of key `keys init` makes), the database password and URL, a CA and a
# server certificate for MariaDB (name "mariadb", as on the compose network), and a
# self-signed certificate for resguardo's listeners to try it on localhost.
# Existing files are kept: run it again to fill in only what is missing.
#
# Usage: [SECRETS_DIR=DIR] deploy/container/make-secrets.sh [RESGUARDO_BINARY]
#   (default: bin/resguardo, built with `make build` if missing; needs openssl)
set -euo pipefail

cd "$(dirname "$0")/../.."
dir="${SECRETS_DIR:-deploy/container/secrets}"
bin="${1:-bin/resguardo}"
uid=65532     # the image's user (deploy/container/rootfs.sh)
db_uid=999    # mysql in the official MariaDB image
umask 077
mkdir -p "$dir"
command -v openssl >/dev/null || { echo "make-secrets.sh: needs openssl" >&2; exit 1; }
[ -x "$bin" ] || make build >/dev/null

if [ ! -s "$dir/master.key" ]; then
	tmp="$(mktemp -d)"
	"$bin" keys init --data-dir "$tmp" --master-key-file "$dir/master.key" --log-level error >/dev/null
	rm -rf "$tmp"
fi
if [ ! -s "$dir/db-password" ]; then
	openssl rand -hex 24 | tr -d '\n' >"$dir/db-password"
fi
if [ ! -s "$dir/database-url" ]; then
	printf 'mysql://resguardo:%s@mariadb:3306/resguardo?tls=true&ca=/run/secrets/db_ca' "$(cat "$dir/db-password")" >"$dir/database-url"
fi
if [ ! -s "$dir/db-ca.crt" ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
		-subj "/CN=resguardo database CA" -keyout "$dir/db-ca.key" -out "$dir/db-ca.crt" 2>/dev/null
	rm -f "$dir/db-server.crt"
fi
if [ ! -s "$dir/db-server.crt" ]; then
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=mariadb" \
		-keyout "$dir/db-server.key" -out "$dir/db-server.csr" 2>/dev/null
	openssl x509 -req -in "$dir/db-server.csr" -CA "$dir/db-ca.crt" -CAkey "$dir/db-ca.key" -CAcreateserial \
		-days 825 -extfile <(printf 'subjectAltName=DNS:mariadb\nextendedKeyUsage=serverAuth\n') \
		-out "$dir/db-server.crt" 2>/dev/null
	rm -f "$dir/db-server.csr" "$dir/db-ca.srl"
fi
if [ ! -s "$dir/tls.crt" ]; then
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 90 -subj "/CN=localhost" \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$dir/tls.key" -out "$dir/tls.crt" 2>/dev/null
fi
chmod 0400 "$dir"/*
# Compose mounts file secrets with their owner and mode: each must be readable by the
# container user that reads it (the CA key stays root's and is never mounted).
if [ "$(id -u)" = 0 ]; then
	chown "$uid:$uid" "$dir/master.key" "$dir/database-url" "$dir/tls.crt" "$dir/tls.key"
	chown "$db_uid:$db_uid" "$dir/db-server.key" "$dir/db-password"
	chmod 0444 "$dir/db-ca.crt" "$dir/db-server.crt"
else
	echo "make-secrets.sh: not root: give master.key, database-url, tls.* to uid $uid and db-server.key, db-password to uid $db_uid (or use rootless podman's mapping)" >&2
fi
echo "secrets in $dir:"
ls -l "$dir"
