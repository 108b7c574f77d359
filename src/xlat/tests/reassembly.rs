//! NAT64 fragment reassembly (RFC 6146 §3.4): out of order, within the timeout, with
//! bounded resources, and the bad-input rules of RFC 5722 / RFC 8200 §4.5 / RFC 7112.
//!
//! Datagrams are built whole with etherparse and cut into fragments by hand from the
//! RFC 791 §3.1 and RFC 8200 §4.5 header layouts.

use etherparse::PacketBuilder;
use proptest::prelude::*;

use super::*;
use crate::xlat::DropReason as R;
use crate::xlat::reassembly::{Limits, MAX_FRAGMENTS_PER_DATAGRAM, Outcome, Reassembly};

const TIMEOUT: u64 = 2000;

fn limits(slots: usize) -> Limits {
    Limits {
        slots,
        slot_len: 1500,
        timeout_ms: TIMEOUT,
        subscriber_prefix_len: 64,
    }
}

/// An IPv4 UDP datagram from `src` with `n` payload bytes, DF=0 (RFC 791).
fn udp4(src: [u8; 4], n: usize) -> Vec<u8> {
    let b = PacketBuilder::ipv4(src, CLIENT4, 64).udp(53, 4000);
    let payload: Vec<u8> = (0..n).map(|i| (i * 7) as u8).collect();
    let mut v = Vec::new();
    b.write(&mut v, &payload).unwrap();
    v[6] = 0; // DF off (etherparse sets it)
    fix_v4_checksum(&mut v);
    v
}

fn fix_v4_checksum(h: &mut [u8]) {
    h[10..12].fill(0);
    let ihl = usize::from(h[0] & 0xf) * 4;
    let c = !checksum::ones_sum(&h[..ihl]);
    h[10..12].copy_from_slice(&c.to_be_bytes());
}

/// RFC 791 §2.3 fragmentation: pieces of `datagram` at the given payload offsets
/// (multiples of 8), each with its own header, MF on all but the last.
fn frags4(datagram: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let hl = usize::from(datagram[0] & 0xf) * 4;
    let payload = &datagram[hl..];
    let mut bounds = cuts.to_vec();
    bounds.push(payload.len());
    let mut start = 0;
    bounds
        .iter()
        .map(|&end| {
            let mut f = datagram[..hl].to_vec();
            f.extend_from_slice(&payload[start..end]);
            let len = f.len() as u16;
            f[2..4].copy_from_slice(&len.to_be_bytes());
            let mf = if end < payload.len() { 0x2000 } else { 0 };
            let fo = mf | (start / 8) as u16;
            f[6..8].copy_from_slice(&fo.to_be_bytes());
            fix_v4_checksum(&mut f);
            start = end;
            f
        })
        .collect()
}

/// An IPv6 UDP datagram from `src` with `n` payload bytes.
fn udp6(src: [u8; 16], n: usize) -> Vec<u8> {
    let b = PacketBuilder::ipv6(src, SERVER6, 64).udp(4000, 53);
    let payload: Vec<u8> = (0..n).map(|i| (i * 13) as u8).collect();
    let mut v = Vec::new();
    b.write(&mut v, &payload).unwrap();
    v
}

