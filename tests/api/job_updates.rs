//! `jobUpdates` over graphql-ws at `/graphql/ws`: a task's progress pushed while a separate
//! `jobs worker` process runs it, who may follow what, and admins following a kind.

use std::{process::Stdio, time::Duration};

use axum::{Router, routing::get};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream, connect_async,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

use crate::helpers::{JWT_SECRET, StoppedBackend, TestApp, listener_pid};
use crate::tasks::Api;

type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// A site whose page takes a while, so the check is seen running.
async fn slow_site() -> String {
    let router = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            "finally"
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/slow", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    url
}

async fn connect(app: &TestApp, cookie: Option<&str>) -> Socket {
    connect_to(&app.address, cookie).await
}

async fn connect_to(address: &str, cookie: Option<&str>) -> Socket {
    let url = format!("{}/graphql/ws", address.replacen("http", "ws", 1));
    let mut request = url.into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert(
        "sec-websocket-protocol",
        HeaderValue::from_static("graphql-transport-ws"),
    );
    if let Some(cookie) = cookie {
        headers.insert("cookie", HeaderValue::from_str(cookie).unwrap());
    }
    // A place may still be held for a moment by a socket the server is closing.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match connect_async(request.clone()).await {
            Ok((socket, _)) => return socket,
            Err(err) if std::time::Instant::now() > deadline => panic!("websocket: {err}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn next_message(socket: &mut Socket) -> Option<Value> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(20), socket.next())
            .await
            .expect("a message within 20 s")?;
        match message.ok()? {
            Message::Text(text) => return Some(serde_json::from_str(&text).unwrap()),
            Message::Close(_) => return None,
            _ => continue,
        }
    }
}

async fn send(socket: &mut Socket, message: Value) {
    socket
        .send(Message::Text(message.to_string().into()))
        .await
        .unwrap();
}

/// Connects and completes `connection_init`; `None` when the server refuses.
async fn init(app: &TestApp, cookie: Option<&str>, payload: Value) -> Option<Socket> {
    let mut socket = connect(app, cookie).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": payload }),
    )
    .await;
    match next_message(&mut socket).await {
        Some(m) if m["type"] == "connection_ack" => Some(socket),
        _ => None,
    }
}

async fn subscribe(socket: &mut Socket, id: &str, query: &str) {
    send(
        socket,
        json!({ "id": id, "type": "subscribe", "payload": { "query": query } }),
    )
    .await;
}

const FIELDS: &str = "id state attempt progress";

fn bearer(token: &str) -> Value {
    json!({ "authorization": format!("Bearer {token}") })
}

#[tokio::test]
async fn the_enqueuer_follows_progress_from_a_separate_worker_process_and_others_may_not() {
    let app = TestApp::spawn().await;
    let site = slow_site().await;
    let owner = app.api_token(&["link_check:admin"]).await;
    let api = Api::new(&app, &owner);
    let (_, created) = api.post("/tasks/link_check", json!({ "url": site })).await;
    let task = created["task"]["id"].as_i64().unwrap().to_string();

    assert!(
        init(&app, None, json!({})).await.is_none(),
        "anonymous connection accepted"
    );
    let bad = bearer("mbt_forged");
    assert!(
        init(&app, None, bad).await.is_none(),
        "forged token accepted"
    );
    let other = app.api_token(&["link_check:admin"]).await;
    let mut stranger = init(&app, None, bearer(&other)).await.expect("connected");
    let query = format!("subscription {{ jobUpdates(id: \"{task}\") {{ {FIELDS} }} }}");
    subscribe(&mut stranger, "1", &query).await;
    let refused = next_message(&mut stranger).await.expect("an answer");
    let errors = if refused["type"] == "error" {
        refused["payload"].clone()
    } else {
        refused["payload"]["errors"].clone()
    };
    assert_eq!(errors[0]["extensions"]["code"], "FORBIDDEN", "{refused}");

    let mut socket = init(&app, None, bearer(&owner)).await.expect("connected");
    subscribe(&mut socket, "1", &query).await;
    let first = next_message(&mut socket).await.unwrap();
    assert_eq!(
        first["payload"]["data"]["jobUpdates"]["state"], "available",
        "{first}"
    );

    let mut worker = crate::jobs::jobs(&app, "smtp://127.0.0.1:9", &["worker"])
        .env("LINK_CHECK_ALLOW_HOSTS", "127.0.0.1")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start jobs worker");
    let mut updates = Vec::new();
    while let Some(message) = next_message(&mut socket).await {
        if message["type"] == "complete" {
            break;
        }
        updates.push(message["payload"]["data"]["jobUpdates"].clone());
    }
    let _ = worker.kill().await;
    let running = updates
        .iter()
        .find(|u| u["state"] == "running" && u["progress"]["step"] == "requesting")
        .unwrap_or_else(|| panic!("no progress seen: {updates:?}"));
    assert_eq!(running["attempt"], 1);
    assert_eq!(updates.last().unwrap()["state"], "completed", "{updates:?}");
}

