#!/usr/bin/env bash
# Checks the container image's contents without a container engine: lays out the root
# file system with rootfs.sh (as the Containerfile's build stage does) and checks that
#   - the binary is static (file, ldd) and built with CGO_ENABLED=0 and -trimpath;
#   - the tree holds only the binary, CA certificates, passwd/group, /data and /tmp
#     (no shell, no other program);
#   - the user is not root, and /data belongs to it with mode 0700;
#   - `resguardo version` runs from the tree under chroot as that user; and, as root
#     with unshare, `resguardo serve` starts from the tree mounted read-only, as that
#     user, writing only to a volume on /data, and answers /readyz.
# It does not build or run an image: see deploy/README.md for what that leaves unchecked.
#
# Usage: deploy/container/verify.sh   (from anywhere; root for the chroot steps)
set -euo pipefail

cd "$(dirname "$0")/../.."
fail() { printf 'container check: %s\n' "$*" >&2; exit 1; }
ok() { printf 'container check: %s: ok\n' "$*"; }

work="$(mktemp -d)"
server=""
cleanup() {
	if [ -n "$server" ]; then
		# unshare --fork ignores SIGTERM while it waits: stop the server it forked.
		for child in $(ps -o pid= --ppid "$server"); do
			kill "$child" 2>/dev/null || true
		done
		wait "$server" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
root="$work/rootfs"
sh deploy/container/rootfs.sh "$root" verify >/dev/null
bin="$root/usr/local/bin/resguardo"

# Static binary.
file "$bin" | grep -q 'statically linked' || fail "not statically linked: $(file "$bin")"
if ldd "$bin" >/dev/null 2>&1; then fail "ldd lists shared libraries: $(ldd "$bin")"; fi
info="$(go version -m "$bin")"
grep -q 'CGO_ENABLED=0' <<<"$info" || fail "built without CGO_ENABLED=0"
grep -q -- '-trimpath=true' <<<"$info" || fail "built without -trimpath"
ok "static binary (CGO_ENABLED=0, -trimpath)"

# Exactly the expected files: no shell, no other program.
want='/data
/etc
/etc/group
/etc/passwd
/etc/ssl
/etc/ssl/certs
/etc/ssl/certs/ca-certificates.crt
/tmp
/usr
/usr/local
/usr/local/bin
/usr/local/bin/resguardo'
got="$(cd "$root" && find . -mindepth 1 | sed 's|^\.||' | LC_ALL=C sort)"
[ "$got" = "$want" ] || fail "unexpected tree:
$got"
grep -q 'BEGIN CERTIFICATE' "$root/etc/ssl/certs/ca-certificates.crt" || fail "no CA certificates"
ok "tree holds only the binary, CA certificates, passwd/group, /data, /tmp"

# Non-root user owning the volume.
IFS=: read -r name _ uid gid _ home shell <"$root/etc/passwd"
[ "$uid" != 0 ] && [ "$gid" != 0 ] || fail "the image's user is root"
[ "$(wc -l <"$root/etc/passwd")" = 1 ] || fail "passwd has more than one user"
[ "$home" = /data ] && [ ! -e "$root$shell" ] || fail "unexpected home $home or an existing shell $shell"
grep -q '^USER 65532:65532$' deploy/container/Containerfile || fail "Containerfile does not run as 65532"
[ "$uid" = 65532 ] || fail "passwd names uid $uid, the Containerfile 65532"
ok "runs as $name ($uid:$gid), no login shell"

if [ "$(id -u)" != 0 ]; then
	printf 'container check: not root: chroot and read-only mount steps skipped\n'
	exit 0
fi
[ "$(stat -c '%u:%g %a' "$root/data")" = "$uid:$gid 700" ] || fail "/data is $(stat -c '%u:%g %a' "$root/data"), want $uid:$gid 700"
ok "/data owned by $uid:$gid, mode 0700"

out="$(env -i /usr/sbin/chroot --userspec="$uid:$gid" "$root" /usr/local/bin/resguardo version)" || fail "resguardo version under chroot failed"
[ "$out" = "resguardo verify" ] || fail "resguardo version printed $out"
ok "resguardo version runs in the tree as $uid"

# serve from the tree mounted read-only, a volume on /data and a tmpfs on /tmp, as the
# compose file runs it.
vol="$work/volume"
install -d -o "$uid" -g "$gid" -m 0700 "$vol"
log="$work/serve.log"
unshare --mount --fork sh -c '
	set -e
	mount --bind "$1" "$1"
	mount -o remount,bind,ro "$1"
	mount -t tmpfs -o mode=1777 tmpfs "$1/tmp"
	mount --bind "$2" "$1/data"
	exec env -i RESGUARDO_DATA_DIR=/data /usr/sbin/chroot --userspec="$3" "$1" \
		/usr/local/bin/resguardo serve --addr 127.0.0.1:0 --staff-addr 127.0.0.1:0
' sh "$root" "$vol" "$uid:$gid" >"$log" 2>&1 &
server=$!
site=""
for _ in $(seq 300); do
	site="$(sed -n 's/.*"msg":"ready".*"site":"\([^"]*\)".*/\1/p' "$log")"
	[ -n "$site" ] && break
	kill -0 "$server" 2>/dev/null || break
	sleep 0.1
done
[ -n "$site" ] || fail "serve did not start from the read-only tree:
$(cat "$log")"
[ "$(curl -fsS "$site/readyz" -o /dev/null -w '%{http_code}')" = 200 ] || fail "GET $site/readyz failed"
touch_err="$(unshare --mount sh -c 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && touch "$1/x"' sh "$root" 2>&1)" && fail "the read-only tree was writable"
grep -q 'Read-only' <<<"$touch_err" || fail "unexpected error writing the tree: $touch_err"
others="$(find "$vol" ! -user "$uid" | head -1)"
[ -z "$others" ] || fail "the server wrote $others as another user"
[ -s "$vol/resguardo.db" ] || fail "no database in the volume"
ok "serve runs from the read-only tree as $uid, writes only /data, answers /readyz"

# The secrets compose.yaml mounts: make-secrets.sh writes every one, the database
# certificate is valid for the name compose gives MariaDB, and the database URL asks for
# verified TLS against that CA.
secrets="$work/secrets"
SECRETS_DIR="$secrets" deploy/container/make-secrets.sh "$bin" >/dev/null
for f in $(sed -n 's|^ *file: \./secrets/||p' deploy/container/compose.yaml); do
	[ -s "$secrets/$f" ] || fail "make-secrets.sh did not write secrets/$f, which compose.yaml mounts"
done
openssl verify -CAfile "$secrets/db-ca.crt" -verify_hostname mariadb "$secrets/db-server.crt" >/dev/null ||
	fail "the MariaDB certificate does not verify for the name mariadb"
grep -q '@mariadb:3306/resguardo?tls=true&ca=/run/secrets/db_ca$' "$secrets/database-url" || fail "database URL does not ask for verified TLS"
[ "$(stat -c %u "$secrets/master.key")" = "$uid" ] || fail "master.key is not readable by the image's user"
ok "make-secrets.sh writes every secret compose.yaml mounts; database TLS verifies for mariadb"
