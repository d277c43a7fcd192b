//! The worker: per queue a fetcher and `concurrency` executor slots; per process a completer
//! (batched, fenced), a heartbeater, a reaper and a listener.
//!
//! - Claim: one statement (`FOR UPDATE SKIP LOCKED`), leasing the jobs to this worker for
//!   `lease` and bumping `attempt`, the fencing token (J2).
//! - Heartbeat every `lease / 3` extends the leases and reports cancel requests; a job whose lease
//!   was lost, and every job when heartbeats keep failing, has its token fired (J3, J8).
//! - Completion, progress and release are `... WHERE id AND attempt AND lease_owner`: a worker that
//!   lost a job cannot change it (J3).
//! - The reaper (on every worker) returns expired leases and isolates those jobs: each then runs
//!   alone in its worker, and a job whose worker died three times while it ran alone fails
//!   (J2, J6); the jobs that merely ran beside a poison pill are not blamed.
//! - Wake-up: `LISTEN engine_jobs` plus a poll every `poll_interval` (J9).

use std::{
    collections::HashMap,
    future::Future,
    panic::AssertUnwindSafe,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU8, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use sea_orm::DatabaseConnection;
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::{Notify, mpsc, watch};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::{
    EngineError,
    job::{JobContext, JobError, Registry},
    metrics::Metrics,
    retry::RetryPolicy,
};

/// One queue a worker serves.
#[derive(Clone, Debug)]
pub struct QueueConfig {
    pub name: String,
    /// Jobs of this queue run at once in this process.
    pub concurrency: usize,
    /// Jobs claimed ahead of free slots (they hold a lease meanwhile). 0 claims only for idle
    /// slots; batching (e.g. 500) raises throughput for short jobs.
    pub prefetch: usize,
}

impl QueueConfig {
    pub fn new(name: impl Into<String>, concurrency: usize) -> Self {
        QueueConfig {
            name: name.into(),
            concurrency: concurrency.max(1),
            prefetch: 0,
        }
    }

    pub fn prefetch(mut self, prefetch: usize) -> Self {
        self.prefetch = prefetch;
        self
    }
}

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub queues: Vec<QueueConfig>,
    /// How long a claimed job is this worker's without a heartbeat (~30 s, J2).
    pub lease: Duration,
    /// Polling fallback when no notification arrives.
    pub poll_interval: Duration,
    pub reaper_interval: Duration,
    /// On shutdown, how long running jobs may take to finish before they are cancelled and
    /// released (without using up an attempt).
    pub shutdown_grace: Duration,
    pub retry: RetryPolicy,
    /// A job whose workers died this many times while running it fails (J6).
    pub poison_after: i64,
    /// Finished jobs (and their attempts and schedule runs) older than this are deleted; `None`
    /// keeps them forever.
    pub retention: Option<Duration>,
    /// Jobs of these kinds are instant successes (Koalati's mock mode: the API, storage and
    /// status answers are real, the work is not done).
    pub mock_kinds: Vec<String>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            queues: vec![QueueConfig::new("default", 10)],
            lease: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            reaper_interval: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            poison_after: 3,
            retention: Some(Duration::from_secs(14 * 86_400)),
            mock_kinds: Vec::new(),
        }
    }
}

/// Why a running job's token fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Stop {
    None = 0,
    CancelRequested = 1,
    LeaseLost = 2,
    TimedOut = 3,
    Shutdown = 4,
}

impl Stop {
    fn from_u8(value: u8) -> Stop {
        match value {
            1 => Stop::CancelRequested,
            2 => Stop::LeaseLost,
            3 => Stop::TimedOut,
            4 => Stop::Shutdown,
            _ => Stop::None,
        }
    }
}

/// The running side of one job: its token and why it fired.
#[derive(Clone)]
pub(crate) struct JobHandle {
    pub(crate) token: CancellationToken,
    stop: Arc<AtomicU8>,
    pub(crate) db: DatabaseConnection,
    pool: PgPool,
    worker: Uuid,
}

impl JobHandle {
    /// Fires the token for `reason`; the first reason given sticks.
    fn stop(&self, reason: Stop) {
        let _ = self.stop.compare_exchange(
            Stop::None as u8,
            reason as u8,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
        self.token.cancel();
    }

    fn reason(&self) -> Stop {
        Stop::from_u8(self.stop.load(Ordering::SeqCst))
    }

    pub(crate) async fn progress(
        &self,
        id: i64,
        attempt: i32,
        progress: Value,
    ) -> Result<(), JobError> {
        let updated = sqlx::query_scalar!(
            r#"WITH changed AS (
                   UPDATE engine_jobs SET progress = $4
                    WHERE id = $1 AND attempt = $2 AND lease_owner = $3 AND state = 'running'
                   RETURNING id)
               SELECT count(*) AS "changed!"
                 FROM changed, LATERAL engine_notify_updates(ARRAY[changed.id])"#,
            id,
            attempt,
            self.worker,
            progress
        )
        .fetch_one(&self.pool)
        .await
        .map_err(JobError::retryable)?;
        if updated == 0 {
            self.stop(Stop::LeaseLost);
            return Err(JobError::Cancelled);
        }
        Ok(())
    }
}

/// A claimed job, as the claims (`sql/claim_*.sql`) return it.
#[derive(Debug)]
struct Claimed {
    id: i64,
    kind: String,
    args: Value,
    attempt: i32,
    max_attempts: i32,
    correlation_id: Option<Uuid>,
}

/// An attempt a worker finished and recorded, as its observer hears of it.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub job_id: i64,
    pub kind: String,
    pub attempt: i32,
    /// The job's state now: `completed`, `available` (to run again), `failed`, `discarded`,
    /// `cancelled`.
    pub state: &'static str,
    /// `completed`, `retried`, `snoozed`, `panicked`, `timed_out`, `discarded`, `cancelled`,
    /// `released`.
    pub outcome: &'static str,
    pub error: Option<String>,
    pub result: Option<Value>,
}

