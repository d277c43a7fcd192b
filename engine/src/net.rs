//! Outgoing HTTP that cannot be turned against our own network: HTTP(S) only, no proxy, no
//! redirects followed by the client, and connections only to public addresses unless the host is
//! allowed. Addresses are checked where the connection is made (the resolver), so a name that
//! resolves to a private address is refused as well as a literal one. Used by webhook deliveries
//! and by applications' own checks (e.g. link checks).

use std::{
    collections::HashSet,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// The reason given for a destination that is not public (without its addresses, which would
/// map the internal network).
pub const REFUSED: &str = "refused: the host resolves only to addresses that are not public";

/// Which hosts may be reached on non-public addresses (lower-case names or addresses).
#[derive(Clone, Debug, Default)]
pub struct AllowedHosts(Arc<HashSet<String>>);

impl AllowedHosts {
    pub fn new<I: IntoIterator<Item = S>, S: AsRef<str>>(hosts: I) -> Self {
        AllowedHosts(Arc::new(
            hosts
                .into_iter()
                .map(|h| h.as_ref().trim().to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
        ))
    }

    fn allows(&self, host: &str) -> bool {
        self.0
            .contains(&host.trim_matches(['[', ']']).to_ascii_lowercase())
    }

    /// The scheme, and the host when it is an address literal (names are checked on resolving).
    pub fn check_url(&self, url: &Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("refused: {} URLs are not allowed", url.scheme()));
        }
        let host = url.host().ok_or("refused: the URL has no host")?;
        let address = match host {
            Host::Domain(_) => return Ok(()),
            Host::Ipv4(v4) => IpAddr::V4(v4),
            Host::Ipv6(v6) => IpAddr::V6(v6),
        };
        if is_public(address) || self.allows(url.host_str().unwrap_or_default()) {
            Ok(())
        } else {
            Err("refused: the address is not a public one".into())
        }
    }

    /// Resolves `url`'s host now and refuses it unless it has a public address (or is allowed):
    /// for checking a destination when it is registered, before anything is sent.
    pub async fn check_destination(&self, url: &Url) -> Result<(), String> {
        self.check_url(url)?;
        let Some(Host::Domain(name)) = url.host() else {
            return Ok(());
        };
        PublicOnly {
            allow: self.clone(),
        }
        .addresses(name)
        .await
        .map(|_| ())
    }

    /// A client that connects only to allowed destinations and follows no redirects.
    pub fn client(
        &self,
        connect_timeout: Duration,
        timeout: Duration,
        user_agent: &str,
    ) -> Result<reqwest::Client, String> {
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(connect_timeout)
            .timeout(timeout)
            .user_agent(user_agent)
            .dns_resolver(Arc::new(PublicOnly {
                allow: self.clone(),
            }))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))
    }
}

/// Resolves names, keeping public addresses only (all of them for allowed hosts).
struct PublicOnly {
    allow: AllowedHosts,
}

impl PublicOnly {
    async fn addresses(&self, host: &str) -> Result<Vec<SocketAddr>, String> {
        let allowed = self.allow.allows(host);
        let found: Vec<SocketAddr> = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|_| "the host name did not resolve".to_owned())?
            .filter(|a| allowed || is_public(a.ip()))
            .collect();
        if found.is_empty() {
            return Err(REFUSED.into());
        }
        Ok(found)
    }
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let resolver = PublicOnly {
            allow: self.allow.clone(),
        };
        Box::pin(async move {
            let found = resolver.addresses(&host).await?;
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// A short reason for a failed request, without the addresses tried.
pub fn describe(err: &reqwest::Error) -> String {
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = Some(err);
    while let Some(current) = source {
        chain.push_str(&current.to_string());
        chain.push('\n');
        source = current.source();
    }
    if chain.contains(REFUSED) {
        REFUSED.into()
    } else if err.is_timeout() {
        "timed out".into()
    } else if chain.contains("did not resolve") || chain.contains("failed to lookup address") {
        "the host name did not resolve".into()
    } else if err.is_connect() {
        "could not connect".into()
    } else if err.is_body() || err.is_decode() {
        "the answer broke off".into()
    } else {
        "the request failed".into()
    }
}

/// Reads at most `max` bytes of a body (the rest is dropped), so a slow or endless body cannot
/// hold the caller.
pub async fn read_capped(mut response: reqwest::Response, max: usize) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    while body.len() < max {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(max - body.len())]),
            Ok(None) => break,
            Err(err) => return Err(describe(&err)),
        }
    }
    Ok(body)
}

/// Whether `address` is on the public internet (not loopback, private, link-local, shared,
/// documentation, multicast, unspecified or reserved; IPv4-mapped IPv6 judged as IPv4).
pub fn is_public(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
                || (a == 198 && (b == 18 || b == 19)) // benchmarking
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let [first, second, ..] = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first == 0x2001 && second == 0xdb8) // documentation
                || (first == 0x64 && second == 0xff9b)) // NAT64 to any IPv4
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

    #[test]
    fn literal_addresses_and_schemes_are_checked_before_connecting() {
        let none = AllowedHosts::default();
        let url = |u: &str| Url::parse(u).unwrap();
        assert!(none.check_url(&url("http://10.0.0.1/")).is_err());
        assert!(none.check_url(&url("http://[::1]:8080/")).is_err());
        assert!(none.check_url(&url("ftp://example.com/")).is_err());
        assert!(none.check_url(&url("https://example.com/")).is_ok());
        let local = AllowedHosts::new(["127.0.0.1"]);
        assert!(local.check_url(&url("http://127.0.0.1:9000/hook")).is_ok());
    }
}
