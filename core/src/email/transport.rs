//! Where messages go: an SMTP server, or in development without SMTP, `.eml` files in an outbox
//! directory.
//!
//! Each email is sent in a [`Session`], which takes an idle SMTP connection (kept for
//! [`IDLE_FOR`] after its last email) or opens one, and gives it back when done, so a stream of
//! emails reuses a few connections. Connections are opened here rather than by lettre's pool so
//! that TCP_NODELAY can be set: lettre writes the message body and the final `.` separately, and
//! with Nagle's algorithm the second write waits for the server's (delayed) ACK, about 40 ms per
//! email.

use std::{
    fmt, io,
    net::SocketAddr,
    path::PathBuf,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use lettre::{
    AsyncFileTransport, AsyncTransport, Message, Tokio1Executor,
    transport::smtp::{
        authentication::{Credentials, Mechanism},
        client::{AsyncSmtpConnection, AsyncTokioStream, TlsParameters},
        extension::ClientId,
    },
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
};

use crate::config::EmailConfig;

/// Why a send failed, which decides what happens next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendError {
    /// The server refused for now (4xx): retry later.
    Transient(String),
    /// The server refused for good (5xx): do not retry.
    Permanent(String),
    /// No usable connection (refused, timed out, TLS, protocol): retry later, and stop hammering.
    Unavailable(String),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TlsMode {
    None,
    /// STARTTLS when the server offers it.
    Opportunistic,
    /// STARTTLS, or fail.
    Required,
    /// TLS from the first byte (`smtps://`).
    Implicit,
}

/// An idle connection is reused this long after its last email; then the server may have
/// dropped it.
pub const IDLE_FOR: Duration = Duration::from_secs(20);
/// Idle connections kept at most.
const MAX_IDLE: usize = 32;

pub struct SmtpServer {
    host: String,
    port: u16,
    mode: TlsMode,
    credentials: Option<Credentials>,
    timeout: Duration,
    hello: ClientId,
    /// For implicit TLS; STARTTLS uses lettre's own parameters.
    rustls: Option<Arc<rustls::ClientConfig>>,
    /// Connections between emails, newest last, with when they were given back.
    idle: Mutex<Vec<(Box<AsyncSmtpConnection>, Instant)>>,
}

impl SmtpServer {
    fn take_idle(&self) -> Option<Box<AsyncSmtpConnection>> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        while let Some((connection, since)) = idle.pop() {
            if since.elapsed() < IDLE_FOR && !connection.has_broken() {
                return Some(connection);
            }
        }
        None
    }

    fn give_back(&self, connection: Box<AsyncSmtpConnection>) {
        if connection.has_broken() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        idle.retain(|(_, since)| since.elapsed() < IDLE_FOR);
        if idle.len() < MAX_IDLE {
            idle.push((connection, Instant::now()));
        }
    }
}

pub enum Mailer {
    Smtp(SmtpServer),
    Outbox(PathBuf),
}

impl Mailer {
    pub fn from_config(config: &EmailConfig) -> Result<Mailer, String> {
        match &config.smtp_url {
            Some(url) => SmtpServer::from_url(url.expose(), config.send_timeout).map(Mailer::Smtp),
            None => {
                std::fs::create_dir_all(&config.outbox_dir).map_err(|e| {
                    format!(
                        "cannot create the email outbox {}: {e}",
                        config.outbox_dir.display()
                    )
                })?;
                Ok(Mailer::Outbox(config.outbox_dir.clone()))
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Mailer::Smtp(server) => format!("SMTP server {}:{}", server.host, server.port),
            Mailer::Outbox(dir) => format!("the outbox directory {}", dir.display()),
        }
    }

    /// A sender: it takes an idle connection or connects on first use, and keeps the
    /// connection until [`Session::release`] or [`Session::close`].
    pub fn session(&self) -> Session<'_> {
        match self {
            Mailer::Smtp(server) => Session::Smtp {
                server,
                connection: None,
            },
            Mailer::Outbox(dir) => Session::Outbox(AsyncFileTransport::new(dir)),
        }
    }
}

