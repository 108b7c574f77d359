//! RFC 7050: the PLAT prefix from DNS64, by asking for the AAAA records of
//! `ipv4only.arpa` (whose only A records are the well-known addresses 192.0.0.170 and
//! 192.0.0.171) and finding those addresses inside the synthesised answers.
//!
//! The DNS messages are built and read here (RFC 1035 §4.1), not by a resolver library:
//! RFC 7050 needs the records' TTL for re-discovery, which `getaddrinfo` hides, and the
//! query is one question with a fixed name.
//!
//! RFC 7050 §3: each answer is searched at the six RFC 6052 positions (prefix lengths
//! /32 to /96); the secondary address 192.0.0.171 is there to settle an address in which
//! the primary shows up at more than one position. Here a prefix counts only if every
//! answer that holds a well-known address holds one at that position; if several
//! positions still fit, the longest prefix is taken (it needs the least of the address
//! to be coincidence). An answer without either address is ignored, never used.

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use ipnet::Ipv6Net;

use crate::addr::Prefix6052;

/// RFC 7050 §2.2's well-known IPv4-only name.
pub const NAME: &str = "ipv4only.arpa";
/// RFC 7050 §2.1: the primary and secondary well-known IPv4 addresses.
pub const WKA: [Ipv4Addr; 2] = [Ipv4Addr::new(192, 0, 0, 170), Ipv4Addr::new(192, 0, 0, 171)];
const LENGTHS: [u8; 6] = [96, 64, 56, 48, 40, 32];
const TYPE_AAAA: u16 = 28;
const CLASS_IN: u16 = 1;

/// The query: id, RD set, one question `ipv4only.arpa. IN AAAA`.
pub fn query(id: u16) -> Vec<u8> {
    let mut q = Vec::with_capacity(31);
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in NAME.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&TYPE_AAAA.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    q
}

/// Why a response gave no prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsError {
    /// Malformed, truncated, or not the answer to our query.
    Malformed(&'static str),
    /// The server answered with this RCODE (3: no such name, i.e. no DNS64).
    Rcode(u8),
    /// AAAA records, but none with a well-known address (RFC 7050 §3: not used).
    NoWellKnownAddress(Vec<Ipv6Addr>),
    /// No AAAA record: the resolver does no DNS64.
    NoAnswer,
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::Malformed(why) => write!(f, "malformed DNS response ({why})"),
            DnsError::Rcode(3) => f.write_str("ipv4only.arpa AAAA: no such name (no DNS64)"),
            DnsError::Rcode(r) => write!(f, "ipv4only.arpa AAAA: DNS error code {r}"),
            DnsError::NoWellKnownAddress(a) => write!(
                f,
                "ipv4only.arpa AAAA answer {a:?} contains neither 192.0.0.170 nor 192.0.0.171 \
                 at any RFC 6052 position (RFC 7050 §3): ignored"
            ),
            DnsError::NoAnswer => f.write_str("ipv4only.arpa has no AAAA record (no DNS64)"),
        }
    }
}

/// The PLAT prefix and how long it may be used (the smallest TTL of the records that
/// gave it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Discovered {
    pub prefix: Ipv6Net,
    pub ttl_s: u32,
}

/// Reads the response to [`query`]`(id)` and derives the prefix.
pub fn parse_response(id: u16, msg: &[u8]) -> Result<Discovered, DnsError> {
    let records = aaaa_records(id, msg)?;
    prefix_from(&records)
}

