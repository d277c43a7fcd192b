//! Events: Hasura's event triggers at `POST /hooks/hasura`, native capture of Mintbean's tables,
//! `invokeEvent`, and the side effects that detectors turned into jobs.

use reqwest::{Client, StatusCode};
use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::email::{drain, drainer};
use crate::helpers::{TestApp, data, error_code};
use crate::smtp_sink::SmtpSink;

const SECRET: &str = "hasura-shared-secret-for-tests";
const HEADER: &str = "x-mintbean-webhook-secret";

async fn app() -> TestApp {
    TestApp::spawn_with(&[
        ("HASURA_WEBHOOK_SECRET", SECRET),
        ("LINK_CHECK_ALLOW_HOSTS", "127.0.0.1"),
    ])
    .await
}

/// A fixture from `tests/fixtures/hasura/` with its placeholders filled in.
fn fixture(name: &str, fill: &[(&str, String)]) -> String {
    let path = format!(
        "{}/tests/fixtures/hasura/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let mut text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    for (placeholder, value) in fill {
        text = text.replace(placeholder, value);
    }
    text
}

async fn post(
    app: &TestApp,
    path: &str,
    secret: Option<&str>,
    body: String,
) -> (StatusCode, Value) {
    let mut request = Client::new()
        .post(format!("{}{path}", app.address))
        .header("content-type", "application/json")
        .body(body);
    if let Some(secret) = secret {
        request = request.header(HEADER, secret);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn hook(app: &TestApp, body: String) -> Value {
    let (status, body) = post(app, "/hooks/hasura", Some(SECRET), body).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// `[(detector, [job names])]` of a summary.
fn detected(body: &Value) -> Vec<(String, Vec<String>)> {
    body["detected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let jobs = d["jobs"].as_array().unwrap().iter();
            (
                d["name"].as_str().unwrap().to_owned(),
                jobs.map(|j| j["name"].as_str().unwrap().to_owned())
                    .collect(),
            )
        })
        .collect()
}

#[tokio::test]
async fn hasura_events_are_stored_detected_and_deduplicated() {
    let app = app().await;
    let meet = Uuid::new_v4().to_string();
    let user = Uuid::new_v4().to_string();
    let fill = [
        ("MEET_ID", meet.clone()),
        ("USER_ID", user.clone()),
        ("ADMIN_ID", user.clone()),
    ];

    let inserted = hook(&app, fixture("meet_insert.json", &fill)).await;
    assert_eq!(inserted["event_id"], "85558393-c75d-4d2f-9c31-e7f6ac7b8a44");
    assert_eq!(inserted["duplicate"], false);
    assert_eq!(inserted["errors"], json!([]));
    assert_eq!(
        detected(&inserted),
        vec![("meet.created".into(), vec!["reminders".into()])]
    );
    let job = &inserted["detected"][0]["jobs"][0];
    assert_eq!(job["kind"], "email.meet_reminders");
    assert_eq!(job["state"], "available");

    // Hasura delivers at least once: the same event again (also several at once) is the same
    // answer and no new job.
    let mut again = Vec::new();
    for _ in 0..5 {
        let (app_address, body) = (app.address.clone(), fixture("meet_insert.json", &fill));
        again.push(tokio::spawn(async move {
            Client::new()
                .post(format!("{app_address}/hooks/hasura"))
                .header("content-type", "application/json")
                .header(HEADER, SECRET)
                .body(body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }));
    }
    for answer in again {
        let answer = answer.await.unwrap();
        assert_eq!(answer["duplicate"], true, "{answer}");
        assert_eq!(answer["detected"], inserted["detected"]);
    }
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM engine_jobs WHERE kind = 'email.meet_reminders'")
            .await,
        1
    );
    assert_eq!(
        app.scalar_i64("SELECT deliveries::bigint FROM engine_events WHERE source = 'hasura'")
            .await,
        6
    );
    // Stored as received, trace context included; the job carries the event as correlation id.
    assert_eq!(
        app.scalar_string("SELECT trace_context->>'trace_id' FROM engine_events")
            .await,
        "4bf92f3577b34da6"
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM engine_jobs WHERE correlation_id = '85558393-c75d-4d2f-9c31-e7f6ac7b8a44'").await,
        1
    );

    // An update that moves the meet is a reschedule; one that rewrites a JSON column with the
    // same content (other key order, 40 as 40.0) and renames it is none.
    let moved = hook(&app, fixture("meet_update_rescheduled.json", &fill)).await;
    assert_eq!(
        detected(&moved),
        vec![("meet.rescheduled".into(), vec!["reminders".into()])]
    );
    let unchanged = hook(&app, fixture("meet_update_unchanged.json", &fill)).await;
    assert_eq!(detected(&unchanged), vec![]);
    assert_eq!(unchanged["state"], "detected");

    // A deletion is stored (no detector acts on it); a MANUAL event re-sends a confirmation.
    let deleted = hook(&app, fixture("registration_delete.json", &fill)).await;
    assert_eq!(detected(&deleted), vec![]);
    let manual = hook(&app, fixture("registration_manual.json", &fill)).await;
    assert_eq!(
        detected(&manual),
        vec![("meet.registered".into(), vec!["confirmation".into()])]
    );
    assert_eq!(
        app.scalar_string("SELECT string_agg(op, ',' ORDER BY received_at) FROM engine_events")
            .await,
        "INSERT,UPDATE,UPDATE,DELETE,MANUAL"
    );
}

#[tokio::test]
async fn the_secret_is_checked_before_the_body_is_read() {
    let app = app().await;
    let garbage = "{ this is not json".to_string();
    for secret in [None, Some("wrong"), Some("")] {
        let (status, body) = post(&app, "/hooks/hasura", secret, garbage.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{secret:?}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{body}"
        );
    }
    // With the secret, bad bodies are 400 with the reason, and nothing is stored.
    let (status, body) = post(&app, "/hooks/hasura", Some(SECRET), garbage).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let wrong_rows = fixture(
        "meet_insert.json",
        &[("\"old\": null", "\"old\": 7".into())],
    );
    let (status, body) = post(&app, "/hooks/hasura", Some(SECRET), wrong_rows).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("event.data.old"),
        "{body}"
    );
    let (status, _) = post(&app, "/hooks/hasura?wait=999", Some(SECRET), "{}".into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM engine_events").await,
        0
    );

    // Without a configured secret the hook accepts nothing.
    let closed = TestApp::spawn().await;
    let (status, body) = post(&closed, "/hooks/hasura", Some(SECRET), "{}".into()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["errors"][0]["extensions"]["code"], "NOT_CONFIGURED");
}

#[tokio::test]
async fn a_detector_that_fails_is_reported_not_taken_for_not_detected() {
    let app = app().await;
    let body = hook(&app, fixture("award_without_project.json", &[])).await;
    assert_eq!(body["state"], "detection_failed");
    assert_eq!(body["errors"][0]["detector"], "badge.awarded");
    assert!(
        body["errors"][0]["error"]
            .as_str()
            .unwrap()
            .contains("projectId"),
        "{body}"
    );
    assert_eq!(
        app.scalar_string("SELECT state || ': ' || error FROM engine_event_detections")
            .await,
        format!(
            "detection_failed: {}",
            body["errors"][0]["error"].as_str().unwrap()
        )
    );
    // The failure is counted.
    let metrics = reqwest::get(format!("{}/metrics", app.address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "engine_event_detections_total{detector=\"badge.awarded\",outcome=\"detection_failed\"}"
        ),
        "{metrics}"
    );
}

#[tokio::test]
async fn wait_reports_each_job_and_one_failing_job_does_not_fail_the_others() {
    let app = app().await;
    let _worker = app.run_worker();
    let fill = [
        ("PROJECT_ID", Uuid::new_v4().to_string()),
        ("USER_ID", Uuid::new_v4().to_string()),
        // A closed port: the checks complete with "unreachable" reports.
        ("SOURCE_URL", "http://127.0.0.1:9/source".to_string()),
        ("LIVE_URL", "http://127.0.0.1:9/live".to_string()),
    ];
    let (status, body) = post(
        &app,
        "/hooks/hasura?wait=20",
        Some(SECRET),
        fixture("project_insert.json", &fill),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let jobs = body["detected"][0]["jobs"].as_array().unwrap();
    let outcome = |name: &str| jobs.iter().find(|j| j["name"] == name).unwrap().clone();
    for check in ["check-sourceCode", "check-live"] {
        let job = outcome(check);
        assert_eq!(job["state"], "completed", "{job}");
        assert_eq!(job["completed"], true);
        assert!(job["duration_ms"].as_f64().is_some(), "{job}");
        assert!(job["result"].is_object(), "{job}");
    }
    // The project was never in this database: the admins' email fails for good, with why.
    let email = outcome("admin-email");
    assert_eq!(email["state"], "discarded", "{email}");
    assert_eq!(email["completed"], false);
    assert!(
        email["error"].as_str().unwrap().contains("does not exist"),
        "{email}"
    );
}

#[tokio::test]
async fn captured_changes_name_their_actor_and_a_rolled_back_change_is_no_event() {
    let app = app().await;
    let (admin_id, admin) = app.admin_client().await;
    let events_before = app.scalar_i64("SELECT count(*) FROM engine_events").await;

    // A change in a transaction that rolls back leaves no event and no detection job.
    let txn = app.db.begin().await.unwrap();
    txn.execute_unprepared(
        r#"INSERT INTO users (email, "firstName", "lastName", "passwordHash") VALUES ('gone@example.com', 'G', 'One', 'x')"#,
    )
    .await
    .unwrap();
    txn.rollback().await.unwrap();
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM engine_events").await,
        events_before
    );

    // Through GraphQL: the admin is the actor; a refused mutation is no event either.
    let meet = app
        .create_workshop(&admin, "2031-06-10T18:00", "2031-06-10T20:00")
        .await;
    let actor = app
        .scalar_string(&format!(
            "SELECT session_variables->>'x-hasura-role' || ' ' || (session_variables->>'x-hasura-user-id')
               FROM engine_events WHERE table_name = 'meets' AND new->>'id' = '{meet}'"
        ))
        .await;
    assert_eq!(actor, format!("admin {admin_id}"));
    let (user_id, user) = app.user_client("u@example.com").await;
    let register = "mutation($id: UUID!) { registerForMeet(meetId: $id) }";
    data(&app.gql_with(&user, register, json!({ "id": meet })).await);
    let refused = app.gql_with(&user, register, json!({ "id": meet })).await;
    assert_eq!(error_code(&refused), "BAD_USER_INPUT");
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM engine_events WHERE table_name = 'meetRegistrations'")
            .await,
        1
    );
    // Password hashes never enter an event.
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM engine_events WHERE table_name = 'users' AND new ? 'passwordHash'"
        )
        .await,
        0
    );
    assert!(
        app.scalar_i64("SELECT count(*) FROM engine_events WHERE table_name = 'users'")
            .await
            >= 2
    );

    // Detected by a worker: the registration's confirmation is queued once.
    app.settle().await;
    assert_eq!(
        app.scalar_i64(&format!(
            "SELECT count(*) FROM email_deliveries
              WHERE recipient_user_id = '{user_id}' AND dedupe_key LIKE 'confirmation:%'"
        ))
        .await,
        1
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM engine_events WHERE state = 'pending'")
            .await,
        0
    );
}