#[tokio::test]
async fn an_admin_follows_every_job_of_a_kind_with_the_session_cookie() {
    // A subscription outlives the keep-alive timeout of idle HTTP connections.
    let app = TestApp::spawn_with(&[("HTTP_KEEP_ALIVE_TIMEOUT_SECS", "1")]).await;
    let admin = app.create_user("boss@example.com", true).await;
    let session =
        mintbean_core::auth::token::issue(admin, true, JWT_SECRET, chrono::Utc::now()).unwrap();
    let cookie = format!("jwt={session}");
    let mut socket = init(&app, Some(&cookie), json!({}))
        .await
        .expect("connected");
    let query = format!("subscription {{ jobUpdates(kind: \"link_check\") {{ {FIELDS} kind }} }}");
    subscribe(&mut socket, "7", &query).await;
    // Idle for longer than the keep-alive, then a job arrives.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let api = Api::new(&app, &app.api_token(&["link_check:create"]).await);
    let (_, created) = api
        .post("/tasks/link_check", json!({ "url": "https://a.example/" }))
        .await;
    let update = next_message(&mut socket).await.unwrap();
    let job = &update["payload"]["data"]["jobUpdates"];
    assert_eq!(
        job["id"],
        created["task"]["id"].as_i64().unwrap().to_string()
    );
    assert_eq!(job["state"], "available");
    assert_eq!(job["kind"], "link_check");

    // A user who is not an admin sees only jobs they created. Subscribing completes
    // asynchronously: the user's own jobs are added until one is seen, then someone else's job
    // and a last own one; every update before that last one must be the user's.
    let user = app.create_user("someone@example.com", false).await;
    let session =
        mintbean_core::auth::token::issue(user, false, JWT_SECRET, chrono::Utc::now()).unwrap();
    let mut socket = init(&app, Some(&format!("jwt={session}")), json!({}))
        .await
        .expect("connected");
    subscribe(&mut socket, "1", &query).await;
    let own_job = || async {
        app.scalar_i64(&format!(
            "SELECT id FROM engine_add_jobs(jsonb_build_array(jsonb_build_object(
                 'kind', 'link_check', 'args', '{{\"url\": \"https://own.example/\"}}'::jsonb,
                 'created_by', 'user:{user}')))"
        ))
        .await
    };
    let updated_job = |message: Option<Value>| -> i64 {
        let message = message.expect("an update");
        let id = &message["payload"]["data"]["jobUpdates"]["id"];
        id.as_str()
            .unwrap_or_else(|| panic!("{message}"))
            .parse()
            .unwrap()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        own_job().await;
        if let Ok(message) =
            tokio::time::timeout(Duration::from_millis(200), next_message(&mut socket)).await
        {
            updated_job(message);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the subscription never started"
        );
    }
    let (_, foreign) = api
        .post("/tasks/link_check", json!({ "url": "https://b.example/" }))
        .await;
    let foreign = foreign["task"]["id"].as_i64().unwrap();
    let last = own_job().await;
    loop {
        let seen = updated_job(next_message(&mut socket).await);
        assert_ne!(seen, foreign, "a user saw someone else's job");
        if seen == last {
            break;
        }
    }
}

