//! `jobs worker` as operators run it: the email drain on the engine with several workers, workers
//! killed with SIGKILL, SIGTERM, the job commands, and the metrics endpoints.

use std::{collections::HashMap, process::Stdio, time::Duration};

use serde_json::Value;
use tokio::process::Child;

use crate::helpers::TestApp;
use crate::jobs::{confirmations, jobs};
use crate::smtp_sink::{Reply, SmtpSink};

/// A `jobs worker` child with short intervals (lease 1 s, email drain every second).
fn worker(app: &TestApp, sink: &SmtpSink, extra: &[&str]) -> Child {
    let mut args = vec!["worker"];
    args.extend_from_slice(extra);
    jobs(app, &sink.url(), &args)
        .env("JOBS_LEASE_SECS", "1")
        .env("EMAIL_POLL_INTERVAL_SECS", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start jobs worker")
}

fn terminate(child: &Child) {
    let pid = child.id().expect("running") as i32;
    // SAFETY: kill(2) on our own child.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
}

/// Each delivery's message id, and how many times the sink received it.
fn received(sink: &SmtpSink) -> HashMap<String, usize> {
    let mut received = HashMap::new();
    for message in sink.messages() {
        *received.entry(message.message_id()).or_default() += 1;
    }
    received
}

#[tokio::test]
async fn two_workers_send_each_scheduled_email_once_and_stop_cleanly_on_sigterm() {
    let app = TestApp::spawn().await;
    confirmations(&app, 30).await;
    let sink = SmtpSink::start_with(Duration::from_millis(20), |_, _| Reply::Accept).await;
    let workers = [worker(&app, &sink, &[]), worker(&app, &sink, &[])];
    assert!(
        sink.wait_for(30, Duration::from_secs(30)).await,
        "not all sent"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await; // a further drain or two
    let received = received(&sink);
    assert_eq!(received.len(), 30);
    assert!(received.values().all(|n| *n == 1), "{received:?}");
    for child in &workers {
        terminate(child);
    }
    for mut child in workers {
        let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
            .await
            .expect("exits after SIGTERM")
            .unwrap();
        assert!(status.success(), "{status}");
    }
    // Drains ran as engine jobs, one slot at a time, none left running.
    let drains = app
        .scalar_i64(
            "SELECT count(*) FROM engine_jobs WHERE kind = 'email.drain' AND state = 'completed'",
        )
        .await;
    assert!(drains >= 2, "{drains} drains");
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM engine_jobs WHERE state = 'running'")
            .await,
        0
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM engine_workers WHERE stopped_at IS NULL")
            .await,
        0
    );
}

#[tokio::test]
async fn killing_the_worker_while_it_sends_loses_no_email() {
    let app = TestApp::spawn().await;
    confirmations(&app, 150).await;
    let sink = SmtpSink::start_with(Duration::from_millis(10), |_, _| Reply::Accept).await;
    let kills = 5;
    let mut child = worker(&app, &sink, &[]);
    for round in 1..=kills {
        // Kill only while sending: after some more emails went out.
        assert!(
            sink.wait_for(round * 20, Duration::from_secs(30)).await,
            "round {round}: the worker never got going"
        );
        child.start_kill().unwrap(); // SIGKILL
        child.wait().await.unwrap();
        child = worker(&app, &sink, &[]);
    }
    assert!(
        sink.wait_for(150, Duration::from_secs(60)).await,
        "not all sent"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    terminate(&child);
    let _ = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
    let received = received(&sink);
    assert_eq!(received.len(), 150, "an email was lost");
    let repeats: usize = received.values().map(|n| n - 1).sum();
    // Only an email between the server's acceptance and our commit can go twice: at most one
    // per sending slot (EMAIL_CONCURRENCY = 4) per kill.
    assert!(repeats <= kills * 4, "{repeats} repeats");
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM email_deliveries WHERE status = 'sent'")
            .await,
        150
    );
    println!("150 emails, {kills} SIGKILLs: {repeats} sent twice");
}

async fn json_of(app: &TestApp, sink: &SmtpSink, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let output = jobs(app, &sink.url(), &args).output().await.unwrap();
    assert!(
        output.status.success(),
        "jobs {args:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON output")
}

async fn exit_code(app: &TestApp, sink: &SmtpSink, args: &[&str]) -> (Option<i32>, String) {
    let output = jobs(app, &sink.url(), args).output().await.unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_job_commands_enqueue_list_show_cancel_retry_pause_and_report() {
    let app = TestApp::spawn().await;
    let sink = SmtpSink::start().await;
    let args = r#"{"projectId":"6f0e2c4c-1111-4111-8111-111111111111","link":"live","url":"https://example.com/"}"#;
    let enqueued = json_of(
        &app,
        &sink,
        &[
            "enqueue",
            "project.link_check",
            "--args",
            args,
            "--priority",
            "7",
            "--run-at",
            "1h",
        ],
    )
    .await;
    let id = enqueued["id"].as_i64().unwrap().to_string();
    let listed = json_of(
        &app,
        &sink,
        &["list", "--queue", "links", "--state", "available"],
    )
    .await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert_eq!(listed[0]["priority"], 7);
    assert_eq!(
        listed[0]["concurrency_key"], "example.com",
        "the kind's own keys apply"
    );
    let shown = json_of(&app, &sink, &["show", &id]).await;
    assert_eq!(shown["job"]["kind"], "project.link_check");
    assert_eq!(shown["job"]["created_by"], "cli");
    assert!(shown["attempts"].as_array().unwrap().is_empty());

    let cancelled = json_of(&app, &sink, &["cancel", &id]).await;
    assert_eq!(cancelled["state"], "cancelled");
    let (code, stderr) = exit_code(&app, &sink, &["cancel", &id]).await;
    assert_eq!(code, Some(1), "{stderr}");
    let retried = json_of(&app, &sink, &["retry", &id]).await;
    assert_eq!(retried["state"], "available");

    let paused = json_of(&app, &sink, &["pause", "links", "--for", "10m"]).await;
    assert!(paused["pausedUntil"].is_string(), "{paused}");
    let stats = json_of(&app, &sink, &["stats"]).await;
    let links = stats
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "links")
        .expect("links queue")
        .clone();
    // Retrying made it due at once.
    assert_eq!(
        (links["available"].clone(), links["scheduled"].clone()),
        (1.into(), 0.into()),
        "{links}"
    );
    assert!(links["paused_until"].is_string(), "{links}");
    json_of(&app, &sink, &["resume", "links"]).await;
    let schedules = json_of(&app, &sink, &["schedules"]).await;
    assert!(
        schedules.as_array().unwrap().is_empty(),
        "no worker has run yet"
    );

    for (bad, expected) in [
        (vec!["enqueue", "nope"], 2),
        (
            vec!["enqueue", "project.link_check", "--args", "{\"x\": 1}"],
            2,
        ),
        (
            vec!["enqueue", "project.link_check", "--args", "not json"],
            2,
        ),
        (vec!["pause", "links", "--for", "soon"], 2),
        (vec!["show", "abc"], 2),
        (vec!["show", "999999"], 1),
        (vec!["retry", &id], 1),
    ] {
        let (code, stderr) = exit_code(&app, &sink, &bad).await;
        assert_eq!(code, Some(expected), "{bad:?}: {stderr}");
        assert!(stderr.starts_with("jobs: "), "{bad:?}: {stderr}");
    }
    let table = jobs(&app, &sink.url(), &["list"]).output().await.unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.starts_with("ID  KIND"), "{text}");
    assert!(text.contains("project.link_check"), "{text}");
}

