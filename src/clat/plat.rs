//! Which PLAT prefix is in force, from what each source said and when (sans-IO: every
//! call takes `now` in milliseconds).
//!
//! Preference (the order): the operator's `plat-prefix` (then nothing else is
//! consulted), the PREF64 of the latest Router Advertisement (RFC 8781), the RFC 7050
//! answer. Each learned prefix lives as long as its source said (the RA option's
//! lifetime, the DNS answer's TTL) and is forgotten after; a newer RA or answer
//! replaces it. RFC 7050 is asked while no RA prefix is known, again when its answer's
//! TTL runs out, and after a failure with a growing pause: the CLAT keeps trying and
//! never uses a prefix it was not told.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};

use ipnet::Ipv6Net;

/// Where a prefix came from, for the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Configured,
    /// RFC 8781, from this router.
    RouterAdvertisement(Ipv6Addr),
    /// RFC 7050, answered by this resolver.
    Dns64(IpAddr),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Configured => f.write_str("plat-prefix"),
            Origin::RouterAdvertisement(r) => {
                write!(f, "PREF64 in a Router Advertisement from {r}")
            }
            Origin::Dns64(s) => write!(f, "RFC 7050 (ipv4only.arpa AAAA from {s})"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Learned {
    prefix: Ipv6Net,
    origin: Origin,
    expires_ms: u64,
}

/// The prefix in force changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    pub old: Option<Ipv6Net>,
    pub new: Option<Ipv6Net>,
    /// Where `new` came from (None when no prefix is left).
    pub origin: Option<Origin>,
}

/// First pause after a failed RFC 7050 query, and the longest.
pub const DNS_RETRY_MIN_MS: u64 = 2_000;
pub const DNS_RETRY_MAX_MS: u64 = 60_000;
/// A TTL of 0 (or a tiny one) would have us ask in a loop: ask again no sooner.
pub const DNS_MIN_TTL_MS: u64 = 10_000;

#[derive(Debug, Clone)]
pub struct PlatPrefix {
    configured: Option<Ipv6Net>,
    ra: Option<Learned>,
    dns: Option<Learned>,
    in_force: Option<Ipv6Net>,
    next_dns_ms: u64,
    dns_pause_ms: u64,
}

impl PlatPrefix {
    /// `configured`: the operator's prefix, which nothing replaces.
    pub fn new(configured: Option<Ipv6Net>) -> Self {
        PlatPrefix {
            configured,
            ra: None,
            dns: None,
            in_force: configured,
            next_dns_ms: 0,
            dns_pause_ms: DNS_RETRY_MIN_MS,
        }
    }

    /// The prefix the translator uses now.
    pub fn current(&self) -> Option<Ipv6Net> {
        self.in_force
    }

    /// A PREF64 option from `router`. Lifetime 0 withdraws the prefix if it is the one
    /// this source gave (RFC 8781 §4); a new prefix replaces the old at once.
    pub fn on_ra(
        &mut self,
        router: Ipv6Addr,
        prefix: Ipv6Net,
        lifetime_s: u32,
        now_ms: u64,
    ) -> Option<Change> {
        if lifetime_s == 0 {
            if self.ra.is_some_and(|l| l.prefix == prefix) {
                self.ra = None;
            }
        } else {
            self.ra = Some(Learned {
                prefix,
                origin: Origin::RouterAdvertisement(router),
                expires_ms: now_ms + u64::from(lifetime_s) * 1000,
            });
        }
        self.settle(now_ms)
    }

    /// An RFC 7050 answer from `server`, valid for `ttl_s` (a TTL under
    /// [`DNS_MIN_TTL_MS`] counts as that). It is asked again at 4/5 of the TTL, so that
    /// the next answer (or a new prefix) arrives before this one expires.
    pub fn on_dns(
        &mut self,
        server: IpAddr,
        prefix: Ipv6Net,
        ttl_s: u32,
        now_ms: u64,
    ) -> Option<Change> {
        let life_ms = (u64::from(ttl_s) * 1000).max(DNS_MIN_TTL_MS);
        self.dns = Some(Learned {
            prefix,
            origin: Origin::Dns64(server),
            expires_ms: now_ms + life_ms,
        });
        self.dns_pause_ms = DNS_RETRY_MIN_MS;
        self.next_dns_ms = now_ms + life_ms * 4 / 5;
        self.settle(now_ms)
    }

    /// An RFC 7050 query failed (no answer, no well-known address): ask again after a
    /// pause that doubles up to [`DNS_RETRY_MAX_MS`]. What was learned before stays
    /// until its TTL ends.
    pub fn on_dns_failure(&mut self, now_ms: u64) -> Option<Change> {
        self.next_dns_ms = now_ms + self.dns_pause_ms;
        self.dns_pause_ms = (self.dns_pause_ms * 2).min(DNS_RETRY_MAX_MS);
        self.settle(now_ms)
    }

    /// Whether an RFC 7050 query is due: nothing configured, no RA prefix, and the
    /// answer's TTL or the retry pause has run out.
    pub fn dns_due(&self, now_ms: u64) -> bool {
        self.configured.is_none() && self.ra.is_none() && now_ms >= self.next_dns_ms
    }

    /// Lifetimes that ran out; call now and then.
    pub fn tick(&mut self, now_ms: u64) -> Option<Change> {
        self.settle(now_ms)
    }

