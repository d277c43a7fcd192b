//! Checking a link the way a visitor would, without letting a project URL reach inside our
//! network: HTTP(S) only, connect and overall timeouts, at most [`MAX_REDIRECTS`] redirects (each
//! hop checked again), a capped body, and no loopback, private, link-local or otherwise
//! non-public address unless its host is allowed (`LINK_CHECK_ALLOW_HOSTS`, for tests and
//! intranets). Addresses are checked where the connection is made (our resolver), so a name that
//! resolves to a private address is refused as well as a literal one.

use std::{
    collections::HashSet,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::{
    StatusCode,
    dns::{Addrs, Name, Resolve, Resolving},
    redirect,
};
use serde::{Deserialize, Serialize};
use url::{Host, Url};

pub const MAX_REDIRECTS: usize = 3;
/// Bytes of a body read at most (the check needs the answer, not the page).
const MAX_BODY_BYTES: usize = 256 * 1024;

#[derive(Clone, Debug)]
pub struct LinkCheckSettings {
    /// Hosts (names or addresses, lower case) that may resolve to non-public addresses.
    pub allow_hosts: Vec<String>,
    pub connect_timeout: Duration,
    /// For the whole check of one URL, redirects included.
    pub timeout: Duration,
}

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
    allow: Arc<HashSet<String>>,
    timeout: Duration,
}

impl LinkChecker {
    pub fn new(settings: &LinkCheckSettings) -> Result<Self, String> {
        let allow: Arc<HashSet<String>> = Arc::new(
            settings
                .allow_hosts
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
        );
        let client = reqwest::Client::builder()
            .redirect(redirect::Policy::none())
            .no_proxy()
            .connect_timeout(settings.connect_timeout)
            .timeout(settings.timeout)
            .user_agent(concat!("mintbean-link-check/", env!("CARGO_PKG_VERSION")))
            .dns_resolver(Arc::new(PublicOnly {
                allow: allow.clone(),
            }))
            .build()
            .map_err(|e| format!("link checker HTTP client: {e}"))?;
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
            self.check_target(&current)?;
            let response = self
                .client
                .get(current.clone())
                .send()
                .await
                .map_err(describe)?;
            let status = response.status();
            report.status_code = Some(status.as_u16());
            if !status.is_redirection() {
                return read_capped(response).await;
            }
            let next = redirect_target(&current, &response, status)?;
            if report.redirects == MAX_REDIRECTS {
                return Err(format!("more than {MAX_REDIRECTS} redirects"));
            }
            report.redirects += 1;
            current = next;
        }
    }

    /// The scheme, and the host when it is an address literal (names are checked on resolving).
    fn check_target(&self, url: &Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("refused: {} URLs are not checked", url.scheme()));
        }
        let host = url.host().ok_or("refused: the URL has no host")?;
        let address = match host {
            Host::Domain(_) => return Ok(()),
            Host::Ipv4(v4) => IpAddr::V4(v4),
            Host::Ipv6(v6) => IpAddr::V6(v6),
        };
        let text = url.host_str().unwrap_or_default().trim_matches(['[', ']']);
        if is_public(address) || self.allow.contains(text) {
            Ok(())
        } else {
            Err("refused: the address is not a public one".into())
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

/// Reads at most [`MAX_BODY_BYTES`] of the body, so a slow or endless body cannot hold the check.
async fn read_capped(mut response: reqwest::Response) -> Result<(), String> {
    let mut read = 0;
    while read < MAX_BODY_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            Ok(None) => break,
            Err(err) => return Err(describe(err)),
        }
    }
    Ok(())
}

/// A short reason without the addresses tried (they would map the internal network).
fn describe(err: reqwest::Error) -> String {
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(&err);
    while let Some(current) = source {
        chain.push_str(&current.to_string());
        chain.push('\n');
        source = current.source();
    }
    if chain.contains(REFUSED) {
        REFUSED.into()
    } else if err.is_timeout() {
        "timed out".into()
    } else if chain.contains("failed to lookup address") {
        "the host name did not resolve".into()
    } else if err.is_connect() {
        "could not connect".into()
    } else if err.is_body() || err.is_decode() {
        "the answer broke off".into()
    } else {
        "the request failed".into()
    }
}

const REFUSED: &str = "refused: the host resolves only to addresses that are not public";

/// Resolves names, keeping public addresses only (all of them for allowed hosts).
struct PublicOnly {
    allow: Arc<HashSet<String>>,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let allowed = self.allow.contains(&host);
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allowed || is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(REFUSED.into());
            }
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// Whether `address` is on the public internet (not loopback, private, link-local, shared,
/// documentation, multicast, unspecified or reserved; IPv4-mapped IPv6 judged as IPv4).
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || first == 0x2001 && v6.segments()[1] == 0xdb8 // documentation
                || first == 0x64 && v6.segments()[1] == 0xff9b) // NAT64 to any IPv4
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "1.1.1.1",
            "140.82.112.3",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }
}
