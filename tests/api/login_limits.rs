//! Failed-login limits: per account and per client address, kept in PostgreSQL so that they hold
//! across server processes and under concurrent guessing, and never telling whether an account
//! exists.

use futures_util::future::join_all;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, data, error_code, new_client};

const LOGIN: &str = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { id } }";

async fn login_at(url: &str, email: &str, password: &str, client_ip: Option<&str>) -> Value {
    let mut request = new_client()
        .post(url)
        .json(&json!({ "query": LOGIN, "variables": { "e": email, "p": password } }));
    if let Some(ip) = client_ip {
        request = request.header("x-forwarded-for", ip);
    }
    request.send().await.unwrap().json().await.unwrap()
}

async fn login(app: &TestApp, email: &str, password: &str) -> Value {
    login_at(&app.graphql_url(), email, password, None).await
}

fn retry_after(body: &Value) -> u64 {
    body["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap_or_else(|| panic!("no retryAfter in {body}"))
}

#[tokio::test]
async fn an_account_is_locked_after_its_failures_whether_or_not_it_exists() {
    let app = TestApp::spawn_with(&[
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3"),
        ("LOGIN_FAILURE_WINDOW_SECS", "900"),
    ])
    .await;
    app.create_user("ada@example.com", false).await;
    for email in ["ada@example.com", "nobody@example.com"] {
        for _ in 0..3 {
            assert_eq!(
                error_code(&login(&app, email, "wrong").await),
                "UNAUTHENTICATED"
            );
        }
        // Now even the right password waits, with the same answer for both addresses.
        let body = login(&app, &email.to_uppercase(), PASSWORD).await;
        assert_eq!(error_code(&body), "TOO_MANY_REQUESTS", "{body}");
        let wait = retry_after(&body);
        assert!((890..=900).contains(&wait), "{wait}");
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap()
                .contains("15 minutes"),
            "{body}"
        );
    }
    // Once the failures leave the window, the right password works again.
    app.sql("UPDATE login_attempts SET attempted_at = attempted_at - interval '15 minutes'")
        .await;
    data(&login(&app, "ada@example.com", PASSWORD).await);
}

#[tokio::test]
async fn a_successful_login_clears_the_accounts_failures() {
    let app = TestApp::spawn_with(&[("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3")]).await;
    app.create_user("grace@example.com", false).await;
    for _ in 0..2 {
        login(&app, "grace@example.com", "wrong").await;
    }
    data(&login(&app, "grace@example.com", PASSWORD).await);
    for _ in 0..3 {
        assert_eq!(
            error_code(&login(&app, "grace@example.com", "wrong").await),
            "UNAUTHENTICATED"
        );
    }
    assert_eq!(
        error_code(&login(&app, "grace@example.com", "wrong").await),
        "TOO_MANY_REQUESTS"
    );
}

#[tokio::test]
async fn concurrent_guesses_cannot_slip_past_the_limit() {
    let app = TestApp::spawn_with(&[
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "5"),
        ("PASSWORD_HASH_CONCURRENCY", "2"),
    ])
    .await;
    app.create_user("target@example.com", false).await;
    let url = app.graphql_url();
    let answers = join_all((0..30).map(|i| {
        let url = url.clone();
        async move { login_at(&url, "target@example.com", &format!("guess{i}"), None).await }
    }))
    .await;
    let checked = answers
        .iter()
        .filter(|a| error_code(a) == "UNAUTHENTICATED")
        .count();
    let refused = answers
        .iter()
        .filter(|a| error_code(a) == "TOO_MANY_REQUESTS")
        .count();
    // Guesses are counted in turn: the first five reach the password check (none slipped past,
    // and the limit did not refuse them all), the rest are refused.
    assert_eq!(
        checked,
        5,
        "{checked} passwords were checked: {:?}",
        answers.iter().map(error_code).collect::<Vec<_>>()
    );
    assert_eq!(checked + refused, 30);
    // Refused attempts leave nothing behind; checked ones are the recorded failures.
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM login_attempts WHERE scope = 'account'")
            .await,
        checked as i64
    );
}

