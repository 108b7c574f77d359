//! NAT64 with fragments and zero UDP checksums (RFC 6146 §3.4), through a worker's
//! `Nat64Core`: fragments in any order are reassembled, the datagram is mapped through
//! its session, and the output follows RFC 7915's fragment rules. Outputs are put
//! together again with etherparse's own defragmenter and their checksums verified over
//! the whole datagram.

use std::net::Ipv6Addr;

use etherparse::{NetSlice, PacketBuilder, SlicedPacket};

use super::super::selfcheck::check_emitted;
use super::super::{DropReason, Nat64Core, Output, Verdict};
use super::nat64::{C1, POOL4, SERVER4, SERVER6, nat64, session, shard};
use super::{a4, a6};
use crate::nat64::Proto;
use crate::wire::buf::PacketBuf;
use crate::wire::checksum;
use crate::wire::ip::IpProtocol;
use crate::wire::vnet::Offload;
use crate::xlat::reassembly::{Limits, Outcome};

fn limits() -> Limits {
    Limits {
        slots: 64,
        slot_len: 1500,
        timeout_ms: 2000,
        subscriber_prefix_len: 64,
    }
}

/// Feeds `pkt` to the core as the worker does (reassembly, then translation); returns
/// the verdict of the packet that completed (None while fragments are queued) and the
/// frames, each checked.
fn feed(core: &mut Nat64Core<'_>, pkt: &[u8], now: u64) -> (Option<Verdict>, Vec<Vec<u8>>) {
    let mut p = PacketBuf::from_packet(pkt);
    let mut out = Output::new();
    match core.reassemble(&mut p, now) {
        Outcome::Queued => return (None, Vec::new()),
        Outcome::Drop(r) => return (Some(Verdict::Drop(r)), Vec::new()),
        Outcome::Whole | Outcome::Complete => {}
    }
    let v = core.translate(&mut p, Offload::NONE, &mut out, now, true);
    let frames: Vec<Vec<u8>> = (0..out.frames().len())
        .map(|i| out.frame_bytes(i, &p))
        .collect();
    for f in &frames {
        check_emitted(f).unwrap();
    }
    (Some(v), frames)
}

/// The transport payload of the fragments in `frames`, put back together from the
/// RFC 791 / RFC 8200 §4.5 header fields (offsets, MF/M), checking that they tile the
/// datagram exactly and agree on one Identification.
fn defrag(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut pieces: Vec<(usize, bool, u32, Vec<u8>)> = frames
        .iter()
        .map(|f| {
            let s = SlicedPacket::from_ip(f).unwrap();
            match s.net.unwrap() {
                NetSlice::Ipv4(ip) => {
                    let h = ip.header();
                    let off = usize::from(h.fragments_offset().value()) * 8;
                    let data = f[h.slice().len()..].to_vec();
                    (off, h.more_fragments(), u32::from(h.identification()), data)
                }
                NetSlice::Ipv6(_) => {
                    assert_eq!(f[6], IpProtocol::FRAGMENT.0, "no Fragment header");
                    let om = u16::from_be_bytes([f[42], f[43]]);
                    let id = u32::from_be_bytes([f[44], f[45], f[46], f[47]]);
                    (usize::from(om >> 3) * 8, om & 1 == 1, id, f[48..].to_vec())
                }
            }
        })
        .collect();
    pieces.sort_by_key(|p| p.0);
    let mut whole = Vec::new();
    for (i, (off, more, id, data)) in pieces.iter().enumerate() {
        assert_eq!(*off, whole.len(), "fragments do not tile the datagram");
        assert_eq!(*id, pieces[0].2, "two Identifications");
        assert_eq!(*more, i + 1 < pieces.len(), "MF/M on piece {i}");
        whole.extend_from_slice(data);
    }
    whole
}

fn fix4(h: &mut [u8]) {
    h[10..12].fill(0);
    let c = !checksum::ones_sum(&h[..20]);
    h[10..12].copy_from_slice(&c.to_be_bytes());
}

