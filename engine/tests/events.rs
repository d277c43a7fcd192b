//! Events: native capture in the changing transaction, detection into keyed jobs, duplicates,
//! replays and failing detectors — against a real PostgreSQL, with a worker in this process.

mod support;

use std::{sync::Arc, time::Duration};

use engine::{
    Handler, JobArgs, JobContext, JobError, QueueConfig, Registry, RetryPolicy, Worker,
    WorkerConfig,
    events::{self, DetectEvent, Detector, Detectors, Envelope, PlannedJob, Source},
};
use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use support::TestDb;
use tokio::sync::Notify;

#[derive(Clone)]
struct Ctx;

/// Succeeds, or fails for good when `fail` is set.
#[derive(Serialize, Deserialize)]
struct Touch {
    title: String,
    #[serde(default)]
    fail: bool,
}

impl JobArgs for Touch {
    const KIND: &'static str = "test.touch";
}

impl Handler<Touch> for Ctx {
    async fn run(&self, args: Touch, _ctx: JobContext) -> Result<Value, JobError> {
        if args.fail {
            return Err(JobError::permanent(format!("{} failed", args.title)));
        }
        Ok(json!({ "touched": args.title }))
    }
}

fn touch(name: &str, title: &str, fail: bool) -> Result<PlannedJob, String> {
    PlannedJob::of(
        name,
        &Touch {
            title: title.into(),
            fail,
        },
    )
}

/// `thing.created` (two jobs, one failing), `thing.renamed` and a detector with a bug.
fn detectors() -> Detectors {
    Detectors::new()
        .with(Detector::new(
            "thing.created",
            "things",
            |e| e.inserted(),
            |e| {
                let title = e.new_value("title").and_then(Value::as_str).unwrap_or("");
                Ok(vec![touch("ok", title, false)?, touch("bad", title, true)?])
            },
        ))
        .with(Detector::new(
            "thing.renamed",
            "things",
            |e| e.changed("title"),
            |_| Ok(vec![touch("rename", "renamed", false)?]),
        ))
        .with(Detector::new(
            "thing.buggy",
            "things",
            |e| e.inserted(),
            |e| e.new_as::<Strict>().map(|_| vec![]),
        ))
}

/// A row type that never fits `things`, so `thing.buggy` always errors.
#[derive(Deserialize)]
#[allow(dead_code)]
struct Strict {
    missing_column: i64,
}

fn worker(
    db: &DatabaseConnection,
    detectors: Arc<Detectors>,
) -> (Arc<Notify>, tokio::task::JoinHandle<()>) {
    let registry = Registry::new()
        .register::<DetectEvent, _>(detectors)
        .register::<Touch, _>(Ctx);
    let config = WorkerConfig {
        queues: vec![
            QueueConfig::new("events", 2),
            QueueConfig::new("default", 4),
        ],
        poll_interval: Duration::from_millis(100),
        retry: RetryPolicy {
            base: Duration::from_millis(50),
            cap: Duration::from_millis(200),
        },
        ..WorkerConfig::default()
    };
    let worker = Worker::new(db.clone(), registry, config);
    let stop = Arc::new(Notify::new());
    let signal = stop.clone();
    let task = tokio::spawn(async move {
        worker
            .run(async move { signal.notified().await })
            .await
            .expect("worker");
    });
    (stop, task)
}

async fn things(db: &TestDb) {
    db.exec("CREATE TABLE things (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), title text, meta jsonb, secret text)")
        .await;
    events::capture_table(&db.db, "things", &[]).await.unwrap();
    // Idempotent: a second capture replaces the trigger.
    events::capture_table(&db.db, "public.things", &["secret"])
        .await
        .unwrap();
    assert_eq!(
        events::captured_tables(&db.db).await.unwrap(),
        vec!["public.things"]
    );
}

