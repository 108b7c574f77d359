//! Address mapping between IPv6 and IPv4: RFC 6052 IPv4-embedded IPv6 addresses, RFC 7757
//! explicit address mappings (EAM), the RFC 6791 pool, and address validity rules.

pub mod eam;
pub mod pool6791;
pub mod rfc6052;
pub mod validity;

use std::net::{Ipv4Addr, Ipv6Addr};

pub use eam::{Eam, EamTable};
pub use pool6791::Pool6791;
pub use rfc6052::Prefix6052;

/// Maps addresses in both directions: EAM first (longest prefix match), then the RFC
/// 6052 prefix.
///
/// # Hairpinning (RFC 7757 §4) — how the translator must use this
///
/// EAM makes some IPv4 addresses stand for IPv6 nodes. When IPv6 node A (EAM A6↔A4)
/// talks to IPv6 node B (EAM B6↔B4) through B's IPv4 address, it sends to
/// `pool6(B4)`. The IPv6→IPv4 translation yields `A4 → B4`, and B4 belongs to the IPv6
/// side, so the packet must come straight back through the translator. Translated
/// back with plain [`to_v6`](Self::to_v6) it would become `A6 → B6`: B would answer A6
/// natively from B6, and A, which is talking to `pool6(B4)`, would drop the answer. The
/// source must therefore come back as `pool6(A4)`: **a hairpinned packet's IPv4 source
/// is translated with RFC 6052 only, its destination with EAM as usual.**
///
/// The translator must do, for every packet it translates:
///
/// 1. IPv6→IPv4 (intrinsic hairpinning, RFC 7757 §4.2.2): map `src4`, `dst4` with
///    [`to_v4`](Self::to_v4). If [`is_eam_v4(dst4)`](Self::is_eam_v4), do not emit
///    IPv4: translate the IPv4 header straight back to IPv6 with
///    `src6 = to_v6_rfc6052(src4)`, `dst6 = to_v6(dst4)` (both are what
///    [`to_v6_hairpin`](Self::to_v6_hairpin) returns) and emit that IPv6 packet. If
///    either is `None` (no pool6, or the WKP rule refuses), drop the packet as
///    untranslatable. Checksums follow from the final IPv6 addresses versus the
///    original ones.
/// 2. IPv4→IPv6 (simple hairpinning, RFC 7757 §4.2.1, for a hairpinned packet the
///    kernel routed back to us, e.g. with another translator in the path): if
///    [`is_eam_v4(dst4)`](Self::is_eam_v4) **and** `is_eam_v4(src4)`, use
///    [`to_v6_hairpin`](Self::to_v6_hairpin) (source by RFC 6052); otherwise
///    [`to_v6`](Self::to_v6) for both. (An IPv4 packet from the real IPv4 side never
///    has an EAM source, so this only changes hairpinned traffic.)
/// 3. ICMP errors: the inner packet travelled the other way, so apply the mirror rule
///    to it: if the outer packet is hairpinned, the inner *destination* is the one
///    translated with RFC 6052 (inner `src6 = to_v6(src4)`, inner
///    `dst6 = to_v6_rfc6052(dst4)`), so the inner header matches what the original
///    sender put on the wire.
#[derive(Debug, Clone, Default)]
pub struct AddrMapper {
    pool6: Option<Prefix6052>,
    eamt: EamTable,
    wkp_strict: bool,
    /// The EAMs name IPv4-side hosts (a CLAT's 192.0.0.1 ↔ its IPv6 address), not
    /// IPv6-side ones: an IPv6 packet to an EAM address is then the reply to that host,
    /// to translate to IPv4, never one to hairpin (RFC 7757 §4 assumes the opposite).
    eams_on_v4_side: bool,
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
        let pool6 = match pool6 {
            Some(net) => Some(Prefix6052::new(net)?.with_wkp_strict(wkp_strict)),
            None => None,
        };
        Ok(AddrMapper {
            pool6,
            eamt: EamTable::new(eams)?,
            wkp_strict,
            eams_on_v4_side: false,
        })
    }

    /// The same mapper with `local` refused by the RFC 6052 prefix both ways
    /// ([`Prefix6052::with_local_v4`]); EAMs still map it (the CLAT's own address).
    pub fn with_local_v4(mut self, local: ipnet::Ipv4Net) -> Self {
        self.pool6 = self.pool6.map(|p| p.with_local_v4(local));
        self
    }

    /// The same mapper with its EAMs naming IPv4-side hosts: no RFC 7757 §4 hairpinning.
    pub fn with_eams_on_v4_side(mut self) -> Self {
        self.eams_on_v4_side = true;
        self
    }

    /// Whether an IPv6 packet to an EAM address is hairpinned (RFC 7757 §4): only when
    /// the EAMs name IPv6-side nodes, as in SIIT.
    #[inline]
    pub fn hairpins(&self) -> bool {
        !self.eams_on_v4_side
    }

    /// IPv6 → IPv4 (source or destination of an IPv6 packet).
    #[inline]
    pub fn to_v4(&self, a: Ipv6Addr) -> Option<(Ipv4Addr, MappedBy)> {
        if let Some(v4) = self.eamt.to_v4(a) {
            return Some((v4, MappedBy::Eam));
        }
        let v4 = self.pool6.as_ref()?.extract(a)?;
        Some((v4, MappedBy::Rfc6052))
    }

    /// IPv4 → IPv6 (source or destination of an IPv4 packet).
    #[inline]
    pub fn to_v6(&self, a: Ipv4Addr) -> Option<(Ipv6Addr, MappedBy)> {
        if let Some(v6) = self.eamt.to_v6(a) {
            return Some((v6, MappedBy::Eam));
        }
        self.to_v6_rfc6052(a).map(|v6| (v6, MappedBy::Rfc6052))
    }

    /// IPv4 → IPv6 by the RFC 6052 prefix only, ignoring EAM (RFC 7757 §4 hairpinning).
    #[inline]
    pub fn to_v6_rfc6052(&self, a: Ipv4Addr) -> Option<Ipv6Addr> {
        self.pool6.as_ref()?.embed(a)
    }

    /// Whether an IPv4 destination falls in an EAM's IPv4 prefix, i.e. belongs to the
    /// IPv6 side (RFC 7757 §4 hairpinning).
    #[inline]
    pub fn is_eam_v4(&self, a: Ipv4Addr) -> bool {
        self.eamt.contains_v4(a)
    }

    /// Addresses of a hairpinned packet (RFC 7757 §4) coming back to IPv6: source by RFC
    /// 6052 only, destination by the usual EAM-first rule. `None` if either fails.
    #[inline]
    pub fn to_v6_hairpin(&self, src: Ipv4Addr, dst: Ipv4Addr) -> Option<(Ipv6Addr, Ipv6Addr)> {
        let src6 = self.to_v6_rfc6052(src)?;
        let (dst6, _) = self.to_v6(dst)?;
        Some((src6, dst6))
    }

    /// The RFC 6052 prefix, if configured.
    pub fn pool6(&self) -> Option<&Prefix6052> {
        self.pool6.as_ref()
    }

    /// The EAM table.
    pub fn eamt(&self) -> &EamTable {
        &self.eamt
    }

    /// Whether RFC 6052 §3.1 is enforced for the well-known prefix.
    pub fn wkp_strict(&self) -> bool {
        self.wkp_strict
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn v6(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    fn mapper(pool6: Option<&str>, eams: &[(&str, &str)], strict: bool) -> AddrMapper {
        let eams: Vec<_> = eams
            .iter()
            .map(|(a, b)| (a.parse().unwrap(), b.parse().unwrap()))
            .collect();
        AddrMapper::new(pool6.map(|p| p.parse().unwrap()), &eams, strict).unwrap()
    }

    /// RFC 7757 §3.2/§3.3: the EAMT is consulted before the RFC 6052 algorithm.
    #[test]
    fn rfc7757_3_eam_before_rfc6052() {
        let m = mapper(
            Some("2001:db8:64::/96"),
            &[("2001:db8:aaaa::/120", "192.0.2.0/24")],
            false,
        );
        assert_eq!(
            m.to_v6(v4("192.0.2.5")),
            Some((v6("2001:db8:aaaa::5"), MappedBy::Eam))
        );
        assert_eq!(
            m.to_v6(v4("198.51.100.5")),
            Some((v6("2001:db8:64::198.51.100.5"), MappedBy::Rfc6052))
        );
        assert_eq!(
            m.to_v4(v6("2001:db8:aaaa::5")),
            Some((v4("192.0.2.5"), MappedBy::Eam))
        );
        assert_eq!(
            m.to_v4(v6("2001:db8:64::198.51.100.5")),
            Some((v4("198.51.100.5"), MappedBy::Rfc6052))
        );
        assert_eq!(m.to_v4(v6("2001:db8:ffff::1")), None);
        assert_eq!(
            m.to_v6_rfc6052(v4("192.0.2.5")),
            Some(v6("2001:db8:64::192.0.2.5"))
        );
        assert!(m.is_eam_v4(v4("192.0.2.5")));
        assert!(!m.is_eam_v4(v4("198.51.100.5")));
    }

    /// RFC 7757 §4: A (EAM 2001:db8:a::5 ↔ 192.0.2.5) sends to B's IPv4 address
    /// through pool6; B has EAM 2001:db8:b::7 ↔ 198.51.100.7.
    #[test]
    fn rfc7757_4_hairpin_walkthrough() {
        let m = mapper(
            Some("2001:db8:64::/96"),
            &[
                ("2001:db8:a::/120", "192.0.2.0/24"),
                ("2001:db8:b::/120", "198.51.100.0/24"),
            ],
            false,
        );
        // IPv6 → IPv4.
        let (src4, by) = m.to_v4(v6("2001:db8:a::5")).unwrap();
        assert_eq!((src4, by), (v4("192.0.2.5"), MappedBy::Eam));
        let (dst4, by) = m.to_v4(v6("2001:db8:64::198.51.100.7")).unwrap();
        assert_eq!((dst4, by), (v4("198.51.100.7"), MappedBy::Rfc6052));
        // The destination belongs to the IPv6 side: hairpin.
        assert!(m.is_eam_v4(dst4));
        let (src6, dst6) = m.to_v6_hairpin(src4, dst4).unwrap();
        // B sees A at pool6(A4), so B's reply goes back through the translator, and
        // the reply's source (B6 → B4 by EAM → pool6(B4)) is what A sent to.
        assert_eq!(src6, v6("2001:db8:64::192.0.2.5"));
        assert_eq!(dst6, v6("2001:db8:b::7"));
        let (r_src4, _) = m.to_v4(dst6).unwrap();
        let (r_dst4, _) = m.to_v4(src6).unwrap();
        assert!(m.is_eam_v4(r_dst4));
        let (r_src6, r_dst6) = m.to_v6_hairpin(r_src4, r_dst4).unwrap();
        assert_eq!(r_src6, v6("2001:db8:64::198.51.100.7"));
        assert_eq!(r_dst6, v6("2001:db8:a::5"));
    }

    #[test]
    fn hairpin_needs_pool6() {
        let m = mapper(None, &[("2001:db8:a::/120", "192.0.2.0/24")], false);
        assert_eq!(m.to_v6_hairpin(v4("192.0.2.5"), v4("192.0.2.6")), None);
    }

    #[test]
    fn no_pool6_only_eam() {
        let m = mapper(None, &[("2001:db8:aaaa::/120", "192.0.2.0/24")], false);
        assert_eq!(m.to_v6(v4("198.51.100.5")), None);
        assert_eq!(m.to_v6_rfc6052(v4("192.0.2.5")), None);
        assert_eq!(m.to_v4(v6("64:ff9b::198.51.100.5")), None);
    }

    /// RFC 6052 §3.1 through the mapper: strict WKP refuses documentation (non-global)
    /// addresses, but EAM still maps them.
    #[test]
    fn rfc6052_3_1_wkp_strict_in_mapper() {
        let m = mapper(
            Some("64:ff9b::/96"),
            &[("2001:db8:aaaa::/120", "192.0.2.0/24")],
            true,
        );
        assert_eq!(m.to_v6(v4("198.51.100.5")), None);
        assert_eq!(m.to_v4(v6("64:ff9b::198.51.100.5")), None);
        assert_eq!(
            m.to_v6(v4("192.0.2.5")),
            Some((v6("2001:db8:aaaa::5"), MappedBy::Eam))
        );
        let lax = mapper(Some("64:ff9b::/96"), &[], false);
        assert_eq!(
            lax.to_v6(v4("198.51.100.5")),
            Some((v6("64:ff9b::198.51.100.5"), MappedBy::Rfc6052))
        );
    }

    #[test]
    fn bad_config_errors_propagate() {
        let e = AddrMapper::new(Some("2001:db8::/33".parse().unwrap()), &[], false).unwrap_err();
        assert!(e.to_string().contains("e.g. 64:ff9b::/96"));
        let e = AddrMapper::new(
            None,
            &[(
                "2001:db8::/64".parse().unwrap(),
                "192.0.2.0/24".parse().unwrap(),
            )],
            false,
        )
        .unwrap_err();
        assert!(e.to_string().contains("IPV6/LEN=IPV4/LEN"));
    }
}
