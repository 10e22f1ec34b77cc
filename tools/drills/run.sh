#!/usr/bin/env bash
# Fault drills. Each starts what it needs on loopback, runs tools/drill (sign-ins and
# profile edits, printing its figures as JSON), causes the fault part-way, then reads every
# acknowledged write back and runs `resguardo audit verify`. Exit status 1 on any broken
# promise. Run from the project root; needs bin/resguardo (make build) and, for the Galera
# drill, tools/galera/cluster.sh's Debian packages.
#
# The load: customers sign in and change their name, and a lead views customers at the
# staff console (every view is an audit entry).
#
#   tools/drills/run.sh galera-node     kill -9 one of three Galera nodes under load, two
#                                       servers behind HAProxy's cluster port; the node
#                                       restarts 10 s later and rejoins
#   tools/drills/run.sh galera-two-nodes two servers, one on node 1 and one on node 2, no
#                                       fault: every sign-in and edit answered 200, and
#                                       every sign-in in the audit trail
#   tools/drills/run.sh mariadb-restart restart a single MariaDB of the drill's own (port
#                                       3320, datadir under /tmp) under load
#   tools/drills/run.sh server-kill     kill -9 one of two servers under load, and a server
#                                       in the middle of `keys rotate --kek`; the rotation
#                                       is finished by running it again
#
# Never touches the MariaDB on 3306.
set -euo pipefail
cd "$(dirname "$0")/../.."

DURATION=${DRILL_DURATION:-30s}
work=$(mktemp -d /tmp/resguardo-drill.XXXXXX)
pids=()
cleanup() {
	local rc=$? p f
	if [ "$rc" -ne 0 ]; then
		echo "== drill failed ($rc); the end of each log:" >&2
		tail -n 15 "$work"/*.log >&2 2>/dev/null || true
	fi
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for f in "$work"/*.pid; do
		if [ -f "$f" ]; then kill "$(cat "$f")" 2>/dev/null || true; fi
	done
	wait 2>/dev/null || true
	if [ -n "${DRILL_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

make build >/dev/null
# The deployment's master key: the key set lives in the database sealed under it, and every
# server and command of the drill is given this one file (docs/keys.md).
export RESGUARDO_MASTER_KEY_FILE=$work/master.key
go build -o "$work/drill" ./tools/drill

# serve NAME DATABASE_URL SITE_PORT [SERVE FLAGS…]: one server over its own folder $work/NAME; the first
# (a) creates the database's key set under the master key, the others read it from the
# database: no key file is copied between servers.
serve() {
	local name=$1 db=$2 port=$3
	shift 3
	mkdir -p "$work/$name"
	if [ "$name" = a ]; then
		RESGUARDO_DATABASE=$db bin/resguardo keys init --data-dir "$work/a" >/dev/null 2>>"$work/keys.log"
	fi
	RESGUARDO_DATABASE=$db bin/resguardo serve --data-dir "$work/$name" --addr "127.0.0.1:$port" \
		--staff-addr "127.0.0.1:$((port + 1))" --log-level warn --migrate "$@" 2>>"$work/$name.log" &
	pids+=($!)
	echo $! >"$work/$name.pid"
	local i
	for i in $(seq 200); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return 0; sleep 0.1; done
	echo "server $name did not become ready:" >&2
	tail -20 "$work/$name.log" >&2
	return 1
}

# staff_flags DATABASE_URL: a lead created at the console of server a's deployment, for the
# drill's staff client (customer views on server a's staff console, each audited).
staff_flags() {
	local email="lead-$RANDOM@corp.example" link
	link=$(RESGUARDO_DATABASE=$1 bin/resguardo staff create --email "$email" --role lead --data-dir "$work/a" 2>>"$work/staff.log")
	echo "-staff http://127.0.0.1:18081 -staff-email $email -staff-link $link"
}

verify() {
	local db=$1
	echo "== audit verify" >&2
	RESGUARDO_DATABASE=$db bin/resguardo audit verify --json --data-dir "$work/a" >"$work/verify.json" 2>>"$work/verify.log" || {
		cat "$work/verify.json" "$work/verify.log" >&2
		return 1
	}
	python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("audit verify: %d entries, last %d, %d pending, problems %d" % (r["entries"], r["last_seq"], r["pending"], len(r["problems"])))' "$work/verify.json"
}

errors_in_logs() {
	# An audit entry that failed to append is an error line; there must be none.
	if grep -h '"level":"ERROR"' "$work"/*.log 2>/dev/null | grep -i 'audit' >&2; then
		echo "audit errors in the server logs" >&2
		return 1
	fi
}

galera_node() {
	tools/galera/cluster.sh up >/dev/null
	local db
	db="mysql://root@127.0.0.1:3310/drill_$(date +%s)"
	mariadb -h127.0.0.1 -P3310 -uroot -e "CREATE DATABASE ${db##*/}"
	serve a "$db" 18080
	serve b "$db" 18090
	# shellcheck disable=SC2046
	"$work/drill" -site http://127.0.0.1:18080,http://127.0.0.1:18090 -duration "$DURATION" $(staff_flags "$db") \
		-fault-at 10s -fault 'tools/galera/cluster.sh kill 2' -recover-at 20s -recover 'tools/galera/cluster.sh start 2 >/dev/null'
	tools/galera/cluster.sh status
	verify "$db"
	errors_in_logs
}

