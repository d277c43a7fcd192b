//! Rules about workers dying, as real processes (`engine-testkit worker`, the engine's Worker in
//! a process of its own) killed with SIGKILL or stopped with SIGSTOP. Bounded in count and time.

mod support;

use std::{
    process::Stdio,
    time::{Duration, Instant},
};

use engine::{NewJob, admin, enqueue, enqueue_many};
use rand::Rng;
use serde_json::json;
use support::TestDb;
use tokio::process::{Child, Command};

fn worker(db: &TestDb, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_engine-testkit"))
        .args(["worker", "--database-url", &db.url])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the testkit worker")
}

fn signal(child: &Child, signal: i32) {
    let pid = child.id().expect("a running child") as i32;
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(pid, signal);
    }
}

async fn kill(mut child: Child) {
    signal(&child, libc::SIGKILL);
    let _ = child.wait().await;
}

async fn testkit_table(db: &TestDb) {
    db.exec(
        "CREATE TABLE IF NOT EXISTS testkit_done (job_id bigint, attempt int, pid int,
             at timestamptz DEFAULT clock_timestamp())",
    )
    .await;
}

/// Jobs arrive while a worker is killed (SIGKILL) and restarted a hundred times.
#[tokio::test]
async fn killing_workers_a_hundred_times_loses_no_job() {
    let db = TestDb::new().await;
    testkit_table(&db).await;
    let (total, kills, concurrency) = (1000, 100, 8);
    let producer = {
        let db = db.db.clone();
        tokio::spawn(async move {
            for batch in 0..total / 10 {
                let jobs: Vec<NewJob> = (0..10)
                    .map(|i| NewJob::new("testkit.sleep", json!({ "ms": 1 + (batch + i) % 3 })))
                    .collect();
                enqueue_many(&db, jobs).await.unwrap();
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        })
    };
    // Six kills a second, landing mostly just after a worker starts, which is when it runs the
    // isolated jobs (those caught by the previous kill) first: an innocent job can be alone in
    // its worker at three deaths, and J6 would then rightly fail it. This test is about losing
    // nothing, so J6 stays out of its way; the poison pill has its own test below.
    let flags = [
        "--concurrency",
        "8",
        "--lease-secs",
        "1",
        "--reaper-ms",
        "200",
        "--poison-after",
        "1000",
    ];
    let started = Instant::now();
    let mut child = worker(&db, &flags);
    for _ in 0..kills {
        let pause = rand::rng().random_range(50..250);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        kill(child).await;
        child = worker(&db, &flags);
    }
    producer.await.unwrap();
    let done = db
        .until(
            "SELECT count(*) FROM engine_jobs WHERE state = 'completed'",
            total,
            Duration::from_secs(60),
        )
        .await;
    let drained = started.elapsed();
    kill(child).await;
    let states = db
        .text("SELECT string_agg(state || ': ' || n || ' ' || coalesce(e, ''), '; ') FROM (SELECT state, count(*) AS n, max(last_error) AS e FROM engine_jobs GROUP BY state) s")
        .await;
    let failures = db
        .text("SELECT coalesce(string_agg(format('job %s: %s', a.job_id, a.trail), '; '), '') FROM (SELECT job_id, string_agg(format('#%s %s %s→%s %s', attempt, worker_id, started_at::time, finished_at::time, outcome), ', ' ORDER BY attempt) AS trail FROM engine_job_attempts WHERE job_id IN (SELECT id FROM engine_jobs WHERE state <> 'completed') GROUP BY job_id) a")
        .await;
    assert_eq!(done, total, "not every job completed: {states}; {failures}");
    assert_eq!(db.scalar("SELECT count(*) FROM engine_jobs").await, total);
    assert_eq!(
        db.scalar("SELECT count(DISTINCT job_id) FROM testkit_done")
            .await,
        total
    );
    // A job runs twice only when a kill caught it in flight: at most `concurrency` per kill.
    let repeats = db
        .scalar("SELECT count(*) - count(DISTINCT job_id) FROM testkit_done")
        .await;
    let rescued = db
        .scalar("SELECT count(*) FROM engine_job_attempts WHERE outcome = 'lease_expired'")
        .await;
    // Every rescued job was then run alone (isolated), so that path is exercised too.
    assert!(rescued > 0, "no kill caught a job in flight");
    assert!(repeats <= kills * concurrency, "{repeats} repeated runs");
    assert!(rescued <= kills * concurrency, "{rescued} rescues");
    println!(
        "{total} jobs, {kills} kills, all completed after {drained:?}: {repeats} ran twice, {rescued} leases rescued and run alone"
    );
}

/// A poison pill among ordinary jobs: the jobs running beside it when it kills the worker are
/// run again, alone, and complete; the pill fails after killing three workers while alone, with
/// three attempts (deaths beside others spend none, so the two rules agree).
#[tokio::test]
async fn a_job_that_kills_its_worker_three_times_fails_with_the_reason() {
    let db = TestDb::new().await;
    testkit_table(&db).await;
    let bystanders: Vec<NewJob> = (0..6)
        .map(|_| NewJob::new("testkit.sleep", json!({ "ms": 300 })))
        .collect();
    enqueue_many(&db.db, bystanders).await.unwrap();
    let crash = enqueue(
        &db.db,
        NewJob::new("testkit.crash", json!({})).max_attempts(3),
    )
    .await
    .unwrap();
    let flags = [
        "--concurrency",
        "4",
        "--lease-secs",
        "1",
        "--reaper-ms",
        "200",
    ];
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut deaths = 0;
    let mut child = worker(&db, &flags);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            deaths += 1;
            child = worker(&db, &flags);
        }
        let job = admin::find(&db.db, crash.id).await.unwrap().unwrap();
        if job.state == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let job = admin::find(&db.db, crash.id).await.unwrap().unwrap();
    assert_eq!(job.state, "failed");
    assert_eq!(
        job.last_error.as_deref(),
        Some("its worker died 3 times while running it")
    );
    // Deaths beside other jobs count against no one (usually the first one; timing decides).
    assert!((3..=5).contains(&deaths), "{deaths} deaths");
    let completed = db
        .until(
            "SELECT count(*) FROM engine_jobs WHERE kind = 'testkit.sleep' AND state = 'completed'",
            6,
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(completed, 6, "a bystander was blamed");
    // Workers go on with other work afterwards.
    enqueue(&db.db, NewJob::new("testkit.sleep", json!({ "ms": 1 })))
        .await
        .unwrap();
    assert_eq!(
        db.until(
            "SELECT count(*) FROM engine_jobs WHERE state = 'completed'",
            7,
            Duration::from_secs(5)
        )
        .await,
        7
    );
    kill(child).await;
}

#[tokio::test]
async fn an_orphaned_job_runs_again_within_forty_seconds_with_default_settings() {
    let db = TestDb::new().await;
    testkit_table(&db).await;
    let job = enqueue(
        &db.db,
        NewJob::new("testkit.sleep", json!({ "ms": 120_000 })),
    )
    .await
    .unwrap();
    let first = worker(&db, &[]);
    db.until(
        "SELECT count(*) FROM engine_jobs WHERE state = 'running'",
        1,
        Duration::from_secs(10),
    )
    .await;
    kill(first).await;
    let killed = Instant::now();
    let second = worker(&db, &[]);
    let rerun = db
        .until(
            &format!("SELECT count(*) FROM engine_jobs WHERE id = {} AND state = 'running' AND attempt = 2", job.id),
            1,
            Duration::from_secs(45),
        )
        .await;
    let took = killed.elapsed();
    kill(second).await;
    assert_eq!(rerun, 1, "the job did not run again");
    assert!(took < Duration::from_secs(40), "{took:?}");
    println!("orphan running again {took:?} after the kill");
}

#[tokio::test]
async fn a_stopped_worker_cannot_complete_a_job_that_was_rescued() {
    let db = TestDb::new().await;
    testkit_table(&db).await;
    let job = enqueue(&db.db, NewJob::new("testkit.sleep", json!({ "ms": 3000 })))
        .await
        .unwrap();
    let flags = [
        "--concurrency",
        "1",
        "--lease-secs",
        "1.5",
        "--reaper-ms",
        "200",
    ];
    let zombie = worker(&db, &flags);
    db.until(
        "SELECT count(*) FROM engine_jobs WHERE state = 'running'",
        1,
        Duration::from_secs(10),
    )
    .await;
    signal(&zombie, libc::SIGSTOP);
    let rescuer = worker(&db, &flags);
    let rescuer_pid = rescuer.id().unwrap() as i64;
    let zombie_pid = zombie.id().unwrap() as i64;
    let completed = db
        .until(
            &format!(
                "SELECT count(*) FROM engine_jobs WHERE id = {} AND state = 'completed'",
                job.id
            ),
            1,
            Duration::from_secs(20),
        )
        .await;
    assert_eq!(completed, 1);
    signal(&zombie, libc::SIGCONT);
    // The zombie's handler finishes its sleep and records it, but its completion is refused.
    db.until(
        &format!(
            "SELECT count(*) FROM testkit_done WHERE job_id = {} AND pid = {zombie_pid}",
            job.id
        ),
        1,
        Duration::from_secs(10),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let row = admin::find(&db.db, job.id).await.unwrap().unwrap();
    assert_eq!(
        row.result,
        Some(json!({ "pid": rescuer_pid })),
        "the outcome is the rescuer's"
    );
    assert_eq!(row.attempt, 2);
    let outcomes: Vec<(i32, String)> = admin::attempts(&db.db, job.id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.attempt, a.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [(1, "lease_expired".into()), (2, "completed".into())]
    );
    kill(zombie).await;
    kill(rescuer).await;
}