#[tokio::test]
async fn metrics_are_served_by_the_server_and_the_worker_behind_an_optional_token() {
    let app = TestApp::spawn().await;
    confirmations(&app, 2).await;
    let sink = SmtpSink::start().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    let mut child = worker(&app, &sink, &["--metrics-addr", &address]);
    assert!(sink.wait_for(2, Duration::from_secs(30)).await);
    let url = format!("http://{address}/metrics");
    let mut text = String::new();
    for _ in 0..50 {
        text = match reqwest::get(&url).await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if text.contains("engine_jobs_succeeded_total{kind=\"email.drain\"}") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        text.contains("engine_jobs_started_total{kind=\"email.drain\"}"),
        "{text}"
    );
    assert!(
        text.contains("engine_job_duration_seconds_bucket{kind=\"email.drain\""),
        "{text}"
    );
    assert!(text.contains("# TYPE engine_queue_jobs gauge"), "{text}");
    terminate(&child);
    let _ = child.wait().await;

    // The server: queue depths and this process's enqueues; with a token, only for its holder.
    let server = TestApp::spawn_with(&[("METRICS_TOKEN", "scrape-me")]).await;
    let (_, maker) = server.user_client("maker@example.com").await;
    let created = server
        .gql_with(
            &maker,
            "mutation { createProject(input: { title: \"P\", sourceCodeUrl: \"https://a.example\", liveUrl: \"https://b.example\" }) { id } }",
            serde_json::json!({}),
        )
        .await;
    assert!(created["errors"].is_null(), "{created}");
    // `project.submitted` enqueues the link checks (here, in this process).
    server.settle().await;
    let metrics = format!("{}/metrics", server.address);
    let refused = reqwest::get(&metrics).await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["errors"][0]["extensions"]["code"],
        "UNAUTHENTICATED"
    );
    let wrong = reqwest::Client::new()
        .get(&metrics)
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let scraped = reqwest::Client::new()
        .get(&metrics)
        .bearer_auth("scrape-me")
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), 200);
    let text = scraped.text().await.unwrap();
    assert!(
        text.contains("engine_queue_jobs{queue=\"links\",state=\"available\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("engine_jobs_enqueued_total{kind=\"project.link_check\"}"),
        "{text}"
    );
}

