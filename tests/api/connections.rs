//! The connection loop under hoarding (idle and slow-header connections), keep-alive, and a
//! database outage: bounded, on loopback.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::future::join_all;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::broadcast,
    time::timeout,
};

use crate::helpers::{TestApp, admin_url, data, database_url, error_code, new_client};

fn socket_address(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Whether the server closes (or answers and closes) `stream` within `limit`.
async fn closed_by_server(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue, // e.g. a 408 before the close
            Err(_) => return false,
        }
    }
}

async fn ordinary_request_works(app: &TestApp) -> Duration {
    let started = Instant::now();
    let body: Value = new_client()
        .post(app.graphql_url())
        .json(&json!({ "query": "{ meets { id } }" }))
        .send()
        .await
        .expect("an ordinary request gets through")
        .json()
        .await
        .unwrap();
    data(&body);
    started.elapsed()
}

#[tokio::test]
async fn hoarded_idle_connections_cannot_lock_out_ordinary_requests() {
    let app = TestApp::spawn_with(&[
        ("HTTP_MAX_CONNECTIONS", "50"),
        ("HTTP_KEEP_ALIVE_TIMEOUT_SECS", "60"),
        ("HTTP_HEADER_READ_TIMEOUT_SECS", "60"),
    ])
    .await;
    let address = socket_address(&app);
    let mut hoard = Vec::new();
    for _ in 0..300 {
        hoard.push(TcpStream::connect(&address).await.unwrap());
    }
    let took = ordinary_request_works(&app).await;
    assert!(took < Duration::from_secs(3), "{took:?}");
    let closed = join_all(
        hoard
            .iter_mut()
            .map(|stream| closed_by_server(stream, Duration::from_secs(2))),
    )
    .await
    .into_iter()
    .filter(|closed| *closed)
    .count();
    // At most the cap (plus connections on their way out) stays open.
    assert!(
        closed >= 300 - 80,
        "only {closed} of 300 hoarded connections were closed"
    );
}

#[tokio::test]
async fn slow_headers_are_cut_off() {
    let app = TestApp::spawn_with(&[
        ("HTTP_HEADER_READ_TIMEOUT_SECS", "1"),
        ("HTTP_KEEP_ALIVE_TIMEOUT_SECS", "60"),
    ])
    .await;
    let address = socket_address(&app);
    let started = Instant::now();
    let slow = (0..100).map(|_| {
        let address = address.clone();
        async move {
            let stream = TcpStream::connect(&address).await.unwrap();
            let (mut reader, mut writer) = stream.into_split();
            let trickle = async move {
                let _ = writer
                    .write_all(b"POST /graphql HTTP/1.1\r\nHost: mintbean\r\nX-Slow: ")
                    .await;
                loop {
                    if writer.write_all(b"a").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            };
            let mut buffer = [0u8; 256];
            let cut = async {
                loop {
                    match reader.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
            };
            tokio::select! {
                _ = trickle => {},
                _ = cut => {},
            }
            Instant::now()
        }
    });
    let (cut_at, took) = tokio::join!(timeout(Duration::from_secs(6), join_all(slow)), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        ordinary_request_works(&app).await
    });
    let cut_at = cut_at.expect("every slow connection is cut off");
    let last = cut_at.iter().max().unwrap().duration_since(started);
    assert!(last < Duration::from_secs(4), "{last:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[tokio::test]
async fn keep_alive_and_header_timeouts_are_separate() {
    let app = TestApp::spawn_with(&[
        ("HTTP_HEADER_READ_TIMEOUT_SECS", "1"),
        ("HTTP_KEEP_ALIVE_TIMEOUT_SECS", "2.5"),
    ])
    .await;
    // A connection that never sends a request is gone after the header timeout.
    let mut silent = TcpStream::connect(socket_address(&app)).await.unwrap();
    let opened = Instant::now();
    assert!(closed_by_server(&mut silent, Duration::from_secs(3)).await);
    let waited = opened.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(2),
        "{waited:?}"
    );

    // After a request, a connection may idle for the (longer) keep-alive timeout.
    let mut stream = TcpStream::connect(socket_address(&app)).await.unwrap();
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: mintbean\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = vec![0u8; 4096];
    let read = stream.read(&mut buffer).await.unwrap();
    let answer = String::from_utf8_lossy(&buffer[..read]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let idle_from = Instant::now();
    assert!(!closed_by_server(&mut stream, Duration::from_millis(1800)).await);
    // Still usable, and then closed once idle for the keep-alive timeout.
    stream
        .write_all(b"GET /health HTTP/1.1\r\nHost: mintbean\r\n\r\n")
        .await
        .unwrap();
    let read = stream.read(&mut buffer).await.unwrap();
    assert!(String::from_utf8_lossy(&buffer[..read]).starts_with("HTTP/1.1 200"));
    let idle_from_again = Instant::now();
    assert!(closed_by_server(&mut stream, Duration::from_secs(4)).await);
    let idle = idle_from_again.elapsed();
    assert!(
        idle >= Duration::from_millis(2400),
        "{idle:?} (first idle {:?})",
        idle_from.elapsed()
    );
}

#[tokio::test]
async fn a_trickled_body_times_out() {
    let app = TestApp::spawn_with(&[("REQUEST_TIMEOUT_SECS", "1")]).await;
    let mut stream = TcpStream::connect(socket_address(&app)).await.unwrap();
    stream
        .write_all(
            b"POST /graphql HTTP/1.1\r\nHost: mintbean\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n{",
        )
        .await
        .unwrap();
    let started = Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    let trickle = tokio::spawn(async move {
        while writer.write_all(b" ").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut answer = vec![0u8; 4096];
    let read = timeout(Duration::from_secs(5), reader.read(&mut answer))
        .await
        .expect("an answer before the body is complete")
        .unwrap();
    trickle.abort();
    let answer = String::from_utf8_lossy(&answer[..read]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"TIMEOUT\""), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// A TCP proxy in front of PostgreSQL that can be taken down (its connections cut, new ones
/// refused) and brought back, like a database restart.
struct Proxy {
    address: SocketAddr,
    up: Arc<AtomicBool>,
    cut: broadcast::Sender<()>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let (cut, _) = broadcast::channel(4);
        let (accepting, cutter) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is closed at once
                }
                let mut cut = cutter.subscribe();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.recv() => {}
                    }
                });
            }
        });
        Proxy { address, up, cut }
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
        if !up {
            let _ = self.cut.send(());
        }
    }
}

