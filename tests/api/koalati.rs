//! The Koalati-compatible API: `/tools/request` (all or nothing, dedupe with a priority bump,
//! per-host concurrency keys, concurrent duplicates), the `/status/*` answers against a seeded
//! history, and mock mode.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use axum::{Router, extract::State, routing::get};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, data, eventually, new_client};
use crate::smtp_sink::SmtpSink;
use crate::tasks::{KOALATI_ACCESS, KOALATI_SECRET, koalati_app_settings, koalati_jwt};

struct Koalati<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    jwt: String,
}

impl<'a> Koalati<'a> {
    fn new(app: &'a TestApp) -> Self {
        Koalati {
            app,
            client: new_client(),
            jwt: koalati_jwt(KOALATI_SECRET, KOALATI_ACCESS),
        }
    }

    async fn request(&self, form: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .post(format!("{}/tools/request", self.app.address))
            .bearer_auth(&self.jwt)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned())
            .send()
            .await
            .expect("request");
        (response.status(), response.json().await.expect("JSON"))
    }

    async fn status(&self, path: &str) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.app.address))
            .bearer_auth(&self.jwt)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["success"], true, "{path}: {body}");
        body
    }
}

async fn jobs(app: &TestApp) -> Vec<(String, i64, String)> {
    let rows = app
        .db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT args->>'url' AS url, priority::bigint AS priority, concurrency_key
               FROM engine_jobs WHERE kind = 'link_check' ORDER BY id",
        ))
        .await
        .expect("jobs");
    rows.iter()
        .map(|r| {
            (
                r.try_get("", "url").unwrap(),
                r.try_get("", "priority").unwrap(),
                r.try_get("", "concurrency_key").unwrap(),
            )
        })
        .collect()
}

use sea_orm::ConnectionTrait;

#[tokio::test]
async fn tool_requests_are_all_or_nothing_deduplicated_and_keyed_by_host() {
    let app = TestApp::spawn_with(&koalati_app_settings()).await;
    let koalati = Koalati::new(&app);
    let (status, body) = koalati
        .request(
            "url=https://shop.example/a&url[]=https://blog.example/&tool=link_check&priority=2",
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["success"], true);
    assert_eq!(
        jobs(&app).await,
        [
            ("https://shop.example/a".into(), 2, "shop.example".into()),
            ("https://blog.example/".into(), 2, "blog.example".into()),
        ]
    );
    // A live duplicate is not inserted again; its priority is raised, never lowered.
    let (_, body) = koalati
        .request("url=https://shop.example/a&tool=link_check&priority=5")
        .await;
    assert!(
        body["message"].as_str().unwrap().contains("1 already"),
        "{body}"
    );
    koalati
        .request("url=https://shop.example/a&tool=link_check&priority=1")
        .await;
    assert_eq!(jobs(&app).await[0].1, 5);
    assert_eq!(jobs(&app).await.len(), 2);

    // One bad pair: nothing of the request is stored, and the status says so.
    for (form, field_hint) in [
        (
            "url=https://new.example/&url=notaurl&tool=link_check",
            "http",
        ),
        ("url=https://new.example/&tool=screenshot", "unknown tool"),
        ("tool=link_check", "url"),
    ] {
        let (status, body) = koalati.request(form).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{form}: {body}");
        assert_eq!(body["success"], false);
        assert!(
            body["message"].as_str().unwrap().contains(field_hint),
            "{form}: {body}"
        );
    }
    assert_eq!(jobs(&app).await.len(), 2);

    // Sent ten times at once: one job.
    let at_once = (0..10).map(|_| koalati.request("url=https://burst.example/&tool=link_check"));
    for (status, _) in futures_util::future::join_all(at_once).await {
        assert_eq!(status, StatusCode::OK);
    }
    assert_eq!(jobs(&app).await.len(), 3);

    let stranger = Koalati {
        jwt: koalati_jwt(KOALATI_SECRET, "guess"),
        ..Koalati::new(&app)
    };
    let (status, body) = stranger
        .request("url=https://evil.example/&tool=link_check")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["success"], false);
    assert_eq!(jobs(&app).await.len(), 3);
}

