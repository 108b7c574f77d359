//! Translator tests, one module per RFC area. Inputs are built with etherparse or by
//! hand from the RFC header diagrams; expected values come from the RFC text, and
//! outputs are parsed back with etherparse and checked with `selfcheck`.
//!
//! Addresses (from the task's test plan): pool6 2001:db8:64::/96, EAM 2001:db8:1::/120
//! = 192.0.2.0/24, so IPv6 client 2001:db8:1::2 ↔ 192.0.2.2 and IPv4 server
//! 198.51.100.2 ↔ 2001:db8:64::c633:6402.

use std::net::{Ipv4Addr, Ipv6Addr};

use etherparse::PacketBuilder;

use super::selfcheck::{check_emitted, test_translator};
use super::{Output, Translator, Verdict, XlatConfig};
use crate::wire::buf::PacketBuf;
use crate::wire::checksum;
use crate::wire::ip::IpProtocol;

mod clat;
mod errors;
mod frag;
mod hairpin;
mod icmp;
mod icmp_ext;
mod nat64;
mod nat64_frag;
mod nat64_timers;
mod offload;
mod prop;
mod reassembly;
mod v4v6;
mod v6v4;
mod validity;

pub const CLIENT6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
pub const CLIENT4: [u8; 4] = [192, 0, 2, 2];
pub const SERVER4: [u8; 4] = [198, 51, 100, 2];
pub const SERVER6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0x64, 0, 0, 0, 0, 0, 0, 0xc6, 0x33, 0x64, 2,
];
pub const XLAT4: [u8; 4] = [203, 0, 113, 1];
pub const XLAT6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 0x64, 0, 0, 0, 0, 0, 0, 0xcb, 0, 0x71, 1,
];

pub fn a6(s: &str) -> [u8; 16] {
    s.parse::<Ipv6Addr>().unwrap().octets()
}

pub fn a4(s: &str) -> [u8; 4] {
    s.parse::<Ipv4Addr>().unwrap().octets()
}

/// The standard test translator with some settings changed.
pub fn translator_with(f: impl FnOnce(&mut XlatConfig)) -> Translator {
    let mut cfg = test_translator().config().clone();
    f(&mut cfg);
    Translator::new(cfg)
}

/// Result of one translation: verdict, emitted frames, and whether each frame was a
/// zero-copy body (empty head).
pub struct Run {
    pub verdict: Verdict,
    pub frames: Vec<Vec<u8>>,
    pub zero_copy: Vec<bool>,
}

pub fn run_with(t: &Translator, input: &[u8]) -> Run {
    let mut pkt = PacketBuf::from_packet(input);
    let mut out = Output::new();
    let verdict = t.translate(&mut pkt, &mut out, 0);
    let frames = (0..out.frames().len())
        .map(|i| out.frame_bytes(i, &pkt))
        .collect();
    let zero_copy = out
        .frames()
        .iter()
        .map(|f| f.head_range().is_empty())
        .collect();
    Run {
        verdict,
        frames,
        zero_copy,
    }
}

pub fn run(input: &[u8]) -> Run {
    run_with(&test_translator(), input)
}

/// Runs and asserts one valid emitted frame with the given verdict.
pub fn one(input: &[u8], verdict: Verdict) -> Vec<u8> {
    one_with(&test_translator(), input, verdict)
}

pub fn one_with(t: &Translator, input: &[u8], verdict: Verdict) -> Vec<u8> {
    let r = run_with(t, input);
    assert_eq!(r.verdict, verdict);
    assert_eq!(r.frames.len(), 1, "frames: {:02x?}", r.frames);
    check_emitted(&r.frames[0]).unwrap();
    r.frames.into_iter().next().unwrap()
}

pub fn udp6(src: [u8; 16], dst: [u8; 16], hop: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(src, dst, hop)
        .udp(40000, 53)
        .write(&mut v, payload)
        .unwrap();
    v
}

pub fn tcp6(src: [u8; 16], dst: [u8; 16], hop: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(src, dst, hop)
        .tcp(40000, 80, 0x01020304, 1000)
        .ack(7)
        .write(&mut v, payload)
        .unwrap();
    v
}

