//! Rate limits on the ICMP errors the translator originates (RFC 4443 §2.4(f), RFC 1812
//! §4.3.2.8): Time Exceeded, Packet Too Big / Fragmentation Needed, Parameter Problem,
//! Destination Unreachable, whoever asked for them.
//!
//! The translator is sans-IO and shared by every worker, so it builds each error it is
//! asked for; the worker decides on the way out whether the error is sent. That costs
//! one error's construction per suppressed error and saves its write, the expensive
//! part. ICMP errors of other routers that the translator only translates are ordinary
//! translated packets and never pass here.
//!
//! An error goes out only if two token buckets (RFC 4443's "token bucket, limiting the
//! average rate of transmission to N ... but allowing up to B error messages to be
//! transmitted in a burst") each hold a token:
//! - the worker's, on every error (`icmp-error-rate`, `icmp-error-burst`);
//! - one of [`DESTINATION_BUCKETS`], chosen by a hash of the error's destination /24
//!   (IPv4) or /64 (IPv6), [`DESTINATION_BURST`] deep (`icmp-error-destination-rate`):
//!   one scanner, or one victim of spoofed sources, takes at most that share of the
//!   worker's budget. Prefixes whose hashes collide share a bucket. The hash has no
//!   secret key: whoever could aim errors at a victim's bucket can as well aim them at
//!   the victim's prefix itself. Packet Too Big and Fragmentation Needed skip this
//!   bucket (Linux exempts them from its limits altogether): a server farm behind one
//!   /24 needs one for every client it talks to, and a missing one stalls a connection
//!   (a path MTU black hole), while a sender cannot draw them faster than it sends
//!   oversized packets.
//!
//! Tokens are counted in thousandths, so a rate of N per second adds N thousandths per
//! millisecond of the worker's clock: integers only, no division, no clock read (the
//! worker passes the time of its current batch), nothing allocated after start.

use crate::wire::icmpv4::{self, Icmpv4Packet};
use crate::wire::icmpv6::{self, Icmpv6Packet};
use crate::wire::ip::IpProtocol;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::{self, Ipv6Packet};

/// Per-destination buckets per worker (a power of two): 8 KB, touched only by errors.
pub const DESTINATION_BUCKETS: usize = 512;

/// Depth of a per-destination bucket: RFC 4443 §2.4(f)'s example B = 10, room for a
/// traceroute's three probes per hop several times over.
pub const DESTINATION_BURST: u32 = 10;

/// A token is this many units: rates are whole tokens per second, the clock counts
/// milliseconds.
const UNIT: u64 = 1000;

/// The limits of one worker, from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IcmpErrorLimits {
    /// Errors per second (`icmp-error-rate`); 0: no limit.
    pub rate: u32,
    /// Bucket depth (`icmp-error-burst`): errors sent at once before `rate` applies.
    pub burst: u32,
    /// Errors per second to one destination prefix (`icmp-error-destination-rate`), in
    /// bursts of [`DESTINATION_BURST`]; 0: no limit per destination.
    pub destination_rate: u32,
}

impl IcmpErrorLimits {
    /// Every error is sent.
    pub const NONE: IcmpErrorLimits = IcmpErrorLimits {
        rate: 0,
        burst: 0,
        destination_rate: 0,
    };
}

/// A refill rate and a depth, in whole tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rate {
    per_second: u64,
    depth: u64,
}

impl Rate {
    /// None for a rate of 0 (no limit); a depth below one token would never send.
    fn new(per_second: u32, depth: u32) -> Option<Rate> {
        (per_second > 0).then(|| Rate {
            per_second: u64::from(per_second),
            depth: u64::from(depth.max(1)),
        })
    }
}

/// One token bucket: what it held at `last_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Bucket {
    units: u64,
    last_ms: u64,
}

impl Bucket {
    /// Full: a burst may go out at once, from start.
    fn full(r: Rate) -> Bucket {
        Bucket {
            units: r.depth * UNIT,
            last_ms: 0,
        }
    }