#[tokio::test]
async fn invoke_event_fires_the_detectors_on_a_row_as_it_is() {
    let app = app().await;
    let (_, admin) = app.admin_client().await;
    let meet = app.jam().await;
    app.settle().await;
    let invoke = "mutation($t: String!, $id: UUID!) { invokeEvent(table: $t, id: $id) { eventId state detected { name jobs { name kind state } } errors { detector message } } }";
    let body = app
        .gql_with(&admin, invoke, json!({ "t": "meets", "id": meet }))
        .await;
    let summary = &data(&body)["invokeEvent"];
    assert_eq!(summary["state"], "detected");
    assert_eq!(summary["detected"][0]["name"], "meet.created");
    assert_eq!(
        summary["detected"][0]["jobs"][0]["kind"],
        "email.meet_reminders"
    );
    // Re-syncing reminders changes nothing: still the two reminders.
    app.settle().await;
    assert_eq!(
        app.scalar_i64(&format!(
            r#"SELECT count(*) FROM "scheduledEmails" WHERE "meetRecipientId" = '{meet}'"#
        ))
        .await,
        2
    );
    let op = app
        .scalar_string(
            "SELECT op || ' ' || source FROM engine_events ORDER BY received_at DESC LIMIT 1",
        )
        .await;
    assert_eq!(op, "MANUAL manual");

    let unknown_table = app
        .gql_with(&admin, invoke, json!({ "t": "posts", "id": meet }))
        .await;
    assert_eq!(error_code(&unknown_table), "BAD_USER_INPUT");
    let no_row = app
        .gql_with(
            &admin,
            invoke,
            json!({ "t": "meets", "id": Uuid::new_v4() }),
        )
        .await;
    assert_eq!(error_code(&no_row), "NOT_FOUND");
}