/// The AAAA records (address, TTL) of the answer section.
fn aaaa_records(id: u16, msg: &[u8]) -> Result<Vec<(Ipv6Addr, u32)>, DnsError> {
    let m = DnsError::Malformed;
    if msg.len() < 12 {
        return Err(m("shorter than a header"));
    }
    if u16::from_be_bytes([msg[0], msg[1]]) != id || msg[2] & 0x80 == 0 {
        return Err(m("not the response to our query"));
    }
    if msg[2] & 0x02 != 0 {
        return Err(m("truncated (TC)"));
    }
    let rcode = msg[3] & 0x0f;
    if rcode != 0 {
        return Err(DnsError::Rcode(rcode));
    }
    let qd = u16::from_be_bytes([msg[4], msg[5]]);
    let an = u16::from_be_bytes([msg[6], msg[7]]);
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(msg, at).ok_or(m("question"))? + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        at = skip_name(msg, at).ok_or(m("answer name"))?;
        let fixed = msg.get(at..at + 10).ok_or(m("answer"))?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let class = u16::from_be_bytes([fixed[2], fixed[3]]);
        let ttl = u32::from_be_bytes([fixed[4], fixed[5], fixed[6], fixed[7]]);
        let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let rdata = msg.get(at + 10..at + 10 + rdlen).ok_or(m("record data"))?;
        if rtype == TYPE_AAAA && class == CLASS_IN {
            let bytes: [u8; 16] = rdata.try_into().map_err(|_| m("AAAA length"))?;
            out.push((Ipv6Addr::from(bytes), ttl));
        }
        at += 10 + rdlen;
    }
    if out.is_empty() {
        return Err(DnsError::NoAnswer);
    }
    Ok(out)
}

/// Past a (possibly compressed) name starting at `at`.
fn skip_name(msg: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let len = *msg.get(at)?;
        match len {
            0 => return Some(at + 1),
            l if l & 0xc0 == 0xc0 => return (at + 2 <= msg.len()).then_some(at + 2),
            l if l & 0xc0 == 0 => at += 1 + usize::from(l),
            _ => return None,
        }
    }
}

/// The lengths at which `a` holds a well-known address (RFC 6052 §2.2 layout with the u
/// octet zero).
fn positions(a: Ipv6Addr) -> Vec<Ipv6Net> {
    LENGTHS
        .iter()
        .filter_map(|&len| {
            let net = Ipv6Net::new(a, len).ok()?.trunc();
            let p = Prefix6052::new(net).ok()?;
            let v4 = Ipv4Addr::from(p.extract_bits(u128::from(a)));
            // The u octet must be zero, and the suffix is zero in a synthesised answer.
            let exact = p.embed_bits(u32::from(v4)) == u128::from(a);
            (WKA.contains(&v4) && exact).then_some(net)
        })
        .collect()
}

