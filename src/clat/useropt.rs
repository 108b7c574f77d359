//! The kernel's RTM_NEWNDUSEROPT messages (rtnetlink group RTNLGRP_ND_USEROPT), read
//! sans-IO: how the CLAT hears PREF64 (RFC 8781) without CAP_NET_RAW.
//!
//! Linux (≥ 5.8) passes the Router Advertisement options it does not handle itself
//! (RDNSS, DNSSL, captive portal, PREF64) to userspace, one option per message, after
//! it has validated the RA (RFC 4861 §6.1.2: hop limit 255, link-local source) and only
//! on interfaces where it accepts RAs (`accept_ra`, 2 with forwarding on). Joining the
//! group needs no capability, unlike the raw ICMPv6 socket. The layout
//! (include/uapi/linux/rtnetlink.h, net/ipv6/ndisc.c `ndisc_ra_useropt`), host byte
//! order:
//!
//! ```text
//! struct nlmsghdr      len u32, type u16 (68), flags u16, seq u32, pid u32
//! struct nduseroptmsg  family u8 (AF_INET6), pad u8, opts_len u16, ifindex i32,
//!                      icmp_type u8, icmp_code u8, pad u16, pad u32      (16 bytes)
//! the option(s), opts_len bytes, padded to 4
//! rtattr NDUSEROPT_SRCADDR (1): the RA's IPv6 source address
//! ```

use std::fmt;
use std::net::Ipv6Addr;

use super::pref64::ROUTER_ADVERTISEMENT;

/// `RTM_NEWNDUSEROPT` (include/uapi/linux/rtnetlink.h).
pub const RTM_NEWNDUSEROPT: u16 = 68;
/// `NDUSEROPT_SRCADDR`: the router's address.
const NDUSEROPT_SRCADDR: u16 = 1;
const NLMSG_HDR: usize = 16;
const NDUSEROPTMSG: usize = 16;
const AF_INET6: u8 = 10;

/// The options of one Router Advertisement (or other ND message) as the kernel passed
/// them on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserOpt<'a> {
    pub ifindex: u32,
    pub icmp_type: u8,
    pub icmp_code: u8,
    /// Option bytes, each with its type and length (RFC 4861 §4.6).
    pub options: &'a [u8],
    /// From NDUSEROPT_SRCADDR; None if the kernel did not say.
    pub router: Option<Ipv6Addr>,
}

/// Why a netlink message was not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserOptError {
    /// A header or a length field that runs past the datagram.
    Truncated,
    /// Not AF_INET6.
    Family(u8),
}

impl fmt::Display for UserOptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserOptError::Truncated => f.write_str("truncated RTM_NEWNDUSEROPT message"),
            UserOptError::Family(x) => write!(f, "RTM_NEWNDUSEROPT of address family {x}"),
        }
    }
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// Every RTM_NEWNDUSEROPT in one datagram read from the socket (other message types,
/// such as NLMSG_NOOP, are skipped). A message that cannot be read ends the walk.
pub fn parse(datagram: &[u8]) -> Vec<Result<UserOpt<'_>, UserOptError>> {
    let mut out = Vec::new();
    let mut rest = datagram;
    while rest.len() >= NLMSG_HDR {
        let len = u32_at(rest, 0).map_or(0, |l| l as usize);
        if len < NLMSG_HDR || len > rest.len() {
            out.push(Err(UserOptError::Truncated));
            break;
        }
        if u16_at(rest, 4) == Some(RTM_NEWNDUSEROPT) {
            out.push(parse_one(&rest[NLMSG_HDR..len]));
        }
        rest = rest.get(align4(len)..).unwrap_or(&[]);
    }
    out
}