#[tokio::test]
async fn notifications_reach_the_new_user_the_admins_and_the_awarded_owner_once() {
    let app = app().await;
    let sink = SmtpSink::start().await;
    let (_, admin) = app.admin_client().await;
    let register = "mutation { register(input: { email: \"new@example.com\", firstName: \"Nia\", lastName: \"New\", password: \"password-123\", passwordConfirmation: \"password-123\" }) { id } }";
    let owner_id = app.created_id(&app.client, register, json!({})).await;
    let owner = app.login_with("new@example.com", "password-123").await;
    let project_id = app
        .created_id(
            &owner,
            "mutation { createProject(input: { title: \"Snake\", sourceCodeUrl: \"https://a.example/s\", liveUrl: \"https://b.example/l\" }) { id } }",
            json!({}),
        )
        .await;
    let badge_id = app
        .created_id(
            &admin,
            "mutation { createBadge(input: { alias: \":gold:\", badgeShape: STAR, faIcon: \"star\", title: \"Gold\", description: \"Best in show\" }) { id } }",
            json!({}),
        )
        .await;
    let award = "mutation($p: UUID!, $b: [UUID!]!) { awardBadgesToProject(projectId: $p, badgeIds: $b) { id } }";
    data(
        &app.gql_with(&admin, award, json!({ "p": project_id, "b": [badge_id] }))
            .await,
    );
    // Awarding the same badge again is no new award.
    data(
        &app.gql_with(&admin, award, json!({ "p": project_id, "b": [badge_id] }))
            .await,
    );
    app.settle().await;
    // Welcomes for both accounts, the admins' project email, the owner's badge email.
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM email_deliveries WHERE template_name LIKE 'notifications/%'"
        )
        .await,
        4
    );

    let summary = drain(&drainer(&app, &sink.url(), &[]).await).await;
    assert_eq!(summary.sent, 4, "{summary:?}");
    let messages = sink.messages();
    let to = |address: &str| {
        messages
            .iter()
            .find(|m| m.header("To").is_some_and(|to| to.contains(address)))
            .unwrap_or_else(|| panic!("nothing to {address}"))
    };
    let welcome = to("new@example.com");
    let subjects: Vec<String> = messages
        .iter()
        .filter_map(|m| m.header("Subject"))
        .collect();
    assert!(
        subjects.iter().any(|s| s == "Welcome to Mintbean, Nia"),
        "{subjects:?}"
    );
    assert!(
        subjects
            .iter()
            .any(|s| s == "Your project Snake earned Gold"),
        "{subjects:?}"
    );
    assert!(
        subjects.iter().any(|s| s.starts_with("New project: Snake")),
        "{subjects:?}"
    );
    assert!(welcome.header("Message-ID").is_some());
    assert_eq!(
        app.scalar_i64(&format!(
            "SELECT count(*) FROM email_deliveries WHERE recipient_user_id = '{owner_id}' AND status = 'sent'"
        ))
        .await,
        2
    );
}