/// RFC 791 fragments (20-byte header, DF=0) of `d` at the payload offsets `cuts`.
fn frags4(d: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let payload = &d[20..];
    let mut ends = cuts.to_vec();
    ends.push(payload.len());
    let mut start = 0;
    ends.iter()
        .map(|&end| {
            let mut f = d[..20].to_vec();
            f.extend_from_slice(&payload[start..end]);
            let len = f.len() as u16;
            f[2..4].copy_from_slice(&len.to_be_bytes());
            let mf = if end < payload.len() { 0x2000 } else { 0 };
            f[6..8].copy_from_slice(&(mf | (start / 8) as u16).to_be_bytes());
            fix4(&mut f);
            start = end;
            f
        })
        .collect()
}

/// RFC 8200 §4.5 fragments of the IPv6 datagram `d`, Identification `id`.
fn frags6(d: &[u8], id: u32, cuts: &[usize]) -> Vec<Vec<u8>> {
    let part = &d[40..];
    let mut ends = cuts.to_vec();
    ends.push(part.len());
    let mut start = 0;
    ends.iter()
        .map(|&end| {
            let mut f = d[..40].to_vec();
            f[6] = IpProtocol::FRAGMENT.0;
            let om = ((start / 8) as u16) << 3 | u16::from(end < part.len());
            f.extend_from_slice(&[d[6], 0]);
            f.extend_from_slice(&om.to_be_bytes());
            f.extend_from_slice(&id.to_be_bytes());
            f.extend_from_slice(&part[start..end]);
            let plen = (f.len() - 40) as u16;
            f[4..6].copy_from_slice(&plen.to_be_bytes());
            start = end;
            f
        })
        .collect()
}

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

/// Opens a UDP session C1:5000 → SERVER and returns its pool4 port.
fn open_session(core: &mut Nat64Core<'_>) -> u16 {
    let mut v = Vec::new();
    PacketBuilder::ipv6(a6(C1), a6(SERVER6), 64)
        .udp(5000, 53)
        .write(&mut v, b"query")
        .unwrap();
    let (verdict, _) = feed(core, &v, 0);
    assert_eq!(verdict, Some(Verdict::V6ToV4));
    session(core.shard(), Proto::Udp, C1, 5000).v4_port
}

/// An IPv4 UDP reply of `n` bytes from the server to pool4:`port`, DF=0, `csum` false
/// to send it with checksum 0.
fn reply4(port: u16, n: usize, csum: bool) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ipv4(a4(SERVER4), a4(POOL4), 64)
        .udp(53, port)
        .write(&mut v, &data(n))
        .unwrap();
    v[6] = 0;
    v[4..6].copy_from_slice(&0x4242u16.to_be_bytes());
    if !csum {
        v[26..28].fill(0);
    }
    fix4(&mut v);
    v
}

/// Whether the UDP datagram `udp` verifies with the given pseudo-header sum.
fn udp_ok(pseudo: u16, udp: &[u8]) -> bool {
    checksum::add(pseudo, checksum::ones_sum(udp)) == 0xffff
}

