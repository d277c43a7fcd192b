//! Typed configuration, read once from environment variables (and `.env` in development).
//!
//! Every problem is collected before failing, so one start-up message names every missing or
//! invalid variable at once.

use std::{fmt, net::IpAddr, path::PathBuf, str::FromStr, time::Duration};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Environment {
    Development,
    Test,
    Production,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Which binary is starting: the server needs the session secret, the jobs runner does not; a
/// process that sends email needs a mail server in production.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    Server,
    /// `mintbean serve --with-worker`: the server, running the job worker too.
    ServerWithWorker,
    Jobs,
    /// Database maintenance commands (migrate, seed, reset).
    Admin,
}

impl Component {
    fn serves(self) -> bool {
        matches!(self, Component::Server | Component::ServerWithWorker)
    }
}

/// What one GraphQL document may ask for (checked by the server's `graphql::limits`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// graphql-depth-limit's depth: `{ meets { id } }` is 1.
    pub max_depth: usize,
    pub max_complexity: usize,
    pub max_aliases: usize,
    pub max_directives: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 3,
            // The frontend's largest document, the meet page, costs 1 158 (tested).
            max_complexity: 5_000,
            max_aliases: 15,
            max_directives: 50,
        }
    }
}

/// How link checks fetch (`projects::links`).
#[derive(Clone, Debug)]
pub struct LinkCheckSettings {
    /// Hosts (names or addresses, lower case) that may resolve to non-public addresses.
    pub allow_hosts: Vec<String>,
    pub connect_timeout: Duration,
    /// For the whole check of one URL, redirects included.
    pub timeout: Duration,
}

#[derive(Clone, Debug)]
pub struct GraphqlConfig {
    pub introspection: bool,
    /// GraphiQL on `GET /graphql` (`GRAPHQL_PLAYGROUND`, the Node backend's name for it).
    pub graphiql: bool,
    /// "Did you mean ...?" hints in validation errors; they reveal field names, so they follow
    /// introspection.
    pub suggestions: bool,
    pub limits: Limits,
    /// Largest JSON answer; a bigger one is replaced by a `RESPONSE_TOO_LARGE` error.
    pub max_response_bytes: usize,
    /// Accept JSON arrays of operations (at most ten, queries only). The frontend never sends them.
    pub batching: bool,
    /// async-graphql's tracing extension: spans for parsing, validation, execution and each
    /// object field (`RUST_LOG=async_graphql=info` shows them). Off by default: a span per field
    /// cost 20–45 % of the CPU of large answers (docs/benchmarks.md).
    pub tracing: bool,
    /// Answer `PrivateUser.token` after login/register (the Node backend did); the cookie is
    /// `HttpOnly`, so by default scripts never see the token.
    pub token_in_response: bool,
    /// Memory for anonymous answers (`http::answer_cache`); `None` when `ANSWER_CACHE=false`.
    pub answer_cache_bytes: Option<usize>,
}

/// How the server treats connections and concurrent requests.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Open connections at most; past it idle connections are closed to make room, and when none
    /// is idle new connections are refused.
    pub max_connections: usize,
    /// Time a client has to send a complete request head.
    pub header_read_timeout: Duration,
    /// An idle keep-alive connection is closed after this.
    pub keep_alive_timeout: Duration,
    /// Requests handled at once; more are answered `503 SERVER_BUSY` at once.
    pub max_concurrent_requests: usize,
    /// Requests of one client address (IPv6: its /64) handled at once; more are answered
    /// `429 TOO_MANY_REQUESTS`, so one client cannot take every slot.
    pub max_requests_per_client: usize,
    /// A request body must arrive at least this fast (bytes per second, after a 2 s allowance),
    /// or the request fails: a body trickled in byte by byte cannot hold a slot for long.
    pub min_body_bytes_per_sec: u64,
    /// WebSockets one caller (user, token) may hold open.
    pub max_sockets_per_caller: usize,
    /// Subscriptions one caller may hold open across its sockets.
    pub max_subscriptions_per_caller: usize,
}

/// Failed-login limits, counted in PostgreSQL so they hold across server processes.
#[derive(Clone, Debug)]
pub struct LoginLimits {
    pub max_failures_per_account: u32,
    pub max_failures_per_client: u32,
    pub window: Duration,
}

#[derive(Clone, Debug)]
pub struct EmailConfig {
    /// `smtp://user:pass@host:587` (STARTTLS) or `smtps://...` (TLS); it holds the password, so
    /// it is a [`Secret`]. Unset in development: messages are written to `outbox_dir` as .eml
    /// files instead.
    pub smtp_url: Option<Secret>,
    /// The From address, e.g. `Mintbean <hello@mintbean.io>`.
    pub sender: String,
    pub outbox_dir: PathBuf,
    pub contact_recipients: Vec<String>,
    pub disable_registration_emails: bool,
    pub disable_new_meet_reminders: bool,
    /// `WELCOME_EMAILS` (default true): a new account gets a welcome email.
    pub welcome_emails: bool,
    /// Base URL of the frontend, for links in emails.
    pub frontend_url: String,
    /// Emails sent at once by one drainer.
    pub concurrency: usize,
    pub poll_interval: Duration,
    /// First retry delay; doubles with each attempt.
    pub retry_backoff: Duration,
    pub send_timeout: Duration,
    pub contact_form_per_hour: u32,
}