/// How an attempt ended, as the completer records it.
#[derive(Debug)]
struct Finished {
    id: i64,
    attempt: i32,
    /// The job's new state.
    state: &'static str,
    run_at: Option<DateTime<Utc>>,
    error: Option<String>,
    result: Option<Value>,
    /// The attempt row's outcome.
    outcome: &'static str,
    kind: String,
    duration: Duration,
    /// Set for a job of a queue with a per-key cap: once recorded, its key has room again, so
    /// this worker's fetcher of that queue is woken (others by the notification the finish sends).
    refill: Option<Arc<Notify>>,
}

struct Running {
    attempt: i32,
    handle: JobHandle,
}

/// State shared by the tasks of one worker.
struct Shared {
    id: Uuid,
    db: DatabaseConnection,
    pool: PgPool,
    registry: Registry,
    config: WorkerConfig,
    running: Mutex<HashMap<i64, Running>>,
    metrics: Arc<Metrics>,
    finished: mpsc::UnboundedSender<Finished>,
    backlog: Arc<Backlog>,
    stopping: AtomicBool,
    stop_fetching: Notify,
    /// True while an isolated job waits for the others to finish or runs: no claims meanwhile.
    exclusive: watch::Sender<bool>,
    /// The same, read by fetchers right before they claim, and the claims in flight: together
    /// they make sure no claim lands beside an isolated job (each side writes, then reads the
    /// other's flag).
    isolating: AtomicBool,
    claiming: std::sync::atomic::AtomicUsize,
}

impl Shared {
    /// Hands a finished attempt to the completer.
    fn finished(&self, finished: Finished) {
        let id = finished.id;
        self.backlog.add(id, finished.attempt);
        if self.finished.send(finished).is_err() {
            self.backlog.recorded([id]);
        }
    }

    fn running(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Running>> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A worker process's engine side.
pub struct Worker {
    db: DatabaseConnection,
    registry: Registry,
    config: WorkerConfig,
    id: Uuid,
    metrics: Arc<Metrics>,
    observer: Option<mpsc::UnboundedSender<Attempt>>,
}

impl Worker {
    pub fn new(db: DatabaseConnection, registry: Registry, config: WorkerConfig) -> Self {
        Worker {
            db,
            registry,
            config,
            id: Uuid::new_v4(),
            metrics: Metrics::global().clone(),
            observer: None,
        }
    }

    /// Tells `observer` of every attempt this worker finishes, once it is recorded.
    pub fn observe(mut self, observer: mpsc::UnboundedSender<Attempt>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Runs until none of its queues' jobs is due or running (or until `stop` resolves): a
    /// batch run, as a cron job or a test does it. Jobs that fall due meanwhile (a retry without
    /// delay, a job rescued from a dead worker once its lease ran out) run too.
    pub async fn run_until_idle(self, stop: impl Future<Output = ()>) -> Result<(), EngineError> {
        let pool = self.db.get_postgres_connection_pool().clone();
        let queues: Vec<String> = self.config.queues.iter().map(|q| q.name.clone()).collect();
        let idle = async move {
            let mut quiet = 0;
            // Twice in a row: a job finished a moment ago may be due again at once.
            while quiet < 2 {
                tokio::time::sleep(Duration::from_millis(25)).await;
                let busy = sqlx::query_scalar!(
                    r#"SELECT EXISTS (
                           SELECT 1 FROM engine_jobs
                            WHERE queue = ANY ($1)
                              AND (state = 'running' OR (state = 'available' AND run_at <= now())))
                           AS "busy!""#,
                    &queues
                )
                .fetch_one(&pool)
                .await
                .unwrap_or(true);
                quiet = if busy { 0 } else { quiet + 1 };
            }
        };
        self.run(async move {
            tokio::select! {
                _ = idle => {}
                _ = stop => {}
            }
        })
        .await
    }

    /// Shares `metrics` (e.g. with a `/metrics` endpoint).
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = metrics;
        self
    }

    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Runs until `shutdown` resolves; then stops claiming, lets running jobs finish within
    /// `shutdown_grace`, and cancels and releases the rest.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), EngineError> {
        let pool = self.db.get_postgres_connection_pool().clone();
        register_worker(&pool, self.id, &self.config).await?;
        record_kinds(&pool, self.registry.catalog()).await?;
        let (finished_tx, finished_rx) = mpsc::unbounded_channel();
        let backlog = Arc::new(Backlog::default());
        let shared = Arc::new(Shared {
            id: self.id,
            db: self.db,
            pool,
            registry: self.registry,
            config: self.config,
            running: Mutex::new(HashMap::new()),
            metrics: self.metrics,
            finished: finished_tx,
            backlog: backlog.clone(),
            stopping: AtomicBool::new(false),
            stop_fetching: Notify::new(),
            exclusive: watch::Sender::new(false),
            isolating: AtomicBool::new(false),
            claiming: std::sync::atomic::AtomicUsize::new(0),
        });
        tracing::info!(worker = %shared.id, queues = ?shared.config.queues.iter().map(|q| &q.name).collect::<Vec<_>>(), "job worker started");
        let wakers: HashMap<String, Arc<Notify>> = shared
            .config
            .queues
            .iter()
            .map(|q| (q.name.clone(), Arc::new(Notify::new())))
            .collect();
        let background = CancellationToken::new();
        let recorder = Recorder {
            pool: shared.pool.clone(),
            worker: shared.id,
            metrics: shared.metrics.clone(),
            backlog,
            observer: self.observer,
        };
        let completer = tokio::spawn(complete(recorder, finished_rx));
        let isolated = Arc::new(Notify::new());
        let helpers = [
            tokio::spawn(heartbeat(shared.clone(), background.clone())),
            tokio::spawn(presence(shared.clone(), background.clone())),
            tokio::spawn(reap(shared.clone(), background.clone())),
            tokio::spawn(listen(
                shared.clone(),
                wakers.clone(),
                isolated.clone(),
                background.clone(),
            )),
        ];
        let alone = tokio::spawn(run_isolated(shared.clone(), isolated));
        let mut queues = Vec::new();
        for queue in shared.config.queues.clone() {
            let waker = wakers[&queue.name].clone();
            queues.push(tokio::spawn(serve_queue(shared.clone(), queue, waker)));
        }
        shutdown.await;
        tracing::info!(worker = %shared.id, "job worker stopping: finishing running jobs");
        shared.stopping.store(true, Ordering::SeqCst);
        shared.stop_fetching.notify_waiters();
        let grace = shared.config.shutdown_grace;
        let drained = wait_for_idle(&shared, grace).await;
        if !drained {
            let handles: Vec<JobHandle> = shared
                .running()
                .values()
                .map(|r| r.handle.clone())
                .collect();
            tracing::warn!(
                jobs = handles.len(),
                "shutdown grace over: cancelling and releasing the jobs still running"
            );
            for handle in handles {
                handle.stop(Stop::Shutdown);
            }
        }
        for queue in queues {
            let _ = queue.await;
        }
        let _ = alone.await;
        background.cancel();
        for helper in helpers {
            let _ = helper.await;
        }
        // Every task has ended: dropping the last `Shared` closes the completer's channel, and
        // the completer records what is left before it ends.
        let (pool, id) = (shared.pool.clone(), shared.id);
        drop(shared);
        let _ = completer.await;
        let _ = sqlx::query!(
            "UPDATE engine_workers SET stopped_at = now() WHERE id = $1",
            id
        )
        .execute(&pool)
        .await;
        tracing::info!(worker = %id, "job worker stopped");
        Ok(())
    }
}

