//! Scheduled emails: what enqueues them, and the drainer delivering them to a real SMTP server.

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, Utc};
use icalendar::{CalendarDateTime, Component, DatePerhapsTime};
use mail_parser::{MessageParser, MimeHeaders};
use mintbean_core::{
    config::Config,
    email::drain::{Drainer, Summary},
};
use sea_orm::DatabaseConnection;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{TestApp, data, database_url, error_field, test_config};
use crate::smtp_sink::{Received, Reply, SmtpSink};

pub const SENDER: &str = "Mintbean <hello@mintbean.test>";

/// Settings every drainer in these tests shares; `extra` overrides them.
pub fn email_settings<'a>(
    smtp_url: &'a str,
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    let mut settings = vec![
        ("SMTP_URL", smtp_url),
        ("SENDER_EMAIL", SENDER),
        ("FRONTEND_URL", "https://mintbean.test"),
        ("EMAIL_RETRY_BACKOFF_SECS", "0"),
        ("EMAIL_CONCURRENCY", "4"),
    ];
    for (k, v) in extra {
        settings.retain(|(name, _)| name != k);
        settings.push((k, v));
    }
    settings
}

/// What `jobs email` runs with: a drainer, its database and configuration.
pub struct TestDrainer {
    drainer: std::sync::Arc<Drainer>,
    db: DatabaseConnection,
    config: Config,
}

pub async fn drainer(app: &TestApp, smtp_url: &str, extra: &[(&str, &str)]) -> TestDrainer {
    drainer_for(&app.db_name, smtp_url, extra).await
}

/// A drainer (with its own connection pool) for the named test database.
pub async fn drainer_for(database: &str, smtp_url: &str, extra: &[(&str, &str)]) -> TestDrainer {
    let config = test_config(&database_url(database), &email_settings(smtp_url, extra));
    let pool = mintbean_core::db::connect(
        &config.database_url,
        mintbean_core::email::drain::pool_size(&config.email),
    )
    .await
    .unwrap();
    let drainer = Drainer::new(pool.clone(), config.email.clone()).expect("drainer");
    TestDrainer::new(drainer, pool, config)
}

impl TestDrainer {
    pub fn new(drainer: Drainer, db: DatabaseConnection, config: Config) -> Self {
        TestDrainer {
            drainer: std::sync::Arc::new(drainer),
            db,
            config,
        }
    }
}

/// One `jobs email` run: everything due is sent (or why not is recorded).
pub async fn drain(d: &TestDrainer) -> Summary {
    mintbean::app::drain_emails(
        d.db.clone(),
        d.drainer.clone(),
        &d.config,
        std::future::pending(),
    )
    .await
    .expect("drain")
}

fn parsed(message: &Received) -> mail_parser::Message<'_> {
    MessageParser::default()
        .parse(&message.data)
        .expect("a MIME message")
}

/// Times in our invites are UTC date-times (`...Z`).
fn ics_utc(value: DatePerhapsTime) -> DateTime<Utc> {
    match value {
        DatePerhapsTime::DateTime(CalendarDateTime::Utc(dt)) => dt,
        other => panic!("expected a UTC date-time, got {other:?}"),
    }
}

fn utc(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// The queue once the detectors and their jobs have run.
async fn queued(app: &TestApp) -> Vec<(String, DateTime<Utc>, Option<Uuid>, Option<Uuid>)> {
    app.settle().await;
    let rows = sea_orm::ConnectionTrait::query_all_raw(
        &app.db,
        sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            r#"SELECT "templateName", "sendAt", "meetRecipientId", "userRecipientId" FROM "scheduledEmails" ORDER BY "sendAt", "templateName""#,
        ),
    )
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get::<String>("", "templateName").unwrap(),
                r.try_get::<DateTime<Utc>>("", "sendAt").unwrap(),
                r.try_get::<Option<Uuid>>("", "meetRecipientId").unwrap(),
                r.try_get::<Option<Uuid>>("", "userRecipientId").unwrap(),
            )
        })
        .collect()
}

/// The confirmations (made straight away, without a queue row), with their send jobs, once the
/// detectors and their jobs have run: `(template, recipient user, status, send job's state)`.
async fn confirmations(app: &TestApp) -> Vec<(String, Option<Uuid>, String, Option<String>)> {
    app.settle().await;
    let rows = sea_orm::ConnectionTrait::query_all_raw(
        &app.db,
        sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT d.template_name, d.recipient_user_id, d.status, j.state AS job
               FROM email_deliveries d
               LEFT JOIN engine_jobs j ON j.kind = 'email.send' AND j.args->>'deliveryId' = d.id::text
              WHERE d.dedupe_key LIKE 'confirmation:%' ORDER BY d.created_at",
        ),
    )
    .await
    .unwrap();
    rows.iter()
        .map(|r| {
            (
                r.try_get("", "template_name").unwrap(),
                r.try_get("", "recipient_user_id").unwrap(),
                r.try_get("", "status").unwrap(),
                r.try_get("", "job").unwrap(),
            )
        })
        .collect()
}

const CREATE: &str = "mutation($input: CreateMeetInput!) { createMeet(input: $input) { id } }";

