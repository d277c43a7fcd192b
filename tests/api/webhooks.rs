//! Outgoing webhooks against a local receiver: signatures checked with an implementation of the
//! Standard Webhooks algorithm written here (HMAC-SHA256 built from SHA-256), retries with the
//! same id after a 500, no retry after 410 or 400, the Koalati form, the delivery log, and
//! destinations refused at registration.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{TestApp, error_code, error_field, eventually};
use crate::tasks::Api;

const HANG: u16 = 0;

#[derive(Clone, Debug)]
struct Received {
    headers: HeaderMap,
    body: Bytes,
}

/// Answers each request with the next status of its script (the last one repeats); `HANG`
/// answers 200 only after ten seconds.
#[derive(Clone)]
struct Receiver {
    script: Arc<Mutex<VecDeque<u16>>>,
    received: Arc<Mutex<Vec<Received>>>,
}

async fn receive(State(receiver): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    receiver
        .received
        .lock()
        .unwrap()
        .push(Received { headers, body });
    let status = {
        let mut script = receiver.script.lock().unwrap();
        if script.len() > 1 {
            script.pop_front().unwrap()
        } else {
            script[0]
        }
    };
    if status == HANG {
        tokio::time::sleep(Duration::from_secs(10)).await;
        return StatusCode::OK;
    }
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    async fn start(script: &[u16]) -> (Receiver, String) {
        let receiver = Receiver {
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            received: Arc::default(),
        };
        let router = Router::new()
            .route("/hook", post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        (receiver, url)
    }

    fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    async fn wait_for(&self, count: usize) -> Vec<Received> {
        for _ in 0..200 {
            if self.received().len() >= count {
                return self.received();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {count} deliveries, got {}", self.received().len());
    }
}

/// HMAC-SHA256 (RFC 2104) from SHA-256 alone.
fn hmac_sha256(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .to_vec()
}

/// The Standard Webhooks check: `v1,` base64 HMAC of `id.timestamp.body` with the secret's bytes,
/// and a timestamp within five minutes.
fn verify(secret: &str, delivery: &Received) -> bool {
    let header = |name: &str| delivery.headers[name].to_str().unwrap().to_owned();
    let (id, timestamp) = (header("webhook-id"), header("webhook-timestamp"));
    let age = chrono::Utc::now().timestamp() - timestamp.parse::<i64>().unwrap();
    let key = BASE64
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(&delivery.body);
    let expected = format!("v1,{}", BASE64.encode(hmac_sha256(&key, &signed)));
    age.abs() < 300
        && header("webhook-signature")
            .split(' ')
            .any(|signature| signature == expected)
}

const ADD: &str = "mutation($url: String!, $events: [String!], $format: WebhookFormat) {
    addWebhookEndpoint(url: $url, events: $events, format: $format) {
        secret endpoint { id url events format enabled }
    }
}";

async fn add_endpoint(
    app: &TestApp,
    admin: &reqwest::Client,
    url: &str,
    format: &str,
) -> (String, String) {
    let body = app
        .gql_with(
            admin,
            ADD,
            json!({ "url": url, "events": ["task.succeeded"], "format": format }),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let added = &body["data"]["addWebhookEndpoint"];
    (
        added["endpoint"]["id"].as_str().unwrap().to_owned(),
        added["secret"].as_str().unwrap().to_owned(),
    )
}

fn webhook_app_settings() -> [(&'static str, &'static str); 2] {
    // Mock mode: link checks succeed at once; deliveries are real.
    [("WEBHOOK_ALLOW_HOSTS", "127.0.0.1"), ("MOCK_MODE", "true")]
}

async fn create_task(app: &TestApp) -> i64 {
    let api = Api::new(app, &app.api_token(&["link_check:create"]).await);
    let (status, body) = api
        .post(
            "/tasks/link_check",
            json!({ "url": "https://site.example/" }),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::ACCEPTED, "{body}");
    body["task"]["id"].as_i64().unwrap()
}

#[tokio::test]
async fn a_delivery_is_signed_and_retried_with_the_same_id_until_accepted() {
    let app = TestApp::spawn_with(&webhook_app_settings()).await;
    let (_, admin) = app.admin_client().await;
    let (receiver, url) = Receiver::start(&[500, 200]).await;
    let (endpoint, secret) = add_endpoint(&app, &admin, &url, "JSON").await;
    assert!(secret.starts_with("whsec_"));
    let _worker = app.run_worker();
    let task = create_task(&app).await;

    let deliveries = receiver.wait_for(2).await;
    let id = |d: &Received| d.headers["webhook-id"].to_str().unwrap().to_owned();
    assert_eq!(
        id(&deliveries[0]),
        id(&deliveries[1]),
        "a retry keeps its id"
    );
    for delivery in &deliveries {
        assert!(verify(&secret, delivery), "bad signature: {delivery:?}");
        assert_eq!(delivery.headers["content-type"], "application/json");
        let event: Value = serde_json::from_slice(&delivery.body).unwrap();
        assert_eq!(event["type"], "task.succeeded");
        assert_eq!(event["id"], id(delivery));
        assert_eq!(event["data"]["id"], task);
        assert_eq!(event["data"]["kind"], "link_check");
        assert_eq!(event["data"]["result"], json!({ "mock": true }));
    }
    // A tampered body does not verify.
    let mut forged = deliveries[0].clone();
    forged.body = Bytes::from(
        deliveries[0]
            .body
            .iter()
            .rev()
            .copied()
            .collect::<Vec<u8>>(),
    );
    assert!(!verify(&secret, &forged));

    // The receiver has the body before the worker records the answer.
    let log = eventually(Duration::from_secs(10), "the delivery is recorded", || async {
        let log = app
            .gql_with(
                &admin,
                "{ webhookEndpoints { id deliveries { eventType taskId state attempts lastError } } }",
                json!({}),
            )
            .await;
        let state = &log["data"]["webhookEndpoints"][0]["deliveries"][0]["state"];
        (state == "completed").then_some(log)
    })
    .await;
    let delivery = &log["data"]["webhookEndpoints"][0]["deliveries"][0];
    assert_eq!(log["data"]["webhookEndpoints"][0]["id"], endpoint.as_str());
    assert_eq!(delivery["state"], "completed", "{log}");
    assert_eq!(delivery["attempts"], 2);
    assert_eq!(delivery["taskId"], task.to_string());
    assert!(delivery["lastError"].as_str().unwrap().contains("500"));
    assert_eq!(receiver.received().len(), 2, "delivered once accepted");
}

#[tokio::test]
async fn a_receiver_that_never_answers_times_out_and_is_tried_again() {
    let app = TestApp::spawn_with(&[
        webhook_app_settings()[0],
        webhook_app_settings()[1],
        ("WEBHOOK_TIMEOUT_SECS", "1"),
    ])
    .await;
    let (_, admin) = app.admin_client().await;
    let (receiver, url) = Receiver::start(&[HANG, 200]).await;
    add_endpoint(&app, &admin, &url, "JSON").await;
    let _worker = app.run_worker();
    create_task(&app).await;
    let started = std::time::Instant::now();
    receiver.wait_for(2).await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the hung try was not cut off"
    );
    let delivery = eventually(
        Duration::from_secs(10),
        "the delivery is recorded",
        || async {
            let delivery = app
            .scalar_string(
                "SELECT state || ' ' || attempt || ' ' || coalesce(last_error, '') FROM engine_jobs
                  WHERE kind = 'engine.webhook'",
            )
            .await;
            delivery.starts_with("completed ").then_some(delivery)
        },
    )
    .await;
    assert!(delivery.starts_with("completed 2 "), "{delivery}");
    assert!(delivery.contains("timed out"), "{delivery}");
}

#[tokio::test]
async fn gone_and_bad_request_answers_are_final() {
    let app = TestApp::spawn_with(&webhook_app_settings()).await;
    let (_, admin) = app.admin_client().await;
    let (gone, gone_url) = Receiver::start(&[410]).await;
    let (refusing, refusing_url) = Receiver::start(&[400]).await;
    add_endpoint(&app, &admin, &gone_url, "JSON").await;
    add_endpoint(&app, &admin, &refusing_url, "JSON").await;
    let _worker = app.run_worker();
    create_task(&app).await;
    gone.wait_for(1).await;
    refusing.wait_for(1).await;
    // Longer than the first retry's delay could be (1.5 s).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(gone.received().len(), 1, "a 410 was retried");
    assert_eq!(refusing.received().len(), 1, "a 400 was retried");
    let states = app
        .scalar_string(
            "SELECT string_agg(state, ',' ORDER BY id) FROM engine_jobs WHERE kind = 'engine.webhook'",
        )
        .await;
    assert_eq!(states, "discarded,discarded");
    // Each endpoint's log holds its own delivery (both loaded in one batch).
    let log = app
        .gql_with(
            &admin,
            "{ webhookEndpoints { url deliveries(limit: 5) { state attempts lastError } } }",
            json!({}),
        )
        .await;
    let endpoints = log["data"]["webhookEndpoints"].as_array().unwrap().clone();
    assert_eq!(endpoints.len(), 2, "{log}");
    for (endpoint, status) in endpoints.iter().zip(["410", "400"]) {
        let deliveries = endpoint["deliveries"].as_array().unwrap();
        assert_eq!(deliveries.len(), 1, "{log}");
        assert_eq!(deliveries[0]["state"], "discarded");
        assert!(
            deliveries[0]["lastError"]
                .as_str()
                .unwrap()
                .contains(status),
            "{log}"
        );
    }
}

#[tokio::test]
async fn a_koalati_endpoint_gets_the_form_encoded_payload() {
    let app = TestApp::spawn_with(&webhook_app_settings()).await;
    let (_, admin) = app.admin_client().await;
    let (receiver, url) = Receiver::start(&[200]).await;
    let (_, secret) = add_endpoint(&app, &admin, &url, "KOALATI_FORM").await;
    let _worker = app.run_worker();
    let task = create_task(&app).await;
    let delivery = receiver.wait_for(1).await.remove(0);
    assert!(verify(&secret, &delivery));
    assert_eq!(
        delivery.headers["content-type"],
        "application/x-www-form-urlencoded"
    );
    let (key, payload) = url::form_urlencoded::parse(&delivery.body).next().unwrap();
    assert_eq!(key, "payload");
    let payload: Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["type"], "toolSuccess");
    assert_eq!(payload["success"], true);
    assert_eq!(payload["request"]["id"], task);
    assert_eq!(payload["request"]["url"], "https://site.example/");
    assert_eq!(payload["request"]["tool"], "link_check");
    assert_eq!(payload["results"], json!({ "mock": true }));
}

#[tokio::test]
async fn private_and_odd_destinations_are_refused_at_registration() {
    let app = TestApp::spawn().await;
    let (_, admin) = app.admin_client().await;
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost:9/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://0.0.0.0/hook",
        "file:///etc/passwd",
        "gopher://example.com/",
        "not a url",
    ] {
        let body = app.gql_with(&admin, ADD, json!({ "url": url })).await;
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{url}: {body}");
        assert_eq!(error_field(&body), "url", "{url}: {body}");
    }
    let (_, user) = app.user_client("someone@example.com").await;
    let body = app
        .gql_with(&user, ADD, json!({ "url": "https://hooks.example/" }))
        .await;
    assert_eq!(error_code(&body), "FORBIDDEN");
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM engine_webhook_endpoints")
            .await,
        0
    );
}
