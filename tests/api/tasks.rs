//! The REST task API (`/tasks`) and its auth rules: tokens (missing, bad, revoked, expired,
//! out of scope), Koalati JWTs, admin cookies with the CSRF rule; create / get / cancel,
//! delays, idempotency keys under concurrency, the AWSuper query language with keyset paging.

use std::collections::HashSet;

use reqwest::{Client, RequestBuilder, StatusCode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, new_client};

pub const KOALATI_SECRET: &str = "koalati-jwt-secret";
pub const KOALATI_ACCESS: &str = "koalati-access-token";

pub fn koalati_app_settings() -> [(&'static str, &'static str); 2] {
    [
        ("KOALATI_JWT_SECRET", KOALATI_SECRET),
        ("KOALATI_ACCESS_TOKEN", KOALATI_ACCESS),
    ]
}

/// An HS256 JWT with an `access_token` claim, as Koalati's clients send.
pub fn koalati_jwt(secret: &str, access_token: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({ "access_token": access_token }),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("jwt")
}

pub struct Api<'a> {
    pub app: &'a TestApp,
    pub client: Client,
    pub bearer: Option<String>,
}

impl<'a> Api<'a> {
    pub fn new(app: &'a TestApp, token: &str) -> Self {
        Api {
            app,
            client: new_client(),
            bearer: Some(token.to_owned()),
        }
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> RequestBuilder {
        let request = self
            .client
            .request(method, format!("{}{path}", self.app.address));
        match &self.bearer {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub async fn send(&self, request: RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.expect("request");
        let status = response.status();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.request(reqwest::Method::POST, path).json(&body))
            .await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.request(reqwest::Method::DELETE, path)).await
    }
}

async fn job_count(app: &TestApp) -> i64 {
    app.scalar_i64("SELECT count(*) FROM engine_jobs WHERE kind = 'link_check'")
        .await
}

fn url_task(n: usize) -> Value {
    json!({ "url": format!("https://site{n}.example/") })
}

#[tokio::test]
async fn every_way_in_is_checked_before_anything_is_stored() {
    let app = TestApp::spawn_with(&koalati_app_settings()).await;
    let anonymous = Api {
        app: &app,
        client: new_client(),
        bearer: None,
    };
    let response = anonymous
        .request(reqwest::Method::GET, "/tasks")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "UNAUTHENTICATED");

    let basic = anonymous
        .request(reqwest::Method::GET, "/tasks")
        .header("authorization", "Basic dXNlcjpwYXNz");
    assert_eq!(anonymous.send(basic).await.0, StatusCode::UNAUTHORIZED);
    let forged = Api::new(&app, "mbt_notarealtokenatall");
    assert_eq!(forged.get("/tasks").await.0, StatusCode::UNAUTHORIZED);

    // Scopes: create on one kind does not give cancel, or anything on another kind.
    let creator = Api::new(&app, &app.api_token(&["link_check:create"]).await);
    let (status, created) = creator.post("/tasks/link_check", url_task(1)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let id = created["task"]["id"].as_i64().unwrap();
    let (status, body) = creator.delete(&format!("/tasks/link_check/{id}")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "FORBIDDEN");
    let reader = Api::new(&app, &app.api_token(&["project.link_check:read"]).await);
    assert_eq!(
        reader.get(&format!("/tasks/link_check/{id}")).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        reader.post("/tasks/link_check", url_task(2)).await.0,
        StatusCode::FORBIDDEN
    );

    // Revoked and expired tokens stop working at once.
    let token = app.api_token(&["*:admin"]).await;
    let holder = Api::new(&app, &token);
    assert_eq!(holder.get("/tasks").await.0, StatusCode::OK);
    app.sql("UPDATE api_tokens SET revoked_at = now() WHERE name = 'test' AND 'link_check:create' <> ALL (scopes) AND '*:admin' = ANY (scopes)")
        .await;
    let (status, body) = holder.get("/tasks").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
    let expiring = app.api_token(&["*:read"]).await;
    app.sql("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE '*:read' = ANY (scopes)")
        .await;
    let (status, body) = Api::new(&app, &expiring).get("/tasks").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired")
    );

