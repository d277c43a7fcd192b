//! `GET/POST /graphql`: reads the request, attaches the session and the DataLoader, runs it with a
//! time limit, and answers with JSON (plus a `Set-Cookie` when the session changed).

use std::sync::Arc;

use async_graphql::{
    BatchRequest, BatchResponse, ErrorExtensionValues, Request, ServerError,
    http::{MultipartOptions, parse_query_string, receive_batch_body},
};
use axum::{
    Json,
    body::{Body, Bytes},
    extract::ConnectInfo,
    extract::State,
    http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, Uri, header},
    response::{IntoResponse, Response},
};

use super::{
    HttpState,
    answer_cache::{Ticket, cache_key},
    csrf,
    errors::json_error,
    writes::MutationFields,
};
use crate::http::session::{CookieSettings, Session};
use crate::{
    cache::Notified as _,
    graphql::{
        context::{AnswerValidity, ClientAddress},
        limits::{self, Limits, MAX_BATCH},
        loader::{KeptRelations, request_loaders},
        nulls::fill_errored_fields,
        order::order_like_document,
    },
};

pub async fn handle(
    State(http): State<HttpState>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
    extensions: Extensions,
    body: Body,
) -> Response {
    let config = &http.state.config;
    let mut batch = match receive(&http, &method, &headers, &uri, body).await {
        Ok(batch) => batch,
        Err(refusal) => return refusal,
    };
    // (Batches, off by default, are parsed by async-graphql and keep its order.)
    let document = match &mut batch {
        BatchRequest::Single(request) => http
            .documents
            .prepare(request)
            .map(|document| (document, request.operation_name.clone())),
        BatchRequest::Batch(_) => None,
    };
    if let Err(message) = check_limits(&mut batch, &config.graphql.limits) {
        return over_limits(message);
    }
    let caching = match caching(&http, &headers, &mut batch) {
        Caching::Hit(body) => return cached_answer(body),
        other => other,
    };
    let validity = Arc::new(AnswerValidity::default());
    let session = Arc::new(Session::from_headers(
        &headers,
        CookieSettings::new(config, http.sessions.clone()),
    ));
    let span = tracing::Span::current();
    if let Some(name) = operation_names(&mut batch) {
        span.record("operation", name.as_str());
    }
    // Look the caller up before executing: resolvers then never wait on it, which keeps their
    // DataLoader calls in the same batches. (A failure here is retried by the first resolver
    // that needs the user, and reported there.)
    if let Ok(Some(user)) = session.current_user(&http.state.db).await {
        span.record("user_id", tracing::field::display(user.id));
    }
    let peer = extensions
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip());
    let client = ClientAddress(super::admission::client_address(
        &headers,
        peer,
        &config.proxies,
    ));
    // A mutation reads what it has just written, before its notification may have arrived: it
    // never uses kept relations.
    let relations = match caching {
        Caching::Mutation(_) => KeptRelations::default(),
        _ => http.relations.clone(),
    };
    let attach = |request: Request| {
        request
            .data(session.clone())
            .data(client)
            .data(validity.clone())
            .data(request_loaders(http.state.db.clone(), relations.clone()))
    };
    let batch = match batch {
        BatchRequest::Single(request) => BatchRequest::Single(attach(request)),
        BatchRequest::Batch(requests) => {
            BatchRequest::Batch(requests.into_iter().map(attach).collect())
        }
    };
    let execution = tokio::time::timeout(config.request_timeout, http.schema.execute_batch(batch));
    let executed = execution.await;
    // Before any answer is sent, timed out or not (a mutation may have committed): whoever reads
    // after it sees the change.
    if let Caching::Mutation(fields) = &caching {
        let response = match &executed {
            Ok(BatchResponse::Single(response)) => Some(response),
            _ => None,
        };
        let emptied = fields.emptied_after(response);
        if emptied.answers {
            if let Some(answers) = &http.answers {
                answers.invalidate();
            }
            http.relations.invalidate();
        }
        if emptied.sessions
            && let Some(sessions) = &http.sessions
        {
            sessions.invalidate();
        }
    }
    let Ok(mut response) = executed else {
        tracing::warn!(timeout = ?config.request_timeout, "GraphQL request timed out");
        return json_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "TIMEOUT",
            "The request took too long",
        );
    };
    if over_budget(&response) {
        let limit = config.graphql.max_response_bytes;
        tracing::warn!(
            limit,
            "GraphQL answer refused while it was built: over the size limit"
        );
        return json_error(
            StatusCode::BAD_REQUEST,
            crate::graphql::budget::TOO_LARGE,
            format!("The answer would be larger than {limit} bytes; ask for fewer fields or items"),
        );
    }
    label_uncoded_errors(&mut response);
    match &mut response {
        BatchResponse::Single(r) => {
            fill_errored_fields(r, &http.nullable_roots);
            if let Some((document, operation)) = &document {
                order_like_document(&mut r.data, document, operation.as_deref());
            }
        }
        BatchResponse::Batch(rs) => rs
            .iter_mut()
            .for_each(|r| fill_errored_fields(r, &http.nullable_roots)),
    }
    let keep = match caching {
        Caching::Keep(ticket) if response.is_ok() && session.outgoing_cookie().is_none() => {
            Some(ticket)
        }
        _ => None,
    };
    let reply = respond(&response, &session, config.graphql.max_response_bytes);
    match (keep, &http.answers, reply) {
        (Some(ticket), Some(answers), Ok((reply, body))) => {
            answers.store(ticket, body, validity.earliest());
            reply
        }
        (_, _, Ok((reply, _))) => reply,
        (_, _, Err(refusal)) => *refusal,
    }
}