pub enum Session<'a> {
    Smtp {
        server: &'a SmtpServer,
        connection: Option<Box<AsyncSmtpConnection>>,
    },
    Outbox(AsyncFileTransport<Tokio1Executor>),
}

impl Session<'_> {
    pub async fn send(&mut self, message: &Message, timeout: Duration) -> Result<(), SendError> {
        match self {
            Session::Outbox(transport) => transport
                .send(message.clone())
                .await
                .map(|_| ())
                .map_err(|e| SendError::Transient(format!("writing to the outbox failed: {e}"))),
            Session::Smtp { server, connection } => {
                if connection.is_none() {
                    *connection = server.take_idle();
                    if connection.is_some() {
                        // A kept connection the server closed meanwhile fails the first command:
                        // that is no news about the server, so try once more on a new one.
                        let tried = Self::send_smtp(server, connection, message, timeout).await;
                        if !matches!(tried, Err(SendError::Unavailable(_))) {
                            return tried;
                        }
                    }
                }
                Self::send_smtp(server, connection, message, timeout).await
            }
        }
    }

    async fn send_smtp(
        server: &SmtpServer,
        connection: &mut Option<Box<AsyncSmtpConnection>>,
        message: &Message,
        timeout: Duration,
    ) -> Result<(), SendError> {
        let attempt = async {
            if connection.as_ref().is_none_or(|c| c.has_broken()) {
                let fresh = server
                    .connect()
                    .await
                    .map_err(|e| SendError::Unavailable(e.to_string()))?;
                *connection = Some(Box::new(fresh));
            }
            let open = connection.as_mut().expect("connected above");
            open.send(message.envelope(), &message.formatted())
                .await
                .map(|_| ())
                .map_err(classify)
        };
        let result = tokio::time::timeout(timeout, attempt)
            .await
            .unwrap_or_else(|_| {
                Err(SendError::Unavailable(format!(
                    "SMTP timed out after {timeout:?}"
                )))
            });
        if result.is_err() {
            // The session state after a failure is unknown: start the next email afresh.
            if let Some(mut broken) = connection.take() {
                broken.abort().await;
            }
        }
        result
    }

    /// Gives the connection back for the next email.
    pub fn release(mut self) {
        if let Session::Smtp { server, connection } = &mut self
            && let Some(open) = connection.take()
        {
            server.give_back(open);
        }
    }

    /// Says goodbye to the server, if connected.
    pub async fn close(mut self) {
        if let Session::Smtp { connection, .. } = &mut self
            && let Some(mut open) = connection.take()
        {
            let _ = open.quit().await;
        }
    }
}

fn classify(err: lettre::transport::smtp::Error) -> SendError {
    let message = err.to_string();
    if err.is_permanent() {
        SendError::Permanent(message)
    } else if err.is_transient() {
        SendError::Transient(message)
    } else {
        SendError::Unavailable(message)
    }
}

