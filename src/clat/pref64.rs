//! RFC 8781: the PREF64 option of Router Advertisements, read and written.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |    Length     |     Scaled Lifetime     | PLC |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |              Highest 96 bits of the Prefix (12 bytes)         |
//! ```
//!
//! Type 38, Length 2 (16 bytes); the lifetime in units of 8 seconds (13 bits); the
//! Prefix Length Code 0..=5 for /96, /64, /56, /48, /40, /32 (RFC 8781 §4). Whatever the
//! option cannot be used for is reported, never guessed around: a Length other than 2
//! (§4: the receiver MUST ignore it), PLC 6 or 7 (undefined), a prefix with bits 64–71
//! set (RFC 6052 §2.2 reserves them).

use std::fmt;
use std::net::Ipv6Addr;

use ipnet::Ipv6Net;

/// ICMPv6 Router Advertisement (RFC 4861 §4.2).
pub const ROUTER_ADVERTISEMENT: u8 = 134;
/// RFC 8781 §4's option type.
pub const OPTION_TYPE: u8 = 38;
/// The RA's fixed part before its options: type, code, checksum, hop limit, flags,
/// router lifetime, reachable time, retransmission timer.
const RA_FIXED: usize = 16;
/// PLC code → prefix length (RFC 8781 §4).
const PLC_LENGTHS: [u8; 6] = [96, 64, 56, 48, 40, 32];

/// One usable PREF64 option.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pref64 {
    pub prefix: Ipv6Net,
    /// Seconds; 0 withdraws the prefix (RFC 8781 §4).
    pub lifetime_s: u32,
}

/// Why a PREF64 option was ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pref64Error {
    /// RFC 8781 §4: the receiver MUST ignore an option whose Length is not 2.
    Length(u8),
    /// PLC 6 or 7: no prefix length defined.
    UndefinedPlc(u8),
    /// Bits 64–71 of the prefix are not zero (RFC 6052 §2.2).
    UOctet(Ipv6Addr),
}

impl fmt::Display for Pref64Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pref64Error::Length(l) => {
                write!(f, "PREF64 option of length {l} (must be 2, RFC 8781 §4)")
            }
            Pref64Error::UndefinedPlc(c) => {
                write!(
                    f,
                    "PREF64 option with prefix length code {c}, which RFC 8781 §4 does not define"
                )
            }
            Pref64Error::UOctet(a) => write!(
                f,
                "PREF64 prefix {a} has bits 64-71 set (RFC 6052 §2.2 requires them zero)"
            ),
        }
    }
}

/// Why a whole Router Advertisement was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RaError {
    /// Not an ICMPv6 RA of code 0, or shorter than its fixed part.
    NotRa,
    /// An option of length 0 (RFC 4861 §4.6: the packet MUST be discarded) or one that
    /// runs past the end.
    BadOption,
}

impl fmt::Display for RaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RaError::NotRa => "not a Router Advertisement",
            RaError::BadOption => "malformed option list (RFC 4861 §4.6)",
        })
    }
}

/// The PREF64 options of an ICMPv6 message (starting at its type byte), in order,
/// each usable or with the reason it is not.
pub fn parse_ra(icmp: &[u8]) -> Result<Vec<Result<Pref64, Pref64Error>>, RaError> {
    if icmp.len() < RA_FIXED || icmp[0] != ROUTER_ADVERTISEMENT || icmp[1] != 0 {
        return Err(RaError::NotRa);
    }
    parse_options(&icmp[RA_FIXED..])
}

/// The PREF64 options of an option list (RFC 4861 §4.6: type, length in units of 8
/// bytes, data), as a Router Advertisement carries it after its fixed part or the
/// kernel passes it on (`super::useropt`).
pub fn parse_options(mut opts: &[u8]) -> Result<Vec<Result<Pref64, Pref64Error>>, RaError> {
    let mut found = Vec::new();
    while !opts.is_empty() {
        let len = usize::from(*opts.get(1).ok_or(RaError::BadOption)?) * 8;
        if len == 0 || len > opts.len() {
            return Err(RaError::BadOption);
        }
        if opts[0] == OPTION_TYPE {
            found.push(parse_option(&opts[..len]));
        }
        opts = &opts[len..];
    }
    Ok(found)
}

/// One option, type and length bytes included (`opt.len()` is Length × 8).
fn parse_option(opt: &[u8]) -> Result<Pref64, Pref64Error> {
    if opt.len() != 16 {
        return Err(Pref64Error::Length(opt[1]));
    }
    let word = u16::from_be_bytes([opt[2], opt[3]]);
    let plc = word & 7;
    let len = *PLC_LENGTHS
        .get(usize::from(plc))
        .ok_or(Pref64Error::UndefinedPlc(plc as u8))?;
    let mut bytes = [0u8; 16];
    bytes[..12].copy_from_slice(&opt[4..16]);
    let addr = Ipv6Addr::from(bytes);
    if bytes[8] != 0 {
        return Err(Pref64Error::UOctet(addr));
    }
    // Bits past the prefix length carry nothing (§4 sends the highest 96 bits whatever
    // the length); they are cleared, not judged.
    let prefix = Ipv6Net::new(addr, len).map_err(|_| Pref64Error::UndefinedPlc(plc as u8))?;
    Ok(Pref64 {
        prefix: prefix.trunc(),
        lifetime_s: u32::from(word >> 3) * 8,
    })
}