galera_two_nodes() {
	tools/galera/cluster.sh up >/dev/null
	local name db1 db2
	name="drill_$(date +%s)"
	mariadb -h127.0.0.1 -P3307 -uroot -e "CREATE DATABASE $name"
	db1="$(tools/galera/cluster.sh dsn 1)" db2="$(tools/galera/cluster.sh dsn 2)"
	db1="${db1%/*}/$name" db2="${db2%/*}/$name"
	# The shape of the run that found the hot audit row: two servers on two nodes, eight
	# connections of correct sign-ins (and profile edits) over 120 customers, each customer
	# from a network of its own (X-Forwarded-For from the trusted drill), so that sign-up
	# limits of one network do not cap the set-up.
	serve a "$db1" 18080 --trusted-proxies 127.0.0.1/32
	serve b "$db2" 18090 --trusted-proxies 127.0.0.1/32
	# shellcheck disable=SC2046
	"$work/drill" -site http://127.0.0.1:18080,http://127.0.0.1:18090 -duration "${DURATION}" -strict \
		-customers 120 -workers 8 -spread $(staff_flags "$db1") >"$work/report.json"
	cat "$work/report.json"
	# Every sign-in answered 200 (the load's and the read-back's) is in the trail; the trail
	# may hold a few more: sign-ins still in flight when the load stopped, whose answers the
	# drill no longer read.
	local answered recorded
	answered=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["answers"].get("sign-in 200", 0) + r["customers_read_back"])' "$work/report.json")
	sleep 1
	recorded=$(mariadb -h127.0.0.1 -P3308 -uroot -N -e "SELECT COUNT(*) FROM $name.audit_log WHERE action = 'session.sign_in'")
	echo "sign-ins answered 200: $answered; in the audit trail: $recorded"
	[ "$recorded" -ge "$answered" ] || { echo "sign-ins missing from the trail" >&2; return 1; }
	verify "$db1"
	errors_in_logs
}

own_mariadb() {
	mkdir -p "$work/mariadb"
	chown mysql:mysql "$work" "$work/mariadb"
	chmod 755 "$work"
	mariadb-install-db --user=mysql --datadir="$work/mariadb/data" --auth-root-authentication-method=socket --skip-test-db >"$work/mariadb-install.log" 2>&1
	start_mariadb
	mariadb --socket="$work/mariadb/sock" -uroot -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; CREATE DATABASE drill;"
}

start_mariadb() {
	setsid mariadbd --no-defaults --user=mysql --datadir="$work/mariadb/data" --socket="$work/mariadb/sock" \
		--port=3320 --bind-address=127.0.0.1 --skip-name-resolve --log-error="$work/mariadb/error.log" \
		--pid-file="$work/mariadb/mysqld.pid" </dev/null >/dev/null 2>&1 &
	echo $! >"$work/mariadb.pid"
	local i
	for i in $(seq 120); do
		mariadb-admin --socket="$work/mariadb/sock" -uroot ping >/dev/null 2>&1 && return 0
		sleep 0.25
	done
	echo "the drill's MariaDB did not start" >&2
	return 1
}

