#!/bin/sh
# Builds resguardo as a static binary and lays out the container image's whole root file
# system in ROOTFS: the binary, the CA certificates, /etc/passwd and /etc/group naming
# one non-root user (65532), an empty /data for the volume and /tmp as a mount point.
# Nothing else: no shell, no package manager, no libc.
#
# The Containerfile runs this in its build stage and copies ROOTFS into an empty
# (scratch) image; deploy/container/verify.sh runs it on the build machine and checks the
# result, so both see the same tree. POSIX sh: the build stage's image may have no bash.
#
# Usage: deploy/container/rootfs.sh ROOTFS [VERSION]   (from the repository root)
set -eu

rootfs="${1:?usage: rootfs.sh ROOTFS [VERSION]}"
version="${2:-dev}"
uid=65532
cacerts=/etc/ssl/certs/ca-certificates.crt

[ -f go.mod ] || { echo "rootfs.sh: run from the repository root" >&2; exit 1; }
[ -s "$cacerts" ] || { echo "rootfs.sh: no $cacerts (install ca-certificates)" >&2; exit 1; }

mkdir -p "$rootfs/usr/local/bin" "$rootfs/etc/ssl/certs" "$rootfs/data" "$rootfs/tmp"

# Static: no cgo (the SQLite driver is pure Go), so no libc to load at run time;
# -trimpath keeps the build machine's paths out of the binary.
CGO_ENABLED=0 go build -trimpath -buildvcs=false \
	-ldflags "-s -w -X github.com/resguardo/resguardo.Version=$version" \
	-o "$rootfs/usr/local/bin/resguardo" ./cmd/resguardo

cp "$cacerts" "$rootfs/etc/ssl/certs/ca-certificates.crt"
printf 'resguardo:x:%s:%s:resguardo:/data:/nonexistent\n' "$uid" "$uid" >"$rootfs/etc/passwd"
printf 'resguardo:x:%s:\n' "$uid" >"$rootfs/etc/group"

chmod 0755 "$rootfs/usr/local/bin/resguardo"
chmod 0644 "$rootfs/etc/passwd" "$rootfs/etc/group" "$rootfs/etc/ssl/certs/ca-certificates.crt"
chmod 0700 "$rootfs/data"
chmod 1777 "$rootfs/tmp"
# The volume's mount point belongs to the service user, so a fresh named volume does too.
chown "$uid:$uid" "$rootfs/data" 2>/dev/null || echo "rootfs.sh: not root: /data is not owned by $uid here (the Containerfile's build stage runs as root)" >&2