    fn settle(&mut self, now_ms: u64) -> Option<Change> {
        for slot in [&mut self.ra, &mut self.dns] {
            if slot.is_some_and(|l| now_ms >= l.expires_ms) {
                *slot = None;
            }
        }
        let (new, origin) = match (self.configured, self.ra, self.dns) {
            (Some(p), _, _) => (Some(p), Some(Origin::Configured)),
            (None, Some(l), _) | (None, None, Some(l)) => (Some(l.prefix), Some(l.origin)),
            (None, None, None) => (None, None),
        };
        if new == self.in_force {
            return None;
        }
        let old = std::mem::replace(&mut self.in_force, new);
        Some(Change { old, new, origin })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Ipv6Net {
        s.parse().unwrap()
    }
    const R: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    const S: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 53));

    #[test]
    fn configured_prefix_wins_and_no_discovery_is_due() {
        let mut s = PlatPrefix::new(Some(p("64:ff9b::/96")));
        assert_eq!(s.on_ra(R, p("2001:db8:64::/96"), 600, 0), None);
        assert_eq!(s.current(), Some(p("64:ff9b::/96")));
        assert!(!s.dns_due(0));
    }

    /// RFC 8781 §4: a prefix lives for its lifetime; a new one replaces it at once; a
    /// lifetime of 0 withdraws it.
    #[test]
    fn rfc8781_4_ra_prefix_lifetime_replacement_and_withdrawal() {
        let mut s = PlatPrefix::new(None);
        let c = s.on_ra(R, p("2001:db8:64::/96"), 600, 1_000).unwrap();
        assert_eq!((c.old, c.new), (None, Some(p("2001:db8:64::/96"))));
        assert_eq!(c.origin, Some(Origin::RouterAdvertisement(R)));
        assert_eq!(
            s.on_ra(R, p("2001:db8:64::/96"), 600, 2_000),
            None,
            "refresh only"
        );
        let c = s.on_ra(R, p("2001:db8:65::/96"), 600, 3_000).unwrap();
        assert_eq!(
            (c.old, c.new),
            (Some(p("2001:db8:64::/96")), Some(p("2001:db8:65::/96")))
        );
        assert_eq!(s.tick(3_000 + 599_999), None);
        let c = s.tick(3_000 + 600_000).unwrap();
        assert_eq!(c.new, None, "expired, and no other source: no prefix");
        s.on_ra(R, p("2001:db8:66::/96"), 600, 700_000);
        let c = s.on_ra(R, p("2001:db8:66::/96"), 0, 700_001).unwrap();
        assert_eq!(c.new, None);
    }

    /// RFC 7050 §3 / §5 (re-discovery after the TTL): asked while no RA prefix is
    /// known; the answer holds for its TTL; failures are retried with growing pauses.
    #[test]
    fn rfc7050_rediscovery_and_retry_schedule() {
        let mut s = PlatPrefix::new(None);
        assert!(s.dns_due(0));
        assert_eq!(s.on_dns_failure(0), None);
        assert!(!s.dns_due(1_999) && s.dns_due(2_000));
        s.on_dns_failure(2_000);
        assert!(!s.dns_due(5_999) && s.dns_due(6_000));
        let c = s.on_dns(S, p("2001:db8:64::/96"), 300, 6_000).unwrap();
        assert_eq!(c.origin, Some(Origin::Dns64(S)));
        // Asked again at 4/5 of the TTL, before the answer expires.
        assert!(!s.dns_due(245_999) && s.dns_due(246_000));
        // An RA prefix is preferred, and while it lives DNS is not asked.
        let c = s.on_ra(R, p("2001:db8:65::/96"), 60, 7_000).unwrap();
        assert_eq!(c.new, Some(p("2001:db8:65::/96")));
        assert!(!s.dns_due(400_000) || s.ra.is_none());
        // The RA prefix expires first; the DNS one, still valid, takes over.
        let c = s.tick(67_000).unwrap();
        assert_eq!(c.new, Some(p("2001:db8:64::/96")));
        // A failure does not throw away an answer whose TTL still runs.
        assert_eq!(s.on_dns_failure(100_000), None);
        assert_eq!(s.tick(306_000).unwrap().new, None);
    }

    #[test]
    fn zero_ttl_does_not_ask_in_a_loop() {
        let mut s = PlatPrefix::new(None);
        assert!(s.on_dns(S, p("2001:db8:64::/96"), 0, 0).is_some());
        assert!(!s.dns_due(DNS_MIN_TTL_MS * 4 / 5 - 1));
        assert_eq!(s.current(), Some(p("2001:db8:64::/96")));
    }

    /// RFC 7050 §5 (re-discovery): a new answer with another prefix replaces the old one
    /// without a gap.
    #[test]
    fn rfc7050_new_answer_replaces_without_gap() {
        let mut s = PlatPrefix::new(None);
        s.on_dns(S, p("2001:db8:64::/96"), 20, 0);
        assert!(s.dns_due(16_000));
        let c = s.on_dns(S, p("2001:db8:65::/96"), 20, 16_000).unwrap();
        assert_eq!(
            (c.old, c.new),
            (Some(p("2001:db8:64::/96")), Some(p("2001:db8:65::/96")))
        );
    }
}