mariadb_restart() {
	own_mariadb
	local db=mysql://root@127.0.0.1:3320/drill
	serve a "$db" 18080
	export -f start_mariadb
	export work
	# shellcheck disable=SC2046
	"$work/drill" -site http://127.0.0.1:18080 -duration "$DURATION" $(staff_flags "$db") -fault-at 10s \
		-fault 'kill -TERM "$(cat "$work/mariadb.pid")"; while kill -0 "$(cat "$work/mariadb.pid")" 2>/dev/null; do sleep 0.1; done; start_mariadb'
	verify "$db"
	errors_in_logs
}

# site_proxy: HAProxy in front of servers a (18080) and b (18090) on 18070, as a
# deployment's load balancer: it checks /readyz, sends a request whose server died before
# answering to the other one, and answers 503 with Retry-After when none can.
site_proxy() {
	printf 'HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nRetry-After: 1\r\nCache-Control: no-store\r\nConnection: close\r\n\r\nTry again in a moment.\n' >"$work/503.http"
	cat >"$work/site-haproxy.cfg" <<-CFG
		global
		    maxconn 1000
		    pidfile $work/site-haproxy.pid
		defaults
		    mode http
		    timeout connect 1s
		    timeout client 30s
		    timeout server 30s
		    retries 3
		    option redispatch
		    errorfile 502 $work/503.http
		    errorfile 503 $work/503.http
		    errorfile 504 $work/503.http
		listen site
		    bind 127.0.0.1:18070
		    balance roundrobin
		    option http-buffer-request
		    retry-on conn-failure empty-response
		    option httpchk GET /readyz
		    server a 127.0.0.1:18080 check inter 500ms fall 1 rise 2
		    server b 127.0.0.1:18090 check inter 500ms fall 1 rise 2
	CFG
	haproxy -D -f "$work/site-haproxy.cfg"
}

server_kill() {
	own_mariadb
	local db=mysql://root@127.0.0.1:3320/drill
	serve a "$db" 18080
	serve b "$db" 18090
	site_proxy
	export -f serve
	export work db
	echo "== kill -9 server b under load; started again 10 s later" >&2
	# shellcheck disable=SC2046
	"$work/drill" -site http://127.0.0.1:18070 -duration "$DURATION" -state "$work/customers.json" $(staff_flags "$db") \
		-fault-at 10s -fault 'kill -9 "$(cat "$work/b.pid")"' \
		-recover-at 20s -recover 'pids=(); serve b "$db" 18090'
	echo "== kill -9 \`keys rotate --kek\` part-way, then run it again" >&2
	local round killed=0 out
	for round in 1 2 3 4 5; do
		RESGUARDO_DATABASE=$db bin/resguardo keys rotate --kek --batch-size 1 --data-dir "$work/a" >>"$work/rotate.log" 2>&1 &
		local rp=$!
		sleep "0.0$((round * 2))"
		kill -9 "$rp" 2>/dev/null && killed=$((killed + 1)) || true
		wait "$rp" 2>/dev/null || true
		out=$(RESGUARDO_DATABASE=$db bin/resguardo keys status --data-dir "$work/a" 2>&1)
		echo "after kill $round: $out" >&2
		case "$out" in *unfinished*) break ;; esac
	done
	RESGUARDO_DATABASE=$db bin/resguardo keys rotate --kek --data-dir "$work/a"
	out=$(RESGUARDO_DATABASE=$db bin/resguardo keys status --data-dir "$work/a")
	echo "after the rerun: $out"
	case "$out" in *unfinished*) echo "the rotation did not finish" >&2; return 1 ;; esac
	echo "== every acknowledged write read back after the rotation (server a reloads the key set)" >&2
	sleep 3
	"$work/drill" -site http://127.0.0.1:18080 -check "$work/customers.json"
	verify "$db"
	errors_in_logs
}

case "${1:-}" in
galera-node) galera_node ;;
galera-two-nodes) galera_two_nodes ;;
mariadb-restart) mariadb_restart ;;
server-kill) server_kill ;;
*)
	sed -n '2,/^# Never/p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