#[tokio::test]
async fn a_change_is_an_event_exactly_when_its_transaction_commits() {
    let db = TestDb::new().await;
    things(&db).await;

    let txn = db.db.begin().await.unwrap();
    txn.execute_unprepared("INSERT INTO things (title) VALUES ('rolled back')")
        .await
        .unwrap();
    txn.rollback().await.unwrap();
    assert_eq!(db.scalar("SELECT count(*) FROM engine_events").await, 0);
    assert_eq!(db.scalar("SELECT count(*) FROM engine_jobs").await, 0);

    let txn = db.db.begin().await.unwrap();
    let actor = json!({ "x-hasura-role": "user", "x-hasura-user-id": "u-1" });
    events::set_session(&txn, &actor).await.unwrap();
    txn.execute_unprepared(
        "INSERT INTO things (title, meta, secret) VALUES ('kept', '{\"a\": 1}', 'hash')",
    )
    .await
    .unwrap();
    txn.commit().await.unwrap();
    assert_eq!(
        db.text("SELECT op || ' ' || (new->>'title') || ' ' || (session_variables->>'x-hasura-user-id') FROM engine_events")
            .await,
        "INSERT kept u-1"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM engine_events WHERE new ? 'secret'")
            .await,
        0
    );
    let id: uuid::Uuid = db.value("SELECT id FROM things").await;
    let manual = events::manual_event(&db.db, "things", &id.to_string(), &["secret"], None)
        .await
        .unwrap()
        .expect("the row");
    assert!(manual.manual() && manual.new().unwrap().get("secret").is_none());
    assert_eq!(manual.new_value("title"), Some(&json!("kept")));
    // Its detection is queued with the event as correlation id.
    assert_eq!(
        db.scalar(
            "SELECT count(*) FROM engine_jobs j JOIN engine_events e ON e.id = j.correlation_id
                    WHERE j.kind = 'engine.detect' AND (j.args->>'eventId')::uuid = e.id"
        )
        .await,
        1
    );

    // The session setting was the transaction's only; an update writing the same values is
    // no change; capture can be switched off for a transaction.
    db.exec("UPDATE things SET meta = '{\"a\": 1}'").await;
    let txn = db.db.begin().await.unwrap();
    txn.execute_unprepared(events::CAPTURE_OFF).await.unwrap();
    txn.execute_unprepared("UPDATE things SET title = 'quiet'")
        .await
        .unwrap();
    txn.commit().await.unwrap();
    db.exec("DELETE FROM things").await;
    assert_eq!(
        db.text("SELECT string_agg(op || ':' || coalesce(session_variables->>'x-hasura-user-id', '-'), ',' ORDER BY created_at) FROM engine_events")
            .await,
        "INSERT:u-1,DELETE:-"
    );
}