/// Completed `link_check` jobs with the given processing times (ms) at `priority`, each
/// created `wait_ms` before it started.
async fn history(app: &TestApp, priority: i16, durations: &[i64], wait_ms: i64) {
    for (n, ms) in durations.iter().enumerate() {
        app.sql(&format!(
            "WITH job AS (
                 INSERT INTO engine_jobs (kind, queue, args, state, priority, attempt, created_at,
                                          started_at, finished_at)
                 VALUES ('link_check', 'links', jsonb_build_object('url', 'https://old{n}.example/'),
                         'completed', {priority}, 1,
                         now() - interval '1 hour' - make_interval(secs => {wait_ms} / 1000.0),
                         now() - interval '1 hour',
                         now() - interval '1 hour' + make_interval(secs => {ms} / 1000.0))
                 RETURNING id, started_at, finished_at)
             INSERT INTO engine_job_attempts (job_id, attempt, started_at, finished_at, outcome)
             SELECT id, 1, started_at, finished_at, 'completed' FROM job"
        ))
        .await;
    }
}

#[tokio::test]
async fn status_answers_come_from_the_queue_and_recent_history() {
    let app = TestApp::spawn_with(&[
        koalati_app_settings()[0],
        koalati_app_settings()[1],
        ("LINK_CHECK_CONCURRENCY", "2"),
    ])
    .await;
    let koalati = Koalati::new(&app);
    let up = koalati.status("/status/up").await;
    assert_eq!(up["database_up"], true);
    assert!(up["uptime"].as_f64().unwrap() >= 0.0);

    history(
        &app,
        1,
        &[100, 200, 300, 400, 500, 600, 700, 800, 900, 1000],
        1000,
    )
    .await;
    history(&app, 3, &[2000, 4000], 0).await;
    koalati
        .request("url=https://shop.example/a&url=https://shop.example/b&url=https://shop.example/c&url=https://shop.example/d&tool=link_check")
        .await;
    let queue = koalati.status("/status/queue").await;
    assert_eq!(queue["data"]["unassignedRequests"], 4);
    assert_eq!(queue["data"]["pendingRequests"], 0);
    assert!(
        queue["data"]["queues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["queue"] == "links")
    );

    let estimates = koalati.status("/status/time-estimates").await;
    let low = &estimates["data"]["lowPriority"]["link_check"];
    assert_eq!(
        low["processing_time"].as_f64().unwrap().round(),
        550.0,
        "{low}"
    );
    assert_eq!(
        low["processing_time_p90"].as_f64().unwrap().round(),
        910.0,
        "{low}"
    );
    assert_eq!(
        low["completion_time"].as_f64().unwrap().round(),
        1550.0,
        "{low}"
    );
    assert_eq!(low["samples"], 10);
    // Four waiting ahead, two at a time, 550 ms each: two rounds.
    assert_eq!(low["jobs_ahead"], 4);
    assert_eq!(low["effective_concurrency"], 2);
    assert_eq!(
        low["expected_wait"].as_f64().unwrap().round(),
        1100.0,
        "{low}"
    );
    let high = &estimates["data"]["highPriority"]["link_check"];
    assert_eq!(
        high["processing_time"].as_f64().unwrap().round(),
        3000.0,
        "{high}"
    );
    assert_eq!(high["jobs_ahead"], 0, "nothing waits at a higher priority");
    assert_eq!(high["expected_wait"], 0.0);

    // The four pending checks of shop.example over three per-host slots, each taking the kind's
    // p50 over all its recent runs (650 ms, both priorities): 650 + 650.
    let project = koalati
        .status("/status/project?url=https://shop.example")
        .await;
    assert_eq!(project["data"]["pending"], 4);
    assert_eq!(project["data"]["requestCount"], 4);
    let estimate = project["data"]["timeEstimate"].as_f64().unwrap().round();
    assert_eq!(estimate, 1300.0, "{project}");
    let none = koalati
        .status("/status/project?url=https://nothing.example")
        .await;
    assert_eq!(none["data"]["pending"], 0);
    assert_eq!(none["data"]["timeEstimate"], 0.0);
    let response = koalati
        .client
        .get(format!("{}/status/project", app.address))
        .bearer_auth(&koalati.jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Found by schemathesis: a NUL character (PostgreSQL text cannot hold one) was a 500.
    let response = koalati
        .client
        .get(format!("{}/status/project?url=https://a%00b", app.address))
        .bearer_auth(&koalati.jwt)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = koalati
        .request("url=https://a.example/%00&tool=link_check")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn mock_mode_stores_and_answers_for_real_and_runs_every_job_as_an_instant_success() {
    let app = TestApp::spawn_with(&[
        koalati_app_settings()[0],
        koalati_app_settings()[1],
        ("MOCK_MODE", "true"),
    ])
    .await;
    let koalati = Koalati::new(&app);
    let (status, _) = koalati.request("url=notaurl&tool=link_check").await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation is kept"
    );
    // A host that does not exist: a real check would report it unreachable.
    koalati
        .request("url=https://unreachable.invalid/&tool=link_check")
        .await;
    assert_eq!(
        koalati.status("/status/queue").await["data"]["unassignedRequests"],
        1
    );
    let _worker = app.run_worker();
    for _ in 0..100 {
        let state = app
            .scalar_string("SELECT state || ' ' || coalesce(result::text, '') FROM engine_jobs WHERE kind = 'link_check'")
            .await;
        if state.starts_with("completed") {
            assert_eq!(state, r#"completed {"mock": true}"#);
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the mocked job did not complete");
}

#[tokio::test]
async fn a_queue_paused_until_resumed_shows_everywhere() {
    let app = TestApp::spawn_with(&koalati_app_settings()).await;
    let (_, admin) = app.admin_client().await;
    // What `jobs pause links` (no --for) and the dashboard's "until resumed" store.
    app.sql(
        "INSERT INTO engine_queues (name, paused_until) VALUES ('links', 'infinity')
             ON CONFLICT (name) DO UPDATE SET paused_until = 'infinity'",
    )
    .await;
    let koalati = Koalati::new(&app);
    let queue = koalati.status("/status/queue").await;
    assert!(queue["data"].is_object(), "{queue}");
    let body = app
        .gql_with(&admin, "{ queues { name paused pausedUntil } }", json!({}))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let links = data(&body)["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["name"] == "links")
        .cloned()
        .expect("the links queue");
    assert_eq!(links["paused"], true, "{links}");
    assert!(links["pausedUntil"].is_null(), "until resumed: {links}");
    let stats = crate::jobs::jobs(&app, "smtp://127.0.0.1:1", &["stats"])
        .output()
        .await
        .unwrap();
    assert!(stats.status.success(), "{stats:?}");
    assert!(
        String::from_utf8_lossy(&stats.stdout).contains("until resumed"),
        "{}",
        String::from_utf8_lossy(&stats.stdout)
    );
}

#[tokio::test]
async fn an_invalid_priority_means_1_and_other_fields_are_ignored() {
    let app = TestApp::spawn_with(&koalati_app_settings()).await;
    let koalati = Koalati::new(&app);
    for (form, url) in [
        (
            "url=https://a.example/&tool=link_check&priority=high",
            "https://a.example/",
        ),
        (
            "url=https://b.example/&tool=link_check&priority=-3",
            "https://b.example/",
        ),
        (
            "url=https://c.example/&tool=link_check&callback=https://me.example/hook",
            "https://c.example/",
        ),
    ] {
        let (status, body) = koalati.request(form).await;
        assert_eq!(status, StatusCode::OK, "{form}: {body}");
        assert_eq!(body["success"], true, "{form}: {body}");
        let stored = jobs(&app)
            .await
            .into_iter()
            .find(|(u, _, _)| u == url)
            .unwrap_or_else(|| panic!("{url} stored"));
        assert_eq!(stored.1, 1, "{form}");
    }
}

/// When each `/page/{n}` request began and ended, as the target host saw it.
#[derive(Clone, Default)]
struct Visits(Arc<Mutex<Vec<(Instant, Instant)>>>);

/// A host whose pages take 0.4 s each.
async fn slow_host() -> (String, Visits) {
    let visits = Visits::default();
    let router = Router::new()
        .route(
            "/page/{n}",
            get(|State(visits): State<Visits>| async move {
                let began = Instant::now();
                tokio::time::sleep(Duration::from_millis(400)).await;
                visits.0.lock().unwrap().push((began, Instant::now()));
                "page"
            }),
        )
        .with_state(visits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (address, visits)
}

/// The shipped worker, as an operator starts it, with the link checker allowed onto loopback.
fn link_worker(app: &TestApp, sink: &SmtpSink, env: &[(&str, &str)]) -> tokio::process::Child {
    let mut worker = crate::jobs::jobs(app, &sink.url(), &["worker"]);
    worker
        .env("LINK_CHECK_ALLOW_HOSTS", "127.0.0.1")
        .env_remove("JOBS_LEASE_SECS")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for (name, value) in env {
        worker.env(name, value);
    }
    worker.spawn().expect("start jobs worker")
}

/// Sends 30 checks of one slow host and returns (span, average concurrency, most at once), as
/// the host saw them.
async fn thirty_checks(
    koalati: &Koalati<'_>,
    host: &str,
    visits: &Visits,
    round: usize,
) -> (Duration, f64, usize) {
    visits.0.lock().unwrap().clear();
    let form: Vec<String> = (0..30)
        .map(|n| format!("url[]={host}/page/{}", round * 100 + n))
        .collect();
    let (status, body) = koalati
        .request(&format!("{}&tool=link_check", form.join("&")))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let visited = eventually(Duration::from_secs(30), "30 checks done", || async {
        let done = visits.0.lock().unwrap().clone();
        (done.len() == 30).then_some(done)
    })
    .await;
    let first = visited.iter().map(|v| v.0).min().unwrap();
    let last = visited.iter().map(|v| v.1).max().unwrap();
    let span = last - first;
    let busy: Duration = visited.iter().map(|(began, ended)| *ended - *began).sum();
    let most = visited
        .iter()
        .map(|(began, _)| {
            visited
                .iter()
                .filter(|(b, e)| b <= began && began < e)
                .count()
        })
        .max()
        .unwrap();
    (span, busy.as_secs_f64() / span.as_secs_f64(), most)
}

#[tokio::test]
async fn a_hosts_three_slots_are_refilled_as_soon_as_a_check_finishes() {
    let app = TestApp::spawn_with(&koalati_app_settings()).await;
    let sink = SmtpSink::start().await;
    let (host, visits) = slow_host().await;
    let koalati = Koalati::new(&app);
    // Shipped settings: 16 link slots, 3 per host, poll every second.
    let _worker = link_worker(&app, &sink, &[("LINK_CHECK_CONCURRENCY", "16")]);
    // A timing on a shared 2-core machine: under the whole suite's load one round can lose a
    // few tens of milliseconds per refill, so the better of two rounds is judged. Refills at
    // the next poll (the fault this guards) take 9–10 s, in every round.
    let mut rounds = Vec::new();
    for round in 0..2 {
        let (span, average, most) = thirty_checks(&koalati, &host, &visits, round).await;
        assert!(most <= 3, "never more than the cap: {most}");
        rounds.push((span, average));
        if span <= Duration::from_millis(4600) && average >= 2.7 {
            return;
        }
    }
    panic!(
        "30 checks of 0.4 s, 3 at a time: ideal 4.0 s; (span, average concurrency) per round: {rounds:?}"
    );
}

#[tokio::test]
async fn free_requests_are_served_between_premium_ones_by_default() {
    let app = TestApp::spawn_with(&koalati_app_settings()).await;
    let sink = SmtpSink::start().await;
    let koalati = Koalati::new(&app);
    for batch in 0..3 {
        let form: Vec<String> = (0..100)
            .map(|n| format!("url[]=https://premium{n}.example/{batch}"))
            .collect();
        koalati
            .request(&format!("{}&tool=link_check&priority=2", form.join("&")))
            .await;
    }
    let form: Vec<String> = (0..30)
        .map(|n| format!("url[]=https://free{n}.example/"))
        .collect();
    koalati
        .request(&format!("{}&tool=link_check&priority=1", form.join("&")))
        .await;
    // One slot, checks mocked: the order of starts is the order of claims.
    let _worker = link_worker(
        &app,
        &sink,
        &[("LINK_CHECK_CONCURRENCY", "1"), ("MOCK_MODE", "true")],
    );
    eventually(Duration::from_secs(60), "330 checks done", || async {
        let done = app
            .scalar_i64("SELECT count(*) FROM engine_jobs WHERE kind = 'link_check' AND state = 'completed'")
            .await;
        (done == 330).then_some(())
    })
    .await;
    let order = app
        .scalar_string(
            "SELECT string_agg(CASE WHEN priority = 1 THEN 'l' ELSE 'H' END, '' ORDER BY started_at, id)
               FROM engine_jobs WHERE kind = 'link_check'",
        )
        .await;
    // JOBS_FAIR_EVERY (default 5): a free request after every five premium ones.
    assert!(
        order.starts_with(&"HHHHHl".repeat(30)),
        "the free requests waited: {order}"
    );
}

#[tokio::test]
async fn every_error_on_a_koalati_path_is_in_koalatis_shape() {
    let app = TestApp::spawn_with(&koalati_app_settings()).await;
    let client = new_client();
    let checks = [
        (
            client.post(format!("{}/status/queue", app.address)),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            client.get(format!("{}/status/nothing", app.address)),
            StatusCode::NOT_FOUND,
        ),
        (
            client.get(format!("{}/tools/request", app.address)),
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            client.get(format!("{}/status/queue", app.address)),
            StatusCode::UNAUTHORIZED,
        ),
    ];
    for (request, status) in checks {
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), status);
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/json")
        );
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["success"], false, "{status}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{body}"
        );
        assert!(body.get("errors").is_none(), "{body}");
    }
}