/// One message's payload (after its nlmsghdr).
fn parse_one(body: &[u8]) -> Result<UserOpt<'_>, UserOptError> {
    if body.len() < NDUSEROPTMSG {
        return Err(UserOptError::Truncated);
    }
    if body[0] != AF_INET6 {
        return Err(UserOptError::Family(body[0]));
    }
    let opts_len = usize::from(u16_at(body, 2).ok_or(UserOptError::Truncated)?);
    let ifindex = u32_at(body, 4).ok_or(UserOptError::Truncated)?;
    let options = body
        .get(NDUSEROPTMSG..NDUSEROPTMSG + opts_len)
        .ok_or(UserOptError::Truncated)?;
    let mut router = None;
    let mut attrs = body.get(align4(NDUSEROPTMSG + opts_len)..).unwrap_or(&[]);
    while attrs.len() >= 4 {
        let alen = usize::from(u16_at(attrs, 0).unwrap_or(0));
        if alen < 4 || alen > attrs.len() {
            return Err(UserOptError::Truncated);
        }
        if u16_at(attrs, 2) == Some(NDUSEROPT_SRCADDR) && alen == 4 + 16 {
            let a: [u8; 16] = attrs[4..20]
                .try_into()
                .map_err(|_| UserOptError::Truncated)?;
            router = Some(Ipv6Addr::from(a));
        }
        attrs = attrs.get(align4(alen)..).unwrap_or(&[]);
    }
    Ok(UserOpt {
        ifindex,
        icmp_type: body[8],
        icmp_code: body[9],
        options,
        router,
    })
}