async fn create_meet(
    app: &TestApp,
    admin: &reqwest::Client,
    kind: &str,
    start: &str,
    end: &str,
    region: &str,
) -> Uuid {
    let body = app
        .gql_with(
            admin,
            CREATE,
            json!({ "input": {
                "meetType": kind, "title": "Spring Jam", "description": "Build a game",
                "instructions": "Have fun", "coverImageUrl": "https://example.com/c.png",
                "startTime": start, "endTime": end, "region": region
            }}),
        )
        .await;
    // Its reminders are queued by `meet.created`, after the change.
    app.settle().await;
    Uuid::parse_str(data(&body)["createMeet"]["id"].as_str().unwrap()).unwrap()
}

#[tokio::test]
async fn creating_meets_queues_their_reminders() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;

    // A workshop: two reminders, addressed to the meet, in the meet's zone.
    let id = create_meet(
        &app,
        &admin,
        "WORKSHOP",
        "2031-06-10T18:00",
        "2031-06-10T20:00",
        "Europe/Paris",
    )
    .await;
    assert_eq!(
        queued(&app).await,
        vec![
            (
                "workshops/reminder-1".into(),
                utc("2031-06-09T16:00:00Z"),
                Some(id),
                None
            ),
            (
                "workshops/reminder-2".into(),
                utc("2031-06-10T15:30:00Z"),
                Some(id),
                None
            ),
        ]
    );
    assert_eq!(
        app.scalar_i64(&format!(
            "SELECT count(*) FROM \"scheduledEmails\" WHERE \"meetId\" = '{id}'"
        ))
        .await,
        2
    );

    // Every meet type, and the hackathon duration edges.
    app.sql("DELETE FROM \"scheduledEmails\"").await;
    for kind in ["WEBINAR", "LECTURE"] {
        create_meet(
            &app,
            &admin,
            kind,
            "2031-06-10T18:00",
            "2031-06-10T19:00",
            "UTC",
        )
        .await;
    }
    let names: Vec<String> = queued(&app).await.into_iter().map(|q| q.0).collect();
    assert_eq!(
        names.iter().filter(|n| n.starts_with("workshops/")).count(),
        4
    );

    let cases = [
        (
            "2031-06-17T12:00",
            vec![
                "reminder-1",
                "reminder-2",
                "submission-reminder-1",
                "submission-reminder-2",
            ],
            "2031-06-17T09:00:00Z",
        ),
        (
            "2031-06-13T12:00",
            vec!["reminder-1", "reminder-2", "submission-reminder-2"],
            "2031-06-13T09:00:00Z",
        ),
        (
            "2031-06-11T12:00",
            vec!["reminder-1", "reminder-2", "submission-reminder-2"],
            "2031-06-11T09:00:00Z",
        ),
        (
            "2031-06-10T20:00",
            vec!["reminder-1", "reminder-2", "submission-reminder-2"],
            "2031-06-10T19:30:00Z",
        ),
    ];
    for (end, expected, last_call) in cases {
        app.sql("DELETE FROM \"scheduledEmails\"").await;
        create_meet(&app, &admin, "HACKATHON", "2031-06-10T12:00", end, "UTC").await;
        let rows = queued(&app).await;
        let mut kinds: Vec<&str> = rows
            .iter()
            .map(|q| q.0.trim_start_matches("hackathons/"))
            .collect();
        kinds.sort();
        let mut expected = expected;
        expected.sort();
        assert_eq!(kinds, expected, "hackathon ending {end}");
        let sr2 = rows
            .iter()
            .find(|q| q.0 == "hackathons/submission-reminder-2")
            .unwrap();
        assert_eq!(sr2.1, utc(last_call), "hackathon ending {end}");
    }

    // Ten hours ahead: too late for the 24-hour reminder.
    app.sql("DELETE FROM \"scheduledEmails\"").await;
    let soon = (Utc::now() + chrono::Duration::hours(10))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    let later = (Utc::now() + chrono::Duration::hours(12))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    create_meet(&app, &admin, "WORKSHOP", &soon, &later, "UTC").await;
    let names: Vec<String> = queued(&app).await.into_iter().map(|q| q.0).collect();
    assert_eq!(names, vec!["workshops/reminder-2"]);
}

#[tokio::test]
async fn reminder_times_follow_the_zone_across_a_dst_change() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    // Toronto springs forward on 2031-03-09. Noon that day is 16:00Z (EDT); 24 h earlier is
    // 16:00Z on the 8th, i.e. 11:00 EST on the wall.
    create_meet(
        &app,
        &admin,
        "WORKSHOP",
        "2031-03-09T12:00",
        "2031-03-09T14:00",
        "America/Toronto",
    )
    .await;
    let rows = queued(&app).await;
    assert_eq!(rows[0].1, utc("2031-03-08T16:00:00Z"));
    assert_eq!(rows[1].1, utc("2031-03-09T15:30:00Z"));
}

