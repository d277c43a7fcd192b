#!/usr/bin/env bash
# A private PostgreSQL cluster for this checkout, never run as root.
#
#   scripts/pg.sh start dev|test|bench   start (creating if needed) and print `export ...` lines for eval
#   scripts/pg.sh stop  dev|test|bench   stop it (data is kept)
#   scripts/pg.sh status dev|test|bench
#   scripts/pg.sh env   dev|test|bench   print the export lines without starting anything
#
# "dev" keeps your data under .data/pg-dev (durable settings). "test" lives under .data/pg-test with
# fsync off: it only ever holds throwaway per-test databases cloned from a migrated template.
# "bench" (.data/pg-bench) is for `make bench-api`: it loads pg_stat_statements, so the benchmark
# can count the statements each request runs.
set -euo pipefail

cmd=${1:-}
flavour=${2:-dev}
case "$flavour" in dev | test | bench) ;; *)
	echo "pg.sh: unknown cluster '$flavour' (use dev, test or bench)" >&2
	exit 2
	;;
esac

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# A port private to this checkout: derived from its path so two clones can run side by side.
port_base=$((20000 + $(printf '%s' "$root" | cksum | cut -d' ' -f1) % 10000 * 2))
case "$flavour" in
dev) port=${PG_DEV_PORT:-$port_base} ;;
test) port=${PG_TEST_PORT:-$((port_base + 1))} ;;
bench) port=${PG_BENCH_PORT:-$((port_base + 10000 * 2 + 1))} ;;
esac

find_bindir() {
	local candidate
	if command -v pg_config >/dev/null 2>&1; then
		candidate=$(pg_config --bindir 2>/dev/null || true)
		if [ -x "$candidate/initdb" ]; then
			echo "$candidate"
			return
		fi
	fi
	for candidate in /usr/lib/postgresql/*/bin /usr/local/pgsql/bin; do
		if [ -x "$candidate/initdb" ]; then
			echo "$candidate"
			return
		fi
	done
	if command -v initdb >/dev/null 2>&1; then
		dirname "$(readlink -f "$(command -v initdb)")"
	fi
}

bindir=$(find_bindir)
if [ -z "$bindir" ]; then
	if [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null 2>&1; then
		echo "pg.sh: PostgreSQL server binaries not found; installing the Debian 'postgresql' package" >&2
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
		bindir=$(find_bindir)
	fi
fi
if [ -z "$bindir" ]; then
	cat >&2 <<'EOF'
pg.sh: PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found.
Install them, then run the command again:
  Debian/Ubuntu:  sudo apt-get install postgresql
  Fedora:         sudo dnf install postgresql-server postgresql-contrib
  macOS:          brew install postgresql@15
Or point DATABASE_URL (and TEST_DATABASE_URL for tests) at a PostgreSQL server you already run.
EOF
	exit 1
fi

# PostgreSQL refuses to run as root: as root we run it as `postgres` (or a user we create).
run_as=()
pg_user=$(id -un)
if [ "$(id -u)" = 0 ]; then
	if ! id postgres >/dev/null 2>&1; then
		if ! id mintbeanpg >/dev/null 2>&1; then
			useradd --system --no-create-home --shell /usr/sbin/nologin mintbeanpg
		fi
		pg_user=mintbeanpg
	else
		pg_user=postgres
	fi
	run_as=(runuser -u "$pg_user" --)
fi

# The cluster lives in .data/ unless the PostgreSQL user cannot reach it (e.g. a checkout under a
# private home directory); then it goes to a per-checkout directory under /var/tmp.
datadir="$root/.data/pg-$flavour"
mkdir -p "$root/.data"
if [ ${#run_as[@]} -gt 0 ]; then
	if ! "${run_as[@]}" test -x "$root/.data" 2>/dev/null; then
		datadir="/var/tmp/mintbean-$(printf '%s' "$root" | cksum | cut -d' ' -f1)/pg-$flavour"
	fi
fi
logfile="$datadir.log"

database=mintbean
url="postgres://$pg_user@127.0.0.1:$port/$database"
admin_url="postgres://$pg_user@127.0.0.1:$port/postgres"

print_env() {
	if [ "$flavour" != test ]; then
		echo "export DATABASE_URL='$url'"
	else
		echo "export TEST_DATABASE_URL='$admin_url'"
	fi
}

pgctl() { "${run_as[@]}" "$bindir/pg_ctl" -D "$datadir" "$@"; }

is_running() { [ -f "$datadir/postmaster.pid" ] && pgctl status >/dev/null 2>&1; }

start() {
	if [ ! -f "$datadir/PG_VERSION" ]; then
		mkdir -p "$datadir"
		if [ ${#run_as[@]} -gt 0 ]; then chown "$pg_user" "$datadir"; fi
		chmod 700 "$datadir"
		"${run_as[@]}" "$bindir/initdb" -D "$datadir" -U "$pg_user" --auth=trust \
			--encoding=UTF8 --locale=C.UTF-8 >"$datadir.init.log" 2>&1 || {
			cat "$datadir.init.log" >&2
			exit 1
		}
		{
			echo "listen_addresses = '127.0.0.1'"
			echo "port = $port"
			echo "unix_socket_directories = '$datadir'"
			echo "timezone = 'UTC'"
			echo "max_connections = 200"
			if [ "$flavour" = test ]; then
				echo "fsync = off"
				echo "synchronous_commit = off"
				echo "full_page_writes = off"
			fi
			if [ "$flavour" = bench ]; then
				echo "shared_preload_libraries = 'pg_stat_statements'"
				echo "pg_stat_statements.max = 10000"
			fi
		} | "${run_as[@]}" tee -a "$datadir/postgresql.conf" >/dev/null
	fi
	if ! is_running; then
		touch "$logfile"
		if [ ${#run_as[@]} -gt 0 ]; then chown "$pg_user" "$logfile"; fi
		pgctl -l "$logfile" -o "-p $port" -w -t 60 start >/dev/null || {
			echo "pg.sh: PostgreSQL failed to start; last log lines:" >&2
			tail -n 20 "$logfile" >&2
			exit 1
		}
	fi
	if [ "$flavour" != test ]; then
		"${run_as[@]}" "$bindir/psql" -h 127.0.0.1 -p "$port" -U "$pg_user" -d postgres -tAc \
			"SELECT 1 FROM pg_database WHERE datname = '$database'" | grep -q 1 ||
			"${run_as[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U "$pg_user" "$database"
	fi
	print_env
}

case "$cmd" in
start) start ;;
stop) if is_running; then pgctl -m fast stop >/dev/null; fi ;;
status) if is_running; then echo "running on 127.0.0.1:$port ($datadir)"; else echo "stopped ($datadir)"; fi ;;
env) print_env ;;
*)
	echo "usage: scripts/pg.sh start|stop|status|env dev|test" >&2
	exit 2
	;;
esac
