//! The engine's rules, each against a real PostgreSQL, with workers running in this process.
//! (Rules about processes dying are in `processes.rs`.)

mod support;

use std::{sync::Arc, time::Duration};

use engine::{
    EngineError, Handler, JobArgs, JobContext, JobError, JobExt, KindSettings, NewJob, QueueConfig,
    Registry, RetryPolicy, Schedule, Scheduler, Worker, WorkerConfig, admin, enqueue, enqueue_many,
};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support::TestDb;
use tokio::sync::Notify;

/// The handler of the test kinds (they record in the engine's database).
#[derive(Clone)]
struct Ctx;

const MARKS: &str = "CREATE TABLE marks (job_id bigint, attempt int, tag text, worker text,
    started_at timestamptz, finished_at timestamptz DEFAULT clock_timestamp())";

/// Records its start and end in `marks`, sleeping in between.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Record {
    tag: String,
    #[serde(default)]
    sleep_ms: u64,
    #[serde(default)]
    key: Option<String>,
}

impl JobArgs for Record {
    const KIND: &'static str = "test.record";

    fn options(&self) -> engine::JobOptions {
        engine::JobOptions {
            concurrency_key: self.key.clone(),
            ..Default::default()
        }
    }
}

impl Handler<Record> for Ctx {
    async fn run(&self, args: Record, ctx: JobContext) -> Result<Value, JobError> {
        let started = chrono::Utc::now();
        tokio::time::sleep(Duration::from_millis(args.sleep_ms)).await;
        ctx.db()
            .execute_raw(sea_orm::Statement::from_sql_and_values(
                sea_orm::DbBackend::Postgres,
                "INSERT INTO marks (job_id, attempt, tag, started_at) VALUES ($1, $2, $3, $4)",
                [
                    ctx.job_id.into(),
                    ctx.attempt.into(),
                    args.tag.clone().into(),
                    started.into(),
                ],
            ))
            .await
            .map_err(JobError::retryable)?;
        Ok(json!({ "tag": args.tag }))
    }
}

/// Fails the way it is told to.
#[derive(Debug, Serialize, Deserialize)]
struct Fail {
    how: String,
}

impl JobArgs for Fail {
    const KIND: &'static str = "test.fail";

    fn settings() -> KindSettings {
        KindSettings {
            max_attempts: 3,
            ..KindSettings::default()
        }
    }
}

impl Handler<Fail> for Ctx {
    async fn run(&self, args: Fail, ctx: JobContext) -> Result<Value, JobError> {
        match args.how.as_str() {
            "retry" => Err(JobError::retryable("the remote end is down")),
            "permanent" => Err(JobError::permanent("this can never work")),
            "panic" => panic!("the handler panicked"),
            "retry-at" => Err(JobError::retry_at(
                chrono::Utc::now() + chrono::Duration::hours(2),
                "come back later",
            )),
            "second-time" if ctx.attempt >= 2 => Ok(json!("fine now")),
            "snooze" => Err(JobError::snooze(
                chrono::Utc::now() + chrono::Duration::milliseconds(100),
                "the service it needs is down",
            )),
            _ => Err(JobError::retryable("not yet")),
        }
    }
}

/// Sleeps, cooperatively (checking its token) or not; reports progress each step.
#[derive(Serialize, Deserialize)]
struct Slow {
    steps: u32,
    step_ms: u64,
    cooperative: bool,
}

impl JobArgs for Slow {
    const KIND: &'static str = "test.slow";

    fn settings() -> KindSettings {
        KindSettings {
            timeout: Some(Duration::from_millis(1500)),
            cancel_grace: Duration::from_millis(500),
            warn_after: Some(Duration::from_millis(300)),
            ..KindSettings::default()
        }
    }
}

impl Handler<Slow> for Ctx {
    async fn run(&self, args: Slow, ctx: JobContext) -> Result<Value, JobError> {
        for step in 0..args.steps {
            if args.cooperative {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_millis(args.step_ms)) => {}
                    _ = ctx.cancellation().cancelled() => {
                        record_stop(&ctx).await;
                        return Err(JobError::Cancelled);
                    }
                }
            } else {
                tokio::time::sleep(Duration::from_millis(args.step_ms)).await;
            }
            ctx.progress(json!({ "done": step + 1, "of": args.steps }))
                .await?;
        }
        Ok(json!("finished"))
    }
}

async fn record_stop(ctx: &JobContext) {
    let _ = ctx
        .db()
        .execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "INSERT INTO marks (job_id, attempt, tag) VALUES ($1, $2, 'stopped')",
            [ctx.job_id.into(), ctx.attempt.into()],
        ))
        .await;
}

fn registry() -> Registry {
    Registry::new()
        .register::<Record, _>(Ctx)
        .register::<Fail, _>(Ctx)
        .register::<Slow, _>(Ctx)
}

/// A `test.fail` job failing `how`, with three attempts.
fn fail(how: &str) -> NewJob {
    NewJob::new("test.fail", json!({ "how": how })).max_attempts(3)
}

fn record(tag: &str) -> Record {
    Record {
        tag: tag.into(),
        sleep_ms: 0,
        key: None,
    }
}

fn config(queues: Vec<QueueConfig>) -> WorkerConfig {
    WorkerConfig {
        queues,
        lease: Duration::from_secs(3),
        poll_interval: Duration::from_millis(200),
        reaper_interval: Duration::from_millis(500),
        shutdown_grace: Duration::from_secs(2),
        retry: RetryPolicy {
            base: Duration::from_millis(50),
            cap: Duration::from_millis(200),
        },
        poison_after: 3,
        retention: None,
        mock_kinds: Vec::new(),
    }
}

/// A worker running in this process until the returned handle is stopped.
struct Running {
    id: uuid::Uuid,
    stop: Arc<Notify>,
    task: tokio::task::JoinHandle<Result<(), EngineError>>,
}