#[tokio::test]
async fn switches_turn_reminders_and_confirmations_off() {
    let app = TestApp::spawn_with(&[
        ("DISABLE_NEW_MEET_REMINDERS", "true"),
        ("DISABLE_REGISTRATION_EMAILS", "true"),
    ])
    .await;
    let (_, admin) = app.admin_client().await;
    let (_, user) = app.user_client("u@example.com").await;
    let meet = create_meet(
        &app,
        &admin,
        "HACKATHON",
        "2031-06-10T12:00",
        "2031-06-17T12:00",
        "UTC",
    )
    .await;
    app.register_for_meet(&user, meet).await;
    assert!(queued(&app).await.is_empty());
    assert!(confirmations(&app).await.is_empty());
}

#[tokio::test]
async fn registering_queues_an_immediate_confirmation() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let (user_id, user) = app.user_client("u@example.com").await;
    let meet = create_meet(
        &app,
        &admin,
        "WEBINAR",
        "2031-06-10T12:00",
        "2031-06-10T13:00",
        "UTC",
    )
    .await;
    app.sql("DELETE FROM \"scheduledEmails\"").await;
    app.register_for_meet(&user, meet).await;
    // No queue row: the confirmation is a delivery at once, with the job that sends it.
    assert!(queued(&app).await.is_empty());
    let rows = confirmations(&app).await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].0, "workshops/registration-confirmation");
    assert_eq!(rows[0].1, Some(user_id));
    assert_eq!(
        (rows[0].2.as_str(), rows[0].3.as_deref()),
        ("pending", Some("available"))
    );
    // A refused registration queues nothing.
    app.gql_with(
        &user,
        "mutation($id: UUID!) { registerForMeet(meetId: $id) }",
        json!({ "id": meet }),
    )
    .await;
    assert_eq!(confirmations(&app).await.len(), 1);
}

#[tokio::test]
async fn editing_a_meet_reschedules_pending_reminders_and_deleting_cancels_them() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let meet = create_meet(
        &app,
        &admin,
        "WORKSHOP",
        "2031-06-10T18:00",
        "2031-06-10T20:00",
        "UTC",
    )
    .await;
    let edit =
        "mutation($id: UUID!, $input: EditMeetInput!) { editMeet(id: $id, input: $input) { id } }";

    // A title change leaves the queue alone.
    let before = app
        .scalar_string("SELECT string_agg(id::text, ',' ORDER BY id) FROM \"scheduledEmails\"")
        .await;
    data(
        &app.gql_with(
            &admin,
            edit,
            json!({ "id": meet, "input": { "title": "Renamed meet" } }),
        )
        .await,
    );
    assert_eq!(
        app.scalar_string("SELECT string_agg(id::text, ',' ORDER BY id) FROM \"scheduledEmails\"")
            .await,
        before
    );

    // A new start moves both reminders.
    data(&app.gql_with(&admin, edit, json!({ "id": meet, "input": { "startTime": "2031-07-01T09:00", "endTime": "2031-07-01T11:00" } })).await);
    let rows = queued(&app).await;
    assert_eq!(
        rows.iter().map(|r| r.1).collect::<Vec<_>>(),
        vec![utc("2031-06-30T09:00:00Z"), utc("2031-07-01T08:30:00Z")]
    );

    // Becoming a hackathon switches templates and adds submission reminders.
    data(&app.gql_with(&admin, edit, json!({ "id": meet, "input": { "meetType": "HACKATHON", "endTime": "2031-07-05T09:00" } })).await);
    let names: Vec<String> = queued(&app).await.into_iter().map(|r| r.0).collect();
    assert_eq!(
        names,
        vec![
            "hackathons/reminder-1",
            "hackathons/reminder-2",
            "hackathons/submission-reminder-1",
            "hackathons/submission-reminder-2"
        ]
    );

    // Past ones are not re-sent: reminder 2 already went out; moving the meet 10 minutes ahead
    // must not send it again right away.
    app.sql_values(
        "INSERT INTO email_deliveries (scheduled_email_id, template_name, meet_id, recipient_email, message_id, status)
         VALUES ($1, 'hackathons/reminder-2', $2, 'x@example.com', $3, 'sent')",
        vec![Uuid::new_v4().into(), meet.into(), format!("<{}@t>", Uuid::new_v4()).into()],
    )
    .await;
    let soon = (Utc::now() + chrono::Duration::minutes(10))
        .format("%Y-%m-%dT%H:%M")
        .to_string();
    data(
        &app.gql_with(
            &admin,
            edit,
            json!({ "id": meet, "input": { "startTime": soon, "region": "UTC" } }),
        )
        .await,
    );
    let names: Vec<String> = queued(&app).await.into_iter().map(|r| r.0).collect();
    assert!(!names.iter().any(|n| n.contains("/reminder")), "{names:?}");

    // Deleting cancels everything pending, including deliveries not yet sent.
    app.sql_values(
        "INSERT INTO email_deliveries (scheduled_email_id, template_name, meet_id, recipient_email, message_id)
         VALUES ($1, 'hackathons/reminder-1', $2, 'y@example.com', $3)",
        vec![Uuid::new_v4().into(), meet.into(), format!("<{}@t>", Uuid::new_v4()).into()],
    )
    .await;
    data(
        &app.gql_with(
            &admin,
            "mutation($id: UUID!) { deleteMeet(id: $id) }",
            json!({ "id": meet }),
        )
        .await,
    );
    assert!(queued(&app).await.is_empty());
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM email_deliveries WHERE status = 'cancelled'")
            .await,
        1
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM email_deliveries WHERE status = 'sent'")
            .await,
        1
    );
}