async fn run_jobs(app: &TestApp, args: &[&str]) -> (i32, String) {
    let output = crate::jobs::jobs(app, "smtp://127.0.0.1:9", args)
        .output()
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.code().unwrap_or(-1), text)
}

#[tokio::test]
async fn jobs_events_lists_shows_replays_and_tests_payloads() {
    let app = app().await;
    let meet = Uuid::new_v4().to_string();
    let fill = [("MEET_ID", meet.clone())];
    let payload = std::env::temp_dir().join(format!("event-{}.json", Uuid::new_v4()));
    std::fs::write(&payload, fixture("meet_insert.json", &fill)).unwrap();
    let path = payload.to_str().unwrap();

    // A dry run stores nothing and says what would happen.
    let (code, text) = run_jobs(&app, &["events", "test", "--payload", path, "--dry-run"]).await;
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("meet.created") && text.contains("email.meet_reminders"),
        "{text}"
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM engine_events").await,
        0
    );

    // Without --dry-run it is stored and detected, once however often it is tested.
    for _ in 0..2 {
        let (code, text) = run_jobs(&app, &["events", "test", "--payload", path, "--json"]).await;
        assert_eq!(code, 0, "{text}");
        let summary: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(summary["detected"][0]["name"], "meet.created", "{text}");
    }
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM engine_jobs WHERE kind = 'email.meet_reminders'")
            .await,
        1
    );
    let id = "85558393-c75d-4d2f-9c31-e7f6ac7b8a44";
    let (code, text) = run_jobs(&app, &["events", "list", "--since", "1h"]).await;
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(id) && text.contains("hasura") && text.contains("INSERT"),
        "{text}"
    );
    let (code, text) = run_jobs(&app, &["events", "show", id]).await;
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("meet.created") && text.contains("reminders") && text.contains("Spring Jam"),
        "{text}"
    );
    let (code, text) = run_jobs(&app, &["events", "replay", id]).await;
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("meet.created"), "{text}");
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM engine_jobs WHERE kind = 'email.meet_reminders'")
            .await,
        1
    );
    // Bad input: a clear message and exit status 2 (usage) or 1 (not found).
    let (code, text) = run_jobs(&app, &["events", "show", "nope"]).await;
    assert_eq!(code, 2, "{text}");
    let (code, text) = run_jobs(&app, &["events", "show", &Uuid::new_v4().to_string()]).await;
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("no event"), "{text}");
    std::fs::write(&payload, "{}").unwrap();
    let (code, text) = run_jobs(&app, &["events", "test", "--payload", path]).await;
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("not a Hasura event"), "{text}");
    let _ = std::fs::remove_file(&payload);
}

