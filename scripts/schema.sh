#!/usr/bin/env bash
# The current schema beside the frozen migrations, and the engine's checked statements.
#
#   scripts/schema.sh write   migrate a fresh database, dump it to migration/schema.sql and write
#                             the engine's query data (engine/.sqlx, `cargo sqlx prepare`)
#   scripts/schema.sh check   the same into a temporary place: fails when migration/schema.sql or
#                             engine/.sqlx differ from what the migrations and the code make
#
# It runs on the private test cluster (scripts/pg.sh), or on TEST_DATABASE_URL's server.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

mode=${1:-}
case "$mode" in write | check) ;; *)
	echo "usage: scripts/schema.sh write|check" >&2
	exit 2
	;;
esac

if [ -z "${TEST_DATABASE_URL:-}" ]; then
	exports=$(scripts/pg.sh start test) || exit 1
	eval "$exports"
fi
database="mintbean_schema_$$"
url="${TEST_DATABASE_URL%/*}/$database"
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() { psql "$TEST_DATABASE_URL" -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1 || true; }
trap cleanup EXIT
psql "$TEST_DATABASE_URL" -c "CREATE DATABASE \"$database\""
DATABASE_URL="$url" cargo run --quiet -p migration -- up >/dev/null

if ! command -v cargo-sqlx >/dev/null 2>&1; then
	echo "installing sqlx-cli 0.9.0 (once)" >&2
	cargo install --locked sqlx-cli --version 0.9.0 --no-default-features --features postgres,rustls,sqlx-toml >&2
fi

# pg_dump of the schema, without what differs between dumps of the same schema (the server's
# and pg_dump's versions, `\restrict` keys, SET lines).
dump() {
	pg_dump --schema-only --no-owner --no-privileges "$url" |
		grep -v -e '^-- Dumped from' -e '^-- Dumped by' -e '^\\restrict' -e '^\\unrestrict' \
			-e '^SET ' -e '^SELECT pg_catalog.set_config' |
		cat -s
}

if [ "$mode" = write ]; then
	dump >migration/schema.sql
	(cd engine && DATABASE_URL="$url" cargo sqlx prepare >/dev/null)
	echo "wrote migration/schema.sql and engine/.sqlx"
	exit 0
fi

dumped=$(mktemp)
trap 'rm -f "$dumped"; cleanup' EXIT
dump >"$dumped"
if ! diff -u migration/schema.sql "$dumped"; then
	echo "migration/schema.sql is not the schema the migrations make: run \`make schema\`" >&2
	exit 1
fi
if ! (cd engine && DATABASE_URL="$url" cargo sqlx prepare --check); then
	echo "engine/.sqlx is not what the engine's statements need: run \`make schema\`" >&2
	exit 1
fi
echo "migration/schema.sql and engine/.sqlx are current"