impl Running {
    async fn stop(self) {
        self.stop.notify_one();
        self.task.await.expect("worker task").expect("worker");
    }
}

fn start(db: &DatabaseConnection, config: WorkerConfig) -> Running {
    let stop = Arc::new(Notify::new());
    let worker = Worker::new(db.clone(), registry(), config);
    let id = worker.id();
    let signal = stop.clone();
    let task =
        tokio::spawn(async move { worker.run(async move { signal.notified().await }).await });
    Running { id, stop, task }
}

async fn job(db: &TestDb, id: i64) -> admin::JobRow {
    admin::find(&db.db, id).await.unwrap().expect("the job")
}

async fn until_state(db: &TestDb, id: i64, state: &str, limit: Duration) -> admin::JobRow {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let row = job(db, id).await;
        if row.state == state || std::time::Instant::now() > deadline {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_job_exists_exactly_when_its_transaction_commits() {
    let db = TestDb::new().await;
    let rec = |tag: &str| Record {
        tag: tag.into(),
        sleep_ms: 0,
        key: None,
    };
    let txn = db.db.begin().await.unwrap();
    rec("rolled back").enqueue(&txn).await.unwrap();
    txn.rollback().await.unwrap();
    let txn = db.db.begin().await.unwrap();
    let kept = rec("committed").enqueue(&txn).await.unwrap();
    txn.commit().await.unwrap();
    assert_eq!(db.scalar("SELECT count(*) FROM engine_jobs").await, 1);
    assert_eq!(job(&db, kept.id).await.args["tag"], "committed");

    // Many jobs, one statement, in the given order.
    let many: Vec<NewJob> = (0..500)
        .map(|i| NewJob::of(&rec(&format!("bulk {i}"))).unwrap())
        .collect();
    let ids = enqueue_many(&db.db, many).await.unwrap();
    assert_eq!(ids.len(), 500);
    assert!(ids.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(job(&db, ids[499].id).await.args["tag"], "bulk 499");
}

#[tokio::test]
async fn a_live_duplicate_returns_the_same_job_and_raises_its_priority() {
    let db = TestDb::new().await;
    let base = NewJob::new("test.record", json!({ "tag": "x" })).dedupe_key("site:a");
    let first = enqueue(&db.db, base.clone().priority(1)).await.unwrap();
    let again = enqueue(&db.db, base.clone().priority(5)).await.unwrap();
    assert_eq!(first.id, again.id);
    assert!(!first.existed && again.existed);
    assert_eq!(job(&db, first.id).await.priority, 5);
    let lower = enqueue(&db.db, base.clone().priority(2)).await.unwrap();
    assert_eq!((lower.id, job(&db, first.id).await.priority), (first.id, 5));
    // Duplicates inside one batch become one job too.
    let batch = enqueue_many(
        &db.db,
        vec![base.clone().dedupe_key("b"), base.clone().dedupe_key("b")],
    )
    .await
    .unwrap();
    assert_eq!(batch[0].id, batch[1].id);
    // Once the first has finished, the key is free again.
    db.exec(&format!(
        "UPDATE engine_jobs SET state = 'completed' WHERE id = {}",
        first.id
    ))
    .await;
    let later = enqueue(&db.db, base).await.unwrap();
    assert_ne!(later.id, first.id);
}

#[tokio::test]
async fn outcomes_become_states_with_one_attempt_row_each() {
    let db = TestDb::new().await;
    db.exec(MARKS).await;
    let worker = start(&db.db, config(vec![QueueConfig::new("default", 4)]));
    let ok = record("ok").enqueue(&db.db).await.unwrap();
    let retried = enqueue(&db.db, fail("retry")).await.unwrap();
    let permanent = enqueue(&db.db, fail("permanent")).await.unwrap();
    let panics = enqueue(&db.db, fail("panic")).await.unwrap();
    let second = enqueue(&db.db, fail("second-time")).await.unwrap();
    let later = enqueue(&db.db, fail("retry-at")).await.unwrap();
    let unknown = enqueue(&db.db, NewJob::new("test.nobody", json!({})))
        .await
        .unwrap();
    let garbled = enqueue(&db.db, NewJob::new("test.record", json!({ "tag": 42 })))
        .await
        .unwrap();

    let limit = Duration::from_secs(10);
    let done = until_state(&db, ok.id, "completed", limit).await;
    assert_eq!(done.result, Some(json!({ "tag": "ok" })));
    let failed = until_state(&db, retried.id, "failed", limit).await;
    assert_eq!((failed.state.as_str(), failed.attempt), ("failed", 3));
    assert!(
        failed
            .last_error
            .unwrap()
            .contains("gave up after 3 attempts: the remote end is down")
    );
    let discarded = until_state(&db, permanent.id, "discarded", limit).await;
    assert_eq!(
        (discarded.attempt, discarded.last_error.as_deref()),
        (1, Some("this can never work"))
    );
    let panicked = until_state(&db, panics.id, "failed", limit).await;
    assert!(
        panicked
            .last_error
            .unwrap()
            .contains("panicked: the handler panicked")
    );
    assert_eq!(
        until_state(&db, second.id, "completed", limit)
            .await
            .attempt,
        2
    );
    let unknown = until_state(&db, unknown.id, "discarded", limit).await;
    assert_eq!(
        unknown.last_error.as_deref(),
        Some("unknown job kind `test.nobody`")
    );
    let garbled = until_state(&db, garbled.id, "discarded", limit).await;
    assert!(
        garbled.last_error.unwrap().contains("do not decode"),
        "undecodable arguments"
    );
    // "Try again at T": waiting two hours, not a backoff.
    let waiting = until_state(&db, later.id, "available", limit).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let waiting = job(&db, waiting.id).await;
    assert_eq!(waiting.attempt, 1);
    assert!(waiting.run_at > chrono::Utc::now() + chrono::Duration::minutes(119));

    let outcomes: Vec<String> = admin::attempts(&db.db, retried.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.outcome)
        .collect();
    assert_eq!(outcomes, ["retried", "retried", "retried"]);
    let success = admin::attempts(&db.db, ok.id).await.unwrap();
    assert_eq!(success.len(), 1);
    assert_eq!(success[0].outcome, "completed");
    assert!(success[0].worker_id.is_some() && success[0].duration_ms.is_some());
    worker.stop().await;
}

/// The kept counts against a real count of the table, read in one snapshot (a worker may be
/// claiming meanwhile).
async fn counts_agree(db: &TestDb, when: &str) {
    let (kept, real): (&str, &str) = (
        "SELECT coalesce(string_agg(format('%s %s %s %s', queue, kind, state, n), ',' ORDER BY queue, kind, state), '')
           FROM (SELECT queue, kind, state, sum(jobs) AS n FROM engine_job_counts GROUP BY 1, 2, 3 HAVING sum(jobs) <> 0) c",
        "SELECT coalesce(string_agg(format('%s %s %s %s', queue, kind, state, n), ',' ORDER BY queue, kind, state), '')
           FROM (SELECT queue, kind, state, count(*) AS n FROM engine_jobs GROUP BY 1, 2, 3) c",
    );
    let both = db
        .text(&format!("SELECT ({kept}) || ' | ' || ({real})"))
        .await;
    let (kept, real) = both.split_once(" | ").expect("both");
    assert_eq!(kept, real, "{when}");
    // The reader the views use agrees with its own sums.
    assert!(admin::counts(&db.db).await.is_ok());
}

/// A burst the statistics have not seen (they say the queue is empty) is still claimed along the
/// claim index: no plan that reads and sorts every waiting job to take a batch.
#[tokio::test]
async fn a_burst_not_yet_analysed_is_claimed_in_index_order() {
    let db = TestDb::new().await;
    // A table never analysed (its statistics say empty) and then a burst: a time index over
    // the waiting jobs looked cheaper here, and the plan sorted all 100 000 to take 500.
    db.exec(
        "INSERT INTO engine_jobs (kind, run_at)
         SELECT 'test.record', now() - interval '1 minute' FROM generate_series(1, 100000)",
    )
    .await;
    let mut conn = db
        .db
        .get_postgres_connection_pool()
        .acquire()
        .await
        .unwrap();
    sqlx::raw_sql(concat!(
        "SET plan_cache_mode = force_generic_plan; PREPARE claim(text, bigint, uuid, float8) AS ",
        include_str!("../sql/claim_plain.sql")
    ))
    .execute(&mut *conn)
    .await
    .unwrap();
    let plan: Vec<String> =
        sqlx::query_scalar("EXPLAIN EXECUTE claim('default', 500, gen_random_uuid(), 30)")
            .fetch_all(&mut *conn)
            .await
            .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("engine_jobs_fetch"), "{plan}");
    assert!(!plan.contains("Sort"), "{plan}");
}

#[tokio::test]
async fn scheduled_and_oldest_waiting_are_read_per_priority_level_as_a_scan_would() {
    let db = TestDb::new().await;
    // Three priority levels, due and future jobs in each, an isolated one, another queue.
    db.exec(
        "INSERT INTO engine_jobs (queue, kind, priority, run_at, isolate)
         SELECT 'q', 'test.record', (n % 3)::smallint,
                now() + make_interval(secs => (n - 40) * 60), n = 50
           FROM generate_series(1, 60) n;
         INSERT INTO engine_jobs (queue, kind, run_at) VALUES ('other', 'test.record', now() - interval '1 day')",
    )
    .await;
    let scanned = |what: &str| {
        format!("SELECT {what} FROM engine_jobs WHERE queue = 'q' AND state = 'available'")
    };
    let stats = admin::stats(&db.db).await.unwrap();
    let q = stats.iter().find(|s| s.queue == "q").expect("queue q");
    assert_eq!(
        q.scheduled,
        db.scalar(&scanned("count(*) FILTER (WHERE run_at > now())"))
            .await
    );
    assert_eq!(q.scheduled, 20);
    let oldest = db
        .scalar(&scanned("EXTRACT(EPOCH FROM now() - min(run_at))::bigint"))
        .await;
    let shown = q.oldest_waiting_seconds.expect("due jobs wait") as i64;
    assert!(
        (oldest - 1..=oldest + 1).contains(&shown),
        "{shown} s, scanned {oldest} s"
    );
    assert_eq!(q.available, 40);
}

#[tokio::test]
async fn kept_counts_follow_every_change_of_state_and_survive_compaction() {
    let db = TestDb::new().await;
    db.exec(MARKS).await;
    let worker = start(&db.db, config(vec![QueueConfig::new("default", 4)]));
    let mut ids = Vec::new();
    for tag in ["retry", "permanent", "panic", "second-time", "retry-at"] {
        ids.push(enqueue(&db.db, fail(tag)).await.unwrap().id);
    }
    for n in 0..20 {
        ids.push(record(&format!("ok{n}")).enqueue(&db.db).await.unwrap().id);
    }
    let waiting = enqueue(
        &db.db,
        NewJob::new("test.record", json!({ "tag": "later" }))
            .run_at(chrono::Utc::now() + chrono::Duration::hours(1)),
    )
    .await
    .unwrap();
    db.until(
        "SELECT count(*) FROM engine_jobs WHERE state IN ('completed', 'failed', 'discarded')",
        23,
        Duration::from_secs(15),
    )
    .await;
    counts_agree(&db, "after running").await;
    admin::cancel(&db.db, waiting.id).await.unwrap();
    admin::retry(&db.db, ids[1]).await.unwrap();
    counts_agree(&db, "after cancel and retry").await;
    worker.stop().await;
    // Folded into buckets (as if written minutes ago), then the rest deleted and truncated.
    db.exec("UPDATE engine_job_counts SET at = at - interval '20 minutes'")
        .await;
    admin::compact_counts(db.db.get_postgres_connection_pool())
        .await
        .unwrap();
    assert!(db.scalar("SELECT count(*) FROM engine_job_counts").await <= 8);
    counts_agree(&db, "after compaction").await;
    db.exec("DELETE FROM engine_jobs WHERE state = 'completed'")
        .await;
    counts_agree(&db, "after a delete").await;
    db.exec("TRUNCATE engine_jobs CASCADE").await;
    counts_agree(&db, "after a truncate").await;
}

#[tokio::test]
async fn progress_is_readable_while_the_job_runs_and_cancel_stops_it() {
    let db = TestDb::new().await;
    db.exec(MARKS).await;
    let worker = start(&db.db, config(vec![QueueConfig::new("default", 2)]));
    let slow = |cooperative| {
        NewJob::new(
            "test.slow",
            json!({ "steps": 50, "step_ms": 100, "cooperative": cooperative }),
        )
    };
    // Queued jobs are cancelled at once and never start.
    let queued = enqueue(
        &db.db,
        slow(true).run_at(chrono::Utc::now() + chrono::Duration::hours(1)),
    )
    .await
    .unwrap();
    let cancelled = admin::cancel(&db.db, queued.id).await.unwrap();
    assert_eq!(cancelled.state, "cancelled");

    let running = enqueue(&db.db, slow(true)).await.unwrap();
    let row = until_state(&db, running.id, "running", Duration::from_secs(5)).await;
    assert_eq!(row.state, "running");
    // Progress shows up while it runs.
    let mut seen = 0;
    for _ in 0..50 {
        if let Some(progress) = job(&db, running.id).await.progress {
            seen = progress["done"].as_i64().unwrap();
            if seen >= 2 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(seen >= 2, "no progress seen");
    let asked = std::time::Instant::now();
    admin::cancel(&db.db, running.id).await.unwrap();
    let stopped = until_state(&db, running.id, "cancelled", Duration::from_secs(5)).await;
    assert_eq!(stopped.state, "cancelled");
    // Seen at once by notification, and in any case within two heartbeats (lease 3 s / 3).
    assert!(
        asked.elapsed() < Duration::from_secs(2),
        "{:?}",
        asked.elapsed()
    );
    assert_eq!(
        db.scalar(&format!(
            "SELECT count(*) FROM marks WHERE job_id = {} AND tag = 'stopped'",
            running.id
        ))
        .await,
        1
    );
    let refused = admin::cancel(&db.db, running.id).await.unwrap_err();
    assert!(matches!(refused, EngineError::Conflict(_)), "{refused}");
    assert!(matches!(
        admin::cancel(&db.db, 999_999).await.unwrap_err(),
        EngineError::NotFound(_)
    ));

    // A cancelled job can be retried.
    let again = admin::retry(&db.db, queued.id).await.unwrap();
    assert_eq!(again.state, "available");
    worker.stop().await;
}

#[tokio::test]
async fn a_handler_that_ignores_its_token_is_stopped_at_timeout_plus_grace() {
    let db = TestDb::new().await;
    db.exec(MARKS).await;
    let worker = start(&db.db, config(vec![QueueConfig::new("default", 1)]));
    let started = std::time::Instant::now();
    let stubborn = enqueue(
        &db.db,
        NewJob::new(
            "test.slow",
            json!({ "steps": 100, "step_ms": 100, "cooperative": false }),
        )
        .max_attempts(1),
    )
    .await
    .unwrap();
    let ended = until_state(&db, stubborn.id, "failed", Duration::from_secs(6)).await;
    let took = started.elapsed();
    assert_eq!(ended.state, "failed");
    assert!(ended.last_error.unwrap().contains("timed out after 1.5s"));
    // timeout 1.5 s + grace 0.5 s, and nothing after: its progress stopped there.
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    let progress = job(&db, stubborn.id).await.progress.unwrap()["done"]
        .as_i64()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        job(&db, stubborn.id).await.progress.unwrap()["done"]
            .as_i64()
            .unwrap(),
        progress
    );
    assert_eq!(
        admin::attempts(&db.db, stubborn.id).await.unwrap()[0].outcome,
        "timed_out"
    );
    worker.stop().await;
}

#[tokio::test]
async fn fairness_serves_one_low_job_after_every_n_high_ones() {
    let db = TestDb::new().await;
    db.exec(MARKS).await;
    let settings = admin::QueueSettings {
        fair_every: Some(3),
        fair_low_max: 1,
        ..Default::default()
    };
    admin::configure_queue(&db.db, "fair", &settings)
        .await
        .unwrap();
    let mut jobs = Vec::new();
    for i in 0..12 {
        jobs.push(
            NewJob::new("test.record", json!({ "tag": format!("H{i}") }))
                .queue("fair")
                .priority(5),
        );
    }
    for i in 0..4 {
        jobs.push(
            NewJob::new("test.record", json!({ "tag": format!("L{i}") }))
                .queue("fair")
                .priority(1),
        );
    }
    enqueue_many(&db.db, jobs).await.unwrap();
    let worker = start(&db.db, config(vec![QueueConfig::new("fair", 1)]));
    db.until("SELECT count(*) FROM marks", 16, Duration::from_secs(15))
        .await;
    worker.stop().await;
    let order = db
        .text("SELECT string_agg(left(tag, 1), '' ORDER BY finished_at) FROM marks")
        .await;
    assert_eq!(order, "HHHLHHHLHHHLHHHL");

    // Without low jobs waiting, high ones are never held back; without high ones, low ones run.
    db.exec("DELETE FROM marks").await;
    let highs: Vec<NewJob> = (0..5)
        .map(|i| {
            NewJob::new("test.record", json!({ "tag": format!("H{i}") }))
                .queue("fair")
                .priority(5)
        })
        .collect();
    enqueue_many(&db.db, highs).await.unwrap();
    let worker = start(&db.db, config(vec![QueueConfig::new("fair", 1)]));
    assert_eq!(
        db.until("SELECT count(*) FROM marks", 5, Duration::from_secs(10))
            .await,
        5
    );
    worker.stop().await;
}

#[tokio::test]
async fn a_per_key_cap_holds_across_eight_workers() {
    let db = TestDb::new().await;
    db.exec(MARKS).await;
    let settings = admin::QueueSettings {
        per_key_limit: Some(3),
        ..Default::default()
    };
    admin::configure_queue(&db.db, "sites", &settings)
        .await
        .unwrap();
    let jobs: Vec<NewJob> = (0..60)
        .map(|i| {
            NewJob::of(&Record {
                tag: format!("a{i}"),
                sleep_ms: 60,
                key: Some("site-a".into()),
            })
            .unwrap()
            .queue("sites")
        })
        .chain((0..12).map(|i| {
            NewJob::of(&Record {
                tag: format!("b{i}"),
                sleep_ms: 60,
                key: Some("site-b".into()),
            })
            .unwrap()
            .queue("sites")
        }))
        .collect();
    enqueue_many(&db.db, jobs).await.unwrap();
    let workers: Vec<Running> = (0..8)
        .map(|_| start(&db.db, config(vec![QueueConfig::new("sites", 4)])))
        .collect();
    assert_eq!(
        db.until("SELECT count(*) FROM marks", 72, Duration::from_secs(30))
            .await,
        72
    );
    for worker in workers {
        worker.stop().await;
    }
    // The most jobs of one key running at once (at each start), from the handlers' own records.
    let most = |prefix: &str| {
        format!(
            "SELECT max(c)::bigint FROM (SELECT (SELECT count(*) FROM marks o
                 WHERE left(o.tag, 1) = '{prefix}' AND o.started_at <= m.started_at
                   AND o.finished_at > m.started_at) AS c
               FROM marks m WHERE left(m.tag, 1) = '{prefix}') AS at_each_start"
        )
    };
    assert_eq!(
        db.scalar(&most("a")).await,
        3,
        "site-a ran more or fewer than 3 at once"
    );
    assert!(db.scalar(&most("b")).await <= 3);
    // The capped backlog of site-a did not keep site-b waiting until it was done.
    let b_first = db
        .text("SELECT min(finished_at)::text FROM marks WHERE tag LIKE 'b%'")
        .await;
    let a_last = db
        .text("SELECT max(finished_at)::text FROM marks WHERE tag LIKE 'a%'")
        .await;
    assert!(b_first < a_last, "{b_first} !< {a_last}");
}

#[tokio::test]
async fn a_paused_queue_is_not_claimed_even_after_a_restart_and_pause_for_ends_by_itself() {
    let db = TestDb::new().await;
    db.exec(MARKS).await;
    admin::pause(&db.db, "default", None).await.unwrap();
    Record {
        tag: "held".into(),
        sleep_ms: 0,
        key: None,
    }
    .enqueue(&db.db)
    .await
    .unwrap();
    for _ in 0..2 {
        let worker = start(&db.db, config(vec![QueueConfig::new("default", 2)]));
        tokio::time::sleep(Duration::from_millis(800)).await;
        worker.stop().await;
        assert_eq!(db.scalar("SELECT count(*) FROM marks").await, 0);
    }
    let worker = start(&db.db, config(vec![QueueConfig::new("default", 2)]));
    admin::pause(
        &db.db,
        "default",
        Some(chrono::Utc::now() + chrono::Duration::seconds(1)),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(db.scalar("SELECT count(*) FROM marks").await, 0);
    assert_eq!(
        db.until("SELECT count(*) FROM marks", 1, Duration::from_secs(5))
            .await,
        1
    );
    admin::pause(&db.db, "default", None).await.unwrap();
    Record {
        tag: "again".into(),
        sleep_ms: 0,
        key: None,
    }
    .enqueue(&db.db)
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(db.scalar("SELECT count(*) FROM marks").await, 1);
    admin::resume(&db.db, "default").await.unwrap();
    assert_eq!(
        db.until("SELECT count(*) FROM marks", 2, Duration::from_secs(3))
            .await,
        2
    );
    worker.stop().await;
}

#[tokio::test]
async fn three_schedulers_make_exactly_one_job_per_slot() {
    let db = TestDb::new().await;
    let every_second =
        Schedule::new("tick", "* * * * * *", "test.record").args(json!({ "tag": "tick" }));
    let schedulers: Vec<Scheduler> = (0..3).map(|_| Scheduler::new(db.db.clone())).collect();
    for scheduler in &schedulers {
        scheduler
            .sync(std::slice::from_ref(&every_second))
            .await
            .unwrap();
    }
    let stop = Arc::new(Notify::new());
    let mut tasks = Vec::new();
    for scheduler in schedulers {
        let stop = stop.clone();
        tasks.push(tokio::spawn(async move {
            scheduler.run(async move { stop.notified().await }).await
        }));
    }
    tokio::time::sleep(Duration::from_secs(10)).await;
    stop.notify_waiters();
    for task in tasks {
        task.await.unwrap();
    }
    let slots = db.scalar("SELECT count(*) FROM engine_schedule_runs").await;
    let jobs = db
        .scalar("SELECT count(*) FROM engine_jobs WHERE created_by = 'cron:tick'")
        .await;
    assert!((9..=11).contains(&slots), "{slots} slots in 10 s");
    assert_eq!(jobs, slots, "one job per slot");
    assert_eq!(
        db.scalar("SELECT count(DISTINCT dedupe_key) FROM engine_jobs")
            .await,
        jobs
    );
    // Consecutive slots, none skipped.
    assert_eq!(
        db.scalar("SELECT (EXTRACT(EPOCH FROM max(slot) - min(slot)))::bigint + 1 FROM engine_schedule_runs").await,
        slots
    );
}

#[tokio::test]
async fn a_schedule_can_skip_slots_while_its_previous_run_is_live_and_run_on_start() {
    let db = TestDb::new().await;
    let schedule = Schedule::new("busy", "* * * * * *", "test.record")
        .args(json!({ "tag": "busy" }))
        .overlap(engine::Overlap::Skip)
        .run_on_start(true);
    let scheduler = Scheduler::new(db.db.clone());
    scheduler
        .sync(std::slice::from_ref(&schedule))
        .await
        .unwrap();
    scheduler
        .sync(std::slice::from_ref(&schedule))
        .await
        .unwrap();
    // run_on_start: one job, however many schedulers start.
    assert_eq!(db.scalar("SELECT count(*) FROM engine_jobs").await, 1);
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        scheduler.tick().await.unwrap();
    }
    // No worker runs them: every slot after the start is skipped.
    assert_eq!(db.scalar("SELECT count(*) FROM engine_jobs").await, 1);
    assert!(
        db.scalar("SELECT count(*) FROM engine_schedule_runs WHERE skipped_reason IS NOT NULL")
            .await
            >= 2
    );
}

#[tokio::test]
async fn an_idle_worker_starts_a_new_job_quickly() {
    let db = TestDb::new().await;
    db.exec(MARKS).await;
    let worker = start(&db.db, config(vec![QueueConfig::new("default", 2)]));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut waits = Vec::new();
    for i in 0..20 {
        let enqueued = std::time::Instant::now();
        Record {
            tag: format!("{i}"),
            sleep_ms: 0,
            key: None,
        }
        .enqueue(&db.db)
        .await
        .unwrap();
        db.until("SELECT count(*) FROM marks", i + 1, Duration::from_secs(5))
            .await;
        waits.push(enqueued.elapsed());
    }
    waits.sort();
    // Woken by NOTIFY, not by the 200 ms poll.
    assert!(
        waits[10] < Duration::from_millis(100),
        "median {:?}",
        waits[10]
    );
    worker.stop().await;
}

#[tokio::test]
async fn shutdown_lets_jobs_finish_and_releases_the_rest_without_spending_an_attempt() {
    let db = TestDb::new().await;
    db.exec(MARKS).await;
    let short = Record {
        tag: "short".into(),
        sleep_ms: 300,
        key: None,
    }
    .enqueue(&db.db)
    .await
    .unwrap();
    let long = enqueue(
        &db.db,
        NewJob::new(
            "test.slow",
            json!({ "steps": 100, "step_ms": 100, "cooperative": true }),
        ),
    )
    .await
    .unwrap();
    let mut settings = config(vec![QueueConfig::new("default", 2)]);
    settings.shutdown_grace = Duration::from_millis(800);
    let worker = start(&db.db, settings);
    until_state(&db, long.id, "running", Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    worker.stop().await;
    assert_eq!(job(&db, short.id).await.state, "completed");
    let released = job(&db, long.id).await;
    assert_eq!(
        (released.state.as_str(), released.attempt),
        ("available", 0)
    );
    assert!(released.lease_owner.is_none());
}

#[tokio::test]
async fn finished_jobs_past_their_retention_are_pruned_and_live_ones_kept() {
    let db = TestDb::new().await;
    let old = enqueue(&db.db, NewJob::new("test.record", json!({ "tag": "old" })))
        .await
        .unwrap();
    let recent = enqueue(&db.db, NewJob::new("test.record", json!({ "tag": "new" })))
        .await
        .unwrap();
    let waiting = enqueue(
        &db.db,
        NewJob::new("test.record", json!({ "tag": "later" })).delay(Duration::from_secs(3600)),
    )
    .await
    .unwrap();
    db.exec(&format!(
        "UPDATE engine_jobs SET state = 'completed', finished_at = now() - interval '3 days' WHERE id = {};
         UPDATE engine_jobs SET state = 'failed', finished_at = now() - interval '1 hour' WHERE id = {}",
        old.id, recent.id
    ))
    .await;
    let mut settings = config(vec![QueueConfig::new("default", 1)]);
    settings.retention = Some(Duration::from_secs(86_400));
    let worker = start(&db.db, settings);
    let gone = db
        .until(
            &format!("SELECT 1 - count(*) FROM engine_jobs WHERE id = {}", old.id),
            1,
            Duration::from_secs(5),
        )
        .await;
    worker.stop().await;
    assert_eq!(gone, 1, "the old job was not pruned");
    assert_eq!(job(&db, recent.id).await.state, "failed");
    assert_eq!(job(&db, waiting.id).await.state, "available");
}

/// The outbox: the transaction that finishes a job writes one delivery per event and matching
/// endpoint — succeeded; failed (gave up, or discarded); a handler error per failed attempt.
#[tokio::test]
async fn finishing_a_job_writes_its_webhook_events_in_the_same_transaction() {
    let db = TestDb::new().await;
    db.exec(MARKS).await;
    db.exec(
        "INSERT INTO engine_webhook_endpoints (url, secret, events) VALUES
             ('https://hooks.example/all', 'whsec_AAAA', ARRAY['task.succeeded', 'task.failed', 'task.handler_error']),
             ('https://hooks.example/done', 'whsec_AAAA', ARRAY['task.succeeded'])",
    )
    .await;
    // Only `default` runs here: deliveries stay in the `webhooks` queue to be counted.
    let worker = start(&db.db, config(vec![QueueConfig::new("default", 4)]));
    let ok = record("ok").enqueue(&db.db).await.unwrap();
    let retried = enqueue(&db.db, fail("retry")).await.unwrap();
    let permanent = enqueue(&db.db, fail("permanent")).await.unwrap();
    let limit = Duration::from_secs(10);
    until_state(&db, ok.id, "completed", limit).await;
    until_state(&db, retried.id, "failed", limit).await;
    until_state(&db, permanent.id, "discarded", limit).await;
    let events = |id: i64| {
        format!(
            "SELECT string_agg(args->>'type', ',' ORDER BY args->>'type') FROM engine_jobs
              WHERE kind = 'engine.webhook' AND queue = 'webhooks' AND (args->'task'->>'id')::bigint = {id}"
        )
    };
    assert_eq!(
        db.text(&events(ok.id)).await,
        "task.succeeded,task.succeeded"
    );
    assert_eq!(
        db.text(&events(retried.id)).await,
        "task.failed,task.handler_error,task.handler_error,task.handler_error"
    );
    assert_eq!(
        db.text(&events(permanent.id)).await,
        "task.failed,task.handler_error"
    );
    let task = db
        .text(&format!(
            "SELECT args->'task'->>'state' || ' ' || (args->'task'->>'attempt') FROM engine_jobs
              WHERE kind = 'engine.webhook' AND args->>'type' = 'task.failed'
                AND (args->'task'->>'id')::bigint = {}",
            retried.id
        ))
        .await;
    assert_eq!(task, "failed 3");
    worker.stop().await;
}

#[tokio::test]
async fn a_snoozed_job_runs_again_later_without_spending_an_attempt() {
    let db = TestDb::new().await;
    let snoozing = enqueue(&db.db, fail("snooze").max_attempts(1))
        .await
        .unwrap();
    let worker = start(&db.db, config(vec![QueueConfig::new("default", 2)]));
    let snoozes = db
        .until(
            &format!(
                "SELECT count(*) FROM engine_job_attempts WHERE job_id = {} AND outcome = 'snoozed'",
                snoozing.id
            ),
            3,
            Duration::from_secs(10),
        )
        .await;
    worker.stop().await;
    assert!(snoozes >= 3, "snoozed {snoozes} times");
    let row = job(&db, snoozing.id).await;
    // Three tries and its one attempt is still unspent: it waits for its next run.
    assert_eq!((row.state.as_str(), row.attempt), ("available", 0));
    assert_eq!(
        row.last_error.as_deref(),
        Some("the service it needs is down")
    );
    let rendered = engine::Metrics::global().render();
    assert!(
        rendered.contains("engine_jobs_snoozed_total{kind=\"test.fail\"}"),
        "{rendered}"
    );
}

#[tokio::test]
async fn every_job_goes_in_through_engine_add_jobs_with_the_kinds_defaults() {
    let db = TestDb::new().await;
    // No function of the schema inserts jobs but the one way in.
    let inserters = db
        .text(
            "SELECT coalesce(string_agg(proname, ', ' ORDER BY proname), '') FROM pg_proc
              WHERE prosrc ILIKE '%INSERT INTO engine_jobs%'",
        )
        .await;
    assert_eq!(inserters, "engine_add_jobs");
    // The schema's defaults for the engine's own kinds are what their types declare.
    for (kind, settings) in [
        (
            engine::events::DETECT_KIND,
            <engine::events::DetectEvent as engine::JobArgs>::settings(),
        ),
        (
            engine::webhooks::KIND,
            <engine::webhooks::DeliverWebhook as engine::JobArgs>::settings(),
        ),
    ] {
        let stored = db
            .text(&format!(
                "SELECT queue || ' ' || priority || ' ' || max_attempts FROM engine_kinds WHERE kind = '{kind}'"
            ))
            .await;
        assert_eq!(
            stored,
            format!(
                "{} {} {}",
                settings.queue, settings.priority, settings.max_attempts
            ),
            "{kind}"
        );
    }
    // A job added without its settings gets its kind's, which a starting worker records.
    db.exec("SELECT * FROM engine_add_jobs('[{\"kind\": \"test.fail\", \"args\": {\"how\": \"permanent\"}}]')")
        .await;
    assert_eq!(
        db.scalar("SELECT max_attempts::bigint FROM engine_jobs WHERE kind = 'test.fail'")
            .await,
        20,
        "an unknown kind gets the engine's defaults"
    );
    let worker = start(&db.db, config(vec![QueueConfig::new("other", 1)]));
    db.until(
        "SELECT count(*) FROM engine_kinds WHERE kind = 'test.fail' AND max_attempts = 3",
        1,
        Duration::from_secs(5),
    )
    .await;
    worker.stop().await;
    db.exec("SELECT * FROM engine_add_jobs('[{\"kind\": \"test.fail\", \"args\": {\"how\": \"x\"}, \"priority\": 7}]')")
        .await;
    assert_eq!(
        db.text(
            "SELECT queue || ' ' || priority || ' ' || max_attempts FROM engine_jobs
              WHERE kind = 'test.fail' ORDER BY id DESC LIMIT 1"
        )
        .await,
        "default 7 3",
        "given fields win, the rest come from the kind"
    );
}

#[tokio::test]
async fn applications_assert_what_was_enqueued_and_run_it_inline() {
    let db = TestDb::new().await;
    db.exec(MARKS).await;
    let txn = db.db.begin().await.unwrap();
    record("inline").enqueue(&txn).await.unwrap();
    txn.commit().await.unwrap();
    let job = engine::testing::assert_enqueued(&db.db, &record("inline")).await;
    assert_eq!(
        (job.kind.as_str(), job.state.as_str()),
        ("test.record", "available")
    );
    engine::testing::refute_enqueued::<Fail>(&db.db).await;
    let missing = tokio::spawn({
        let db = db.db.clone();
        async move { engine::testing::assert_enqueued(&db, &record("never")).await }
    });
    let panic = missing.await.unwrap_err().into_panic();
    assert!(
        engine::panic_message(&panic).contains("these are"),
        "the failure lists what is enqueued"
    );
    let attempts = engine::testing::run_queued(&db.db, registry(), &["default"])
        .await
        .unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(
        (attempts[0].outcome, attempts[0].state),
        ("completed", "completed")
    );
    assert_eq!(attempts[0].result, Some(json!({ "tag": "inline" })));
    engine::testing::refute_enqueued::<Record>(&db.db).await;
    assert_eq!(db.scalar("SELECT count(*) FROM marks").await, 1);
}

#[tokio::test]
async fn a_worker_renews_only_the_leases_of_jobs_it_is_running() {
    // A job the database says this worker runs, but which it does not hold in memory (its claim
    // answer raced a heartbeat, or its completion was never written): nobody must keep it alive.
    let db = TestDb::new().await;
    db.exec(MARKS).await;
    let worker = start(&db.db, config(vec![QueueConfig::new("default", 2)]));
    db.until(
        "SELECT count(*) FROM engine_workers",
        1,
        Duration::from_secs(5),
    )
    .await;
    // Written as running from the start: enqueued and then updated, the worker could claim it
    // in between.
    let orphan_id = db
        .scalar(&format!(
            r#"INSERT INTO engine_jobs (kind, args, state, attempt, lease_owner, started_at, lease_expires_at)
               VALUES ('test.record', '{{"tag": "orphan"}}', 'running', 1, '{}', now(),
                       now() + interval '3 seconds')
               RETURNING id"#,
            worker.id
        ))
        .await;
    // Lease 3 s: expired, reaped, run again (alone) by the same worker.
    let row = until_state(&db, orphan_id, "completed", Duration::from_secs(15)).await;
    assert_eq!(row.state, "completed", "{row:?}");
    assert_eq!(row.attempt, 2);
    assert_eq!(
        db.scalar("SELECT count(*) FROM engine_job_attempts WHERE outcome = 'lease_expired'")
            .await,
        1
    );
    worker.stop().await;
}

#[tokio::test]
async fn a_completion_that_cannot_be_recorded_keeps_its_lease_and_is_recorded_later() {
    let db = TestDb::new().await;
    db.exec(MARKS).await;
    // Every attempt row is refused (as by a deadlock) while `refuse` has a row.
    db.exec(
        "CREATE TABLE refuse (x int); INSERT INTO refuse VALUES (1);
         CREATE SEQUENCE refusals;
         CREATE FUNCTION refuse_attempts() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
             IF EXISTS (SELECT 1 FROM refuse) THEN
                 PERFORM nextval('refusals');
                 RAISE EXCEPTION 'refused for the test' USING ERRCODE = '40P01';
             END IF;
             RETURN NEW;
         END $$;
         CREATE TRIGGER refuse_attempts BEFORE INSERT ON engine_job_attempts
             FOR EACH ROW EXECUTE FUNCTION refuse_attempts();",
    )
    .await;
    let worker = start(&db.db, config(vec![QueueConfig::new("default", 2)]));
    let started = std::time::Instant::now();
    let done = record("done").enqueue(&db.db).await.unwrap();
    db.until("SELECT count(*) FROM marks", 1, Duration::from_secs(5))
        .await;
    // Refused for twice the lease (3 s): the worker keeps the job's lease while it retries.
    while started.elapsed() < Duration::from_secs(6) {
        let row = job(&db, done.id).await;
        assert_eq!((row.state.as_str(), row.attempt), ("running", 1), "{row:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        db.value::<i64>("SELECT last_value FROM refusals").await >= 3,
        "the recorder kept trying"
    );
    db.exec("DELETE FROM refuse").await;
    let row = until_state(&db, done.id, "completed", Duration::from_secs(10)).await;
    assert_eq!((row.state.as_str(), row.attempt), ("completed", 1));
    assert_eq!(db.scalar("SELECT count(*) FROM marks").await, 1, "ran once");
    worker.stop().await;
}

#[tokio::test]
async fn a_statement_on_a_connection_the_server_terminated_is_transient() {
    let db = TestDb::new().await;
    let pool = db.db.get_postgres_connection_pool().clone();
    let mut conn = pool.acquire().await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    db.exec(&format!("SELECT pg_terminate_backend({pid})"))
        .await;
    let err = loop {
        // The termination arrives asynchronously: poll until this connection sees it.
        match sqlx::query("SELECT 1").execute(&mut *conn).await {
            Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(err) => break err,
        }
    };
    assert!(engine::is_transient(&err), "{err:?}");
    let syntax = sqlx::query("SELEC 1").execute(&pool).await.unwrap_err();
    assert!(!engine::is_transient(&syntax), "{syntax:?}");
}

#[tokio::test]
async fn update_notifications_carry_every_id_within_the_payload_limit() {
    let db = TestDb::new().await;
    let pool = db.db.get_postgres_connection_pool();
    let mut listener = sqlx::postgres::PgListener::connect_with(pool)
        .await
        .unwrap();
    listener.listen("engine_updates").await.unwrap();
    // The longest ids there are: 19 digits.
    sqlx::query(
        "SELECT engine_notify_updates(ARRAY(
             SELECT 9223372036854775807 - n FROM generate_series(0, 999) n))",
    )
    .execute(pool)
    .await
    .unwrap();
    let mut seen = std::collections::HashSet::new();
    while seen.len() < 1000 {
        let notification = tokio::time::timeout(Duration::from_secs(5), listener.recv())
            .await
            .expect("all ids within 5 s")
            .unwrap();
        assert!(notification.payload().len() < 8000);
        for id in notification.payload().split(',') {
            assert!(seen.insert(id.parse::<i64>().unwrap()), "{id} twice");
        }
    }
    assert_eq!(seen.len(), 1000);
}