/// A registered user and a due email of `template` for the meet; returns (meet, user).
async fn due_email(app: &TestApp, template: &str, kind: &str, to_meet: bool) -> (Uuid, Uuid) {
    let meet = app
        .create_meet(
            "Spring Jam",
            kind,
            "2031-06-10T12:00:00",
            "2031-06-12T12:00:00",
            "America/Toronto",
        )
        .await;
    let user = app
        .create_user(&format!("{}@example.com", Uuid::new_v4().simple()), false)
        .await;
    app.sql_values(
        r#"INSERT INTO "meetRegistrations" ("userId", "meetId") VALUES ($1, $2)"#,
        vec![user.into(), meet.into()],
    )
    .await;
    let (meet_recipient, user_recipient) = if to_meet {
        (Some(meet), None)
    } else {
        (None, Some(user))
    };
    app.sql_values(
        r#"INSERT INTO "scheduledEmails" ("templateName", "meetRecipientId", "userRecipientId", "meetId", "sendAt") VALUES ($1, $2, $3, $4, now() - interval '1 minute')"#,
        vec![template.into(), meet_recipient.into(), user_recipient.into(), meet.into()],
    )
    .await;
    (meet, user)
}

#[tokio::test]
async fn a_confirmation_arrives_as_text_html_and_a_calendar_invite() {
    let app = TestApp::spawn().await;
    let sink = SmtpSink::start().await;
    let (meet, user) = due_email(
        &app,
        "hackathons/registration-confirmation",
        "HACKATHON",
        false,
    )
    .await;
    let summary = drain(&drainer(&app, &sink.url(), &[]).await).await;
    assert_eq!(
        (
            summary.sent,
            summary.retried,
            summary.failed,
            summary.skipped
        ),
        (1, 0, 0, 0),
        "{summary}"
    );

    let received = sink.messages();
    assert_eq!(received.len(), 1);
    let email = &received[0];
    let address = app
        .scalar_string(&format!("SELECT email FROM users WHERE id = '{user}'"))
        .await;
    assert_eq!(email.to, vec![address.clone()]);
    assert_eq!(email.from, "hello@mintbean.test");
    let stored_id = app
        .scalar_string("SELECT message_id FROM email_deliveries")
        .await;
    assert_eq!(email.message_id(), stored_id);
    assert_eq!(
        app.scalar_string("SELECT status FROM email_deliveries")
            .await,
        "sent"
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM \"scheduledEmails\"")
            .await,
        0
    );

    let message = parsed(email);
    assert_eq!(message.subject(), Some("You're in: Spring Jam"));
    let text = message.body_text(0).unwrap();
    let html = message.body_html(0).unwrap();
    assert!(
        text.contains("Hi Test") && text.contains("Spring Jam"),
        "{text}"
    );
    assert!(
        text.contains("Tuesday, June 10, 2031 at 12:00 PM EDT"),
        "{text}"
    );
    assert!(html.contains("<strong>Spring Jam</strong>"), "{html}");
    assert!(html.contains(&format!("https://mintbean.test/meets/{meet}")));
    let raw = String::from_utf8_lossy(&email.data);
    assert!(
        raw.contains("multipart/mixed") && raw.contains("multipart/alternative"),
        "{raw}"
    );

    // The invite: a one-hour kickoff from the start (12:00 EDT = 16:00Z), stable UID.
    let invite = message
        .attachments()
        .find(|a| a.attachment_name() == Some("invite.ics"))
        .expect("invite.ics");
    assert!(
        invite
            .content_type()
            .unwrap()
            .c_type
            .eq_ignore_ascii_case("text")
    );
    let calendar: icalendar::Calendar = String::from_utf8_lossy(invite.contents())
        .parse()
        .expect("ICS parses");
    let event = calendar.events().next().expect("an event");
    assert_eq!(
        event.get_uid(),
        Some(format!("meet-{meet}@mintbean.test").as_str())
    );
    assert_eq!(event.get_summary(), Some("Spring Jam (kickoff)"));
    let start = event.get_start().unwrap();
    let end = event.get_end().unwrap();
    assert_eq!(ics_utc(start), utc("2031-06-10T16:00:00Z"));
    assert_eq!(ics_utc(end), utc("2031-06-10T17:00:00Z"));
    assert_eq!(
        event.get_url(),
        Some(format!("https://mintbean.test/meets/{meet}").as_str())
    );
}

