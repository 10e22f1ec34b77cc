#!/usr/bin/env bash
# A three-node MariaDB Galera cluster on loopback, from Debian's packages
# (mariadb-server, galera-4, rsync for state transfer) with HAProxy in front,
# for tests and fault drills. Nothing here touches a MariaDB already running
# on the machine: every node has its own datadir, socket and ports under
# $GALERA_DIR.
#
#   tools/galera/cluster.sh up              start (or keep) the cluster and HAProxy
#   tools/galera/cluster.sh down            stop everything and remove $GALERA_DIR
#   tools/galera/cluster.sh status          cluster size and state per node
#   tools/galera/cluster.sh kill N          kill -9 node N (1-3), for drills
#   tools/galera/cluster.sh start N         start node N again (it rejoins by IST/SST)
#   tools/galera/cluster.sh dsn [N]         the test DSN through HAProxy, or of node N
#
# Ports: node N listens on 3306+N (3307-3309), Galera on 4557+10N
# (4567, 4577, 4587), IST on that +1, rsync SST on 4434+10N; HAProxy on
# 3310 (every node, least connections). GALERA_DIR defaults to
# /tmp/resguardo-galera.
set -euo pipefail

DIR=${GALERA_DIR:-/tmp/resguardo-galera}
HAPROXY_PORT=${GALERA_HAPROXY_PORT:-3310}
NODES=(1 2 3)

sql_port()    { echo $((3306 + $1)); }
gcomm_port()  { echo $((4557 + 10 * $1)); }
sst_port()    { echo $((4434 + 10 * $1)); }
sock()        { echo "$DIR/node$1/mysqld.sock"; }
peers() {
	local out="" n
	for n in "${NODES[@]}"; do out+="127.0.0.1:$(gcomm_port "$n"),"; done
	echo "${out%,}"
}

