//! The `jobs` binary as operators run it: summary output, exit codes, and a drainer killed with
//! SIGKILL mid-batch.

use std::{collections::HashMap, process::Stdio, time::Duration};

use tokio::process::Command;

use crate::email::SENDER;
use crate::helpers::{TestApp, database_url};
use crate::smtp_sink::{Reply, SmtpSink};

pub(crate) fn jobs(app: &TestApp, smtp_url: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jobs"));
    command
        .args(args)
        .env("DATABASE_URL", database_url(&app.db_name))
        .env("SMTP_URL", smtp_url)
        .env("SENDER_EMAIL", SENDER)
        .env("EMAIL_CONCURRENCY", "4")
        .env("EMAIL_RETRY_BACKOFF_SECS", "0")
        // A killed run's emails go to the next run once their lease runs out.
        .env("JOBS_LEASE_SECS", "3")
        .env("APP_ENV", "test")
        .env("RUST_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .kill_on_drop(true);
    command
}

/// `count` users registered for one meet, each with a due confirmation.
pub(crate) async fn confirmations(app: &TestApp, count: i32) {
    let meet = app
        .create_meet(
            "Jam",
            "HACKATHON",
            "2031-06-10T12:00:00",
            "2031-06-12T12:00:00",
            "UTC",
        )
        .await;
    app.sql_quietly(
        r#"INSERT INTO users (email, "firstName", "lastName", "passwordHash")
           SELECT 'user' || n || '@example.com', 'User', n::text, 'x' FROM generate_series(1, $1) n"#,
        vec![count.into()],
    )
    .await;
    app.sql_values(
        r#"INSERT INTO "scheduledEmails" ("templateName", "userRecipientId", "meetId")
           SELECT 'hackathons/registration-confirmation', id, $1 FROM users"#,
        vec![meet.into()],
    )
    .await;
}

#[tokio::test]
async fn jobs_email_prints_a_summary_and_status() {
    let app = TestApp::spawn().await;
    confirmations(&app, 3).await;
    let sink = SmtpSink::start().await;
    let output = jobs(&app, &sink.url(), &["email"]).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(
            "emails: sent 3, retried 0, failed 0 (0 after exhausting retries), skipped 0 in "
        ),
        "{stdout}"
    );
    assert_eq!(sink.count(), 3);

    let status = jobs(&app, &sink.url(), &["email", "status"])
        .output()
        .await
        .unwrap();
    let report = String::from_utf8_lossy(&status.stdout);
    assert!(
        report.contains("queue: 0 scheduled emails") && report.contains("sent 3"),
        "{report}"
    );

    let bad = jobs(&app, &sink.url(), &["email", "--bogus"])
        .output()
        .await
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[tokio::test]
async fn jobs_email_exits_non_zero_when_the_mail_server_is_down() {
    let app = TestApp::spawn().await;
    confirmations(&app, 2).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let output = jobs(&app, &format!("smtp://{closed}"), &["email"])
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("stopped early") && stdout.contains("unavailable"),
        "{stdout}"
    );
    let statuses = app
        .scalar_string("SELECT string_agg(status || ':' || attempts || ':' || coalesce(last_error, ''), ' | ') FROM email_deliveries")
        .await;
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM email_deliveries WHERE status = 'pending'")
            .await,
        2,
        "{statuses}"
    );
}

#[tokio::test]
async fn a_drainer_killed_mid_batch_loses_nothing_and_repeats_only_in_flight_emails() {
    let app = TestApp::spawn().await;
    confirmations(&app, 200).await;
    let sink = SmtpSink::start_with(Duration::from_millis(15), |_, _| Reply::Accept).await;
    let mut child = jobs(&app, &sink.url(), &["email"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        sink.wait_for(40, Duration::from_secs(60)).await,
        "the drainer never got going"
    );
    child.start_kill().unwrap(); // SIGKILL
    child.wait().await.unwrap();
    let before_rerun = sink.count();
    assert!(
        before_rerun < 200,
        "the kill came too late to test anything ({before_rerun} sent)"
    );

    let rerun = jobs(&app, &sink.url(), &["email"]).output().await.unwrap();
    assert!(
        rerun.status.success(),
        "{}",
        String::from_utf8_lossy(&rerun.stdout)
    );

    let expected: Vec<String> = sea_orm::ConnectionTrait::query_all_raw(
        &app.db,
        sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT message_id FROM email_deliveries",
        ),
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.try_get::<String>("", "message_id").unwrap())
    .collect();
    assert_eq!(expected.len(), 200);
    let mut received: HashMap<String, usize> = HashMap::new();
    for message in sink.messages() {
        *received.entry(message.message_id()).or_default() += 1;
    }
    for id in &expected {
        assert!(received.contains_key(id), "{id} was never delivered");
    }
    assert_eq!(received.len(), 200, "unexpected messages");
    let duplicates: usize = received.values().map(|n| n - 1).sum();
    // At most one email per worker can be between the server's acceptance and our commit.
    assert!(duplicates <= 4, "{duplicates} duplicates");
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM email_deliveries WHERE status = 'sent'")
            .await,
        200
    );
}

#[tokio::test]
async fn the_watching_drainer_finishes_in_flight_emails_on_sigterm() {
    let app = TestApp::spawn().await;
    confirmations(&app, 40).await;
    let sink = SmtpSink::start_with(Duration::from_millis(150), |_, _| Reply::Accept).await;
    let mut child = jobs(
        &app,
        &sink.url(),
        &["email", "--watch", "--interval", "0.2"],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    assert!(
        sink.wait_for(2, Duration::from_secs(60)).await,
        "the drainer never got going"
    );
    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");

    // Every email the server accepted was recorded as sent before exiting; the rest wait.
    let sent = app
        .scalar_i64("SELECT count(*) FROM email_deliveries WHERE status = 'sent'")
        .await;
    assert_eq!(sent as usize, sink.count());
    let pending = app
        .scalar_i64("SELECT count(*) FROM email_deliveries WHERE status = 'pending'")
        .await;
    assert!(
        pending > 0 && sent + pending == 40,
        "sent {sent}, pending {pending}"
    );
}
