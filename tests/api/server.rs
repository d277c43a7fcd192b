//! The real `mintbean` binary: start-up configuration errors and graceful shutdown.

use std::{process::Stdio, time::Duration};

use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use serde_json::json;
use tokio::process::Command;

use crate::helpers::{database_url, drop_database, eventually, fresh_database, new_client};

#[tokio::test]
async fn missing_configuration_is_named_in_one_message() {
    let output = Command::new(env!("CARGO_BIN_EXE_mintbean"))
        .arg("serve")
        .env_remove("DATABASE_URL")
        .env_remove("JWT_SECRET")
        .current_dir(std::env::temp_dir())
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("missing environment variable(s): DATABASE_URL, JWT_SECRET"),
        "{stderr}"
    );
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let name = fresh_database().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_mintbean"))
        .arg("serve")
        .env("DATABASE_URL", database_url(&name))
        .env("JWT_SECRET", "shutdown-test-secret")
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        .env("APP_ENV", "test")
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = new_client();
    let mut ready = false;
    for _ in 0..100 {
        if client
            .get(format!("{base}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ready, "server did not come up");

    // Hold the meets table so the next request is still running when SIGTERM arrives.
    let blocker = mintbean_core::db::connect(&database_url(&name), 1)
        .await
        .unwrap();
    let txn = blocker.begin().await.unwrap();
    txn.execute_unprepared("LOCK TABLE meets IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let in_flight = tokio::spawn({
        let client = client.clone();
        let url = format!("{base}/graphql");
        async move {
            client
                .post(url)
                .json(&json!({ "query": "{ meets { id } }" }))
                .send()
                .await
                .expect("in-flight request answered")
                .json::<serde_json::Value>()
                .await
                .unwrap()
        }
    });
    let observer = mintbean_core::db::connect(&database_url(&name), 1)
        .await
        .unwrap();
    eventually(
        Duration::from_secs(10),
        "the request waits on the lock",
        || async {
            let waiting = observer
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT count(*) AS waiting FROM pg_stat_activity
                  WHERE datname = current_database() AND wait_event_type = 'Lock'",
                ))
                .await
                .unwrap()
                .unwrap()
                .try_get::<i64>("", "waiting")
                .unwrap();
            (waiting > 0).then_some(())
        },
    )
    .await;
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    // Shutting down, the server stops listening; the request in flight is still held.
    eventually(
        Duration::from_secs(10),
        "the server stops listening",
        || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_err()
                .then_some(())
        },
    )
    .await;
    assert!(
        !in_flight.is_finished(),
        "answered before the lock was released"
    );
    txn.rollback().await.unwrap();

    let body = in_flight.await.unwrap();
    assert_eq!(body["data"]["meets"], json!([]), "{body}");
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .expect("server exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
    drop(blocker);
    drop(observer);
    drop_database(&name);
}