#[tokio::test]
async fn a_follower_rereads_after_its_listener_went_quiet() {
    let app = TestApp::spawn().await;
    let admin = app.create_user("boss@example.com", true).await;
    let session =
        mintbean_core::auth::token::issue(admin, true, JWT_SECRET, chrono::Utc::now()).unwrap();
    let mut socket = init(&app, Some(&format!("jwt={session}")), json!({}))
        .await
        .expect("connected");
    let api = Api::new(&app, &app.api_token(&["link_check:create"]).await);
    let (_, created) = api
        .post(
            "/tasks/link_check?delay=1h",
            json!({ "url": "https://later.example/" }),
        )
        .await;
    let task = created["task"]["id"].as_i64().unwrap();
    let query = format!("subscription {{ jobUpdates(id: \"{task}\") {{ {FIELDS} }} }}");
    subscribe(&mut socket, "1", &query).await;
    let first = next_message(&mut socket).await.unwrap();
    assert_eq!(first["payload"]["data"]["jobUpdates"]["state"], "available");

    // The listener's backend freezes; the job changes meanwhile and its notification is lost
    // with the connection.
    let stalled = StoppedBackend::stop(listener_pid(&app, "job updates").await);
    app.sql(&format!(
        "UPDATE engine_jobs SET progress = '{{\"checked\": 7}}' WHERE id = {task};
         SELECT engine_notify_updates(ARRAY[{task}::bigint])"
    ))
    .await;
    let update = tokio::time::timeout(Duration::from_secs(5), next_message(&mut socket))
        .await
        .expect("the change is pushed once the listener is replaced")
        .unwrap();
    assert_eq!(
        update["payload"]["data"]["jobUpdates"]["progress"],
        json!({ "checked": 7 }),
        "{update}"
    );
    drop(stalled);
}

#[tokio::test]
async fn one_caller_holds_a_bounded_number_of_sockets_and_subscriptions() {
    let app = TestApp::spawn_with(&[
        ("WS_MAX_SOCKETS_PER_CALLER", "3"),
        ("WS_MAX_SUBSCRIPTIONS_PER_CALLER", "4"),
    ])
    .await;
    let token = app.api_token(&["link_check:read"]).await;
    let token_id = app
        .scalar_string("SELECT id::text FROM api_tokens ORDER BY created_at DESC LIMIT 1")
        .await;
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(
            init(&app, None, bearer(&token))
                .await
                .expect("under the cap"),
        );
    }
    assert!(
        init(&app, None, bearer(&token)).await.is_none(),
        "a fourth socket is refused"
    );
    // Another caller is not affected.
    let other = app.api_token(&["link_check:read"]).await;
    assert!(init(&app, None, bearer(&other)).await.is_some());

    let query = "subscription { jobUpdates(kind: \"link_check\") { id } }";
    for n in 0..4 {
        subscribe(&mut sockets[0], &format!("s{n}"), query).await;
    }
    // All four are live once each has passed on a job of the caller's.
    let mut live = std::collections::HashSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while live.len() < 4 {
        assert!(std::time::Instant::now() < deadline, "live: {live:?}");
        app.sql(&format!(
            "SELECT engine_add_jobs(jsonb_build_array(jsonb_build_object(
                 'kind', 'link_check', 'args', '{{\"url\": \"https://own.example/\"}}'::jsonb,
                 'created_by', 'token:{token_id}')))"
        ))
        .await;
        if let Ok(Some(message)) =
            tokio::time::timeout(Duration::from_millis(300), next_message(&mut sockets[0])).await
        {
            live.insert(message["id"].as_str().unwrap().to_owned());
        }
    }
    subscribe(&mut sockets[2], "over", query).await;
    let refused = next_message(&mut sockets[2]).await.unwrap();
    assert_eq!(refused["id"], "over", "{refused}");
    let errors = if refused["payload"].is_array() {
        &refused["payload"]
    } else {
        &refused["payload"]["errors"]
    };
    assert_eq!(
        errors[0]["extensions"]["code"], "TOO_MANY_REQUESTS",
        "{refused}"
    );
    // Closing a socket gives its place back.
    sockets.pop().unwrap().close(None).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while init(&app, None, bearer(&token)).await.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the place never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_socket_without_connection_init_is_closed_and_sockets_count_against_the_cap() {
    let app = TestApp::spawn_with(&[("HTTP_MAX_CONNECTIONS", "3")]).await;
    let started = std::time::Instant::now();
    let mut silent = connect(&app, None).await;
    assert_eq!(next_message(&mut silent).await, None, "closed");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_secs(9) && waited < Duration::from_secs(15),
        "{waited:?}"
    );

    drop(silent);
    let health = || {
        reqwest::Client::new()
            .get(format!("{}/health", app.address))
            .timeout(Duration::from_secs(5))
            .send()
    };
    let token = app.api_token(&["link_check:read"]).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(init(&app, None, bearer(&token)).await.expect("connected"));
    }
    // Three busy connections: a fourth is turned away instead of the sockets being ignored.
    let refused = health().await;
    assert!(refused.is_err(), "{refused:?}");
    drop(open);
}