/// The whole path: a GraphQL edit → the captured change → `meet.rescheduled` → a `jobs worker`
/// child process re-times the reminders.
#[tokio::test]
async fn a_worker_process_reschedules_reminders_after_a_graphql_edit() {
    let app = TestApp::spawn().await;
    let sink = SmtpSink::start().await;
    let (_, admin) = app.admin_client().await;
    let meet = app
        .create_workshop(&admin, "2031-06-10T18:00", "2031-06-10T20:00")
        .await;
    let mut child = worker(&app, &sink, &[]);
    let reminders = format!(
        r#"SELECT string_agg(to_char("sendAt" AT TIME ZONE 'UTC', 'MM-DD HH24:MI'), ',' ORDER BY "sendAt")
             FROM "scheduledEmails" WHERE "meetRecipientId" = '{meet}'"#
    );
    let until = async |expected: &str| {
        for _ in 0..300 {
            let value = app.scalar_string_or_empty(&reminders).await;
            if value == expected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "reminders never became {expected}: {}",
            app.scalar_string_or_empty(&reminders).await
        );
    };
    until("06-09 18:00,06-10 17:30").await;
    let edited = app
        .gql_with(
            &admin,
            "mutation($id: UUID!) { editMeet(id: $id, input: { startTime: \"2031-07-01T09:00\", endTime: \"2031-07-01T11:00\" }) { id } }",
            serde_json::json!({ "id": meet }),
        )
        .await;
    assert!(edited["errors"].is_null(), "{edited}");
    until("06-30 09:00,07-01 08:30").await;
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM engine_event_detections WHERE detector = 'meet.rescheduled'"
        )
        .await,
        1
    );
    terminate(&child);
    let _ = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;
    let _ = child.start_kill();
}

#[tokio::test]
async fn an_operators_queue_settings_survive_worker_restarts_until_reset() {
    let app = TestApp::spawn().await;
    let sink = SmtpSink::start().await;
    let fair_every = || {
        app.scalar_i64(
            "SELECT coalesce(fair_every, 0)::bigint FROM engine_queues WHERE name = 'links'",
        )
    };
    // Starts a worker, waits until it runs (its queues are configured first), stops it.
    let start_and_stop = || async {
        let before = app.scalar_i64("SELECT count(*) FROM engine_workers").await;
        let mut child = worker(&app, &sink, &[]);
        crate::helpers::eventually(Duration::from_secs(30), "the worker started", || async {
            let now = app.scalar_i64("SELECT count(*) FROM engine_workers").await;
            (now > before).then_some(())
        })
        .await;
        terminate(&child);
        child.wait().await.unwrap();
    };
    start_and_stop().await;
    assert_eq!(
        fair_every().await,
        5,
        "fairness is on by default (JOBS_FAIR_EVERY)"
    );

    let set = json_of(&app, &sink, &["queue", "set", "links", "--fair-every", "3"]).await;
    assert_eq!(set["fairEvery"], 3, "{set}");
    start_and_stop().await;
    assert_eq!(
        fair_every().await,
        3,
        "a restart keeps the operator's value"
    );
    assert_eq!(
        app.scalar_i64(
            "SELECT coalesce(per_key_limit, 0)::bigint FROM engine_queues WHERE name = 'links'"
        )
        .await,
        3,
        "what the operator did not change stays"
    );

    json_of(&app, &sink, &["queue", "reset", "links"]).await;
    start_and_stop().await;
    assert_eq!(fair_every().await, 5, "the configuration's again");
    let (code, _) = exit_code(&app, &sink, &["queue", "set", "links", "--fair-every", "x"]).await;
    assert_eq!(code, Some(2));
}