impl EmailConfig {
    /// The domain of the From address (Message-IDs are made in it); `None` when it is no
    /// address (the configuration refuses that at start-up).
    pub fn sender_domain(&self) -> Option<String> {
        self.sender
            .parse::<lettre::message::Mailbox>()
            .ok()
            .map(|m| m.email.domain().to_owned())
    }
}

/// The job engine's processes and Mintbean's job kinds.
#[derive(Clone, Debug)]
pub struct JobsConfig {
    /// Jobs of the `default` queue run at once by one worker process.
    pub concurrency: usize,
    /// Link checks run at once by one worker process (at most 3 per host across all workers).
    pub link_check_concurrency: usize,
    /// Webhook deliveries sent at once by one worker process.
    pub webhook_concurrency: usize,
    /// `JOBS_PREFETCH` (default 0): jobs each queue claims ahead of its free slots, in one
    /// statement. Short jobs (a no-op, a mocked check) run thousands a second only in batches;
    /// a claimed-ahead job holds its lease, and its per-host slot, while it waits in memory.
    pub prefetch: usize,
    /// `JOBS_FAIR_EVERY` (default 5, 0 = off): in tool queues, after this many higher-priority
    /// claims in a row one waiting priority-1 (free) job is served (Koalati's every-nth rule).
    pub fair_every: u32,
    /// Run the worker pool and scheduler inside `mintbean serve` (small installs).
    pub in_server: bool,
    /// On SIGTERM, how long running jobs may take to finish before they are cancelled and
    /// released.
    pub shutdown_grace: Duration,
    /// How long a claimed job stays a worker's without a heartbeat: a crashed worker's jobs
    /// run again this long after its last heartbeat.
    pub lease: Duration,
    /// Finished jobs are deleted after this (0: kept forever).
    pub retention: Duration,
    /// When set, `GET /metrics` asks for `Authorization: Bearer <token>`.
    pub metrics_token: Option<Secret>,
    pub link_check: LinkCheckSettings,
    pub tasks: TaskApiConfig,
    pub events: EventsConfig,
}

/// Event detection: Hasura's event triggers and native capture.
#[derive(Clone, Debug)]
pub struct EventsConfig {
    /// `HASURA_WEBHOOK_SECRET`: the value Hasura sends in `hasura_secret_header`; unset, the
    /// hook answers 503.
    pub hasura_secret: Option<Secret>,
    /// `HASURA_WEBHOOK_HEADER` (default `x-mintbean-webhook-secret`).
    pub hasura_secret_header: String,
    /// `EVENTS_CAPTURE_TABLES`: tables captured besides those Mintbean's detectors watch
    /// (`table` or `schema.table`, comma-separated).
    pub capture_tables: Vec<String>,
    /// `EVENTS_HASURA_TABLES`: tables whose events Hasura's triggers deliver: they are not
    /// captured natively (else each change would be detected twice).
    pub hasura_tables: Vec<String>,
    /// Detections run at once by one worker process (`EVENTS_CONCURRENCY`).
    pub concurrency: usize,
}

/// The HTTP task API, its Koalati-compatible twin, and outgoing webhooks.
#[derive(Clone, Debug)]
pub struct TaskApiConfig {
    /// Hosts webhooks may reach on non-public addresses (tests, an internal receiver).
    pub webhook_allow_hosts: Vec<String>,
    /// Each webhook delivery try gives up after this.
    pub webhook_timeout: Duration,
    /// Koalati clients: an HS256 JWT signed with this secret...
    pub koalati_jwt_secret: Option<Secret>,
    /// ...whose `access_token` claim equals this.
    pub koalati_access_token: Option<Secret>,
    /// Koalati's MOCK_API: requests are validated and stored, status answers are real, and
    /// every job succeeds at once without doing its work.
    pub mock_mode: bool,
}

/// Which proxies' `X-Forwarded-For` entries are believed. Entries are read from the right (the
/// hop nearest this server) while the address that added them is a trusted proxy; the leftmost
/// entries are whatever the client wrote and are never believed on their own.
#[derive(Clone, Debug, Default)]
pub struct ProxyTrust {
    /// `TRUSTED_PROXIES`.
    pub trusted: Vec<ipnet::IpNet>,
    /// `TRUST_PROXY_HEADERS=true`: the peer is one proxy (its rightmost entry is the client).
    pub any_peer_is_one_proxy: bool,
}

impl ProxyTrust {
    /// The client of a request from `peer` carrying `forwarded` (the `X-Forwarded-For` values,
    /// in order).
    pub fn client(
        &self,
        peer: Option<std::net::IpAddr>,
        forwarded: &[&str],
    ) -> Option<std::net::IpAddr> {
        let trusted = |ip: &std::net::IpAddr| self.trusted.iter().any(|net| net.contains(ip));
        let mut client = peer?;
        if !(self.any_peer_is_one_proxy || trusted(&client)) {
            return Some(client);
        }
        let hops = forwarded
            .iter()
            .flat_map(|value| value.split(','))
            .map(|hop| hop.trim().parse::<std::net::IpAddr>());
        for hop in hops.collect::<Vec<_>>().into_iter().rev() {
            let Ok(hop) = hop else {
                break; // garbage: the last address believed stands
            };
            client = hop;
            if self.trusted.is_empty() || !trusted(&hop) {
                break;
            }
        }
        Some(client)
    }
}

