//! Stateful NAT64 (RFC 6146) on top of the RFC 7915 code: the same header rules as
//! SIIT (§3.7), with the IPv4 side of every flow taken from a [`Shard`] session.
//!
//! - IPv6→IPv4: the destination must be in pool6 (§3.5.4, RFC 6052); the source
//!   transport address is the session's binding (§3.5.1 UDP, §3.5.2 TCP, §3.5.3 ICMP
//!   echo identifier), created on the way if the flow may open one. The source port or
//!   identifier is rewritten with an RFC 1624 checksum update.
//! - IPv4→IPv6: the session gives the client address:port; the source is pool6 ∘ the
//!   IPv4 source (§3.5.4). No mapping: refused and counted, or an IPv4 SYN held for a
//!   simultaneous open (§3.5.2.2).
//! - ICMP errors (§3.4 incoming tuple from the inner packet, §3.6.1 outgoing tuple) are
//!   mapped through the session of their inner packet, read-only (they never create or
//!   refresh state), and delivered to the client that owns it.
//! - Hairpinning (§3.8): an IPv6 packet to pool6 ∘ pool4 is translated to IPv4 through
//!   the sender's session and straight back to IPv6 through the receiver's.
//!
//! Fragments arrive here reassembled (`reassembly`, driven by the worker's
//! `Nat64Core`), and IPv4 UDP with checksum 0 gets its checksum computed (§3.4).
//! Refusals produce no ICMP error unless `icmp_on_refusal` (then ICMPv4 3/13 to IPv4
//! senders, ICMPv6 1/3 to IPv6 senders refused for lack of resources, §3.5.1.1 /
//! §3.5.2.2's SHOULDs); the default is silence, so a scan of pool4 does not turn the
//! translator into an ICMP source.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::addr::{MappedBy, Prefix6052, validity};
use crate::nat64::{Endpoint4, Endpoint6, Proto, Refusal, Shard, Tuple4, Tuple6, V4Lookup};
use crate::wire::buf::PacketBuf;
use crate::wire::checksum;
use crate::wire::icmpv4::{self, DstUnreachable as Unreach4, ErrorMessage as Error4};
use crate::wire::icmpv6::{self, DstUnreachable as Unreach6, ErrorMessage as Error6};
use crate::wire::ip::IpProtocol;
use crate::wire::ipv4::{self, Ipv4Repr};
use crate::wire::tcp::{self, TcpPacket};
use crate::wire::udp;
use crate::wire::vnet::Offload;
use crate::wire::{try_be16, try_put16};

use super::ctx::{InnerV4, InnerV6, MapCtx, PortRewrite};
use super::{
    DropReason, Output, Translator, Verdict, XlatConfig, error, offload, v4_to_v6, v6_to_v4,
};

use DropReason as R;

/// An IPv4 SYN held for a simultaneous open, named as the shard names it
/// (`Event::HeldSynExpired`): `src:sport` the IPv4 peer, `dst:dport` the pool4 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct HeldSynKey {
    pub src: Ipv4Addr,
    pub sport: u16,
    pub dst: Ipv4Addr,
    pub dport: u16,
}

/// What happened to one packet in NAT64 mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nat64Verdict {
    pub verdict: Verdict,
    /// This IPv6 SYN completed a simultaneous open: the IPv4 SYN held under this key
    /// (it got `Drop(Nat64HeldSyn)` earlier) must now be translated again with
    /// [`Nat64Translator::translate`] and sent (RFC 6146 §3.5.2.2).
    pub release_held: Option<HeldSynKey>,
}

/// The stateful translator: immutable and shareable; each worker passes its own shard.
#[derive(Debug, Clone)]
pub struct Nat64Translator {
    t: Translator,
    pool6: Prefix6052,
    icmp_on_refusal: bool,
}

/// Why a [`Nat64Translator`] cannot be built from an [`XlatConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat64ConfigError {
    /// NAT64 needs pool6 (RFC 6146 §3.5.4): the IPv4 side is reached through it.
    NoPool6,
}