/// The 16-byte option for `prefix` (one of the six RFC 6052 lengths), with the lifetime
/// rounded up to RFC 8781 §4's 8-second units and capped at its maximum (65528 s).
pub fn encode(prefix: Ipv6Net, lifetime_s: u32) -> Option<[u8; 16]> {
    let plc = PLC_LENGTHS.iter().position(|&l| l == prefix.prefix_len())? as u16;
    let scaled = lifetime_s.div_ceil(8).min(0x1fff) as u16;
    let mut o = [0u8; 16];
    o[0] = OPTION_TYPE;
    o[1] = 2;
    o[2..4].copy_from_slice(&((scaled << 3) | plc).to_be_bytes());
    o[4..16].copy_from_slice(&prefix.network().octets()[..12]);
    Some(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An RA (RFC 4861 §4.2) with the given options after its 16-byte fixed part.
    fn ra(options: &[&[u8]]) -> Vec<u8> {
        let mut v = vec![134, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0];
        for o in options {
            v.extend_from_slice(o);
        }
        v
    }

    /// RFC 8781 §4, written from the field layout: 64:ff9b::/96 (PLC 0), lifetime
    /// 600 s = 75 units: 75 << 3 = 0x0258.
    const WKP_600S: [u8; 16] = [
        38, 2, 0x02, 0x58, 0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0,
    ];

    #[test]
    fn rfc8781_4_option_read() {
        let got = parse_ra(&ra(&[&WKP_600S])).unwrap();
        assert_eq!(
            got,
            vec![Ok(Pref64 {
                prefix: "64:ff9b::/96".parse().unwrap(),
                lifetime_s: 600
            })]
        );
    }

    /// RFC 8781 §4: PLC 1..=5 are /64, /56, /48, /40, /32; the written option reads back.
    #[test]
    fn rfc8781_4_every_prefix_length_code() {
        for (plc, p) in [
            (0u8, "2001:db8:64::/96"),
            (1, "2001:db8:1:2::/64"),
            (2, "2001:db8:1:200::/56"),
            (3, "2001:db8:1::/48"),
            (4, "2001:db8:100::/40"),
            (5, "2001:db8::/32"),
        ] {
            let prefix: Ipv6Net = p.parse().unwrap();
            let o = encode(prefix, 1800).unwrap();
            assert_eq!(o[3] & 7, plc, "{p}");
            let got = parse_ra(&ra(&[&o])).unwrap();
            assert_eq!(
                got,
                vec![Ok(Pref64 {
                    prefix,
                    lifetime_s: 1800
                })],
                "{p}"
            );
        }
    }

    /// RFC 8781 §4: the maximum scaled lifetime is 8191 × 8 = 65528 s; a lifetime is
    /// rounded up to the next unit (a prefix does not expire early).
    #[test]
    fn rfc8781_4_lifetime_units_and_cap() {
        let p: Ipv6Net = "64:ff9b::/96".parse().unwrap();
        let o = encode(p, 1_000_000).unwrap();
        assert_eq!(parse_ra(&ra(&[&o])).unwrap()[0].unwrap().lifetime_s, 65528);
        let o = encode(p, 9).unwrap();
        assert_eq!(parse_ra(&ra(&[&o])).unwrap()[0].unwrap().lifetime_s, 16);
    }

    #[test]
    fn rfc8781_4_undefined_plc_and_wrong_length_are_ignored() {
        let mut plc6 = WKP_600S;
        plc6[3] |= 6;
        let mut long = [0u8; 24];
        long[..16].copy_from_slice(&WKP_600S);
        long[1] = 3;
        let got = parse_ra(&ra(&[&plc6, &long, &WKP_600S])).unwrap();
        assert_eq!(got[0], Err(Pref64Error::UndefinedPlc(6)));
        assert_eq!(got[1], Err(Pref64Error::Length(3)));
        assert!(got[2].is_ok(), "a bad option does not hide a good one");
    }

    /// RFC 6052 §2.2: bits 64–71 must be zero.
    #[test]
    fn rfc6052_2_2_u_octet_set_is_refused() {
        let mut o = WKP_600S;
        o[12] = 0x01;
        let got = parse_ra(&ra(&[&o])).unwrap();
        assert!(matches!(got[0], Err(Pref64Error::UOctet(_))), "{got:?}");
    }

    /// RFC 4861 §4.6: an option of length 0 makes the whole packet invalid; other
    /// options are skipped by their length.
    #[test]
    fn rfc4861_4_6_option_walk() {
        let mtu = [5u8, 1, 0, 0, 0, 0, 0x05, 0xdc];
        assert_eq!(parse_ra(&ra(&[&mtu, &WKP_600S])).unwrap().len(), 1);
        assert_eq!(
            parse_ra(&ra(&[&[1, 0, 0, 0, 0, 0, 0, 0]])),
            Err(RaError::BadOption)
        );
        assert_eq!(parse_ra(&ra(&[&WKP_600S[..8]])), Err(RaError::BadOption));
        assert_eq!(parse_ra(&[133, 0, 0, 0]), Err(RaError::NotRa));
    }

    proptest::proptest! {
        /// Whatever a router sends: no panic, and every usable option is an RFC 6052
        /// prefix with bits 64–71 zero.
        #[test]
        fn any_bytes_parse_without_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let mut msg = vec![134u8, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
            msg.extend_from_slice(&body);
            if let Ok(opts) = parse_ra(&msg) {
                for p in opts.into_iter().flatten() {
                    proptest::prop_assert!(crate::addr::Prefix6052::new(p.prefix).is_ok());
                }
            }
        }
    }
}