    /// Adds what the time since the last look earned, up to the depth; returns whether
    /// a token is there. A clock that went back earns nothing.
    #[inline]
    fn refill(&mut self, r: Rate, now: u64) -> bool {
        let elapsed = now.saturating_sub(self.last_ms);
        self.last_ms = self.last_ms.max(now);
        let earned = elapsed.saturating_mul(r.per_second);
        self.units = self.units.saturating_add(earned).min(r.depth * UNIT);
        self.units >= UNIT
    }

    #[inline]
    fn take(&mut self) {
        self.units = self.units.saturating_sub(UNIT);
    }
}

/// What the per-destination limit makes of an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Packet Too Big or Fragmentation Needed: exempt.
    PathMtu,
    /// Any other error, keyed by its destination prefix.
    Prefix(u64),
    /// Not a readable IP header (a translator bug): the worker's bucket alone applies.
    Unknown,
}

/// Reads the outer header of an error the translator built: its destination /24 or
/// /64, and whether it is a path MTU message.
fn classify(packet: &[u8]) -> Class {
    if let Ok(p) = Ipv4Packet::new_checked_header(packet) {
        let icmp = packet.get(p.header_len()..).unwrap_or_default();
        if p.protocol() == IpProtocol::ICMP
            && let Ok(m) = Icmpv4Packet::new_checked(icmp)
            && m.msg_type() == icmpv4::Message::DstUnreachable
            && m.code() == u8::from(icmpv4::DstUnreachable::FragRequired)
        {
            return Class::PathMtu;
        }
        let [a, b, c, _] = p.dst_addr();
        return Class::Prefix(u64::from_be_bytes([4, 0, 0, 0, 0, a, b, c]));
    }
    if let Ok(p) = Ipv6Packet::new_checked_header(packet) {
        // The translator's errors carry no extension headers.
        let icmp = packet.get(ipv6::HEADER_LEN..).unwrap_or_default();
        if p.next_header() == IpProtocol::ICMPV6
            && let Ok(m) = Icmpv6Packet::new_checked(icmp)
            && m.msg_type() == icmpv6::Message::PktTooBig
        {
            return Class::PathMtu;
        }
        let d = p.dst_addr();
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&d[..8]);
        return Class::Prefix(u64::from_be_bytes(prefix));
    }
    Class::Unknown
}

/// The bucket of a destination prefix: Fibonacci hashing, the top bits of a product.
#[inline]
fn slot(key: u64) -> usize {
    const SHIFT: u32 = u64::BITS - DESTINATION_BUCKETS.trailing_zeros();
    let h = (key ^ (key >> 32)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> SHIFT) as usize
}

/// One worker's buckets. Owned by the worker: no lock, no atomic.
#[derive(Debug)]
pub struct IcmpErrorLimiter {
    worker: Option<(Rate, Bucket)>,
    destinations: Option<(Rate, Box<[Bucket]>)>,
    /// The worker's clock (ms) for the batch it is handling.
    now: u64,
}

impl IcmpErrorLimiter {
    /// Buckets for `limits`, all full; the per-destination ones are allocated here.
    pub fn new(limits: IcmpErrorLimits) -> IcmpErrorLimiter {
        let destinations = Rate::new(limits.destination_rate, DESTINATION_BURST).map(|r| {
            (
                r,
                vec![Bucket::full(r); DESTINATION_BUCKETS].into_boxed_slice(),
            )
        });
        IcmpErrorLimiter {
            worker: Rate::new(limits.rate, limits.burst).map(|r| (r, Bucket::full(r))),
            destinations,
            now: 0,
        }
    }

    /// Sets the clock the buckets refill from: the worker calls it with the time of
    /// each batch and of each timer run, before anything is sent.
    #[inline]
    pub fn set_now(&mut self, now_ms: u64) {
        self.now = now_ms;
    }