impl std::fmt::Display for Nat64ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Nat64ConfigError::NoPool6 => {
                f.write_str("nat64: pool6 is not set; give an RFC 6052 prefix such as 64:ff9b::/96")
            }
        }
    }
}

impl std::error::Error for Nat64ConfigError {}

impl Nat64Translator {
    /// `cfg.map` must hold the pool6 prefix (RFC 6052; 64:ff9b::/96 by default in the
    /// control layer); its EAM table, if any, is not used in NAT64 mode.
    pub fn new(mut cfg: XlatConfig, icmp_on_refusal: bool) -> Result<Self, Nat64ConfigError> {
        let Some(pool6) = cfg.map.pool6().cloned() else {
            return Err(Nat64ConfigError::NoPool6);
        };
        // RFC 6146 §3.4: the NAT64 computes the checksum of IPv4 UDP sent without one
        // (fragmented ones too: they arrive here reassembled).
        cfg.amend_udp_checksum_zero = true;
        Ok(Nat64Translator {
            t: Translator::new(cfg),
            pool6,
            icmp_on_refusal,
        })
    }

    pub fn config(&self) -> &XlatConfig {
        self.t.config()
    }

    /// See [`Translator::udp_needs_split`]: the same size rules apply in NAT64.
    #[inline]
    pub fn udp_needs_split(&self, pkt: &[u8], offload: Offload) -> bool {
        self.t.udp_needs_split(pkt, offload)
    }

    pub(super) fn pool6(&self) -> &Prefix6052 {
        &self.pool6
    }

    /// Translates one packet through `shard` (which must own the flow; see
    /// `nat64::Sharding`). `out` is cleared first.
    pub fn translate(
        &self,
        shard: &mut Shard,
        pkt: &mut PacketBuf,
        out: &mut Output,
        now_ms: u64,
    ) -> Nat64Verdict {
        self.translate_steered(shard, pkt, out, now_ms, true)
    }

    /// As [`translate`](Self::translate); `hairpin_here` false means another shard owns
    /// the IPv4 half of a §3.8 hairpin ([`Steering::hairpin`](super::Steering)): the
    /// packet is then only translated to IPv4, for the kernel to route back to the TUN.
    pub fn translate_steered(
        &self,
        shard: &mut Shard,
        pkt: &mut PacketBuf,
        out: &mut Output,
        now_ms: u64,
        hairpin_here: bool,
    ) -> Nat64Verdict {
        out.clear();
        let version = pkt.data().first().map(|b| b >> 4);
        let mut ctx = Nat64Ctx {
            shard,
            pool6: &self.pool6,
            now: now_ms,
            release: None,
            hairpin_here,
        };
        let verdict = match version {
            Some(6) => v6_to_v4::translate(&self.t, &mut ctx, pkt, out),
            Some(4) => v4_to_v6::translate(&self.t, &mut ctx, pkt, out, false),
            _ => Verdict::Drop(R::UnknownVersion),
        };
        let release_held = ctx.release;
        if let Verdict::Drop(r) = verdict
            && self.icmp_on_refusal
            // Still the packet as received (refusals happen before any rewrite; a
            // hairpinned packet refused on its way back has changed version).
            && pkt.data().first().map(|b| b >> 4) == version
        {
            self.refusal_error(r, version, pkt, out);
        }
        Nat64Verdict {
            verdict,
            release_held,
        }
    }

    /// As [`translate_steered`](Self::translate_steered) for a packet read with TUN
    /// offload metadata: partial checksums and GSO super-packets are translated whole
    /// by the same rules as in SIIT (see `offload`). Ports change in the transport
    /// header only; a partial checksum covers the pseudo-header alone, so only the
    /// address change reaches it.
    pub fn translate_offload(
        &self,
        shard: &mut Shard,
        pkt: &mut PacketBuf,
        offload: Offload,
        out: &mut Output,
        now_ms: u64,
        hairpin_here: bool,
    ) -> Nat64Verdict {
        if offload.is_none() {
            return self.translate_steered(shard, pkt, out, now_ms, hairpin_here);
        }
        let mut release_held = None;
        let verdict = offload::translate(&self.t, pkt, offload, out, |p, o| {
            let v = self.translate_steered(shard, p, o, now_ms, hairpin_here);
            release_held = v.release_held;
            v.verdict
        });
        Nat64Verdict {
            verdict,
            release_held,
        }
    }