    // Koalati JWTs: the right access token passes; a wrong one (or signature) stops the request.
    let before = job_count(&app).await;
    let wrong = Api::new(&app, &koalati_jwt(KOALATI_SECRET, "not-the-token"));
    assert_eq!(
        wrong.post("/tasks/link_check", url_task(3)).await.0,
        StatusCode::UNAUTHORIZED
    );
    let forged = Api::new(&app, &koalati_jwt("another-secret", KOALATI_ACCESS));
    assert_eq!(
        forged.post("/tasks/link_check", url_task(4)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        job_count(&app).await,
        before,
        "a refused request stored a job"
    );
    let koalati = Api::new(&app, &koalati_jwt(KOALATI_SECRET, KOALATI_ACCESS));
    assert_eq!(
        koalati.post("/tasks/link_check", url_task(5)).await.0,
        StatusCode::ACCEPTED
    );
}

#[tokio::test]
async fn an_admin_cookie_is_accepted_with_the_csrf_rule_and_a_user_cookie_is_not() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    let url = format!("{}/tasks/link_check", app.address);
    let response = admin.post(&url).json(&url_task(1)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    // A cross-site form could send this: refused without a custom header.
    let form = admin
        .post(&url)
        .header("content-type", "text/plain")
        .body(url_task(2).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::FORBIDDEN);
    let with_header = admin
        .post(&url)
        .header("content-type", "text/plain")
        .header("x-csrf-protection", "1")
        .body(url_task(3).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(with_header.status(), StatusCode::ACCEPTED);
    let (_, user) = app.user_client("someone@example.com").await;
    let response = user
        .get(format!("{}/tasks", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_task_is_created_read_and_cancelled_through_the_state_machine() {
    let app = TestApp::spawn().await;
    let api = Api::new(&app, &app.api_token(&["link_check:admin"]).await);
    let (status, kinds) = api.get("/tasks").await;
    assert_eq!(status, StatusCode::OK);
    let names: Vec<&str> = kinds["kinds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kind"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["link_check"], "internal kinds are not offered");
    assert_eq!(kinds["kinds"][0]["schema"]["required"], json!(["url"]));

    let response = api
        .request(reqwest::Method::POST, "/tasks/link_check?delay=10m")
        .json(&url_task(1))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["task"]["id"].as_i64().unwrap();
    assert_eq!(location, format!("/tasks/link_check/{id}"));
    let run_at =
        chrono::DateTime::parse_from_rfc3339(created["task"]["run_at"].as_str().unwrap()).unwrap();
    let delay = run_at
        .signed_duration_since(chrono::Utc::now())
        .num_seconds();
    assert!((590..=600).contains(&delay), "run_at is {delay} s away");

    let (status, shown) = api.get(&location).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["task"]["state"], "available");
    assert_eq!(shown["task"]["attempts"], json!([]));
    assert_eq!(shown["task"]["args"], url_task(1));

    let (status, cancelled) = api.delete(&location).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cancelled["task"]["state"], "cancelled");
    let (status, again) = api.delete(&location).await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    assert_eq!(again["error"]["code"], "CONFLICT");
    assert_eq!(
        api.get("/tasks/link_check/999999").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.get("/tasks/link_check/abc").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        api.delete("/tasks/link_check/999999").await.0,
        StatusCode::NOT_FOUND
    );
    // The id of another kind's job is not found under this kind.
    assert_eq!(
        api.get(&format!("/tasks/project.link_check/{id}")).await.0,
        StatusCode::FORBIDDEN
    );

    let when = api
        .request(
            reqwest::Method::POST,
            "/tasks/link_check?when=2031-01-01T10:00:00%2B02:00",
        )
        .json(&url_task(2));
    let (status, body) = api.send(when).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(body["task"]["run_at"], "2031-01-01T08:00:00Z");
}

#[tokio::test]
async fn bad_requests_name_the_field_and_leave_no_row() {
    let app = TestApp::spawn().await;
    let api = Api::new(&app, &app.api_token(&["*:admin"]).await);
    let cases: Vec<(&str, RequestBuilder, StatusCode, Option<&str>)> = vec![
        (
            "bad delay",
            api.request(reqwest::Method::POST, "/tasks/link_check?delay=soon")
                .json(&url_task(1)),
            StatusCode::BAD_REQUEST,
            Some("delay"),
        ),
        (
            "bare number (AWSuper's milliseconds)",
            api.request(reqwest::Method::POST, "/tasks/link_check?delay=5000")
                .json(&url_task(1)),
            StatusCode::BAD_REQUEST,
            Some("delay"),
        ),
        (
            "local when",
            api.request(
                reqwest::Method::POST,
                "/tasks/link_check?when=2031-01-01T10:00:00",
            )
            .json(&url_task(1)),
            StatusCode::BAD_REQUEST,
            Some("when"),
        ),
        (
            "both",
            api.request(
                reqwest::Method::POST,
                "/tasks/link_check?delay=1s&when=2031-01-01T10:00:00Z",
            )
            .json(&url_task(1)),
            StatusCode::BAD_REQUEST,
            Some("when"),
        ),
        (
            "long idempotency key",
            api.request(reqwest::Method::POST, "/tasks/link_check")
                .header("idempotency-key", "k".repeat(300))
                .json(&url_task(1)),
            StatusCode::BAD_REQUEST,
            Some("Idempotency-Key"),
        ),
        (
            "not JSON",
            api.request(reqwest::Method::POST, "/tasks/link_check")
                .header("content-type", "application/json")
                .body("{\"url\": "),
            StatusCode::BAD_REQUEST,
            None,
        ),
        (
            "wrong type",
            api.request(reqwest::Method::POST, "/tasks/link_check")
                .json(&json!({ "url": 42 })),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("url"),
        ),
        (
            "not a URL",
            api.request(reqwest::Method::POST, "/tasks/link_check")
                .json(&json!({ "url": "ftp://files.example/" })),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("url"),
        ),
        (
            "unknown field",
            api.request(reqwest::Method::POST, "/tasks/link_check")
                .json(&json!({ "url": "https://a.example/", "extra": 1 })),
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
        ),
        (
            "NUL in the body",
            api.request(reqwest::Method::POST, "/tasks/link_check")
                .json(&json!({ "url": "https://a.example/\0" })),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("url"),
        ),
        (
            "NUL in a key",
            api.request(reqwest::Method::POST, "/tasks/link_check")
                .json(&json!({ "url\0": "https://a.example/" })),
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
        ),
        (
            "NUL in a filter",
            api.request(reqwest::Method::GET, "/tasks/link_check?args.url=%00"),
            StatusCode::BAD_REQUEST,
            Some("args.url"),
        ),
        (
            "internal kind",
            api.request(reqwest::Method::POST, "/tasks/email.drain")
                .json(&json!({})),
            StatusCode::NOT_FOUND,
            None,
        ),
    ];
    for (name, request, status, field) in cases {
        let (got, body) = api.send(request).await;
        assert_eq!(got, status, "{name}: {body}");
        assert!(body["error"]["code"].is_string(), "{name}: {body}");
        if let Some(field) = field {
            assert_eq!(body["error"]["field"], field, "{name}: {body}");
        }
    }
    assert_eq!(job_count(&app).await, 0, "a refused request left a row");
    // Internal jobs are not tasks, whatever the token's scopes.
    app.sql("INSERT INTO engine_jobs (kind, queue, args) VALUES ('email.drain', 'email', '{}')")
        .await;
    let id = app
        .scalar_i64("SELECT id FROM engine_jobs WHERE kind = 'email.drain'")
        .await;
    for (status, body) in [
        api.get(&format!("/tasks/email.drain/{id}")).await,
        api.delete(&format!("/tasks/email.drain/{id}")).await,
        api.get("/tasks/email.drain").await,
    ] {
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    }
    assert_eq!(
        app.scalar_string("SELECT state FROM engine_jobs WHERE kind = 'email.drain'")
            .await,
        "available"
    );
}

#[tokio::test]
async fn the_same_idempotency_key_gives_the_same_task_even_when_sent_at_once() {
    let app = TestApp::spawn().await;
    let api = Api::new(&app, &app.api_token(&["link_check:create"]).await);
    let send = |key: &'static str, body: Value| {
        api.send(
            api.request(reqwest::Method::POST, "/tasks/link_check")
                .header("idempotency-key", key)
                .json(&body),
        )
    };
    let answers =
        futures_util::future::join_all((0..12).map(|_| send("order-17", url_task(1)))).await;
    let ids: HashSet<i64> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, StatusCode::ACCEPTED, "{body}");
            body["task"]["id"].as_i64().unwrap()
        })
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(job_count(&app).await, 1);
    let (status, body) = send("order-17", url_task(2)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, other) = send("order-18", url_task(2)).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert!(!ids.contains(&other["task"]["id"].as_i64().unwrap()));
}

