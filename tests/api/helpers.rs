//! Test harness: every test gets its own database, cloned from a migrated template, and its own
//! server on a random port, reached over real HTTP.

use std::{
    sync::{
        Arc, OnceLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use mintbean::AppState;
use mintbean_core::{
    config::{Component, Config},
    db,
};
use reqwest::Client;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

pub const JWT_SECRET: &str = "test-secret-for-sessions";
pub const PASSWORD: &str = "correct-horse";

/// The admin URL of a PostgreSQL started once per test process in Docker (testcontainers).
#[cfg(feature = "testcontainers")]
pub fn admin_url() -> String {
    use std::sync::{Mutex, OnceLock};
    use testcontainers_modules::{
        postgres::Postgres,
        testcontainers::{Container, runners::SyncRunner},
    };
    // Kept for the whole run (testcontainers removes it when the process ends).
    static CONTAINER: OnceLock<(Mutex<Container<Postgres>>, String)> = OnceLock::new();
    let (_, url) = CONTAINER.get_or_init(|| {
        // The blocking runner has its own runtime: start it off the test's runtime thread.
        std::thread::spawn(|| {
            let container = Postgres::default().start().expect(
                "start PostgreSQL in Docker (the testcontainers feature needs a Docker engine)",
            );
            let host = container.get_host().expect("container host");
            let port = container.get_host_port_ipv4(5432).expect("container port");
            let url = format!("postgres://postgres:postgres@{host}:{port}/postgres");
            (Mutex::new(container), url)
        })
        .join()
        .expect("testcontainers thread")
    });
    url.clone()
}

/// The admin URL of the test cluster (`scripts/pg.sh start test` prints it).
#[cfg(not(feature = "testcontainers"))]
pub fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| {
        panic!(
            "TEST_DATABASE_URL is not set. Run the suite with `make test`, or start the test \
             cluster yourself: eval \"$(scripts/pg.sh start test)\""
        )
    })
}

pub fn database_url(name: &str) -> String {
    let mut url = url::Url::parse(&admin_url()).expect("TEST_DATABASE_URL is a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

async fn admin_connection() -> DatabaseConnection {
    db::connect(&admin_url(), 1)
        .await
        .expect("connect to the test cluster")
}

async fn exec(conn: &DatabaseConnection, sql: &str) {
    conn.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A stable name for the migrated template: changes whenever the migration list (or the job
/// engine's schema, which its migration takes from the engine crate) changes.
fn template_name() -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let key =
        migration::migration_names().join(",") + &engine::schema::all_up().collect::<String>();
    for byte in key.bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
    }
    format!("mintbean_tpl_{hash:016x}")
}

const LOCK_KEY: i64 = 0x7465_7374_6462; // "testdb"

/// Creates a database for one test, cloned from the migrated template (built on first use;
/// an advisory lock makes parallel tests and processes agree on who builds it).
pub async fn fresh_database() -> String {
    let admin = admin_connection().await;
    let backend = admin.get_database_backend();
    admin
        .execute_raw(Statement::from_sql_and_values(
            backend,
            "SELECT pg_advisory_lock($1)",
            [LOCK_KEY.into()],
        ))
        .await
        .expect("advisory lock");
    let template = template_name();
    let exists = admin
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            "SELECT 1 AS one FROM pg_database WHERE datname = $1",
            [template.clone().into()],
        ))
        .await
        .expect("look up template")
        .is_some();
    if !exists {
        // Built under another name and renamed at the end, so a crash never leaves a half-migrated
        // template behind.
        let building = format!("{template}_building");
        exec(
            &admin,
            &format!("DROP DATABASE IF EXISTS \"{building}\" WITH (FORCE)"),
        )
        .await;
        exec(&admin, &format!("CREATE DATABASE \"{building}\"")).await;
        db::migrate(&database_url(&building))
            .await
            .expect("migrate the template");
        exec(
            &admin,
            &format!("ALTER DATABASE \"{building}\" RENAME TO \"{template}\""),
        )
        .await;
    }
    let name = format!("mintbean_test_{}", Uuid::new_v4().simple());
    exec(
        &admin,
        &format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""),
    )
    .await;
    admin
        .execute_raw(Statement::from_sql_and_values(
            backend,
            "SELECT pg_advisory_unlock($1)",
            [LOCK_KEY.into()],
        ))
        .await
        .expect("advisory unlock");
    let _ = admin.close().await;
    name
}

