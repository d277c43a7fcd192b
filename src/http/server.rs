//! The connection loop (hyper, HTTP/1.1) with a header-read timeout, a keep-alive (idle) timeout
//! and a cap on open connections, because axum's `serve` has none of them and one client could
//! otherwise hold every file descriptor with idle or slowly-written connections.
//!
//! Each connection's task watches its own deadlines: the first request's head, and any later
//! head once its first byte arrived, must be complete within the header timeout; between
//! requests a connection may idle for the keep-alive timeout. At the cap, the idlest connections
//! (no request in flight) are closed to make room, oldest idle first, so an ordinary request still
//! gets in while someone hoards connections; only when every connection is busy is a new one
//! refused.

use std::{
    collections::HashMap,
    future::Future,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, body::Body, extract::connect_info::ConnectInfo};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::Notify,
    time::Instant,
};
use tower::ServiceExt;

use mintbean_core::config::HttpConfig;

/// File descriptors kept free for the database pool, logs and templates.
const RESERVED_DESCRIPTORS: u64 = 256;
/// How long shutdown waits for in-flight requests before it gives up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// One open connection, as the loop sees it.
struct Connection {
    in_flight: AtomicUsize,
    /// Requests whose head arrived complete.
    served: AtomicU64,
    /// When the last request finished (or the connection opened).
    idle_since: Mutex<Instant>,
    /// When the first byte of a request head not yet complete arrived.
    head_started: Mutex<Option<Instant>>,
    /// Wakes the connection's task when a request starts or ends, or a head begins.
    activity: Notify,
    /// Asks the connection to close (see [`Connection::may_drop`]).
    close: Notify,
    closing: AtomicBool,
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Connection {
    fn new() -> Self {
        Connection {
            in_flight: AtomicUsize::new(0),
            served: AtomicU64::new(0),
            idle_since: Mutex::new(Instant::now()),
            head_started: Mutex::new(None),
            activity: Notify::new(),
            close: Notify::new(),
            closing: AtomicBool::new(false),
        }
    }

    fn idle_since(&self) -> Instant {
        *locked(&self.idle_since)
    }

    fn is_busy(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst) > 0
    }

    /// Bytes arrived from the client: between requests, that starts a request head.
    fn bytes_arrived(&self) {
        if self.is_busy() {
            return;
        }
        let mut head = locked(&self.head_started);
        if head.is_none() {
            *head = Some(Instant::now());
            drop(head);
            self.activity.notify_one();
        }
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.served.fetch_add(1, Ordering::SeqCst);
        *locked(&self.head_started) = None;
        self.activity.notify_one();
    }

    fn request_finished(&self) {
        *locked(&self.idle_since) = Instant::now();
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.activity.notify_one();
    }

    fn ask_to_close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.close.notify_one();
    }

    /// Whether the connection can be dropped outright: no request is in flight and no answer
    /// is being written, because it never got a complete request or is in the middle of the
    /// next one's head. (hyper's graceful shutdown would wait for such a head forever.)
    fn may_drop(&self) -> bool {
        !self.is_busy()
            && (self.served.load(Ordering::SeqCst) == 0 || locked(&self.head_started).is_some())
    }

    /// Resolves when the connection has outstayed its welcome: a request head (or the first
    /// request) taking longer than `header_timeout`, or no request for `keep_alive`.
    async fn overstayed(&self, header_timeout: Duration, keep_alive: Duration) {
        loop {
            if self.is_busy() {
                self.activity.notified().await;
                continue;
            }
            let head_started = *locked(&self.head_started);
            let deadline = match head_started {
                Some(started) => started + header_timeout,
                None if self.served.load(Ordering::SeqCst) == 0 => {
                    self.idle_since() + header_timeout
                }
                None => self.idle_since() + keep_alive,
            };
            if Instant::now() >= deadline {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                _ = self.activity.notified() => {}
            }
        }
    }
}

/// The socket, telling its [`Connection`] when bytes arrive. The connection stays counted (for
/// the cap and the shutdown drain) until the socket is dropped, which for a connection upgraded
/// to a WebSocket is when the WebSocket ends.
struct Tracked {
    stream: TcpStream,
    connection: Arc<Connection>,
    connections: Arc<Connections>,
    id: u64,
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.connections.remove(self.id);
    }
}

/// A request's connection, for handlers that keep it after answering (WebSockets): they hold it
/// busy, so it is neither closed to make room nor dropped before they let go, and they are told
/// when the server wants it closed (shutdown).
#[derive(Clone)]
pub struct ConnectionHandle(Arc<Connection>);

/// Keeps a connection busy until dropped.
pub struct Busy(Arc<Connection>);

impl ConnectionHandle {
    pub fn busy(&self) -> Busy {
        self.0.request_started();
        Busy(self.0.clone())
    }

