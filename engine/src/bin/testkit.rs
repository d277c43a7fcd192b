//! `engine-testkit worker --database-url URL [options]`: the engine's [`Worker`] in a process of its
//! own, for the tests that kill, stop and restart workers. Its kinds record what they do in
//! `testkit_done`; `testkit.crash` kills its own process.

use std::time::Duration;

use engine::{Handler, JobArgs, JobContext, JobError, QueueConfig, Registry, Worker, WorkerConfig};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DbBackend, Statement};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The handler of the testkit's kinds (they record in the engine's database).
#[derive(Clone)]
struct Kit;

async fn record(ctx: &JobContext) -> Result<(), JobError> {
    ctx.db()
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "INSERT INTO testkit_done (job_id, attempt, pid) VALUES ($1, $2, $3)",
            [
                ctx.job_id.into(),
                ctx.attempt.into(),
                (std::process::id() as i32).into(),
            ],
        ))
        .await
        .map_err(JobError::retryable)?;
    Ok(())
}

/// Sleeps (ignoring its token), records its completion, returns its process id.
#[derive(Serialize, Deserialize)]
struct Sleep {
    ms: u64,
}

impl JobArgs for Sleep {
    const KIND: &'static str = "testkit.sleep";
}

impl Handler<Sleep> for Kit {
    async fn run(&self, args: Sleep, ctx: JobContext) -> Result<Value, JobError> {
        tokio::time::sleep(Duration::from_millis(args.ms)).await;
        record(&ctx).await?;
        Ok(json!({ "pid": std::process::id() }))
    }
}

/// Kills the process running it.
#[derive(Serialize, Deserialize)]
struct Crash {}

impl JobArgs for Crash {
    const KIND: &'static str = "testkit.crash";
}

impl Handler<Crash> for Kit {
    async fn run(&self, _args: Crash, _ctx: JobContext) -> Result<Value, JobError> {
        // SAFETY: kill(2) with our own pid.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
        Ok(Value::Null)
    }
}

struct Options {
    database_url: String,
    queue: String,
    concurrency: usize,
    prefetch: usize,
    lease: Duration,
    reaper: Duration,
    poison_after: i64,
}

fn options() -> Result<Options, String> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some("worker") {
        return Err("usage: engine-testkit worker --database-url URL [--queue Q] [--concurrency N] [--prefetch N] [--lease-secs S] [--reaper-ms MS] [--poison-after N]".into());
    }
    let mut options = Options {
        database_url: String::new(),
        queue: "default".into(),
        concurrency: 8,
        prefetch: 0,
        lease: Duration::from_secs(30),
        reaper: Duration::from_secs(5),
        poison_after: WorkerConfig::default().poison_after,
    };
    while let Some(flag) = args.next() {
        let value = args.next().ok_or(format!("{flag} needs a value"))?;
        let number = || {
            value
                .parse::<f64>()
                .map_err(|_| format!("{flag}: {value} is not a number"))
        };
        match flag.as_str() {
            "--database-url" => options.database_url = value.clone(),
            "--queue" => options.queue = value.clone(),
            "--concurrency" => options.concurrency = number()? as usize,
            "--prefetch" => options.prefetch = number()? as usize,
            "--lease-secs" => options.lease = Duration::from_secs_f64(number()?),
            "--reaper-ms" => options.reaper = Duration::from_millis(number()? as u64),
            "--poison-after" => options.poison_after = number()? as i64,
            other => return Err(format!("unknown option {other}")),
        }
    }
    Ok(options)
}

#[tokio::main]
async fn main() {
    let options = match options() {
        Ok(options) => options,
        Err(problem) => {
            eprintln!("{problem}");
            std::process::exit(2);
        }
    };
    let mut connect = ConnectOptions::new(options.database_url.clone());
    connect
        .max_connections(options.concurrency as u32 + 4)
        .sqlx_logging(false);
    let db = Database::connect(connect).await.expect("connect");
    db.execute_unprepared(
        "CREATE TABLE IF NOT EXISTS testkit_done (job_id bigint, attempt int, pid int,
             at timestamptz DEFAULT clock_timestamp())",
    )
    .await
    .expect("testkit table");
    let registry = Registry::new()
        .register::<Sleep, _>(Kit)
        .register::<Crash, _>(Kit);
    let config = WorkerConfig {
        queues: vec![
            QueueConfig::new(options.queue, options.concurrency).prefetch(options.prefetch),
        ],
        lease: options.lease,
        reaper_interval: options.reaper,
        poison_after: options.poison_after,
        poll_interval: Duration::from_millis(200),
        ..WorkerConfig::default()
    };
    let terminate = async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        term.recv().await;
    };
    if let Err(err) = Worker::new(db, registry, config).run(terminate).await {
        eprintln!("worker: {err}");
        std::process::exit(1);
    }
}
