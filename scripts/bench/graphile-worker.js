// graphile-worker's side of `make bench-jobs` (scripts/bench-jobs.sh runs it beside ours).
// The measurement script of ../shared/spec/engine-prototype/graphile-worker-bench.md:
//   node graphile-worker.js throughput CONCURRENCY JOBS [localqueue]   drain JOBS no-op jobs
//   node graphile-worker.js latency JOBS                               enqueue→start on an idle worker
// With `localqueue`: its recommended batching (localQueue.size 500, completeJobBatchDelay 5).
const { run, makeWorkerUtils, Logger } = require("graphile-worker");
const { Pool } = require("pg");
const url = process.env.DATABASE_URL;
if (!url) { console.error("DATABASE_URL names the bench database"); process.exit(2); }
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const nowMs = () => performance.timeOrigin + performance.now();
const pct = (v, p) => { const s = [...v].sort((a, b) => a - b); return s[Math.round((p / 100) * (s.length - 1))]; };
const logger = new Logger(() => (level, msg) => { if (level === "error") console.error(msg); });
(async () => {
  const [mode = "throughput", a1, a2, a3] = process.argv.slice(2);
  const utils = await makeWorkerUtils({ connectionString: url }); await utils.migrate();
  const admin = new Pool({ connectionString: url, max: 2 });
  await admin.query("delete from graphile_worker._private_jobs");
  await admin.query("delete from graphile_worker._private_job_queues");
  let done = 0; const lat = [];
  const taskList = { noop: async () => { done++; }, ping: async (p) => { lat.push(nowMs() - p.t); done++; } };
  if (mode === "throughput") {
    const conc = +(a1 || 10), n = +(a2 || 20000), lq = a3 === "localqueue";
    const specs = []; for (let i = 0; i < n; i++) specs.push({ identifier: "noop", payload: { id: i } });
    await utils.addJobs(specs);
    const pgPool = new Pool({ connectionString: url, max: conc + 2 }); pgPool.on("error", () => {});
    const preset = lq ? { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 5 } } : undefined;
    const t1 = nowMs();
    const runner = await run({ pgPool, concurrency: conc, taskList, noHandleSignals: true, preset, logger });
    while (done < n) await sleep(2);
    for (;;) { const { rows } = await admin.query("select count(*)::int c from graphile_worker._private_jobs"); if (!rows[0].c) break; await sleep(2); }
    const s = (nowMs() - t1) / 1000;
    await runner.stop(); await pgPool.end();
    console.log(`RESULT graphile-worker throughput conc=${conc} localqueue=${lq} jobs=${n} seconds=${s.toFixed(3)} jobs_per_s=${(n / s).toFixed(0)}`);
  } else {
    const n = +(a1 || 200);
    const pgPool = new Pool({ connectionString: url, max: 12 }); pgPool.on("error", () => {});
    const runner = await run({ pgPool, concurrency: 10, taskList, noHandleSignals: true, logger });
    await sleep(1500);
    for (let i = 0; i < n; i++) { await utils.addJob("ping", { t: nowMs() }); while (done < i + 1) await sleep(0.2); await sleep(20); }
    await runner.stop(); await pgPool.end();
    console.log(`RESULT graphile-worker latency n=${lat.length} p50_ms=${pct(lat, 50).toFixed(2)} p99_ms=${pct(lat, 99).toFixed(2)} max_ms=${pct(lat, 100).toFixed(2)}`);
  }
  await utils.release(); await admin.end();
})().catch((e) => { console.error(e); process.exit(1); });
