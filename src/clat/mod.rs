//! The customer side of 464XLAT (RFC 6877), sans-IO: the CLAT's address mapping and
//! how it learns the PLAT's prefix.
//!
//! A CLAT is a SIIT translator (RFC 7915) with one mapping on each side, so it runs the
//! SIIT core unchanged ([`crate::xlat::Translator`]) with its own [`AddrMapper`]:
//! - the host's IPv4 address (RFC 7335: 192.0.0.1 of 192.0.0.0/29) ↔ the CLAT's own
//!   IPv6 address (RFC 6877 §6.3), an EAM-like 1:1 mapping ([`ClatMapping`]); in CPE
//!   mode a whole private LAN prefix ↔ a dedicated IPv6 prefix with as many host bits;
//! - every other IPv4 address ↔ the PLAT prefix (PREF64) by RFC 6052.
//!
//! The PLAT prefix comes from the operator, from the PREF64 option of Router
//! Advertisements ([`pref64`], RFC 8781; from the RA itself or from the kernel's copy of
//! its options, [`useropt`]) or from DNS64 ([`rfc7050`]); [`plat`] keeps what
//! each source said, with its lifetime, and says which prefix is in force. The control
//! plane's thread (`control::clat`) feeds it packets and the clock and, on a change,
//! replaces the workers' translator through `dataplane::Live`: no restart, counters kept.
//!
//! NAT44: the 1:1 mapping gives every IPv4 address on the host side its own IPv6 address,
//! so none is needed when the IPv6 side is wide enough (a host: one address; a CPE: a
//! delegated /120 or wider for a /24). Where it is not (a CPE given a single IPv6
//! address), the LAN must first be NATed to one address (the kernel's `MASQUERADE` to
//! 192.0.0.1 in front of the TUN); xlat64 does not implement NAT44 itself.

pub mod plat;
pub mod pref64;
pub mod rfc7050;
pub mod useropt;

use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::{Ipv4Net, Ipv6Net};

use crate::addr::{AddrError, AddrMapper};

/// The host's IPv4 address (RFC 7335 §4: 192.0.0.1 is the usual one).
pub const HOST_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 0, 1);
/// The translator's own IPv4 address, source of the ICMPv4 errors it generates.
pub const XLAT_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 0, 2);
/// The interface identifier of a CLAT address derived from the uplink's /64 ("c1a7",
/// easy to recognise in captures; `clat-ipv6` sets any other).
pub const DERIVED_IID: u64 = 0xc1a7;

/// RFC 7335 §4: the IPv4 Service Continuity Prefix 192.0.0.0/29.
pub fn rfc7335() -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::new(192, 0, 0, 0), 29).unwrap_or_default()
}

/// The CLAT's 1:1 mapping: the host side's IPv4 address (or LAN prefix) and the
/// dedicated IPv6 address (or prefix) it is translated to, with equal host bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClatMapping {
    pub v4: Ipv4Net,
    pub v6: Ipv6Net,
}

impl ClatMapping {
    /// The IPv4 addresses that are on the host side and so never behind the PLAT: the
    /// whole RFC 7335 /29 when the host's address is in it (192.0.0.7 is its broadcast,
    /// the others are this CLAT's), else the mapped prefix itself.
    pub fn local_v4(&self) -> Ipv4Net {
        let svc = rfc7335();
        if svc.contains(&self.v4) { svc } else { self.v4 }
    }

    /// The translator's address mapping with `plat` as the RFC 6052 prefix: none yet
    /// translates nothing but the CLAT's own address, so a packet to the IPv4 Internet
    /// is dropped (`ipv4_destination_unmapped`) rather than sent to a guessed prefix.
    pub fn mapper(&self, plat: Option<Ipv6Net>, wkp_strict: bool) -> Result<AddrMapper, AddrError> {
        Ok(AddrMapper::new(plat, &[(self.v6, self.v4)], wkp_strict)?
            .with_local_v4(self.local_v4())
            .with_eams_on_v4_side())
    }

    /// The CLAT's own IPv6 address (the first of its prefix in CPE mode): the source of
    /// the ICMPv6 errors it generates.
    pub fn own_v6(&self) -> Ipv6Addr {
        self.v6.network()
    }
}