#[tokio::test]
async fn the_limit_holds_across_server_processes() {
    let overrides = [("LOGIN_MAX_FAILURES_PER_ACCOUNT", "4")];
    let app = TestApp::spawn_with(&overrides).await;
    let second = app.another_server(&overrides).await;
    app.create_user("shared@example.com", false).await;
    for round in 0..4 {
        let url = if round % 2 == 0 {
            app.graphql_url()
        } else {
            second.clone()
        };
        let body = login_at(&url, "shared@example.com", "wrong", None).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED");
    }
    for url in [app.graphql_url(), second] {
        let body = login_at(&url, "shared@example.com", PASSWORD, None).await;
        assert_eq!(error_code(&body), "TOO_MANY_REQUESTS", "{body}");
    }
}

#[tokio::test]
async fn one_client_address_cannot_spray_many_accounts() {
    let app = TestApp::spawn_with(&[
        ("TRUST_PROXY_HEADERS", "true"),
        ("LOGIN_MAX_FAILURES_PER_CLIENT", "4"),
    ])
    .await;
    app.create_user("victim@example.com", false).await;
    let url = app.graphql_url();
    for i in 0..4 {
        let body = login_at(
            &url,
            &format!("user{i}@example.com"),
            "wrong-password",
            Some("203.0.113.7"),
        )
        .await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED");
    }
    let body = login_at(&url, "victim@example.com", PASSWORD, Some("203.0.113.7")).await;
    assert_eq!(error_code(&body), "TOO_MANY_REQUESTS", "{body}");
    // Another address, and the account itself, are unaffected.
    data(&login_at(&url, "victim@example.com", PASSWORD, Some("198.51.100.1")).await);
    // IPv6 clients are counted per /64.
    for i in 0..4 {
        login_at(
            &url,
            &format!("v6-{i}@example.com"),
            "wrong-password",
            Some(&format!("2001:db8:0:1::{i}")),
        )
        .await;
    }
    let body = login_at(
        &url,
        "victim@example.com",
        PASSWORD,
        Some("2001:db8:0:1::ffff"),
    )
    .await;
    assert_eq!(error_code(&body), "TOO_MANY_REQUESTS", "{body}");
}

#[tokio::test]
async fn failures_older_than_the_window_are_pruned() {
    let app = TestApp::spawn().await;
    app.sql(
        "INSERT INTO login_attempts (scope, key, attempted_at)
         SELECT 'client', 'old-' || i, now() - interval '1 hour' FROM generate_series(1, 50) i",
    )
    .await;
    login(&app, "someone@example.com", "wrong").await;
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM login_attempts WHERE key LIKE 'old-%'")
            .await,
        0
    );
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM login_attempts").await,
        2
    );
}

#[tokio::test]
async fn a_client_cannot_pick_its_address_by_writing_x_forwarded_for() {
    // Behind a proxy on 127.0.0.1 that appends the address it saw, a client that writes its own
    // X-Forwarded-For entries is still counted by the address the proxy added.
    let app = TestApp::spawn_with(&[
        ("TRUSTED_PROXIES", "127.0.0.0/8"),
        ("LOGIN_MAX_FAILURES_PER_CLIENT", "3"),
    ])
    .await;
    app.create_user("target@example.com", false).await;
    let url = app.graphql_url();
    for i in 0..3 {
        let spoofed = format!("198.51.100.{i}, 203.0.113.7");
        login_at(
            &url,
            &format!("spray{i}@example.com"),
            "wrong-password",
            Some(&spoofed),
        )
        .await;
    }
    let body = login_at(
        &url,
        "target@example.com",
        PASSWORD,
        Some("192.0.2.99, 203.0.113.7"),
    )
    .await;
    assert_eq!(error_code(&body), "TOO_MANY_REQUESTS", "{body}");
}
