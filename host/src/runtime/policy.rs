//! Where a connector may send a request.
//!
//! Two checks, in this order. Before the request: its scheme, host and port
//! must match an origin the connector declared in `describe` (a job may narrow
//! that list, never widen it). After DNS: an address on a private, loopback,
//! link-local (cloud metadata at 169.254.169.254), multicast or otherwise
//! non-public network is refused unless the job explicitly allows private
//! networks. The address check runs inside the HTTP client's resolver, on the
//! very addresses it connects to, so a DNS answer that changes between a check
//! and the connection cannot slip through.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::Url;

/// An origin a connector declared: `https://api.notion.com`, or a wildcard
/// for subdomains, `https://*.hubspot.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    pub fn parse(text: &str) -> Result<Origin, String> {
        let wildcard = text.contains("://*.");
        let parsed = Url::parse(&text.replacen("://*.", "://wildcard.", 1))
            .map_err(|e| format!("`{text}` is not an origin: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("`{text}`: only http and https origins are allowed"));
        }
        if parsed.path() != "/" || parsed.query().is_some() {
            return Err(format!("`{text}`: an origin has no path or query"));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| format!("`{text}` has no host"))?;
        let host = if wildcard {
            host.replacen("wildcard.", "*.", 1)
        } else {
            host.to_string()
        };
        Ok(Origin {
            scheme: parsed.scheme().into(),
            host,
            port: parsed.port_or_known_default().unwrap_or(443),
        })
    }

    pub fn of(url: &Url) -> Option<Origin> {
        Some(Origin {
            scheme: url.scheme().into(),
            host: url
                .host_str()?
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port: url.port_or_known_default()?,
        })
    }

    /// Whether `other` (a concrete origin) is covered by this one.
    pub fn covers(&self, other: &Origin) -> bool {
        if self.scheme != other.scheme || self.port != other.port {
            return false;
        }
        match self.host.strip_prefix("*.") {
            Some(suffix) => other.host.ends_with(&format!(".{suffix}")),
            None => self.host.eq_ignore_ascii_case(&other.host),
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let default = if self.scheme == "https" { 443 } else { 80 };
        if self.port == default {
            write!(f, "{}://{}", self.scheme, self.host)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// A self-hosted platform (Directus, a company's own API) has no origin the
/// connector can know when it is built: it declares `{{setting:url}}` and the
/// job's setting supplies the origin. The job's owner names their own server,
/// so nothing is widened that the owner did not write down.
pub fn resolve_declared(
    declared: &[String],
    settings: &BTreeMap<String, String>,
) -> Result<Vec<String>, String> {
    declared
        .iter()
        .map(|d| {
            let Some(name) = d
                .strip_prefix("{{setting:")
                .and_then(|r| r.strip_suffix("}}"))
            else {
                return Ok(d.clone());
            };
            let value = settings.get(name).ok_or_else(|| {
                format!("the connector reaches the host named by setting `{name}`, which the connection does not set")
            })?;
            let url = Url::parse(value)
                .map_err(|e| format!("setting `{name}` = `{value}` is not a URL: {e}"))?;
            let origin = Origin::of(&url)
                .ok_or_else(|| format!("setting `{name}` = `{value}` has no host"))?;
            Ok(origin.to_string())
        })
        .collect()
}

/// The outbound policy of one session.
///
/// Credentials go only to origins named exactly: a concrete origin the
/// connector declares (or its `{{setting:...}}` resolves to), or one the
/// connection lists in `allowed_hosts`. An origin reached only through a
/// declared wildcard (`https://*.my.salesforce.com`) can be called, but a
/// request carrying a secret to it is refused: a wildcard alone would let a
/// connector send the token to any customer's subdomain.
#[derive(Debug, Clone)]
pub struct Policy {
    allowed: Vec<Allowed>,
    /// declared origin -> where requests to it really go (a simulator, a proxy)
    overrides: Vec<(Origin, Url)>,
    pub allow_private_networks: bool,
}

#[derive(Debug, Clone)]
struct Allowed {
    origin: Origin,
    /// whether requests to it may carry credentials: named exactly, never by a wildcard
    credentials: bool,
}

/// A request the policy let through, and where it really goes.
#[derive(Debug)]
pub struct Routed {
    /// the URL as the connector wrote it (what secrets and logs are keyed by)
    pub declared: Url,
    /// the URL actually requested
    pub target: Url,
    /// `None` when the destination may receive credentials; otherwise why not
    pub no_credentials: Option<String>,
}

/// Longest part of a URL quoted in a message: a connector may send URLs of
/// megabytes, and every message about one is logged.
const SHOWN_URL: usize = 200;

/// A URL as messages show it: no query string, at most [`SHOWN_URL`] bytes.
pub fn shown(url: &str) -> String {
    clip(strip_query(url), SHOWN_URL)
}

/// `text` cut to at most `max` bytes on a character boundary, marked with `…`.
pub fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}…", &text[..cut])
}

impl Policy {
    /// `declared` comes from the connector; `narrowed` and `overrides` from the job.
    pub fn new(
        declared: &[String],
        narrowed: Option<&[String]>,
        overrides: &BTreeMap<String, String>,
        allow_private_networks: bool,
    ) -> Result<Policy, String> {
        let declared: Vec<Origin> = declared
            .iter()
            .map(|d| Origin::parse(d))
            .collect::<Result<_, _>>()?;
        // A named origin may receive credentials; a wildcard never does.
        let allowed_as = |origin: Origin| Allowed {
            credentials: !origin.host.starts_with("*."),
            origin,
        };
        let allowed = match narrowed {
            None => declared.iter().cloned().map(allowed_as).collect(),
            Some(list) => {
                let mut allowed = Vec::new();
                for entry in list {
                    let origin = Origin::parse(entry)?;
                    if !declared.iter().any(|d| d.covers(&origin) || *d == origin) {
                        return Err(format!(
                            "allowed_hosts lists {origin}, which the connector does not declare; a job can narrow the connector's hosts, never widen them"
                        ));
                    }
                    allowed.push(allowed_as(origin));
                }
                allowed
            }
        };
        let mut routes = Vec::new();
        for (from, to) in overrides {
            let origin = Origin::parse(from)?;
            // An override names one concrete origin: a wildcard would never
            // match a request, which would then silently go to the real host.
            if origin.host.starts_with("*.") {
                return Err(format!(
                    "endpoint override for {from}: name one origin (such as https://acme.example.com), not a wildcard"
                ));
            }
            if !declared.iter().any(|d| *d == origin || d.covers(&origin)) {
                return Err(format!(
                    "endpoint override for {from}: the connector does not declare that origin"
                ));
            }
            let to = Url::parse(to).map_err(|e| format!("endpoint override `{to}`: {e}"))?;
            routes.push((origin, to));
        }
        Ok(Policy {
            allowed,
            overrides: routes,
            allow_private_networks,
        })
    }

    /// Checks a URL the connector asked for and routes it.
    pub fn route(&self, url: &str) -> Result<Routed, String> {
        let declared =
            Url::parse(url).map_err(|e| format!("`{}` is not a URL: {e}", shown(url)))?;
        let origin =
            Origin::of(&declared).ok_or_else(|| format!("`{}` has no host", shown(url)))?;
        if !matches!(origin.scheme.as_str(), "http" | "https") {
            return Err(format!(
                "scheme {} is not allowed",
                clip(&origin.scheme, 20)
            ));
        }
        let covering: Vec<&Allowed> = self
            .allowed
            .iter()
            .filter(|a| a.origin.covers(&origin))
            .collect();
        if covering.is_empty() {
            let allowed: Vec<String> = self.allowed.iter().map(|a| a.origin.to_string()).collect();
            return Err(format!(
                "{} is not among the hosts this connector may reach ({})",
                clip(&origin.to_string(), SHOWN_URL),
                allowed.join(", ")
            ));
        }
        let no_credentials = if covering.iter().any(|a| a.credentials) {
            None
        } else {
            Some(format!(
                "{origin} is covered only by the wildcard {}: credentials go only to origins \
                 named exactly; list {origin} in the connection's allowed_hosts to send them there",
                covering[0].origin
            ))
        };
        let mut target = declared.clone();
        if let Some((_, to)) = self.overrides.iter().find(|(from, _)| *from == origin) {
            target
                .set_scheme(to.scheme())
                .map_err(|_| "bad override scheme".to_string())?;
            target
                .set_host(to.host_str())
                .map_err(|e| format!("bad override host: {e}"))?;
            target
                .set_port(to.port())
                .map_err(|_| "bad override port".to_string())?;
            let prefix = to.path().trim_end_matches('/');
            if !prefix.is_empty() {
                target.set_path(&format!("{prefix}{}", declared.path()));
            }
        }
        // A literal IP address never reaches the resolver, so check it here.
        if let Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) = target.host() {
            let ip: IpAddr = target
                .host_str()
                .unwrap_or_default()
                .trim_matches(['[', ']'])
                .parse()
                .map_err(|_| "bad IP".to_string())?;
            self.check_ip(ip)?;
        }
        Ok(Routed {
            declared,
            target,
            no_credentials,
        })
    }

    pub fn check_ip(&self, ip: IpAddr) -> Result<(), String> {
        if !self.allow_private_networks && !is_public(ip) {
            return Err(format!(
                "{ip} is on a private, loopback, link-local or otherwise non-public network; the job does not allow private networks"
            ));
        }
        Ok(())
    }
}