/// `count` tasks whose ids, priorities and states vary.
async fn tasks_in_states(app: &TestApp, api: &Api<'_>, count: usize) -> Vec<i64> {
    let mut ids = Vec::new();
    for n in 0..count {
        let (_, body) = api.post("/tasks/link_check?delay=1h", url_task(n)).await;
        ids.push(body["task"]["id"].as_i64().unwrap());
    }
    // States set by hand, and counted as the engine's own statements count theirs (the kept
    // counts answer lists filtered by state).
    app.sql(
        "WITH before AS (
             SELECT id, queue, kind, state FROM engine_jobs WHERE kind = 'link_check' FOR UPDATE),
         changed AS (
             UPDATE engine_jobs j SET priority = (j.id % 3) + 1,
                    state = CASE j.id % 3 WHEN 0 THEN 'completed' WHEN 1 THEN 'failed' ELSE j.state END,
                    finished_at = CASE WHEN j.id % 3 IN (0, 1) THEN now() END
               FROM before b WHERE j.id = b.id
             RETURNING j.id, j.state)
         SELECT engine_count_moves(array_agg(b.queue), array_agg(b.kind), array_agg(b.state),
                                   array_agg(c.state))
           FROM changed c JOIN before b USING (id)",
    )
    .await;
    ids
}