/// Drops a test database from any context (also from `Drop`, outside a runtime).
pub fn drop_database(name: &str) {
    let name = name.to_owned();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async {
            let admin = admin_connection().await;
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
            let _ = admin.close().await;
        });
    })
    .join()
    .expect("drop database thread");
}

pub fn test_config(database_url: &str, overrides: &[(&str, &str)]) -> Config {
    let mut vars: Vec<(String, String)> = vec![
        ("APP_ENV".into(), "test".into()),
        ("DATABASE_URL".into(), database_url.into()),
        ("JWT_SECRET".into(), JWT_SECRET.into()),
        ("HOST".into(), "127.0.0.1".into()),
        ("PASSWORD_HASH_CONCURRENCY".into(), "4".into()),
        // Tests write with SQL and read right after; the caches' own tests turn them on.
        ("ANSWER_CACHE".into(), "false".into()),
        ("SESSION_CACHE".into(), "false".into()),
        ("RELATION_CACHE".into(), "false".into()),
    ];
    for (k, v) in overrides {
        vars.retain(|(name, _)| name != k);
        vars.push(((*k).into(), (*v).into()));
    }
    Config::from_lookup(Component::Server, &move |name| {
        vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
    .expect("test config")
}

/// `TEST_LOG=1 cargo test ...` shows the servers' logs (filtered by `RUST_LOG`, default
/// mintbean's filter), captured per test like its other output.
fn show_logs_if_asked() {
    static INIT: std::sync::Once = std::sync::Once::new();
    if std::env::var_os("TEST_LOG").is_none() {
        return;
    }
    INIT.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
            tracing_subscriber::EnvFilter::new(mintbean::telemetry::DEFAULT_FILTER)
        });
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

/// A password hash computed once per test binary (argon2 is deliberately slow).
pub fn password_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| mintbean_core::auth::password::hash_blocking(PASSWORD).expect("hash"))
}

pub struct TestApp {
    pub address: String,
    /// The server's configuration.
    pub config: Config,
    pub db: DatabaseConnection,
    pub db_name: String,
    pub statements: Arc<AtomicUsize>,
    /// The SQL of each counted statement, to show what ran when a count is off.
    pub statement_log: Arc<std::sync::Mutex<Vec<String>>>,
    pub client: Client,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        drop_database(&self.db_name);
    }
}

