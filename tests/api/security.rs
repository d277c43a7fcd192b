//! The GraphQL hardening list, one regression test per attack: document limits (depth,
//! complexity, aliases, directives, fragments), response size, batches, oversized input,
//! production defaults, CORS, response headers and forged or revoked session tokens.
//! (CSRF, body limit and timeouts are in http.rs; login limits in login_limits.rs.)

use std::time::{Duration, Instant};

use jsonwebtoken::{EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::helpers::{JWT_SECRET, PASSWORD, TestApp, data, error_code, error_field, new_client};

/// Posts a raw JSON body; returns status, headers and JSON.
async fn post(
    app: &TestApp,
    client: &reqwest::Client,
    body: Value,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let response = client
        .post(app.graphql_url())
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.json().await.expect("JSON body"))
}

fn message(body: &Value) -> String {
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error, got {body}"))
        .to_owned()
}

fn frontend_document(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/frontend-operations/{name}.graphql",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `{ meets { registrants { registeredMeets { registrants { … } } } } }`, `levels` lists deep.
fn registrants_bomb(levels: usize) -> String {
    let mut query = String::from("id");
    for level in (0..levels).rev() {
        let field = if level % 2 == 0 {
            "registrants"
        } else {
            "registeredMeets"
        };
        query = format!("{field} {{ {query} }}");
    }
    format!("{{ meets {{ {query} }} }}")
}

#[tokio::test]
async fn deep_documents_are_refused_before_anything_runs() {
    let app = TestApp::spawn().await;
    app.seed().await;
    for query in [
        registrants_bomb(15),
        "{ meets { projects { user { projects { meet { id } } } } } }".to_owned(),
    ] {
        app.reset_statement_count();
        let started = Instant::now();
        let body = app.gql(&query, json!({})).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert!(message(&body).contains("nested too deep"), "{body}");
        assert!(body["data"].is_null(), "{body}");
        assert_eq!(app.statement_count(), 0, "{}", app.statements_run());
        assert!(started.elapsed() < Duration::from_secs(1));
    }
    // Introspection (GraphiQL's schema query nests deeply) is not counted.
    let body = app
        .gql(
            "{ __schema { types { fields { type { ofType { ofType { name } } } } } } }",
            json!({}),
        )
        .await;
    data(&body);
}

#[tokio::test]
async fn the_frontends_meet_page_fits_the_limits() {
    let app = TestApp::spawn().await;
    app.seed().await;
    let grace = app.login_with("grace@mintbean.dev", "password123").await;
    let with_canon = app
        .scalar_string(r#"SELECT id::text FROM meets WHERE "kanbanCanonId" IS NOT NULL"#)
        .await;
    let body = app
        .gql_with(
            &grace,
            &frontend_document("Meet.meet"),
            json!({ "id": with_canon }),
        )
        .await;
    let meet = &data(&body)["meet"];
    assert!(
        !meet["kanbanCanon"].is_null() && !meet["kanban"].is_null(),
        "{meet}"
    );
    let busiest = app
        .scalar_string(
            r#"SELECT "meetId"::text FROM projects GROUP BY "meetId" ORDER BY count(*) DESC LIMIT 1"#,
        )
        .await;
    let body = app
        .gql(&frontend_document("Meet.meet"), json!({ "id": busiest }))
        .await;
    assert!(
        !data(&body)["meet"]["projects"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    // Every document of the frontend passes the document limits.
    let directory = format!(
        "{}/tests/fixtures/frontend-operations",
        env!("CARGO_MANIFEST_DIR")
    );
    for entry in std::fs::read_dir(directory).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let document = async_graphql::parser::parse_query(&text).unwrap();
        mintbean::graphql::limits::check(&document, &Default::default())
            .unwrap_or_else(|e| panic!("{text}\n{e}"));
    }
}

#[tokio::test]
async fn list_fields_multiply_the_cost_of_what_they_select() {
    // The meet page costs exactly 1 158: 14 scalars, registrants 1 + 10×4, projects
    // 1 + 10×(5 + user 3 + mediaAssets 11 + badges 81), the canon 49 and the board 52, plus 1.
    let id = Uuid::new_v4().to_string();
    let exact = TestApp::spawn_with(&[("GRAPHQL_MAX_COMPLEXITY", "1158")]).await;
    data(
        &exact
            .gql(&frontend_document("Meet.meet"), json!({ "id": id }))
            .await,
    );
    let under = TestApp::spawn_with(&[("GRAPHQL_MAX_COMPLEXITY", "1157")]).await;
    let body = under
        .gql(&frontend_document("Meet.meet"), json!({ "id": id }))
        .await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert!(message(&body).contains("complex"), "{body}");

    // Within depth 3, five copies of a list-in-list-in-list cost 5 × 1 111 > 5 000.
    let app = TestApp::spawn().await;
    let one = "{ meets { registrants { registeredMeets { id } } } }";
    data(&app.gql(one, json!({})).await);
    let five = format!(
        "{{ {} }}",
        (0..5)
            .map(|i| format!("m{i}: meets {{ registrants {{ registeredMeets {{ id }} }} }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    let body = app.gql(&five, json!({})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert!(message(&body).contains("complex"), "{body}");
}

#[tokio::test]
async fn aliases_directives_and_fragments_are_limited() {
    let app = TestApp::spawn().await;
    let aliases = format!(
        "{{ {} }}",
        (0..16)
            .map(|i| format!("a{i}: badges {{ id }}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    assert!(message(&app.gql(&aliases, json!({})).await).contains("aliases"));

    let directives = format!(
        "{{ meets {{ id {} }} }}",
        "@include(if: true) ".repeat(10_000)
    );
    let body = app.gql(&directives, json!({})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert!(message(&body).contains("directives"), "{body}");

    let circular =
        "{ meets { ...A } } fragment A on Meet { id ...B } fragment B on Meet { title ...A }";
    let body = app.gql(circular, json!({})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    // async-graphql's recursion guard stops the cycle before validation names it.
    assert!(message(&body).contains("recursion depth"), "{body}");

    // 2^30 fields once expanded, refused in linear time.
    let mut bomb = String::from("{ meets { ...F0 } }");
    for level in 0..30 {
        bomb.push_str(&format!(
            " fragment F{level} on Meet {{ ...F{next} ...F{next} }}",
            next = level + 1
        ));
    }
    bomb.push_str(" fragment F30 on Meet { id }");
    let started = Instant::now();
    let body = app.gql(&bomb, json!({})).await;
    assert!(message(&body).contains("complex"), "{body}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn oversized_answers_are_refused() {
    let app = TestApp::spawn_with(&[("GRAPHQL_MAX_RESPONSE_BYTES", "4000")]).await;
    for i in 0..40 {
        app.create_meet(
            &format!("Meet number {i} with a long enough title"),
            "hackathon",
            "2030-01-01T10:00:00",
            "2030-01-01T12:00:00",
            "UTC",
        )
        .await;
    }
    data(&app.gql("{ meets { id } }", json!({})).await);
    let (status, _, body) = post(
        &app,
        &new_client(),
        json!({ "query": "{ meets { id title description instructions coverImageUrl } }" }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "RESPONSE_TOO_LARGE");
}

#[tokio::test]
async fn one_request_runs_at_most_one_password_check() {
    let app = TestApp::spawn().await;
    app.create_user("target@example.com", false).await;
    let aliased = format!(
        "mutation {{ {} }}",
        (0..500)
            .map(|i| format!(
                "l{i}: login(email: \"target@example.com\", password: \"guess{i}\") {{ id }}"
            ))
            .collect::<Vec<_>>()
            .join(" ")
    );
    // Refused by the alias limit, and with aliases allowed, by the one-login rule.
    let limits_off = TestApp::spawn_with(&[("GRAPHQL_MAX_ALIASES", "1000")]).await;
    for target in [&app, &limits_off] {
        target.reset_statement_count();
        let started = Instant::now();
        let body = target.gql(&aliased, json!({})).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{body}");
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(target.statement_count(), 0, "{}", target.statements_run());
    }
    let body = limits_off.gql(&aliased, json!({})).await;
    assert!(message(&body).contains("`login`"), "{body}");
    let two_registers = "mutation { a: register(input: {email: \"a@x.io\", firstName: \"A\", lastName: \"B\", password: \"secret1\", passwordConfirmation: \"secret1\"}) { id } b: register(input: {email: \"b@x.io\", firstName: \"A\", lastName: \"B\", password: \"secret1\", passwordConfirmation: \"secret1\"}) { id } }";
    let body = app.gql(two_registers, json!({})).await;
    assert!(message(&body).contains("`register`"), "{body}");
    assert_eq!(app.scalar_i64("SELECT count(*) FROM users").await, 1);

    // A JSON array of 200 logins is refused whole: batching is off by default.
    let batch: Vec<Value> = (0..200)
        .map(|i| json!({ "query": format!("mutation {{ login(email: \"target@example.com\", password: \"guess{i}\") {{ id }} }}") }))
        .collect();
    let (status, _, body) = post(&app, &new_client(), Value::Array(batch)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error_code(&body), "BAD_REQUEST");
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM login_attempts").await,
        0
    );
}

#[tokio::test]
async fn batches_when_enabled_hold_at_most_ten_queries() {
    let app = TestApp::spawn_with(&[("GRAPHQL_BATCHING", "true")]).await;
    let (status, _, body) = post(
        &app,
        &new_client(),
        json!([{ "query": "{ meets { id } }" }, { "query": "{ badges { id } }" }]),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body[0]["data"]["meets"], json!([]));
    assert_eq!(body[1]["data"]["badges"], json!([]));

    let eleven: Vec<Value> = (0..11)
        .map(|_| json!({ "query": "{ meets { id } }" }))
        .collect();
    let (status, _, _) = post(&app, &new_client(), Value::Array(eleven)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _, body) = post(
        &app,
        &new_client(),
        json!([{ "query": "{ meets { id } }" }, { "query": "mutation { logout }" }]),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message(&body).contains("Mutations"), "{body}");
}

#[tokio::test]
async fn oversized_inputs_are_refused_without_echoing_them() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let (_, user) = app.user_client("maker@example.com").await;

    let create_project =
        "mutation($input: CreateProjectInput!) { createProject(input: $input) { id } }";
    let long_url = format!("https://example.com/{}", "a".repeat(3000));
    let body = app
        .gql_with(
            &user,
            create_project,
            json!({ "input": { "title": "P", "sourceCodeUrl": long_url, "liveUrl": "https://b.example" } }),
        )
        .await;
    assert_eq!(error_field(&body), "sourceCodeUrl");
    let body = app
        .gql_with(
            &user,
            create_project,
            json!({ "input": { "title": "x".repeat(900_000), "sourceCodeUrl": "https://a.example", "liveUrl": "https://b.example" } }),
        )
        .await;
    assert_eq!(error_field(&body), "title");
    assert!(body.to_string().len() < 1000, "the error echoes the input");
    assert_eq!(app.scalar_i64("SELECT count(*) FROM projects").await, 0);

    let project = data(
        &app.gql_with(
            &user,
            create_project,
            json!({ "input": { "title": "P", "sourceCodeUrl": "https://a.example", "liveUrl": "https://b.example" } }),
        )
        .await,
    )["createProject"]["id"]
        .clone();
    let badge_ids: Vec<String> = (0..20_000).map(|_| Uuid::new_v4().to_string()).collect();
    let body = app
        .gql_with(
            &admin,
            "mutation($p: UUID!, $b: [UUID]!) { awardBadgesToProject(projectId: $p, badgeIds: $b) { id } }",
            json!({ "p": project, "b": badge_ids }),
        )
        .await;
    assert_eq!(error_field(&body), "badgeIds");
    assert!(
        body.to_string().len() < 1000,
        "{} bytes",
        body.to_string().len()
    );
    let body = app
        .gql_with(
            &admin,
            "mutation($p: UUID!, $b: [UUID]!) { awardBadgesToProject(projectId: $p, badgeIds: $b) { id } }",
            json!({ "p": project, "b": &badge_ids[..50] }),
        )
        .await;
    assert!(message(&body).contains("and 47 more"), "{body}");

    // A 500 KB password is refused before it is hashed.
    app.reset_statement_count();
    let started = Instant::now();
    let body = app
        .gql(
            "mutation($p: String!) { login(email: \"maker@example.com\", password: $p) { id } }",
            json!({ "p": "p".repeat(500_000) }),
        )
        .await;
    assert_eq!(error_field(&body), "password");
    assert_eq!(app.statement_count(), 0);
    assert!(started.elapsed() < Duration::from_millis(500));
}

#[tokio::test]
async fn production_hides_the_schema() {
    let production = TestApp::spawn_with(&[
        ("APP_ENV", "production"),
        ("JWT_SECRET", "a-production-length-secret"),
        ("SENDER_EMAIL", "Mintbean <hello@mintbean.io>"),
    ])
    .await;
    let development = TestApp::spawn().await;
    let typo = "{ meets { titl } }";
    let hint = message(&development.gql(typo, json!({})).await);
    assert!(hint.contains("Did you mean"), "{hint}");
    let body = production.gql(typo, json!({})).await;
    assert_eq!(error_code(&body), "BAD_USER_INPUT");
    assert!(!message(&body).contains("Did you mean"), "{body}");
    let body = production
        .gql("{ __schema { types { name } } }", json!({}))
        .await;
    assert!(body["data"]["__schema"].is_null(), "{body}");
    let graphiql = new_client()
        .get(production.graphql_url())
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(graphiql.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn cors_preflights_from_unlisted_origins_get_no_grant() {
    let app = TestApp::spawn_with(&[("CORS_ALLOWED_ORIGINS", "https://mintbean.io")]).await;
    for (origin, granted) in [
        ("https://mintbean.io", true),
        ("https://evil.example", false),
    ] {
        let response = new_client()
            .request(reqwest::Method::OPTIONS, app.graphql_url())
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .unwrap();
        let allow = response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(
            allow.as_deref() == Some(origin),
            granted,
            "{origin}: {allow:?}"
        );
    }
}

#[tokio::test]
async fn responses_are_not_sniffed_and_personal_ones_not_cached() {
    let app = TestApp::spawn().await;
    let (_, user) = app.user_client("cache@example.com").await;
    for url in [
        app.graphql_url(),
        format!("{}/health", app.address),
        format!("{}/nope", app.address),
    ] {
        let response = new_client().get(&url).send().await.unwrap();
        assert_eq!(
            response.headers()["x-content-type-options"],
            "nosniff",
            "{url}"
        );
    }
    let (_, headers, _) = post(&app, &new_client(), json!({ "query": "{ meets { id } }" })).await;
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers.get("cache-control").is_none(), "{headers:?}");
    let (_, headers, _) = post(&app, &user, json!({ "query": "{ me { id } }" })).await;
    assert_eq!(headers["cache-control"], "no-store");
    // The login answer itself carries the new session.
    let (_, headers, _) = post(
        &app,
        &new_client(),
        json!({ "query": format!("mutation {{ login(email: \"cache@example.com\", password: \"{PASSWORD}\") {{ id }} }}") }),
    )
    .await;
    assert_eq!(headers["cache-control"], "no-store");
}

fn token(claims: Value, secret: &str) -> String {
    encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// `{ me { id } }` with exactly this `Cookie` header.
async fn me_with_cookie(app: &TestApp, cookie: &str) -> (Value, reqwest::header::HeaderMap) {
    let response = reqwest::Client::new()
        .post(app.graphql_url())
        .header("cookie", cookie)
        .json(&json!({ "query": "{ me { id isAdmin } }" }))
        .send()
        .await
        .unwrap();
    let headers = response.headers().clone();
    (response.json().await.unwrap(), headers)
}

#[tokio::test]
async fn forged_expired_premature_and_ambiguous_tokens_are_logged_out() {
    let app = TestApp::spawn().await;
    let user = app.create_user("plain@example.com", false).await;
    let now = chrono::Utc::now().timestamp();
    let claims = |iat: i64, exp: i64| json!({ "sub": user.to_string(), "iat": iat, "exp": exp });
    let valid = token(claims(now, now + 3600), JWT_SECRET);
    let (body, _) = me_with_cookie(&app, &format!("jwt={valid}")).await;
    assert_eq!(data(&body)["me"]["id"], user.to_string());

    let payload = valid.split('.').nth(1).unwrap().to_owned();
    let cases = [
        (
            "other secret",
            token(claims(now, now + 3600), "another-secret"),
        ),
        ("expired", token(claims(now - 7200, now - 3600), JWT_SECRET)),
        (
            "not yet valid",
            token(
                json!({ "sub": user.to_string(), "iat": now, "nbf": now + 600, "exp": now + 3600 }),
                JWT_SECRET,
            ),
        ),
        (
            "alg none",
            format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}."),
        ),
        ("garbage", "not.a.token".to_owned()),
    ];
    for (case, bad) in cases {
        let (body, headers) = me_with_cookie(&app, &format!("jwt={bad}")).await;
        assert_eq!(error_code(&body), "UNAUTHENTICATED", "{case}: {body}");
        let cleared = headers["set-cookie"].to_str().unwrap();
        assert!(cleared.starts_with("jwt=;"), "{case}: {cleared}");
    }
    // Two `jwt` cookies (one may be planted by a sibling domain): neither is trusted.
    let other = app.create_user("other@example.com", false).await;
    let planted = token(
        json!({ "sub": other.to_string(), "iat": now, "exp": now + 3600 }),
        JWT_SECRET,
    );
    let (body, headers) = me_with_cookie(&app, &format!("jwt={planted}; jwt={valid}")).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    assert!(headers.get("set-cookie").is_some());

    // `isAdmin: true` in a token grants nothing: rights come from the database.
    let claims_admin = token(
        json!({ "sub": user.to_string(), "isAdmin": true, "iat": now, "exp": now + 3600 }),
        JWT_SECRET,
    );
    let response = reqwest::Client::new()
        .post(app.graphql_url())
        .header("cookie", format!("jwt={claims_admin}"))
        .json(&json!({ "query": "mutation { deleteMeet(id: \"00000000-0000-0000-0000-000000000000\") }" }))
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "FORBIDDEN", "{body}");

    // A deleted user's token stops working.
    app.sql(&format!(
        "UPDATE users SET deleted = true WHERE id = '{user}'"
    ))
    .await;
    let (body, _) = me_with_cookie(&app, &format!("jwt={valid}")).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
}

#[tokio::test]
async fn logout_revokes_the_token_everywhere_it_was_copied() {
    let app = TestApp::spawn().await;
    let user = app.create_user("leaver@example.com", false).await;
    let response = new_client()
        .post(app.graphql_url())
        .json(&json!({ "query": format!("mutation {{ login(email: \"leaver@example.com\", password: \"{PASSWORD}\") {{ id }} }}") }))
        .send()
        .await
        .unwrap();
    let cookie = response.headers()["set-cookie"].to_str().unwrap();
    let copied = cookie.split(';').next().unwrap().to_owned();
    // A Node-issued token (no isAdmin claim) for the same user stays valid until revoked.
    let now = chrono::Utc::now().timestamp();
    let node_token = token(
        json!({ "sub": user.to_string(), "iat": now - 60, "exp": now + 3600 }),
        JWT_SECRET,
    );
    let (body, _) = me_with_cookie(&app, &copied).await;
    assert_eq!(data(&body)["me"]["id"], user.to_string());

    let logout = reqwest::Client::new()
        .post(app.graphql_url())
        .header("cookie", &copied)
        .json(&json!({ "query": "mutation { logout }" }))
        .send()
        .await
        .unwrap();
    assert!(
        logout.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .starts_with("jwt=;")
    );
    let (body, _) = me_with_cookie(&app, &copied).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
    let (body, _) = me_with_cookie(&app, &format!("jwt={node_token}")).await;
    assert_eq!(data(&body)["me"]["id"], user.to_string());
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM revoked_sessions")
            .await,
        1
    );
    // Revocations are kept only while the token could still be used.
    app.sql("UPDATE revoked_sessions SET expires_at = now() - interval '1 minute'")
        .await;
    reqwest::Client::new()
        .post(app.graphql_url())
        .header("cookie", format!("jwt={node_token}"))
        .json(&json!({ "query": "mutation { logout }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM revoked_sessions")
            .await,
        1
    );
    let (body, _) = me_with_cookie(&app, &format!("jwt={node_token}")).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
}

#[tokio::test]
async fn login_logout_login_in_one_second_gives_a_new_session_that_works() {
    let app = TestApp::spawn().await;
    let user = app.create_user("quick@example.com", false).await;
    let login = || async {
        let response = new_client()
            .post(app.graphql_url())
            .json(&json!({ "query": format!("mutation {{ login(email: \"quick@example.com\", password: \"{PASSWORD}\") {{ id }} }}") }))
            .send()
            .await
            .unwrap();
        let cookie = response.headers()["set-cookie"].to_str().unwrap();
        cookie.split(';').next().unwrap().to_owned()
    };
    let first = login().await;
    new_client()
        .post(app.graphql_url())
        .header("cookie", &first)
        .json(&json!({ "query": "mutation { logout }" }))
        .send()
        .await
        .unwrap();
    let second = login().await;
    assert_ne!(first, second);
    let (body, _) = me_with_cookie(&app, &second).await;
    assert_eq!(data(&body)["me"]["id"], user.to_string(), "{body}");
}

#[tokio::test]
async fn production_metrics_need_a_token_and_pages_forbid_framing_and_inline_scripts() {
    let production = TestApp::spawn_with(&[
        ("APP_ENV", "production"),
        ("JWT_SECRET", "a-production-length-secret"),
        ("SENDER_EMAIL", "Mintbean <hello@mintbean.io>"),
    ])
    .await;
    let metrics = new_client()
        .get(format!("{}/metrics", production.address))
        .send()
        .await
        .unwrap();
    assert_eq!(metrics.status(), StatusCode::FORBIDDEN);
    let body: Value = metrics.json().await.unwrap();
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("METRICS_TOKEN"),
        "{body}"
    );

    let with_token = TestApp::spawn_with(&[
        ("APP_ENV", "production"),
        ("JWT_SECRET", "a-production-length-secret"),
        ("SENDER_EMAIL", "Mintbean <hello@mintbean.io>"),
        ("METRICS_TOKEN", "scrape-me"),
    ])
    .await;
    let scraped = new_client()
        .get(format!("{}/metrics", with_token.address))
        .bearer_auth("scrape-me")
        .send()
        .await
        .unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);

    for page in ["/docs", "/admin"] {
        let response = new_client()
            .get(format!("{}{page}", production.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{page}");
        let headers = response.headers();
        assert_eq!(headers["x-frame-options"], "DENY", "{page}");
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{page}: {csp}");
        let scripts = csp
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src"))
            .unwrap_or_else(|| panic!("{page}: no script-src in {csp}"));
        assert_eq!(scripts, "script-src 'self'", "{page}");
        let html = response.text().await.unwrap();
        assert!(!html.contains("<script>"), "{page} has an inline script");
    }
}
