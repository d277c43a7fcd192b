//! The one application error type. Services return `AppError`; each surface maps it once (the
//! server's `graphql::error` puts [`AppError::code`] into `extensions.code`, the task API into
//! its JSON body), so the codes are the same whichever door a call came in.

use sea_orm::{DbErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    /// A validation failure; `field` names the offending input field when there is one.
    #[error("{message}")]
    BadInput {
        field: Option<String>,
        message: String,
    },
    #[error("{0}")]
    NotFound(String),
    /// The thing is in a state that does not allow the change (e.g. cancelling a finished job).
    #[error("{0}")]
    Conflict(String),
    /// A rate limit was hit; the client may try again after `retry_after_secs`.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    /// `operation` is the span the error arose in (the instrumented service function, e.g.
    /// `mintbean::meets::service::create`), so the log says which operation failed.
    #[error("{source}")]
    Database {
        source: DbErr,
        operation: Option<&'static tracing::Metadata<'static>>,
    },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type AppResult<T> = Result<T, AppError>;

impl From<DbErr> for AppError {
    fn from(source: DbErr) -> Self {
        AppError::Database {
            source,
            operation: tracing::Span::current().metadata(),
        }
    }
}

impl From<engine::EngineError> for AppError {
    fn from(err: engine::EngineError) -> Self {
        use engine::EngineError;
        match err {
            EngineError::Database(source) => AppError::from(source),
            EngineError::Sqlx(source) => AppError::from(DbErr::Query(
                sea_orm::RuntimeErr::SqlxError(std::sync::Arc::new(source)),
            )),
            EngineError::Invalid(message) => AppError::BadInput {
                field: None,
                message,
            },
            EngineError::NotFound(message) => AppError::NotFound(message),
            EngineError::Conflict(message) => AppError::Conflict(message),
        }
    }
}

impl AppError {
    pub fn bad_input(field: impl Into<String>, message: impl Into<String>) -> Self {
        AppError::BadInput {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn not_found(what: &str) -> Self {
        AppError::NotFound(format!("{what} not found"))
    }

    pub fn unauthenticated() -> Self {
        AppError::Unauthenticated("You must be logged in".into())
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        AppError::Forbidden(message.into())
    }

    pub fn internal(message: impl Into<String>) -> Self {
        AppError::Internal(anyhow::anyhow!(message.into()))
    }

    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthenticated(_) => "UNAUTHENTICATED",
            AppError::Forbidden(_) => "FORBIDDEN",
            AppError::BadInput { .. } => "BAD_USER_INPUT",
            AppError::NotFound(_) => "NOT_FOUND",
            AppError::Conflict(_) => "CONFLICT",
            AppError::TooManyRequests { .. } => "TOO_MANY_REQUESTS",
            AppError::Database { source, .. } if is_unavailable(source) => "SERVICE_UNAVAILABLE",
            AppError::Database { .. } | AppError::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The message a client may see: internal details stay in the log.
    pub fn public_message(&self) -> String {
        match self {
            AppError::Database { source, .. } if is_unavailable(source) => {
                "The database is unavailable; please try again shortly".into()
            }
            AppError::Database { .. } | AppError::Internal(_) => "Internal server error".into(),
            other => other.to_string(),
        }
    }

    /// Logs what the client is not told: a database or internal error, with the operation it
    /// arose in (`surface` names the door it came through).
    pub fn log(&self, surface: &str) {
        match self {
            AppError::Database { source, operation } => {
                let operation = operation
                    .map(|m| format!("{}::{}", m.target(), m.name()))
                    .unwrap_or_else(|| "unknown".into());
                tracing::error!(%operation, error = %source, "database error in a {surface} request");
            }
            AppError::Internal(internal) => {
                tracing::error!(error = ?internal, "internal error in a {surface} request");
            }
            _ => {}
        }
    }

    /// Turns a unique-constraint violation into a user error naming `field`; anything else stays
    /// a database error.
    pub fn on_unique_violation(err: DbErr, field: &str, message: &str) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => AppError::bad_input(field, message),
            _ => AppError::from(err),
        }
    }
}

/// No connection could be had in time, the one in hand was lost (pooled connections are only
/// pinged after a second idle), the server is shutting down or starting, or the statement lost a
/// race worth trying again: the database is down or busy, not the request wrong.
fn is_unavailable(err: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Query(RuntimeErr::SqlxError(e)) | DbErr::Exec(RuntimeErr::SqlxError(e)) => {
            engine::is_transient(e)
        }
        _ => false,
    }
}

impl<T> From<std::sync::Arc<T>> for AppError
where
    T: std::error::Error + Send + Sync + 'static,
{
    /// DataLoader errors arrive shared (`Arc`) because one failed batch answers many fields.
    fn from(err: std::sync::Arc<T>) -> Self {
        AppError::Internal(anyhow::Error::new(ArcError(err)))
    }
}

#[derive(Debug)]
struct ArcError<T>(std::sync::Arc<T>);

impl<T: std::fmt::Display> std::fmt::Display for ArcError<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: std::error::Error> std::error::Error for ArcError<T> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_engine_statement_that_lost_the_database_is_unavailable_not_internal() {
        for lost in [
            sea_orm::sqlx::Error::PoolTimedOut,
            sea_orm::sqlx::Error::Io(std::io::ErrorKind::ConnectionReset.into()),
        ] {
            let err = AppError::from(engine::EngineError::Sqlx(lost));
            assert_eq!(err.code(), "SERVICE_UNAVAILABLE", "{err}");
        }
        let wrong = AppError::from(engine::EngineError::Sqlx(sea_orm::sqlx::Error::RowNotFound));
        assert_eq!(wrong.code(), "INTERNAL_SERVER_ERROR");
    }
}
