"""Summary of `make bench-api`'s results.log: medians over the rounds, ratios to Node, memory."""
import re
import statistics
import sys

runs, memory = {}, {}
for line in open(sys.argv[1]):
    words = line.split()
    if words[0] == "RESULT":
        backend, query, conc = words[1], words[2], words[3].split("=")[1]
        fields = {k: float(v) for k, v in re.findall(r"(\w+)=([\d.]+)", line) if k != "c"}
        runs.setdefault((query, int(conc), backend), []).append(fields)
    elif words[0] == "MEMORY":
        fields = dict(w.split("=") for w in words[2:] if "=" in w)
        memory.setdefault(words[1], []).append((words[2], fields))


def median(key, field):
    return statistics.median(r.get(field, float("nan")) for r in runs[key])


print("\n| query | conc | backend | req/s (median, range) | p50 ms | p99 ms | errors | statements/request | req/s vs Node | p99 vs Node |")
print("|---|---|---|---|---|---|---|---|---|---|")
for key in sorted(runs, key=lambda k: (["home", "meet", "kanban", "session", "login"].index(k[0]), k[1], k[2])):
    query, conc, backend = key
    rates = [r["req_s"] for r in runs[key]]
    node = (query, conc, "node")
    ratio = p99_ratio = ""
    if backend.startswith("ours") and node in runs:
        ratio = "%.1f×" % (median(key, "req_s") / median(node, "req_s"))
        p99_ratio = "%.2f" % (median(key, "p99_ms") / median(node, "p99_ms"))
    print("| %s | %d | %s | %.0f (%.0f–%.0f) | %.2f | %.2f | %d | %.2f | %s | %s |" % (
        query, conc, backend, statistics.median(rates), min(rates), max(rates),
        median(key, "p50_ms"), median(key, "p99_ms"), sum(r["errors"] for r in runs[key]),
        median(key, "stmts_per_req"), ratio, p99_ratio))

print()
for backend, samples in memory.items():
    rounds = [int(f["rss_kb"]) // 1024 for label, f in samples if label.startswith("round")]
    final = [f for label, f in samples if label == "final"]
    text = "after each round " + ", ".join("%d MB" % r for r in rounds)
    if final:
        text += "; after the benchmark %d MB, peak %d MB" % (
            int(final[0]["rss_kb"]) // 1024, int(final[0]["peak_kb"]) // 1024)
    print("memory %s: %s" % (backend, text))
