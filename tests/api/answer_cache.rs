//! The answer cache (`http::answer_cache`): anonymous answers from memory, never stale after a
//! write, whichever process made it.

use std::{process::Stdio, time::Duration};

use reqwest::Client;
use serde_json::{Value, json};
use tokio::process::{Child, Command};
use uuid::Uuid;

use crate::helpers::{JWT_SECRET, StoppedBackend, TestApp, data, database_url, listener_pid};

const MEETS: &str = "{ meets { id title registerLinkStatus } }";

/// A `mintbean serve` process on the test's database with the cache on.
pub async fn server_process(app: &TestApp) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(env!("CARGO_BIN_EXE_mintbean"))
        .arg("serve")
        .env("DATABASE_URL", database_url(&app.db_name))
        .env("JWT_SECRET", JWT_SECRET)
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("APP_ENV", "test")
        .env("ANSWER_CACHE", "true")
        .env("RUST_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/graphql");
    wait_until_caching(&url).await;
    (child, url)
}

/// An anonymous POST: the answer, and whether it came from the cache.
async fn anonymous(url: &str, query: &str) -> (Value, bool) {
    let response = Client::new()
        .post(url)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    let hit = response.headers().get("x-answer-cache").is_some();
    (response.json().await.unwrap(), hit)
}

/// The listener connects after start-up; until then nothing is kept.
async fn wait_until_caching(url: &str) {
    for _ in 0..100 {
        if let Ok(response) = Client::new()
            .post(url)
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            && response.headers().get("x-answer-cache").is_some()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} never answered from its cache");
}

