# Sourced by the load scripts (run from the project root): starts
# bin/resguardo on 127.0.0.1:18080 (staff :18081) over a fresh data
# directory, on SQLite or, with RESGUARDO_LOAD_MYSQL set, on a fresh MariaDB
# database of that name; sets backend, pid and work, stops it on exit, and
# returns once /readyz answers.
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
args=(serve --data-dir "$work/data" --addr 127.0.0.1:18080 --staff-addr 127.0.0.1:18081 --log-level error)
backend=sqlite
if [ -n "${RESGUARDO_LOAD_MYSQL:-}" ]; then
	backend=mariadb
	db=${RESGUARDO_LOAD_MYSQL##*/}
	mariadb -h127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS \`$db\`; CREATE DATABASE \`$db\`"
	export RESGUARDO_DATABASE=$RESGUARDO_LOAD_MYSQL
	# A MySQL deployment's key set is sealed under a master key kept outside
	# the database (docs/keys.md): a throwaway one for this run.
	bin/resguardo keys init --data-dir "$work/data" --master-key-file "$work/master.key" >/dev/null
	export RESGUARDO_MASTER_KEY_FILE=$work/master.key
	args+=(--migrate)
fi
bin/resguardo "${args[@]}" &
pid=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:18080/readyz >/dev/null && break; sleep 0.1; done
