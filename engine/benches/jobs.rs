//! The engine's side of `make bench-jobs` (scripts/bench-jobs.sh runs it beside graphile-worker):
//!
//!   jobs throughput CONCURRENCY JOBS PREFETCH   enqueue JOBS no-op jobs in one statement, drain
//!   jobs large CONCURRENCY JOBS PREFETCH        the same beside 1 000 000 finished jobs
//!   jobs capped CONCURRENCY JOBS PREFETCH       500 000 waiting over 1 000 hosts (interleaved),
//!                                               at most 3 running per host, fairness every 5
//!                                               (the `links` queue's shipped rules); drains JOBS.
//!                                               The tenth at priority 2 all go to 100 of the
//!                                               hosts, which stay full: each claim passes over
//!                                               the waiting high jobs of those hosts
//!   jobs capped-spread CONCURRENCY JOBS PREFETCH the same with the priority-2 jobs spread over
//!                                               every host
//!   jobs latency JOBS                           enqueue→start of single jobs on an idle worker
//!
//! `DATABASE_URL` names an empty database; the engine's schema is (re)created in it. Every
//! durability rule is on: leases, heartbeats, fenced batched completion with one attempt row per
//! job. Prints one `RESULT ...` line, in the format of the graphile-worker script.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use engine::{
    Handler, JobArgs, JobContext, JobError, NewJob, QueueConfig, Registry, Worker, WorkerConfig,
};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Clone, Default)]
struct Counters {
    done: Arc<AtomicUsize>,
    /// Enqueue→start, in milliseconds.
    waits: Arc<Mutex<Vec<f64>>>,
}

#[derive(Serialize, Deserialize)]
struct Noop {
    #[serde(default)]
    t: Option<f64>,
}

fn epoch_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
        * 1000.0
}

impl JobArgs for Noop {
    const KIND: &'static str = "bench.noop";
}

impl Handler<Noop> for Counters {
    async fn run(&self, args: Noop, _ctx: JobContext) -> Result<Value, JobError> {
        if let Some(t) = args.t {
            let wait = epoch_ms() - t;
            self.waits.lock().unwrap().push(wait);
        }
        self.done.fetch_add(1, Ordering::SeqCst);
        Ok(Value::Null)
    }
}

async fn connect(max: u32) -> DatabaseConnection {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL names the bench database");
    let mut options = ConnectOptions::new(url);
    options.max_connections(max).sqlx_logging(false);
    Database::connect(options).await.expect("connect")
}

async fn reset_schema(db: &DatabaseConnection) {
    // The down statements undo a schema that is there (they recreate earlier functions).
    let present = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT to_regclass('engine_jobs') IS NOT NULL AS present",
        ))
        .await
        .expect("schema check")
        .is_some_and(|row| row.try_get::<bool>("", "present").unwrap_or(false));
    let down: Vec<&str> = if present {
        engine::schema::all_down().collect()
    } else {
        Vec::new()
    };
    for statement in down.into_iter().chain(engine::schema::all_up()) {
        db.execute_unprepared(statement)
            .await
            .expect("engine schema");
    }
}

fn worker(
    db: &DatabaseConnection,
    counters: &Counters,
    concurrency: usize,
    prefetch: usize,
) -> Worker {
    let registry = Registry::new().register::<Noop, _>(counters.clone());
    let config = WorkerConfig {
        queues: vec![QueueConfig::new("default", concurrency).prefetch(prefetch)],
        retention: None,
        ..WorkerConfig::default()
    };
    Worker::new(db.clone(), registry, config)
}

async fn unfinished(db: &DatabaseConnection) -> bool {
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT EXISTS (SELECT 1 FROM engine_jobs WHERE state IN ('available', 'running')) AS left",
        ))
        .await
        .expect("count")
        .expect("a row");
    row.try_get::<bool>("", "left").expect("a boolean")
}

/// What the table holds besides the jobs drained.
#[derive(Clone, Copy, PartialEq)]
enum Table {
    Empty,
    /// 1 000 000 finished jobs.
    Large,
    /// 500 000 waiting jobs over 1 000 keys, capped at 3 running per key, fairness on; the
    /// high-priority tenth on 100 of the keys.
    Capped,
    /// The same, the high-priority tenth over every key.
    CappedSpread,
}

const CAPPED_WAITING: usize = 500_000;