async fn register_worker(
    pool: &PgPool,
    id: Uuid,
    config: &WorkerConfig,
) -> Result<(), EngineError> {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|| "unknown".into());
    let queues: Vec<String> = config.queues.iter().map(|q| q.name.clone()).collect();
    sqlx::query!(
        "INSERT INTO engine_workers (id, host, pid, queues) VALUES ($1, $2, $3, $4)",
        id,
        host,
        std::process::id() as i32,
        &queues
    )
    .execute(pool)
    .await?;
    // Forget workers that stopped or went silent a day ago.
    sqlx::query!("DELETE FROM engine_workers WHERE last_heartbeat_at < now() - interval '1 day'")
        .execute(pool)
        .await?;
    Ok(())
}

/// Writes the registry's kinds to `engine_kinds`, where `engine_add_jobs` finds the defaults of
/// jobs added without them (by the capture trigger and the webhook outbox).
async fn record_kinds(pool: &PgPool, catalog: &crate::Catalog) -> Result<(), EngineError> {
    let kinds = catalog.kinds();
    let names: Vec<String> = kinds.iter().map(|(kind, _)| kind.to_string()).collect();
    let queues: Vec<String> = kinds.iter().map(|(_, s)| s.queue.to_owned()).collect();
    let priorities: Vec<i16> = kinds.iter().map(|(_, s)| s.priority).collect();
    let attempts: Vec<i32> = kinds.iter().map(|(_, s)| s.max_attempts).collect();
    sqlx::query!(
        "INSERT INTO engine_kinds (kind, queue, priority, max_attempts)
         SELECT * FROM unnest($1::text[], $2::text[], $3::smallint[], $4::int[])
         ON CONFLICT (kind) DO UPDATE
            SET queue = excluded.queue, priority = excluded.priority,
                max_attempts = excluded.max_attempts, updated_at = now()
          WHERE (engine_kinds.queue, engine_kinds.priority, engine_kinds.max_attempts)
                IS DISTINCT FROM (excluded.queue, excluded.priority, excluded.max_attempts)",
        &names,
        &queues,
        &priorities,
        &attempts
    )
    .execute(pool)
    .await?;
    Ok(())
}

async fn wait_for_idle(shared: &Shared, grace: Duration) -> bool {
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if shared.running().is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shared.running().is_empty()
}

/// Whether the queue's claim needs `engine_claim`, and whether its keys are capped (read at most
/// once a second).
struct QueueShape {
    full: bool,
    capped: Arc<AtomicBool>,
    read_at: Option<Instant>,
}

impl QueueShape {
    async fn refresh(&mut self, pool: &PgPool, queue: &str) {
        if self
            .read_at
            .is_some_and(|at| at.elapsed() < Duration::from_secs(1))
        {
            return;
        }
        let row = sqlx::query!(
            r#"SELECT fair_every IS NOT NULL OR per_key_limit IS NOT NULL AS "full!",
                      per_key_limit IS NOT NULL AS "capped!"
                 FROM engine_queues WHERE name = $1"#,
            queue
        )
        .fetch_optional(pool)
        .await;
        if let Ok(row) = row {
            self.full = row.as_ref().is_some_and(|r| r.full);
            let capped = row.is_some_and(|r| r.capped);
            self.capped.store(capped, Ordering::SeqCst);
            self.read_at = Some(Instant::now());
        }
    }
}

