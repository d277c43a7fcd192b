#!/usr/bin/env bash
# `make bench-jobs`: the job engine beside graphile-worker (Node, installed from npm into
# .data/bench-node) and the Rust crate graphile_worker (bench/graphile-rs), on the same private
# PostgreSQL, in interleaved rounds. Per system: 20 000 no-op jobs enqueued in one statement and
# drained at concurrency 10 and 32 (jobs/s), and enqueue→start latency over 200 single jobs on an
# idle worker. Ours also drains 100 000 jobs beside 1 000 000 finished ones ("large", to compare
# with the same drain on an empty table) and 100 000 of 500 000 waiting over 1 000 hosts, 3 at
# once per host, fairness every 5 ("capped", the links queue's shipped rules; "capped" puts the
# high-priority tenth on 100 hosts that stay full, "capped-spread" over every host). Prints every
# result, then medians and ranges; the raw lines go to .data/bench-jobs.log. ROUNDS (default 3)
# and JOBS (default 20000) change the run.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
rounds=${ROUNDS:-3}
jobs=${JOBS:-20000}
log=.data/bench-jobs.log

command -v node >/dev/null && command -v npm >/dev/null || {
	echo "bench-jobs: node and npm are needed for graphile-worker (Debian: apt-get install nodejs npm)" >&2
	exit 1
}
command -v python3 >/dev/null || {
	echo "bench-jobs: python3 is needed for the summary (Debian: apt-get install python3)" >&2
	exit 1
}

eval "$(scripts/pg.sh start dev)"
base=${DATABASE_URL%/*}
psql_bin=$(command -v psql || ls /usr/lib/postgresql/*/bin/psql 2>/dev/null | head -n 1)
for db in bench_engine bench_gw bench_gwrs; do
	"$psql_bin" -q "$base/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
done

echo "== building (release) and installing graphile-worker 0.17.3 from npm"
if [ ! -f .data/bench-node/node_modules/graphile-worker/package.json ]; then
	mkdir -p .data/bench-node
	(cd .data/bench-node && { [ -f package.json ] || npm init -y >/dev/null; } &&
		npm install --no-audit --no-fund graphile-worker@0.17.3 pg >/dev/null)
fi
cargo bench -p mintbean-engine --bench jobs --no-run 2>&1 | tail -n 1
rust_target=${CARGO_TARGET_DIR:-$root/.data/bench-target}
CARGO_TARGET_DIR=$rust_target cargo build --release --quiet --manifest-path bench/graphile-rs/Cargo.toml

errors=.data/bench-jobs.err
: >"$errors"
# Each prints its RESULT line; anything else goes to $errors, shown if a run fails.
result() {
	"$@" 2>>"$errors" | grep RESULT || {
		echo "bench-jobs: no result from: $*" >&2
		tail -n 20 "$errors" >&2
		exit 1
	}
}
ours() { DATABASE_URL=$base/bench_engine result cargo bench -q -p mintbean-engine --bench jobs -- "$@"; }
graphile() {
	DATABASE_URL=$base/bench_gw NODE_PATH=$root/.data/bench-node/node_modules \
		result node "$root/scripts/bench/graphile-worker.js" "$@"
}
graphile_rs() { DATABASE_URL=$base/bench_gwrs result "$rust_target/release/graphile-rs-bench" "$@"; }

: >"$log"
for round in $(seq 1 "$rounds"); do
	echo "== round $round of $rounds"
	for concurrency in 10 32; do
		ours throughput "$concurrency" "$jobs" 0 | tee -a "$log"
		graphile throughput "$concurrency" "$jobs" | tee -a "$log"
		ours throughput "$concurrency" "$jobs" 500 | tee -a "$log"
		graphile throughput "$concurrency" "$jobs" localqueue | tee -a "$log"
		graphile_rs throughput "$concurrency" "$jobs" | tee -a "$log"
	done
	ours throughput 32 100000 500 | tee -a "$log"
	ours large 32 100000 500 | tee -a "$log"
	ours capped 32 100000 500 | tee -a "$log"
	ours capped-spread 32 100000 500 | tee -a "$log"
	ours latency 200 | tee -a "$log"
	graphile latency 200 | tee -a "$log"
	graphile_rs latency 200 | tee -a "$log"
done

python3 - "$log" <<'EOF'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    fields = dict(re.findall(r"(\w+)=([\w.]+)", line))
    system, mode = line.split()[1:3]
    if mode in ("large", "capped", "capped-spread") or (mode == "throughput" and fields["jobs"] == "100000"):
        label = {"throughput": "empty table", "large": "1M finished", "capped": "capped 100 full", "capped-spread": "capped 3/host"}[mode]
        rows.setdefault((system, label, "100k"), []).append(float(fields["jobs_per_s"]))
    elif mode == "throughput":
        variant = fields.get("prefetch") or fields.get("localqueue") or fields.get("batched")
        batched = variant in ("500", "true")
        key = (system, "batched" if batched else "default", "conc " + fields["conc"])
        rows.setdefault(key, []).append(float(fields["jobs_per_s"]))
    else:
        rows.setdefault((system, "latency p50 ms", ""), []).append(float(fields["p50_ms"]))
        rows.setdefault((system, "latency p99 ms", ""), []).append(float(fields["p99_ms"]))
med = {k: statistics.median(v) for k, v in rows.items()}
print("\n%-22s %-15s %-8s %10s  %s" % ("system", "mode", "", "median", "range"))
for key in sorted(rows):
    values = rows[key]
    print("%-22s %-15s %-8s %10.1f  %.1f-%.1f" % (key + (med[key], min(values), max(values))))
def ratio(a, b):
    return med[a] / med[b] if a in med and b in med else float("nan")
ours32 = ("mintbean-engine", "batched", "conc 32")
print("\nours batched / graphile-worker batched, conc 32: %.2fx" % ratio(ours32, ("graphile-worker", "batched", "conc 32")))
print("ours batched / graphile_worker (Rust) batched, conc 32: %.2fx" % ratio(ours32, ("graphile_worker-rs", "batched", "conc 32")))
print("ours default / graphile-worker default, conc 32: %.2fx" % ratio(("mintbean-engine", "default", "conc 32"), ("graphile-worker", "default", "conc 32")))
print("ours beside 1M finished / empty table (100k, conc 32 batched): %.2f" % ratio(("mintbean-engine", "1M finished", "100k"), ("mintbean-engine", "empty table", "100k")))
EOF