async fn throughput(concurrency: usize, jobs: usize, prefetch: usize, table: Table) {
    let db = connect(concurrency as u32 + 12).await;
    reset_schema(&db).await;
    if table == Table::Large {
        db.execute_unprepared(
            "INSERT INTO engine_jobs (kind, args, state, attempt, run_at, started_at, finished_at)
             SELECT 'bench.noop', jsonb_build_object('id', n), 'completed', 1, now() - interval '1 day',
                    now() - interval '1 day', now() - interval '1 day'
               FROM generate_series(1, 1000000) n;
             ANALYZE engine_jobs",
        )
        .await
        .expect("a large table");
    }
    let enqueue_started = Instant::now();
    if matches!(table, Table::Capped | Table::CappedSpread) {
        db.execute_unprepared(
            "INSERT INTO engine_queues (name, per_key_limit, fair_every) VALUES ('default', 3, 5)",
        )
        .await
        .expect("queue settings");
        for chunk in (0..CAPPED_WAITING).collect::<Vec<_>>().chunks(50_000) {
            let batch: Vec<NewJob> = chunk
                .iter()
                .map(|i| {
                    let host = match table {
                        Table::CappedSpread => (i / 10 + i % 10 * 100) % 1000,
                        _ => i % 1000,
                    };
                    NewJob::new(Noop::KIND, json!({ "id": i }))
                        .concurrency_key(format!("host{host}.example"))
                        .priority(if i % 10 == 0 { 2 } else { 1 })
                })
                .collect();
            engine::enqueue_many(&db, batch).await.expect("enqueue");
        }
        db.execute_unprepared("ANALYZE engine_jobs")
            .await
            .expect("analyze");
    } else {
        let batch: Vec<NewJob> = (0..jobs)
            .map(|i| NewJob::new(Noop::KIND, json!({ "id": i })))
            .collect();
        engine::enqueue_many(&db, batch).await.expect("enqueue");
    }
    let enqueue_took = enqueue_started.elapsed();
    // Each drain starts after a checkpoint: the WAL of writing a million rows would otherwise
    // start one during the drain (full-page images), charged to the large table's drain only.
    db.execute_unprepared("CHECKPOINT")
        .await
        .expect("checkpoint");
    let counters = Counters::default();
    let stop = Arc::new(tokio::sync::Notify::new());
    let started = Instant::now();
    let running = {
        let (worker, stop) = (worker(&db, &counters, concurrency, prefetch), stop.clone());
        tokio::spawn(async move { worker.run(async move { stop.notified().await }).await })
    };
    while counters.done.load(Ordering::SeqCst) < jobs {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    if table == Table::Empty || table == Table::Large {
        while unfinished(&db).await {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    stop.notify_one();
    running.await.expect("worker task").expect("worker");
    let mode = match table {
        Table::Empty => "throughput",
        Table::Large => "large",
        Table::Capped => "capped",
        Table::CappedSpread => "capped-spread",
    };
    println!(
        "RESULT mintbean-engine {mode} conc={concurrency} prefetch={prefetch} jobs={jobs} \
         seconds={seconds:.3} jobs_per_s={:.0} enqueue_ms={:.0}",
        jobs as f64 / seconds,
        enqueue_took.as_secs_f64() * 1000.0
    );
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((p / 100.0) * (sorted.len() - 1) as f64).round() as usize]
}

async fn latency(jobs: usize) {
    let db = connect(22).await;
    reset_schema(&db).await;
    let counters = Counters::default();
    let stop = Arc::new(tokio::sync::Notify::new());
    let running = {
        let (worker, stop) = (worker(&db, &counters, 10, 0), stop.clone());
        tokio::spawn(async move { worker.run(async move { stop.notified().await }).await })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for i in 0..jobs {
        let job = NewJob::new(Noop::KIND, json!({ "t": epoch_ms() }));
        engine::enqueue(&db, job).await.expect("enqueue");
        while counters.done.load(Ordering::SeqCst) < i + 1 {
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.notify_one();
    running.await.expect("worker task").expect("worker");
    let mut waits = counters.waits.lock().unwrap().clone();
    waits.sort_by(f64::total_cmp);
    println!(
        "RESULT mintbean-engine latency n={} p50_ms={:.2} p99_ms={:.2} max_ms={:.2}",
        waits.len(),
        percentile(&waits, 50.0),
        percentile(&waits, 99.0),
        percentile(&waits, 100.0)
    );
}

#[tokio::main]
async fn main() {
    // `cargo bench` adds `--bench`.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let number = |i: usize, default: usize| {
        args.get(i)
            .map(|a| a.parse().expect("a number"))
            .unwrap_or(default)
    };
    match args.first().map(String::as_str) {
        Some("throughput") => {
            throughput(number(1, 10), number(2, 20_000), number(3, 0), Table::Empty).await
        }
        Some("large") => {
            throughput(
                number(1, 32),
                number(2, 100_000),
                number(3, 500),
                Table::Large,
            )
            .await
        }
        Some("capped") => {
            throughput(
                number(1, 32),
                number(2, 100_000),
                number(3, 0),
                Table::Capped,
            )
            .await
        }
        Some("capped-spread") => {
            throughput(
                number(1, 32),
                number(2, 100_000),
                number(3, 0),
                Table::CappedSpread,
            )
            .await
        }
        Some("latency") => latency(number(1, 200)).await,
        _ => {
            eprintln!(
                "usage: jobs throughput|large|capped|capped-spread CONCURRENCY JOBS PREFETCH | jobs latency JOBS"
            );
            std::process::exit(2);
        }
    }
}