    fn refusal_error(&self, r: DropReason, version: Option<u8>, pkt: &PacketBuf, out: &mut Output) {
        match (version, r) {
            (Some(4), R::Nat64NoMapping | R::Nat64Filtered) => {
                let e = Error4::DstUnreachable(Unreach4::CommProhibited);
                error::icmpv4(&self.t, out, pkt.data(), e, [0; 4]);
            }
            (Some(6), R::Nat64TableFull | R::Nat64SubscriberLimit | R::Nat64PoolExhausted) => {
                let e = Error6::DstUnreachable(Unreach6::AddrUnreachable);
                error::icmpv6(&self.t, out, pkt.data(), None, e, [0; 4]);
            }
            _ => {}
        }
    }

    /// A held IPv4 SYN expired without a simultaneous open (`Event::HeldSynExpired`):
    /// queues ICMP port unreachable (3/3) to its sender (RFC 6146 §3.5.2.2). `held` is
    /// the stored SYN as received; quoting it lets the sender's TCP match the error to
    /// its connection (it checks the quoted sequence number). Returns whether a frame was
    /// queued. `out` is not cleared.
    pub fn held_syn_unreachable(&self, held: &[u8], out: &mut Output) -> bool {
        let before = out.frames().len();
        let e = Error4::DstUnreachable(Unreach4::PortUnreachable);
        error::icmpv4(&self.t, out, held, e, [0; 4]);
        out.frames().len() > before
    }

    /// As [`held_syn_unreachable`](Self::held_syn_unreachable) when the SYN itself was
    /// not kept: quotes a reconstructed IPv4 + TCP header (sequence number 0, so some
    /// stacks will not match it to their connection).
    pub fn held_syn_unreachable_from_key(&self, key: HeldSynKey, out: &mut Output) -> bool {
        const LEN: usize = ipv4::HEADER_LEN + tcp::HEADER_LEN;
        let mut syn = [0u8; LEN];
        Ipv4Repr {
            tos: 0,
            total_len: LEN as u16,
            ident: 0,
            df: true,
            mf: false,
            frag_offset: 0,
            ttl: 64,
            protocol: IpProtocol::TCP,
            src: key.src.octets(),
            dst: key.dst.octets(),
        }
        .emit(&mut syn);
        let seg = &mut syn[ipv4::HEADER_LEN..];
        let Ok(mut tcp) = TcpPacket::new_checked(&mut *seg) else {
            return false;
        };
        tcp.set_src_port(key.sport);
        tcp.set_dst_port(key.dport);
        tcp.set_header_len(tcp::HEADER_LEN);
        tcp.set_flags(tcp::flags::SYN);
        let ph = checksum::pseudo_v4(
            key.src.octets(),
            key.dst.octets(),
            IpProtocol::TCP,
            tcp::HEADER_LEN as u16,
        );
        let c = !checksum::add(ph, checksum::ones_sum(seg));
        try_put16(seg, tcp::field::CHECKSUM.start, c);
        self.held_syn_unreachable(&syn, out)
    }
}

/// The NAT64 mapping for one packet: the worker's shard, the clock, and what the packet
/// did to held SYNs.
struct Nat64Ctx<'a> {
    shard: &'a mut Shard,
    pool6: &'a Prefix6052,
    now: u64,
    release: Option<HeldSynKey>,
    hairpin_here: bool,
}