#[tokio::test]
async fn detections_become_keyed_jobs_and_a_failing_detector_is_recorded() {
    let db = TestDb::new().await;
    things(&db).await;
    let detectors = Arc::new(detectors());
    detectors.validate().unwrap();
    let (stop, task) = worker(&db.db, detectors.clone());

    db.exec("INSERT INTO things (title) VALUES ('first')").await;
    let detected = db
        .until(
            "SELECT count(*) FROM engine_events WHERE state <> 'pending'",
            1,
            Duration::from_secs(10),
        )
        .await;
    assert_eq!(detected, 1);
    let event_id: uuid::Uuid = db.value("SELECT id FROM engine_events").await;
    let summary = events::summary(&db.db, event_id).await.unwrap();
    assert_eq!(summary.state, "detection_failed");
    assert_eq!(summary.errors.len(), 1);
    assert_eq!(summary.errors[0].detector, "thing.buggy");
    assert!(
        summary.errors[0].error.contains("missing_column"),
        "{:?}",
        summary.errors
    );
    let created = &summary.detected[0];
    assert_eq!(created.name, "thing.created");
    assert_eq!(created.jobs.len(), 2);

    // Each job runs and fails on its own: one completed, one discarded.
    let outcomes = events::wait_for_jobs(&db.db, &summary.job_ids(), Duration::from_secs(10))
        .await
        .unwrap();
    let states: Vec<&str> = outcomes.iter().map(|o| o.state.as_str()).collect();
    assert_eq!(states, vec!["completed", "discarded"]);
    assert_eq!(outcomes[1].error.as_deref(), Some("first failed"));

    // A replay creates nothing new; the bug is still reported.
    let jobs_before = db.scalar("SELECT count(*) FROM engine_jobs").await;
    let replayed = events::detect_stored(&db.db, &detectors, event_id, true)
        .await
        .unwrap();
    assert_eq!(replayed.job_ids(), summary.job_ids());
    assert_eq!(replayed.errors.len(), 1);
    assert_eq!(
        db.scalar("SELECT count(*) FROM engine_jobs").await,
        jobs_before
    );

    // An update: only a changed title is a rename (JSON compared by value).
    db.exec("UPDATE things SET meta = '{\"b\": [1, 2], \"a\": 1}'")
        .await;
    db.exec("UPDATE things SET meta = '{\"a\": 1.0, \"b\": [1, 2]}', title = 'second'")
        .await;
    db.until(
        "SELECT count(*) FROM engine_events WHERE state <> 'pending'",
        3,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(
        db.scalar("SELECT count(*) FROM engine_event_detections WHERE detector = 'thing.renamed'")
            .await,
        1
    );
    stop.notify_one();
    task.await.unwrap();
}

fn hasura(id: &str, title: &str) -> Envelope {
    serde_json::from_value(json!({
        "id": id,
        "created_at": "2026-12-01T10:00:00.000001",
        "trigger": { "name": "things_hasura" },
        "table": { "schema": "public", "name": "things" },
        "event": {
            "op": "INSERT",
            "data": { "old": null, "new": { "id": "3b1d1f7e-0000-4000-8000-000000000001", "title": title } },
            "session_variables": { "x-hasura-role": "admin" },
            "trace_context": { "trace_id": "abc", "span_id": "def" }
        },
        "delivery_info": { "current_retry": 0, "max_retries": 3 }
    }))
    .unwrap()
}

#[tokio::test]
async fn the_same_event_delivered_twice_or_at_once_creates_its_jobs_once() {
    let db = TestDb::new().await;
    let detectors = Arc::new(detectors());
    let id = "7f0c1bb4-5d3c-4a8b-9f53-2d0e8f1a9c11";
    let event = hasura(id, "hello").into_event(Source::Hasura).unwrap();
    let first = events::ingest(&db.db, &detectors, &event).await.unwrap();
    assert!(!first.duplicate);
    assert_eq!(first.summary.job_ids().len(), 2);

    // Eight concurrent re-deliveries (Hasura retries, at least once).
    let mut deliveries = Vec::new();
    for _ in 0..8 {
        let (db, detectors, event) = (db.db.clone(), detectors.clone(), event.clone());
        deliveries.push(tokio::spawn(async move {
            events::ingest(&db, &detectors, &event).await.unwrap()
        }));
    }
    for delivery in deliveries {
        let again = delivery.await.unwrap();
        assert!(again.duplicate);
        assert_eq!(again.summary.job_ids(), first.summary.job_ids());
    }
    assert_eq!(db.scalar("SELECT count(*) FROM engine_jobs").await, 2);
    assert_eq!(
        db.scalar("SELECT deliveries::bigint FROM engine_events")
            .await,
        9
    );
    let stored = events::find(&db.db, event.id).await.unwrap().unwrap();
    assert_eq!(stored, event);
    assert_eq!(
        stored.envelope()["event"]["trace_context"]["trace_id"],
        "abc"
    );

    // Eight new events at once: each its own jobs.
    let mut fresh = Vec::new();
    for n in 0..8 {
        let event = hasura(&uuid::Uuid::new_v4().to_string(), &format!("t{n}"))
            .into_event(Source::Hasura)
            .unwrap();
        let (db, detectors) = (db.db.clone(), detectors.clone());
        fresh.push(tokio::spawn(async move {
            events::ingest(&db, &detectors, &event).await.unwrap()
        }));
    }
    for ingest in fresh {
        assert!(!ingest.await.unwrap().duplicate);
    }
    assert_eq!(db.scalar("SELECT count(*) FROM engine_jobs").await, 18);
    assert_eq!(
        db.scalar("SELECT count(DISTINCT correlation_id) FROM engine_jobs")
            .await,
        9
    );
}
