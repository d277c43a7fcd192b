//! Who gets a request slot: at most `MAX_CONCURRENT_REQUESTS` at once (the rest `503
//! SERVER_BUSY` at once), of which one client address (IPv6: its /64) holds at most
//! `MAX_CONCURRENT_REQUESTS_PER_CLIENT` (the rest `429`), and a request body must keep arriving
//! at `HTTP_MIN_BODY_BYTES_PER_SEC`: one client trickling bodies cannot hold the slots everyone
//! else needs.

use std::{
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::Response,
};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use tokio::{sync::Semaphore, time::Instant};

use super::errors::json_error;
use crate::quota::Quota;
use mintbean_core::config::{Config, ProxyTrust};

/// A body may start slowly: the rate is owed from this long after the request began.
const BODY_GRACE: Duration = Duration::from_secs(2);

pub struct Admission {
    capacity: Semaphore,
    per_client: Quota,
    per_client_limit: usize,
    min_body_rate: u64,
    proxies: ProxyTrust,
}

impl Admission {
    pub fn new(config: &Config) -> Arc<Self> {
        Arc::new(Admission {
            capacity: Semaphore::new(config.http.max_concurrent_requests),
            per_client: Quota::default(),
            per_client_limit: config.http.max_requests_per_client,
            min_body_rate: config.http.min_body_bytes_per_sec,
            proxies: config.proxies.clone(),
        })
    }
}

/// The client: the peer, or behind trusted proxies the nearest address they did not add.
pub fn client_address(
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
    proxies: &ProxyTrust,
) -> Option<std::net::IpAddr> {
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    proxies.client(peer, &forwarded)
}

pub fn peer(request: &Request) -> Option<std::net::IpAddr> {
    request
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

fn busy(status: StatusCode, code: &str, message: &str) -> Response {
    let mut response = json_error(status, code, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

pub async fn admit(
    State(admission): State<Arc<Admission>>,
    request: Request,
    next: Next,
) -> Response {
    let client = client_address(request.headers(), peer(&request), &admission.proxies);
    let key = mintbean_core::auth::throttle::client_key(client);
    let Some(_client_slot) = admission
        .per_client
        .try_take(&key, admission.per_client_limit)
    else {
        return busy(
            StatusCode::TOO_MANY_REQUESTS,
            "TOO_MANY_REQUESTS",
            "Too many requests from your address at once; please wait for one to finish",
        );
    };
    let Ok(_slot) = admission.capacity.try_acquire() else {
        return busy(
            StatusCode::SERVICE_UNAVAILABLE,
            "SERVER_BUSY",
            "The server is busy; please try again shortly",
        );
    };
    let rate = admission.min_body_rate;
    let request = if rate > 0 {
        request.map(|body| Body::new(MinRate::new(body, rate)))
    } else {
        request
    };
    next.run(request).await
}

/// Why a body failed: it fell behind the minimum rate (bytes per second).
#[derive(Debug)]
pub struct BodyTooSlow(u64);

impl std::fmt::Display for BodyTooSlow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the request body arrived slower than {} bytes/s", self.0)
    }
}

impl std::error::Error for BodyTooSlow {}

/// The answer to a body that could not be read within `limit` bytes: `408` when it came too
/// slowly, else `413`.
pub fn unreadable_body(err: &axum::Error, limit: usize) -> Response {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(error) = cause {
        if let Some(slow) = error.downcast_ref::<BodyTooSlow>() {
            return json_error(StatusCode::REQUEST_TIMEOUT, "TIMEOUT", slow.to_string());
        }
        cause = error.source();
    }
    json_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PAYLOAD_TOO_LARGE",
        format!("Request body is larger than {limit} bytes"),
    )
}

/// A request body that fails once it falls behind the minimum rate.
struct MinRate {
    inner: Body,
    rate: u64,
    started: Instant,
    received: u64,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl MinRate {
    fn new(inner: Body, rate: u64) -> Self {
        let started = Instant::now();
        MinRate {
            inner,
            rate,
            started,
            received: 0,
            timer: Box::pin(tokio::time::sleep_until(started + BODY_GRACE)),
        }
    }

    /// When the bytes received so far stop being enough.
    fn due(&self) -> Instant {
        self.started + BODY_GRACE + Duration::from_secs_f64(self.received as f64 / self.rate as f64)
    }
}

impl HttpBody for MinRate {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received += data.len() as u64;
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => Poll::Ready(other),
            Poll::Pending => {
                let due = this.due();
                this.timer.as_mut().reset(due);
                match this.timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Some(Err(axum::Error::new(BodyTooSlow(this.rate)))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