/// What the answer cache does for a request (`http::answer_cache`), and whether it runs a
/// mutation, after which the caches it may have changed are emptied (`http::writes`).
enum Caching {
    Off,
    Hit(Bytes),
    Keep(Ticket),
    Mutation(MutationFields),
}

fn caching(http: &HttpState, headers: &HeaderMap, batch: &mut BatchRequest) -> Caching {
    // Batches hold no mutations (`admit_batch`) and are never cached.
    let BatchRequest::Single(request) = batch else {
        return Caching::Off;
    };
    // Mutations empty the session cache too.
    if let Some(fields) = MutationFields::of(request) {
        return Caching::Mutation(fields);
    }
    let Some(answers) = &http.answers else {
        return Caching::Off;
    };
    let anonymous =
        !headers.contains_key(header::COOKIE) && !headers.contains_key(header::AUTHORIZATION);
    let Some(key) = cache_key(request, anonymous) else {
        return Caching::Off;
    };
    match answers.lookup(&key) {
        Some(body) => Caching::Hit(body),
        None => answers.ticket(key).map_or(Caching::Off, Caching::Keep),
    }
}

/// A kept answer, with the headers of the anonymous answer it was.
fn cached_answer(body: Bytes) -> Response {
    let mut reply = json_reply(body);
    reply
        .headers_mut()
        .insert("x-answer-cache", HeaderValue::from_static("hit"));
    reply
}

