#!/usr/bin/env bash
# What `make run|test|pristine|migrate` do. Without DATABASE_URL (in the environment or .env), a
# private PostgreSQL cluster under .data/ is started first (see scripts/pg.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The server reads .env itself (dotenvy); the script only needs to know whether DATABASE_URL
# and PORT are set there, so it reads those two keys rather than sourcing the file.
env_file_value() {
	sed -n "s/^[[:space:]]*$1[[:space:]]*=[[:space:]]*//p" .env | tail -n 1 | sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'$/\1/"
}

load_env() {
	if [ ! -f .env ]; then
		cp .env.example .env
		echo "dev.sh: created .env from .env.example (edit it to change settings)"
	fi
	if [ -z "${DATABASE_URL:-}" ]; then
		DATABASE_URL=$(env_file_value DATABASE_URL)
		[ -n "$DATABASE_URL" ] && export DATABASE_URL
	fi
	if [ -z "${PORT:-}" ]; then
		PORT=$(env_file_value PORT)
		[ -n "$PORT" ] && export PORT
	fi
	return 0
}

# `eval "$(...)"` would hide a failed start (eval of nothing succeeds), so check first.
start_cluster() {
	local exports
	exports=$(scripts/pg.sh start "$1") || exit 1
	eval "$exports"
}

# Without a DATABASE_URL of one's own, the private cluster: started, and its URL written to .env,
# so `cargo run -- …` (tokens, jobs, migration status) reaches the same database. A URL in .env
# that is the private cluster's starts it too (after a reboot, say).
ensure_database_url() {
	local private
	private=$(scripts/pg.sh env dev | sed -n "s/^export DATABASE_URL='\(.*\)'$/\1/p")
	if [ -z "${DATABASE_URL:-}" ] || [ "$DATABASE_URL" = "$private" ]; then
		start_cluster dev
		remember_database_url "$DATABASE_URL"
		echo "dev.sh: using the private PostgreSQL cluster: $DATABASE_URL"
	fi
}

remember_database_url() {
	if grep -q '^[[:space:]]*DATABASE_URL[[:space:]]*=' .env; then
		sed -i "s|^[[:space:]]*DATABASE_URL[[:space:]]*=.*|DATABASE_URL=$1|" .env
	else
		printf '\n# The private PostgreSQL cluster (written by scripts/dev.sh; make run starts it).\nDATABASE_URL=%s\n' "$1" >>.env
	fi
}

mintbean() { cargo run --quiet --bin mintbean -- "$@"; }

# Headless Chromium and chromedriver (Debian's packages) for the dashboard's browser test.
ensure_chromium() {
	if [ -n "${CHROMEDRIVER:-}" ] || { command -v chromedriver >/dev/null && command -v chromium >/dev/null; }; then return; fi
	if [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null; then
		echo "installing chromium and chromium-driver for the browser test (once)"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
		return
	fi
	echo "the browser test needs Chromium and its driver: sudo apt-get install chromium chromium-driver" >&2
	echo "(or set CHROMEDRIVER=/path/to/chromedriver and CHROMIUM=/path/to/chromium)" >&2
	exit 1
}

# schemathesis (PyPI) for the OpenAPI fuzzing test, in a virtualenv under .data/.
ensure_schemathesis() {
	if [ -n "${SCHEMATHESIS:-}" ]; then return; fi
	local venv="$PWD/.data/venv" version=4.32.5
	if [ ! -x "$venv/bin/schemathesis" ] || ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
		echo "installing schemathesis $version into .data/venv (once)"
		if ! python3 -m venv --help >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
			apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
		fi
		rm -rf "$venv"
		if ! { python3 -m venv "$venv" && "$venv/bin/pip" install --quiet "schemathesis==$version"; }; then
			echo "could not install schemathesis: install python3-venv (apt-get install python3-venv) or run 'pip install schemathesis==$version' and set SCHEMATHESIS" >&2
			exit 1
		fi
	fi
	export SCHEMATHESIS="$venv/bin/schemathesis"
}

case "${1:-}" in
run)
	load_env
	ensure_database_url
	cargo build --bin mintbean
	mintbean setup
	echo "dev.sh: GraphiQL on http://localhost:${PORT:-4000}/graphql (the job worker runs in the same process)"
	exec cargo run --quiet --bin mintbean -- serve --with-worker
	;;
test)
	if [ -z "${TEST_DATABASE_URL:-}" ]; then
		start_cluster test
	fi
	ensure_schemathesis
	ensure_chromium
	cargo test --workspace
	# Every shell example of the README, in a fresh clone, as a new user would run it.
	scripts/test-readme.sh
	;;
test-readme)
	exec scripts/test-readme.sh
	;;
test-e2e)
	if [ -z "${TEST_DATABASE_URL:-}" ]; then
		start_cluster test
	fi
	ensure_chromium
	cargo test --test api -- dashboard::
	;;
jobs)
	# `scripts/dev.sh jobs email [--watch]`: the jobs binary against the development database.
	load_env
	ensure_database_url
	shift
	exec cargo run --quiet --bin jobs -- "$@"
	;;
psql)
	# `scripts/dev.sh psql [ARGS]`: psql on the development database.
	load_env
	ensure_database_url
	shift
	exec psql "$DATABASE_URL" "$@"
	;;
bench)
	if [ -z "${TEST_DATABASE_URL:-}" ]; then
		start_cluster test
	fi
	cargo bench --bench email_drain
	;;
pristine)
	load_env
	ensure_database_url
	mintbean reset
	;;
migrate)
	load_env
	ensure_database_url
	mintbean migrate
	;;
*)
	echo "usage: scripts/dev.sh run|test|test-readme|bench|pristine|migrate|jobs ARGS...|psql ARGS..." >&2
	exit 2
	;;
esac
