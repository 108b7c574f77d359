//! IP protocol numbers: the IPv4 Protocol field (RFC 791 §3.1) and the IPv6 Next Header
//! field (RFC 8200 §3), one registry for both (IANA "Assigned Internet Protocol
//! Numbers").
//!
//! A transparent newtype with associated constants rather than an enum: every one of
//! the 256 values is legal on the wire and the translator copies the unknown ones
//! through unchanged (RFC 7915 §4.1 "Next Header", §5.1 "Protocol"), so an enum would
//! need an `Unknown(u8)` variant and a conversion each way on every packet. The
//! constants are usable as `match` patterns, which compile to the same byte compares
//! as the literals they replace.

use core::fmt;

/// An IPv4 Protocol / IPv6 Next Header value.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(transparent)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    /// IPv6 Hop-by-Hop Options (RFC 8200 §4.3); IANA keyword HOPOPT.
    pub const HOP_BY_HOP: IpProtocol = IpProtocol(0);
    /// ICMP for IPv4 (RFC 792).
    pub const ICMP: IpProtocol = IpProtocol(1);
    /// IGMP (RFC 1112).
    pub const IGMP: IpProtocol = IpProtocol(2);
    /// TCP (RFC 9293).
    pub const TCP: IpProtocol = IpProtocol(6);
    /// UDP (RFC 768).
    pub const UDP: IpProtocol = IpProtocol(17);
    /// IPv6 Routing header (RFC 8200 §4.4); IANA keyword IPv6-Route.
    pub const ROUTING: IpProtocol = IpProtocol(43);
    /// IPv6 Fragment header (RFC 8200 §4.5); IANA keyword IPv6-Frag.
    pub const FRAGMENT: IpProtocol = IpProtocol(44);
    /// Encapsulating Security Payload (RFC 4303).
    pub const ESP: IpProtocol = IpProtocol(50);
    /// Authentication Header (RFC 4302).
    pub const AH: IpProtocol = IpProtocol(51);
    /// ICMP for IPv6 (RFC 4443); IANA keyword IPv6-ICMP.
    pub const ICMPV6: IpProtocol = IpProtocol(58);
    /// No Next Header (RFC 8200 §4.7); IANA keyword IPv6-NoNxt.
    pub const NO_NEXT: IpProtocol = IpProtocol(59);
    /// IPv6 Destination Options (RFC 8200 §4.6); IANA keyword IPv6-Opts.
    pub const DEST_OPTS: IpProtocol = IpProtocol(60);

    /// The IANA keyword, for the values named here.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Self::HOP_BY_HOP => "HOPOPT",
            Self::ICMP => "ICMP",
            Self::IGMP => "IGMP",
            Self::TCP => "TCP",
            Self::UDP => "UDP",
            Self::ROUTING => "IPv6-Route",
            Self::FRAGMENT => "IPv6-Frag",
            Self::ESP => "ESP",
            Self::AH => "AH",
            Self::ICMPV6 => "IPv6-ICMP",
            Self::NO_NEXT => "IPv6-NoNxt",
            Self::DEST_OPTS => "IPv6-Opts",
            _ => return None,
        })
    }
}

impl From<u8> for IpProtocol {
    #[inline(always)]
    fn from(v: u8) -> Self {
        IpProtocol(v)
    }
}

impl From<IpProtocol> for u8 {
    #[inline(always)]
    fn from(p: IpProtocol) -> Self {
        p.0
    }
}

impl fmt::Debug for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}({})", self.0),
            None => write!(f, "IpProtocol({})", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Values from the IANA "Assigned Internet Protocol Numbers" registry (and the RFCs
    // cited there: RFC 792, 1112, 9293, 768, 8200 §4, 4303, 4302, 4443).
    #[test]
    fn iana_protocol_numbers() {
        let golden: [(IpProtocol, u8, &str); 12] = [
            (IpProtocol::HOP_BY_HOP, 0, "HOPOPT"),
            (IpProtocol::ICMP, 1, "ICMP"),
            (IpProtocol::IGMP, 2, "IGMP"),
            (IpProtocol::TCP, 6, "TCP"),
            (IpProtocol::UDP, 17, "UDP"),
            (IpProtocol::ROUTING, 43, "IPv6-Route"),
            (IpProtocol::FRAGMENT, 44, "IPv6-Frag"),
            (IpProtocol::ESP, 50, "ESP"),
            (IpProtocol::AH, 51, "AH"),
            (IpProtocol::ICMPV6, 58, "IPv6-ICMP"),
            (IpProtocol::NO_NEXT, 59, "IPv6-NoNxt"),
            (IpProtocol::DEST_OPTS, 60, "IPv6-Opts"),
        ];
        for (p, v, name) in golden {
            assert_eq!(u8::from(p), v);
            assert_eq!(IpProtocol::from(v), p);
            assert_eq!(p.name(), Some(name));
        }
        assert_eq!(IpProtocol::from(132).name(), None);
        assert_eq!(format!("{:?}", IpProtocol::TCP), "TCP(6)");
        assert_eq!(format!("{:?}", IpProtocol(132)), "IpProtocol(132)");
        // The etherparse registry agrees.
        for (e, p) in [
            (
                etherparse::IpNumber::IPV6_HEADER_HOP_BY_HOP,
                IpProtocol::HOP_BY_HOP,
            ),
            (etherparse::IpNumber::IPV6_ROUTE_HEADER, IpProtocol::ROUTING),
            (
                etherparse::IpNumber::IPV6_FRAGMENTATION_HEADER,
                IpProtocol::FRAGMENT,
            ),
            (etherparse::IpNumber::IPV6_ICMP, IpProtocol::ICMPV6),
            (
                etherparse::IpNumber::IPV6_DESTINATION_OPTIONS,
                IpProtocol::DEST_OPTS,
            ),
        ] {
            assert_eq!(e.0, p.0);
        }
    }
}
