//! The HTTP layer: Playground, GET queries, CSRF rules, limits, timeouts, JSON errors.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{TestApp, data, error_code, new_client};

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "HTTP {status} with {content_type}"
    );
    (status, response.json().await.expect("JSON body"))
}

#[tokio::test]
async fn browsers_get_graphiql_and_health_reports_the_database() {
    let app = TestApp::spawn().await;
    let page = new_client()
        .get(app.graphql_url())
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("/graphiql/graphiql.min.js"),
        "{}",
        &html[..200.min(html.len())]
    );
    // Served here, not from a CDN (the page in a browser: `dashboard::graphiql_renders_offline`).
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );
    let script = new_client()
        .get(format!("{}/graphiql/start.js", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(
        script.text().await.unwrap().contains("same-origin"),
        "GraphiQL must send the session cookie"
    );

    let (status, body) = json_of(
        new_client()
            .get(format!("{}/health", app.address))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["database"], "ok");
}

#[tokio::test]
async fn queries_work_over_get_but_mutations_do_not() {
    let app = TestApp::spawn().await;
    let (status, body) = json_of(
        new_client()
            .get(app.graphql_url())
            .query(&[("query", "{ meets { id } }")])
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(data(&body)["meets"], json!([]));

    let response = new_client()
        .get(app.graphql_url())
        .query(&[("query", "mutation { logout }")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["allow"], "POST");
    let (status, body) = json_of(response).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(&body), "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn simple_cross_site_content_types_need_a_custom_header() {
    let app = TestApp::spawn().await;
    app.create_user("victim@example.com", false).await;
    let victim = app.login("victim@example.com").await;
    let payload = json!({ "query": "mutation { logout }" }).to_string();
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
    ] {
        let (status, body) = json_of(
            victim
                .post(app.graphql_url())
                .header("content-type", content_type)
                .body(payload.clone())
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{content_type}");
        assert_eq!(error_code(&body), "BAD_REQUEST");
    }
    // No content type at all is refused too.
    let (status, _) = json_of(
        victim
            .post(app.graphql_url())
            .body(payload.clone())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // The session survived every attempt.
    data(&app.gql_with(&victim, "{ me { id } }", json!({})).await);

    // With a header that only scripts can set, the same request goes through.
    let (status, body) = json_of(
        victim
            .post(app.graphql_url())
            .header("content-type", "text/plain")
            .header("apollo-require-preflight", "true")
            .body(json!({ "query": "{ meets { id } }" }).to_string())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    data(&body);
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_json() {
    let app = TestApp::spawn_with(&[("MAX_BODY_BYTES", "2048")]).await;
    let big = json!({ "query": format!("{{ meets {{ id }} }} #{}", "x".repeat(4096)) });
    let (status, body) = json_of(
        new_client()
            .post(app.graphql_url())
            .json(&big)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&body), "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn malformed_requests_get_coded_errors() {
    let app = TestApp::spawn().await;
    let (status, body) = json_of(
        new_client()
            .post(app.graphql_url())
            .header("content-type", "application/json")
            .body("{ not json")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "BAD_REQUEST");

    for query in [
        "{ meets { id ",
        "{ nope }",
        "query($id: UUID!) { meet(id: $id) { id } }",
    ] {
        let body = app.gql(query, json!({ "id": "not-a-uuid" })).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{query}: {body}");
    }
}

#[tokio::test]
async fn depth_and_complexity_are_limited() {
    let app =
        TestApp::spawn_with(&[("GRAPHQL_MAX_DEPTH", "6"), ("GRAPHQL_MAX_COMPLEXITY", "40")]).await;
    let deep = "{ meets { projects { user { projects { user { projects { user { id } } } } } } } }";
    let body = app.gql(deep, json!({})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deep"),
        "{body}"
    );
    let wide = format!(
        "{{ {} }}",
        (0..50)
            .map(|i| format!("a{i}: meets {{ id }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let body = app.gql(&wide, json!({})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("complex"),
        "{body}"
    );
}

#[tokio::test]
async fn introspection_and_graphiql_can_be_turned_off() {
    let app = TestApp::spawn_with(&[("GRAPHQL_INTROSPECTION", "false")]).await;
    let body = app
        .gql(
            "{ __schema { types { name } } __type(name: \"Meet\") { name } }",
            json!({}),
        )
        .await;
    assert!(
        body["data"]["__schema"].is_null() && body["data"]["__type"].is_null(),
        "{body}"
    );
    let (status, body) = json_of(new_client().get(app.graphql_url()).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "BAD_REQUEST");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = TestApp::spawn().await;
    let (status, body) = json_of(
        new_client()
            .get(format!("{}/nope", app.address))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error_code(&body), "NOT_FOUND");
    let (status, body) = json_of(new_client().put(app.graphql_url()).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_code(&body), "METHOD_NOT_ALLOWED");
}

#[tokio::test]
async fn slow_requests_time_out_with_json() {
    let app = TestApp::spawn_with(&[("REQUEST_TIMEOUT_SECS", "0.5")]).await;
    // Hold a lock on meets from another connection so the query cannot finish.
    let blocker = mintbean_core::db::connect(&crate::helpers::database_url(&app.db_name), 1)
        .await
        .unwrap();
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let txn = blocker.begin().await.unwrap();
    txn.execute_unprepared("LOCK TABLE meets IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let (status, body) = json_of(
        new_client()
            .post(app.graphql_url())
            .json(&json!({ "query": "{ meets { id } }" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(&body), "TIMEOUT");
    // The timed-out request's statement does not keep waiting (and holding its connection)
    // while the lock is still held: the statement timeout ends it.
    let waiting = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND state = 'active' \
         AND query LIKE '%FROM \"meets\"%' AND pid <> pg_backend_pid()",
        app.db_name
    );
    let mut ended = false;
    for _ in 0..20 {
        if app.scalar_i64(&waiting).await == 0 {
            ended = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(ended, "the timed-out statement is still running");
    txn.rollback().await.unwrap();
    data(&app.gql("{ meets { id } }", json!({})).await);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let given = new_client()
        .post(app.graphql_url())
        .header("x-request-id", "trace-me-42")
        .json(&json!({ "query": "{ meets { id } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "trace-me-42");
    // Missing or unfit ids are replaced by a fresh one.
    for header in [None, Some("not fit for logs")] {
        let mut request = new_client().get(format!("{}/health", app.address));
        if let Some(value) = header {
            request = request.header("x-request-id", value);
        }
        let response = request.send().await.unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap();
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    }
}