/// Adds `u`'s options to `batch` if it is about a Router Advertisement on `ifindex`:
/// to the last entry when that is the same router's (the kernel sends an RA's options
/// one after the other, so that they are read as one list again), else as a new entry.
/// A message without the router's address counts as from `::`.
pub fn add_ra_options(batch: &mut Vec<(Ipv6Addr, Vec<u8>)>, u: &UserOpt<'_>, ifindex: u32) {
    if u.ifindex != ifindex || u.icmp_type != ROUTER_ADVERTISEMENT || u.icmp_code != 0 {
        return;
    }
    let router = u.router.unwrap_or(Ipv6Addr::UNSPECIFIED);
    match batch.last_mut() {
        Some((r, opts)) if *r == router => opts.extend_from_slice(u.options),
        _ => batch.push((router, u.options.to_vec())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clat::pref64;
    use proptest::prelude::*;

    const ROUTER: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

    /// RFC 8781 §4's option for 2001:db8:64::/96 (PLC 0), lifetime 600 s (75 × 8).
    fn pref64_option() -> [u8; 16] {
        let mut o = [0u8; 16];
        o[0] = 38;
        o[1] = 2;
        o[2..4].copy_from_slice(&(75u16 << 3).to_be_bytes());
        o[4..16].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0x64, 0, 0, 0, 0, 0, 0]);
        o
    }

    /// A message as `ndisc_ra_useropt` builds it: nlmsghdr, nduseroptmsg field by
    /// field, the option, NDUSEROPT_SRCADDR.
    fn message(ifindex: i32, icmp_type: u8, opt: &[u8], src: Option<Ipv6Addr>) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_len, set below
        m.extend_from_slice(&RTM_NEWNDUSEROPT.to_ne_bytes());
        m.extend_from_slice(&0u16.to_ne_bytes()); // nlmsg_flags
        m.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_seq
        m.extend_from_slice(&0u32.to_ne_bytes()); // nlmsg_pid: the kernel
        m.push(AF_INET6); // nduseropt_family
        m.push(0); // nduseropt_pad1
        m.extend_from_slice(&(opt.len() as u16).to_ne_bytes()); // nduseropt_opts_len
        m.extend_from_slice(&ifindex.to_ne_bytes()); // nduseropt_ifindex
        m.push(icmp_type); // nduseropt_icmp_type
        m.push(0); // nduseropt_icmp_code
        m.extend_from_slice(&0u16.to_ne_bytes()); // nduseropt_pad2
        m.extend_from_slice(&0u32.to_ne_bytes()); // nduseropt_pad3
        m.extend_from_slice(opt);
        m.resize(align4(m.len()), 0);
        if let Some(a) = src {
            m.extend_from_slice(&20u16.to_ne_bytes()); // rta_len
            m.extend_from_slice(&NDUSEROPT_SRCADDR.to_ne_bytes()); // rta_type
            m.extend_from_slice(&a.octets());
        }
        let len = m.len() as u32;
        m[..4].copy_from_slice(&len.to_ne_bytes());
        m
    }

    /// RFC 8781 §4 through the kernel's message: the option bytes, the interface, the
    /// RA type and the router's address come out, and the PREF64 parser reads the prefix.
    #[test]
    fn rfc8781_4_pref64_from_nduseroptmsg() {
        let opt = pref64_option();
        let m = message(7, 134, &opt, Some(ROUTER));
        let got = parse(&m);
        assert_eq!(got.len(), 1);
        let u = got[0].unwrap();
        assert_eq!((u.ifindex, u.icmp_type, u.icmp_code), (7, 134, 0));
        assert_eq!(u.options, &opt[..]);
        assert_eq!(u.router, Some(ROUTER));
        let p = pref64::parse_options(u.options).unwrap();
        assert_eq!(
            p,
            vec![Ok(pref64::Pref64 {
                prefix: "2001:db8:64::/96".parse().unwrap(),
                lifetime_s: 600
            })]
        );
    }

    /// Several messages in one datagram (each 4-aligned), one of another type skipped;
    /// a message without NDUSEROPT_SRCADDR has no router.
    #[test]
    fn several_messages_and_missing_source() {
        // RFC 8106 §5.1 RDNSS option (type 25, length 3): another user option.
        let rdnss = [
            25u8, 3, 0, 0, 0, 0, 0x0e, 0x10, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0x53,
        ];
        let mut d = message(2, 134, &rdnss, Some(ROUTER));
        let mut noop = message(2, 134, &[], None);
        noop[4..6].copy_from_slice(&1u16.to_ne_bytes()); // NLMSG_NOOP
        d.extend_from_slice(&noop);
        d.extend_from_slice(&message(3, 134, &pref64_option(), None));
        let got = parse(&d);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].unwrap().options, &rdnss[..]);
        assert_eq!(got[1].unwrap().ifindex, 3);
        assert_eq!(got[1].unwrap().router, None);
        assert_eq!(pref64::parse_options(got[0].unwrap().options), Ok(vec![]));
    }

    #[test]
    fn truncated_and_foreign_family_are_errors() {
        let m = message(2, 134, &pref64_option(), Some(ROUTER));
        assert_eq!(parse(&m[..m.len() - 1]), vec![Err(UserOptError::Truncated)]);
        let mut short = m.clone();
        short[16 + 2..16 + 4].copy_from_slice(&200u16.to_ne_bytes()); // opts_len too long
        assert_eq!(parse(&short), vec![Err(UserOptError::Truncated)]);
        let mut v4 = m;
        v4[16] = 2;
        assert_eq!(parse(&v4), vec![Err(UserOptError::Family(2))]);
    }

    /// RFC 8781 §5 lets the host pick among several PREF64 options of one RA: the
    /// kernel's one-option messages of an RA are put back together per router, those
    /// of another interface or of a Redirect (RFC 4861 §4.5, type 137) left out.
    #[test]
    fn rfc8781_5_one_ras_options_regrouped_per_router() {
        let other = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);
        let a = pref64_option();
        let mut b = pref64_option();
        b[9] = 0x65;
        let mut d = message(4, 134, &a, Some(ROUTER));
        d.extend_from_slice(&message(4, 134, &b, Some(ROUTER)));
        d.extend_from_slice(&message(5, 134, &a, Some(ROUTER)));
        d.extend_from_slice(&message(4, 137, &a, Some(ROUTER)));
        d.extend_from_slice(&message(4, 134, &b, Some(other)));
        let mut batch = Vec::new();
        for m in parse(&d) {
            add_ra_options(&mut batch, &m.unwrap(), 4);
        }
        assert_eq!(batch, vec![(ROUTER, [a, b].concat()), (other, b.to_vec())]);
        let first = pref64::parse_options(&batch[0].1).unwrap();
        assert_eq!(first.len(), 2);
        assert_eq!(
            first[0].unwrap().prefix,
            "2001:db8:64::/96".parse().unwrap()
        );
    }

    proptest! {
        #[test]
        fn any_bytes_parse_without_panic(d in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = parse(&d);
        }
    }
}
