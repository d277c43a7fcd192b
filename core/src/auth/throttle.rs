//! Failed-login limits per account and per client address, kept in PostgreSQL (`login_attempts`)
//! so that they hold across server processes.
//!
//! An attempt is recorded *before* its password is checked and counts as a failure until it
//! succeeds. Attempts on one account or client are counted and recorded one at a time (an
//! advisory lock per key, held for that short transaction), so of any number of concurrent
//! guesses exactly the limit get to the password check. A refused attempt records nothing (being
//! refused is not another failure); a successful login removes its rows and every failure of its
//! account. The account key is the normalised
//! email whether or not an account has it, so answers never tell whether an account exists.

use std::net::IpAddr;

use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionSession, TransactionTrait, Value};

use crate::{
    config::LoginLimits,
    error::{AppError, AppResult},
};

const ACCOUNT: &str = "account";
const CLIENT: &str = "client";

/// A recorded attempt: its rows, removed again when the login succeeds.
pub struct Attempt {
    /// The two rows (account and client) of this attempt.
    ids: [i64; 2],
    account_key: String,
}

/// The account key of an email: trimmed and lower-cased like stored emails. (NUL cannot be stored
/// in PostgreSQL text; no account can have it anyway.)
pub fn account_key(email: &str) -> String {
    email.trim().to_lowercase().replace('\0', "\u{fffd}")
}

/// The client key of an address; IPv6 clients are counted per /64, the block one host gets.
pub fn client_key(address: Option<IpAddr>) -> String {
    match address {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        None => "unknown".into(),
    }
}

