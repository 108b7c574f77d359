//! A worker's device, its preallocated buffers, its counters and its ICMP error limits:
//! everything an engine needs to turn one received packet into written frames.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tracing::warn;

use super::counters::Counters;
use super::device::{Device, SendError};
use super::ratelimit::{IcmpErrorLimiter, IcmpErrorLimits};
use crate::wire::buf::PacketBuf;
use crate::wire::vnet::Offload;
use crate::xlat::{Frame, Output, Translator, Verdict};

/// Set once the first refused offload frame was logged, so the log says it once per
/// process, not once per packet.
static OFFLOAD_REFUSAL_LOGGED: AtomicBool = AtomicBool::new(false);

pub struct Io<D> {
    pub dev: D,
    /// The packet being translated.
    pub pkt: PacketBuf,
    pub out: Output,
    pub counters: Arc<Counters>,
    /// Where a UDP super-packet's datagrams are built one at a time (see `split_udp`).
    pub seg: PacketBuf,
    /// Decides which of the ICMP errors the translator generated are sent; no limit
    /// until the worker is given its limits.
    pub icmp_limit: IcmpErrorLimiter,
}

impl<D: Device> Io<D> {
    pub fn new(dev: D) -> Self {
        Io {
            dev,
            pkt: PacketBuf::new(),
            out: Output::new(),
            counters: Arc::new(Counters::new()),
            seg: PacketBuf::new(),
            icmp_limit: IcmpErrorLimiter::new(IcmpErrorLimits::NONE),
        }
    }

    /// Translates the UDP super-packet in `pkt` datagram by datagram with `translate`
    /// (a plain translator: each datagram has its own complete checksum) and writes
    /// each result: for super-packets whose datagrams RFC 7915 fragments, which one
    /// offload header cannot describe. Each datagram is counted as a packet of its own.
    pub fn split_udp(
        &mut self,
        offload: Offload,
        mut translate: impl FnMut(&mut PacketBuf, &mut Output) -> Verdict,
    ) {
        self.counters.udp_split.add(1);
        let mut i = 0;
        while Translator::udp_datagram(self.pkt.data(), offload, i, &mut self.seg) {
            std::mem::swap(&mut self.pkt, &mut self.seg);
            let v = translate(&mut self.pkt, &mut self.out);
            let dropped = self.account(v);
            self.send_out(dropped);
            std::mem::swap(&mut self.pkt, &mut self.seg);
            i += 1;
        }
    }

    /// Counts what the translator did with one input packet; returns whether it was
    /// dropped (so that its frames, if any, are ICMP errors).
    #[inline]
    pub fn account(&self, verdict: Verdict) -> bool {
        let c = &*self.counters;
        if self.out.udp_checksum_computed() {
            c.udp_checksum_computed.add(1);
        }
        match verdict {
            Verdict::V6ToV4 => {
                c.v6_to_v4.add(1);
                false
            }
            Verdict::V4ToV6 => {
                c.v4_to_v6.add(1);
                false
            }
            Verdict::Hairpinned => {
                c.hairpinned.add(1);
                false
            }
            Verdict::Drop(reason) => {
                c.drop(reason);
                true
            }
            Verdict::LinkScope => {
                c.link_scope.add(1);
                false
            }
        }
    }

    /// Writes every frame in `out`; `errors` says they are ICMP errors the translator
    /// generated (rate-limited and counted as such).
    #[inline]
    pub fn send_out(&mut self, errors: bool) {
        let (dev, out, pkt, c) = (&mut self.dev, &self.out, &self.pkt, &*self.counters);
        if errors {
            send_errors(dev, out, pkt, c, &mut self.icmp_limit);
        } else {
            send_frames(dev, out, pkt, c);
        }
    }
}

/// Writes every frame of `out` (bodies from `pkt`) to `dev` and counts the outcome:
/// the body of [`Io::send_out`] for translated packets.
#[inline]
pub fn send_frames<D: Device>(dev: &mut D, out: &Output, pkt: &PacketBuf, c: &Counters) {
    for f in out.frames() {
        send_frame(dev, out, pkt, c, f);
    }
}

/// Writes the frames of `out` that are ICMP errors the translator generated, as far as
/// `limit` lets them go, and counts them: the body of [`Io::send_out`] for dropped
/// packets, callable with the fields borrowed apart (as the NAT64 expiry does while it
/// fills `out`). Each error is whole in its head (the translator builds it there).
#[inline]
pub fn send_errors<D: Device>(
    dev: &mut D,
    out: &Output,
    pkt: &PacketBuf,
    c: &Counters,
    limit: &mut IcmpErrorLimiter,
) {
    for f in out.frames() {
        let head = out.scratch().get(f.head_range()).unwrap_or_default();
        if !limit.allow(head) {
            c.icmp_errors_rate_limited.add(1);
        } else if send_frame(dev, out, pkt, c, f) {
            c.icmp_errors.add(1);
        }
    }
}