/// RFC 6146 §3.4 (fragments out of order, reassembled) and RFC 7915 §4.1: a 3 000-byte
/// IPv4 UDP reply in three fragments, the last first, reaches the client as IPv6
/// fragments of at most 1 280 bytes carrying the IPv4 Identification, and the
/// datagram's checksum verifies over the whole of it.
#[test]
fn rfc6146_3_4_ipv4_fragments_reach_the_client_as_ipv6_fragments() {
    let t = nat64(false);
    let mut core = Nat64Core::new(&t, shard(), limits());
    let port = open_session(&mut core);
    let d = reply4(port, 3000, true);
    let f = frags4(&d, &[1480, 2960]);
    assert_eq!(feed(&mut core, &f[2], 1).0, None);
    assert_eq!(feed(&mut core, &f[0], 2).0, None);
    let (v, frames) = feed(&mut core, &f[1], 3);
    assert_eq!(v, Some(Verdict::V4ToV6));
    assert!(frames.len() >= 3, "{}", frames.len());
    for fr in &frames {
        assert!(fr.len() <= 1280, "{}", fr.len());
        let s = SlicedPacket::from_ip(fr).unwrap();
        let Some(NetSlice::Ipv6(ip)) = s.net else {
            panic!("not IPv6")
        };
        assert_eq!(
            ip.header().destination_addr(),
            C1.parse::<Ipv6Addr>().unwrap()
        );
        let fh = ip.extensions().first_header();
        assert_eq!(fh, Some(etherparse::IpNumber::IPV6_FRAGMENTATION_HEADER));
    }
    let udp = defrag(&frames);
    assert_eq!(&udp[8..], &data(3000)[..]);
    assert_eq!(u16::from_be_bytes([udp[2], udp[3]]), 5000);
    let ph = checksum::pseudo_v6(a6(SERVER6), a6(C1), IpProtocol::UDP, udp.len() as u32);
    assert!(udp_ok(ph, &udp));
}

/// RFC 6146 §3.4 and RFC 7915 §5.1.1: a 3 000-byte IPv6 UDP datagram in fragments (the
/// first one last) opens its session once whole, and leaves as IPv4 fragments with
/// DF=0 and the low 16 bits of the IPv6 Identification, each within the 1 500-byte MTU.
#[test]
fn rfc7915_5_1_1_ipv6_fragments_leave_as_ipv4_fragments() {
    let t = nat64(false);
    let mut core = Nat64Core::new(&t, shard(), limits());
    let mut d = Vec::new();
    PacketBuilder::ipv6(a6(C1), a6(SERVER6), 64)
        .udp(6000, 9)
        .write(&mut d, &data(3000))
        .unwrap();
    let f = frags6(&d, 0x0102_0304, &[1232, 2464]);
    assert_eq!(feed(&mut core, &f[1], 0).0, None);
    assert_eq!(feed(&mut core, &f[2], 0).0, None);
    let (v, frames) = feed(&mut core, &f[0], 0);
    assert_eq!(v, Some(Verdict::V6ToV4));
    let s = session(core.shard(), Proto::Udp, C1, 6000);
    for fr in &frames {
        assert!(fr.len() <= 1500);
        let ip = etherparse::Ipv4HeaderSlice::from_slice(fr).unwrap();
        assert!(!ip.dont_fragment());
        assert_eq!(ip.identification(), 0x0304);
        assert_eq!(ip.source_addr(), s.v4);
    }
    let udp = defrag(&frames);
    assert_eq!(&udp[8..], &data(3000)[..]);
    assert_eq!(u16::from_be_bytes([udp[0], udp[1]]), s.v4_port);
    let ph = checksum::pseudo_v4(
        s.v4.octets(),
        a4(SERVER4),
        IpProtocol::UDP,
        udp.len() as u16,
    );
    assert!(udp_ok(ph, &udp));
}

/// RFC 6146 §3.4: IPv4 UDP with checksum 0 gets its checksum computed, whole or in
/// fragments (reassembled first), and the output says so (the worker counts it).
#[test]
fn rfc6146_3_4_zero_udp_checksums_are_computed_also_when_fragmented() {
    let t = nat64(false);
    let mut core = Nat64Core::new(&t, shard(), limits());
    let port = open_session(&mut core);
    let mut p = PacketBuf::from_packet(&reply4(port, 100, false));
    let mut out = Output::new();
    let v = core.translate(&mut p, Offload::NONE, &mut out, 1, true);
    assert_eq!(v, Verdict::V4ToV6);
    assert!(out.udp_checksum_computed());
    let f = out.frame_bytes(0, &p);
    check_emitted(&f).unwrap();
    let ph = checksum::pseudo_v6(a6(SERVER6), a6(C1), IpProtocol::UDP, 108);
    assert!(udp_ok(ph, &f[40..]));

    let d = reply4(port, 2000, false);
    let fr = frags4(&d, &[1480]);
    assert_eq!(feed(&mut core, &fr[1], 2).0, None);
    let (v, frames) = feed(&mut core, &fr[0], 2);
    assert_eq!(v, Some(Verdict::V4ToV6));
    let udp = defrag(&frames);
    let ph = checksum::pseudo_v6(a6(SERVER6), a6(C1), IpProtocol::UDP, udp.len() as u32);
    assert_ne!(u16::from_be_bytes([udp[6], udp[7]]), 0);
    assert!(udp_ok(ph, &udp));
}