    /// Whether the error `packet` (its IP header first) may be sent now; if so, its
    /// tokens are taken.
    #[inline]
    pub fn allow(&mut self, packet: &[u8]) -> bool {
        let now = self.now;
        let worker_ok = match &mut self.worker {
            Some((r, b)) => b.refill(*r, now),
            None => true,
        };
        let mut dest = match &mut self.destinations {
            Some((r, buckets)) => match classify(packet) {
                Class::Prefix(key) => buckets.get_mut(slot(key)).map(|b| (*r, b)),
                Class::PathMtu | Class::Unknown => None,
            },
            None => None,
        };
        let dest_ok = match &mut dest {
            Some((r, b)) => b.refill(*r, now),
            None => true,
        };
        if !(worker_ok && dest_ok) {
            return false;
        }
        if let Some((_, b)) = &mut self.worker {
            b.take();
        }
        if let Some((_, b)) = dest {
            b.take();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;

    /// An ICMPv6 Time Exceeded (RFC 4443 §3.3) to `dst`, as the translator sends it.
    fn time_exceeded6(dst: [u8; 16]) -> Vec<u8> {
        let src = [
            0x20, 0x01, 0x0d, 0xb8, 0, 0x64, 0, 0, 0, 0, 0, 0, 203, 0, 113, 1,
        ];
        let b = PacketBuilder::ipv6(src, dst, 64).icmpv6(etherparse::Icmpv6Type::TimeExceeded(
            etherparse::icmpv6::TimeExceededCode::HopLimitExceeded,
        ));
        let mut v = Vec::new();
        b.write(&mut v, &[0u8; 48]).unwrap();
        v
    }

    fn packet_too_big6(dst: [u8; 16]) -> Vec<u8> {
        let src = [
            0x20, 0x01, 0x0d, 0xb8, 0, 0x64, 0, 0, 0, 0, 0, 0, 203, 0, 113, 1,
        ];
        let b = PacketBuilder::ipv6(src, dst, 64)
            .icmpv6(etherparse::Icmpv6Type::PacketTooBig { mtu: 1280 });
        let mut v = Vec::new();
        b.write(&mut v, &[0u8; 48]).unwrap();
        v
    }

    fn unreachable4(dst: [u8; 4], code: etherparse::icmpv4::DestUnreachableHeader) -> Vec<u8> {
        let b = PacketBuilder::ipv4([203, 0, 113, 1], dst, 64)
            .icmpv4(etherparse::Icmpv4Type::DestinationUnreachable(code));
        let mut v = Vec::new();
        b.write(&mut v, &[0u8; 28]).unwrap();
        v
    }

    /// The per-destination bucket an error meets.
    fn bucket_of(pkt: &[u8]) -> usize {
        match classify(pkt) {
            Class::Prefix(key) => slot(key),
            c => panic!("{c:?}"),
        }
    }

    const CLI: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];

    fn limiter(rate: u32, burst: u32, destination_rate: u32) -> IcmpErrorLimiter {
        IcmpErrorLimiter::new(IcmpErrorLimits {
            rate,
            burst,
            destination_rate,
        })
    }

    /// How many of `n` errors, one every `gap_ms` from `start`, `l` lets through.
    fn sent(l: &mut IcmpErrorLimiter, pkt: &[u8], start: u64, n: u64, gap_ms: u64) -> u64 {
        (0..n)
            .filter(|i| {
                l.set_now(start + i * gap_ms);
                l.allow(pkt)
            })
            .count() as u64
    }

    /// RFC 4443 §2.4(f): "A recommended method for implementing the rate-limiting
    /// function is a token bucket, limiting the average rate of transmission to N ...
    /// but allowing up to B error messages to be transmitted in a burst". A fake clock:
    /// B at once, then N per second, and an idle bucket fills up to B, not beyond.
    #[test]
    fn rfc4443_s2_4_f_token_bucket_burst_then_rate() {
        let r = Rate::new(100, 5).unwrap();
        let mut b = Bucket::full(r);
        let mut take = |now: u64| {
            let ok = b.refill(r, now);
            if ok {
                b.take();
            }
            ok
        };
        // The burst, all at t = 0, then nothing.
        assert_eq!((0..8).filter(|_| take(0)).count(), 5);
        // 100/s is one token per 10 ms: not at 9 ms, at 10 ms, one only.
        assert!(!take(9));
        assert!(take(10));
        assert!(!take(10));
        // Fractions add up: 4 ms + 6 ms earn one token.
        assert!(!take(14));
        assert!(take(20));
        // An hour idle earns the depth, no more.
        let t = 3_600_000;
        assert_eq!((0..20).filter(|_| take(t)).count(), 5);
        // A clock that goes back earns nothing and breaks nothing.
        assert!(!take(t - 1000));
        assert!(take(t + 10));
    }

    /// The numbers the configuration allows cannot overflow the arithmetic.
    #[test]
    fn extreme_rates_saturate() {
        let r = Rate::new(u32::MAX, u32::MAX).unwrap();
        let mut b = Bucket::full(r);
        assert!(b.refill(r, u64::MAX));
        b.take();
        assert!(b.refill(r, u64::MAX));
        // A depth of 0 is read as 1: a bucket that never sends is no limit.
        let r = Rate::new(1, 0).unwrap();
        let mut b = Bucket::full(r);
        assert!(b.refill(r, 0));
        assert_eq!(Rate::new(0, 50), None);
    }

    /// RFC 4443 §2.4(f): "an IPv6 node MUST limit the rate of ICMPv6 error messages it
    /// originates". 1000 errors in one second at 200/s with a burst of 20: 20 + 200.
    #[test]
    fn rfc4443_s2_4_f_worker_bucket_limits_a_flood() {
        let mut l = limiter(200, 20, 0);
        let pkt = time_exceeded6(CLI);
        // One error per ms from t = 0 to 999 ms: the burst plus 199 tokens (the 200th
        // is earned at 1000 ms).
        assert_eq!(sent(&mut l, &pkt, 0, 1000, 1), 20 + 199);
    }

    /// `icmp-error-rate 0`: no limit at all, whatever the destination rate says is
    /// then the only limit.
    #[test]
    fn zero_rates_mean_no_limit() {
        let pkt = time_exceeded6(CLI);
        let mut l = IcmpErrorLimiter::new(IcmpErrorLimits::NONE);
        assert_eq!(sent(&mut l, &pkt, 0, 10_000, 0), 10_000);
        let mut l = limiter(0, 5, 10);
        assert_eq!(sent(&mut l, &pkt, 0, 100, 0), u64::from(DESTINATION_BURST));
    }

    /// RFC 1812 §4.3.2.8: "How the limits are applied (e.g., per router or per
    /// interface) is left to the implementor's discretion." Here also per destination
    /// prefix: one /64 flooding gets its 10 + 10/s, and another /64 still gets its
    /// errors out of the worker's budget.
    #[test]
    fn rfc1812_s4_3_2_8_one_destination_cannot_take_the_whole_budget() {
        let mut l = limiter(1000, 50, 10);
        let flooder = time_exceeded6(CLI);
        // 1000 errors to one /64 over one second (one per ms): the destination burst
        // and 9 more (the 10th token is earned at 1000 ms).
        assert_eq!(sent(&mut l, &flooder, 0, 1000, 1), 10 + 9);
        // Another address of the same /64 shares its bucket.
        let mut same64 = CLI;
        same64[15] = 0x99;
        assert_eq!(sent(&mut l, &time_exceeded6(same64), 999, 5, 0), 0);
        // Another /64 has a full bucket of its own.
        let mut other = CLI;
        other[7] = 2;
        assert_ne!(bucket_of(&flooder), bucket_of(&time_exceeded6(other)));
        assert_eq!(sent(&mut l, &time_exceeded6(other), 999, 20, 0), 10);
    }

    /// IPv4 errors are keyed by their destination /24: a pool4 scanner from one /24
    /// gets its share, a host of another /24 its own.
    #[test]
    fn ipv4_errors_are_keyed_by_destination_24() {
        use etherparse::icmpv4::DestUnreachableHeader as U;
        let mut l = limiter(1000, 50, 10);
        let scan = unreachable4([198, 51, 100, 7], U::FilterProhibited);
        assert_eq!(sent(&mut l, &scan, 0, 100, 0), 10);
        let neighbour = unreachable4([198, 51, 100, 200], U::FilterProhibited);
        assert_eq!(sent(&mut l, &neighbour, 0, 5, 0), 0);
        let other = unreachable4([192, 0, 2, 7], U::Port);
        assert_eq!(sent(&mut l, &other, 0, 5, 0), 5);
    }

    /// Path MTU messages (RFC 4443 §3.2 Packet Too Big; RFC 1191 Fragmentation Needed,
    /// RFC 792 type 3 code 4) skip the per-destination bucket, not the worker's.
    #[test]
    fn path_mtu_errors_skip_the_destination_bucket_only() {
        use etherparse::icmpv4::DestUnreachableHeader as U;
        let ptb = packet_too_big6(CLI);
        let frag = unreachable4(
            [198, 51, 100, 7],
            U::FragmentationNeeded { next_hop_mtu: 1480 },
        );
        assert_eq!(classify(&ptb), Class::PathMtu);
        assert_eq!(classify(&frag), Class::PathMtu);
        assert!(matches!(classify(&time_exceeded6(CLI)), Class::Prefix(_)));
        let mut l = limiter(1000, 50, 10);
        assert_eq!(sent(&mut l, &ptb, 0, 30, 0), 30);
        assert_eq!(sent(&mut l, &frag, 0, 30, 0), 20);
        // The worker's bucket is empty now: even another destination waits.
        let other = unreachable4([192, 0, 2, 7], U::Port);
        assert_eq!(sent(&mut l, &other, 0, 1, 0), 0);
        assert_eq!(sent(&mut l, &other, 1, 1, 0), 1);
    }

    /// An error that is refused takes no token from the other bucket: a destination
    /// whose own bucket is empty does not drain the worker's.
    #[test]
    fn a_refused_error_takes_no_token() {
        let mut l = limiter(1000, 15, 10);
        let pkt = time_exceeded6(CLI);
        assert_eq!(sent(&mut l, &pkt, 0, 1000, 0), 10);
        let mut other = CLI;
        other[7] = 2;
        // 15 − 10 tokens left in the worker's bucket for another /64.
        assert_eq!(sent(&mut l, &time_exceeded6(other), 0, 100, 0), 5);
    }

    /// Bytes that are no IP header (never built by the translator) meet the worker's
    /// bucket alone, and reading them cannot panic.
    #[test]
    fn unreadable_packets_meet_the_worker_bucket() {
        assert_eq!(classify(&[]), Class::Unknown);
        assert_eq!(classify(&[0x45; 10]), Class::Unknown);
        assert_eq!(classify(&[0x60; 39]), Class::Unknown);
        // A header alone, no ICMP message behind it.
        let mut v4 = unreachable4(
            [192, 0, 2, 7],
            etherparse::icmpv4::DestUnreachableHeader::Port,
        );
        v4.truncate(20);
        assert!(matches!(classify(&v4), Class::Prefix(_)));
        let mut l = limiter(10, 3, 10);
        assert_eq!(sent(&mut l, &[0xff; 3], 0, 10, 0), 3);
    }

    /// Prefixes spread over the buckets: 512 consecutive /64s and /24s fill most of them.
    #[test]
    fn prefixes_spread_over_the_buckets() {
        for base in [
            0x2001_0db8_0001_0000u64,
            u64::from_be_bytes([4, 0, 0, 0, 0, 198, 51, 0]),
        ] {
            let mut used = [false; DESTINATION_BUCKETS];
            for i in 0..DESTINATION_BUCKETS as u64 {
                used[slot(base + i)] = true;
            }
            let n = used.iter().filter(|u| **u).count();
            assert!(n > DESTINATION_BUCKETS / 2, "{n}");
        }
    }
}