fn refusal(r: Refusal) -> DropReason {
    match r {
        Refusal::NoSession => R::Nat64NoSession,
        Refusal::NoMapping => R::Nat64NoMapping,
        Refusal::Filtered | Refusal::StaticConflict => R::Nat64Filtered,
        Refusal::TableFull => R::Nat64TableFull,
        Refusal::AddrLimit | Refusal::PrefixLimit | Refusal::SubscriberTableFull => {
            R::Nat64SubscriberLimit
        }
        Refusal::PoolExhausted => R::Nat64PoolExhausted,
        Refusal::HeldTableFull => R::Nat64HeldTableFull,
    }
}

/// The IP version a transport header travels in, which says what an ICMP echo is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IpVersion {
    V4,
    V6,
}

impl IpVersion {
    /// Echo Request or Reply (RFC 792 / RFC 4443 §4): the ICMP queries NAT64 maps.
    #[inline]
    fn is_echo(self, ty: u8) -> bool {
        match self {
            IpVersion::V4 => matches!(
                icmpv4::Message::from(ty),
                icmpv4::Message::EchoRequest | icmpv4::Message::EchoReply
            ),
            IpVersion::V6 => matches!(
                icmpv6::Message::from(ty),
                icmpv6::Message::EchoRequest | icmpv6::Message::EchoReply
            ),
        }
    }
}

/// The flow's protocol and the offsets of its identifier fields, from the transport
/// header (`version`: the IP version it travels in, for the echo types). ICMP queries
/// use the identifier as both ports (RFC 6146 §3.5.3).
pub(super) struct L4Ids {
    pub(super) proto: Proto,
    /// Offsets of (source id, destination id, checksum).
    pub(super) src_at: usize,
    pub(super) dst_at: usize,
    csum_at: usize,
    udp: bool,
}

pub(super) fn l4_ids(ip_proto: IpProtocol, l4: &[u8], version: IpVersion) -> Option<L4Ids> {
    let ids = |proto, src_at, dst_at, csum_at, udp| L4Ids {
        proto,
        src_at,
        dst_at,
        csum_at,
        udp,
    };
    match ip_proto {
        IpProtocol::TCP => {
            use tcp::field::{CHECKSUM, DST_PORT, SRC_PORT};
            Some(ids(
                Proto::Tcp,
                SRC_PORT.start,
                DST_PORT.start,
                CHECKSUM.start,
                false,
            ))
        }
        IpProtocol::UDP => {
            use udp::field::{CHECKSUM, DST_PORT, SRC_PORT};
            Some(ids(
                Proto::Udp,
                SRC_PORT.start,
                DST_PORT.start,
                CHECKSUM.start,
                true,
            ))
        }
        // The ICMPv4 and ICMPv6 echo headers share one layout.
        IpProtocol::ICMP | IpProtocol::ICMPV6
            if l4
                .get(icmpv4::field::TYPE)
                .is_some_and(|&t| version.is_echo(t)) =>
        {
            use icmpv4::field::{CHECKSUM, ECHO_IDENT};
            Some(ids(
                Proto::Icmp,
                ECHO_IDENT.start,
                ECHO_IDENT.start,
                CHECKSUM.start,
                false,
            ))
        }
        _ => None,
    }
}

impl L4Ids {
    fn rewrite(&self, at: usize, value: u16) -> PortRewrite {
        PortRewrite {
            at,
            csum_at: self.csum_at,
            value,
            zero_means_none: self.udp,
        }
    }
}

