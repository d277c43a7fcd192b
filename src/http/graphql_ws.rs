//! `GET /graphql/ws`: GraphQL subscriptions over WebSocket (graphql-ws, and the older
//! subscriptions-transport-ws). The caller is who the upgrade request's `jwt` cookie says, or
//! the `authorization: "Bearer …"` of the `connection_init` payload (API tokens, whose
//! holders may follow the tasks they created). Without either the connection is refused.

use async_graphql::Data;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::{
    extract::{State, WebSocketUpgrade},
    http::{HeaderMap, Method},
    response::Response,
};

use super::HttpState;
use super::principal;
use crate::tasks::principal::{Principal, from_bearer};

pub async fn handle(
    State(http): State<HttpState>,
    protocol: GraphQLProtocol,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .protocols(async_graphql::http::ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let schema = http.schema.clone();
            GraphQLWebSocket::new(socket, schema, protocol)
                .on_connection_init(move |payload| async move {
                    let principal = connect(&http, &headers, &payload).await?;
                    let mut data = Data::default();
                    data.insert(principal);
                    Ok(data)
                })
                .serve()
        })
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