pub fn new_client() -> Client {
    Client::builder()
        .cookie_store(true)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client")
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(&[]).await
    }

    pub async fn spawn_with(overrides: &[(&str, &str)]) -> TestApp {
        show_logs_if_asked();
        let db_name = fresh_database().await;
        let config = test_config(&database_url(&db_name), overrides);
        let mut connection =
            db::connect_with(&config.database_url, &db::PoolSettings::server(&config))
                .await
                .expect("connect to test database");
        let statements = Arc::new(AtomicUsize::new(0));
        let statement_log = Arc::new(std::sync::Mutex::new(Vec::new()));
        let counter = statements.clone();
        let log = statement_log.clone();
        connection.set_metric_callback(move |info| {
            counter.fetch_add(1, Ordering::SeqCst);
            let sql = info
                .statement
                .sql
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            log.lock().unwrap().push(sql);
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = format!("http://{}", listener.local_addr().unwrap());
        let state = AppState::new(connection.clone(), config.clone()).expect("app state");
        tokio::spawn(async move {
            mintbean::http::serve_until(state, listener, std::future::pending())
                .await
                .expect("server");
        });
        TestApp {
            address,
            config,
            db: connection,
            db_name,
            statements,
            statement_log,
            client: new_client(),
        }
    }

    /// Starts a second server on this test's database, with its own pool and state (as a
    /// second server process would be), and returns its GraphQL URL.
    pub async fn another_server(&self, overrides: &[(&str, &str)]) -> String {
        let config = test_config(&database_url(&self.db_name), overrides);
        let connection = db::connect_with(&config.database_url, &db::PoolSettings::server(&config))
            .await
            .expect("connect to test database");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/graphql", listener.local_addr().unwrap());
        let state = AppState::new(connection, config).expect("app state");
        tokio::spawn(async move {
            mintbean::http::serve_until(state, listener, std::future::pending())
                .await
                .expect("server");
        });
        url
    }

    /// Runs an in-process worker (as `jobs worker` does) until the returned sender is dropped.
    pub fn run_worker(&self) -> tokio::sync::oneshot::Sender<()> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let config = Arc::new(self.config.clone());
        let db = self.db.clone();
        tokio::spawn(async move {
            mintbean::app::run_worker(db, config, async {
                let _ = stopped.await;
            })
            .await
            .expect("worker");
        });
        stop
    }

    /// Runs what the changes so far caused — detections and the jobs they create — as a worker
    /// serving the `events` and `default` queues does, until none is left. (Emails are not sent
    /// and links not checked: tests look at what was queued.)
    pub async fn settle(&self) {
        let registry = mintbean::app::registry(&self.db, &self.config).expect("job registry");
        tokio::time::timeout(
            Duration::from_secs(20),
            engine::testing::run_queued(&self.db, registry, &["events", "default"]),
        )
        .await
        .expect("events settle within 20 s")
        .expect("running the queued jobs");
    }

    /// An API token with `scopes`, created as `mintbean tokens create` does.
    pub async fn api_token(&self, scopes: &[&str]) -> String {
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        mintbean::tasks::tokens::create(&self.db, "test", &scopes, None, None)
            .await
            .expect("token")
            .1
    }

    pub fn graphql_url(&self) -> String {
        format!("{}/graphql", self.address)
    }

    /// Posts a GraphQL request with `client` and returns the JSON body.
    pub async fn gql_with(&self, client: &Client, query: &str, variables: Value) -> Value {
        let response = client
            .post(self.graphql_url())
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request");
        assert!(
            response.status().is_success(),
            "GraphQL request failed with HTTP {}",
            response.status()
        );
        response.json().await.expect("JSON body")
    }

    /// As [`gql_with`] with the app's default (anonymous unless logged in) client.
    /// Runs a mutation that must succeed and returns the `id` of its (only) field.
    pub async fn created_id(&self, client: &Client, query: &str, variables: Value) -> String {
        let body = self.gql_with(client, query, variables).await;
        let field = data(&body).as_object().unwrap().values().next().unwrap();
        field["id"].as_str().expect("an id").to_owned()
    }

    /// A UTC workshop on 2031-06-10, 18:00–20:00, written directly (no actor).
    pub async fn jam(&self) -> Uuid {
        self.create_meet(
            "Jam",
            "WORKSHOP",
            "2031-06-10T18:00:00",
            "2031-06-10T20:00:00",
            "UTC",
        )
        .await
    }

    /// A UTC workshop from `start` to `end` (`2031-06-10T18:00`) created through GraphQL by
    /// `admin`, who is then the actor of the change.
    pub async fn create_workshop(&self, admin: &Client, start: &str, end: &str) -> String {
        let input = json!({
            "meetType": "WORKSHOP", "title": "Jam", "description": "Build a game",
            "instructions": "Have fun", "coverImageUrl": "https://example.com/c.png",
            "startTime": start, "endTime": end, "region": "UTC"
        });
        self.created_id(
            admin,
            "mutation($i: CreateMeetInput!) { createMeet(input: $i) { id } }",
            json!({ "i": input }),
        )
        .await
    }

    /// `client` registers for `meet` (which must succeed).
    pub async fn register_for_meet(&self, client: &Client, meet: impl serde::Serialize) {
        let body = self
            .gql_with(
                client,
                "mutation($id: UUID!) { registerForMeet(meetId: $id) }",
                json!({ "id": meet }),
            )
            .await;
        data(&body);
    }

    pub async fn gql(&self, query: &str, variables: Value) -> Value {
        self.gql_with(&self.client, query, variables).await
    }

    pub async fn sql(&self, sql: &str) {
        exec(&self.db, sql).await;
    }

    pub async fn sql_values(&self, sql: &str, values: Vec<sea_orm::Value>) {
        self.db
            .execute_raw(Statement::from_sql_and_values(
                self.db.get_database_backend(),
                sql,
                values,
            ))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// Runs `sql` in a transaction whose changes cause no events (fixtures that are not the
    /// subject of the test, e.g. users without their welcome emails).
    pub async fn sql_quietly(&self, sql: &str, values: Vec<sea_orm::Value>) {
        use sea_orm::TransactionTrait;
        let txn = self.db.begin().await.unwrap();
        txn.execute_unprepared(engine::events::CAPTURE_OFF)
            .await
            .unwrap();
        txn.execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            sql,
            values,
        ))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
        txn.commit().await.unwrap();
    }

    async fn first_row(&self, sql: &str) -> sea_orm::QueryResult {
        self.db
            .query_one_raw(Statement::from_string(
                self.db.get_database_backend(),
                sql.to_owned(),
            ))
            .await
            .expect(sql)
            .expect("a row")
    }

    pub async fn scalar_i64(&self, sql: &str) -> i64 {
        let row = self.first_row(sql).await;
        row.try_get_by_index::<i64>(0).expect("an integer")
    }

    pub async fn scalar_string(&self, sql: &str) -> String {
        let row = self.first_row(sql).await;
        row.try_get_by_index::<String>(0).expect("a string")
    }

    /// The first column of `sql`'s first row as a string; empty when it is NULL.
    pub async fn scalar_string_or_empty(&self, sql: &str) -> String {
        let row = self.first_row(sql).await;
        row.try_get_by_index::<Option<String>>(0)
            .expect("a string")
            .unwrap_or_default()
    }

    /// Inserts a user directly (with the shared password hash) and returns its id.
    pub async fn create_user(&self, email: &str, is_admin: bool) -> Uuid {
        let id = Uuid::new_v4();
        self.sql_values(
            r#"INSERT INTO users (id, email, "firstName", "lastName", "passwordHash", "isAdmin")
               VALUES ($1, $2, 'Test', 'User', $3, $4)"#,
            vec![
                id.into(),
                email.into(),
                password_hash().into(),
                is_admin.into(),
            ],
        )
        .await;
        id
    }

    /// A new client (own cookie jar) logged in as `email` (with the shared test password).
    pub async fn login(&self, email: &str) -> Client {
        self.login_with(email, PASSWORD).await
    }

    pub async fn login_with(&self, email: &str, password: &str) -> Client {
        let client = new_client();
        let body = self
            .gql_with(
                &client,
                "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { id } }",
                json!({ "e": email, "p": password }),
            )
            .await;
        assert!(body["errors"].is_null(), "login failed: {body}");
        client
    }

    /// Loads the development seed data into this test's database (once: it seeds only a
    /// database without users).
    pub async fn seed(&self) -> mintbean_core::seed::SeedOutcome {
        let passwords = mintbean_core::auth::PasswordHasher::new(2);
        mintbean_core::seed::seed_if_empty(
            &self.db,
            &passwords,
            mintbean_core::seed::AccountPasswords::Development,
        )
        .await
        .expect("seed")
    }

    /// Creates a user and returns a client logged in as them.
    pub async fn user_client(&self, email: &str) -> (Uuid, Client) {
        let id = self.create_user(email, false).await;
        (id, self.login(email).await)
    }

    pub async fn admin_client(&self) -> (Uuid, Client) {
        let email = format!("admin-{}@example.com", Uuid::new_v4().simple());
        let id = self.create_user(&email, true).await;
        (id, self.login(&email).await)
    }

    /// Inserts a meet directly. `start`/`end` are wall-clock times in `region`.
    pub async fn create_meet(
        &self,
        title: &str,
        meet_type: &str,
        start: &str,
        end: &str,
        region: &str,
    ) -> Uuid {
        let id = Uuid::new_v4();
        self.sql_values(
            r#"INSERT INTO meets (id, "meetType", title, description, instructions, "coverImageUrl",
                                  "startTime", "endTime", region, "registerLink")
               VALUES ($1, $2, $3, 'A meet', 'Do things', 'https://example.com/c.png',
                       $4::timestamp AT TIME ZONE 'UTC', $5::timestamp AT TIME ZONE 'UTC', $6,
                       'https://example.com/register')"#,
            vec![
                id.into(),
                meet_type.into(),
                title.into(),
                start.into(),
                end.into(),
                region.into(),
            ],
        )
        .await;
        id
    }

    pub fn reset_statement_count(&self) {
        self.statements.store(0, Ordering::SeqCst);
        self.statement_log.lock().unwrap().clear();
    }

    /// The statements counted since the last reset, one per line.
    pub fn statements_run(&self) -> String {
        self.statement_log
            .lock()
            .unwrap()
            .iter()
            .map(|s| format!("  {}\n", &s[..s.len().min(160)]))
            .collect()
    }

    pub fn statement_count(&self) -> usize {
        self.statements.load(Ordering::SeqCst)
    }
}

