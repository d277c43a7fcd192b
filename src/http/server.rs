//! The connection loop: hyper with a header-read timeout, a keep-alive (idle) timeout and a cap on
//! open connections, because axum's `serve` has none of them and one client could otherwise hold
//! every file descriptor with idle or slowly-written connections.
//!
//! At the cap, the idlest connections (no request in flight) are closed to make room, oldest idle
//! first, so an ordinary request still gets in while someone hoards connections; only when every
//! connection is busy is a new one refused.

use std::{
    collections::HashMap,
    future::Future,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::Duration,
};

use axum::{Router, body::Body, extract::connect_info::ConnectInfo};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::conn::auto,
};
use tokio::{net::TcpListener, sync::Notify, time::Instant};
use tower::ServiceExt;

use crate::config::HttpConfig;

/// File descriptors kept free for the database pool, logs and templates.
const RESERVED_DESCRIPTORS: u64 = 256;
/// How long shutdown waits for in-flight requests before it gives up on them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// One open connection, as the loop sees it.
struct Connection {
    in_flight: AtomicUsize,
    /// When the last request finished (or the connection opened).
    idle_since: Mutex<Instant>,
    /// Wakes the connection's task when a request starts or ends.
    activity: Notify,
    /// Asks the connection to close once its in-flight request is answered.
    close: Notify,
    closing: AtomicBool,
}

impl Connection {
    fn new() -> Self {
        Connection {
            in_flight: AtomicUsize::new(0),
            idle_since: Mutex::new(Instant::now()),
            activity: Notify::new(),
            close: Notify::new(),
            closing: AtomicBool::new(false),
        }
    }

    fn idle_since(&self) -> Instant {
        *self.idle_since.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.activity.notify_one();
    }

    fn request_finished(&self) {
        *self.idle_since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.in_flight.fetch_sub(1, Ordering::SeqCst);
        self.activity.notify_one();
    }

    fn ask_to_close(&self) {
        self.closing.store(true, Ordering::SeqCst);
        self.close.notify_one();
    }

    /// Resolves once the connection has had no request in flight for `limit`.
    async fn idle_for(&self, limit: Duration) {
        loop {
            if self.in_flight.load(Ordering::SeqCst) > 0 {
                self.activity.notified().await;
                continue;
            }
            let deadline = self.idle_since() + limit;
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
            .filter(|c| {
                c.in_flight.load(Ordering::SeqCst) == 0 && !c.closing.load(Ordering::SeqCst)
            })
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

    fn close_all(&self) {
        for connection in self.lock().values() {
            connection.ask_to_close();
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
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(settings.keep_alive_timeout / 2)
        .keep_alive_timeout(settings.keep_alive_timeout / 2)
        .max_concurrent_streams(64);
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
        let open = connections.len();
        if open >= cap && !(connections.close_idlest(1 + cap / 64) && open < hard_cap) {
            refused += 1;
            if refused.is_power_of_two() {
                tracing::warn!(
                    open,
                    cap,
                    refused,
                    "connection refused: every connection is busy"
                );
            }
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        let (id, connection) = connections.add();
        let keep_alive = settings.keep_alive_timeout;
        tokio::spawn({
            let (router, builder, connections) =
                (router.clone(), builder.clone(), connections.clone());
            async move {
                run_connection(&builder, stream, peer, router, &connection, keep_alive).await;
                connections.remove(id);
            }
        });
    }
    drop(listener);
    connections.close_all();
    let deadline = Instant::now() + SHUTDOWN_GRACE;
    while connections.len() > 0 {
        if Instant::now() >= deadline {
            tracing::warn!(
                open = connections.len(),
                "shutdown grace period over; dropping connections"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(())
}

async fn run_connection(
    builder: &auto::Builder<TokioExecutor>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    router: Router,
    connection: &Arc<Connection>,
    keep_alive: Duration,
) {
    let service = hyper::service::service_fn({
        let connection = connection.clone();
        move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
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
    let serving = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
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
            _ = connection.close.notified(), if !closing => {
                serving.as_mut().graceful_shutdown();
                closing = true;
            }
            _ = connection.idle_for(keep_alive), if !closing => {
                serving.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}