pub fn udp4(src: [u8; 4], dst: [u8; 4], ttl: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(src, dst, ttl)
        .udp(53, 40000)
        .write(&mut v, payload)
        .unwrap();
    v
}

pub fn tcp4(src: [u8; 4], dst: [u8; 4], ttl: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(src, dst, ttl)
        .tcp(80, 40000, 0x01020304, 1000)
        .ack(7)
        .write(&mut v, payload)
        .unwrap();
    v
}

pub fn echo4(src: [u8; 4], dst: [u8; 4], ttl: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(src, dst, ttl)
        .icmpv4_echo_request(0x1234, 7)
        .write(&mut v, payload)
        .unwrap();
    v
}

pub fn echo6(src: [u8; 16], dst: [u8; 16], hop: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(src, dst, hop)
        .icmpv6_echo_request(0x1234, 7)
        .write(&mut v, payload)
        .unwrap();
    v
}

pub fn icmp4_raw(
    src: [u8; 4],
    dst: [u8; 4],
    ty: u8,
    code: u8,
    rest: [u8; 4],
    payload: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(src, dst, 64)
        .icmpv4_raw(ty, code, rest)
        .write(&mut v, payload)
        .unwrap();
    v
}

pub fn icmp6_raw(
    src: [u8; 16],
    dst: [u8; 16],
    ty: u8,
    code: u8,
    rest: [u8; 4],
    payload: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv6(src, dst, 64)
        .icmpv6_raw(ty, code, rest)
        .write(&mut v, payload)
        .unwrap();
    v
}

/// Rewrites IPv4 bytes 4..8 (RFC 791: Identification, Flags, Fragment Offset) and the
/// header checksum.
pub fn set_v4_frag(p: &mut [u8], ident: u16, df: bool, mf: bool, offset: u16) {
    p[4..6].copy_from_slice(&ident.to_be_bytes());
    let w = (u16::from(df) << 14) | (u16::from(mf) << 13) | offset;
    p[6..8].copy_from_slice(&w.to_be_bytes());
    fix_v4_checksum(p);
}

pub fn fix_v4_checksum(p: &mut [u8]) {
    let hl = usize::from(p[0] & 0xf) * 4;
    p[10] = 0;
    p[11] = 0;
    let c = checksum::checksum(&p[..hl]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

/// Inserts IPv6 extension header bytes `ext` (whose own Next Header bytes the caller
/// set) after the fixed header, sets the fixed header's Next Header to `first`, and
/// fixes Payload Length.
pub fn insert_ext(p: &[u8], first: u8, ext: &[u8]) -> Vec<u8> {
    let mut v = p[..40].to_vec();
    v[6] = first;
    v.extend_from_slice(ext);
    v.extend_from_slice(&p[40..]);
    let plen = (v.len() - 40) as u16;
    v[4..6].copy_from_slice(&plen.to_be_bytes());
    v
}

/// Parses an emitted IPv4 frame with etherparse.
pub fn parse4(f: &[u8]) -> etherparse::Ipv4Header {
    etherparse::Ipv4Header::from_slice(f).unwrap().0
}

/// Parses an emitted IPv6 frame's fixed header with etherparse.
pub fn parse6(f: &[u8]) -> etherparse::Ipv6Header {
    etherparse::Ipv6Header::from_slice(f).unwrap().0
}

/// The RFC 8200 §4.5 Fragment header of an emitted IPv6 frame: (Next Header, offset in
/// 8-octet units, M, Identification). etherparse finds the header and reads Next Header
/// and Identification; offset and M are decoded here from the RFC diagram because
/// etherparse 0.16 reads them from the wrong bits (JulianSchmid/etherparse#150).
pub fn frag6(f: &[u8]) -> (u8, u16, bool, u32) {
    let (h, rest) = etherparse::Ipv6Header::from_slice(f).unwrap();
    assert_eq!(
        h.next_header,
        etherparse::IpNumber::IPV6_FRAGMENTATION_HEADER
    );
    let (e, _) = etherparse::Ipv6FragmentHeader::from_slice(rest).unwrap();
    let word = u16::from_be_bytes([rest[2], rest[3]]);
    (e.next_header.0, word >> 3, word & 1 == 1, e.identification)
}
