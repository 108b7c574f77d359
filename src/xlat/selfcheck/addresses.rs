//! The address rule every emitted packet obeys (issue 9): no IPv4 source or destination
//! in 0/8, 127/8, 224/4 or 240/4 (RFC 1812 §5.3.7, RFC 6890), no IPv6 one that is ::,
//! ::1, multicast or link-local (RFC 4291 §2.5.2, §2.5.3, §2.7, §2.5.6), and the same
//! for the packet an ICMP error quotes (RFC 7915 §4.3/§5.3 translate it with the outer
//! header's rules). Spelled out here with the standard library's predicates rather than
//! with `addr::validity`'s table, so that each checks the other.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::{icmpv4, icmpv6, ip::IpProtocol, ipv4, ipv6, ipv6ext};

/// Checks the addresses of `frame` (one emitted packet) and, if it is an ICMP error,
/// those of the header it quotes (when at least the fixed header was quoted).
pub fn check_addresses(frame: &[u8]) -> Result<(), String> {
    match frame.first().map(|b| b >> 4) {
        Some(4) => {
            check_v4_header(frame, "")?;
            match icmpv4_error_quote(frame) {
                Some(inner) => check_v4_header(inner, "quoted "),
                None => Ok(()),
            }
        }
        Some(6) => {
            check_v6_header(frame, "")?;
            match icmpv6_error_quote(frame) {
                Some(inner) => check_v6_header(inner, "quoted "),
                None => Ok(()),
            }
        }
        _ => Err("unknown version".into()),
    }
}

fn ipv4_never(a: Ipv4Addr) -> bool {
    a.octets()[0] == 0 || a.is_loopback() || a.is_multicast() || a.octets()[0] >= 240
}

fn ipv6_never(a: Ipv6Addr) -> bool {
    a.is_unspecified() || a.is_loopback() || a.is_multicast() || a.is_unicast_link_local()
}

fn check_v4_header(h: &[u8], what: &str) -> Result<(), String> {
    let (Some(s), Some(d)) = (h.get(12..16), h.get(16..20)) else {
        return Err(format!("{what}ipv4 header truncated"));
    };
    for (name, a) in [("source", s), ("destination", d)] {
        let a = Ipv4Addr::from(<[u8; 4]>::try_from(a).unwrap_or_default());
        if ipv4_never(a) {
            return Err(format!("{what}ipv4 {name} {a} must never be emitted"));
        }
    }
    Ok(())
}

fn check_v6_header(h: &[u8], what: &str) -> Result<(), String> {
    let (Some(s), Some(d)) = (h.get(8..24), h.get(24..40)) else {
        return Err(format!("{what}ipv6 header truncated"));
    };
    for (name, a) in [("source", s), ("destination", d)] {
        let a = Ipv6Addr::from(<[u8; 16]>::try_from(a).unwrap_or_default());
        if ipv6_never(a) {
            return Err(format!("{what}ipv6 {name} {a} must never be emitted"));
        }
    }
    Ok(())
}

/// The quoted IPv4 header of an unfragmented ICMPv4 error, if a whole one is there.
fn icmpv4_error_quote(frame: &[u8]) -> Option<&[u8]> {
    let hl = usize::from(frame.first()? & 0x0f) * 4;
    let frag_word = u16::from_be_bytes([*frame.get(6)?, *frame.get(7)?]);
    let non_first_or_more = frag_word & 0x3fff != 0;
    if IpProtocol(*frame.get(9)?) != IpProtocol::ICMP || non_first_or_more {
        return None;
    }
    let icmp = frame.get(hl..)?;
    if !icmpv4::Message::from(*icmp.first()?).is_error() {
        return None;
    }
    let inner = icmp.get(icmpv4::HEADER_LEN..)?;
    (inner.len() >= ipv4::HEADER_LEN && inner[0] >> 4 == 4).then_some(inner)
}