/// RFC 7050 §3 over the answer's records: see the module documentation.
pub fn prefix_from(records: &[(Ipv6Addr, u32)]) -> Result<Discovered, DnsError> {
    let mut fits: Option<Vec<Ipv6Net>> = None;
    let mut ttl = u32::MAX;
    for &(a, t) in records {
        let here = positions(a);
        if here.is_empty() {
            continue;
        }
        ttl = ttl.min(t);
        fits = Some(match fits {
            None => here,
            Some(f) => f.into_iter().filter(|n| here.contains(n)).collect(),
        });
    }
    // LENGTHS is longest first, and filtering keeps the order.
    match fits.as_deref() {
        Some([first, ..]) => Ok(Discovered {
            prefix: *first,
            ttl_s: ttl,
        }),
        _ => Err(DnsError::NoWellKnownAddress(
            records.iter().map(|r| r.0).collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv6Addr {
        s.parse().unwrap()
    }

    /// A response to `query(id)` with these AAAA records, each name a pointer to the
    /// question's (RFC 1035 §4.1.4).
    fn response(id: u16, records: &[(&str, u32)]) -> Vec<u8> {
        let mut m = query(id);
        m[2] = 0x81;
        m[3] = 0x80;
        m[7] = records.len() as u8;
        for (addr, ttl) in records {
            m.extend_from_slice(&[0xc0, 12, 0, 28, 0, 1]);
            m.extend_from_slice(&ttl.to_be_bytes());
            m.extend_from_slice(&[0, 16]);
            m.extend_from_slice(&a(addr).octets());
        }
        m
    }

    /// RFC 1035 §4.1: header (RD), then QNAME as labels, QTYPE 28, QCLASS 1.
    #[test]
    fn rfc1035_4_1_query_bytes() {
        let q = query(0x1234);
        let mut want = vec![0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0];
        want.extend_from_slice(b"\x08ipv4only\x04arpa\x00\x00\x1c\x00\x01");
        assert_eq!(q, want);
    }

    /// RFC 7050 §3 with RFC 6052 §2.4's example prefixes: the well-known address is found
    /// at every length, and the prefix and the smallest TTL come out.
    #[test]
    fn rfc7050_3_all_rfc6052_lengths() {
        for prefix in [
            "2001:db8::/32",
            "2001:db8:100::/40",
            "2001:db8:122::/48",
            "2001:db8:122:300::/56",
            "2001:db8:122:344::/64",
            "2001:db8:122:344::/96",
            "64:ff9b::/96",
        ] {
            let net: Ipv6Net = prefix.parse().unwrap();
            let p = Prefix6052::new(net).unwrap();
            let emb = |v4: Ipv4Addr| Ipv6Addr::from(p.embed_bits(u32::from(v4))).to_string();
            let (x, y) = (emb(WKA[0]), emb(WKA[1]));
            let got = parse_response(7, &response(7, &[(&x, 600), (&y, 300)])).unwrap();
            assert_eq!(
                got,
                Discovered {
                    prefix: net,
                    ttl_s: 300
                },
                "{prefix}"
            );
        }
    }

    /// RFC 7050 §3: an answer without the well-known addresses is not used.
    #[test]
    fn rfc7050_3_answer_without_well_known_address_is_refused() {
        let e = parse_response(1, &response(1, &[("2001:db8:64::c000:201", 60)])).unwrap_err();
        assert!(matches!(e, DnsError::NoWellKnownAddress(_)), "{e:?}");
        assert!(e.to_string().contains("192.0.0.170"));
        // Bits 64-71 set: not an RFC 6052 address at /64 or shorter.
        let e = prefix_from(&[(a("2001:db8:1:2:1c0:0:aa00:0"), 60)]).unwrap_err();
        assert!(matches!(e, DnsError::NoWellKnownAddress(_)), "{e:?}");
    }

    /// The secondary address settles an ambiguous primary: 2001:db8:c000:aa:: holds
    /// 192.0.0.170 at /32 only, 2001:db8:c000:ab:: the secondary at /32 only.
    #[test]
    fn rfc7050_3_secondary_confirms_position() {
        let got =
            prefix_from(&[(a("2001:db8:c000:aa::"), 60), (a("2001:db8:c000:ab::"), 60)]).unwrap();
        assert_eq!(got.prefix, "2001:db8::/32".parse::<Ipv6Net>().unwrap());
    }

    #[test]
    fn errors_name_what_was_wrong() {
        let mut r = response(9, &[("64:ff9b::c000:aa", 60)]);
        assert_eq!(
            parse_response(8, &r),
            Err(DnsError::Malformed("not the response to our query"))
        );
        r[3] = 0x83;
        assert_eq!(parse_response(9, &r), Err(DnsError::Rcode(3)));
        assert_eq!(
            parse_response(2, &response(2, &[])),
            Err(DnsError::NoAnswer)
        );
        let r = response(3, &[("64:ff9b::c000:aa", 60)]);
        assert!(matches!(
            parse_response(3, &r[..r.len() - 1]),
            Err(DnsError::Malformed(_))
        ));
    }

    proptest::proptest! {
        /// Whatever a resolver answers: no panic, and a prefix only from an answer that
        /// holds a well-known address.
        #[test]
        fn any_response_parses_without_panic(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let mut m = query(5);
            m[2] = 0x81;
            m[7] = 2;
            m.extend_from_slice(&tail);
            if let Ok(d) = parse_response(5, &m) {
                proptest::prop_assert!(Prefix6052::new(d.prefix).is_ok());
            }
        }
    }
}