/// The `extensions.code` of the first error, panicking with the body if there is none.
/// Polls `check` until it gives `Some`, for at most `within`: waits for the other side's commit
/// instead of guessing how long it takes. `what` names the condition in the failure.
pub async fn eventually<T, Fut>(within: Duration, what: &str, mut check: impl FnMut() -> Fut) -> T
where
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn error_code(body: &Value) -> String {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error with a code, got {body}"))
        .to_owned()
}

/// The `extensions.field` of the first error.
/// The first error's message.
pub fn message(body: &Value) -> String {
    body["errors"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

pub fn error_field(body: &Value) -> String {
    body["errors"][0]["extensions"]["field"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error naming a field, got {body}"))
        .to_owned()
}

/// Asserts the body has no errors and returns `data`.
pub fn data(body: &Value) -> &Value {
    assert!(body["errors"].is_null(), "unexpected errors: {body}");
    &body["data"]
}

/// A wall-clock time `days` from now (UTC), formatted for meet inputs.
pub fn days_from_now(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string()
}

/// The backend of a LISTEN connection (`engine::listen`, named `name`) of the one server on the
/// test's database.
pub async fn listener_pid(app: &TestApp, name: &str) -> i64 {
    let sql = format!(
        "SELECT coalesce(max(pid), 0)::bigint FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'mintbean listener: {name}'"
    );
    for _ in 0..200 {
        let pid = app.scalar_i64(&sql).await;
        if pid != 0 {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("no {name} listener connected");
}

/// A PostgreSQL backend frozen with SIGSTOP (its socket stays open, nothing is delivered, as
/// after a dropped NAT entry), resumed when dropped, also when the test fails.
pub struct StoppedBackend(i64);

impl StoppedBackend {
    pub fn stop(pid: i64) -> StoppedBackend {
        signal(pid, "-STOP");
        StoppedBackend(pid)
    }
}

impl Drop for StoppedBackend {
    fn drop(&mut self) {
        signal(self.0, "-CONT");
    }
}

fn signal(pid: i64, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("kill");
    assert!(
        status.success(),
        "kill {signal} {pid} (the tests run as root, as CI does)"
    );
}