fn json_reply(body: Bytes) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// Reads the request (within the request timeout: a body trickled in slowly would otherwise hold
/// a connection and a request slot forever) and refuses batches that are not allowed.
async fn receive(
    http: &HttpState,
    method: &Method,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Result<BatchRequest, Response> {
    let config = &http.state.config;
    let reading = read_request(http, method, headers, uri, body);
    let batch = match tokio::time::timeout(config.request_timeout, reading).await {
        Ok(read) => read?,
        Err(_) => {
            return Err(json_error(
                StatusCode::REQUEST_TIMEOUT,
                "TIMEOUT",
                "The request body took too long to arrive",
            ));
        }
    };
    admit_batch(batch, config.graphql.batching)
        .map_err(|message| json_error(StatusCode::BAD_REQUEST, "BAD_REQUEST", message))
}

/// The JSON answer, with the session's cookie and, for logged-in requests, `no-store`; and its
/// body.
fn respond(
    response: &BatchResponse,
    session: &Session,
    limit: usize,
) -> Result<(Response, Bytes), Box<Response>> {
    let Some(json) = serialize_capped(response, limit) else {
        tracing::warn!(limit, "GraphQL response over the size limit refused");
        return Err(Box::new(json_error(
            StatusCode::BAD_REQUEST,
            "RESPONSE_TOO_LARGE",
            format!("The answer would be larger than {limit} bytes; ask for fewer fields or items"),
        )));
    };
    let body = Bytes::from(json);
    let mut reply = json_reply(body.clone());
    let outgoing = session.outgoing_cookie();
    if let Some(cookie) = &outgoing
        && let Ok(value) = HeaderValue::from_str(cookie)
    {
        reply.headers_mut().append(header::SET_COOKIE, value);
    }
    if outgoing.is_some() || session.presented_token() {
        // A logged-in answer is personal: no shared or browser cache may keep it.
        reply
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok((reply, body))
}

/// The operation name(s) of the request, for the log: the one asked for, or the name of the
/// document's only operation.
fn operation_names(batch: &mut BatchRequest) -> Option<String> {
    let name = |request: &mut Request| {
        if let Some(name) = &request.operation_name {
            return Some(name.clone());
        }
        let document = request.parsed_query().ok()?;
        let mut operations = document.operations.iter();
        match (operations.next(), operations.next()) {
            (Some((name, _)), None) => name.map(|n| n.to_string()),
            _ => None,
        }
    };
    let names: Vec<String> = match batch {
        BatchRequest::Single(request) => name(request).into_iter().collect(),
        BatchRequest::Batch(requests) => requests.iter_mut().filter_map(name).collect(),
    };
    (!names.is_empty()).then(|| names.join(","))
}

/// Batched (JSON array) requests are refused unless enabled; enabled, they are limited to
/// [`MAX_BATCH`] queries, so a batch cannot multiply logins or other mutations.
fn admit_batch(batch: BatchRequest, batching: bool) -> Result<BatchRequest, String> {
    let BatchRequest::Batch(mut requests) = batch else {
        return Ok(batch);
    };
    if !batching {
        return Err(
            "Batched requests (JSON arrays) are not accepted; send one operation per request"
                .into(),
        );
    }
    if requests.len() > MAX_BATCH {
        return Err(format!("A batch may hold at most {MAX_BATCH} operations"));
    }
    if requests.iter_mut().any(contains_mutation) {
        return Err("Mutations cannot be batched".into());
    }
    Ok(BatchRequest::Batch(requests))
}

/// Applies [`limits::check`] to every parsed document (a document that does not parse is left to
/// the executor, which reports the syntax error).
fn check_limits(batch: &mut BatchRequest, limits: &Limits) -> Result<(), String> {
    let requests: Vec<&mut Request> = match batch {
        BatchRequest::Single(request) => vec![request],
        BatchRequest::Batch(requests) => requests.iter_mut().collect(),
    };
    for request in requests {
        if let Ok(document) = request.parsed_query() {
            limits::check(document, limits)?;
        }
    }
    Ok(())
}

/// A document over the limits gets a GraphQL error, like any other invalid document.
fn over_limits(message: String) -> Response {
    let mut error = ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", "BAD_USER_INPUT");
    error.extensions = Some(extensions);
    Json(async_graphql::Response::from_errors(vec![error])).into_response()
}

/// Serialises the answer; `None` once it passes `limit` bytes (the writer stops there, so an
/// oversized answer never exists as bytes in full).
fn serialize_capped(response: &BatchResponse, limit: usize) -> Option<Vec<u8>> {
    struct Capped {
        bytes: Vec<u8>,
        limit: usize,
    }
    impl std::io::Write for Capped {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            if self.bytes.len() + data.len() > self.limit {
                return Err(std::io::Error::other("response too large"));
            }
            self.bytes.extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut writer = Capped {
        bytes: Vec::with_capacity(8 * 1024),
        limit,
    };
    serde_json::to_writer(&mut writer, response).ok()?;
    Some(writer.bytes)
}

async fn read_request(
    http: &HttpState,
    method: &Method,
    headers: &HeaderMap,
    uri: &Uri,
    body: Body,
) -> Result<BatchRequest, Response> {
    if method == Method::GET {
        return read_get(http, uri.query().unwrap_or(""))
            .map(BatchRequest::Single)
            .map_err(|refusal| *refusal);
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
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|err| super::admission::unreadable_body(&err, limit))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    // Parsed here rather than with async-graphql-axum's extractor, whose multipart parsing
    // has no limit on the number or size of files.
    let multipart = MultipartOptions::default()
        .max_file_size(limit)
        .max_num_files(10);
    receive_batch_body(content_type, bytes.as_ref(), multipart)
        .await
        .map_err(|e| {
            json_error(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                format!("Invalid GraphQL request: {e}"),
            )
        })
}

/// `GET /graphql`: GraphiQL (when enabled) without a query; queries only otherwise.
fn read_get(http: &HttpState, query: &str) -> Result<Request, Box<Response>> {
    let has_query = query.split('&').any(|pair| pair.starts_with("query="));
    if !has_query {
        return Err(Box::new(if http.state.config.graphql.graphiql {
            super::graphiql::page()
        } else {
            json_error(
                StatusCode::BAD_REQUEST,
                "BAD_REQUEST",
                "Missing `query` parameter",
            )
        }));
    }
    let mut request = parse_query_string(query).map_err(|e| {
        Box::new(json_error(
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            e.to_string(),
        ))
    })?;
    if contains_mutation(&mut request) {
        let mut response = json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "Mutations must be sent with POST",
        );
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return Err(Box::new(response));
    }
    Ok(request)
}

/// Whether the request holds a mutation; a document that cannot be parsed is left to the
/// executor, which reports the syntax error.
fn contains_mutation(request: &mut Request) -> bool {
    request.parsed_query().is_ok_and(limits::has_mutation)
}

/// Whether building the answer was stopped at the size limit (`graphql::budget`).
fn over_budget(response: &BatchResponse) -> bool {
    let responses: Vec<&async_graphql::Response> = match response {
        BatchResponse::Single(r) => vec![r],
        BatchResponse::Batch(rs) => rs.iter().collect(),
    };
    responses.iter().flat_map(|r| &r.errors).any(|error| {
        error
            .extensions
            .as_ref()
            .and_then(|e| e.get("code"))
            .is_some_and(|code| {
                *code == async_graphql::Value::String(crate::graphql::budget::TOO_LARGE.into())
            })
    })
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