fn statement(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

fn window_secs(limits: &LoginLimits) -> Value {
    limits.window.as_secs_f64().into()
}

/// Writes the attempt's two rows (it counts as a failure until it succeeds).
async fn record(
    db: &impl ConnectionTrait,
    account_key: &str,
    client_key: &str,
) -> AppResult<Attempt> {
    let rows = db
        .query_all_raw(statement(
            "INSERT INTO login_attempts (scope, key) VALUES ($1, $2), ($3, $4) RETURNING id",
            vec![
                ACCOUNT.into(),
                account_key.into(),
                CLIENT.into(),
                client_key.into(),
            ],
        ))
        .await?;
    let ids = rows
        .iter()
        .map(|row| row.try_get::<i64>("", "id"))
        .collect::<Result<Vec<_>, _>>()?;
    let ids: [i64; 2] = ids
        .try_into()
        .map_err(|_| AppError::internal("recording a login attempt returned no ids"))?;
    Ok(Attempt {
        ids,
        account_key: account_key.to_owned(),
    })
}

/// Holds `scope`/`key` until the transaction ends, in every server process: attempts on one key
/// are counted one after another. Every attempt takes its account's lock before its client's, so
/// two attempts never wait on each other in a circle.
async fn lock(db: &impl ConnectionTrait, scope: &str, key: &str) -> AppResult<()> {
    db.execute_raw(statement(
        "SELECT pg_advisory_xact_lock(hashtextextended('login_attempts:' || $1 || ':' || $2, 0))",
        vec![scope.into(), key.into()],
    ))
    .await?;
    Ok(())
}

/// The attempts in the window: `(account, client)`.
async fn counts(
    db: &impl ConnectionTrait,
    limits: &LoginLimits,
    account_key: &str,
    client_key: &str,
) -> AppResult<(i64, i64)> {
    let row = db
        .query_one_raw(statement(
            "SELECT count(*) FILTER (WHERE scope = $1 AND key = $2) AS account,
                    count(*) FILTER (WHERE scope = $3 AND key = $4) AS client
             FROM login_attempts
             WHERE ((scope = $1 AND key = $2) OR (scope = $3 AND key = $4))
               AND attempted_at > now() - make_interval(secs => $5)",
            vec![
                ACCOUNT.into(),
                account_key.into(),
                CLIENT.into(),
                client_key.into(),
                window_secs(limits),
            ],
        ))
        .await?
        .ok_or_else(|| AppError::internal("login attempt count returned no row"))?;
    Ok((row.try_get("", "account")?, row.try_get("", "client")?))
}

/// Records an attempt, or refuses it with `TOO_MANY_REQUESTS` when the account or the client
/// has used up its failures in the window. Concurrent attempts on one key are counted in turn
/// (an advisory lock per key), so exactly the first `limit` of them get to the password check.
pub async fn begin(
    db: &impl TransactionTrait,
    limits: &LoginLimits,
    account_key: &str,
    client_key: &str,
) -> AppResult<Attempt> {
    let txn = db.begin().await?;
    lock(&txn, ACCOUNT, account_key).await?;
    lock(&txn, CLIENT, client_key).await?;
    let (account_count, client_count) = counts(&txn, limits, account_key, client_key).await?;
    let mut retry_after_secs = 0;
    for (scope, key, count, limit) in [
        (
            ACCOUNT,
            account_key,
            account_count,
            limits.max_failures_per_account,
        ),
        (
            CLIENT,
            client_key,
            client_count,
            limits.max_failures_per_client,
        ),
    ] {
        if count >= i64::from(limit) {
            let wait = seconds_until_below(&txn, limits, scope, key, limit).await?;
            retry_after_secs = retry_after_secs.max(wait);
        }
    }
    if retry_after_secs > 0 {
        // Being refused is not another failure: nothing is recorded.
        txn.rollback().await?;
        return Err(AppError::TooManyRequests {
            message: format!(
                "Too many failed login attempts; try again in {}",
                describe_wait(retry_after_secs)
            ),
            retry_after_secs,
        });
    }
    let attempt = record(&txn, account_key, client_key).await?;
    txn.commit().await?;
    Ok(attempt)
}

/// Seconds until fewer than `limit` attempts of `scope`/`key` remain in the window: when the
/// `limit`-th most recent one leaves it.
async fn seconds_until_below(
    db: &impl ConnectionTrait,
    limits: &LoginLimits,
    scope: &str,
    key: &str,
    limit: u32,
) -> AppResult<u64> {
    let row = db
        .query_one_raw(statement(
            "SELECT EXTRACT(EPOCH FROM attempted_at + make_interval(secs => $3) - now())::float8
                    AS wait
             FROM login_attempts
             WHERE scope = $1 AND key = $2
               AND attempted_at > now() - make_interval(secs => $3)
             ORDER BY attempted_at DESC
             OFFSET $4 LIMIT 1",
            vec![
                scope.into(),
                key.into(),
                window_secs(limits),
                i64::from(limit.saturating_sub(1)).into(),
            ],
        ))
        .await?;
    let wait = match row {
        Some(row) => row.try_get::<f64>("", "wait")?,
        // A limit of 0 refuses every attempt.
        None => 1.0,
    };
    Ok(wait.ceil().max(1.0) as u64)
}

fn describe_wait(seconds: u64) -> String {
    match seconds {
        0..=90 => format!("{seconds} seconds"),
        _ => format!("{} minutes", seconds.div_ceil(60)),
    }
}

/// The password was right: the attempt and the account's earlier failures are forgotten.
pub async fn succeeded(db: &impl ConnectionTrait, attempt: Attempt) -> AppResult<()> {
    db.execute_raw(statement(
        "DELETE FROM login_attempts WHERE id IN ($1, $2) OR (scope = $3 AND key = $4)",
        vec![
            attempt.ids[0].into(),
            attempt.ids[1].into(),
            ACCOUNT.into(),
            attempt.account_key.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// The password was wrong: the attempt stays as a failure, and failures that have left the
/// window are pruned (a bounded batch each time, so no single login pays for a backlog).
pub async fn failed(db: &impl ConnectionTrait, limits: &LoginLimits) -> AppResult<()> {
    db.execute_raw(statement(
        "DELETE FROM login_attempts WHERE id IN (
             SELECT id FROM login_attempts
             WHERE attempted_at < now() - make_interval(secs => $1)
             LIMIT 1000)",
        vec![window_secs(limits)],
    ))
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_normalised() {
        assert_eq!(account_key("  Ada@Example.COM "), "ada@example.com");
        assert_eq!(account_key("a\0b"), "a\u{fffd}b");
        assert_eq!(client_key(Some("10.0.0.7".parse().unwrap())), "10.0.0.7");
        assert_eq!(
            client_key(Some("2001:db8:1:2:3:4:5:6".parse().unwrap())),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            client_key(Some("::ffff:10.0.0.7".parse().unwrap())),
            "10.0.0.7"
        );
        assert_eq!(client_key(None), "unknown");
    }

    #[test]
    fn waits_read_well() {
        assert_eq!(describe_wait(42), "42 seconds");
        assert_eq!(describe_wait(899), "15 minutes");
    }
}
