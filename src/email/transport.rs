//! Where messages go: an SMTP server (lettre, pooled), or in development without SMTP, `.eml`
//! files in an outbox directory.

use std::{path::PathBuf, time::Duration};

use lettre::{
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    transport::smtp::{
        PoolConfig,
        authentication::Credentials,
        client::{Tls, TlsParameters},
    },
};

use crate::config::EmailConfig;

pub enum Mailer {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Outbox(AsyncFileTransport<Tokio1Executor>, PathBuf),
}

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

impl Mailer {
    pub fn from_config(config: &EmailConfig) -> Result<Mailer, String> {
        match &config.smtp_url {
            Some(url) => smtp(url, config).map(Mailer::Smtp),
            None => {
                std::fs::create_dir_all(&config.outbox_dir).map_err(|e| {
                    format!(
                        "cannot create the email outbox {}: {e}",
                        config.outbox_dir.display()
                    )
                })?;
                Ok(Mailer::Outbox(
                    AsyncFileTransport::new(&config.outbox_dir),
                    config.outbox_dir.clone(),
                ))
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Mailer::Smtp(_) => "SMTP".into(),
            Mailer::Outbox(_, dir) => format!("the outbox directory {}", dir.display()),
        }
    }

    pub async fn send(&self, message: Message, timeout: Duration) -> Result<(), SendError> {
        match self {
            Mailer::Smtp(transport) => tokio::time::timeout(timeout, transport.send(message))
                .await
                .map_err(|_| {
                    SendError::Unavailable(format!("SMTP send timed out after {timeout:?}"))
                })?
                .map(|_| ())
                .map_err(classify),
            Mailer::Outbox(transport, _) => transport
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| SendError::Transient(format!("writing to the outbox failed: {e}"))),
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

/// `smtp://[user:pass@]host[:port][?tls=required|opportunistic|none]` uses STARTTLS (required,
/// except opportunistic on loopback hosts used by local sinks); `smtps://` uses TLS from the
/// first byte. Ports default to 587 and 465.
fn smtp(raw: &str, config: &EmailConfig) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("SMTP_URL is not a valid URL: {e}"))?;
    let host = url
        .host_str()
        .ok_or("SMTP_URL has no host")?
        .trim_matches(['[', ']'])
        .to_owned();
    let implicit_tls = url.scheme() == "smtps";
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let tls_mode = url
        .query_pairs()
        .find(|(k, _)| k == "tls")
        .map(|(_, v)| v.into_owned());
    let parameters =
        || TlsParameters::new(host.clone()).map_err(|e| format!("TLS setup for {host}: {e}"));
    let tls = if implicit_tls {
        Tls::Wrapper(parameters()?)
    } else {
        match tls_mode.as_deref() {
            Some("none") => Tls::None,
            Some("opportunistic") => Tls::Opportunistic(parameters()?),
            Some("required") => Tls::Required(parameters()?),
            None if loopback => Tls::Opportunistic(parameters()?),
            None => Tls::Required(parameters()?),
            Some(other) => {
                return Err(format!(
                    "SMTP_URL: unknown tls={other} (use required, opportunistic or none)"
                ));
            }
        }
    };
    let port = url.port().unwrap_or(if implicit_tls { 465 } else { 587 });
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
        .port(port)
        .tls(tls)
        .timeout(Some(config.send_timeout))
        .pool_config(PoolConfig::new().max_size(config.concurrency.max(1) as u32));
    if !url.username().is_empty() {
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        builder = builder.credentials(Credentials::new(
            decode(url.username()),
            decode(url.password().unwrap_or("")),
        ));
    }
    Ok(builder.build())
}