async fn claim(
    shared: &Shared,
    queue: &str,
    shape: &QueueShape,
    limit: usize,
) -> Result<Vec<Claimed>, sqlx::Error> {
    let (lease, limit) = (shared.config.lease.as_secs_f64(), limit as i32);
    if shape.full {
        sqlx::query_file_as!(
            Claimed,
            "sql/claim_full.sql",
            queue,
            limit,
            shared.id,
            lease
        )
        .fetch_all(&shared.pool)
        .await
    } else {
        sqlx::query_file_as!(
            Claimed,
            "sql/claim_plain.sql",
            queue,
            i64::from(limit),
            shared.id,
            lease
        )
        .fetch_all(&shared.pool)
        .await
    }
}

/// The fetcher and executor slots of one queue.
async fn serve_queue(shared: Arc<Shared>, queue: QueueConfig, waker: Arc<Notify>) {
    let capacity = queue.concurrency + queue.prefetch;
    let (jobs_tx, jobs_rx) = mpsc::channel::<Claimed>(capacity.max(1));
    let jobs_rx = Arc::new(tokio::sync::Mutex::new(jobs_rx));
    let idle = Arc::new(std::sync::atomic::AtomicUsize::new(queue.concurrency));
    let slot_freed = Arc::new(Notify::new());
    let capped = Arc::new(AtomicBool::new(false));
    let mut slots = Vec::new();
    for _ in 0..queue.concurrency {
        let (shared, jobs_rx, idle, slot_freed, capped, waker) = (
            shared.clone(),
            jobs_rx.clone(),
            idle.clone(),
            slot_freed.clone(),
            capped.clone(),
            waker.clone(),
        );
        slots.push(tokio::spawn(async move {
            loop {
                let next = { jobs_rx.lock().await.recv().await };
                let Some(job) = next else { break };
                idle.fetch_sub(1, Ordering::SeqCst);
                let finished = execute(&shared, job).await;
                if let Some(mut finished) = finished {
                    if capped.load(Ordering::SeqCst) {
                        finished.refill = Some(waker.clone());
                    }
                    shared.finished(finished);
                }
                idle.fetch_add(1, Ordering::SeqCst);
                slot_freed.notify_one();
            }
        }));
    }
    let mut shape = QueueShape {
        full: false,
        capped,
        read_at: None,
    };
    let mut exclusive = shared.exclusive.subscribe();
    while !shared.stopping.load(Ordering::SeqCst) {
        if *exclusive.borrow_and_update() {
            tokio::select! {
                _ = exclusive.wait_for(|on| !on) => {}
                _ = shared.stop_fetching.notified() => {}
            }
            continue;
        }
        let buffered = capacity - jobs_tx.capacity();
        let want = if queue.prefetch == 0 {
            idle.load(Ordering::SeqCst).saturating_sub(buffered)
        } else if buffered <= queue.prefetch / 2 {
            capacity - buffered
        } else {
            0
        };
        if want == 0 {
            tokio::select! {
                _ = slot_freed.notified() => {}
                _ = shared.stop_fetching.notified() => {}
                _ = tokio::time::sleep(shared.config.poll_interval) => {}
            }
            continue;
        }
        shared.backlog.wait_for_room(&shared.stop_fetching).await;
        shape.refresh(&shared.pool, &queue.name).await;
        shared.claiming.fetch_add(1, Ordering::SeqCst);
        if shared.isolating.load(Ordering::SeqCst) {
            shared.claiming.fetch_sub(1, Ordering::SeqCst);
            continue;
        }
        let claimed = claim(&shared, &queue.name, &shape, want).await;
        if let Ok(claimed) = &claimed {
            for job in claimed {
                register(&shared, job);
            }
        }
        shared.claiming.fetch_sub(1, Ordering::SeqCst);
        let claimed = match claimed {
            Ok(claimed) => claimed,
            Err(err) => {
                tracing::warn!(queue = %queue.name, error = %err, "claiming jobs failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(shared.config.poll_interval) => {}
                    _ = shared.stop_fetching.notified() => {}
                }
                continue;
            }
        };
        if claimed.is_empty() {
            tokio::select! {
                _ = waker.notified() => {}
                _ = shared.stop_fetching.notified() => {}
                _ = tokio::time::sleep(shared.config.poll_interval) => {}
            }
            continue;
        }
        for job in claimed {
            if jobs_tx.send(job).await.is_err() {
                break;
            }
        }
    }
    drop(jobs_tx);
    // Claimed but not started: released at once (the slots drain the channel with `Stop::Shutdown`).
    for slot in slots {
        let _ = slot.await;
    }
}

fn register(shared: &Shared, job: &Claimed) {
    let handle = JobHandle {
        token: CancellationToken::new(),
        stop: Arc::new(AtomicU8::new(Stop::None as u8)),
        db: shared.db.clone(),
        pool: shared.pool.clone(),
        worker: shared.id,
    };
    shared.running().insert(
        job.id,
        Running {
            attempt: job.attempt,
            handle,
        },
    );
    shared.metrics.started(&job.kind);
}