#[tokio::test]
async fn tables_whose_events_come_from_hasura_are_not_captured_twice() {
    let app = app().await;
    let captured = async || engine::events::captured_tables(&app.db).await.unwrap();
    assert_eq!(
        captured().await,
        vec![
            "public.badgesProjects",
            "public.meetRegistrations",
            "public.meets",
            "public.projects",
            "public.users"
        ]
    );
    let url = crate::helpers::database_url(&app.db_name);
    let hasura = crate::helpers::test_config(&url, &[("EVENTS_HASURA_TABLES", "meets")]);
    mintbean_core::events::ensure_capture(&app.db, &hasura)
        .await
        .unwrap();
    assert!(!captured().await.contains(&"public.meets".to_string()));
    app.create_meet(
        "Jam",
        "WORKSHOP",
        "2031-06-10T18:00:00",
        "2031-06-10T20:00:00",
        "UTC",
    )
    .await;
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM engine_events WHERE table_name = 'meets'")
            .await,
        0
    );
    // Back to native capture, and an extra table captured by configuration.
    let native = crate::helpers::test_config(&url, &[("EVENTS_CAPTURE_TABLES", "posts")]);
    mintbean_core::events::ensure_capture(&app.db, &native)
        .await
        .unwrap();
    let tables = captured().await;
    assert!(
        tables.contains(&"public.meets".to_string())
            && tables.contains(&"public.posts".to_string()),
        "{tables:?}"
    );
    mintbean_core::events::ensure_capture(&app.db, &native)
        .await
        .unwrap();
    assert_eq!(captured().await.len(), 6);
}