/// The quoted IPv6 header of an unfragmented ICMPv6 error, if a whole one is there.
fn icmpv6_error_quote(frame: &[u8]) -> Option<&[u8]> {
    let chain = ipv6ext::walk(frame).ok()?;
    if chain.upper_proto != IpProtocol::ICMPV6 || chain.is_fragment() {
        return None;
    }
    let icmp = frame.get(chain.upper_off..)?;
    if !icmpv6::Message::from(*icmp.first()?).is_error() {
        return None;
    }
    let inner = icmp.get(icmpv6::HEADER_LEN..)?;
    (inner.len() >= ipv6::HEADER_LEN && inner[0] >> 4 == 6).then_some(inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 20-byte IPv4 header (no checksum needed here) with `proto`, then `rest`.
    fn v4(src: [u8; 4], dst: [u8; 4], proto: u8, rest: &[u8]) -> Vec<u8> {
        let mut p = vec![0x45, 0, 0, 0, 0, 0, 0, 0, 64, proto, 0, 0];
        p.extend_from_slice(&src);
        p.extend_from_slice(&dst);
        p.extend_from_slice(rest);
        p
    }

    /// RFC 1812 §5.3.7 ranges in the outer header and in the quote of an ICMPv4 error
    /// (type 3), edges of each range.
    #[test]
    fn ipv4_outer_and_quoted_addresses() {
        let ok = [192, 0, 2, 1];
        assert!(check_addresses(&v4(ok, [198, 51, 100, 1], 17, &[])).is_ok());
        for bad in [
            [0, 0, 0, 0],
            [0, 255, 255, 255],
            [127, 0, 0, 1],
            [224, 0, 0, 0],
            [239, 255, 255, 255],
            [240, 0, 0, 0],
            [255, 255, 255, 255],
        ] {
            assert!(check_addresses(&v4(bad, ok, 17, &[])).is_err(), "{bad:?}");
            assert!(check_addresses(&v4(ok, bad, 17, &[])).is_err(), "{bad:?}");
            let quote = v4(ok, bad, 17, &[]);
            let mut icmp = vec![3, 1, 0, 0, 0, 0, 0, 0];
            icmp.extend_from_slice(&quote);
            assert!(check_addresses(&v4(ok, ok, 1, &icmp)).is_err(), "{bad:?}");
            // Not an error (echo request): the payload is no quote.
            icmp[0] = 8;
            assert!(check_addresses(&v4(ok, ok, 1, &icmp)).is_ok(), "{bad:?}");
        }
    }

    /// RFC 4291 ranges in the outer header and in the quote of an ICMPv6 error (type 1).
    #[test]
    fn ipv6_outer_and_quoted_addresses() {
        let hdr = |src: Ipv6Addr, dst: Ipv6Addr, next: u8, rest: &[u8]| {
            let mut p = vec![0x60, 0, 0, 0];
            p.extend_from_slice(&(rest.len() as u16).to_be_bytes());
            p.extend_from_slice(&[next, 64]);
            p.extend_from_slice(&src.octets());
            p.extend_from_slice(&dst.octets());
            p.extend_from_slice(rest);
            p
        };
        let ok: Ipv6Addr = "2001:db8::1".parse().unwrap();
        assert!(check_addresses(&hdr(ok, ok, 17, &[])).is_ok());
        for bad in ["::", "::1", "ff02::1", "fe80::1", "febf::1"] {
            let bad: Ipv6Addr = bad.parse().unwrap();
            assert!(check_addresses(&hdr(bad, ok, 17, &[])).is_err(), "{bad}");
            assert!(check_addresses(&hdr(ok, bad, 17, &[])).is_err(), "{bad}");
            let mut icmp = vec![1, 0, 0, 0, 0, 0, 0, 0];
            icmp.extend_from_slice(&hdr(bad, ok, 17, &[]));
            assert!(check_addresses(&hdr(ok, ok, 58, &icmp)).is_err(), "{bad}");
            icmp[0] = 128;
            assert!(check_addresses(&hdr(ok, ok, 58, &icmp)).is_ok(), "{bad}");
        }
    }
}
