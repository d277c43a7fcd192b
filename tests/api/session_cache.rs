//! The session cache (`auth::session_cache`): a logged-in request costs no statement for its
//! session, and a session ended or changed anywhere stops being honoured.

use std::time::{Duration, Instant};

use reqwest::Client;
use serde_json::{Value, json};

use crate::{
    answer_cache::server_process,
    helpers::{PASSWORD, TestApp},
};

/// Logs in through `url` and returns the `jwt=…` cookie pair.
pub async fn log_in(url: &str, email: &str) -> String {
    let response = Client::new()
        .post(url)
        .json(&json!({ "query": format!("mutation {{ login(email: \"{email}\", password: \"{PASSWORD}\") {{ id }} }}") }))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}

/// The answer to `query` sent with `cookie`.
pub async fn with_cookie(url: &str, cookie: &str, query: &str) -> Value {
    let response = Client::new()
        .post(url)
        .header("cookie", cookie)
        .json(&json!({ "query": query }))
        .send()
        .await
        .unwrap();
    response.json().await.unwrap()
}

/// `me { id isAdmin }` with `cookie`: the admin flag, or `None` when the session is not honoured.
async fn me(url: &str, cookie: &str) -> Option<bool> {
    let body = with_cookie(url, cookie, "{ me { id isAdmin } }").await;
    match body["errors"][0]["extensions"]["code"].as_str() {
        Some("UNAUTHENTICATED") => None,
        Some(other) => panic!("unexpected {other}: {body}"),
        None => Some(body["data"]["me"]["isAdmin"].as_bool().unwrap()),
    }
}

/// Reads with `read` until it gives `expected` (another process's change is seen once its
/// notification arrives: within half a second); after that it must never give anything else.
/// How long that took.
pub async fn until_seen<T, Fut>(mut read: impl FnMut() -> Fut, expected: T) -> Duration
where
    T: PartialEq + std::fmt::Debug,
    Fut: std::future::Future<Output = T>,
{
    let started = Instant::now();
    loop {
        let read = read().await;
        if read == expected {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "still read {read:?}, not {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let seen_after = started.elapsed();
    for _ in 0..20 {
        assert_eq!(read().await, expected);
    }
    seen_after
}

/// [`until_seen`] for the session of `cookie` on `url`.
async fn until_read(url: &str, cookie: &str, expected: Option<bool>) -> Duration {
    until_seen(|| me(url, cookie), expected).await
}

/// Ends every server's cache listener connection and gives the servers time to notice.
pub async fn kill_cache_listeners(app: &TestApp) {
    app.sql(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN%'",
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
}

async fn log_out(url: &str, cookie: &str) {
    let body = with_cookie(url, cookie, "mutation { logout }").await;
    assert_eq!(body["data"]["logout"], true, "{body}");
}

#[tokio::test]
async fn a_cached_session_costs_no_statement_and_a_logout_ends_it_at_once() {
    let app = TestApp::spawn_with(&[("SESSION_CACHE", "true")]).await;
    let url = app.graphql_url();
    app.create_user("kept@example.com", false).await;
    let cookie = log_in(&url, "kept@example.com").await;
    // The listener connects after start-up; until then every request asks the database.
    let started = Instant::now();
    loop {
        me(&url, &cookie).await;
        app.reset_statement_count();
        assert_eq!(me(&url, &cookie).await, Some(false));
        if app.statement_count() == 0 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "never cached");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A logout through this process holds for the very next request, cached or not.
    log_out(&url, &cookie).await;
    assert_eq!(me(&url, &cookie).await, None);
    // A session that is not live is never kept.
    app.reset_statement_count();
    assert_eq!(me(&url, &cookie).await, None);
    assert_eq!(app.statement_count(), 1, "{}", app.statements_run());
}

#[tokio::test]
async fn sessions_ended_or_changed_through_another_process_or_sql_are_not_honoured() {
    let app = TestApp::spawn().await;
    let user = app.create_user("roaming@example.com", true).await;
    let ((_a, a), (_b, b)) = tokio::join!(server_process(&app), server_process(&app));
    let cookie = log_in(&a, "roaming@example.com").await;
    // Tokens issued in the same second are equal: wait for a second, distinct session.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let other = log_in(&b, "roaming@example.com").await;
    assert_ne!(cookie, other);
    for _ in 0..5 {
        assert_eq!(me(&a, &cookie).await, Some(true));
        assert_eq!(me(&b, &cookie).await, Some(true));
        assert_eq!(me(&a, &other).await, Some(true));
    }
    // An admin demoted with SQL: both processes read the change.
    app.sql(&format!(
        r#"UPDATE users SET "isAdmin" = false WHERE id = '{user}'"#
    ))
    .await;
    let demoted = until_read(&a, &cookie, Some(false)).await;
    until_read(&b, &cookie, Some(false)).await;
    // A logout through B ends that token on A too; the user's other session stays.
    log_out(&b, &cookie).await;
    assert_eq!(me(&b, &cookie).await, None);
    let logged_out = until_read(&a, &cookie, None).await;
    assert_eq!(me(&a, &other).await, Some(false));
    // A revocation written while A's listener is away is not missed.
    kill_cache_listeners(&app).await;
    app.sql(&format!(
        "UPDATE users SET deleted = true WHERE id = '{user}'"
    ))
    .await;
    // Within the same bound as a notified change, whenever the server noticed the lost listener.
    until_read(&a, &other, None).await;
    println!("seen on the other process after {demoted:?} (demotion), {logged_out:?} (logout)");
}
