//! Where a tenant's integrations may send: public addresses only, unless
//! the operator allows private networks
//! (`--integrations-allow-private-networks`).
//!
//! A tenant administrator chooses its integrations' URLs; without this, it
//! could point one at the gateway's own network (a cloud metadata service
//! at 169.254.169.254, a database's admin port on loopback) and have the
//! gateway send there. A URL naming an address is checked when the
//! integration is made; a host name is checked each time it is resolved
//! (the client's resolver drops non-public addresses), so a name that
//! later resolves inward is refused too. Redirects are never followed.
//! Integrations of the environment are the operator's and are not limited.

use std::net::{IpAddr, SocketAddr};

/// Whether `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                // Shared address space (RFC 6598) and benchmarking (RFC 2544).
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
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
                // Unique local (fc00::/7) and link-local (fe80::/10).
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                // Documentation (2001:db8::/32).
                || (first == 0x2001 && v6.segments()[1] == 0x0db8))
        }
    }
}

/// Refuses `url` when its host is an address that is not public.
pub fn check_url(url: &str) -> Result<(), String> {
    let parsed = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    let host = parsed.host_str().unwrap_or_default();
    let Ok(address) = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() else {
        return Ok(());
    };
    if is_public(address) {
        Ok(())
    } else {
        Err(format!(
            "`{address}` is a private, loopback or link-local address: a tenant's integrations send to public \
             addresses only (the operator may allow private networks with --integrations-allow-private-networks)"
        ))
    }
}

/// A resolver that keeps public addresses only.
#[derive(Clone, Copy, Debug, Default)]
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let host = name.as_str().to_string();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all.iter().copied().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() && !all.is_empty() {
                let error: Box<dyn std::error::Error + Send + Sync> = format!(
                    "`{host}` resolves only to private, loopback or link-local addresses: a tenant's integrations \
                     send to public addresses only"
                )
                .into();
                return Err(error);
            }
            let addresses: reqwest::dns::Addrs = Box::new(public.into_iter());
            Ok(addresses)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_pass() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in ["8.8.8.8", "52.94.0.1", "2606:4700::1111", "::ffff:1.1.1.1"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        assert!(check_url("http://169.254.169.254/latest/meta-data").is_err());
        assert!(check_url("http://[::1]:8080/").is_err());
        assert!(check_url("https://splunk.example.com:8088").is_ok());
        assert!(check_url("https://203.0.114.10").is_ok());
    }
}