/// RFC 8200 §4.5: the fragments of `datagram` (no extension headers) with
/// Identification `id`, cut at the given offsets of the fragmentable part.
fn frags6(datagram: &[u8], id: u32, cuts: &[usize]) -> Vec<Vec<u8>> {
    let part = &datagram[40..];
    let mut bounds = cuts.to_vec();
    bounds.push(part.len());
    let mut start = 0;
    bounds
        .iter()
        .map(|&end| {
            let mut f = datagram[..40].to_vec();
            f[6] = 44;
            let more = u16::from(end < part.len());
            let om = ((start / 8) as u16) << 3 | more;
            f.extend_from_slice(&[datagram[6], 0]);
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

fn push(r: &mut Reassembly, bytes: &[u8], now: u64) -> (Outcome, Vec<u8>) {
    let mut p = PacketBuf::from_packet(bytes);
    let o = r.push(&mut p, now);
    (o, p.data().to_vec())
}

/// RFC 6146 §3.4: "A NAT64 MUST handle fragments arriving out of order"; the last
/// fragment first, then the first: the datagram comes back whole, byte for byte.
#[test]
fn rfc6146_3_4_ipv4_fragments_out_of_order_rebuild_the_datagram() {
    let mut r = Reassembly::new(limits(64));
    let d = udp4(SERVER4, 3000);
    let f = frags4(&d, &[1480, 2960]);
    assert_eq!(push(&mut r, &f[2], 0).0, Outcome::Queued);
    assert_eq!(push(&mut r, &f[0], 1).0, Outcome::Queued);
    assert_eq!(r.held(), 2);
    let (o, whole) = push(&mut r, &f[1], 2);
    assert_eq!(o, Outcome::Complete);
    assert_eq!(whole, d);
    assert_eq!(r.held(), 0);
    assert_eq!(r.counts().reassembled, 1);
}

/// RFC 8200 §4.5 / RFC 7915 §5.1.1: an IPv6 datagram comes back with an atomic
/// Fragment header that keeps its Identification for the IPv4 side.
#[test]
fn rfc8200_4_5_ipv6_fragments_rebuild_with_an_atomic_fragment_header() {
    let mut r = Reassembly::new(limits(64));
    let d = udp6(CLIENT6, 3000);
    let f = frags6(&d, 0xabcd_1234, &[1232, 2464]);
    assert_eq!(push(&mut r, &f[1], 0).0, Outcome::Queued);
    assert_eq!(push(&mut r, &f[2], 0).0, Outcome::Queued);
    let (o, whole) = push(&mut r, &f[0], 0);
    assert_eq!(o, Outcome::Complete);
    let mut want = d[..40].to_vec();
    want[6] = 44;
    want[4..6].copy_from_slice(&((d.len() - 40 + 8) as u16).to_be_bytes());
    want.extend_from_slice(&[17, 0, 0, 0, 0xab, 0xcd, 0x12, 0x34]);
    want.extend_from_slice(&d[40..]);
    assert_eq!(whole, want);
}

/// Packets that are no fragments pass through, atomic fragments (RFC 8021) included.
#[test]
fn whole_packets_and_atomic_fragments_are_not_held() {
    let mut r = Reassembly::new(limits(8));
    assert_eq!(push(&mut r, &udp4(SERVER4, 100), 0).0, Outcome::Whole);
    let d = udp6(CLIENT6, 100);
    assert_eq!(push(&mut r, &d, 0).0, Outcome::Whole);
    let atomic = frags6(&d, 7, &[]);
    assert_eq!(push(&mut r, &atomic[0], 0).0, Outcome::Whole);
    assert_eq!(r.held(), 0);
}

/// RFC 6146 §3.4: fragments are allowed "over a time interval" (FRAGMENT_MIN, 2 s);
/// after it the datagram and its fragments are dropped, and a late fragment starts over.
#[test]
fn rfc6146_3_4_incomplete_datagrams_time_out() {
    let mut r = Reassembly::new(limits(64));
    let f = frags4(&udp4(SERVER4, 3000), &[1480, 2960]);
    push(&mut r, &f[0], 0);
    push(&mut r, &f[1], 500);
    assert_eq!(r.expire(TIMEOUT - 1), 0);
    assert!(!r.due(TIMEOUT - 1) && r.due(TIMEOUT));
    assert_eq!(r.expire(TIMEOUT), 2);
    assert!(!r.due(TIMEOUT));
    assert_eq!(r.held(), 0);
    assert_eq!(r.counts().timed_out, 2);
    assert_eq!(push(&mut r, &f[2], TIMEOUT + 1).0, Outcome::Queued);
    assert_eq!(r.held(), 1);
}

/// RFC 5722 / RFC 8200 §4.5: overlapping fragments abandon the datagram, and its later
/// fragments are dropped too; an exact duplicate is dropped alone.
#[test]
fn rfc5722_overlap_abandons_the_datagram_duplicates_do_not() {
    let mut r = Reassembly::new(limits(64));
    let d = udp6(CLIENT6, 3000);
    let f = frags6(&d, 9, &[1232, 2464]);
    assert_eq!(push(&mut r, &f[0], 0).0, Outcome::Queued);
    assert_eq!(
        push(&mut r, &f[0], 0).0,
        Outcome::Drop(R::FragmentDuplicate)
    );
    assert_eq!(push(&mut r, &f[1], 0).0, Outcome::Queued);
    assert_eq!(push(&mut r, &f[2], 0).0, Outcome::Complete);
    // Overlap: a second piece at offset 1224 overlapping [1232, 2464).
    let g = frags6(&d, 10, &[1224, 2464]);
    let h = frags6(&d, 10, &[1232, 2464]);
    assert_eq!(push(&mut r, &g[1], 0).0, Outcome::Queued);
    assert_eq!(push(&mut r, &h[1], 0).0, Outcome::Drop(R::FragmentOverlap));
    assert_eq!(r.held(), 0);
    assert_eq!(push(&mut r, &h[0], 0).0, Outcome::Drop(R::FragmentOverlap));
    assert_eq!(push(&mut r, &h[2], 0).0, Outcome::Drop(R::FragmentOverlap));
    r.expire(TIMEOUT);
    assert_eq!(push(&mut r, &h[2], TIMEOUT).0, Outcome::Queued);
}

/// RFC 7112 §5 / RFC 1858: a first fragment must hold the whole transport header;
/// RFC 8200 §4.5: every fragment but the last is a multiple of 8 bytes, none is empty.
#[test]
fn rfc7112_tiny_first_fragments_and_bad_lengths_are_dropped() {
    let mut r = Reassembly::new(limits(64));
    let d = udp4(SERVER4, 100);
    let empty = frags4(&d, &[0, 8]);
    assert_eq!(
        push(&mut r, &empty[0], 0).0,
        Outcome::Drop(R::FragmentBadLength)
    );
    let udp_hdr_cut = frags4(&d, &[8]);
    assert_eq!(push(&mut r, &udp_hdr_cut[0], 0).0, Outcome::Queued);
    // TCP needs 20 bytes in the first fragment; 8 are not enough.
    let mut tcp = Vec::new();
    PacketBuilder::ipv4(SERVER4, CLIENT4, 64)
        .tcp(80, 4000, 1, 1000)
        .write(&mut tcp, &[7u8; 100])
        .unwrap();
    tcp[6] = 0;
    fix_v4_checksum(&mut tcp);
    let t = frags4(&tcp, &[8]);
    assert_eq!(
        push(&mut r, &t[0], 0).0,
        Outcome::Drop(R::FragmentTinyFirst)
    );
    let mut odd = frags4(&d, &[16])[0].clone();
    odd.truncate(20 + 12);
    odd[2..4].copy_from_slice(&32u16.to_be_bytes());
    odd[4] ^= 2;
    fix_v4_checksum(&mut odd);
    assert_eq!(push(&mut r, &odd, 0).0, Outcome::Drop(R::FragmentBadLength));
}

/// Two different ends for one datagram, or data past its end: no datagram.
#[test]
fn inconsistent_ends_abandon_the_datagram() {
    let mut r = Reassembly::new(limits(64));
    let d = udp4(SERVER4, 3000);
    let a = frags4(&d, &[1480, 2960]);
    // The same datagram ending at 2 960 (as if the last piece were lost and another
    // sender claimed that end) after the true end at 3 008.
    let b = frags4(&d[..20 + 2960], &[1480]);
    assert_eq!(push(&mut r, &a[2], 0).0, Outcome::Queued);
    assert_eq!(
        push(&mut r, &b[1], 0).0,
        Outcome::Drop(R::FragmentBadLength)
    );
    assert_eq!(
        push(&mut r, &a[0], 0).0,
        Outcome::Drop(R::FragmentBadLength)
    );
}

/// A first fragment of `udp4(src, 3000)` with Identification `id` (its datagram never
/// completes without the second).
fn orphan4(src: [u8; 4], id: u16) -> Vec<u8> {
    let mut f = frags4(&udp4(src, 3000), &[1480, 2960])[0].clone();
    f[4..6].copy_from_slice(&id.to_be_bytes());
    fix_v4_checksum(&mut f);
    f
}

/// RFC 6146 §3.4: "The NAT64 MUST limit the amount of resources devoted to the storage
/// of fragmented packets": one source holds at most an eighth of the slots, all sources
/// together the slots. At either limit the oldest datagram gives way (the source's own
/// at its share), so a source whose fragments were lost keeps being served, and other
/// sources keep being served while one floods.
#[test]
fn rfc6146_3_4_resources_are_limited_per_source_and_in_all() {
    let mut r = Reassembly::new(limits(64));
    let share = limits(64).share();
    for id in 0..share {
        assert_eq!(
            push(&mut r, &orphan4(SERVER4, id as u16), 0).0,
            Outcome::Queued
        );
    }
    assert_eq!(r.held(), share);
    // At its share, the source's newest datagram pushes out its oldest.
    for id in 0..3u16 {
        assert_eq!(
            push(&mut r, &orphan4(SERVER4, 900 + id), 1).0,
            Outcome::Queued
        );
    }
    assert_eq!(r.held(), share);
    assert_eq!(r.counts().evicted_share, 3);
    // ... and a datagram of that source still completes.
    let d = udp4(SERVER4, 2000);
    let g = frags4(&d, &[1480]);
    assert_eq!(push(&mut r, &g[1], 2).0, Outcome::Queued);
    assert_eq!(push(&mut r, &g[0], 2).0, Outcome::Complete);
    assert_eq!(r.counts().evicted_share, 5);
    assert_eq!(r.held(), share - 2);
    // Another source completes a datagram meanwhile, evicting nothing.
    let d = udp4([198, 51, 100, 3], 2000);
    let g = frags4(&d, &[1480]);
    assert_eq!(push(&mut r, &g[1], 2).0, Outcome::Queued);
    assert_eq!(push(&mut r, &g[0], 2).0, Outcome::Complete);
    assert_eq!(r.counts().evicted_share, 5);
    assert_eq!(r.counts().evicted_limit, 0);
    // Many sources fill every slot; then the oldest of all give way.
    for s in 0..64u8 {
        assert_eq!(
            push(&mut r, &orphan4([198, 51, 101, s], 1), 3).0,
            Outcome::Queued
        );
    }
    assert_eq!(r.held(), 64);
    assert_eq!(r.counts().evicted_limit, share as u64 - 2);
    assert_eq!(r.counts().queued, (share + 3 + 2 + 64) as u64);
}

/// The datagram a fragment belongs to is never what gives way for it: a source whose
/// share one datagram takes has that fragment refused instead.
#[test]
fn a_datagram_larger_than_the_share_is_refused() {
    let mut r = Reassembly::new(limits(16));
    let share = limits(16).share();
    let d = udp4(SERVER4, 8 * 64);
    let cuts: Vec<usize> = (1..64).map(|i| i * 8).collect();
    let f = frags4(&d, &cuts);
    for x in f.iter().take(share) {
        assert_eq!(push(&mut r, x, 0).0, Outcome::Queued);
    }
    assert_eq!(
        push(&mut r, &f[share], 0).0,
        Outcome::Drop(R::FragmentSourceLimit)
    );
}

/// A datagram of more than MAX_FRAGMENTS_PER_DATAGRAM pieces is given up.
#[test]
fn too_many_fragments_abandon_the_datagram() {
    let mut r = Reassembly::new(limits(4096));
    let d = udp4(SERVER4, 8 * 200);
    let cuts: Vec<usize> = (1..200).map(|i| i * 8).collect();
    let f = frags4(&d, &cuts);
    let n = usize::from(MAX_FRAGMENTS_PER_DATAGRAM);
    for (i, x) in f.iter().enumerate().take(n) {
        assert_eq!(push(&mut r, x, 0).0, Outcome::Queued, "{i}");
    }
    assert_eq!(push(&mut r, &f[n], 0).0, Outcome::Drop(R::FragmentTooMany));
    assert_eq!(r.held(), 0);
}

proptest! {
    /// Any order, with duplicates and stray fragments of other datagrams mixed in:
    /// every datagram completes exactly once and equals what was sent, and nothing stays
    /// held afterwards.
    #[test]
    fn any_order_rebuilds_every_datagram(seed in any::<u64>(), n in 1usize..5) {
        let mut r = Reassembly::new(limits(256));
        let mut all = Vec::new();
        let mut want = Vec::new();
        for k in 0..n {
            let d = udp4([198, 51, 100, k as u8 + 10], 1000 + 700 * k);
            let cuts: Vec<usize> = (1..=k + 1).map(|i| i * 504).filter(|&c| c < d.len() - 28).collect();
            all.extend(frags4(&d, &cuts));
            want.push(d);
        }
        let mut x = seed | 1;
        for i in (1..all.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            all.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let mut got = Vec::new();
        for f in &all {
            match push(&mut r, f, 0) {
                (Outcome::Complete, whole) => got.push(whole),
                (Outcome::Queued, _) => {}
                (o, _) => prop_assert!(false, "{o:?}"),
            }
        }
        got.sort();
        want.sort();
        prop_assert_eq!(got, want);
        prop_assert_eq!(r.held(), 0);
    }

    /// Random bytes never panic and never push the held count past the slots.
    #[test]
    fn random_fragments_stay_within_the_limit(bytes in proptest::collection::vec(any::<u8>(), 0..200), n in 1usize..40) {
        let mut r = Reassembly::new(limits(16));
        for i in 0..n {
            let mut f = frags4(&udp4(SERVER4, 600), &[64, 200])[i % 3].clone();
            for (j, b) in bytes.iter().enumerate() {
                if let Some(x) = f.get_mut((j * 7 + i) % 64) {
                    *x ^= b;
                }
            }
            let _ = push(&mut r, &f, i as u64 * 100);
            prop_assert!(r.held() <= 16);
        }
        r.expire(u64::MAX);
        prop_assert_eq!(r.held(), 0);
    }
}