pub fn strip_query(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

/// Whether `ip` is a globally routable unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_unspecified()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT, 100.64.0.0/10
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, 198.18.0.0/15
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local, fe80::/10
        || first == 0x2001 && ip.segments()[1] == 0x0db8) // documentation
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow_private: bool) -> Policy {
        let overrides = BTreeMap::from([(
            "https://api.notion.com".to_string(),
            "http://127.0.0.1:9999".to_string(),
        )]);
        Policy::new(
            &[
                "https://api.notion.com".into(),
                "https://*.example.com".into(),
            ],
            None,
            &overrides,
            allow_private,
        )
        .unwrap()
    }

    #[test]
    fn refuses_undeclared_hosts_and_schemes() {
        let p = policy(true);
        assert!(p
            .route("https://evil.test/x")
            .unwrap_err()
            .contains("evil.test"));
        assert!(
            p.route("http://api.notion.com/v1").is_err(),
            "scheme must match"
        );
        assert!(
            p.route("https://api.notion.com:8443/v1").is_err(),
            "port must match"
        );
        assert!(p.route("https://a.example.com/").is_ok());
        assert!(
            p.route("https://example.com/").is_err(),
            "a wildcard covers subdomains only"
        );
    }

    #[test]
    fn routes_overrides_and_checks_the_real_destination() {
        let routed = policy(true)
            .route("https://api.notion.com/v1/pages?x=1")
            .unwrap();
        assert_eq!(routed.target.as_str(), "http://127.0.0.1:9999/v1/pages?x=1");
        let err = policy(false)
            .route("https://api.notion.com/v1/pages")
            .unwrap_err();
        assert!(err.contains("127.0.0.1"), "{err}");
    }

    #[test]
    fn a_job_narrows_but_never_widens() {
        let declared = ["https://api.notion.com".to_string()];
        let none = BTreeMap::new();
        assert!(Policy::new(&declared, Some(&["https://evil.test".into()]), &none, false).is_err());
        let narrowed = Policy::new(
            &["https://a.test".into(), "https://b.test".into()],
            Some(&["https://a.test".into()]),
            &none,
            false,
        )
        .unwrap();
        assert!(narrowed.route("https://b.test/").is_err());
        assert!(Policy::new(
            &declared,
            None,
            &BTreeMap::from([("https://other.test".into(), "http://127.0.0.1:1".into())]),
            false
        )
        .is_err());
    }

    #[test]
    fn a_declared_setting_names_the_origin_of_a_self_hosted_platform() {
        let declared = vec![
            "{{setting:url}}".to_string(),
            "https://api.example.com".into(),
        ];
        let settings =
            BTreeMap::from([("url".to_string(), "http://127.0.0.1:8055/admin".to_string())]);
        assert_eq!(
            resolve_declared(&declared, &settings).unwrap(),
            vec![
                "http://127.0.0.1:8055".to_string(),
                "https://api.example.com".into()
            ]
        );
        let err = resolve_declared(&declared, &BTreeMap::new()).unwrap_err();
        assert!(err.contains("setting `url`"), "{err}");
        let bad = BTreeMap::from([("url".to_string(), "not a url".to_string())]);
        assert!(resolve_declared(&declared, &bad)
            .unwrap_err()
            .contains("not a URL"));
    }

    #[test]
    fn credentials_go_only_to_origins_named_exactly() {
        let declared = [
            "https://login.example.com".to_string(),
            "https://*.my.example.com".into(),
        ];
        let none = BTreeMap::new();
        let p = Policy::new(&declared, None, &none, false).unwrap();
        assert!(p
            .route("https://login.example.com/x")
            .unwrap()
            .no_credentials
            .is_none());
        let why = p
            .route("https://victim.my.example.com/x")
            .unwrap()
            .no_credentials
            .unwrap();
        assert!(
            why.contains("wildcard") && why.contains("allowed_hosts"),
            "{why}"
        );
        let named = Policy::new(
            &declared,
            Some(&["https://acme.my.example.com".into()]),
            &none,
            false,
        )
        .unwrap();
        assert!(named
            .route("https://acme.my.example.com/x")
            .unwrap()
            .no_credentials
            .is_none());
        assert!(named.route("https://victim.my.example.com/x").is_err());
    }

    #[test]
    fn messages_about_a_huge_url_stay_short() {
        let p = policy(false);
        let url = format!("https://evil.test/{}", "a".repeat(1 << 20));
        assert!(p.route(&url).unwrap_err().len() < 1024);
        let url = format!("https://{}.test/", "a".repeat(1 << 20));
        assert!(p.route(&url).unwrap_err().len() < 1024);
        assert!(
            p.route(&format!("::{}", "a".repeat(1 << 20)))
                .unwrap_err()
                .len()
                < 1024
        );
    }

    #[test]
    fn classifies_addresses() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "172.16.5.5",
            "169.254.169.254",
            "224.0.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "100.64.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip} should not be public");
        }
        for ip in ["1.1.1.1", "8.8.8.8", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip} should be public");
        }
    }

    #[test]
    fn an_override_may_name_an_origin_a_wildcard_covers_but_not_the_wildcard() {
        let declared = ["https://*.my.salesforce.com".to_string()];
        let to =
            |from: &str| BTreeMap::from([(from.to_string(), "http://127.0.0.1:9".to_string())]);
        let p = Policy::new(&declared, None, &to("https://acme.my.salesforce.com"), true).unwrap();
        assert_eq!(
            p.route("https://acme.my.salesforce.com/services/data")
                .unwrap()
                .target
                .as_str(),
            "http://127.0.0.1:9/services/data"
        );
        assert_eq!(
            p.route("https://other.my.salesforce.com/x")
                .unwrap()
                .target
                .host_str(),
            Some("other.my.salesforce.com")
        );
        assert!(
            Policy::new(&declared, None, &to("https://*.my.salesforce.com"), true)
                .unwrap_err()
                .contains("wildcard")
        );
    }
}