impl MapCtx for Nat64Ctx<'_> {
    // The IPv4 source is the session's pool4 address, the IPv6 destination its client
    // (a static BIB entry may name any): both are checked once known.
    const BIND_SETS_ADDRESS: bool = true;

    #[inline]
    fn v6_dst(&mut self, _t: &Translator, dst6: [u8; 16]) -> Option<([u8; 4], MappedBy)> {
        let a = self.pool6.extract(Ipv6Addr::from(dst6))?;
        Some((a.octets(), MappedBy::Rfc6052))
    }

    #[inline]
    fn v6_src(
        &mut self,
        _t: &Translator,
        src6: [u8; 16],
        _is_icmp_error: bool,
    ) -> Result<[u8; 4], DropReason> {
        // RFC 6146 §3.5: IPv6 packets with a source in pool6 are silently discarded.
        if self.pool6.contains(Ipv6Addr::from(src6)) {
            return Err(R::Nat64SourceInPool6);
        }
        // The real source comes from the session in `v6_bind` (or, for an ICMPv6 error,
        // from its inner packet's session in `error_outer_v4`).
        Ok([0; 4])
    }

    #[inline]
    fn v6_hairpin(&mut self, _t: &Translator, dst4: [u8; 4], _by: MappedBy) -> bool {
        self.hairpin_here && self.shard.is_pool4(Ipv4Addr::from(dst4))
    }

    fn v6_bind(
        &mut self,
        src6: [u8; 16],
        src4: &mut [u8; 4],
        dst4: [u8; 4],
        upper: IpProtocol,
        l4: &[u8],
        fragment: bool,
    ) -> Result<Option<PortRewrite>, DropReason> {
        if fragment {
            return Err(R::Nat64Fragment);
        }
        let ids = l4_ids(upper, l4, IpVersion::V6).ok_or(R::Nat64UnsupportedProtocol)?;
        let (Some(sport), Some(dport)) = (try_be16(l4, ids.src_at), try_be16(l4, ids.dst_at))
        else {
            return Err(R::TransportTruncated);
        };
        let flags = if ids.proto == Proto::Tcp {
            l4.get(tcp::field::FLAGS).copied().unwrap_or(0)
        } else {
            0
        };
        let dst = Ipv4Addr::from(dst4);
        let t = Tuple6 {
            proto: ids.proto,
            v6: Endpoint6::new(Ipv6Addr::from(src6), sport),
            remote: Endpoint4::new(dst, dport),
        };
        let o = self
            .shard
            .lookup_or_create_v6(t, flags, self.now)
            .map_err(refusal)?;
        if o.simultaneous_open {
            self.release = Some(HeldSynKey {
                src: dst,
                sport: dport,
                dst: o.src,
                dport: o.sport,
            });
        }
        *src4 = o.src.octets();
        Ok(Some(ids.rewrite(ids.src_at, o.sport)))
    }

    #[inline]
    fn v4_addrs(
        &mut self,
        _t: &Translator,
        src4: [u8; 4],
        _dst4: [u8; 4],
        from_hairpin: bool,
    ) -> Result<([u8; 16], [u8; 16], bool), DropReason> {
        let src6 = self
            .pool6
            .embed(Ipv4Addr::from(src4))
            .ok_or(R::Ipv4SourceUnmapped)?;
        // The destination comes from the session in `v4_bind` (or `error_outer_v6`).
        Ok((src6.octets(), [0; 16], from_hairpin))
    }

    #[inline]
    fn v4_may_answer(&mut self, proto: IpProtocol, dst4: [u8; 4], l4: &[u8]) -> bool {
        let Some(ids) = l4_ids(proto, l4, IpVersion::V4) else {
            return false;
        };
        let Some(port) = try_be16(l4, ids.dst_at) else {
            return false;
        };
        let pool4 = Endpoint4::new(Ipv4Addr::from(dst4), port);
        self.shard.has_binding_v4(ids.proto, pool4)
    }

    fn v4_bind(
        &mut self,
        src4: [u8; 4],
        dst4: [u8; 4],
        dst6: &mut [u8; 16],
        proto: IpProtocol,
        l4: &[u8],
        fragment: bool,
    ) -> Result<Option<PortRewrite>, DropReason> {
        if fragment {
            return Err(R::Nat64Fragment);
        }
        let ids = l4_ids(proto, l4, IpVersion::V4).ok_or(R::Nat64UnsupportedProtocol)?;
        let (Some(sport), Some(dport)) = (try_be16(l4, ids.src_at), try_be16(l4, ids.dst_at))
        else {
            return Err(R::TransportTruncated);
        };
        let flags = if ids.proto == Proto::Tcp {
            l4.get(tcp::field::FLAGS).copied().unwrap_or(0)
        } else {
            0
        };
        let t = Tuple4 {
            proto: ids.proto,
            remote: Endpoint4::new(Ipv4Addr::from(src4), sport),
            pool4: Endpoint4::new(Ipv4Addr::from(dst4), dport),
        };
        let lookup = self.shard.lookup_v4(t, flags, self.now);
        match lookup {
            V4Lookup::Forward(i) => {
                *dst6 = i.dst.octets();
                Ok(Some(ids.rewrite(ids.dst_at, i.dport)))
            }
            V4Lookup::Held => Err(R::Nat64HeldSyn),
            V4Lookup::Refused(r) => Err(refusal(r)),
        }
    }

    fn inner_v4(
        &mut self,
        _t: &Translator,
        s4: [u8; 4],
        d4: [u8; 4],
        _hairpin: bool,
        proto: IpProtocol,
        l4: &[u8],
    ) -> Result<InnerV6, DropReason> {
        // The quoted packet went out from our binding `s4:sport` to the peer
        // `d4:dport`: the session seen from the peer's side (RFC 6146 §3.4).
        let mapped = || {
            let ids = l4_ids(proto, l4, IpVersion::V4)?;
            let sport = try_be16(l4, ids.src_at)?;
            let dport = try_be16(l4, ids.dst_at)?;
            let i = self.shard.find_v4(Tuple4 {
                proto: ids.proto,
                remote: Endpoint4::new(Ipv4Addr::from(d4), dport),
                pool4: Endpoint4::new(Ipv4Addr::from(s4), sport),
            })?;
            let dst6 = self.pool6.embed(Ipv4Addr::from(d4))?;
            Some((
                i.dst.octets(),
                dst6.octets(),
                Some(ids.rewrite(ids.src_at, i.dport)),
            ))
        };
        mapped().ok_or(R::IcmpInnerUntranslatable)
    }

    fn inner_v6(
        &mut self,
        _t: &Translator,
        s6: [u8; 16],
        d6: [u8; 16],
        upper: IpProtocol,
        l4: &[u8],
    ) -> Result<InnerV4, DropReason> {
        // The quoted packet came from the peer pool6 ∘ `s4:sport` to our client
        // `d6:dport`.
        let s4 = self
            .pool6
            .extract(Ipv6Addr::from(s6))
            .ok_or(R::IcmpInnerUntranslatable)?;
        // Checked before the session lookup, so that the reason does not depend on
        // whether a session exists (none can, with such a peer).
        if validity::ipv4_source_is_illegal(s4) {
            return Err(R::IcmpInnerBadAddress);
        }
        let mapped = || {
            let ids = l4_ids(upper, l4, IpVersion::V6)?;
            let sport = try_be16(l4, ids.src_at)?;
            let dport = try_be16(l4, ids.dst_at)?;
            let o = self.shard.find_v6(Tuple6 {
                proto: ids.proto,
                v6: Endpoint6::new(Ipv6Addr::from(d6), dport),
                remote: Endpoint4::new(s4, sport),
            })?;
            Some((
                s4.octets(),
                o.src.octets(),
                Some(ids.rewrite(ids.dst_at, o.sport)),
            ))
        };
        mapped().ok_or(R::IcmpInnerUntranslatable)
    }

    #[inline]
    fn error_outer_v6(
        &mut self,
        o: &mut super::icmp_error::OuterV6,
        inner_s6: [u8; 16],
        _inner_d6: [u8; 16],
    ) {
        // §3.6.1: the error goes to the client that sent the quoted packet.
        o.dst6 = inner_s6;
    }

    #[inline]
    fn error_outer_v4(
        &mut self,
        o: &mut super::icmp_error::OuterV4,
        inner_s4: [u8; 4],
        inner_d4: [u8; 4],
    ) {
        // §3.6.1: from the client's binding to the peer that sent the quoted packet.
        o.src4 = inner_d4;
        o.dst4 = inner_s4;
    }
}
