//! The operations dashboard at `/admin`, in a real (headless) Chromium, with a `jobs worker`
//! child process doing the work. Screenshots of each step go to `target/e2e/`.

use std::{path::PathBuf, process::Stdio, time::Duration};

use axum::{Router, extract::Query, routing::get};
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;
use crate::jobs::jobs;
use crate::smtp_sink::SmtpSink;
use crate::webdriver::Browser;

const WAIT: Duration = Duration::from_secs(30);

fn shot(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/e2e")
        .join(format!("{name}.png"))
}

/// A site whose pages answer after `?ms=` milliseconds (links that take time to check).
async fn slow_site() -> String {
    #[derive(serde::Deserialize)]
    struct Delay {
        ms: u64,
    }
    let router = Router::new().route(
        "/slow",
        get(|Query(delay): Query<Delay>| async move {
            tokio::time::sleep(Duration::from_millis(delay.ms)).await;
            "fine"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

/// The seeded database, reduced to what this test watches: three projects whose links take
/// 600 ms each to check, and no jobs left over from seeding.
async fn fixtures(app: &TestApp, site: &str) {
    app.seed().await;
    app.sql_quietly(r#"UPDATE projects SET deleted = true"#, vec![])
        .await;
    for n in 1..=3 {
        app.sql_quietly(
            r#"INSERT INTO projects ("userId", title, "sourceCodeUrl", "liveUrl")
               SELECT id, $1, $2, $3 FROM users WHERE email = 'grace@mintbean.dev'"#,
            vec![
                format!("Slow project {n}").into(),
                format!("{site}/slow?ms=600&p={n}&l=source").into(),
                format!("{site}/slow?ms=600&p={n}&l=live").into(),
            ],
        )
        .await;
    }
    app.sql("DELETE FROM engine_jobs").await;
    app.sql("DELETE FROM engine_events").await;
}

async fn log_in(browser: &Browser, app: &TestApp, email: &str, password: &str) {
    browser.goto(&format!("{}/admin", app.address)).await;
    browser.fill("#login-form input[name=email]", email).await;
    browser
        .fill("#login-form input[name=password]", password)
        .await;
    browser.click("#login-form button[type=submit]").await;
}

/// Enqueues `kind` with `args` from the overview's form; returns the new job's id.
async fn enqueue(browser: &Browser, app: &TestApp, kind: &str, args: &str) -> String {
    browser.goto(&format!("{}/admin#/", app.address)).await;
    browser.find("#enqueue select[name=kind]", WAIT).await;
    browser.select("#enqueue select[name=kind]", kind).await;
    browser.fill("#enqueue textarea[name=args]", args).await;
    browser.click("#enqueue button[type=submit]").await;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let url = browser.current_url().await;
        if let Some(id) = url.split("#/jobs/").nth(1) {
            return id.to_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not on a job page: {url}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn progress(browser: &Browser) -> Option<f64> {
    browser
        .eval(
            "const p = document.querySelector('#job-progress [role=progressbar]');
             return p && p.getAttribute('aria-valuenow') !== null ? Number(p.getAttribute('aria-valuenow')) : null",
            vec![],
        )
        .await
        .as_f64()
}

#[tokio::test]
async fn the_dashboard_in_a_real_browser() {
    let app = TestApp::spawn().await;
    let site = slow_site().await;
    fixtures(&app, &site).await;
    let sink = SmtpSink::start().await;
    let mut worker = jobs(&app, &sink.url(), &["worker"])
        .env("LINK_CHECK_ALLOW_HOSTS", "127.0.0.1")
        .env("LINK_CHECK_CONCURRENCY", "1")
        .env("JOBS_LEASE_SECS", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start jobs worker");
    let browser = Browser::start(1280, 900).await;

    // Not an admin: the login form again, and the API refuses the data.
    browser.goto(&format!("{}/admin", app.address)).await;
    browser.find("#login-form", WAIT).await;
    browser.screenshot(&shot("01-login")).await;
    log_in(&browser, &app, "grace@mintbean.dev", "password123").await;
    browser
        .wait_for_text("#login-message", "not an admin", WAIT)
        .await;
    let refused = browser
        .eval(
            "return fetch('/graphql', { method: 'POST', headers: { 'content-type': 'application/json' },
               body: JSON.stringify({ query: '{ queues { name } }' }) }).then(r => r.json())",
            vec![],
        )
        .await;
    assert_eq!(
        refused["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{refused}"
    );
    browser.screenshot(&shot("02-not-an-admin")).await;

    // The seeded admin sees the queues.
    log_in(&browser, &app, "admin@mintbean.dev", "mintbean-admin").await;
    browser.wait_for_text("#queues", "email", WAIT).await;
    browser.screenshot(&shot("03-overview")).await;
    // The overview refreshes every 5 s; what the admin is typing or choosing stays.
    browser
        .fill("#enqueue textarea[name=args]", r#"{"typing": true}"#)
        .await;
    browser.select("select[data-for=email]", "3600").await;
    // A refresh replaces the queue rows: the mark is gone once one has happened.
    browser
        .eval(
            "document.querySelector('tr[data-queue=email]').dataset.mark = 'old'",
            vec![],
        )
        .await;
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    let after = browser
        .eval(
            "return [document.querySelector('tr[data-queue=email]').dataset.mark || 'refreshed',
                     document.querySelector('#enqueue textarea[name=args]').value,
                     document.querySelector('select[data-for=email]').value]",
            vec![],
        )
        .await;
    assert_eq!(after, json!(["refreshed", r#"{"typing": true}"#, "3600"]));

    // A job enqueued from the page, its progress bar moving as the worker runs it.
    let recheck = enqueue(&browser, &app, "project.recheck_links", "{}").await;
    let mut seen = Vec::new();
    let deadline = std::time::Instant::now() + WAIT;
    while !browser.text("#job-state").await.contains("completed") {
        if let Some(p) = progress(&browser).await
            && seen.last() != Some(&p)
        {
            seen.push(p);
            if seen.len() == 2 {
                browser.screenshot(&shot("04-progress")).await;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "recheck never completed: {seen:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        seen.iter().any(|p| *p > 0.0 && *p < 100.0),
        "the bar never stood between 0 and 100: {seen:?}"
    );
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    browser.wait_for_text("#job-progress", "6 / 6", WAIT).await;
    browser.screenshot(&shot("05-completed")).await;
    assert_eq!(
        app.scalar_string(&format!(
            "SELECT state FROM engine_jobs WHERE id = {recheck}"
        ))
        .await,
        "completed"
    );

    // Cancel a running job: a link check of a page that takes 20 s.
    let slow = enqueue(
        &browser,
        &app,
        "link_check",
        &json!({ "url": format!("{site}/slow?ms=20000") }).to_string(),
    )
    .await;
    browser.wait_for_text("#job-state", "running", WAIT).await;
    browser.click("#cancel").await;
    browser.wait_for_text("#job-state", "cancelled", WAIT).await;
    browser.screenshot(&shot("06-cancelled")).await;
    assert_eq!(
        app.scalar_string(&format!("SELECT state FROM engine_jobs WHERE id = {slow}"))
            .await,
        "cancelled"
    );

    // Retry a failed one: a badge email about a project that does not exist fails for good.
    let args = json!({ "projectId": uuid::Uuid::new_v4(), "badgeId": uuid::Uuid::new_v4() });
    let failing = enqueue(&browser, &app, "email.badge_awarded", &args.to_string()).await;
    browser.wait_for_text("#job-state", "discarded", WAIT).await;
    browser.click("#retry").await;
    browser
        .wait_for_text("#attempts tbody tr:nth-child(2)", "discarded", WAIT)
        .await;
    browser.wait_for_text("#job-state", "discarded", WAIT).await;
    browser.screenshot(&shot("07-retried")).await;
    assert_eq!(
        app.scalar_i64(&format!(
            "SELECT attempt::bigint FROM engine_jobs WHERE id = {failing}"
        ))
        .await,
        2
    );

    // Pause a queue for five minutes, then resume it.
    browser.goto(&format!("{}/admin#/", app.address)).await;
    browser.find("button[data-pause=default]", WAIT).await;
    browser.select("select[data-for=default]", "300").await;
    browser.click("button[data-pause=default]").await;
    browser
        .wait_for_text("tr[data-queue=default]", "paused", WAIT)
        .await;
    browser.screenshot(&shot("08-paused")).await;
    assert!(
        app.scalar_i64("SELECT count(*) FROM engine_queues WHERE name = 'default' AND paused_until > now() + interval '4 minutes'")
            .await
            == 1
    );
    browser.click("button[data-resume=default]").await;
    browser.find("button[data-pause=default]", WAIT).await;
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM engine_queues WHERE name = 'default' AND paused_until > now()"
        )
        .await,
        0
    );

    // The other sections render with what this run produced.
    browser
        .goto(&format!("{}/admin#/jobs?state=cancelled", app.address))
        .await;
    browser.wait_for_text("#jobs", "link_check", WAIT).await;
    browser
        .goto(&format!("{}/admin#/schedules", app.address))
        .await;
    browser.wait_for_text("#view", "email.drain", WAIT).await;
    browser
        .goto(&format!("{}/admin#/events", app.address))
        .await;
    browser.find("#events", WAIT).await;
    browser.goto(&format!("{}/admin#/email", app.address)).await;
    browser
        .wait_for_text("#view", "Latest failures", WAIT)
        .await;

    // A phone-sized window still shows the job page.
    let phone = Browser::start(390, 800).await;
    log_in(&phone, &app, "admin@mintbean.dev", "mintbean-admin").await;
    phone.find("#queues", WAIT).await;
    phone
        .goto(&format!("{}/admin#/jobs/{recheck}", app.address))
        .await;
    phone.wait_for_text("#job-state", "completed", WAIT).await;
    phone.screenshot(&shot("09-phone")).await;
    phone.close().await;

    browser.close().await;
    let _ = worker.start_kill();
    let _ = worker.wait().await;

    // Every asset is ours: nothing on the page comes from elsewhere.
    let page = reqwest::get(format!("{}/admin", app.address))
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
}

/// What the dashboard reads and does, over GraphQL: filters by key and error text, activity,
/// job kinds, events with their detections, email status and retries, webhook redelivery.
#[tokio::test]
async fn the_dashboards_graphql_surface() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let gql = async |query: &str, variables: serde_json::Value| {
        let body = app.gql_with(&admin, query, variables).await;
        assert!(body["errors"].is_null(), "{query}: {body}");
        body["data"].clone()
    };
    // A discarded job with an error, and a finished attempt for the activity chart.
    let failing = json!({ "projectId": uuid::Uuid::new_v4(), "badgeId": uuid::Uuid::new_v4() });
    let enqueued = gql(
        "mutation($a: JSON) { enqueueJob(kind: \"email.badge_awarded\", args: $a) { id } }",
        json!({ "a": failing }),
    )
    .await;
    let job_id = enqueued["enqueueJob"]["id"].as_str().unwrap().to_owned();
    app.settle().await;
    let found = gql(
        "query($f: JobFilter) { jobs(filter: $f) { totalCount nodes { id state } } }",
        json!({ "f": { "errorContains": "DOES NOT EXIST", "state": ["discarded"] } }),
    )
    .await;
    assert_eq!(found["jobs"]["nodes"][0]["id"], job_id, "{found}");
    let none = gql(
        "query($f: JobFilter) { jobs(filter: $f) { totalCount } }",
        json!({ "f": { "errorContains": "100%_" } }),
    )
    .await;
    assert_eq!(none["jobs"]["totalCount"], 0);
    app.sql(&format!(
        "UPDATE engine_jobs SET concurrency_key = 'host-a' WHERE id = {job_id}"
    ))
    .await;
    let keyed = gql(
        "query($f: JobFilter) { jobs(filter: $f) { totalCount } }",
        json!({ "f": { "key": "host-a" } }),
    )
    .await;
    assert_eq!(keyed["jobs"]["totalCount"], 1);
    let activity = gql(
        "{ queueActivity(minutes: 60) { queue completed failed } jobKinds }",
        json!({}),
    )
    .await;
    let default = activity["queueActivity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["queue"] == "default")
        .cloned()
        .unwrap_or_default();
    assert!(default["failed"].as_i64().unwrap_or(0) >= 1, "{activity}");
    let kinds: Vec<&str> = activity["jobKinds"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|k| k.as_str())
        .collect();
    assert!(
        kinds.contains(&"project.recheck_links") && kinds.contains(&"engine.detect"),
        "{kinds:?}"
    );

    // Events, newest first, with what was detected, and one event's envelope.
    let meet = app
        .create_workshop(&admin, "2031-06-10T18:00", "2031-06-10T20:00")
        .await;
    app.settle().await;
    let events = gql(
        "{ events(first: 5) { id table op state detections { name jobs { name kind state } } errors { detector } } }",
        json!({}),
    )
    .await;
    let created = &events["events"][0];
    assert_eq!(created["table"], "meets", "{events}");
    assert_eq!(created["detections"][0]["name"], "meet.created");
    assert_eq!(created["detections"][0]["jobs"][0]["state"], "completed");
    let one = gql(
        "query($id: UUID!) { event(id: $id) { op envelope } }",
        json!({ "id": created["id"] }),
    )
    .await;
    assert_eq!(one["event"]["envelope"]["event"]["data"]["new"]["id"], meet);

    // Email: counts, failures, retry.
    app.sql(
        "INSERT INTO email_deliveries (template_name, recipient_email, message_id, status, last_error)
         VALUES ('notifications/welcome', 'x@example.com', '<1@t>', 'failed', 'mailbox full')",
    )
    .await;
    let status = gql(
        "{ emailStatus { queued deliveries { status count } latestFailures { recipient error } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        status["emailStatus"]["latestFailures"][0]["error"],
        "mailbox full"
    );
    let retried = gql("mutation { retryFailedEmails }", json!({})).await;
    assert_eq!(retried["retryFailedEmails"], 1);

    // Webhooks: a delivered one is copied, a failed one retried, a waiting one refused.
    app.sql(
        "INSERT INTO engine_jobs (id, kind, queue, args, state, finished_at, group_key)
         VALUES (9001, 'engine.webhook', 'webhooks', '{\"endpoint\": \"00000000-0000-0000-0000-000000000000\"}', 'completed', now(), 'webhook:x'),
                (9002, 'engine.webhook', 'webhooks', '{}', 'failed', now(), 'webhook:x'),
                (9003, 'engine.webhook', 'webhooks', '{}', 'available', NULL, 'webhook:x')",
    )
    .await;
    let copied = gql(
        "mutation { redeliverWebhook(jobId: \"9001\") { id state args groupKey } }",
        json!({}),
    )
    .await;
    assert_ne!(copied["redeliverWebhook"]["id"], "9001");
    assert_eq!(copied["redeliverWebhook"]["state"], "available");
    assert_eq!(copied["redeliverWebhook"]["groupKey"], "webhook:x");
    let again = gql(
        "mutation { redeliverWebhook(jobId: \"9002\") { id state } }",
        json!({}),
    )
    .await;
    assert_eq!(
        again["redeliverWebhook"],
        json!({ "id": "9002", "state": "available" })
    );
    let waiting = app
        .gql_with(
            &admin,
            "mutation { redeliverWebhook(jobId: \"9003\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(
        crate::helpers::error_code(&waiting),
        "CONFLICT",
        "{waiting}"
    );
    let not_webhook = app
        .gql_with(
            &admin,
            &format!("mutation {{ redeliverWebhook(jobId: \"{job_id}\") {{ id }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(crate::helpers::error_code(&not_webhook), "NOT_FOUND");
}

/// `GET /graphql` in a browser that can reach nothing but this machine: GraphiQL still renders
/// (its files are ours), and a query typed into it runs.
#[tokio::test]
async fn graphiql_renders_offline() {
    let app = TestApp::spawn().await;
    // Every host name but localhost fails to resolve: no CDN could be reached.
    let browser = Browser::start_with(
        1280,
        800,
        &["--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"],
    )
    .await;
    browser.goto(&format!("{}/graphql", app.address)).await;
    browser.find(".graphiql-container", WAIT).await;
    browser
        .find(".graphiql-query-editor .CodeMirror", WAIT)
        .await;
    let foreign = browser
        .eval(
            "return performance.getEntriesByType('resource').map(e => e.name)
                 .filter(url => !url.startsWith(location.origin))",
            vec![],
        )
        .await;
    assert_eq!(foreign, json!([]), "the page asked for files elsewhere");
    // Type a query and run it.
    browser
        .eval(
            "document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror
                 .setValue('{ meets { id } }')",
            vec![],
        )
        .await;
    browser.click(".graphiql-execute-button").await;
    browser
        .wait_for_text(".graphiql-response", "\"meets\"", WAIT)
        .await;
    browser.screenshot(&shot("10-graphiql-offline")).await;
    browser.close().await;
}
