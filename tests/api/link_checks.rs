//! `project.link_check` against a local HTTP server: answers, redirects, timeouts, capped
//! bodies, refused addresses, the per-host cap, and the results on `Project.linkCheck`.

use mintbean_core::projects::jobs::{CheckLink, Link};
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{
    Router,
    body::Body,
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use mintbean_core::projects::links::{LinkCheckSettings, LinkChecker, LinkReport};
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// How many `/held` requests are being answered at once, and the most ever.
#[derive(Clone, Default)]
struct Held {
    now: Arc<AtomicUsize>,
    most: Arc<AtomicUsize>,
}

async fn held(State(held): State<Held>) -> &'static str {
    let now = held.now.fetch_add(1, Ordering::SeqCst) + 1;
    held.most.fetch_max(now, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(250)).await;
    held.now.fetch_sub(1, Ordering::SeqCst);
    "held"
}

fn redirect(to: String) -> Response {
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

/// The target site; returns its `http://127.0.0.1:port`.
async fn target() -> (String, Held) {
    let held_state = Held::default();
    let router = Router::new()
        .route("/ok", get(|| async { "fine" }))
        .route("/missing", get(|| async { StatusCode::NOT_FOUND }))
        .route(
            "/hops/{n}",
            get(|Path(n): Path<u32>| async move {
                if n == 0 {
                    redirect("/ok".into())
                } else {
                    redirect(format!("/hops/{}", n - 1))
                }
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route(
            "/to-private",
            get(|| async { redirect("http://10.255.255.1/admin".into()) }),
        )
        .route(
            "/endless",
            get(|| async {
                let chunk = vec![b'x'; 64 * 1024];
                let stream = futures_util::stream::repeat_with(move || {
                    Ok::<_, std::io::Error>(axum::body::Bytes::from(chunk.clone()))
                });
                Body::from_stream(stream)
            }),
        )
        .route("/held", get(held))
        .with_state(held_state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (address, held_state)
}

fn checker(allow: &[&str]) -> LinkChecker {
    LinkChecker::new(&LinkCheckSettings {
        allow_hosts: allow.iter().map(|h| (*h).to_owned()).collect(),
        connect_timeout: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
    })
    .unwrap()
}

#[tokio::test]
async fn link_checks_report_answers_redirects_timeouts_and_stop_reading_long_bodies() {
    let (site, _) = target().await;
    let links = checker(&["127.0.0.1"]);
    let ok = links.check(&format!("{site}/ok")).await;
    assert_eq!(
        (ok.ok, ok.status_code, ok.redirects),
        (true, Some(200), 0),
        "{ok:?}"
    );
    let missing = links.check(&format!("{site}/missing")).await;
    assert_eq!((missing.ok, missing.status_code), (false, Some(404)));
    assert_eq!(missing.error, None, "a 404 is an answer, not an error");

    let three = links.check(&format!("{site}/hops/2")).await;
    assert!(three.ok, "{three:?}");
    assert_eq!(three.redirects, 3);
    assert_eq!(
        three.final_url.as_deref(),
        Some(format!("{site}/ok").as_str())
    );
    let four = links.check(&format!("{site}/hops/3")).await;
    assert!(!four.ok);
    assert_eq!(four.error.as_deref(), Some("more than 3 redirects"));

    let slow = links.check(&format!("{site}/slow")).await;
    assert!(!slow.ok);
    assert!(slow.error.is_some(), "{slow:?}");
    assert!(slow.latency_ms < 2500, "{slow:?}");

    let endless = tokio::time::timeout(
        Duration::from_secs(5),
        links.check(&format!("{site}/endless")),
    )
    .await
    .expect("an endless body does not hold the check");
    assert!(endless.ok, "{endless:?}");
}

#[tokio::test]
async fn link_checks_refuse_addresses_inside_our_network() {
    let (site, _) = target().await;
    let port = site.rsplit(':').next().unwrap();
    let strict = checker(&[]);
    let refused = |report: &LinkReport| {
        !report.ok
            && report.status_code.is_none()
            && report
                .error
                .as_deref()
                .is_some_and(|e| e.starts_with("refused"))
    };
    for url in [
        format!("{site}/ok"),
        format!("http://localhost:{port}/ok"),
        format!("http://[::1]:{port}/ok"),
        "http://169.254.169.254/latest/meta-data/".into(),
        "http://10.0.0.1/".into(),
        "http://0.0.0.0/".into(),
        format!("http://[::ffff:127.0.0.1]:{port}/ok"),
    ] {
        let report = strict.check(&url).await;
        assert!(refused(&report), "{url}: {report:?}");
    }
    let file = strict.check("file:///etc/passwd").await;
    assert!(refused(&file), "{file:?}");
    // Allowed hosts reach the test site, but a redirect from it into the network is refused.
    let allowed = checker(&["127.0.0.1"]);
    let hop = allowed.check(&format!("{site}/to-private")).await;
    assert!(!hop.ok, "{hop:?}");
    assert!(
        hop.error
            .as_deref()
            .is_some_and(|e| e.starts_with("refused")),
        "{hop:?}"
    );
    assert_eq!(hop.redirects, 1);
    assert_eq!(hop.final_url.as_deref(), Some("http://10.255.255.1/admin"));
}

const LINK_CHECK: &str = "query($id: UUID!) { project(id: $id) { linkCheck {
    sourceCode { url state ok statusCode redirects latencyMs error checkedAt }
    live { url state ok statusCode error } } } }";

async fn create_project(
    app: &TestApp,
    client: &reqwest::Client,
    source: &str,
    live: &str,
) -> String {
    let body = app
        .gql_with(
            client,
            "mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }",
            json!({ "i": { "title": "Pixel", "sourceCodeUrl": source, "liveUrl": live } }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["createProject"]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn link_check_until_done(app: &TestApp, id: &str) -> Value {
    for _ in 0..200 {
        let body = app.gql(LINK_CHECK, json!({ "id": id })).await;
        let check = body["data"]["project"]["linkCheck"].clone();
        if check["sourceCode"]["state"] == "DONE" && check["live"]["state"] == "DONE" {
            return check;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the links of {id} were not checked");
}

#[tokio::test]
async fn a_new_projects_links_are_checked_and_shown_on_the_project() {
    let app = TestApp::spawn_with(&[("LINK_CHECK_ALLOW_HOSTS", "127.0.0.1")]).await;
    let (site, _) = target().await;
    let (_, client) = app.user_client("maker@example.com").await;
    let id = create_project(
        &app,
        &client,
        &format!("{site}/hops/1"),
        &format!("{site}/missing"),
    )
    .await;
    // `project.submitted` queues the checks.
    app.settle().await;
    let queued = app.gql(LINK_CHECK, json!({ "id": id })).await;
    assert_eq!(
        queued["data"]["project"]["linkCheck"]["live"]["state"], "QUEUED",
        "{queued}"
    );
    let project_id: uuid::Uuid = id.parse().unwrap();
    for (link, path) in [(Link::SourceCode, "hops/1"), (Link::Live, "missing")] {
        let check = CheckLink {
            project_id,
            link,
            url: format!("{site}/{path}"),
        };
        let job = engine::testing::assert_enqueued(&app.db, &check).await;
        // Capped per host, grouped by project, at the routine priority.
        assert_eq!(
            (job.concurrency_key.as_deref(), job.group_key, job.priority),
            (Some("127.0.0.1"), Some(format!("project:{id}")), 1)
        );
    }
    let _worker = app.run_worker();
    let check = link_check_until_done(&app, &id).await;
    let source = &check["sourceCode"];
    assert_eq!(
        (source["ok"].clone(), source["statusCode"].clone()),
        (json!(true), json!(200))
    );
    assert_eq!(source["redirects"], 2);
    assert!(
        source["checkedAt"].is_string() && source["latencyMs"].is_number(),
        "{check}"
    );
    assert_eq!(check["live"]["ok"], false);
    assert_eq!(check["live"]["statusCode"], 404);
    // A project whose checks were never queued (e.g. from before) has no linkCheck.
    app.sql("DELETE FROM engine_jobs").await;
    let none = app.gql(LINK_CHECK, json!({ "id": id })).await;
    assert!(none["data"]["project"]["linkCheck"].is_null(), "{none}");
}

#[tokio::test]
async fn admins_ask_for_link_checks_ahead_of_routine_ones() {
    let app = TestApp::spawn().await;
    let (_, maker) = app.user_client("maker@example.com").await;
    let id = create_project(
        &app,
        &maker,
        "https://example.com/code",
        "https://example.com/",
    )
    .await;
    let ask = "mutation($id: UUID!) { checkProjectLinks(projectId: $id) { id linkCheck { live { state } } } }";
    let code = |body: &Value| body["errors"][0]["extensions"]["code"].clone();
    assert_eq!(
        code(&app.gql(ask, json!({ "id": id })).await),
        "UNAUTHENTICATED"
    );
    assert_eq!(
        code(&app.gql_with(&maker, ask, json!({ "id": id })).await),
        "FORBIDDEN"
    );
    let (_, admin) = app.admin_client().await;
    let unknown = app
        .gql_with(&admin, ask, json!({ "id": uuid::Uuid::new_v4() }))
        .await;
    assert_eq!(code(&unknown), "NOT_FOUND");
    let asked = app.gql_with(&admin, ask, json!({ "id": id })).await;
    assert!(asked["errors"].is_null(), "{asked}");
    assert_eq!(
        asked["data"]["checkProjectLinks"]["linkCheck"]["live"]["state"],
        "QUEUED"
    );
    // The waiting checks were moved up, not doubled.
    assert_eq!(
        app.scalar_string(&format!(
            "SELECT string_agg(priority::text, ',') FROM engine_jobs WHERE group_key = 'project:{id}'"
        ))
        .await,
        "10,10"
    );
}

#[tokio::test]
async fn one_host_gets_at_most_three_checks_at_once_across_workers() {
    let app = TestApp::spawn_with(&[
        ("LINK_CHECK_ALLOW_HOSTS", "127.0.0.1"),
        ("LINK_CHECK_CONCURRENCY", "8"),
    ])
    .await;
    let (site, held) = target().await;
    let (_, client) = app.user_client("maker@example.com").await;
    let mut ids = Vec::new();
    for _ in 0..6 {
        let url = format!("{site}/held");
        ids.push(create_project(&app, &client, &url, &url).await);
    }
    let _workers = [app.run_worker(), app.run_worker()];
    for id in &ids {
        link_check_until_done(&app, id).await;
    }
    assert_eq!(
        held.most.load(Ordering::SeqCst),
        3,
        "12 checks of one host, 16 slots"
    );
}