#[tokio::test]
async fn a_worker_that_died_holding_the_email_drain_holds_up_email_for_seconds_not_its_lease() {
    let app = TestApp::spawn().await;
    let sink = SmtpSink::start().await;
    // The shipped lease (30 s); the drain every second.
    let shipped = |app: &TestApp| {
        let mut command = jobs(app, &sink.url(), &["worker"]);
        command
            .env("JOBS_LEASE_SECS", "30")
            .env("EMAIL_POLL_INTERVAL_SECS", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        command
    };
    let _alive = shipped(&app).spawn().expect("start jobs worker");
    let mut dead = shipped(&app).spawn().expect("start jobs worker");
    // Both running, their start-up drains done: from now on only the schedule's slots drain.
    crate::helpers::eventually(Duration::from_secs(20), "two workers drained", || async {
        let workers = app.scalar_i64("SELECT count(*) FROM engine_workers").await;
        let pending = app
            .scalar_i64(
                "SELECT count(*) FROM engine_jobs
                  WHERE kind = 'email.drain' AND (created_by LIKE 'cron:%' AND dedupe_key LIKE '%:start')
                    AND state IN ('available', 'running')",
            )
            .await;
        let done = app
            .scalar_i64("SELECT count(*) FROM engine_jobs WHERE kind = 'email.drain' AND state = 'completed'")
            .await;
        (workers == 2 && pending == 0 && done >= 1).then_some(())
    })
    .await;
    let dead_pid = dead.id().expect("running");
    dead.start_kill().unwrap(); // SIGKILL
    dead.wait().await.unwrap();
    // What it held when it died: a drain of its schedule, leased for 30 s more.
    app.sql_values(
        "WITH job AS (
             INSERT INTO engine_jobs (queue, kind, state, attempt, max_attempts, lease_owner,
                                      lease_expires_at, started_at, created_by, dedupe_key)
             SELECT 'email', 'email.drain', 'running', 1, 1, id, now() + interval '30 s', now(),
                    'cron:email.drain', 'cron:email.drain:' || date_trunc('second', now())
               FROM engine_workers WHERE pid = $1
             RETURNING id)
         INSERT INTO engine_schedule_runs (schedule, slot, job_id)
         SELECT 'email.drain', date_trunc('second', now()), id FROM job
             ON CONFLICT (schedule, slot) DO UPDATE SET job_id = excluded.job_id",
        vec![(dead_pid as i32).into()],
    )
    .await;
    confirmations(&app, 5).await;
    let started = std::time::Instant::now();
    assert!(
        sink.wait_for(5, Duration::from_secs(25)).await,
        "no email while the dead worker's drain kept its lease"
    );
    let waited = started.elapsed();
    assert!(
        waited <= Duration::from_secs(9),
        "email waited {waited:?} behind a dead worker's drain"
    );
}

#[tokio::test]
async fn three_worker_processes_fire_each_cron_boundary_once() {
    let app = TestApp::spawn().await;
    let sink = SmtpSink::start().await;
    // Three schedulers racing for the email drain's slot every second.
    let workers: Vec<Child> = (0..3).map(|_| worker(&app, &sink, &[])).collect();
    crate::helpers::eventually(Duration::from_secs(30), "three workers", || async {
        let live = app.scalar_i64("SELECT count(*) FROM engine_workers").await;
        (live == 3).then_some(())
    })
    .await;
    let before = app
        .scalar_i64("SELECT count(*) FROM engine_schedule_runs WHERE schedule = 'email.drain'")
        .await;
    crate::helpers::eventually(Duration::from_secs(30), "eight more slots", || async {
        let slots = app
            .scalar_i64("SELECT count(*) FROM engine_schedule_runs WHERE schedule = 'email.drain'")
            .await;
        (slots >= before + 8).then_some(())
    })
    .await;
    for child in &workers {
        terminate(child);
    }
    for mut child in workers {
        child.wait().await.unwrap();
    }

    let slots = app
        .scalar_i64("SELECT count(*) FROM engine_schedule_runs WHERE schedule = 'email.drain'")
        .await;
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM engine_schedule_runs
              WHERE schedule = 'email.drain' AND slot <> date_trunc('second', slot)"
        )
        .await,
        0,
        "every slot is a boundary of the schedule, not the instant a scheduler fired"
    );
    // (A boundary can pass unfired when every scheduler is late under load: the next one
    // drains; a second row for one boundary is what must never happen.)
    assert_eq!(
        app.scalar_i64(
            "SELECT count(DISTINCT date_trunc('second', slot))
               FROM engine_schedule_runs WHERE schedule = 'email.drain'"
        )
        .await,
        slots,
        "one row per second boundary"
    );
    let fired = app
        .scalar_i64(
            "SELECT count(*) FROM engine_schedule_runs
              WHERE schedule = 'email.drain' AND job_id IS NOT NULL",
        )
        .await;
    let drains = app
        .scalar_i64(
            "SELECT count(*) FROM engine_jobs
              WHERE kind = 'email.drain' AND created_by = 'cron:email.drain'
                AND dedupe_key NOT LIKE '%:start'",
        )
        .await;
    assert!(fired >= 1, "{fired} of {slots} slots made a drain");
    assert_eq!(drains, fired, "one drain per slot that fired");
    assert_eq!(
        app.scalar_i64(
            "SELECT count(DISTINCT dedupe_key) FROM engine_jobs
              WHERE kind = 'email.drain' AND created_by = 'cron:email.drain'
                AND dedupe_key NOT LIKE '%:start'"
        )
        .await,
        drains
    );
}