#[tokio::test]
async fn shutdown_closes_open_sockets_and_waits_for_them() {
    let app = TestApp::spawn().await;
    let (mut server, graphql) = crate::answer_cache::server_process(&app).await;
    let address = graphql.trim_end_matches("/graphql").to_owned();
    let token = app.api_token(&["link_check:read"]).await;
    let mut socket = connect_to(&address, None).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": bearer(&token) }),
    )
    .await;
    assert_eq!(
        next_message(&mut socket).await.unwrap()["type"],
        "connection_ack"
    );
    let pid = server.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    // Told to go (1001), not cut off; the server then exits without waiting out its grace.
    let closed = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a close within 5 s");
    match closed {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1001),
        other => panic!("{other:?}"),
    }
    drop(socket);
    let status = tokio::time::timeout(Duration::from_secs(10), server.wait())
        .await
        .expect("exited within 10 s")
        .unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn followers_share_one_read_per_change() {
    let app = TestApp::spawn().await;
    let (_server, graphql) = crate::answer_cache::server_process(&app).await;
    let address = graphql.trim_end_matches("/graphql").to_owned();
    let admin = app.create_user("boss@example.com", true).await;
    let session =
        mintbean_core::auth::token::issue(admin, true, JWT_SECRET, chrono::Utc::now()).unwrap();
    let mut socket = connect_to(&address, Some(&format!("jwt={session}"))).await;
    send(
        &mut socket,
        json!({ "type": "connection_init", "payload": {} }),
    )
    .await;
    assert_eq!(
        next_message(&mut socket).await.unwrap()["type"],
        "connection_ack"
    );
    let followers = 10;
    let query = "subscription { jobUpdates(kind: \"link_check\") { id } }";
    for n in 0..followers {
        subscribe(&mut socket, &format!("f{n}"), query).await;
    }
    let add_job = || {
        app.sql(
            "SELECT engine_add_jobs(jsonb_build_array(jsonb_build_object(
                 'kind', 'link_check', 'args', '{\"url\": \"https://a.example/\"}'::jsonb,
                 'run_at', now() + interval '1 hour')))",
        )
    };
    // Every follower is live once each has passed on a change.
    let mut live = std::collections::HashSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while live.len() < followers {
        assert!(std::time::Instant::now() < deadline, "live: {live:?}");
        add_job().await;
        while let Ok(Some(message)) =
            tokio::time::timeout(Duration::from_millis(300), next_message(&mut socket)).await
        {
            live.insert(message["id"].as_str().unwrap().to_owned());
        }
    }
    let reads = || async {
        let text = reqwest::get(format!("{address}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|line| line.strip_prefix("engine_job_update_reads_total "))
            .expect("the reads counter")
            .parse::<u64>()
            .unwrap()
    };
    let before = reads().await;
    add_job().await;
    let mut told = 0;
    while told < followers {
        let message = tokio::time::timeout(Duration::from_secs(5), next_message(&mut socket))
            .await
            .expect("every follower is told")
            .unwrap();
        assert_eq!(message["type"], "next", "{message}");
        told += 1;
    }
    let read = reads().await - before;
    assert!(read <= 2, "{followers} followers, {read} reads");
}