/// `ping -s 3000` through NAT64 (RFC 7915 §4.2/§5.2 echo with RFC 6146 §3.5.3 identifier
/// mapping): the fragmented ICMPv6 Echo Request arrives as a valid ICMPv4 Echo Request
/// in IPv4 fragments, and the fragmented reply comes back whole to the client.
#[test]
fn rfc6146_3_5_3_large_pings_both_ways() {
    let t = nat64(false);
    let mut core = Nat64Core::new(&t, shard(), limits());
    let mut d = Vec::new();
    PacketBuilder::ipv6(a6(C1), a6(SERVER6), 64)
        .icmpv6_echo_request(0x77, 1)
        .write(&mut d, &data(3000))
        .unwrap();
    let f = frags6(&d, 55, &[1232, 2464]);
    feed(&mut core, &f[2], 0);
    feed(&mut core, &f[1], 0);
    let (v, frames) = feed(&mut core, &f[0], 0);
    assert_eq!(v, Some(Verdict::V6ToV4));
    let icmp = defrag(&frames);
    assert_eq!(icmp[0], 8); // Echo Request
    assert_eq!(checksum::ones_sum(&icmp), 0xffff);
    let s = session(core.shard(), Proto::Icmp, C1, 0x77);
    // The reply: ICMPv4 Echo Reply with the pool4 identifier, fragmented.
    let mut r = Vec::new();
    PacketBuilder::ipv4(a4(SERVER4), s.v4.octets(), 64)
        .icmpv4_echo_reply(s.v4_port, 1)
        .write(&mut r, &data(3000))
        .unwrap();
    r[6] = 0;
    fix4(&mut r);
    let f = frags4(&r, &[1480, 2960]);
    feed(&mut core, &f[0], 1);
    feed(&mut core, &f[2], 1);
    let (v, frames) = feed(&mut core, &f[1], 1);
    assert_eq!(v, Some(Verdict::V4ToV6));
    let icmp6 = defrag(&frames);
    assert_eq!(icmp6[0], 129); // Echo Reply
    assert_eq!(u16::from_be_bytes([icmp6[4], icmp6[5]]), 0x77);
    let ph = checksum::pseudo_v6(a6(SERVER6), a6(C1), IpProtocol::ICMPV6, icmp6.len() as u32);
    assert_eq!(checksum::add(ph, checksum::ones_sum(&icmp6)), 0xffff);
}

/// Fragments that fail reassembly are dropped with their reason before any lookup.
#[test]
fn fragments_refused_by_reassembly_create_nothing() {
    let t = nat64(false);
    let mut core = Nat64Core::new(&t, shard(), limits());
    let mut d = Vec::new();
    PacketBuilder::ipv6(a6(C1), a6(SERVER6), 64)
        .udp(7000, 9)
        .write(&mut d, &data(2000))
        .unwrap();
    let f = frags6(&d, 1, &[1232]);
    assert_eq!(feed(&mut core, &f[0], 0).0, None);
    assert_eq!(
        feed(&mut core, &f[0], 0).0,
        Some(Verdict::Drop(DropReason::FragmentDuplicate))
    );
    assert_eq!(core.shard().session_count(), 0);
    assert_eq!(core.expire_fragments(2000), (1, false));
}