#[tokio::test]
async fn a_workshop_invite_spans_the_workshop_and_keeps_its_uid_across_edits() {
    let app = TestApp::spawn().await;
    let sink = SmtpSink::start().await;
    let (meet, user) = due_email(
        &app,
        "workshops/registration-confirmation",
        "WORKSHOP",
        false,
    )
    .await;
    let d = drainer(&app, &sink.url(), &[]).await;
    drain(&d).await;
    app.sql_values(r#"UPDATE meets SET title = 'Moved', "updatedAt" = now() + interval '1 hour' WHERE id = $1"#, vec![meet.into()])
        .await;
    app.sql_values(
        r#"INSERT INTO "scheduledEmails" ("templateName", "userRecipientId", "meetId") VALUES ('workshops/registration-confirmation', $1, $2)"#,
        vec![user.into(), meet.into()],
    )
    .await;
    drain(&d).await;
    let events: Vec<(String, u32, DateTime<Utc>)> = sink
        .messages()
        .iter()
        .map(|m| {
            let message = parsed(m);
            let ics = message.attachments().next().unwrap();
            let calendar: icalendar::Calendar =
                String::from_utf8_lossy(ics.contents()).parse().unwrap();
            let event = calendar.events().next().unwrap().clone();
            let end = ics_utc(event.get_end().unwrap());
            (
                event.get_uid().unwrap().to_owned(),
                event.get_sequence().unwrap(),
                end,
            )
        })
        .collect();
    assert_eq!(events.len(), 2);
    assert_eq!(
        events[0].0, events[1].0,
        "same UID, so calendars update the event"
    );
    assert!(events[1].1 > events[0].1, "a later SEQUENCE");
    assert_eq!(
        events[0].2,
        utc("2031-06-12T16:00:00Z"),
        "the workshop's real end"
    );
}

#[tokio::test]
async fn meet_emails_fan_out_and_one_refused_recipient_does_not_affect_the_others() {
    let app = TestApp::spawn().await;
    let (meet, _) = due_email(&app, "hackathons/reminder-1", "HACKATHON", true).await;
    for name in ["second", "refused"] {
        let user = app.create_user(&format!("{name}@example.com"), false).await;
        app.sql_values(
            r#"INSERT INTO "meetRegistrations" ("userId", "meetId") VALUES ($1, $2)"#,
            vec![user.into(), meet.into()],
        )
        .await;
    }
    // An unregistered (deleted) registration gets nothing.
    let gone = app.create_user("gone@example.com", false).await;
    app.sql_values(
        r#"INSERT INTO "meetRegistrations" ("userId", "meetId", deleted) VALUES ($1, $2, true)"#,
        vec![gone.into(), meet.into()],
    )
    .await;
    let sink = SmtpSink::start_with(Duration::ZERO, |m, _| {
        if m.to.iter().any(|t| t == "refused@example.com") {
            Reply::Permanent
        } else {
            Reply::Accept
        }
    })
    .await;
    let d = drainer(&app, &sink.url(), &[]).await;
    let summary = drain(&d).await;
    assert_eq!(
        (summary.sent, summary.failed, summary.retried),
        (2, 1, 0),
        "{summary}"
    );
    let mut recipients: Vec<String> = sink.messages().iter().flat_map(|m| m.to.clone()).collect();
    recipients.sort();
    assert_eq!(recipients.len(), 2);
    assert!(recipients.contains(&"second@example.com".to_owned()));
    let reason = app
        .scalar_string(
            "SELECT last_error FROM email_deliveries WHERE recipient_email = 'refused@example.com'",
        )
        .await;
    assert!(reason.contains("554"), "{reason}");
    // Running again sends nobody anything twice.
    let again = drain(&d).await;
    assert_eq!(again.sent + again.failed, 0, "{again}");
    assert_eq!(sink.count(), 2);
}

#[tokio::test]
async fn temporary_failures_are_retried_with_backoff_until_retries_run_out() {
    let app = TestApp::spawn().await;
    // Fails the first attempt, accepts the second.
    due_email(&app, "workshops/reminder-2", "WORKSHOP", true).await;
    let sink = SmtpSink::start_with(Duration::ZERO, |_, n| {
        if n == 0 {
            Reply::Transient
        } else {
            Reply::Accept
        }
    })
    .await;
    let summary = drain(&drainer(&app, &sink.url(), &[]).await).await;
    assert_eq!(
        (summary.retried, summary.sent, summary.failed),
        (1, 1, 0),
        "{summary}"
    );
    assert_eq!(
        app.scalar_i64("SELECT attempts::bigint FROM email_deliveries")
            .await,
        2
    );
    assert_eq!(
        app.scalar_i64("SELECT retries_left::bigint FROM email_deliveries")
            .await,
        2
    );

    // The backoff pushes the next attempt into the future.
    app.sql("DELETE FROM email_deliveries").await;
    due_email(&app, "workshops/reminder-2", "WORKSHOP", true).await;
    let always_busy = SmtpSink::start_with(Duration::ZERO, |_, _| Reply::Transient).await;
    let slow = drainer(
        &app,
        &always_busy.url(),
        &[("EMAIL_RETRY_BACKOFF_SECS", "60")],
    )
    .await;
    let summary = drain(&slow).await;
    assert_eq!((summary.retried, summary.failed), (1, 0), "{summary}");
    let wait = app
        .scalar_i64("SELECT extract(epoch FROM send_after - now())::bigint FROM email_deliveries WHERE status = 'pending'")
        .await;
    assert!((50..=60).contains(&wait), "next attempt in {wait}s");

    // With no delay, it exhausts its retries (1 attempt + 3 retries) and is kept as failed.
    app.sql("UPDATE engine_jobs SET run_at = now() WHERE kind = 'email.send'")
        .await;
    let summary = drain(&drainer(&app, &always_busy.url(), &[]).await).await;
    assert_eq!(
        (summary.retried, summary.failed, summary.exhausted),
        (2, 1, 1),
        "{summary}"
    );
    let (status, attempts, reason) = (
        app.scalar_string("SELECT status FROM email_deliveries")
            .await,
        app.scalar_i64("SELECT attempts::bigint FROM email_deliveries")
            .await,
        app.scalar_string("SELECT last_error FROM email_deliveries")
            .await,
    );
    assert_eq!((status.as_str(), attempts), ("failed", 4));
    assert!(
        reason.contains("gave up after 4 attempts") && reason.contains("451"),
        "{reason}"
    );
    assert!(
        summary
            .to_string()
            .contains("failed 1 (1 after exhausting retries)"),
        "{summary}"
    );
}

#[tokio::test]
async fn permanent_failures_are_not_retried() {
    let app = TestApp::spawn().await;
    due_email(&app, "workshops/reminder-1", "WORKSHOP", true).await;
    let sink = SmtpSink::start_with(Duration::ZERO, |_, _| Reply::Permanent).await;
    let summary = drain(&drainer(&app, &sink.url(), &[]).await).await;
    assert_eq!(
        (summary.failed, summary.retried, summary.exhausted),
        (1, 0, 0),
        "{summary}"
    );
    assert_eq!(
        app.scalar_i64("SELECT attempts::bigint FROM email_deliveries WHERE status = 'failed'")
            .await,
        1
    );
}

#[tokio::test]
async fn bad_data_fails_with_a_reason_and_never_stops_the_batch() {
    let app = TestApp::spawn().await;
    let sink = SmtpSink::start().await;
    let (good_meet, _) = due_email(&app, "hackathons/reminder-1", "HACKATHON", true).await;
    let (_, _) = due_email(&app, "hackathons/no-such-template", "HACKATHON", true).await;
    let (deleted_meet, _) = due_email(&app, "workshops/reminder-1", "WORKSHOP", true).await;
    app.sql_values(
        "UPDATE meets SET deleted = true WHERE id = $1",
        vec![deleted_meet.into()],
    )
    .await;
    let (_, blank) = due_email(
        &app,
        "workshops/registration-confirmation",
        "WORKSHOP",
        false,
    )
    .await;
    app.sql_values(
        "UPDATE users SET email = '' WHERE id = $1",
        vec![blank.into()],
    )
    .await;
    // A reminder for a meet that is already over is skipped, not sent.
    let over = app
        .create_meet(
            "Old",
            "WORKSHOP",
            "2020-01-01T10:00:00",
            "2020-01-01T12:00:00",
            "UTC",
        )
        .await;
    app.sql_values(
        r#"INSERT INTO "scheduledEmails" ("templateName", "meetRecipientId", "meetId") VALUES ('workshops/reminder-2', $1, $1)"#,
        vec![over.into()],
    )
    .await;

    let summary = drain(&drainer(&app, &sink.url(), &[]).await).await;
    assert_eq!(
        (summary.sent, summary.failed, summary.skipped),
        (1, 3, 1),
        "{summary}"
    );
    assert_eq!(sink.count(), 1);
    let reasons: Vec<String> = sea_orm::ConnectionTrait::query_all_raw(
        &app.db,
        sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, "SELECT last_error FROM email_deliveries WHERE status IN ('failed', 'skipped') ORDER BY last_error"),
    )
    .await
    .unwrap()
    .iter()
    .map(|r| r.try_get::<String>("", "last_error").unwrap())
    .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("unknown template `hackathons/no-such-template`")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("was deleted")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("no email address")),
        "{reasons:?}"
    );
    assert!(
        reasons.iter().any(|r| r.contains("already over")),
        "{reasons:?}"
    );
    let _ = good_meet;
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM \"scheduledEmails\"")
            .await,
        0,
        "every row was processed"
    );
}

