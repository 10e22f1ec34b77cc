#!/usr/bin/env bash
# Checks deploy/systemd/resguardo.service: systemd-analyze must read it without a
# warning (an unknown or misspelt setting is ignored by systemd, silently weakening the
# unit) and rate its exposure at most MAX_EXPOSURE, alone and with the bind-443.conf
# drop-in; the settings the hardening rests on must be present. Run by .ci/run; needs
# systemd-analyze 250 or later (--offline). Usage: deploy/systemd/check.sh
set -euo pipefail

MAX_EXPOSURE=2.0 # systemd-analyze's scale: 0 (locked down) to 10 (unprotected); "OK" is below 2.0+

here="$(cd "$(dirname "$0")" && pwd)"
unit="$here/resguardo.service"
fail() { printf 'systemd check: %s\n' "$*" >&2; exit 1; }

command -v systemd-analyze >/dev/null || fail "systemd-analyze not found (apt-get install systemd)"
version="$(systemd-analyze --version | awk 'NR==1 {print $2}')"
[ "${version%%.*}" -ge 250 ] 2>/dev/null || fail "systemd-analyze $version has no --offline (needs 250 or later)"

# score FILE: prints the overall exposure; fails on any warning.
score() {
	local out err
	err="$(mktemp)"
	out="$(systemd-analyze security --offline=true --no-pager "$1" 2>"$err")" || { cat "$err" >&2; rm -f "$err"; fail "systemd-analyze failed on $2"; }
	if [ -s "$err" ]; then
		cat "$err" >&2
		rm -f "$err"
		fail "systemd-analyze warned about $2 (a setting it ignores protects nothing)"
	fi
	rm -f "$err"
	printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p'
}

check() { # check NAME SCORE
	[ -n "$2" ] || fail "no exposure score for $1"
	if awk -v s="$2" -v max="$MAX_EXPOSURE" 'BEGIN { exit !(s <= max) }'; then
		printf 'systemd check: %s exposure %s (at most %s): ok\n' "$1" "$2" "$MAX_EXPOSURE"
	else
		fail "$1 exposure $2 is above $MAX_EXPOSURE"
	fi
}

for setting in 'DynamicUser=yes' 'ProtectSystem=strict' 'NoNewPrivileges=yes' 'CapabilityBoundingSet=' \
	'PrivateTmp=yes' 'PrivateDevices=yes' 'ProtectHome=yes' 'SystemCallFilter=@system-service' \
	'MemoryDenyWriteExecute=yes' 'StateDirectory=resguardo' \
	'LoadCredential=resguardo-master-key:' 'LoadCredential=resguardo-database-url:'; do
	grep -q "^${setting}" "$unit" || fail "resguardo.service lacks ${setting}"
done
if grep -Eq '^(AmbientCapabilities|CapabilityBoundingSet)=.+' "$unit"; then
	fail "resguardo.service grants a capability; only bind-443.conf may"
fi

check resguardo.service "$(score "$unit" resguardo.service)"

# The unit with the port-443 drop-in applied (later settings win, as in a drop-in).
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cat "$unit" "$here/bind-443.conf" >"$tmp/resguardo.service"
check "resguardo.service + bind-443.conf" "$(score "$tmp/resguardo.service" "resguardo.service + bind-443.conf")"