    /// Resolves when the server asks the connection to close.
    pub async fn asked_to_close(&self) {
        loop {
            let notified = self.0.close.notified();
            if self.0.closing.load(Ordering::SeqCst) {
                return;
            }
            notified.await;
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.connection.bytes_arrived();
        }
        polled
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The open connections, for the cap and for shutdown.
#[derive(Default)]
struct Connections {
    open: Mutex<HashMap<u64, Arc<Connection>>>,
    next_id: AtomicU64,
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Connection>>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn len(&self) -> usize {
        self.lock().len()
    }

    fn add(&self) -> (u64, Arc<Connection>) {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let connection = Arc::new(Connection::new());
        self.lock().insert(id, connection.clone());
        (id, connection)
    }

    fn remove(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Asks up to `count` idle connections, idlest first, to close; false when none is idle.
    fn close_idlest(&self, count: usize) -> bool {
        let open = self.lock();
        let mut idle: Vec<&Arc<Connection>> = open
            .values()
            .filter(|c| !c.is_busy() && !c.closing.load(Ordering::SeqCst))
            .collect();
        if idle.is_empty() {
            return false;
        }
        idle.sort_by_key(|c| c.idle_since());
        for connection in idle.into_iter().take(count) {
            connection.ask_to_close();
        }
        true
    }

    /// Whether one more connection may open: below the cap, or at it when idle connections were
    /// asked to make room (and the ones on their way out are not too many).
    fn make_room(&self, cap: usize, hard_cap: usize, refused: &mut u64) -> bool {
        let open = self.len();
        if open < cap || (self.close_idlest(1 + cap / 64) && open < hard_cap) {
            return true;
        }
        *refused += 1;
        if refused.is_power_of_two() {
            tracing::warn!(
                open,
                cap,
                refused,
                "connection refused: every connection is busy"
            );
        }
        false
    }

    /// Asks every connection to close after its request in flight, and waits for them, at most
    /// [`SHUTDOWN_GRACE`].
    async fn drain(&self) {
        for connection in self.lock().values() {
            connection.ask_to_close();
        }
        let deadline = Instant::now() + SHUTDOWN_GRACE;
        while self.len() > 0 {
            if Instant::now() >= deadline {
                tracing::warn!(
                    open = self.len(),
                    "shutdown grace period over; dropping connections"
                );
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The connection cap this process can honour: the configured one, lowered to fit the file
/// descriptor limit (whose soft value is first raised to the hard one, as Go's runtime does).
fn usable_connection_cap(configured: usize) -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    let available = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return configured;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit.rlim_cur = limit.rlim_max;
            }
        }
        limit.rlim_cur
    };
    let fits = available.saturating_sub(RESERVED_DESCRIPTORS).max(16);
    let cap = configured.min(usize::try_from(fits).unwrap_or(usize::MAX));
    if cap < configured {
        tracing::warn!(
            configured,
            cap,
            "HTTP_MAX_CONNECTIONS lowered to fit the open-file limit"
        );
    }
    cap
}

/// Accepts connections until `shutdown` resolves, then lets in-flight requests finish (closing
/// idle connections at once) for up to [`SHUTDOWN_GRACE`].
pub async fn serve(
    router: Router,
    listener: TcpListener,
    settings: &HttpConfig,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let cap = usable_connection_cap(settings.max_connections);
    // Room for connections that were asked to close but have not gone yet.
    let hard_cap = cap + cap / 8 + 16;
    let connections = Arc::new(Connections::default());
    // HTTP/1.1 only: browsers speak HTTP/2 only over TLS, which a proxy in front terminates.
    // hyper's own header timer is off: it also runs while a keep-alive connection waits for its
    // next request, which would make every keep-alive as short as the header timeout.
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(None)
        .keep_alive(true);
    let builder = Arc::new(builder);
    let mut refused: u64 = 0;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    // Out of descriptors or a connection reset before accept: wait a little
                    // instead of spinning.
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        if !connections.make_room(cap, hard_cap, &mut refused) {
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let (id, connection) = connections.add();
        let timeouts = (settings.header_read_timeout, settings.keep_alive_timeout);
        tokio::spawn({
            let (router, builder, connections) =
                (router.clone(), builder.clone(), connections.clone());
            async move {
                let io = Tracked {
                    stream,
                    connection: connection.clone(),
                    connections,
                    id,
                };
                run_connection(&builder, io, peer, router, connection, timeouts).await;
            }
        });
    }
    drop(listener);
    connections.drain().await;
    Ok(())
}

async fn run_connection(
    builder: &http1::Builder,
    io: Tracked,
    peer: SocketAddr,
    router: Router,
    connection: Arc<Connection>,
    (header_timeout, keep_alive): (Duration, Duration),
) {
    let service = hyper::service::service_fn({
        let connection = connection.clone();
        move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            request
                .extensions_mut()
                .insert(ConnectionHandle(connection.clone()));
            connection.request_started();
            let connection = connection.clone();
            let response = router.clone().oneshot(request.map(Body::new));
            async move {
                let response = response.await;
                connection.request_finished();
                response
            }
        }
    });
    let io = TokioIo::new(io);
    let serving = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(serving);
    let mut closing = false;
    loop {
        tokio::select! {
            result = serving.as_mut() => {
                if let Err(err) = result {
                    tracing::debug!(error = %err, %peer, "connection ended with an error");
                }
                return;
            }
            _ = connection.close.notified(), if !closing => {}
            _ = connection.overstayed(header_timeout, keep_alive), if !closing => {}
        }
        if connection.may_drop() {
            return;
        }
        // Let the request in flight (or the answer being written) finish, then close.
        serving.as_mut().graceful_shutdown();
        closing = true;
    }
}
