#!/usr/bin/env bash
# Runs every shell example of README.md as written, in a fresh clone of this checkout, the way a
# new user would: `make run` serves in the background, then each ```sh block runs in its own
# bash (-e, pipefail), in order. A block preceded by `<!-- readme-test: runs until stopped -->`
# must still be running after a few seconds (then it is stopped with SIGTERM); one preceded by
# `<!-- readme-test: skip; why -->` is not run (the reason is in the README). Needs port 4000.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# One clone path per checkout, made afresh each run: the same path lets cargo's incremental
# cache from the last run serve the clone's build (a new path compiles every crate again).
clone="/tmp/mintbean-readme-$(printf %s "$root" | sha1sum | cut -c1-12)"
server=""
remove_clone() {
	if [ -d "$clone/.data" ]; then (cd "$clone" && scripts/pg.sh stop dev >/dev/null 2>&1 || true); fi
	rm -rf "$clone"
}
cleanup() {
	if [ -n "$server" ]; then kill -- -"$server" 2>/dev/null || true; fi
	remove_clone
}
trap cleanup EXIT
remove_clone

if (exec 3<>/dev/tcp/127.0.0.1/4000) 2>/dev/null; then
	echo "test-readme: something already listens on :4000 (the README's examples need it)" >&2
	exit 1
fi
git clone --quiet "$root" "$clone"
cd "$clone"
# The checkout's build is reused (the clone's own crates are compiled again).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
unset DATABASE_URL TEST_DATABASE_URL

# The blocks, in order: readme-blocks/N.sh and N.mode (run, background or skip).
mkdir readme-blocks
awk '
	/^<!-- readme-test: skip/ { mode = "skip" }
	/^<!-- readme-test: runs until stopped/ { mode = "background" }
	/^```sh$/ { n++; file = sprintf("readme-blocks/%02d.sh", n); if (mode == "") mode = "run";
	            print mode > sprintf("readme-blocks/%02d.mode", n); mode = ""; inside = 1; next }
	/^```$/ { inside = 0; next }
	inside { print > file }
' README.md

echo "test-readme: make run (in the background; log in $clone/make-run.log)"
setsid make run >make-run.log 2>&1 </dev/null &
server=$!
deadline=$((SECONDS + 900))
until curl -sf localhost:4000/health >/dev/null 2>&1; do
	if ! kill -0 "$server" 2>/dev/null || [ $SECONDS -gt $deadline ]; then
		tail -n 40 make-run.log >&2
		echo "test-readme: make run did not serve on :4000" >&2
		exit 1
	fi
	sleep 1
done

failed=0
for script in readme-blocks/*.sh; do
	mode=$(cat "${script%.sh}.mode")
	echo "--- $script ($mode)"
	case "$mode" in
	skip) continue ;;
	background)
		setsid bash -euo pipefail "$script" >"$script.log" 2>&1 </dev/null &
		pid=$!
		sleep 5
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM -- -"$pid"
			wait "$pid" || true
			echo "ran until stopped"
		else
			wait "$pid" || true
			cat "$script.log"
			echo "test-readme: $script stopped by itself; it should run until stopped" >&2
			failed=1
		fi
		;;
	run)
		if timeout 600 bash -euo pipefail "$script" >"$script.log" 2>&1 </dev/null; then
			tail -n 5 "$script.log"
			echo
		else
			cat "$script.log"
			echo "test-readme: $script failed:" >&2
			cat "$script" >&2
			failed=1
		fi
		;;
	esac
done
[ "$failed" = 0 ] && echo "test-readme: every README example ran"
exit "$failed"