/// Writes one frame and counts the outcome; returns whether it was written.
#[inline]
fn send_frame<D: Device>(
    dev: &mut D,
    out: &Output,
    pkt: &PacketBuf,
    c: &Counters,
    f: &Frame,
) -> bool {
    match dev.send_frame(out, pkt, f) {
        Ok(len) => {
            c.tx_packets.add(1);
            c.tx_bytes.add(len as u64);
            true
        }
        Err(SendError::Io(e)) => {
            c.write_errors.add(1);
            if !f.offload.is_none() && e.raw_os_error() == Some(libc::EINVAL) {
                c.offload_write_errors.add(1);
                log_offload_refusal(f.offload);
            }
            false
        }
        Err(SendError::BadFrame) => {
            c.bad_frames.add(1);
            false
        }
    }
}

/// Logs the first frame whose offload metadata the kernel refused; later ones are only
/// counted (`offload_write_errors`).
#[cold]
fn log_offload_refusal(o: Offload) {
    if !OFFLOAD_REFUSAL_LOGGED.swap(true, Ordering::Relaxed) {
        warn!(
            "the kernel refused a frame with offload metadata {o:?} (EINVAL); such frames \
             are counted in offload_write_errors and not logged again; if this repeats, \
             run with --offload false and report it"
        );
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::os::fd::RawFd;

    use etherparse::icmpv4::DestUnreachableHeader;
    use etherparse::{Icmpv4Type, Icmpv6Type, PacketBuilder, SlicedPacket, TransportSlice};

    use super::*;
    use crate::addr::AddrMapper;
    use crate::dataplane::engine::{Engine, SiitEngine};
    use crate::dataplane::live::Live;
    use crate::dataplane::nat64::Nat64Engine;
    use crate::nat64::{Pool4, Shard, ShardConfig};
    use crate::wire::vnet::Offload;
    use crate::xlat::reassembly;
    use crate::xlat::{DropReason, Nat64Translator, XlatConfig};

    /// A device that keeps what is written to it.
    #[derive(Default)]
    struct Sink {
        frames: Vec<Vec<u8>>,
    }

    impl Device for Sink {
        fn name(&self) -> &str {
            "sink"
        }
        fn wake_fd(&self) -> RawFd {
            -1
        }
        fn offloads(&self) -> bool {
            false
        }
        fn recv_batch(&mut self, _: &mut [PacketBuf], _: &mut [Offload]) -> io::Result<usize> {
            Err(io::ErrorKind::WouldBlock.into())
        }
        fn send_frame(
            &mut self,
            out: &Output,
            pkt: &PacketBuf,
            f: &Frame,
        ) -> Result<usize, SendError> {
            let (Some(head), Some(body)) = (
                out.scratch().get(f.head_range()),
                pkt.raw().get(f.body_range()),
            ) else {
                return Err(SendError::BadFrame);
            };
            self.frames.push([head, body].concat());
            Ok(head.len() + body.len())
        }
    }

    const CLI6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    const SRV6: [u8; 16] = [
        0x20, 0x01, 0x0d, 0xb8, 0, 0x64, 0, 0, 0, 0, 0, 0, 198, 51, 100, 130,
    ];
    const CLI4: [u8; 4] = [192, 0, 2, 2];
    const RTR4: [u8; 4] = [198, 51, 100, 126];
    const SRV4: [u8; 4] = [198, 51, 100, 130];

    /// The lab's SIIT translator: prefix 2001:db8:64::/96, EAM 2001:db8:1::/120 =
    /// 192.0.2.0/24.
    fn siit() -> Translator {
        let map = AddrMapper::new(
            Some("2001:db8:64::/96".parse().unwrap()),
            &[(
                "2001:db8:1::/120".parse().unwrap(),
                "192.0.2.0/24".parse().unwrap(),
            )],
            true,
        )
        .unwrap();
        Translator::new(XlatConfig {
            map,
            ipv4_addr: "203.0.113.1".parse().unwrap(),
            ipv6_addr: "2001:db8:64::cb00:7101".parse().unwrap(),
            ..XlatConfig::default()
        })
    }

    fn io(limits: IcmpErrorLimits) -> Io<Sink> {
        let mut io = Io::new(Sink::default());
        io.icmp_limit = IcmpErrorLimiter::new(limits);
        io
    }

    fn udp6(hop_limit: u8) -> Vec<u8> {
        let b = PacketBuilder::ipv6(CLI6, SRV6, hop_limit).udp(40000, 53);
        let mut v = Vec::new();
        b.write(&mut v, b"probe").unwrap();
        v
    }

    /// What the worker loop does with one packet read at `now` (see `Worker::handle`).
    fn handle<E: Engine>(io: &mut Io<Sink>, engine: &mut E, bytes: &[u8], now: u64) {
        io.icmp_limit.set_now(now);
        io.pkt = PacketBuf::from_packet(bytes);
        if let Some(v) = engine.translate(io, Offload::NONE, now) {
            let dropped = io.account(v);
            io.send_out(dropped);
        }
    }

    fn icmpv4_type(frame: &[u8]) -> Option<Icmpv4Type> {
        match SlicedPacket::from_ip(frame).ok()?.transport? {
            TransportSlice::Icmpv4(i) => Some(i.icmp_type()),
            _ => None,
        }
    }

    fn icmpv6_type(frame: &[u8]) -> Option<Icmpv6Type> {
        match SlicedPacket::from_ip(frame).ok()?.transport? {
            TransportSlice::Icmpv6(i) => Some(i.icmp_type()),
            _ => None,
        }
    }

    /// RFC 4443 §2.4(f): "an IPv6 node MUST limit the rate of ICMPv6 error messages it
    /// originates", and "allowing up to B error messages to be transmitted in a burst".
    /// 2000 packets whose hop limit expires in the translator (RFC 7915 §5.1), one per
    /// ms for 2 s, at 100/s with a burst of 10: 10 + 100 × 1.999 Time Exceeded go out,
    /// the rest are counted as rate-limited, and every packet as a drop.
    #[test]
    fn rfc4443_s2_4_f_a_burst_of_errors_gives_burst_plus_rate_times_t() {
        let mut t = SiitEngine::new(&Live::new(siit()));
        let mut io = io(IcmpErrorLimits {
            rate: 100,
            burst: 10,
            destination_rate: 0,
        });
        let expiring = udp6(1);
        for now in 0..2000 {
            handle(&mut io, &mut t, &expiring, now);
        }
        let sent = 10 + 100 * 1999 / 1000;
        assert_eq!(io.dev.frames.len(), sent);
        for f in &io.dev.frames {
            assert!(
                matches!(icmpv6_type(f), Some(Icmpv6Type::TimeExceeded(_))),
                "{f:?}"
            );
        }
        let c = io.counters.snapshot();
        assert_eq!(c.icmp_errors, sent as u64);
        assert_eq!(c.icmp_errors_rate_limited, 2000 - sent as u64);
        assert_eq!(c.tx_packets, sent as u64);
        assert_eq!(c.dropped_total(), 2000);
    }

    /// RFC 4443 §2.4(f) limits the errors a node "originates": with the bucket empty,
    /// translated packets and the ICMPv4 errors of an IPv4 router that the translator
    /// only translates (RFC 7915 §4.2) all go out.
    #[test]
    fn rfc4443_s2_4_f_translated_packets_and_errors_are_not_limited() {
        let mut t = SiitEngine::new(&Live::new(siit()));
        let mut io = io(IcmpErrorLimits {
            rate: 1,
            burst: 1,
            destination_rate: 1,
        });
        handle(&mut io, &mut t, &udp6(1), 0);
        handle(&mut io, &mut t, &udp6(1), 0);
        assert_eq!(io.dev.frames.len(), 1);
        for _ in 0..100 {
            handle(&mut io, &mut t, &udp6(64), 0);
        }
        // The router's Time Exceeded about a translated packet (TTL expired in transit).
        let quoted = {
            let b = PacketBuilder::ipv4(CLI4, SRV4, 1).udp(40000, 53);
            let mut v = Vec::new();
            b.write(&mut v, b"probe").unwrap();
            v
        };
        let b = PacketBuilder::ipv4(RTR4, CLI4, 64).icmpv4(Icmpv4Type::TimeExceeded(
            etherparse::icmpv4::TimeExceededCode::TtlExceededInTransit,
        ));
        let mut err4 = Vec::new();
        b.write(&mut err4, &quoted).unwrap();
        for _ in 0..100 {
            handle(&mut io, &mut t, &err4, 0);
        }
        assert_eq!(io.dev.frames.len(), 201);
        let c = io.counters.snapshot();
        assert_eq!((c.v6_to_v4, c.v4_to_v6), (100, 100));
        assert_eq!((c.icmp_errors, c.icmp_errors_rate_limited), (1, 1));
        let translated = io.dev.frames.last().unwrap();
        assert!(matches!(
            icmpv6_type(translated),
            Some(Icmpv6Type::TimeExceeded(_))
        ));
    }

    fn nat64(icmp_on_refusal: bool) -> Nat64Translator {
        let map = AddrMapper::new(Some("2001:db8:64::/96".parse().unwrap()), &[], true).unwrap();
        Nat64Translator::new(
            XlatConfig {
                map,
                ipv4_addr: "203.0.113.1".parse().unwrap(),
                ipv6_addr: "2001:db8:64::cb00:7101".parse().unwrap(),
                ..XlatConfig::default()
            },
            icmp_on_refusal,
        )
        .unwrap()
    }

    fn nat64_engine(xlat: &Nat64Translator) -> Nat64Engine<'_> {
        let shard = Shard::new(
            ShardConfig::new(Pool4::new(vec!["203.0.113.16".parse().unwrap()]), 1024),
            7,
        )
        .unwrap();
        let frags = reassembly::Limits {
            slots: 64,
            slot_len: 1500,
            timeout_ms: 2000,
            subscriber_prefix_len: 64,
        };
        Nat64Engine::new(xlat, shard, frags)
    }

    fn to_pool4(src: [u8; 4], sport: u16, dport: u16, syn: bool) -> Vec<u8> {
        let b = PacketBuilder::ipv4(src, [203, 0, 113, 16], 64);
        let mut v = Vec::new();
        if syn {
            b.tcp(sport, dport, 1, 64240)
                .syn()
                .write(&mut v, &[])
                .unwrap();
        } else {
            b.udp(sport, dport).write(&mut v, b"anyone?").unwrap();
        }
        v
    }

    /// RFC 6146 §3.5.2.2: held IPv4 SYNs that see no simultaneous open are answered
    /// with ICMP Port Unreachable when they expire; those answers are errors the
    /// translator originates, and the expiry sends them through the same buckets.
    /// Five SYNs from five /24s, a worker bucket of 2: two answers, three rate-limited.
    #[test]
    fn rfc6146_s3_5_2_2_held_syn_answers_are_rate_limited() {
        let xlat = nat64(false);
        let mut engine = nat64_engine(&xlat);
        let mut io = io(IcmpErrorLimits {
            rate: 1,
            burst: 2,
            destination_rate: 10,
        });
        for i in 0..5u8 {
            let syn = to_pool4([198, 51, 100 + i, 7], 50000, 4000, true);
            handle(&mut io, &mut engine, &syn, 0);
        }
        assert!(io.dev.frames.is_empty());
        assert_eq!(io.counters.snapshot().dropped(DropReason::Nat64HeldSyn), 5);
        io.icmp_limit.set_now(7000);
        engine.tick(&mut io, 7000);
        assert_eq!(io.counters.snapshot().held_syns_expired, 5);
        assert_eq!(io.dev.frames.len(), 2);
        let c = io.counters.snapshot();
        assert_eq!((c.icmp_errors, c.icmp_errors_rate_limited), (2, 3));
        for f in &io.dev.frames {
            assert_eq!(
                icmpv4_type(f),
                Some(Icmpv4Type::DestinationUnreachable(
                    DestUnreachableHeader::Port
                )),
                "{f:?}"
            );
        }
    }

    /// RFC 6146 §3.5.1 with `icmp-on-refusal`: a pool4 scan from one /24 draws at most
    /// the per-destination burst of 3/13 errors (10), whatever the worker's budget.
    #[test]
    fn rfc6146_s3_5_1_refusals_of_a_scan_are_rate_limited_per_destination() {
        let xlat = nat64(true);
        let mut engine = nat64_engine(&xlat);
        let mut io = io(IcmpErrorLimits {
            rate: 1000,
            burst: 50,
            destination_rate: 10,
        });
        for port in 0..200u16 {
            let probe = to_pool4([198, 51, 100, 7], 50000, 2000 + port, false);
            handle(&mut io, &mut engine, &probe, 0);
        }
        let c = io.counters.snapshot();
        assert_eq!(c.dropped(DropReason::Nat64NoMapping), 200);
        assert_eq!((c.icmp_errors, c.icmp_errors_rate_limited), (10, 190));
        for f in &io.dev.frames {
            assert_eq!(
                icmpv4_type(f),
                Some(Icmpv4Type::DestinationUnreachable(
                    DestUnreachableHeader::FilterProhibited
                )),
                "{f:?}"
            );
        }
        // Another sender still gets its error.
        let other = to_pool4([192, 0, 2, 99], 50000, 2000, false);
        handle(&mut io, &mut engine, &other, 0);
        assert_eq!(io.counters.snapshot().icmp_errors, 11);
    }
}