impl SmtpServer {
    /// `smtp://[user:pass@]host[:port][?tls=required|opportunistic|none]` uses STARTTLS
    /// (required, except opportunistic on loopback hosts used by local sinks); `smtps://` uses TLS
    /// from the first byte. Ports default to 587 and 465.
    fn from_url(raw: &str, timeout: Duration) -> Result<SmtpServer, String> {
        let url = url::Url::parse(raw).map_err(|e| format!("SMTP_URL is not a valid URL: {e}"))?;
        let host = url
            .host_str()
            .ok_or("SMTP_URL has no host")?
            .trim_matches(['[', ']'])
            .to_owned();
        let implicit = url.scheme() == "smtps";
        let loopback = host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        let requested = url
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        let mode = match (implicit, requested.as_deref()) {
            (true, _) => TlsMode::Implicit,
            (false, Some("none")) => TlsMode::None,
            (false, Some("opportunistic")) => TlsMode::Opportunistic,
            (false, Some("required")) => TlsMode::Required,
            (false, None) if loopback => TlsMode::Opportunistic,
            (false, None) => TlsMode::Required,
            (false, Some(other)) => {
                return Err(format!(
                    "SMTP_URL: unknown tls={other} (use required, opportunistic or none)"
                ));
            }
        };
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let credentials = (!url.username().is_empty()).then(|| {
            Credentials::new(decode(url.username()), decode(url.password().unwrap_or("")))
        });
        let rustls = (mode == TlsMode::Implicit)
            .then(rustls_config)
            .transpose()?;
        Ok(SmtpServer {
            port: url.port().unwrap_or(if implicit { 465 } else { 587 }),
            host,
            mode,
            credentials,
            timeout,
            hello: ClientId::default(),
            rustls,
            idle: Mutex::default(),
        })
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, ConnectError> {
        let tcp = tokio::time::timeout(
            self.timeout,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| {
            ConnectError(format!(
                "connecting to {}:{} timed out",
                self.host, self.port
            ))
        })?
        .map_err(|e| {
            ConnectError(format!(
                "cannot connect to {}:{}: {e}",
                self.host, self.port
            ))
        })?;
        tcp.set_nodelay(true)
            .map_err(|e| ConnectError(format!("TCP_NODELAY: {e}")))?;
        let mut connection = match &self.rustls {
            Some(config) => {
                let name =
                    rustls::pki_types::ServerName::try_from(self.host.clone()).map_err(|e| {
                        ConnectError(format!("{} is not a valid TLS name: {e}", self.host))
                    })?;
                let tls = tokio_rustls::TlsConnector::from(config.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| ConnectError(format!("TLS with {}: {e}", self.host)))?;
                AsyncSmtpConnection::connect_with_transport(Box::new(TlsTcp(tls)), &self.hello)
                    .await?
            }
            None => AsyncSmtpConnection::connect_with_transport(Box::new(tcp), &self.hello).await?,
        };
        let starttls = match self.mode {
            TlsMode::Required => true,
            TlsMode::Opportunistic => connection.can_starttls(),
            TlsMode::None | TlsMode::Implicit => false,
        };
        if starttls {
            let parameters = TlsParameters::new(self.host.clone())?;
            connection.starttls(parameters, &self.hello).await?;
        }
        if let Some(credentials) = &self.credentials {
            connection
                .auth(&[Mechanism::Plain, Mechanism::Login], credentials)
                .await?;
        }
        Ok(connection)
    }
}

fn rustls_config() -> Result<Arc<rustls::ClientConfig>, String> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS setup: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

#[derive(Debug)]
struct ConnectError(String);

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<lettre::transport::smtp::Error> for ConnectError {
    fn from(err: lettre::transport::smtp::Error) -> Self {
        ConnectError(err.to_string())
    }
}

/// A TLS stream lettre can drive (it needs its `AsyncTokioStream` trait).
#[derive(Debug)]
struct TlsTcp(tokio_rustls::client::TlsStream<TcpStream>);

impl AsyncRead for TlsTcp {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsTcp {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl AsyncTokioStream for TlsTcp {
    fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().0.peer_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(url: &str) -> SmtpServer {
        SmtpServer::from_url(url, Duration::from_secs(5)).unwrap()
    }

    #[test]
    fn reads_smtp_urls() {
        let s = server("smtp://user%40example.com:p%2Bss@mail.example.com");
        assert_eq!(
            (s.host.as_str(), s.port, s.mode),
            ("mail.example.com", 587, TlsMode::Required)
        );
        assert!(s.credentials.is_some());
        let s = server("smtps://mail.example.com");
        assert_eq!((s.port, s.mode), (465, TlsMode::Implicit));
        assert!(s.rustls.is_some());
        assert_eq!(server("smtp://127.0.0.1:1025").mode, TlsMode::Opportunistic);
        assert_eq!(server("smtp://localhost:1025?tls=none").mode, TlsMode::None);
        assert_eq!(
            server("smtp://relay:25?tls=opportunistic").mode,
            TlsMode::Opportunistic
        );
        assert!(SmtpServer::from_url("smtp://relay?tls=maybe", Duration::from_secs(1)).is_err());
    }
}