fn titles(body: &Value) -> Vec<String> {
    data(body)["meets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|meet| meet["title"].as_str().unwrap().to_owned())
        .collect()
}

/// Reads `url` until it shows `title` (a write through another process is seen once its
/// notification arrives); after that it must never show anything else.
async fn until_shown(url: &str, title: &str) -> Duration {
    let started = std::time::Instant::now();
    loop {
        let (body, _) = anonymous(url, MEETS).await;
        if titles(&body) == [title] {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{url} still shows {:?}, not {title}",
            titles(&body)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let seen_after = started.elapsed();
    for _ in 0..3 {
        assert_eq!(titles(&anonymous(url, MEETS).await.0), [title]);
    }
    seen_after
}

async fn edit_title(admin: &Client, url: &str, meet: Uuid, title: &str) {
    let body: Value = admin
        .post(url)
        .json(&json!({
            "query": "mutation ($id: UUID!, $title: String!) { editMeet(id: $id, input: { title: $title }) { id } }",
            "variables": { "id": meet, "title": title },
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    data(&body);
}

#[tokio::test]
async fn writes_through_one_server_process_empty_the_other_ones_cache() {
    let app = TestApp::spawn().await;
    app.create_user("admin@example.com", true).await;
    let meet = app
        .create_meet(
            "v0",
            "HACKATHON",
            "2031-01-01T10:00:00",
            "2031-01-02T10:00:00",
            "UTC",
        )
        .await;
    let admin = app.login("admin@example.com").await;
    let ((_a, a), (_b, b)) = tokio::join!(server_process(&app), server_process(&app));

    let mut slowest = Duration::ZERO;
    for round in 1..=5 {
        let previous = format!("v{}", round - 1);
        // Both processes keep the current answer.
        for url in [&a, &b] {
            anonymous(url, MEETS).await;
            let (body, hit) = anonymous(url, MEETS).await;
            assert!(hit, "round {round}: {url} did not keep the answer");
            assert_eq!(titles(&body), [previous.as_str()]);
        }
        let title = format!("v{round}");
        // A write through B: B itself answers fresh at once (it empties its cache before it
        // answers the mutation) ...
        edit_title(&admin, &b, meet, &title).await;
        let (body, hit) = anonymous(&b, MEETS).await;
        assert!(!hit);
        assert_eq!(titles(&body), [title.as_str()]);
        // ... and A once the notification arrives.
        slowest = slowest.max(until_shown(&a, &title).await);
    }
    // A write from a third process (SQL, as the Node backend or psql would make it).
    app.sql(r#"UPDATE meets SET title = 'from sql'"#).await;
    slowest = slowest.max(until_shown(&a, "from sql").await);
    slowest = slowest.max(until_shown(&b, "from sql").await);
    assert!(slowest < Duration::from_millis(500), "{slowest:?}");
}

#[tokio::test]
async fn a_job_queued_by_the_jobs_binary_shows_on_a_cached_project() {
    let app = TestApp::spawn().await;
    let user = app.create_user("owner@example.com", false).await;
    let project = Uuid::new_v4();
    app.sql_values(
        r#"INSERT INTO projects (id, "userId", title, "sourceCodeUrl", "liveUrl") VALUES ($1, $2, 'P', 'https://a.example', 'https://b.example')"#,
        vec![project.into(), user.into()],
    )
    .await;
    let (_server, url) = server_process(&app).await;
    let query = format!(r#"{{ project(id: "{project}") {{ linkCheck {{ live {{ state }} }} }} }}"#);
    anonymous(&url, &query).await;
    let (body, hit) = anonymous(&url, &query).await;
    assert!(hit);
    assert_eq!(data(&body)["project"]["linkCheck"], Value::Null);

    let args = json!({ "projectId": project, "link": "live", "url": "https://b.example/" });
    let output = Command::new(env!("CARGO_BIN_EXE_jobs"))
        .args(["enqueue", "project.link_check", "--run-at", "1h", "--args"])
        .arg(args.to_string())
        .env("DATABASE_URL", database_url(&app.db_name))
        .env("APP_ENV", "test")
        .env("RUST_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .output()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    for attempt in 0.. {
        let (body, _) = anonymous(&url, &query).await;
        if data(&body)["project"]["linkCheck"]["live"]["state"] == "QUEUED" {
            break;
        }
        assert!(attempt < 500, "the queued check never showed: {body}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

#[tokio::test]
async fn answers_that_depend_on_the_clock_expire_when_it_changes_them() {
    let app = TestApp::spawn_with(&[("ANSWER_CACHE", "true")]).await;
    let url = format!("{}/graphql", app.address);
    // Starts in two seconds (wall clock in UTC, to the second).
    let start = chrono::Utc::now() + chrono::Duration::seconds(2);
    let wall = |at: chrono::DateTime<chrono::Utc>| at.format("%Y-%m-%dT%H:%M:%S").to_string();
    app.create_meet(
        "soon",
        "WORKSHOP",
        &wall(start),
        &wall(start + chrono::Duration::hours(1)),
        "UTC",
    )
    .await;
    wait_until_caching(&url).await;
    anonymous(&url, MEETS).await;
    let (body, hit) = anonymous(&url, MEETS).await;
    assert!(hit);
    assert_eq!(data(&body)["meets"][0]["registerLinkStatus"], "WAITING");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let (body, _) = anonymous(&url, MEETS).await;
    assert_eq!(data(&body)["meets"][0]["registerLinkStatus"], "OPEN");
}

#[tokio::test]
async fn the_cache_is_bypassed_while_its_listener_is_lost_and_never_for_sessions() {
    let app = TestApp::spawn_with(&[("ANSWER_CACHE", "true")]).await;
    let url = format!("{}/graphql", app.address);
    app.create_user("admin@example.com", true).await;
    app.create_meet(
        "before",
        "HACKATHON",
        "2031-01-01T10:00:00",
        "2031-01-02T10:00:00",
        "UTC",
    )
    .await;
    wait_until_caching(&url).await;
    anonymous(&url, MEETS).await;
    assert!(anonymous(&url, MEETS).await.1);
    // Logged-in requests are never answered from the cache.
    let admin = app.login("admin@example.com").await;
    let response = admin
        .post(&url)
        .json(&json!({ "query": MEETS }))
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("x-answer-cache").is_none());

    // Cut the listener's connection; a write made while it is away is not missed.
    let listener = listener_pid(&app, "caches").await;
    app.sql(&format!("SELECT pg_terminate_backend({listener})"))
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    app.sql("UPDATE meets SET title = 'during'").await;
    let (body, hit) = anonymous(&url, MEETS).await;
    assert!(!hit);
    assert_eq!(titles(&body), ["during"]);
    // Back after the reconnection, empty.
    wait_until_caching(&url).await;
    anonymous(&url, MEETS).await;
    let (body, hit) = anonymous(&url, MEETS).await;
    assert!(hit);
    assert_eq!(titles(&body), ["during"]);
}

#[tokio::test]
async fn only_a_mutation_that_may_have_written_empties_the_caches() {
    let app = TestApp::spawn().await;
    app.create_user("member@example.com", false).await;
    let (_server, url) = server_process(&app).await;
    let (_, hit) = anonymous(&url, MEETS).await;
    assert!(!hit, "first read computes");
    let cached = || async { anonymous(&url, MEETS).await.1 };
    assert!(cached().await, "second read is kept");
    let mutations = [
        // Refused: not logged in.
        "mutation { deleteMeet(id: \"00000000-0000-0000-0000-000000000000\") }".to_owned(),
        // A failed login, and a successful one: neither changes an answer.
        "mutation { login(email: \"member@example.com\", password: \"wrong password\") { id } }"
            .to_owned(),
        format!(
            "mutation {{ login(email: \"member@example.com\", password: \"{}\") {{ id }} }}",
            crate::helpers::PASSWORD
        ),
        // A query run from a document that also holds a mutation.
        "query Read { meets { id } } mutation Write { logout }".to_owned(),
    ];
    for mutation in &mutations {
        let mut body = json!({ "query": mutation });
        if mutation.starts_with("query Read") {
            body["operationName"] = json!("Read");
        }
        Client::new().post(&url).json(&body).send().await.unwrap();
        assert!(cached().await, "still kept after {mutation}");
    }
}

#[tokio::test]
async fn a_silently_stalled_listener_stops_trusting_its_caches_within_two_seconds() {
    let app = TestApp::spawn().await;
    app.create_meet(
        "before",
        "HACKATHON",
        "2031-01-01T10:00:00",
        "2031-01-02T10:00:00",
        "UTC",
    )
    .await;
    let member = app.create_user("member@example.com", false).await;
    let (_server, url) = server_process(&app).await;
    let login = Client::new()
        .post(&url)
        .json(&json!({ "query": format!("mutation {{ login(email: \"member@example.com\", password: \"{}\") {{ id }} }}", crate::helpers::PASSWORD) }))
        .send()
        .await
        .unwrap();
    let cookie = login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let me = || async {
        let body: Value = Client::new()
            .post(&url)
            .header("cookie", &cookie)
            .json(&json!({ "query": "{ me { id } }" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["data"]["me"]["id"].as_str().map(str::to_owned)
    };
    assert_eq!(me().await, Some(member.to_string()));
    anonymous(&url, MEETS).await;
    assert!(anonymous(&url, MEETS).await.1, "kept");

    // The backend freezes: the socket stays open and nothing is delivered, as after a dropped
    // NAT entry.
    let stalled = StoppedBackend::stop(listener_pid(&app, "caches").await);
    app.sql("UPDATE meets SET title = 'during the stall'").await;
    app.sql(&format!(
        "UPDATE users SET deleted = true WHERE id = '{member}'"
    ))
    .await;
    let written = std::time::Instant::now();
    let shown = until_shown(&url, "during the stall").await;
    assert!(shown < Duration::from_secs(2), "stale for {shown:?}");
    while me().await.is_some() {
        assert!(
            written.elapsed() < Duration::from_secs(2),
            "a deleted user's session still works"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(stalled);
    // A new connection LISTENs; answers are kept again.
    wait_until_caching(&url).await;
}
