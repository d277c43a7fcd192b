//! Typed configuration, read once from environment variables (and `.env` in development).
//!
//! Every problem is collected before failing, so one start-up message names every missing or
//! invalid variable at once.

use std::{fmt, net::IpAddr, str::FromStr, time::Duration};

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

/// Which binary is starting: the server needs the session secret, the jobs runner does not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    Server,
    Jobs,
    /// Database maintenance commands (migrate, seed, reset).
    Admin,
}

#[derive(Clone, Debug)]
pub struct GraphqlConfig {
    pub introspection: bool,
    pub playground: bool,
    pub max_depth: usize,
    pub max_complexity: usize,
}

#[derive(Clone, Debug)]
pub struct Config {
    pub environment: Environment,
    pub database_url: String,
    pub db_max_connections: u32,
    pub host: IpAddr,
    pub port: u16,
    /// Secret for HS256 session tokens; the same value as the Node backend keeps old sessions valid.
    pub jwt_secret: String,
    pub cookie_secure: bool,
    pub cors_allowed_origins: Vec<String>,
    pub graphql: GraphqlConfig,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
    pub password_hash_concurrency: usize,
    pub log_format: LogFormat,
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
        let environment = match r.optional("APP_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("test") => Environment::Test,
            Some("production") => Environment::Production,
            Some(other) => {
                r.errors.invalid.push(format!(
                    "APP_ENV={other:?} is not valid (expected development, test or production)"
                ));
                Environment::Development
            }
        };
        let production = environment == Environment::Production;

        let database_url = r.required("DATABASE_URL");
        let jwt_secret = if component == Component::Server {
            r.required("JWT_SECRET")
        } else {
            r.optional("JWT_SECRET").unwrap_or_default()
        };
        if production
            && component == Component::Server
            && !jwt_secret.is_empty()
            && jwt_secret.len() < 16
        {
            r.errors
                .invalid
                .push("JWT_SECRET is too short for production (use at least 16 characters)".into());
        }

        let introspection = r.flag("GRAPHQL_INTROSPECTION", !production);
        let graphql = GraphqlConfig {
            introspection,
            playground: r.flag("GRAPHQL_PLAYGROUND", introspection),
            max_depth: r.parsed("GRAPHQL_MAX_DEPTH", 15, "a positive integer"),
            max_complexity: r.parsed("GRAPHQL_MAX_COMPLEXITY", 1000, "a positive integer"),
        };
        let default_hashers = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .max(2);
        let config = Config {
            environment,
            database_url,
            db_max_connections: r.parsed("DB_MAX_CONNECTIONS", 10, "a positive integer"),
            host: r.parsed("HOST", IpAddr::from([0, 0, 0, 0]), "an IP address"),
            port: r.parsed("PORT", 4000, "a port number"),
            jwt_secret,
            cookie_secure: r.flag("COOKIE_SECURE", false),
            cors_allowed_origins: r
                .optional("CORS_ALLOWED_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            graphql,
            max_body_bytes: r.parsed("MAX_BODY_BYTES", 1024 * 1024, "a number of bytes"),
            request_timeout: {
                let seconds: f64 = r.parsed("REQUEST_TIMEOUT_SECS", 30.0, "a number of seconds");
                if seconds.is_finite() && seconds > 0.0 {
                    Duration::from_secs_f64(seconds)
                } else {
                    r.errors
                        .invalid
                        .push("REQUEST_TIMEOUT_SECS must be a positive number of seconds".into());
                    Duration::from_secs(30)
                }
            },
            password_hash_concurrency: r.parsed(
                "PASSWORD_HASH_CONCURRENCY",
                default_hashers,
                "a positive integer",
            ),
            log_format: match r.optional("LOG_FORMAT").as_deref() {
                None | Some("text") => LogFormat::Text,
                Some("json") => LogFormat::Json,
                Some(other) => {
                    r.errors.invalid.push(format!(
                        "LOG_FORMAT={other:?} is not valid (expected text or json)"
                    ));
                    LogFormat::Text
                }
            },
        };
        for (name, value) in [
            ("DB_MAX_CONNECTIONS", config.db_max_connections as usize),
            ("GRAPHQL_MAX_DEPTH", config.graphql.max_depth),
            ("GRAPHQL_MAX_COMPLEXITY", config.graphql.max_complexity),
            (
                "PASSWORD_HASH_CONCURRENCY",
                config.password_hash_concurrency,
            ),
            ("MAX_BODY_BYTES", config.max_body_bytes),
        ] {
            if value == 0 {
                r.errors
                    .invalid
                    .push(format!("{name} must be greater than 0"));
            }
        }
        if r.errors.missing.is_empty() && r.errors.invalid.is_empty() {
            Ok(config)
        } else {
            Err(r.errors)
        }
    }
}

#[cfg(test)]
mod tests {
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
    fn production_turns_introspection_off_unless_asked() {
        let base = [
            ("DATABASE_URL", "postgres://x/y"),
            ("JWT_SECRET", "a-long-enough-production-secret"),
            ("APP_ENV", "production"),
        ];
        let config = load(Component::Server, &base).unwrap();
        assert!(!config.graphql.introspection);
        assert!(!config.graphql.playground);
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