/// Runs isolated jobs (they were running when a worker died) one at a time, each alone in this
/// process: claiming stops, the running jobs finish, then it runs. A death now is the job's own.
async fn run_isolated(shared: Arc<Shared>, woken: Arc<Notify>) {
    let queues: Vec<String> = shared
        .config
        .queues
        .iter()
        .map(|q| q.name.clone())
        .collect();
    while !shared.stopping.load(Ordering::SeqCst) {
        let claimed = sqlx::query_file_as!(
            Claimed,
            "sql/claim_isolated.sql",
            &queues,
            shared.id,
            shared.config.lease.as_secs_f64()
        )
        .fetch_optional(&shared.pool)
        .await;
        let job = match claimed {
            Ok(Some(job)) => job,
            Ok(None) => {
                tokio::select! {
                    _ = woken.notified() => {}
                    _ = shared.stop_fetching.notified() => {}
                    _ = tokio::time::sleep(shared.config.poll_interval) => {}
                }
                continue;
            }
            Err(err) => {
                tracing::warn!(error = %err, "claiming isolated jobs failed; retrying");
                tokio::time::sleep(shared.config.poll_interval).await;
                continue;
            }
        };
        shared.isolating.store(true, Ordering::SeqCst);
        shared.exclusive.send_replace(true);
        register(&shared, &job);
        // Alone means: no claim in flight, and the others have finished *and been recorded*. A
        // job finished in memory but not yet written would still be `running` under this
        // worker's lease if the isolated job then killed the process, so the death would be
        // counted beside it (and that job run again).
        while (shared.running().len() > 1
            || shared.claiming.load(Ordering::SeqCst) > 0
            || shared.backlog.len() > 0)
            && !shared.stopping.load(Ordering::SeqCst)
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tracing::info!(job_id = job.id, kind = %job.kind, "running a job alone: it was running when a worker died");
        if let Some(finished) = execute(&shared, job).await {
            shared.finished(finished);
        }
        shared.isolating.store(false, Ordering::SeqCst);
        shared.exclusive.send_replace(false);
    }
}

/// Runs one job and says how it ended (`None` when this worker lost it).
async fn execute(shared: &Shared, job: Claimed) -> Option<Finished> {
    let handle = shared.running().get(&job.id).map(|r| r.handle.clone())?;
    let span = tracing::info_span!(
        "job",
        job_id = job.id,
        kind = %job.kind,
        attempt = job.attempt,
        correlation_id = job.correlation_id.map(tracing::field::display)
    );
    let started = Instant::now();
    // A job still waiting for a slot when shutdown began never starts: it goes back.
    let outcome = if shared.stopping.load(Ordering::SeqCst) {
        Outcome::Released
    } else {
        run_handler(shared, &job, &handle)
            .instrument(span.clone())
            .await
    };
    shared.running().remove(&job.id);
    let _entered = span.enter();
    outcome.into_finished(shared, job, started.elapsed())
}

/// How a handler's run ended, before it is turned into a state.
#[derive(Debug)]
enum Outcome {
    Completed(Value),
    Failed(JobError),
    Panicked(String),
    TimedOut(Duration),
    Cancelled,
    /// Not (fully) run because this worker is shutting down: back to the queue, attempt unspent.
    Released,
    /// Another worker has it now.
    Lost,
    /// Never runnable: unknown kind, undecodable arguments.
    Discarded(String),
}

async fn run_handler(shared: &Shared, job: &Claimed, handle: &JobHandle) -> Outcome {
    let (Some(kind), Some(handler)) = (
        shared.registry.catalog.kinds.get(job.kind.as_str()),
        shared.registry.handlers.get(job.kind.as_str()),
    ) else {
        return Outcome::Discarded(format!("unknown job kind `{}`", job.kind));
    };
    let ctx = JobContext {
        job_id: job.id,
        attempt: job.attempt,
        max_attempts: job.max_attempts,
        handle: handle.clone(),
    };
    let future = match handler(job.args.clone(), ctx) {
        Ok(future) => future,
        Err(reason) => return Outcome::Discarded(reason),
    };
    if shared.config.mock_kinds.contains(&job.kind) {
        return Outcome::Completed(serde_json::json!({ "mock": true }));
    }
    let settings = &kind.settings;
    let started = tokio::time::Instant::now();
    let mut running = AssertUnwindSafe(future).catch_unwind();
    let mut warned = settings.warn_after.is_none();
    let mut timed_out = settings.timeout.is_none();
    let result = loop {
        let warn_at = started + settings.warn_after.unwrap_or_default();
        let timeout_at = started + settings.timeout.unwrap_or_default();
        tokio::select! {
            result = &mut running => break Some(result),
            _ = tokio::time::sleep_until(warn_at), if !warned => {
                warned = true;
                shared.metrics.slow(&job.kind);
                tracing::warn!(after = ?settings.warn_after, "job is taking longer than expected");
            }
            _ = tokio::time::sleep_until(timeout_at), if !timed_out => {
                timed_out = true;
                handle.stop(Stop::TimedOut);
            }
            _ = handle.token.cancelled() => break None,
        }
    };
    let result = match result {
        Some(result) => result,
        // The token fired: the handler gets its grace to stop, then it is dropped (aborted).
        None => match tokio::time::timeout(settings.cancel_grace, &mut running).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(grace = ?settings.cancel_grace, "job did not stop in time; aborted");
                return stopped(handle.reason(), settings.timeout);
            }
        },
    };
    match result {
        Ok(Ok(value)) => Outcome::Completed(value),
        Ok(Err(JobError::Cancelled)) => stopped(handle.reason(), settings.timeout),
        Ok(Err(error)) => Outcome::Failed(error),
        Err(panic) => Outcome::Panicked(panic_message(&panic)),
    }
}

/// The outcome of a handler that stopped because its token fired.
fn stopped(reason: Stop, timeout: Option<Duration>) -> Outcome {
    match reason {
        Stop::TimedOut => Outcome::TimedOut(timeout.unwrap_or_default()),
        Stop::Shutdown => Outcome::Released,
        Stop::LeaseLost => Outcome::Lost,
        Stop::CancelRequested | Stop::None => Outcome::Cancelled,
    }
}

/// The message of a caught panic (`String` or `&str` payloads).
pub fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".into())
}