#[tokio::test]
async fn an_unreachable_mail_server_stops_the_run_without_losing_emails() {
    let app = TestApp::spawn().await;
    for _ in 0..6 {
        due_email(&app, "workshops/reminder-1", "WORKSHOP", true).await;
    }
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("smtp://{closed}");
    let summary = drain(&drainer(&app, &url, &[("EMAIL_CONCURRENCY", "1")]).await).await;
    assert!(
        summary
            .aborted
            .as_deref()
            .unwrap_or("")
            .contains("unavailable"),
        "{summary}"
    );
    assert_eq!(summary.failed, 0, "{summary}");
    // An outage uses up no retry: every email waits, whole, for the server.
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM email_deliveries WHERE status = 'pending' AND retries_left = 3"
        )
        .await,
        6
    );
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM engine_jobs WHERE kind = 'email.send' AND state = 'available' AND attempt = 0"
        )
        .await,
        6
    );
    // The next run is due when the mail server is tried again.
    app.sql("UPDATE engine_jobs SET run_at = now() WHERE kind = 'email.send'")
        .await;
    // When it is back, everything goes out.
    let sink = SmtpSink::start().await;
    let summary = drain(&drainer(&app, &sink.url(), &[]).await).await;
    assert_eq!(summary.sent, 6, "{summary}");
}

