//! Multi-host `DATABASE_URL`s, as libpq writes them:
//! `postgres://user@primary:5432,replica:5432/mintbean?target_session_attrs=read-write`. sqlx
//! connects to one host, so the pool is opened on the first host that accepts writes, and a
//! watcher checks once a second that the pool still reaches a writable server; when it does not
//! (the primary stopped, a replica was promoted), it finds the host that accepts writes and points
//! the pool's new connections there. Connections to the old primary fail and are dropped as they
//! are used. A promotion is thus followed within seconds without restarting any process.

use std::time::Duration;

use sea_orm::sqlx::{
    Connection as _, PgPool,
    postgres::{PgConnectOptions, PgConnection},
};

/// A URL naming several hosts: the URL for each (in order), or `None` for a single-host URL.
pub fn split_hosts(url: &str) -> Option<Vec<String>> {
    let (scheme, rest) = url.split_once("://")?;
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(authority_end);
    let (userinfo, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => (format!("{userinfo}@"), hosts),
        None => (String::new(), authority),
    };
    if !hosts.contains(',') {
        return None;
    }
    // `target_session_attrs` is what this module does; sqlx would reject it.
    let path = strip_param(path, "target_session_attrs");
    Some(
        hosts
            .split(',')
            .filter(|host| !host.is_empty())
            .map(|host| format!("{scheme}://{userinfo}{host}{path}"))
            .collect(),
    )
}

fn strip_param(path: &str, name: &str) -> String {
    let Some((base, query)) = path.split_once('?') else {
        return path.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| pair.split('=').next() != Some(name))
        .collect();
    if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

/// Whether the server at `url` answers within `timeout` and accepts writes.
async fn writable(url: &str, timeout: Duration) -> bool {
    let probe = async {
        let options: PgConnectOptions = url.parse().ok()?;
        let mut conn = PgConnection::connect_with(&options).await.ok()?;
        let standby: bool = sea_orm::sqlx::query_scalar("SELECT pg_is_in_recovery()")
            .fetch_one(&mut conn)
            .await
            .ok()?;
        let _ = conn.close().await;
        Some(!standby)
    };
    tokio::time::timeout(timeout, probe)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// The first of `hosts` that accepts writes.
pub async fn find_primary(hosts: &[String], timeout: Duration) -> Option<&String> {
    for host in hosts {
        if writable(host, timeout).await {
            return Some(host);
        }
    }
    None
}

/// Keeps `pool`'s new connections going to the host that accepts writes, until the process ends.
pub fn follow_primary(pool: PgPool, hosts: Vec<String>, mut current: String) {
    tokio::spawn(async move {
        let probe = Duration::from_secs(2);
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let healthy = tokio::time::timeout(probe, async {
                sea_orm::sqlx::query_scalar::<_, bool>("SELECT NOT pg_is_in_recovery()")
                    .fetch_one(&pool)
                    .await
            })
            .await;
            if matches!(healthy, Ok(Ok(true))) {
                continue;
            }
            let Some(primary) = find_primary(&hosts, probe).await.cloned() else {
                tracing::warn!("no database host accepts writes; looking again");
                continue;
            };
            if primary == current {
                continue;
            }
            let Ok(target) = primary.parse::<PgConnectOptions>() else {
                continue;
            };
            // Everything else (timeouts, application name, keepalives) as the pool had it.
            let options = (*pool.connect_options())
                .clone()
                .host(target.get_host())
                .port(target.get_port());
            pool.set_connect_options(options);
            tracing::warn!(
                from = %redact(&current),
                to = %redact(&primary),
                "the database primary moved; new connections go to the new one"
            );
            current = primary;
        }
    });
}

/// A URL without its password, for logs.
fn redact(url: &str) -> String {
    match url.parse::<PgConnectOptions>() {
        Ok(options) => format!("{}:{}", options.get_host(), options.get_port()),
        Err(_) => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_libpq_multi_host_url_becomes_one_url_per_host() {
        assert_eq!(
            split_hosts(
                "postgres://app:pw@10.0.0.1:5432,10.0.0.2:5433/mintbean?target_session_attrs=read-write&sslmode=disable"
            ),
            Some(vec![
                "postgres://app:pw@10.0.0.1:5432/mintbean?sslmode=disable".to_owned(),
                "postgres://app:pw@10.0.0.2:5433/mintbean?sslmode=disable".to_owned(),
            ])
        );
        assert_eq!(
            split_hosts("postgres://a,b/db?target_session_attrs=read-write"),
            Some(vec![
                "postgres://a/db".to_owned(),
                "postgres://b/db".to_owned()
            ])
        );
        assert_eq!(split_hosts("postgres://user@localhost:5432/db"), None);
    }
}
