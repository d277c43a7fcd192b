//! `GET /graphql/ws`: GraphQL subscriptions over WebSocket (graphql-ws, and the older
//! subscriptions-transport-ws). The caller is who the upgrade request's `jwt` cookie says, or
//! the `authorization: "Bearer …"` of the `connection_init` payload (API tokens, whose
//! holders may follow the tasks they created). Without either the connection is refused.
//!
//! A socket is held like a request: it counts against the connection cap (and is never closed
//! to make room), and shutdown closes it (1001) before the drain ends. `connection_init` must
//! arrive within [`INIT_TIMEOUT`]; the server pings every [`PING_EVERY`] and closes a socket
//! from which nothing (not even a pong) arrived for [`IDLE_TIMEOUT`]. One caller holds at most
//! `WS_MAX_SOCKETS_PER_CALLER` sockets (and `WS_MAX_SUBSCRIPTIONS_PER_CALLER` subscriptions).

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::{
    Extension,
    extract::{
        State, WebSocketUpgrade,
        ws::{CloseFrame, Message, WebSocket},
    },
    http::{HeaderMap, Method},
    response::Response,
};
use futures_util::{FutureExt, SinkExt, StreamExt};

use super::{HttpState, principal, server::ConnectionHandle};
use crate::quota::Permit;
use crate::tasks::principal::{Principal, from_bearer};
use mintbean_core::error::AppError;

/// `connection_init` must arrive within this (graphql-ws closes with 4408 after it).
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the server pings an open socket.
pub const PING_EVERY: Duration = Duration::from_secs(15);
/// A socket from which nothing arrived for this long is closed.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(45);

pub async fn handle(
    State(http): State<HttpState>,
    protocol: GraphQLProtocol,
    headers: HeaderMap,
    connection: Option<Extension<ConnectionHandle>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve(socket, http, protocol, headers, connection.map(|c| c.0)))
}

async fn serve(
    socket: WebSocket,
    http: HttpState,
    protocol: GraphQLProtocol,
    headers: HeaderMap,
    connection: Option<ConnectionHandle>,
) {
    let _busy = connection.as_ref().map(ConnectionHandle::busy);
    let started = Instant::now();
    let last_heard = Arc::new(AtomicU64::new(0));
    let initialized = Arc::new(AtomicBool::new(false));
    let permit: Arc<Mutex<Option<Permit>>> = Arc::default();

    let (mut socket_sink, socket_stream) = socket.split();
    let (out, mut outgoing) = tokio::sync::mpsc::channel::<Message>(32);
    let mut writer = tokio::spawn(async move {
        while let Some(message) = outgoing.recv().await {
            if socket_sink.send(message).await.is_err() {
                break;
            }
        }
        let _ = socket_sink.close().await;
    });
    let heard = last_heard.clone();
    let incoming = socket_stream.inspect(move |_| {
        heard.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
    });
    let sink = futures_util::sink::unfold(out.clone(), |out, message: Message| async move {
        out.send(message)
            .await
            .map_err(|_| axum::Error::new("socket closed"))?;
        Ok::<_, axum::Error>(out)
    });
    // Boxed, not pinned on the stack, so that it can be dropped (ending the subscriptions) before
    // the writer is waited for.
    let mut graphql = {
        let (initialized, permit) = (initialized.clone(), permit.clone());
        GraphQLWebSocket::new_with_pair(sink, incoming, http.schema.clone(), protocol)
            .on_connection_init(move |payload| async move {
                let principal = connect(&http, &headers, &payload).await?;
                let limit = http.state.config.http.max_sockets_per_caller;
                let held = http
                    .state
                    .sockets
                    .try_take(&principal.created_by(), limit)
                    .ok_or_else(|| {
                        crate::graphql::error::gql(AppError::TooManyRequests {
                            message: format!(
                                "at most {limit} open sockets per caller (WS_MAX_SOCKETS_PER_CALLER)"
                            ),
                            retry_after_secs: 1,
                        })
                    })?;
                *permit.lock().unwrap_or_else(|e| e.into_inner()) = Some(held);
                initialized.store(true, Ordering::SeqCst);
                let mut data = Data::default();
                data.insert(principal);
                Ok(data)
            })
            .serve()
            .boxed()
    };
    let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
    tokio::pin!(init_deadline);
    let mut pings = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    let asked_to_close = async {
        match &connection {
            Some(connection) => connection.asked_to_close().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(asked_to_close);
    let mut init_checked = false;
    let close = loop {
        tokio::select! {
            () = &mut graphql => break None,
            // (Checked again here: the condition was read when this wait began, maybe before
            // the init arrived.)
            () = &mut init_deadline, if !init_checked => {
                init_checked = true;
                if !initialized.load(Ordering::SeqCst) {
                    break Some((4408, "Connection initialisation timeout"));
                }
            }
            _ = pings.tick() => {
                let heard = Duration::from_millis(last_heard.load(Ordering::Relaxed));
                if started.elapsed().saturating_sub(heard) >= IDLE_TIMEOUT {
                    break Some((1001, "idle: no answer to pings"));
                }
                if out.send(Message::Ping(Default::default())).await.is_err() {
                    break None;
                }
            }
            () = &mut asked_to_close => break Some((1001, "server shutting down")),
        }
    };
    if let Some((code, reason)) = close {
        let frame = CloseFrame {
            code,
            reason: reason.into(),
        };
        let _ = out.try_send(Message::Close(Some(frame)));
    }
    // Subscriptions end here; the writer sends what is queued (the close frame) and stops.
    drop(graphql);
    drop(out);
    // A client that never answers the close is not waited for longer.
    if tokio::time::timeout(Duration::from_secs(2), &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
}

async fn connect(
    http: &HttpState,
    headers: &HeaderMap,
    payload: &serde_json::Value,
) -> crate::graphql::error::Result<Principal> {
    let state = &http.state;
    let bearer = ["authorization", "Authorization"]
        .iter()
        .find_map(|key| payload.get(*key).and_then(|v| v.as_str()))
        .map(str::to_owned);
    let principal = match bearer {
        Some(value) => {
            let credential = value
                .trim()
                .strip_prefix("Bearer ")
                .or_else(|| value.trim().strip_prefix("bearer "))
                .unwrap_or(value.trim());
            from_bearer(&state.db, &state.config, credential).await?
        }
        // The upgrade is a GET: the CSRF rule does not apply, and the cookie is SameSite=Strict,
        // so another site's page cannot open a connection in a user's name.
        None => principal::identify(&state.db, &state.config, &Method::GET, headers).await?,
    };
    Ok(principal)
}
