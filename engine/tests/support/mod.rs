//! A fresh database with the engine's schema for each test, on the cluster `TEST_DATABASE_URL`
//! names (`make test` starts it), dropped when the test ends.
#![allow(dead_code)]

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
use uuid::Uuid;

pub struct TestDb {
    pub name: String,
    pub url: String,
    pub db: DatabaseConnection,
}

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "TEST_DATABASE_URL is not set: run `make test`, or eval \"$(scripts/pg.sh start test)\""
        )
    })
}

pub async fn connect(url: &str, max: u32) -> DatabaseConnection {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(max)
        .min_connections(0)
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    Database::connect(options).await.expect("connect")
}

impl TestDb {
    pub async fn new() -> TestDb {
        let name = format!("engine_test_{}", Uuid::new_v4().simple());
        let admin = connect(&admin_url(), 1).await;
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .expect("create database");
        let _ = admin.close().await;
        let mut url = url::Url::parse(&admin_url()).expect("a URL");
        url.set_path(&format!("/{name}"));
        let url = url.to_string();
        let db = connect(&url, 20).await;
        for statement in engine::schema::all_up() {
            db.execute_unprepared(statement)
                .await
                .expect("engine schema");
        }
        TestDb { name, url, db }
    }

    /// The first column of the first row of `sql`.
    pub async fn value<T: sea_orm::TryGetable>(&self, sql: &str) -> T {
        let row = self
            .db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                sql.to_owned(),
            ))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .expect("a row");
        row.try_get_by_index::<T>(0)
            .unwrap_or_else(|e| panic!("{sql}: {e:?}"))
    }

    pub async fn scalar(&self, sql: &str) -> i64 {
        self.value(sql).await
    }

    pub async fn text(&self, sql: &str) -> String {
        self.value(sql).await
    }

    pub async fn exec(&self, sql: &str) {
        self.db
            .execute_unprepared(sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Waits until `sql` (a count) reaches `target`, for at most `limit`.
    pub async fn until(&self, sql: &str, target: i64, limit: Duration) -> i64 {
        let deadline = std::time::Instant::now() + limit;
        loop {
            let value = self.scalar(sql).await;
            if value >= target || std::time::Instant::now() >= deadline {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let admin = connect(&admin_url(), 1).await;
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .await;
                let _ = admin.close().await;
            });
        })
        .join()
        .expect("drop database");
    }
}