/// RFC 6877 §6.3: a dedicated address, not the host's own: the uplink's /64 with the
/// interface identifier [`DERIVED_IID`].
pub fn derived_address(uplink64: Ipv6Net) -> Ipv6Addr {
    let net = u128::from(uplink64.trunc().network()) & !u128::from(u64::MAX);
    Ipv6Addr::from(net | u128::from(DERIVED_IID))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::addr::MappedBy;

    fn host_mapping() -> ClatMapping {
        ClatMapping {
            v4: "192.0.0.1/32".parse().unwrap(),
            v6: "2001:db8:a:1::c1a7/128".parse().unwrap(),
        }
    }

    /// RFC 6877 §6.3 / RFC 7335: the host's 192.0.0.1 ↔ the CLAT's IPv6 address, every
    /// other IPv4 address by RFC 6052 into the PLAT prefix (here RFC 6052 §2.4's /96
    /// example, 192.0.2.33 ↔ 2001:db8:122:344::192.0.2.33).
    #[test]
    fn rfc6877_6_3_host_address_one_to_one_and_the_rest_through_the_plat() {
        let m = host_mapping()
            .mapper(Some("2001:db8:122:344::/96".parse().unwrap()), true)
            .unwrap();
        assert_eq!(
            m.to_v6(HOST_V4),
            Some(("2001:db8:a:1::c1a7".parse().unwrap(), MappedBy::Eam))
        );
        assert_eq!(
            m.to_v6("192.0.2.33".parse().unwrap()),
            Some((
                "2001:db8:122:344::192.0.2.33".parse().unwrap(),
                MappedBy::Rfc6052
            ))
        );
        assert_eq!(
            m.to_v4("2001:db8:122:344::192.0.2.33".parse().unwrap()),
            Some(("192.0.2.33".parse().unwrap(), MappedBy::Rfc6052))
        );
        assert_eq!(
            m.to_v4("2001:db8:a:1::c1a7".parse().unwrap()),
            Some((HOST_V4, MappedBy::Eam))
        );
    }

    /// RFC 7335 §4: 192.0.0.0/29 is the CLAT's own: its broadcast (192.0.0.7) and the
    /// other addresses neither go to nor come from the PLAT.
    #[test]
    fn rfc7335_4_the_service_prefix_never_crosses_the_plat() {
        let m = host_mapping()
            .mapper(Some("2001:db8:64::/96".parse().unwrap()), false)
            .unwrap();
        for a in ["192.0.0.7", "192.0.0.2", "192.0.0.0"] {
            assert_eq!(m.to_v6(a.parse().unwrap()), None, "{a}");
            let v6: Ipv6Addr = format!("2001:db8:64::{a}").parse().unwrap();
            assert_eq!(m.to_v4(v6), None, "{a}");
        }
        // Just outside the /29: an ordinary IPv4 destination.
        assert!(m.to_v6("192.0.0.8".parse().unwrap()).is_some());
    }

    /// No PLAT prefix yet: the CLAT never guesses one.
    #[test]
    fn without_a_plat_prefix_nothing_but_the_host_maps() {
        let m = host_mapping().mapper(None, true).unwrap();
        assert_eq!(m.to_v6("198.51.100.1".parse().unwrap()), None);
        assert!(m.to_v6(HOST_V4).is_some());
    }

    /// CPE mode: a /24 LAN onto a /120, host bits kept (RFC 7757 §3.2's EAM rule).
    #[test]
    fn cpe_mode_maps_the_lan_prefix_one_to_one() {
        let cpe = ClatMapping {
            v4: "192.168.1.0/24".parse().unwrap(),
            v6: "2001:db8:aa:1::/120".parse().unwrap(),
        };
        assert_eq!(cpe.local_v4(), cpe.v4);
        let m = cpe
            .mapper(Some("2001:db8:64::/96".parse().unwrap()), true)
            .unwrap();
        assert_eq!(
            m.to_v6("192.168.1.20".parse().unwrap()),
            Some(("2001:db8:aa:1::14".parse().unwrap(), MappedBy::Eam))
        );
        assert_eq!(cpe.own_v6(), "2001:db8:aa:1::".parse::<Ipv6Addr>().unwrap());
    }

    #[test]
    fn derived_address_is_the_uplink_64_with_the_clat_iid() {
        let a = derived_address("2001:db8:a:1::5/64".parse().unwrap());
        assert_eq!(a, "2001:db8:a:1::c1a7".parse::<Ipv6Addr>().unwrap());
    }
}