need() {
	local missing=()
	command -v mariadbd >/dev/null || missing+=(mariadb-server)
	[ -e /usr/lib/galera/libgalera_smm.so ] || missing+=(galera-4)
	command -v rsync >/dev/null || missing+=(rsync)
	command -v haproxy >/dev/null || missing+=(haproxy)
	if [ ${#missing[@]} -gt 0 ]; then
		echo "installing ${missing[*]}" >&2
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
}

config() {
	local n=$1
	cat >"$DIR/node$n/my.cnf" <<CNF
[mariadbd]
user=mysql
datadir=$DIR/node$n/data
socket=$(sock "$n")
pid-file=$DIR/node$n/mysqld.pid
log-error=$DIR/node$n/error.log
bind-address=127.0.0.1
port=$(sql_port "$n")
skip-name-resolve
binlog_format=ROW
default_storage_engine=InnoDB
innodb_autoinc_lock_mode=2
innodb_buffer_pool_size=64M
innodb_log_file_size=48M
innodb_flush_log_at_trx_commit=2
max_connections=300
# Reads wait for writes already committed on other nodes, so a request
# that lands on another node than the one before still reads its writes.
wsrep_sync_wait=1
wsrep_on=ON
wsrep_provider=/usr/lib/galera/libgalera_smm.so
wsrep_cluster_name=resguardo-test
wsrep_cluster_address=gcomm://$(peers)
wsrep_node_name=node$n
wsrep_node_address=127.0.0.1:$(gcomm_port "$n")
wsrep_provider_options="gmcast.listen_addr=tcp://127.0.0.1:$(gcomm_port "$n");ist.recv_addr=127.0.0.1:$(( $(gcomm_port "$n") + 1 ));gcache.size=64M;evs.suspect_timeout=PT3S;evs.inactive_timeout=PT6S"
wsrep_sst_method=rsync
wsrep_sst_receive_address=127.0.0.1:$(sst_port "$n")
wsrep_slave_threads=2
CNF
}

alive() { [ -f "$DIR/node$1/launch.pid" ] && kill -0 "$(cat "$DIR/node$1/launch.pid")" 2>/dev/null; }

wait_synced() {
	local n=$1 i state
	for i in $(seq 1 120); do
		state=$(mariadb --socket="$(sock "$n")" -uroot -N -e "SHOW STATUS LIKE 'wsrep_local_state_comment'" 2>/dev/null | awk '{print $2}') || true
		[ "$state" = "Synced" ] && return 0
		if ! alive "$n"; then
			echo "node $n died; its log:" >&2
			tail -30 "$DIR/node$n/error.log" >&2
			return 1
		fi
		sleep 0.5
	done
	echo "node $n not synced after 60 s; its log:" >&2
	tail -30 "$DIR/node$n/error.log" >&2
	return 1
}

start_node() {
	local n=$1 bootstrap=${2:-}
	alive "$n" && return 0
	mkdir -p "$DIR/node$n"
	config "$n"
	# The nodes run as Debian's mysql user: the rsync daemon of a state
	# transfer started by root would write as nobody and fail.
	chown -R mysql:mysql "$DIR/node$n"
	if [ ! -d "$DIR/node$n/data/mysql" ]; then
		mariadb-install-db --defaults-file="$DIR/node$n/my.cnf" --user=mysql --auth-root-authentication-method=socket \
			--skip-test-db >"$DIR/node$n/install.log" 2>&1
	fi
	rm -f "$DIR/node$n/mysqld.pid" "$DIR/node$n/launch.pid"
	# setsid: the node outlives this script and is stopped by pid only.
	setsid mariadbd --defaults-file="$DIR/node$n/my.cnf" $bootstrap </dev/null >>"$DIR/node$n/error.log" 2>&1 &
	# mariadbd writes the same pid there itself, but only after a state
	# transfer: until then this one tells whether the node lives.
	echo $! >"$DIR/node$n/launch.pid"
	wait_synced "$n"
}

haproxy_up() {
	local cfg="$DIR/haproxy.cfg" n
	{
		echo "global"
		echo "    maxconn 2000"
		echo "    insecure-fork-wanted"
		echo "    external-check"
		echo "    pidfile $DIR/haproxy.pid"
		echo "defaults"
		echo "    mode tcp"
		echo "    timeout connect 2s"
		echo "    timeout client 1h"
		echo "    timeout server 1h"
		echo "listen galera"
		echo "    bind 127.0.0.1:$HAPROXY_PORT"
		echo "    balance leastconn"
		# A node is sent connections only while Synced: a node that is
		# joining (state transfer) accepts connections but answers every
		# statement with an error.
		echo "    option external-check"
		echo "    external-check path /usr/bin:/bin"
		echo "    external-check command $DIR/check.sh"
		for n in "${NODES[@]}"; do
			echo "    server node$n 127.0.0.1:$(sql_port "$n") check inter 1s fall 2 rise 2"
		done
	} >"$cfg"
	cat >"$DIR/check.sh" <<CHECK
#!/bin/sh
# HAProxy external check: \$3 is the node's address, \$4 its port.
n=\$((\$4 - 3306))
state=\$(mariadb --socket=$DIR/node\$n/mysqld.sock -uroot -N -e "SHOW STATUS LIKE 'wsrep_local_state'" 2>/dev/null | awk '{print \$2}')
[ "\$state" = 4 ]
CHECK
	chmod 755 "$DIR/check.sh"
	if [ -f "$DIR/haproxy.pid" ] && kill -0 "$(cat "$DIR/haproxy.pid")" 2>/dev/null; then return 0; fi
	haproxy -D -f "$cfg"
}

up() {
	need
	mkdir -p "$DIR"
	chmod 755 "$DIR"
	local first=1
	for n in "${NODES[@]}"; do alive "$n" && first=0; done
	if [ "$first" = 1 ]; then
		# The first node bootstraps a new cluster; the other two join it.
		rm -rf "$DIR"/node*
		start_node 1 --wsrep-new-cluster
		# The tests and the application connect as root over TCP from loopback.
		mariadb --socket="$(sock 1)" -uroot -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1'; GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; CREATE DATABASE IF NOT EXISTS test;"
	fi
	for n in "${NODES[@]}"; do start_node "$n"; done
	haproxy_up
	status
}

stop_pid() {
	local f=$1 sig=${2:-TERM} pid i
	[ -f "$f" ] || return 0
	pid=$(cat "$f")
	kill -"$sig" "$pid" 2>/dev/null || return 0
	for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
	kill -KILL "$pid" 2>/dev/null || true
}

down() {
	stop_pid "$DIR/haproxy.pid"
	local n
	for n in 3 2 1; do stop_pid "$DIR/node$n/launch.pid"; done
	rm -rf "$DIR"
}

status() {
	local n
	for n in "${NODES[@]}"; do
		if alive "$n"; then
			mariadb --socket="$(sock "$n")" -uroot -N -e "SHOW STATUS WHERE Variable_name IN ('wsrep_cluster_size','wsrep_local_state_comment')" 2>/dev/null |
				awk -v n="$n" -v p="$(sql_port "$n")" 'BEGIN{printf "node %s (port %s):", n, p} {printf " %s=%s", $1, $2} END{print ""}'
		else
			echo "node $n (port $(sql_port "$n")): down"
		fi
	done
	echo "haproxy: 127.0.0.1:$HAPROXY_PORT"
}

case "${1:-}" in
up) up ;;
down) down ;;
status) status ;;
kill) stop_pid "$DIR/node${2:?node number}/launch.pid" KILL ;;
start) start_node "${2:?node number}" ;;
dsn)
	if [ -n "${2:-}" ]; then echo "mysql://root@127.0.0.1:$(sql_port "$2")/test"; else echo "mysql://root@127.0.0.1:$HAPROXY_PORT/test"; fi
	;;
*)
	sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
	exit 2
	;;
esac