#[tokio::test]
async fn two_drainers_racing_over_500_emails_deliver_each_exactly_once() {
    let app = TestApp::spawn().await;
    let meet = app
        .create_meet(
            "Big",
            "WORKSHOP",
            "2031-06-10T12:00:00",
            "2031-06-10T14:00:00",
            "UTC",
        )
        .await;
    app.sql_values(
        r#"INSERT INTO users (email, "firstName", "lastName", "passwordHash")
           SELECT 'user' || n || '@example.com', 'User', n::text, 'x' FROM generate_series(1, 500) n"#,
        vec![],
    )
    .await;
    app.sql_values(
        r#"INSERT INTO "scheduledEmails" ("templateName", "userRecipientId", "meetId", "sendAt")
           SELECT 'workshops/registration-confirmation', id, $1, now() FROM users"#,
        vec![meet.into()],
    )
    .await;
    let sink = SmtpSink::start().await;
    // Two overlapping cron runs: each keeps draining while work remains.
    let run = |d: TestDrainer| {
        let app = &app;
        async move {
            let mut total = 0;
            loop {
                total += drain(&d).await.sent;
                let left = app
                    .scalar_i64("SELECT (SELECT count(*) FROM \"scheduledEmails\") + (SELECT count(*) FROM email_deliveries WHERE status = 'pending')")
                    .await;
                if left == 0 {
                    return total;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    let (a, b) = (
        drainer(&app, &sink.url(), &[]).await,
        drainer(&app, &sink.url(), &[]).await,
    );
    let (first, second) = tokio::join!(run(a), run(b));
    assert_eq!(first + second, 500, "{first} + {second}");
    assert!(
        first > 0 && second > 0,
        "both drainers sent some: {first} + {second}"
    );
    let mut ids: HashMap<String, usize> = HashMap::new();
    for m in sink.messages() {
        *ids.entry(m.message_id()).or_default() += 1;
    }
    assert_eq!(ids.len(), 500);
    assert!(
        ids.values().all(|n| *n == 1),
        "a message was delivered twice"
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM email_deliveries WHERE status = 'sent'")
            .await,
        500
    );
}

#[tokio::test]
async fn without_smtp_development_writes_eml_files() {
    let app = TestApp::spawn().await;
    due_email(
        &app,
        "workshops/registration-confirmation",
        "LECTURE",
        false,
    )
    .await;
    let outbox = std::env::temp_dir().join(format!("mintbean-outbox-{}", Uuid::new_v4().simple()));
    let mut settings = email_settings("", &[]);
    settings.retain(|(k, _)| *k != "SMTP_URL");
    let outbox_str = outbox.to_string_lossy().to_string();
    settings.push(("EMAIL_OUTBOX_DIR", &outbox_str));
    let config = test_config(&database_url(&app.db_name), &settings);
    let d = TestDrainer::new(
        Drainer::new(app.db.clone(), config.email.clone()).unwrap(),
        app.db.clone(),
        config,
    );
    assert_eq!(drain(&d).await.sent, 1);
    let files: Vec<_> = std::fs::read_dir(&outbox).unwrap().flatten().collect();
    assert_eq!(files.len(), 1);
    let content = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(
        content.contains("Registered: Spring Jam") && content.contains("invite.ics"),
        "{content}"
    );
    let _ = std::fs::remove_dir_all(outbox);
}

const CONTACT: &str = "mutation($input: SendContactFormEmailInput!) {
    sendContactFormEmail(input: $input) { recipient sender statusCode status timestamp meetId errors { message info } }
}";

#[tokio::test]
async fn the_contact_form_is_sanitised_rate_limited_and_delivered() {
    let app = TestApp::spawn_with(&[
        (
            "CONTACT_FORM_RECIPIENT_EMAILS",
            "team@mintbean.test; boss@mintbean.test",
        ),
        ("SENDER_EMAIL", SENDER),
        ("CONTACT_FORM_PER_HOUR", "2"),
    ])
    .await;
    let message = json!({ "input": { "subject": "Sponsorship", "html": "<p onclick=\"steal()\">We'd love to <b>sponsor</b> you<script>alert(1)</script></p>" } });
    let body = app.gql(CONTACT, message.clone()).await;
    let response = &data(&body)["sendContactFormEmail"];
    assert_eq!(response["status"], "SUCCESS");
    assert_eq!(response["statusCode"], 202);
    assert_eq!(
        response["recipient"],
        "team@mintbean.test;boss@mintbean.test"
    );
    assert_eq!(response["sender"], SENDER);
    assert!(response["errors"].is_null());

    // Invalid input is a coded error naming the field.
    for (field, input) in [
        ("subject", json!({ "subject": " ", "html": "<p>x</p>" })),
        (
            "html",
            json!({ "subject": "Hi", "html": "<script>only()</script>" }),
        ),
    ] {
        assert_eq!(
            error_field(&app.gql(CONTACT, json!({ "input": input })).await),
            field
        );
    }

    // The same client is limited; others are not.
    data(&app.gql(CONTACT, message.clone()).await);
    let limited = app.gql(CONTACT, message.clone()).await;
    assert_eq!(data(&limited)["sendContactFormEmail"]["statusCode"], 429);
    assert_eq!(
        data(&limited)["sendContactFormEmail"]["status"],
        "BAD_REQUEST"
    );
    let (_, member) = app.user_client("member@example.com").await;
    let other = app.gql_with(&member, CONTACT, message).await;
    assert_eq!(data(&other)["sendContactFormEmail"]["statusCode"], 202);

    let sink = SmtpSink::start().await;
    let summary = drain(&drainer(&app, &sink.url(), &[]).await).await;
    assert_eq!(summary.sent, 6, "3 messages x 2 recipients: {summary}");
    let messages = sink.messages();
    let first = parsed(&messages[0]);
    assert_eq!(first.subject(), Some("[Contact form] Sponsorship"));
    let html = first.body_html(0).unwrap().to_string();
    assert!(
        html.contains("<b>sponsor</b>") && !html.contains("script") && !html.contains("onclick"),
        "{html}"
    );
    assert!(
        first
            .body_text(0)
            .unwrap()
            .contains("We'd love to sponsor you")
    );
}

#[tokio::test]
async fn the_contact_form_reports_when_it_is_not_configured() {
    let app = TestApp::spawn().await;
    let body = app
        .gql(
            CONTACT,
            json!({ "input": { "subject": "Hi", "html": "<p>Hello</p>" } }),
        )
        .await;
    let response: &Value = &data(&body)["sendContactFormEmail"];
    assert_eq!(response["statusCode"], 503);
    assert_eq!(response["status"], "API_SERVER_ERROR");
}

#[tokio::test]
async fn tls_is_never_silently_skipped() {
    let app = TestApp::spawn().await;
    due_email(&app, "workshops/reminder-1", "WORKSHOP", true).await;
    // The sink speaks plain SMTP only: implicit TLS cannot handshake, and a required STARTTLS is
    // not offered. Both are a connection problem (retried later), never a plaintext send.
    let sink = SmtpSink::start().await;
    for url in [
        format!("smtps://{}", sink.address),
        format!("smtp://{}?tls=required", sink.address),
    ] {
        // Due now (the first try snoozed it for a while).
        app.sql("UPDATE engine_jobs SET run_at = now() WHERE kind = 'email.send'")
            .await;
        let summary = drain(&drainer(&app, &url, &[("EMAIL_CONCURRENCY", "1")]).await).await;
        assert!(summary.aborted.is_some(), "{url}: {summary}");
        assert_eq!((summary.sent, summary.failed), (0, 0), "{url}: {summary}");
    }
    assert_eq!(sink.count(), 0);
    let reason = app
        .scalar_string("SELECT last_error FROM email_deliveries")
        .await;
    assert!(reason.to_lowercase().contains("starttls"), "{reason}");
}

#[tokio::test]
async fn a_panic_while_rendering_fails_that_email_only() {
    let app = TestApp::spawn_with(&[
        (
            "CONTACT_FORM_RECIPIENT_EMAILS",
            "team@mintbean.test; boom@mintbean.test",
        ),
        ("SENDER_EMAIL", SENDER),
    ])
    .await;
    let message = json!({ "input": { "subject": "Hello", "html": "<p>Hi there</p>" } });
    data(&app.gql(CONTACT, message).await);

    // A template whose rendering panics for one recipient.
    let mut templates = mintbean_core::email::templates::Templates::new().unwrap();
    let tera = templates.tera_mut();
    tera.register_function("explode", |_: tera::Kwargs, _: &tera::State| -> String {
        panic!("the template exploded")
    });
    tera.add_raw_template(
        "email/contact-form/body.txt",
        "{% if recipient.email == \"boom@mintbean.test\" %}{{ explode() }}{% endif %}{{ contact.text }}",
    )
    .unwrap();
    let sink = SmtpSink::start().await;
    let config = test_config(
        &database_url(&app.db_name),
        &email_settings(&sink.url(), &[]),
    );
    let pool = mintbean_core::db::connect(&config.database_url, 12)
        .await
        .unwrap();
    let drainer = TestDrainer::new(
        Drainer::with_templates(pool.clone(), config.email.clone(), templates).unwrap(),
        pool,
        config,
    );

    let summary = drain(&drainer).await;
    assert_eq!((summary.sent, summary.failed), (1, 1), "{summary}");
    assert_eq!(sink.messages().len(), 1);
    let reason = app
        .scalar_string(
            "SELECT status || ': ' || last_error FROM email_deliveries \
             WHERE recipient_email = 'boom@mintbean.test'",
        )
        .await;
    assert!(
        reason.starts_with("failed: panicked") && reason.contains("the template exploded"),
        "{reason}"
    );
}

#[tokio::test]
async fn delivery_statuses_match_the_tables_check_constraint() {
    let app = TestApp::spawn().await;
    let definition = app
        .scalar_string(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint \
             WHERE conrelid = 'email_deliveries'::regclass AND contype = 'c' \
               AND pg_get_constraintdef(oid) LIKE '%status%'",
        )
        .await;
    let allowed: Vec<&str> = definition.split('\'').skip(1).step_by(2).collect();
    let statuses: Vec<&str> = mintbean_core::email::delivery::Status::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(allowed, statuses, "{definition}");
}
