//! Address mapping between IPv6 and IPv4: RFC 6052 IPv4-embedded IPv6 addresses, RFC 7757
//! explicit address mappings (EAM), the RFC 6791 pool, and address validity rules.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Maps addresses in both directions: EAM first (longest prefix match), then the RFC
/// 6052 prefix.
#[derive(Debug, Clone, Default)]
pub struct AddrMapper {
    // filled in by the addr module
}

/// Which rule mapped an address; hairpinning (RFC 7757 §4) needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappedBy {
    Eam,
    Rfc6052,
}

/// A configuration error in an address setting; `Display` says what is wrong and what
/// form is expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddrError(pub String);

impl std::fmt::Display for AddrError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AddrError {}

impl AddrMapper {
    /// Builds the mapper. `pool6` must be an RFC 6052 prefix (/32, /40, /48, /56, /64 or
    /// /96, u-octet zero); `eams` are IPv6 prefix ↔ IPv4 prefix pairs with the same
    /// number of host bits; `wkp_strict` refuses non-global IPv4 addresses with the
    /// well-known prefix 64:ff9b::/96 (RFC 6052 §3.1).
    pub fn new(
        pool6: Option<ipnet::Ipv6Net>,
        eams: &[(ipnet::Ipv6Net, ipnet::Ipv4Net)],
        wkp_strict: bool,
    ) -> Result<Self, AddrError> {
        let _ = (pool6, eams, wkp_strict);
        Ok(AddrMapper::default())
    }

    /// IPv6 → IPv4 (source or destination of an IPv6 packet).
    pub fn to_v4(&self, a: Ipv6Addr) -> Option<(Ipv4Addr, MappedBy)> {
        let _ = a;
        None
    }

    /// IPv4 → IPv6 (source or destination of an IPv4 packet).
    pub fn to_v6(&self, a: Ipv4Addr) -> Option<(Ipv6Addr, MappedBy)> {
        let _ = a;
        None
    }

    /// IPv4 → IPv6 by the RFC 6052 prefix only, ignoring EAM (RFC 7757 §4 hairpinning).
    pub fn to_v6_rfc6052(&self, a: Ipv4Addr) -> Option<Ipv6Addr> {
        let _ = a;
        None
    }

    /// Whether an IPv4 destination falls in an EAM's IPv4 prefix, i.e. belongs to the
    /// IPv6 side (RFC 7757 §4 hairpinning).
    pub fn is_eam_v4(&self, a: Ipv4Addr) -> bool {
        let _ = a;
        false
    }
}