fn ids_of(page: &Value) -> Vec<i64> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn the_query_language_filters_ors_sorts_and_pages() {
    let app = TestApp::spawn().await;
    let api = Api::new(&app, &app.api_token(&["link_check:admin"]).await);
    let ids = tasks_in_states(&app, &api, 25).await;
    let (status, all) = api.get("/tasks/link_check").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(all["num_found"], 25);
    assert_eq!(ids_of(&all).len(), 10, "the default limit");

    let done = |id: &i64| id % 3 == 0 || id % 3 == 1;
    let (_, either) = api
        .get("/tasks/link_check?state=completed&state=failed&limit=100")
        .await;
    let expected: Vec<i64> = ids.iter().rev().copied().filter(done).collect();
    assert_eq!(ids_of(&either), expected, "OR over repeated keys");
    assert_eq!(either["num_found"], expected.len());

    let (_, ranged) = api
        .get(&format!(
            "/tasks/link_check?id%5Bmin%5D={}&id%5Bmax%5D={}&sort%5Bid%5D=asc&limit=100",
            ids[5], ids[9]
        ))
        .await;
    assert_eq!(ids_of(&ranged), ids[5..=9].to_vec());

    let (_, by_priority) = api
        .get("/tasks/link_check?sort%5Bpriority%5D=desc&limit=100")
        .await;
    let priorities: Vec<i64> = by_priority["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["priority"].as_i64().unwrap())
        .collect();
    assert!(
        priorities.windows(2).all(|w| w[0] >= w[1]),
        "{priorities:?}"
    );

    let (_, exact) = api
        .get("/tasks/link_check?args.url=https%3A%2F%2Fsite3.example%2F")
        .await;
    assert_eq!(ids_of(&exact), vec![ids[3]]);

    // Keyset pages: every task once, in order, whatever the sort.
    for sort in [
        "sort%5Bpriority%5D=asc",
        "sort%5Bcreated_at%5D=desc",
        "sort%5Bid%5D=asc",
    ] {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/tasks/link_check?{sort}&limit=4");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let (status, page) = api.get(&path).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            seen.extend(ids_of(&page));
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        let unique: HashSet<i64> = seen.iter().copied().collect();
        assert_eq!((seen.len(), unique.len()), (25, 25), "{sort}: {seen:?}");
    }

    for bad in [
        "password=1",
        "priority=high",
        "limit=500",
        "sort%5Bargs%5D=asc",
        "cursor=garbage",
        "created_at%5Bmin%5D=yesterday",
    ] {
        let (status, body) = api.get(&format!("/tasks/link_check?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"]["field"].is_string(), "{bad}: {body}");
    }
}

async fn mintbean(app: &TestApp, args: &[&str]) -> String {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_mintbean"))
        .args(args)
        .env("DATABASE_URL", crate::helpers::database_url(&app.db_name))
        .env("APP_ENV", "test")
        .env("RUST_LOG", "warn")
        .current_dir(std::env::temp_dir())
        .output()
        .await
        .expect("run mintbean");
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test]
async fn tokens_from_the_command_line_work_until_revoked() {
    let app = TestApp::spawn().await;
    let created = mintbean(
        &app,
        &[
            "tokens",
            "create",
            "--name",
            "ci",
            "--scope",
            "link_check:read",
            "--expires",
            "1d",
        ],
    )
    .await;
    let token = created
        .lines()
        .find(|line| line.starts_with("mbt_"))
        .expect("the token")
        .to_owned();
    let id = created.split_whitespace().nth(2).unwrap().to_owned();
    let api = Api::new(&app, &token);
    assert_eq!(api.get("/tasks/link_check").await.0, StatusCode::OK);
    let listed = mintbean(&app, &["tokens", "list"]).await;
    assert!(
        listed.contains(&token[..12]) && listed.contains("expires"),
        "{listed}"
    );
    assert!(!listed.contains(&token), "the list shows a whole token");
    mintbean(&app, &["tokens", "revoke", &id]).await;
    assert_eq!(
        api.get("/tasks/link_check").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert!(
        mintbean(&app, &["tokens", "list"])
            .await
            .contains("revoked")
    );
}

#[tokio::test]
async fn a_client_sees_searches_and_cancels_only_its_own_tasks() {
    let app = TestApp::spawn().await;
    let scopes = ["link_check:create", "link_check:read", "link_check:cancel"];
    let alice = Api::new(&app, &app.api_token(&scopes).await);
    let bob = Api::new(&app, &app.api_token(&scopes).await);
    let operator = Api::new(&app, &app.api_token(&["link_check:admin"]).await);

    let (status, mine) = alice.post("/tasks/link_check?delay=10m", url_task(7)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{mine}");
    let alices = mine["task"]["id"].as_i64().unwrap();
    // The same URL from another client: its own task, never Alice's id or creator.
    let (status, theirs) = bob.post("/tasks/link_check?delay=10m", url_task(7)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{theirs}");
    let bobs = theirs["task"]["id"].as_i64().unwrap();
    assert_ne!(alices, bobs);
    assert_ne!(theirs["task"]["created_by"], mine["task"]["created_by"]);
    // Alice again with the same URL: her own live task.
    let (_, again) = alice.post("/tasks/link_check?delay=10m", url_task(7)).await;
    assert_eq!(again["task"]["id"].as_i64(), Some(alices));

    let (status, body) = bob.get(&format!("/tasks/link_check/{alices}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = bob.delete(&format!("/tasks/link_check/{alices}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, page) = bob.get("/tasks/link_check").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(ids_of(&page), [bobs]);
    assert_eq!(page["num_found"], 1);

    let (_, page) = operator.get("/tasks/link_check").await;
    let mut all = ids_of(&page);
    all.sort();
    assert_eq!(all, [alices, bobs]);
    let (status, _) = operator.get(&format!("/tasks/link_check/{alices}")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = alice.delete(&format!("/tasks/link_check/{alices}")).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_crafted_cursor_is_a_bad_request_and_a_given_one_pages_on() {
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
    let app = TestApp::spawn().await;
    let api = Api::new(&app, &app.api_token(&["link_check:admin"]).await);
    for n in 0..3 {
        let (status, _) = api.post("/tasks/link_check?delay=10m", url_task(n)).await;
        assert_eq!(status, StatusCode::ACCEPTED);
    }
    for sort in ["id", "created_at", "run_at", "priority", "attempt"] {
        let first = format!("/tasks/link_check?limit=1&sort[{sort}]=asc");
        let (status, page) = api.get(&first).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let cursor = page["next_cursor"]
            .as_str()
            .expect("a next page")
            .to_owned();
        let (status, next) = api.get(&format!("{first}&cursor={cursor}")).await;
        assert_eq!(status, StatusCode::OK, "{sort}: {next}");
        assert_ne!(ids_of(&next), ids_of(&page));
        let crafted = URL_SAFE_NO_PAD.encode(json!({ "v": "1e999x", "id": 1 }).to_string());
        let (status, body) = api.get(&format!("{first}&cursor={crafted}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{sort}: {body}");
        assert_eq!(body["error"]["field"], "cursor");
    }
}

#[tokio::test]
async fn a_delayed_create_retried_with_its_key_answers_the_same_task() {
    let app = TestApp::spawn().await;
    let api = Api::new(&app, &app.api_token(&["link_check:create"]).await);
    let send = |path: &'static str| {
        api.send(
            api.request(reqwest::Method::POST, path)
                .header("idempotency-key", "delayed-1")
                .json(&url_task(1)),
        )
    };
    let (status, first) = send("/tasks/link_check?delay=10m").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let (status, again) = send("/tasks/link_check?delay=10m").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{again}");
    assert_eq!(first["task"]["id"], again["task"]["id"]);
    assert_eq!(first["task"]["run_at"], again["task"]["run_at"]);
    let (status, body) = send("/tasks/link_check?delay=20m").await;
    assert_eq!(status, StatusCode::CONFLICT, "a different request: {body}");
}

#[tokio::test]
async fn an_awsuper_client_filters_by_its_model_fields_and_pages() {
    let app = TestApp::spawn().await;
    let api = Api::new(&app, &app.api_token(&["link_check:admin"]).await);
    let mut ids = Vec::new();
    for n in 0..5 {
        let (status, created) = api.post("/tasks/link_check?delay=10m", url_task(n)).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        ids.push(created["task"]["id"].as_i64().unwrap());
    }
    // `GET /tasks/<taskname>?key=value` on the task's model: its `url`.
    let (status, page) = api
        .get("/tasks/link_check?url=https://site3.example/")
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(ids_of(&page), [ids[3]]);
    // AWSuper's statuses and field names.
    let (status, page) = api
        .get("/tasks/link_check?status=PENDING&date_created[min]=2020-01-01")
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["num_found"], 5);
    let (_, none) = api.get("/tasks/link_check?status=COMPLETED").await;
    assert_eq!(none["num_found"], 0, "{none}");
    // Pages by number, beside cursors.
    let (_, first) = api
        .get("/tasks/link_check?limit=2&page=1&sort[id]=asc")
        .await;
    let (_, third) = api
        .get("/tasks/link_check?limit=2&page=3&sort[id]=asc")
        .await;
    assert_eq!(ids_of(&first), ids[0..2]);
    assert_eq!(ids_of(&third), ids[4..5]);
    let (status, body) = api.get("/tasks/link_check?page=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // An unknown name is still refused, not read as an argument.
    let (status, body) = api.get("/tasks/link_check?colour=red").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

/// A client written from AWSuper's README: `POST /tasks/<taskname>` with the model as JSON,
/// `GET /tasks/<taskname>/:id` until the task is done, `GET /tasks/<taskname>?key=value`, and
/// `DELETE /tasks/<taskname>/:id` to cancel, with `Authorization: Bearer` on every request. What
/// it reads follows the differences `docs/operations.md` lists (`task.id`, `task.state`).
#[tokio::test]
async fn an_awsuper_client_from_its_readme_creates_polls_searches_and_cancels() {
    let app = TestApp::spawn_with(&[("MOCK_MODE", "true")]).await;
    let api = Api::new(&app, &app.api_token(&["link_check:admin"]).await);
    let _worker = app.run_worker();

    let (status, created) = api.post("/tasks/link_check", url_task(1)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{created}");
    let id = created["task"]["id"].as_i64().expect("the created task");
    let done = crate::helpers::eventually(
        std::time::Duration::from_secs(20),
        "the task finished",
        || async {
            let (status, shown) = api.get(&format!("/tasks/link_check/{id}")).await;
            assert_eq!(status, StatusCode::OK, "{shown}");
            (shown["task"]["state"] == "completed").then_some(shown)
        },
    )
    .await;
    assert_eq!(done["task"]["result"], json!({ "mock": true }), "{done}");

    // AWSuper's delays are milliseconds: written so, they are kept; a bare number is refused
    // with the unit to add, not read as seconds.
    let (status, later) = api
        .post("/tasks/link_check?delay=60000ms", url_task(2))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{later}");
    let later_id = later["task"]["id"].as_i64().unwrap();
    let (status, refused) = api.post("/tasks/link_check?delay=5000", url_task(3)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert!(refused.to_string().contains("5000ms"), "{refused}");

    // `?key=value` on the model's fields and AWSuper's statuses.
    let (status, found) = api
        .get("/tasks/link_check?url=https://site2.example/&status=PENDING")
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(ids_of(&found), [later_id]);
    let (_, completed) = api.get("/tasks/link_check?status=COMPLETED").await;
    assert_eq!(ids_of(&completed), [id]);

    let (status, cancelled) = api.delete(&format!("/tasks/link_check/{later_id}")).await;
    assert_eq!(status, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["task"]["state"], "cancelled");
    let (_, listed) = api.get("/tasks/link_check?status=CANCELLED").await;
    assert_eq!(ids_of(&listed), [later_id]);
    assert_eq!(
        job_count(&app).await,
        2,
        "the refused request stored nothing"
    );
}
