//! Checking a link the way a visitor would, without letting a project URL reach inside our
//! network: HTTP(S) only, connect and overall timeouts, at most [`MAX_REDIRECTS`] redirects (each
//! hop checked again), a capped body, and no loopback, private, link-local or otherwise
//! non-public address unless its host is allowed (`LINK_CHECK_ALLOW_HOSTS`, for tests and
//! intranets). The address rules are the engine's (`engine::net`), checked where the connection
//! is made, so a name that resolves to a private address is refused as well as a literal one.

use std::time::{Duration, Instant};

use engine::net::{AllowedHosts, describe, read_capped};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use url::Url;

pub use crate::config::LinkCheckSettings;

pub const MAX_REDIRECTS: usize = 3;
/// Bytes of a body read at most (the check needs the answer, not the page).
const MAX_BODY_BYTES: usize = 256 * 1024;

/// What checking one URL found. A link that is down is a finding, not a failure of the job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkReport {
    pub url: String,
    /// The last status answered (after redirects), if any answer came.
    pub status_code: Option<u16>,
    pub final_url: Option<String>,
    pub redirects: usize,
    pub latency_ms: u64,
    /// A 2xx answer at the end of at most three redirects.
    pub ok: bool,
    pub error: Option<String>,
}

#[derive(Clone)]
pub struct LinkChecker {
    client: reqwest::Client,
    allow: AllowedHosts,
    timeout: Duration,
}

impl LinkChecker {
    pub fn new(settings: &LinkCheckSettings) -> Result<Self, String> {
        let allow = AllowedHosts::new(&settings.allow_hosts);
        let client = allow.client(
            settings.connect_timeout,
            settings.timeout,
            concat!("mintbean-link-check/", env!("CARGO_PKG_VERSION")),
        )?;
        Ok(LinkChecker {
            client,
            allow,
            timeout: settings.timeout,
        })
    }

    pub async fn check(&self, url: &str) -> LinkReport {
        let started = Instant::now();
        let mut report = LinkReport {
            url: url.to_owned(),
            status_code: None,
            final_url: None,
            redirects: 0,
            latency_ms: 0,
            ok: false,
            error: None,
        };
        let outcome = tokio::time::timeout(self.timeout, self.follow(url, &mut report)).await;
        report.error = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(problem)) => Some(problem),
            Err(_) => Some(format!("no answer within {:?}", self.timeout)),
        };
        report.ok = report.error.is_none() && report.status_code.is_some_and(|s| s < 300);
        report.latency_ms = started.elapsed().as_millis() as u64;
        report
    }

    /// Requests `url`, following redirects; fills `report` as it goes.
    async fn follow(&self, url: &str, report: &mut LinkReport) -> Result<(), String> {
        let mut current = Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        loop {
            report.final_url = Some(current.to_string());
            self.allow.check_url(&current)?;
            let response = self
                .client
                .get(current.clone())
                .send()
                .await
                .map_err(|e| describe(&e))?;
            let status = response.status();
            report.status_code = Some(status.as_u16());
            if !status.is_redirection() {
                return read_capped(response, MAX_BODY_BYTES).await.map(|_| ());
            }
            let next = redirect_target(&current, &response, status)?;
            if report.redirects == MAX_REDIRECTS {
                return Err(format!("more than {MAX_REDIRECTS} redirects"));
            }
            report.redirects += 1;
            current = next;
        }
    }
}

fn redirect_target(
    current: &Url,
    response: &reqwest::Response,
    status: StatusCode,
) -> Result<Url, String> {
    let location = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .ok_or(format!("{status} without a Location header"))?;
    current
        .join(location)
        .map_err(|e| format!("redirect to an invalid URL: {e}"))
}
