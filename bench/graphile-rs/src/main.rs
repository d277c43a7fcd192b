//! graphile_worker (the Rust crate) with batching (local queue 500, completion batched every
//! 5 ms), measured like the others by scripts/bench-jobs.sh:
//!
//!   graphile-rs-bench throughput CONCURRENCY JOBS   drain JOBS no-op jobs added in one call
//!   graphile-rs-bench latency JOBS                  enqueue→start on an idle worker
//!
//! `DATABASE_URL` names the bench database. Prints one `RESULT ...` line.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use graphile_worker::{
    IntoTaskHandlerResult, JobSpec, LocalQueueConfig, RawJobSpec, TaskHandler, WorkerContext,
    WorkerOptions,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default)]
struct Counters {
    done: Arc<AtomicUsize>,
    waits: Arc<Mutex<Vec<f64>>>,
}

fn epoch_ms() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0
}

#[derive(Serialize, Deserialize)]
struct Noop {
    #[serde(default)]
    t: Option<f64>,
}

impl TaskHandler for Noop {
    const IDENTIFIER: &'static str = "noop";

    async fn run(self, ctx: WorkerContext) -> impl IntoTaskHandlerResult {
        if let Some(counters) = ctx.get_ext::<Counters>() {
            if let Some(t) = self.t {
                counters.waits.lock().unwrap().push(epoch_ms() - t);
            }
            counters.done.fetch_add(1, Ordering::SeqCst);
        }
        Ok::<(), String>(())
    }
}

async fn pool(max: u32) -> sqlx::PgPool {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL names the bench database");
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(max)
        .connect(&url)
        .await
        .expect("connect")
}

fn options(pool: sqlx::PgPool, concurrency: usize, counters: &Counters, batched: bool) -> WorkerOptions {
    let options = WorkerOptions::default()
        .pg_pool(pool)
        .schema("graphile_worker")
        .concurrency(concurrency)
        .add_extension(counters.clone())
        .define_job::<Noop>();
    if batched {
        options
            .local_queue(LocalQueueConfig::default().with_size(500))
            .complete_job_batch_delay(Duration::from_millis(5))
    } else {
        options
    }
}

async fn clear(pool: &sqlx::PgPool) {
    let _ = sqlx::query("DELETE FROM graphile_worker._private_jobs").execute(pool).await;
}

async fn throughput(concurrency: usize, jobs: usize) {
    let pool = pool(concurrency as u32 + 4).await;
    let counters = Counters::default();
    let worker = Arc::new(options(pool.clone(), concurrency, &counters, true).init().await.expect("init"));
    clear(&pool).await;
    let specs: Vec<RawJobSpec> = (0..jobs)
        .map(|i| RawJobSpec {
            identifier: "noop".into(),
            payload: serde_json::json!({ "id": i }),
            spec: JobSpec::default(),
        })
        .collect();
    worker.create_utils().add_raw_jobs(&specs).await.expect("add jobs");
    let started = Instant::now();
    let running = {
        let worker = worker.clone();
        tokio::spawn(async move { worker.run().await })
    };
    while counters.done.load(Ordering::SeqCst) < jobs {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    loop {
        let (left,): (i64,) = sqlx::query_as("SELECT count(*) FROM graphile_worker._private_jobs")
            .fetch_one(&pool)
            .await
            .expect("count");
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    worker.request_shutdown();
    let _ = running.await;
    println!(
        "RESULT graphile_worker-rs throughput conc={concurrency} batched=true jobs={jobs} seconds={seconds:.3} jobs_per_s={:.0}",
        jobs as f64 / seconds
    );
}

async fn latency(jobs: usize) {
    let pool = pool(14).await;
    let counters = Counters::default();
    let worker = Arc::new(options(pool.clone(), 10, &counters, false).init().await.expect("init"));
    clear(&pool).await;
    let running = {
        let worker = worker.clone();
        tokio::spawn(async move { worker.run().await })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let utils = worker.create_utils();
    for i in 0..jobs {
        utils
            .add_job(Noop { t: Some(epoch_ms()) }, JobSpec::default())
            .await
            .expect("add job");
        while counters.done.load(Ordering::SeqCst) < i + 1 {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.request_shutdown();
    let _ = running.await;
    let mut waits = counters.waits.lock().unwrap().clone();
    waits.sort_by(f64::total_cmp);
    let pct = |p: f64| waits[((p / 100.0) * (waits.len() - 1) as f64).round() as usize];
    println!(
        "RESULT graphile_worker-rs latency n={} p50_ms={:.2} p99_ms={:.2} max_ms={:.2}",
        waits.len(),
        pct(50.0),
        pct(99.0),
        pct(100.0)
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize, default: usize| args.get(i).map(|a| a.parse().expect("a number")).unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("throughput") => throughput(number(1, 10), number(2, 20_000)).await,
        Some("latency") => latency(number(1, 200)).await,
        _ => {
            eprintln!("usage: graphile-rs-bench throughput CONCURRENCY JOBS | latency JOBS");
            std::process::exit(2);
        }
    }
}