/// A job whose end was never recorded (its worker died after its transaction committed) runs
/// again: that second run must not queue its email twice.
#[tokio::test]
async fn email_jobs_run_twice_queue_their_email_once() {
    let app = app().await;
    let sink = SmtpSink::start().await;
    let (_, user) = app.user_client("u@example.com").await;
    let meet = app.jam().await;
    app.register_for_meet(&user, meet).await;
    app.settle().await;
    let rerun = "UPDATE engine_jobs SET state = 'available', finished_at = NULL, run_at = now()
                  WHERE kind IN ('email.registration_confirmation', 'email.welcome')";
    let confirmations = r#"SELECT (SELECT count(*) FROM "scheduledEmails" WHERE "templateName" LIKE '%registration-confirmation')
                                + (SELECT count(*) FROM email_deliveries WHERE template_name LIKE '%registration-confirmation')"#;
    let welcomes =
        "SELECT count(*) FROM email_deliveries WHERE template_name = 'notifications/welcome'";
    assert_eq!(app.scalar_i64(confirmations).await, 1);
    let welcomed = app.scalar_i64(welcomes).await;
    assert!(welcomed >= 1);
    app.sql(rerun).await;
    app.settle().await;
    assert_eq!(app.scalar_i64(confirmations).await, 1);
    assert_eq!(app.scalar_i64(welcomes).await, welcomed);
    // After the drain moved it into a delivery, a rerun still queues nothing.
    let summary = drain(&drainer(&app, &sink.url(), &[]).await).await;
    assert!(summary.sent >= 2, "{summary:?}");
    app.sql(rerun).await;
    app.settle().await;
    assert_eq!(app.scalar_i64(confirmations).await, 1);
    assert_eq!(drain(&drainer(&app, &sink.url(), &[]).await).await.sent, 0);
}

#[tokio::test]
async fn a_nul_in_an_event_or_task_is_a_bad_request_not_a_retry() {
    let app = app().await;
    let event = fixture(
        "meet_insert.json",
        &[("MEET_ID", uuid::Uuid::new_v4().to_string())],
    )
    .replacen("\"title\": \"", "\"title\": \"nul\\u0000 ", 1);
    assert!(event.contains("\\u0000"), "the fixture has a title");
    let (status, body) = post(&app, "/hooks/hasura", Some(SECRET), event).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM engine_events").await,
        0
    );

    let token = app.api_token(&["link_check:create"]).await;
    let response = Client::new()
        .post(format!("{}/tasks/link_check", app.address))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(r#"{"url": "https://example.com/", "note": "a\u0000b"}"#)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_client_error(), "{status} {body}");
    assert_eq!(body["error"]["code"], "BAD_USER_INPUT", "{body}");
}