impl Outcome {
    fn into_finished(self, shared: &Shared, job: Claimed, took: Duration) -> Option<Finished> {
        let retry = |message: String, outcome: &'static str, at: Option<DateTime<Utc>>| {
            if job.attempt < job.max_attempts {
                let at = at.unwrap_or_else(|| Utc::now() + shared.config.retry.delay(job.attempt));
                ("available", Some(at), Some(message), outcome)
            } else {
                let message = format!("gave up after {} attempts: {message}", job.attempt);
                ("failed", None, Some(message), outcome)
            }
        };
        let mut result = None;
        let (state, run_at, error, outcome) = match self {
            Outcome::Lost => {
                tracing::info!("job lost its lease; another worker has it");
                return None;
            }
            Outcome::Completed(value) => {
                result = Some(value);
                ("completed", None, None, "completed")
            }
            Outcome::Failed(JobError::Retryable { message, retry_at }) => {
                retry(message, "retried", retry_at)
            }
            Outcome::Failed(JobError::Snoozed { message, until }) => {
                ("available", Some(until), Some(message), "snoozed")
            }
            Outcome::Failed(JobError::Permanent(message)) => {
                ("discarded", None, Some(message), "discarded")
            }
            Outcome::Failed(JobError::Cancelled) | Outcome::Cancelled => {
                ("cancelled", None, Some("cancelled".into()), "cancelled")
            }
            Outcome::Panicked(message) => retry(format!("panicked: {message}"), "panicked", None),
            Outcome::TimedOut(after) => {
                retry(format!("timed out after {after:?}"), "timed_out", None)
            }
            Outcome::Released => ("available", Some(Utc::now()), None, "released"),
            Outcome::Discarded(message) => ("discarded", None, Some(message), "discarded"),
        };
        if let Some(error) = &error {
            if state == "failed" || state == "discarded" {
                tracing::warn!(%error, state, "job failed");
            } else if outcome == "snoozed" {
                tracing::info!(%error, until = ?run_at, "job snoozed");
            } else if state == "available" && outcome != "released" {
                tracing::info!(%error, next = ?run_at, "job will be retried");
            }
        }
        Some(Finished {
            id: job.id,
            attempt: job.attempt,
            state,
            run_at,
            error,
            result,
            outcome,
            kind: job.kind,
            duration: took,
            refill: None,
        })
    }
}

/// Batches recorded at once: completion keeps up with many short jobs without one slow batch
/// holding up the rest.
const RECORDERS: usize = 2;
/// Finished jobs waiting to be recorded, at most, before fetchers stop claiming: they are still
/// `running` in the database, and every batch's lookup grows with them.
const RECORD_BACKLOG: usize = 2000;

/// What the completer needs (it must not hold `Shared`, whose sender keeps its channel open).
#[derive(Clone)]
struct Recorder {
    pool: PgPool,
    worker: Uuid,
    metrics: Arc<Metrics>,
    backlog: Arc<Backlog>,
    observer: Option<mpsc::UnboundedSender<Attempt>>,
}

/// Finished but not yet recorded jobs (id → attempt): their leases are still renewed while the
/// recorder retries, and their number holds the fetchers back.
#[derive(Default)]
struct Backlog {
    unrecorded: Mutex<HashMap<i64, i32>>,
    shrunk: Notify,
}

impl Backlog {
    fn unrecorded(&self) -> std::sync::MutexGuard<'_, HashMap<i64, i32>> {
        self.unrecorded.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn add(&self, id: i64, attempt: i32) {
        self.unrecorded().insert(id, attempt);
    }

    fn recorded(&self, ids: impl IntoIterator<Item = i64>) {
        let mut unrecorded = self.unrecorded();
        for id in ids {
            unrecorded.remove(&id);
        }
        drop(unrecorded);
        self.shrunk.notify_waiters();
    }

    fn len(&self) -> usize {
        self.unrecorded().len()
    }

    /// Waits while the backlog is full (or until `stop` fires).
    async fn wait_for_room(&self, stop: &Notify) {
        while self.len() >= RECORD_BACKLOG {
            tokio::select! {
                _ = self.shrunk.notified() => {}
                _ = stop.notified() => return,
                _ = tokio::time::sleep(Duration::from_millis(5)) => {}
            }
        }
    }
}

async fn complete(recorder: Recorder, mut finished: mpsc::UnboundedReceiver<Finished>) {
    let slots = Arc::new(tokio::sync::Semaphore::new(RECORDERS));
    let mut recording = tokio::task::JoinSet::new();
    loop {
        let Some(first) = finished.recv().await else {
            break;
        };
        let mut batch = vec![first];
        let deadline = tokio::time::sleep(Duration::from_millis(2));
        tokio::pin!(deadline);
        while batch.len() < 500 {
            tokio::select! {
                _ = &mut deadline => break,
                next = finished.recv() => match next {
                    Some(next) => batch.push(next),
                    None => break,
                },
            }
        }
        let Ok(slot) = slots.clone().acquire_owned().await else {
            break;
        };
        let recorder = recorder.clone();
        recording.spawn(async move {
            record(&recorder, batch).await;
            drop(slot);
        });
        while recording.try_join_next().is_some() {}
    }
    while recording.join_next().await.is_some() {}
}

/// Records a batch of finished attempts. It never gives up on one: while it retries, the jobs
/// stay in the backlog and their leases are renewed, so they are neither lost (left `running`
/// with nobody running them) nor run a second time.
async fn record(recorder: &Recorder, mut batch: Vec<Finished>) {
    let mut failures: u32 = 0;
    loop {
        let err = match finish(recorder, &batch).await {
            Ok(recorded) => {
                accept(recorder, batch, &recorded);
                return;
            }
            Err(err) => err,
        };
        if !crate::is_transient(&err) {
            if batch.len() > 1 {
                // One attempt's data can refuse the whole batch: record them one by one.
                for one in batch {
                    Box::pin(record(recorder, vec![one])).await;
                }
                return;
            }
            if batch[0].result.is_some() {
                tracing::warn!(job_id = batch[0].id, error = %err, "a job's result could not be stored; recording its outcome without it");
                let finished = &mut batch[0];
                finished.result = None;
                finished.error = Some(format!("its result could not be stored: {err}"));
                continue;
            }
        }
        failures += 1;
        tracing::warn!(error = %err, jobs = batch.len(), failures, "recording finished jobs failed; retrying");
        let backoff = Duration::from_millis(100 * u64::from(failures.min(20)));
        tokio::time::sleep(backoff).await;
    }
}

