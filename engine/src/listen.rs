//! LISTEN connections that know when they have gone quiet. A backend that stalls (a dropped NAT
//! entry, a failover without FIN or RST, a frozen process) keeps the socket open and simply stops
//! delivering: nothing errors, and whoever trusts its notifications (caches, followers, fetchers)
//! would trust them forever. So every listener runs a round trip on its own connection every
//! [`PING_EVERY`]; one that does not answer within [`LATE_AFTER`] is reported [`Heard::Lost`]
//! (with a warning and `engine_listener_lost_total`), dropped, and replaced by a new connection
//! that LISTENs again before [`Heard::Listening`] is reported. (sqlx 0.9 cannot set TCP keepalive
//! on its sockets; this round trip is what notices a silent peer on the client side.)

use std::{future::Future, time::Duration};

use sqlx::{PgPool, postgres::PgListener};
use tokio::time::{Instant, timeout};

/// How often the connection is asked for a round trip.
pub const PING_EVERY: Duration = Duration::from_millis(500);
/// How long a round trip (or a connect and LISTEN) may take before the connection is given up.
pub const LATE_AFTER: Duration = Duration::from_secs(1);

/// The `application_name` of a listener's connection.
pub fn application_name(name: &str) -> String {
    format!("mintbean listener: {name}")
}

/// What a listener reports.
#[derive(Debug)]
pub enum Heard<'a> {
    /// LISTEN is in place on a live connection: notifications from now on will arrive.
    Listening,
    /// The connection went quiet or was lost: notifications may be missed until `Listening`.
    Lost,
    Notification {
        channel: &'a str,
        payload: &'a str,
    },
}

/// Listens on `channels` (reconnecting as needed) until `stop` resolves, telling `on` what it
/// hears. `name` labels its logs and metric.
pub async fn listen(
    pool: PgPool,
    name: &'static str,
    channels: Vec<String>,
    mut on: impl FnMut(Heard<'_>),
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = session(&pool, name, &channels, &mut on) => {}
            () = &mut stop => return,
        }
        crate::Metrics::global().listener_lost(name);
        on(Heard::Lost);
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
            () = &mut stop => return,
        }
    }
}

/// One connection's life: returns when it is lost or late.
async fn session(
    pool: &PgPool,
    name: &'static str,
    channels: &[String],
    on: &mut impl FnMut(Heard<'_>),
) {
    let connected = timeout(LATE_AFTER * 5, async {
        let mut listener = PgListener::connect_with(pool).await?;
        // A lost connection is reported before any new one is made.
        listener.eager_reconnect(false);
        // Named, so that operators (and tests) can tell it in pg_stat_activity.
        sqlx::query("SELECT set_config('application_name', $1, false)")
            .bind(application_name(name))
            .execute(&mut listener)
            .await?;
        listener
            .listen_all(channels.iter().map(String::as_str))
            .await?;
        Ok::<_, sqlx::Error>(listener)
    })
    .await;
    let mut listener = match connected {
        Ok(Ok(listener)) => listener,
        Ok(Err(err)) => {
            tracing::warn!(listener = name, error = %err, "LISTEN connection failed; retrying");
            return;
        }
        Err(_) => {
            tracing::warn!(listener = name, "LISTEN connection timed out; retrying");
            return;
        }
    };
    on(Heard::Listening);
    let mut next_ping = Instant::now() + PING_EVERY;
    loop {
        tokio::select! {
            received = listener.try_recv() => match received {
                Ok(Some(notification)) => on(Heard::Notification {
                    channel: notification.channel(),
                    payload: notification.payload(),
                }),
                // Closed: notifications may have been missed (and `try_recv` would reconnect
                // on its own next time, before anyone is told).
                Ok(None) => {
                    tracing::warn!(listener = name, "LISTEN connection closed; reconnecting");
                    return;
                }
                Err(err) => {
                    tracing::warn!(listener = name, error = %err, "LISTEN connection failed; reconnecting");
                    return;
                }
            },
            () = tokio::time::sleep_until(next_ping) => {
                let started = Instant::now();
                let answered = timeout(LATE_AFTER, sqlx::query("SELECT 1").execute(&mut listener)).await;
                match answered {
                    Ok(Ok(_)) => {}
                    Ok(Err(err)) => {
                        tracing::warn!(listener = name, error = %err, "LISTEN connection failed its heartbeat; reconnecting");
                        return;
                    }
                    Err(_) => {
                        tracing::warn!(listener = name, waited = ?started.elapsed(), "LISTEN connection is late (no heartbeat answer); distrusting it and reconnecting");
                        return;
                    }
                }
                next_ping = Instant::now() + PING_EVERY;
            }
        }
    }
}