#[derive(Clone, Debug)]
pub struct Config {
    pub environment: Environment,
    pub database_url: String,
    pub db_max_connections: u32,
    /// How long a request waits for a pooled database connection before it fails.
    pub db_acquire_timeout: Duration,
    pub host: IpAddr,
    pub port: u16,
    /// Secret for HS256 session tokens; the same value as the Node backend keeps old sessions valid.
    pub jwt_secret: Secret,
    pub cookie_secure: bool,
    pub cors_allowed_origins: Vec<String>,
    pub graphql: GraphqlConfig,
    pub http: HttpConfig,
    pub login_limits: LoginLimits,
    pub max_body_bytes: usize,
    /// A GraphQL request running longer is answered 503; its SQL statements get the same limit.
    pub request_timeout: Duration,
    pub password_hash_concurrency: usize,
    pub log_format: LogFormat,
    /// Who may say who the client is in `X-Forwarded-For` (`http::client_address`).
    pub proxies: ProxyTrust,
    /// `REHASH_LEGACY_PASSWORDS` (default true): a Node (bcrypt) hash becomes argon2id at the
    /// user's next login. False keeps bcrypt, so the Node backend can still be switched back to.
    pub rehash_legacy_passwords: bool,
    /// Keep live sessions in memory, emptied by notifications (`auth::session_cache`).
    pub session_cache: bool,
    /// Keep relations declared `kept` in memory, emptied by the answer channel's notifications
    /// (the server's `graphql::loader::KeptRelations`).
    pub relation_cache: bool,
    pub email: EmailConfig,
    pub jobs: JobsConfig,
}

impl Config {
    /// Production with a `JWT_SECRET` under 16 characters (allowed by `ALLOW_WEAK_JWT_SECRET`).
    pub fn weak_jwt_secret(&self) -> bool {
        self.environment == Environment::Production && self.jwt_secret.expose().len() < 16
    }
}

/// A secret value whose `Debug` never shows it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\"[redacted]\")")
    }
}

#[derive(Debug, Default)]
pub struct ConfigError {
    pub missing: Vec<&'static str>,
    pub invalid: Vec<String>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "configuration error:")?;
        if !self.missing.is_empty() {
            write!(
                f,
                " missing environment variable(s): {}.",
                self.missing.join(", ")
            )?;
        }
        for problem in &self.invalid {
            write!(f, " {problem}.")?;
        }
        write!(
            f,
            " See .env.example and the configuration table in README.md."
        )
    }
}

impl std::error::Error for ConfigError {}

/// Reads variables through a lookup function so tests need not touch the process environment.
struct Reader<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    errors: ConfigError,
}