async fn finish(recorder: &Recorder, batch: &[Finished]) -> Result<Vec<i64>, sqlx::Error> {
    let ids: Vec<i64> = batch.iter().map(|f| f.id).collect();
    let attempts: Vec<i32> = batch.iter().map(|f| f.attempt).collect();
    let states: Vec<String> = batch.iter().map(|f| f.state.to_owned()).collect();
    let run_at: Vec<Option<DateTime<Utc>>> = batch.iter().map(|f| f.run_at).collect();
    let errors: Vec<Option<String>> = batch.iter().map(|f| f.error.clone()).collect();
    let results: Vec<Option<Value>> = batch.iter().map(|f| f.result.clone()).collect();
    let outcomes: Vec<String> = batch.iter().map(|f| f.outcome.to_owned()).collect();
    let capped: Vec<i64> = batch
        .iter()
        .filter(|f| f.refill.is_some())
        .map(|f| f.id)
        .collect();
    sqlx::query_file_scalar!(
        "sql/finish.sql",
        recorder.worker,
        &ids,
        &attempts,
        &states,
        &run_at as &[Option<DateTime<Utc>>],
        &errors as &[Option<String>],
        &results as &[Option<Value>],
        &outcomes,
        &capped
    )
    .fetch_all(&recorder.pool)
    .await
}

/// After a batch was written: metrics, the observer, and the backlog.
fn accept(recorder: &Recorder, batch: Vec<Finished>, recorded: &[i64]) {
    let fenced = batch.len() - recorded.len();
    if fenced > 0 {
        tracing::info!(
            fenced,
            "completions refused: those jobs belong to another worker now"
        );
    }
    let ids: Vec<i64> = batch.iter().map(|f| f.id).collect();
    for f in batch {
        if let Some(fetcher) = &f.refill {
            fetcher.notify_one();
        }
        recorder.metrics.finished(&f.kind, f.outcome, f.duration);
        if let Some(observer) = &recorder.observer
            && recorded.contains(&f.id)
        {
            let _ = observer.send(Attempt {
                job_id: f.id,
                kind: f.kind,
                attempt: f.attempt,
                state: f.state,
                outcome: f.outcome,
                error: f.error,
                result: f.result,
            });
        }
    }
    recorder.backlog.recorded(ids);
}

/// How often a worker shows it is alive (`engine_workers.last_heartbeat_at`), apart from the
/// lease renewals (every third of the lease): a cheap one-row update.
pub const PRESENCE_EVERY: Duration = Duration::from_secs(1);
/// A worker not seen for this long is dead to those who judge by it (a schedule's overlap): its
/// jobs' leases still run out before they are taken from it.
pub const GONE_AFTER: Duration = Duration::from_secs(5);

async fn presence(shared: Arc<Shared>, stop: CancellationToken) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(PRESENCE_EVERY) => {}
            _ = stop.cancelled() => return,
        }
        let beat = sqlx::query!(
            "UPDATE engine_workers SET last_heartbeat_at = now() WHERE id = $1",
            shared.id
        )
        .execute(&shared.pool);
        // A missed beat is harmless: the next one is a second away.
        match tokio::time::timeout(PRESENCE_EVERY, beat).await {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => tracing::debug!(error = %err, "showing this worker alive failed"),
            Err(_) => tracing::debug!("showing this worker alive got no answer in time"),
        }
    }
}

async fn heartbeat(shared: Arc<Shared>, stop: CancellationToken) {
    let every = shared.config.lease / 3;
    let mut last_success = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
        // Judged below: only the jobs asked about. One claimed while the statement runs was not
        // asked about; it is not lost.
        let mut held: Vec<(i64, i32)> = shared
            .running()
            .iter()
            .map(|(id, running)| (*id, running.attempt))
            .collect();
        let asked = held.len();
        held.extend(shared.backlog.unrecorded().iter().map(|(id, a)| (*id, *a)));
        let (ids, attempts): (Vec<i64>, Vec<i32>) = held.iter().copied().unzip();
        let beat = sqlx::query_file!(
            "sql/heartbeat.sql",
            shared.id,
            shared.config.lease.as_secs_f64(),
            &ids,
            &attempts
        )
        .fetch_all(&shared.pool);
        // A connection that went silent would hold this forever: it counts as a failed beat.
        let rows = match tokio::time::timeout(every, beat).await {
            Ok(rows) => rows.map_err(|err| err.to_string()),
            Err(_) => Err(format!("no answer within {every:?}")),
        };
        match rows {
            Ok(rows) => {
                last_success = Instant::now();
                let renewed: HashMap<i64, bool> = rows
                    .into_iter()
                    .map(|row| (row.id, row.cancel_requested))
                    .collect();
                let running = shared.running();
                for (id, attempt) in &held[..asked] {
                    let Some(job) = running.get(id).filter(|job| job.attempt == *attempt) else {
                        continue; // finished meanwhile
                    };
                    match renewed.get(id) {
                        Some(true) => job.handle.stop(Stop::CancelRequested),
                        Some(false) => {}
                        None => job.handle.stop(Stop::LeaseLost),
                    }
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "heartbeat failed");
                // Stop the work before the leases can expire and another worker starts it again.
                if last_success.elapsed() + every >= shared.config.lease {
                    for running in shared.running().values() {
                        running.handle.stop(Stop::LeaseLost);
                    }
                }
            }
        }
    }
}

