//! `GET/POST /graphql`: reads the request, attaches the session and the DataLoader, runs it with a
//! time limit, and answers with JSON (plus a `Set-Cookie` when the session changed).

use std::sync::Arc;

use async_graphql::{
    BatchRequest, BatchResponse, Request,
    http::{
        GraphQLPlaygroundConfig, MultipartOptions, parse_query_string, playground_source,
        receive_batch_body,
    },
    parser::types::{DocumentOperations, OperationType},
};
use axum::{
    Json,
    body::Body,
    extract::ConnectInfo,
    extract::State,
    http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{Html, IntoResponse, Response},
};

use super::{HttpState, csrf, errors::json_error};
use crate::{
    auth::{CookieSettings, Session},
    email::graphql::ClientAddress,
    graphql::loader::loaders,
};

pub async fn handle(
    State(http): State<HttpState>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
    extensions: Extensions,
    body: Body,
) -> Response {
    let batch = match read_request(&http, &method, &headers, &uri, body).await {
        Ok(batch) => batch,
        Err(response) => return response,
    };
    let config = &http.state.config;
    let session = Arc::new(Session::from_headers(
        &headers,
        CookieSettings {
            secret: config.jwt_secret.clone(),
            secure: config.cookie_secure,
        },
    ));
    // Look the caller up before executing: resolvers then never wait on it, which keeps their
    // DataLoader calls in the same batches. (A failure here is retried by the first resolver
    // that needs the user, and reported there.)
    let _ = session.current_user(&http.state.db).await;
    let client = ClientAddress(client_address(
        &headers,
        &extensions,
        config.trust_proxy_headers,
    ));
    let attach = |request: Request| {
        request
            .data(session.clone())
            .data(client)
            .data(loaders(http.state.db.clone()))
    };
    let batch = match batch {
        BatchRequest::Single(request) => BatchRequest::Single(attach(request)),
        BatchRequest::Batch(requests) => {
            BatchRequest::Batch(requests.into_iter().map(attach).collect())
        }
    };

    let mut response = match tokio::time::timeout(
        config.request_timeout,
        http.schema.execute_batch(batch),
    )
    .await
    {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(timeout = ?config.request_timeout, "GraphQL request timed out");
            return json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "TIMEOUT",
                "The request took too long",
            );
        }
    };
    label_uncoded_errors(&mut response);
    let mut reply = Json(response).into_response();
    if let Some(cookie) = session.outgoing_cookie()
        && let Ok(value) = HeaderValue::from_str(&cookie)
    {
        reply.headers_mut().append(header::SET_COOKIE, value);
    }
    reply
}

async fn read_request(
    http: &HttpState,
    method: &Method,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Result<BatchRequest, Response> {
    if method == Method::GET {
        let query = uri.query().unwrap_or("");
        let has_query = query.split('&').any(|pair| pair.starts_with("query="));
        if !has_query {
            return Err(if http.state.config.graphql.playground {
                playground()
            } else {
                json_error(
                    StatusCode::BAD_REQUEST,
                    "BAD_REQUEST",
                    "Missing `query` parameter",
                )
            });
        }
        let mut request = parse_query_string(query)
            .map_err(|e| json_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", e.to_string()))?;
        if contains_mutation(&mut request) {
            let mut response = json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "METHOD_NOT_ALLOWED",
                "Mutations must be sent with POST",
            );
            response
                .headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST"));
            return Err(response);
        }
        return Ok(BatchRequest::Single(request));
    }

    if !csrf::is_allowed(headers) {
        return Err(json_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            format!(
                "This request has a content type that browsers send cross-site without a preflight. \
                 Send it as application/json, or add one of these headers: {}",
                csrf::PREFLIGHT_HEADERS.join(", ")
            ),
        ));
    }
    let limit = http.state.config.max_body_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        json_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            format!("Request body is larger than {limit} bytes"),
        )
    })?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    receive_batch_body(
        content_type,
        bytes.as_ref(),
        MultipartOptions::default()
            .max_file_size(limit)
            .max_num_files(10),
    )
    .await
    .map_err(|e| {
        json_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            format!("Invalid GraphQL request: {e}"),
        )
    })
}

/// A GET must not change anything; a document that cannot be parsed is left to the executor,
/// which reports the syntax error.
fn contains_mutation(request: &mut Request) -> bool {
    match request.parsed_query() {
        Ok(document) => match &document.operations {
            DocumentOperations::Single(op) => op.node.ty == OperationType::Mutation,
            DocumentOperations::Multiple(ops) => {
                ops.values().any(|op| op.node.ty == OperationType::Mutation)
            }
        },
        Err(_) => false,
    }
}

fn playground() -> Response {
    // Send the session cookie from the Playground too (its default is "omit").
    let config =
        GraphQLPlaygroundConfig::new("/graphql").with_setting("request.credentials", "same-origin");
    Html(playground_source(config)).into_response()
}

/// Errors raised before or around resolvers (syntax, validation, limits, argument coercion) come
/// from async-graphql without a code; they are all problems with the client's request.
fn label_uncoded_errors(response: &mut BatchResponse) {
    let responses: Vec<&mut async_graphql::Response> = match response {
        BatchResponse::Single(r) => vec![r],
        BatchResponse::Batch(rs) => rs.iter_mut().collect(),
    };
    for r in responses {
        for error in &mut r.errors {
            let extensions = error.extensions.get_or_insert_with(Default::default);
            if extensions.get("code").is_none() {
                extensions.set("code", "BAD_USER_INPUT");
            }
        }
    }
}

/// The peer address, or behind a trusted proxy the first `X-Forwarded-For` entry.
fn client_address(
    headers: &HeaderMap,
    extensions: &Extensions,
    trust_proxy: bool,
) -> Option<std::net::IpAddr> {
    if trust_proxy
        && let Some(forwarded) = headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.trim().parse().ok())
    {
        return Some(forwarded);
    }
    extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}