#[tokio::test]
async fn a_database_outage_gets_fast_clean_errors_and_no_pile_up() {
    let app = TestApp::spawn().await;
    let cluster = url::Url::parse(&admin_url()).unwrap();
    let target: SocketAddr = format!(
        "{}:{}",
        cluster.host_str().unwrap(),
        cluster.port().unwrap_or(5432)
    )
    .parse()
    .unwrap();
    let proxy = Proxy::start(target).await;
    let mut proxied = url::Url::parse(&database_url(&app.db_name)).unwrap();
    proxied.set_port(Some(proxy.address.port())).unwrap();
    let proxied = proxied.to_string();
    let url = app
        .another_server(&[
            ("DATABASE_URL", proxied.as_str()),
            ("DB_ACQUIRE_TIMEOUT_SECS", "1"),
            ("MAX_CONCURRENT_REQUESTS", "4"),
            ("REQUEST_TIMEOUT_SECS", "10"),
        ])
        .await;
    let query = |url: String| async move {
        let started = Instant::now();
        let response = new_client()
            .post(url)
            .json(&json!({ "query": "{ meets { id } }" }))
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        (status, body, started.elapsed())
    };
    let (status, body, _) = query(url.clone()).await;
    assert_eq!(status, 200);
    data(&body);

    proxy.set_up(false);
    let answers = join_all((0..12).map(|_| query(url.clone()))).await;
    let mut busy = 0;
    for (status, body, took) in &answers {
        match error_code(body).as_str() {
            "SERVER_BUSY" => {
                busy += 1;
                assert_eq!(*status, 503);
                assert!(*took < Duration::from_millis(800), "{took:?}");
            }
            "SERVICE_UNAVAILABLE" => {
                assert!(*took < Duration::from_secs(4), "{took:?}");
                assert!(
                    body["errors"][0]["message"]
                        .as_str()
                        .unwrap()
                        .contains("database"),
                    "{body}"
                );
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert!(busy >= 6, "only {busy} of 12 were shed");

    proxy.set_up(true);
    let mut recovered = false;
    for _ in 0..20 {
        let (status, body, _) = query(url.clone()).await;
        if status == 200 && body["errors"].is_null() {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recovered, "the server did not recover after the outage");
}

/// A POST whose body trickles in a byte every half second, sent as if through a proxy for
/// `client`; the answer, or `None` while it is still waiting.
async fn trickle_post(app: &TestApp, client: &str) -> tokio::task::JoinHandle<String> {
    let mut stream = TcpStream::connect(socket_address(app)).await.unwrap();
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: mintbean\r\nContent-Type: application/json\r\n\
         X-Forwarded-For: {client}\r\nContent-Length: 1000\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    tokio::spawn(async move {
        let (mut reader, mut writer) = stream.into_split();
        let trickle = tokio::spawn(async move {
            while writer.write_all(b" ").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        });
        let mut answer = vec![0u8; 4096];
        let read = timeout(Duration::from_secs(20), reader.read(&mut answer))
            .await
            .map(|read| read.unwrap_or(0))
            .unwrap_or(0);
        trickle.abort();
        String::from_utf8_lossy(&answer[..read]).into_owned()
    })
}

#[tokio::test]
async fn one_client_trickling_bodies_cannot_hold_every_request_slot() {
    let app = TestApp::spawn_with(&[
        ("MAX_CONCURRENT_REQUESTS", "12"),
        ("MAX_CONCURRENT_REQUESTS_PER_CLIENT", "4"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("REQUEST_TIMEOUT_SECS", "30"),
    ])
    .await;
    let started = Instant::now();
    let mut hostile = Vec::new();
    for _ in 0..16 {
        hostile.push(trickle_post(&app, "203.0.113.66").await);
    }
    // Everyone else still gets in while the trickles are held.
    for _ in 0..5 {
        let response = new_client()
            .post(app.graphql_url())
            .header("x-forwarded-for", "198.51.100.7")
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let answers = join_all(hostile).await;
    let statuses: Vec<String> = answers
        .into_iter()
        .map(|answer| answer.unwrap().lines().next().unwrap_or("").to_owned())
        .collect();
    let busy = statuses.iter().filter(|s| s.contains(" 429")).count();
    let cut = statuses
        .iter()
        .filter(|s| s.contains(" 400") || s.contains(" 408"))
        .count();
    assert_eq!((busy, cut), (12, 4), "{statuses:?}");
    // Cut by the minimum rate (a byte every 0.5 s), long before the request timeout.
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}