impl Reader<'_> {
    fn optional(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    fn required(&mut self, name: &'static str) -> String {
        self.optional(name).unwrap_or_else(|| {
            self.errors.missing.push(name);
            String::new()
        })
    }

    fn parsed<T: FromStr>(&mut self, name: &str, default: T, expected: &str) -> T {
        match self.optional(name) {
            None => default,
            Some(raw) => raw.parse().unwrap_or_else(|_| {
                self.errors
                    .invalid
                    .push(format!("{name}={raw:?} is not valid (expected {expected})"));
                default
            }),
        }
    }

    /// A `separator`-separated list; empty items are dropped.
    fn list(&self, name: &str, separator: char) -> Vec<String> {
        self.optional(name)
            .map(|v| {
                v.split(separator)
                    .map(|item| item.trim().to_owned())
                    .filter(|item| !item.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }

    fn flag(&mut self, name: &str, default: bool) -> bool {
        match self.optional(name).map(|v| v.to_ascii_lowercase()) {
            None => default,
            Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => true,
            Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => false,
            Some(v) => {
                self.errors.invalid.push(format!(
                    "{name}={v:?} is not valid (expected true or false)"
                ));
                default
            }
        }
    }
}

impl Config {
    /// Loads `.env` (if present; real environment variables win) and reads the environment.
    pub fn from_env(component: Component) -> Result<Self, ConfigError> {
        let _ = dotenvy::dotenv();
        Self::from_lookup(component, &|name| std::env::var(name).ok())
    }

    pub fn from_lookup(
        component: Component,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let mut r = Reader {
            lookup,
            errors: ConfigError::default(),
        };
        let environment = read_environment(&mut r);
        let production = environment == Environment::Production;
        let database_url = r.required("DATABASE_URL");
        let jwt_secret = read_jwt_secret(&mut r, component, production);
        let config = Config {
            environment,
            database_url,
            db_max_connections: r.parsed("DB_MAX_CONNECTIONS", 10, "a positive integer"),
            db_acquire_timeout: seconds(&mut r, "DB_ACQUIRE_TIMEOUT_SECS", 3.0, false),
            host: r.parsed("HOST", IpAddr::from([0, 0, 0, 0]), "an IP address"),
            port: r.parsed("PORT", 4000, "a port number"),
            jwt_secret,
            cookie_secure: r.flag("COOKIE_SECURE", false),
            cors_allowed_origins: r.list("CORS_ALLOWED_ORIGINS", ','),
            graphql: read_graphql_config(&mut r, production),
            http: read_http_config(&mut r),
            login_limits: LoginLimits {
                max_failures_per_account: r.parsed(
                    "LOGIN_MAX_FAILURES_PER_ACCOUNT",
                    10,
                    "a number of failures",
                ),
                max_failures_per_client: r.parsed(
                    "LOGIN_MAX_FAILURES_PER_CLIENT",
                    50,
                    "a number of failures",
                ),
                window: seconds(&mut r, "LOGIN_FAILURE_WINDOW_SECS", 900.0, false),
            },
            max_body_bytes: r.parsed("MAX_BODY_BYTES", 1024 * 1024, "a number of bytes"),
            request_timeout: seconds(&mut r, "REQUEST_TIMEOUT_SECS", 30.0, false),
            password_hash_concurrency: r.parsed(
                "PASSWORD_HASH_CONCURRENCY",
                default_hashers(),
                "a positive integer",
            ),
            proxies: read_proxy_trust(&mut r),
            rehash_legacy_passwords: r.flag("REHASH_LEGACY_PASSWORDS", true),
            session_cache: r.flag("SESSION_CACHE", true),
            relation_cache: r.flag("RELATION_CACHE", true),
            email: read_email_config(&mut r, component, production),
            jobs: read_jobs_config(&mut r),
            log_format: read_log_format(&mut r),
        };
        config.check_positive(&mut r);
        if r.errors.missing.is_empty() && r.errors.invalid.is_empty() {
            Ok(config)
        } else {
            Err(r.errors)
        }
    }

    fn check_positive(&self, r: &mut Reader<'_>) {
        let limits = &self.graphql.limits;
        for (name, value) in [
            ("DB_MAX_CONNECTIONS", self.db_max_connections as usize),
            ("GRAPHQL_MAX_COMPLEXITY", limits.max_complexity),
            (
                "GRAPHQL_MAX_RESPONSE_BYTES",
                self.graphql.max_response_bytes,
            ),
            ("PASSWORD_HASH_CONCURRENCY", self.password_hash_concurrency),
            ("MAX_BODY_BYTES", self.max_body_bytes),
            ("EMAIL_CONCURRENCY", self.email.concurrency),
            ("JOBS_CONCURRENCY", self.jobs.concurrency),
            ("LINK_CHECK_CONCURRENCY", self.jobs.link_check_concurrency),
            ("EVENTS_CONCURRENCY", self.jobs.events.concurrency),
            ("HTTP_MAX_CONNECTIONS", self.http.max_connections),
            ("MAX_CONCURRENT_REQUESTS", self.http.max_concurrent_requests),
            (
                "MAX_CONCURRENT_REQUESTS_PER_CLIENT",
                self.http.max_requests_per_client,
            ),
            (
                "WS_MAX_SOCKETS_PER_CALLER",
                self.http.max_sockets_per_caller,
            ),
            (
                "WS_MAX_SUBSCRIPTIONS_PER_CALLER",
                self.http.max_subscriptions_per_caller,
            ),
            (
                "LOGIN_MAX_FAILURES_PER_ACCOUNT",
                self.login_limits.max_failures_per_account as usize,
            ),
            (
                "LOGIN_MAX_FAILURES_PER_CLIENT",
                self.login_limits.max_failures_per_client as usize,
            ),
        ] {
            if value == 0 {
                r.errors
                    .invalid
                    .push(format!("{name} must be greater than 0"));
            }
        }
    }
}

fn read_environment(r: &mut Reader<'_>) -> Environment {
    match r.optional("APP_ENV").as_deref() {
        None | Some("development") => Environment::Development,
        Some("test") => Environment::Test,
        Some("production") => Environment::Production,
        Some(other) => {
            r.errors.invalid.push(format!(
                "APP_ENV={other:?} is not valid (expected development, test or production)"
            ));
            Environment::Development
        }
    }
}

fn read_log_format(r: &mut Reader<'_>) -> LogFormat {
    match r.optional("LOG_FORMAT").as_deref() {
        None | Some("text") => LogFormat::Text,
        Some("json") => LogFormat::Json,
        Some(other) => {
            r.errors.invalid.push(format!(
                "LOG_FORMAT={other:?} is not valid (expected text or json)"
            ));
            LogFormat::Text
        }
    }
}

/// `TRUSTED_PROXIES` (CIDRs or addresses, comma-separated), or the older `TRUST_PROXY_HEADERS=true`
/// (the peer is one proxy, whatever its address).
fn read_proxy_trust(r: &mut Reader<'_>) -> ProxyTrust {
    let mut trusted = Vec::new();
    for entry in r.list("TRUSTED_PROXIES", ',') {
        let net = entry
            .parse::<ipnet::IpNet>()
            .or_else(|_| entry.parse::<std::net::IpAddr>().map(ipnet::IpNet::from));
        match net {
            Ok(net) => trusted.push(net),
            Err(_) => r.errors.invalid.push(format!(
                "TRUSTED_PROXIES: {entry:?} is not an address or CIDR (e.g. 10.0.0.0/8, ::1)"
            )),
        }
    }
    ProxyTrust {
        trusted,
        any_peer_is_one_proxy: r.flag("TRUST_PROXY_HEADERS", false),
    }
}

fn read_jwt_secret(r: &mut Reader<'_>, component: Component, production: bool) -> Secret {
    let secret = if component.serves() {
        r.required("JWT_SECRET")
    } else {
        r.optional("JWT_SECRET").unwrap_or_default()
    };
    let weak = production && component.serves() && !secret.is_empty() && secret.len() < 16;
    // A site moving from the Node backend keeps its secret, or every user is logged out.
    if weak && !r.flag("ALLOW_WEAK_JWT_SECRET", false) {
        r.errors.invalid.push(
            "JWT_SECRET is too short for production (use at least 16 characters, or keep the Node \
             backend's with ALLOW_WEAK_JWT_SECRET=true)"
                .into(),
        );
    }
    Secret(secret)
}

fn default_hashers() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .max(2)
}

fn read_graphql_config(r: &mut Reader<'_>, production: bool) -> GraphqlConfig {
    let defaults = Limits::default();
    let introspection = r.flag("GRAPHQL_INTROSPECTION", !production);
    GraphqlConfig {
        introspection,
        graphiql: r.flag("GRAPHQL_PLAYGROUND", introspection),
        suggestions: r.flag("GRAPHQL_SUGGESTIONS", introspection),
        limits: Limits {
            max_depth: r.parsed("GRAPHQL_MAX_DEPTH", defaults.max_depth, "an integer"),
            max_complexity: r.parsed(
                "GRAPHQL_MAX_COMPLEXITY",
                defaults.max_complexity,
                "a positive integer",
            ),
            max_aliases: r.parsed("GRAPHQL_MAX_ALIASES", defaults.max_aliases, "an integer"),
            max_directives: r.parsed(
                "GRAPHQL_MAX_DIRECTIVES",
                defaults.max_directives,
                "an integer",
            ),
        },
        max_response_bytes: r.parsed(
            "GRAPHQL_MAX_RESPONSE_BYTES",
            10 * 1024 * 1024,
            "a number of bytes",
        ),
        batching: r.flag("GRAPHQL_BATCHING", false),
        tracing: r.flag("GRAPHQL_TRACING", false),
        token_in_response: r.flag("SESSION_TOKEN_IN_RESPONSE", false),
        answer_cache_bytes: r.flag("ANSWER_CACHE", true).then(|| {
            r.parsed(
                "ANSWER_CACHE_MAX_BYTES",
                32 * 1024 * 1024,
                "a number of bytes",
            )
        }),
    }
}

fn read_http_config(r: &mut Reader<'_>) -> HttpConfig {
    HttpConfig {
        max_connections: r.parsed("HTTP_MAX_CONNECTIONS", 10_000, "a number of connections"),
        header_read_timeout: seconds(r, "HTTP_HEADER_READ_TIMEOUT_SECS", 10.0, false),
        keep_alive_timeout: seconds(r, "HTTP_KEEP_ALIVE_TIMEOUT_SECS", 75.0, false),
        max_concurrent_requests: r.parsed("MAX_CONCURRENT_REQUESTS", 256, "a number of requests"),
        max_requests_per_client: r.parsed(
            "MAX_CONCURRENT_REQUESTS_PER_CLIENT",
            32,
            "a number of requests",
        ),
        min_body_bytes_per_sec: r.parsed("HTTP_MIN_BODY_BYTES_PER_SEC", 1024, "bytes per second"),
        max_sockets_per_caller: r.parsed("WS_MAX_SOCKETS_PER_CALLER", 8, "a number of sockets"),
        max_subscriptions_per_caller: r.parsed(
            "WS_MAX_SUBSCRIPTIONS_PER_CALLER",
            32,
            "a number of subscriptions",
        ),
    }
}

/// Jobs claimed ahead per queue: a batch, not the whole queue held in memory.
const MAX_PREFETCH: usize = 10_000;

fn read_jobs_config(r: &mut Reader<'_>) -> JobsConfig {
    let prefetch = r.parsed(
        "JOBS_PREFETCH",
        0,
        "a number of jobs (0: only for free slots)",
    );
    if prefetch > MAX_PREFETCH {
        r.errors.invalid.push(format!(
            "JOBS_PREFETCH={prefetch} is not valid (expected at most {MAX_PREFETCH})"
        ));
    }
    JobsConfig {
        prefetch: prefetch.min(MAX_PREFETCH),
        concurrency: r.parsed("JOBS_CONCURRENCY", 10, "a positive integer"),
        link_check_concurrency: r.parsed("LINK_CHECK_CONCURRENCY", 8, "a positive integer"),
        webhook_concurrency: r.parsed("WEBHOOK_CONCURRENCY", 8, "a positive integer"),
        fair_every: r.parsed("JOBS_FAIR_EVERY", 5, "a number (0: off)"),
        in_server: r.flag("JOBS_IN_SERVER", false),
        shutdown_grace: seconds(r, "JOBS_SHUTDOWN_GRACE_SECS", 30.0, true),
        lease: seconds(r, "JOBS_LEASE_SECS", 30.0, false),
        retention: retention_days(r),
        metrics_token: r.optional("METRICS_TOKEN").map(Secret),
        link_check: LinkCheckSettings {
            allow_hosts: r
                .list("LINK_CHECK_ALLOW_HOSTS", ',')
                .into_iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            connect_timeout: seconds(r, "LINK_CHECK_CONNECT_TIMEOUT_SECS", 5.0, false),
            timeout: seconds(r, "LINK_CHECK_TIMEOUT_SECS", 15.0, false),
        },
        tasks: read_task_api_config(r),
        events: read_events_config(r),
    }
}

fn read_events_config(r: &mut Reader<'_>) -> EventsConfig {
    let hasura_secret_header = r
        .optional("HASURA_WEBHOOK_HEADER")
        .unwrap_or_else(|| "x-mintbean-webhook-secret".into())
        .to_ascii_lowercase();
    if http::HeaderName::from_bytes(hasura_secret_header.as_bytes()).is_err() {
        r.errors
            .invalid
            .push("HASURA_WEBHOOK_HEADER must be an HTTP header name".into());
    }
    let hasura_secret = r.optional("HASURA_WEBHOOK_SECRET").map(Secret);
    if hasura_secret
        .as_ref()
        .is_some_and(|s| s.expose().len() < 16)
    {
        r.errors
            .invalid
            .push("HASURA_WEBHOOK_SECRET must be at least 16 characters".into());
    }
    EventsConfig {
        hasura_secret,
        hasura_secret_header,
        capture_tables: r.list("EVENTS_CAPTURE_TABLES", ','),
        hasura_tables: r.list("EVENTS_HASURA_TABLES", ','),
        concurrency: r.parsed("EVENTS_CONCURRENCY", 4, "a positive integer"),
    }
}

fn read_task_api_config(r: &mut Reader<'_>) -> TaskApiConfig {
    let koalati_jwt_secret = r.optional("KOALATI_JWT_SECRET").map(Secret);
    let koalati_access_token = r.optional("KOALATI_ACCESS_TOKEN").map(Secret);
    if koalati_jwt_secret.is_some() != koalati_access_token.is_some() {
        r.errors.invalid.push(
            "KOALATI_JWT_SECRET and KOALATI_ACCESS_TOKEN are set together (or neither)".into(),
        );
    }
    TaskApiConfig {
        webhook_allow_hosts: r
            .list("WEBHOOK_ALLOW_HOSTS", ',')
            .into_iter()
            .map(|h| h.to_ascii_lowercase())
            .collect(),
        webhook_timeout: seconds(r, "WEBHOOK_TIMEOUT_SECS", 10.0, false),
        koalati_jwt_secret,
        koalati_access_token,
        mock_mode: r.flag("MOCK_MODE", false),
    }
}

fn retention_days(r: &mut Reader<'_>) -> Duration {
    let days: f64 = r.parsed("JOBS_RETENTION_DAYS", 14.0, "a number of days");
    if days.is_finite() && (0.0..=36_500.0).contains(&days) {
        Duration::from_secs_f64(days * 86_400.0)
    } else {
        r.errors
            .invalid
            .push("JOBS_RETENTION_DAYS must be 0 (keep forever) to 36500 days".into());
        Duration::from_secs(14 * 86_400)
    }
}

/// A duration in (possibly fractional) seconds; zero only where `allow_zero`.
fn seconds(r: &mut Reader<'_>, name: &str, default: f64, allow_zero: bool) -> Duration {
    let value: f64 = r.parsed(name, default, "a number of seconds");
    if value.is_finite() && (value > 0.0 || (allow_zero && value == 0.0)) {
        Duration::from_secs_f64(value)
    } else {
        let bound = if allow_zero {
            "0 or more"
        } else {
            "more than 0"
        };
        r.errors
            .invalid
            .push(format!("{name} must be a number of seconds, {bound}"));
        Duration::from_secs_f64(default)
    }
}

fn read_email_config(r: &mut Reader<'_>, component: Component, production: bool) -> EmailConfig {
    let smtp_url = r.optional("SMTP_URL");
    if let Some(url) = &smtp_url
        && !(url.starts_with("smtp://") || url.starts_with("smtps://"))
    {
        r.errors
            .invalid
            .push("SMTP_URL must start with smtp:// (STARTTLS) or smtps:// (TLS)".into());
    }
    // Whoever runs jobs sends email: the jobs binary, or a server running the worker.
    let runs_jobs = match component {
        Component::Jobs | Component::ServerWithWorker => true,
        Component::Server => r.flag("JOBS_IN_SERVER", false),
        Component::Admin => false,
    };
    if production && runs_jobs && smtp_url.is_none() {
        r.errors.missing.push("SMTP_URL");
    }
    let sender = match r.optional("SENDER_EMAIL") {
        Some(sender) => sender,
        None if production && component != Component::Admin => {
            r.errors.missing.push("SENDER_EMAIL");
            String::new()
        }
        None => "Mintbean <noreply@mintbean.localhost>".into(),
    };
    if !sender.is_empty() && sender.parse::<lettre::message::Mailbox>().is_err() {
        r.errors.invalid.push(format!(
            "SENDER_EMAIL={sender:?} is not valid (expected an address like Mintbean <hello@example.com>)"
        ));
    }
    let contact_recipients = r.list("CONTACT_FORM_RECIPIENT_EMAILS", ';');
    for address in &contact_recipients {
        if address.parse::<lettre::message::Mailbox>().is_err() {
            r.errors.invalid.push(format!(
                "CONTACT_FORM_RECIPIENT_EMAILS contains {address:?}, which is not an email address"
            ));
        }
    }
    EmailConfig {
        smtp_url: smtp_url.map(Secret),
        sender,
        outbox_dir: PathBuf::from(
            r.optional("EMAIL_OUTBOX_DIR")
                .unwrap_or_else(|| ".data/outbox".into()),
        ),
        contact_recipients,
        disable_registration_emails: r.flag("DISABLE_REGISTRATION_EMAILS", false),
        disable_new_meet_reminders: r.flag("DISABLE_NEW_MEET_REMINDERS", false),
        welcome_emails: r.flag("WELCOME_EMAILS", true),
        frontend_url: r
            .optional("FRONTEND_URL")
            .unwrap_or_else(|| "http://localhost:3000".into())
            .trim_end_matches('/')
            .to_owned(),
        concurrency: r.parsed("EMAIL_CONCURRENCY", 8, "a positive integer"),
        poll_interval: seconds(r, "EMAIL_POLL_INTERVAL_SECS", 5.0, false),
        retry_backoff: seconds(r, "EMAIL_RETRY_BACKOFF_SECS", 60.0, true),
        send_timeout: seconds(r, "EMAIL_SEND_TIMEOUT_SECS", 30.0, false),
        contact_form_per_hour: r.parsed("CONTACT_FORM_PER_HOUR", 5, "a number of messages"),
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn forwarded_addresses_are_believed_only_from_trusted_proxies_read_from_the_right() {
        let proxies = ProxyTrust {
            trusted: vec!["10.0.0.0/8".parse().unwrap()],
            any_peer_is_one_proxy: false,
        };
        let lb = Some(ip("10.0.0.5"));
        // The client wrote the first entry; the proxy added the real one on the right.
        assert_eq!(
            proxies.client(lb, &["6.6.6.6, 203.0.113.9"]),
            Some(ip("203.0.113.9"))
        );
        // Two trusted hops, headers split over two lines.
        assert_eq!(
            proxies.client(lb, &["6.6.6.6, 203.0.113.9", "10.1.1.1"]),
            Some(ip("203.0.113.9"))
        );
        // Not from a trusted proxy: the header is ignored.
        assert_eq!(
            proxies.client(Some(ip("198.51.100.1")), &["6.6.6.6"]),
            Some(ip("198.51.100.1"))
        );
        // Garbage stops the walk at the last address believed.
        assert_eq!(
            proxies.client(lb, &["junk, 10.2.2.2"]),
            Some(ip("10.2.2.2"))
        );
        assert_eq!(proxies.client(lb, &[]), lb);
        let one_hop = ProxyTrust {
            trusted: vec![],
            any_peer_is_one_proxy: true,
        };
        assert_eq!(
            one_hop.client(Some(ip("127.0.0.1")), &["6.6.6.6, 203.0.113.9"]),
            Some(ip("203.0.113.9"))
        );
    }

    use super::*;
    use std::collections::HashMap;

    fn load(component: Component, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(component, &move |name| map.get(name).cloned())
    }

    #[test]
    fn names_every_missing_variable_at_once() {
        let err = load(Component::Server, &[]).unwrap_err();
        assert_eq!(err.missing, vec!["DATABASE_URL", "JWT_SECRET"]);
        let message = err.to_string();
        assert!(message.contains("DATABASE_URL, JWT_SECRET"), "{message}");
    }

    #[test]
    fn jobs_do_not_need_the_session_secret() {
        let config = load(Component::Jobs, &[("DATABASE_URL", "postgres://x/y")]).unwrap();
        assert_eq!(config.port, 4000);
    }

    #[test]
    fn reports_invalid_values_with_their_names() {
        let err = load(
            Component::Server,
            &[
                ("DATABASE_URL", "postgres://x/y"),
                ("JWT_SECRET", "s"),
                ("PORT", "eighty"),
                ("COOKIE_SECURE", "maybe"),
            ],
        )
        .unwrap_err();
        assert!(err.missing.is_empty());
        assert_eq!(err.invalid.len(), 2, "{:?}", err.invalid);
        assert!(err.invalid[0].starts_with("PORT="));
        assert!(err.invalid[1].starts_with("COOKIE_SECURE="));
    }

    #[test]
    fn prefetch_is_off_by_default_and_bounded() {
        let base = [("DATABASE_URL", "postgres://x/y")];
        assert_eq!(load(Component::Jobs, &base).unwrap().jobs.prefetch, 0);
        let with = |value| {
            let mut vars = base.to_vec();
            vars.push(("JOBS_PREFETCH", value));
            load(Component::Jobs, &vars)
        };
        assert_eq!(with("500").unwrap().jobs.prefetch, 500);
        let err = with("1000000").unwrap_err();
        assert!(
            err.invalid[0].starts_with("JOBS_PREFETCH="),
            "{:?}",
            err.invalid
        );
    }

    #[test]
    fn a_production_server_running_the_worker_needs_smtp() {
        let base = [
            ("DATABASE_URL", "postgres://x/y"),
            ("JWT_SECRET", "a-long-enough-production-secret"),
            ("APP_ENV", "production"),
            ("SENDER_EMAIL", "Mintbean <hello@mintbean.io>"),
        ];
        assert!(load(Component::Server, &base).is_ok());
        let err = load(Component::ServerWithWorker, &base).unwrap_err();
        assert_eq!(err.missing, vec!["SMTP_URL"]);
        let mut in_server = base.to_vec();
        in_server.push(("JOBS_IN_SERVER", "true"));
        assert_eq!(
            load(Component::Server, &in_server).unwrap_err().missing,
            vec!["SMTP_URL"]
        );
    }

    #[test]
    fn production_jobs_need_smtp_and_a_sender() {
        let err = load(
            Component::Jobs,
            &[
                ("DATABASE_URL", "postgres://x/y"),
                ("APP_ENV", "production"),
            ],
        )
        .unwrap_err();
        assert_eq!(err.missing, vec!["SMTP_URL", "SENDER_EMAIL"]);
        let err = load(
            Component::Jobs,
            &[
                ("DATABASE_URL", "postgres://x/y"),
                ("SMTP_URL", "http://mail"),
                ("SENDER_EMAIL", "not an address"),
                ("CONTACT_FORM_RECIPIENT_EMAILS", "a@example.com; nope"),
            ],
        )
        .unwrap_err();
        assert_eq!(err.invalid.len(), 3, "{:?}", err.invalid);
        let ok = load(
            Component::Jobs,
            &[
                ("DATABASE_URL", "postgres://x/y"),
                (
                    "CONTACT_FORM_RECIPIENT_EMAILS",
                    "a@example.com;b@example.com;",
                ),
            ],
        )
        .unwrap();
        assert_eq!(
            ok.email.contact_recipients,
            vec!["a@example.com", "b@example.com"]
        );
        assert!(ok.email.smtp_url.is_none());
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let config = load(
            Component::Server,
            &[
                ("DATABASE_URL", "postgres://x/y"),
                ("JWT_SECRET", "the-session-secret-value"),
                (
                    "SMTP_URL",
                    "smtps://mailer:the-smtp-password@mail.example.com:465",
                ),
            ],
        )
        .unwrap();
        let printed = format!("{config:?} {:?}", config.email);
        assert!(!printed.contains("the-session-secret-value"), "{printed}");
        assert!(!printed.contains("the-smtp-password"), "{printed}");
        assert!(printed.contains("[redacted]"));
    }

    #[test]
    fn a_short_production_secret_needs_allow_weak_jwt_secret() {
        let base = [
            ("DATABASE_URL", "postgres://x/y"),
            ("JWT_SECRET", "node-secret"),
            ("APP_ENV", "production"),
            ("SENDER_EMAIL", "Mintbean <hello@mintbean.io>"),
        ];
        let err = load(Component::Server, &base).unwrap_err();
        assert!(err.to_string().contains("ALLOW_WEAK_JWT_SECRET"), "{err}");
        let mut allowed = base.to_vec();
        allowed.push(("ALLOW_WEAK_JWT_SECRET", "true"));
        let config = load(Component::Server, &allowed).unwrap();
        assert!(config.weak_jwt_secret());
        assert_eq!(config.jwt_secret.expose(), "node-secret");
        // Outside production a short secret is fine, and not "weak" in this sense.
        let dev = load(
            Component::Server,
            &[("DATABASE_URL", "postgres://x/y"), ("JWT_SECRET", "short")],
        )
        .unwrap();
        assert!(!dev.weak_jwt_secret());
    }

    #[test]
    fn production_turns_introspection_off_unless_asked() {
        let base = [
            ("DATABASE_URL", "postgres://x/y"),
            ("JWT_SECRET", "a-long-enough-production-secret"),
            ("APP_ENV", "production"),
            ("SENDER_EMAIL", "Mintbean <hello@mintbean.io>"),
        ];
        let config = load(Component::Server, &base).unwrap();
        assert!(!config.graphql.introspection);
        assert!(!config.graphql.graphiql);
        let mut with_flag = base.to_vec();
        with_flag.push(("GRAPHQL_INTROSPECTION", "true"));
        assert!(
            load(Component::Server, &with_flag)
                .unwrap()
                .graphql
                .introspection
        );
    }
}