/// Retention, every 10 minutes: batches of at most 5000 jobs and 5000 events, repeated while
/// they come back full, with a pause between them so that a backlog of millions is worked off
/// without one long statement.
async fn prune(shared: &Shared, last: &mut Option<Instant>) {
    let Some(retention) = shared.config.retention else {
        return;
    };
    if last.is_some_and(|at| at.elapsed() < Duration::from_secs(600)) {
        return;
    }
    *last = Some(Instant::now());
    let (mut jobs, mut events) = (0, 0);
    while !shared.stopping.load(Ordering::SeqCst) {
        match sqlx::query_file!("sql/prune.sql", retention.as_secs_f64())
            .fetch_one(&shared.pool)
            .await
        {
            Ok(batch) => {
                jobs += batch.jobs;
                events += batch.events;
                if batch.jobs < 5000 && batch.events < 5000 {
                    break;
                }
            }
            Err(err) => {
                tracing::warn!(error = %err, "pruning finished jobs and events failed");
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if jobs + events > 0 {
        tracing::info!(
            jobs,
            events,
            "pruned finished jobs and handled events past their retention"
        );
    }
}

/// Keeps `engine_job_counts` short (a reader sums it), every few seconds.
async fn compact_counts(shared: &Shared, last: &mut Option<Instant>) {
    if last.is_some_and(|at| at.elapsed() < Duration::from_secs(5)) {
        return;
    }
    *last = Some(Instant::now());
    if let Err(err) = crate::admin::compact_counts(&shared.pool).await {
        tracing::warn!(error = %err, "compacting job counts failed");
    }
}

/// One reaping pass in one transaction: the rescue, the outbox of jobs it failed, and the
/// notification of every job it changed. Returns `(queue, kind, state)` per job.
async fn reap_once(
    pool: &PgPool,
    poison_after: i64,
) -> Result<Vec<(String, String, String)>, sqlx::Error> {
    let mut txn = pool.begin().await?;
    let reaped: Vec<(i64, String, String, String)> = sqlx::query_file!(
        "sql/reap.sql",
        poison_after.clamp(1, i64::from(i32::MAX)) as i32
    )
    .fetch_all(&mut *txn)
    .await?
    .into_iter()
    .map(|row| (row.id, row.queue, row.kind, row.state))
    .collect();
    if reaped.is_empty() {
        txn.commit().await?;
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = reaped.iter().map(|r| r.0).collect();
    let outcomes = vec!["lease_expired".to_owned(); ids.len()];
    sqlx::query!(
        "SELECT FROM engine_emit($1, $2)
          WHERE EXISTS (SELECT 1 FROM engine_webhook_endpoints WHERE enabled)",
        &ids,
        &outcomes as &[String]
    )
    .execute(&mut *txn)
    .await?;
    sqlx::query!("SELECT FROM engine_notify_updates($1)", &ids)
        .execute(&mut *txn)
        .await?;
    txn.commit().await?;
    Ok(reaped.into_iter().map(|(_, q, k, s)| (q, k, s)).collect())
}

async fn reap(shared: Arc<Shared>, stop: CancellationToken) {
    let (mut pruned, mut compacted) = (None, None);
    loop {
        prune(&shared, &mut pruned).await;
        compact_counts(&shared, &mut compacted).await;
        match reap_once(&shared.pool, shared.config.poison_after).await {
            Ok(reaped) if !reaped.is_empty() => {
                let mut queues: Vec<&str> = Vec::new();
                for (queue, kind, state) in &reaped {
                    shared.metrics.rescued(kind);
                    if state == "available" && !queues.contains(&queue.as_str()) {
                        queues.push(queue);
                    }
                }
                tracing::warn!(
                    jobs = reaped.len(),
                    "rescued jobs whose workers stopped heartbeating"
                );
                for queue in queues {
                    let _ = sqlx::query!("SELECT FROM pg_notify('engine_isolated', $1)", queue)
                        .execute(&shared.pool)
                        .await;
                }
                continue; // there may be more
            }
            Ok(_) => {}
            Err(err) => tracing::warn!(error = %err, "reaping expired leases failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(shared.config.reaper_interval) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// `LISTEN engine_jobs` (a queue has new jobs), `engine_isolated` (the reaper isolated jobs of a
/// queue) and `engine_cancel` (a job was asked to stop). When the connection is lost or late,
/// every queue is woken to look for itself (notifications may have been missed).
async fn listen(
    shared: Arc<Shared>,
    wakers: HashMap<String, Arc<Notify>>,
    isolated: Arc<Notify>,
    stop: CancellationToken,
) {
    let pool = shared.pool.clone();
    let channels = ["engine_jobs", "engine_cancel", "engine_isolated"].map(String::from);
    crate::listen::listen(
        pool,
        "worker",
        channels.to_vec(),
        |heard| match heard {
            crate::listen::Heard::Notification { channel, payload } => match channel {
                "engine_jobs" => {
                    if let Some(waker) = wakers.get(payload) {
                        waker.notify_one();
                    }
                }
                "engine_isolated" => {
                    if wakers.contains_key(payload) {
                        isolated.notify_one();
                    }
                }
                _ => {
                    if let Ok(id) = payload.parse::<i64>()
                        && let Some(running) = shared.running().get(&id)
                    {
                        running.handle.stop(Stop::CancelRequested);
                    }
                }
            },
            crate::listen::Heard::Lost | crate::listen::Heard::Listening => {
                for waker in wakers.values() {
                    waker.notify_one();
                }
                isolated.notify_one();
            }
        },
        stop.cancelled(),
    )
    .await;
}
