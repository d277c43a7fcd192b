//! Kept relations (`graphql::loader::KeptRelations`): a user's registered meets answered from
//! memory across requests, never stale after a change through this process, another process or
//! SQL.

use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::{
    answer_cache::server_process,
    helpers::TestApp,
    session_cache::{kill_cache_listeners, log_in, until_seen, with_cookie},
};

const SESSION_PAGE: &str = "{ me { id registeredMeets { id title } } }";

/// The titles of the caller's registered meets, newest start first.
async fn registered(url: &str, cookie: &str) -> Vec<String> {
    let body = with_cookie(url, cookie, SESSION_PAGE).await;
    assert!(body.get("errors").is_none(), "{body}");
    let meets = body["data"]["me"]["registeredMeets"].as_array().unwrap();
    meets
        .iter()
        .map(|meet| meet["title"].as_str().unwrap().to_owned())
        .collect()
}

async fn register(url: &str, cookie: &str, meet: Uuid) {
    let mutation = format!("mutation {{ registerForMeet(meetId: \"{meet}\") }}");
    let body = with_cookie(url, cookie, &mutation).await;
    assert!(body.get("errors").is_none(), "{body}");
}

/// [`until_seen`] for the registered meets of `cookie` on `url`.
async fn until_read(url: &str, cookie: &str, expected: &[&str]) -> Duration {
    let expected: Vec<String> = expected.iter().map(|title| title.to_string()).collect();
    until_seen(|| registered(url, cookie), expected).await
}

/// Reads the session page until a read costs no statement, every answer being `expected`. The
/// listener connects after start-up and a write's notification arrives after its answer; until
/// they have, reads ask the database.
async fn until_kept(app: &TestApp, url: &str, cookie: &str, expected: &[&str]) {
    let started = Instant::now();
    loop {
        assert_eq!(registered(url, cookie).await, expected);
        app.reset_statement_count();
        assert_eq!(registered(url, cookie).await, expected);
        if app.statement_count() == 0 {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "never kept: {}",
            app.statements_run()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn meets(app: &TestApp) -> (Uuid, Uuid) {
    let early = app
        .create_meet(
            "Early",
            "WORKSHOP",
            "2031-06-10T18:00:00",
            "2031-06-10T20:00:00",
            "UTC",
        )
        .await;
    let late = app
        .create_meet(
            "Late",
            "WORKSHOP",
            "2031-07-10T18:00:00",
            "2031-07-10T20:00:00",
            "UTC",
        )
        .await;
    (early, late)
}

#[tokio::test]
async fn the_session_page_costs_no_statement_and_a_registration_shows_at_once() {
    let app = TestApp::spawn_with(&[("SESSION_CACHE", "true"), ("RELATION_CACHE", "true")]).await;
    let url = app.graphql_url();
    app.create_user("kept@example.com", true).await;
    let (early, late) = meets(&app).await;
    let cookie = log_in(&url, "kept@example.com").await;
    register(&url, &cookie, early).await;
    until_kept(&app, &url, &cookie, &["Early"]).await;
    // A registration through this process shows in its very next answer. Its own notification
    // arrives a little later and empties the kept value once more; then it is kept again.
    register(&url, &cookie, late).await;
    assert_eq!(registered(&url, &cookie).await, ["Late", "Early"]);
    until_kept(&app, &url, &cookie, &["Late", "Early"]).await;
    // A mutation reads its own write, never a kept value.
    let edit = format!(
        "mutation {{ editMeet(id: \"{early}\", input: {{ title: \"Renamed\" }}) \
         {{ registrants {{ registeredMeets {{ title }} }} }} }}"
    );
    let body = with_cookie(&url, &cookie, &edit).await;
    let seen = &body["data"]["editMeet"]["registrants"][0]["registeredMeets"];
    assert_eq!(seen[1]["title"], "Renamed", "{body}");
    assert_eq!(registered(&url, &cookie).await, ["Late", "Renamed"]);
}

#[tokio::test]
async fn registered_meets_changed_through_another_process_or_sql_are_not_stale() {
    let app = TestApp::spawn().await;
    app.create_user("roaming@example.com", false).await;
    let (early, late) = meets(&app).await;
    let ((_a, a), (_b, b)) = tokio::join!(server_process(&app), server_process(&app));
    let cookie = log_in(&a, "roaming@example.com").await;
    register(&a, &cookie, early).await;
    for _ in 0..5 {
        assert_eq!(registered(&a, &cookie).await, ["Early"]);
        assert_eq!(registered(&b, &cookie).await, ["Early"]);
    }
    // A registration through B, a title changed and a meet deleted with SQL: A reads each.
    register(&b, &cookie, late).await;
    let registration = until_read(&a, &cookie, &["Late", "Early"]).await;
    app.sql(&format!(
        "UPDATE meets SET title = 'Renamed' WHERE id = '{early}'"
    ))
    .await;
    let renamed = until_read(&a, &cookie, &["Late", "Renamed"]).await;
    until_read(&b, &cookie, &["Late", "Renamed"]).await;
    app.sql(&format!(
        "UPDATE meets SET deleted = true WHERE id = '{late}'"
    ))
    .await;
    until_read(&a, &cookie, &["Renamed"]).await;
    // A change written while A's listener is away is not missed.
    kill_cache_listeners(&app).await;
    app.sql(&format!(
        r#"DELETE FROM "meetRegistrations" WHERE "meetId" = '{early}'"#
    ))
    .await;
    assert_eq!(registered(&a, &cookie).await, Vec::<String>::new());
    println!(
        "seen on the other process after {registration:?} (registration), {renamed:?} (rename)"
    );
}
