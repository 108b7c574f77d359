//! Which worker's shard a NAT64 packet belongs to, read from the packet alone.
//!
//! With several workers, each owns a shard of the state (see `nat64::Sharding`): an
//! IPv6 packet belongs to the owner of its source subscriber, an IPv4 packet to the
//! owner of the pool4 port slice its destination port falls in. ICMP errors belong to
//! the session of the packet they quote, so the quoted packet decides: for an ICMPv6
//! error its destination (our client), for an ICMPv4 error its source (our binding).
//!
//! A §3.8 hairpinned packet needs two shards: the sender's (its mapping) and the
//! receiver's (the IPv4 destination's port). [`Steering::hairpin`] names the second;
//! when it is another worker, the first translates the packet to IPv4 only and lets the
//! kernel route it (pool4 is routed into the TUN) back to the owner of the second half.
//!
//! Fragments carry no ports (but the first), and the kernel may spread the fragments of
//! one datagram over several queues: they go to the worker that reassembles them (the
//! subscriber's owner for IPv6, a hash of the datagram's identity for IPv4), which then
//! steers the whole datagram like any packet.
//!
//! Packets no shard can own (malformed, other protocols, ports outside pool4) get no
//! owner: whichever worker read them drops or answers them as the single-worker
//! translator would.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::nat64::Sharding;
use crate::wire::icmpv4::{self, Icmpv4Packet};
use crate::wire::icmpv6::{self, Icmpv6Packet};
use crate::wire::ip::IpProtocol;
use crate::wire::ipv4::Ipv4Packet;
use crate::wire::ipv6::Ipv6Packet;
use crate::wire::{ipv6ext, try_be16};

use super::Nat64Translator;
use super::stateful::{IpVersion, l4_ids};

/// Where one packet goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Steering {
    /// The worker owning the packet's flow; None: any worker may handle it.
    pub owner: Option<usize>,
    /// For an IPv6 packet to pool6 ∘ pool4 (§3.8): the owner of the hairpin's IPv4
    /// half.
    pub hairpin: Option<usize>,
    /// Who sent it, as a key for fair shares: the subscriber prefix of an IPv6 source,
    /// the address of an IPv4 one (0 if unreadable).
    pub source: u32,
}

impl Nat64Translator {
    /// Reads the owner of `pkt` (an IP packet as received) from its headers. Never
    /// panics; a packet it cannot read gets [`Steering::default`].
    pub fn steer(&self, sharding: &Sharding, pkt: &[u8]) -> Steering {
        match pkt.first().map(|b| b >> 4) {
            Some(6) => {
                let mut s = self.steer_v6(sharding, pkt);
                if let Ok(ip) = Ipv6Packet::new_checked_header(pkt) {
                    s.source = sharding.subscriber_key(Ipv6Addr::from(ip.src_addr()));
                }
                s
            }
            Some(4) => Steering {
                owner: steer_v4(sharding, pkt),
                hairpin: None,
                source: Ipv4Packet::new_checked_header(pkt)
                    .map_or(0, |ip| u32::from_be_bytes(ip.src_addr())),
            },
            _ => Steering::default(),
        }
    }

    fn steer_v6(&self, sharding: &Sharding, pkt: &[u8]) -> Steering {
        let (Ok(ip), Ok(chain)) = (Ipv6Packet::new_checked_header(pkt), ipv6ext::walk(pkt)) else {
            return Steering::default();
        };
        if chain.is_fragment() {
            // RFC 6146 §3.4: reassembled by the subscriber's owner.
            let src6 = Ipv6Addr::from(ip.src_addr());
            return Steering {
                owner: Some(sharding.owner_of_subscriber(src6)),
                ..Steering::default()
            };
        }
        let (upper, Some(l4)) = (chain.upper_proto, pkt.get(chain.upper_off..)) else {
            return Steering::default();
        };
        let (src6, dst6) = (Ipv6Addr::from(ip.src_addr()), Ipv6Addr::from(ip.dst_addr()));
        if upper == IpProtocol::ICMPV6
            && l4
                .get(icmpv6::field::TYPE)
                .is_some_and(|&t| icmpv6::Message::from(t).is_error())
        {
            // An ICMPv6 error about a packet we sent to our client: the client (the
            // quoted destination) and its port name the session.
            let owner = Icmpv6Packet::new_checked(l4).ok().and_then(|icmp| {
                let inner = v6_transport(icmp.payload())?;
                let ids = l4_ids(inner.proto, inner.l4, IpVersion::V6)?;
                let dport = try_be16(inner.l4, ids.dst_at)?;
                let client = Ipv6Addr::from(inner.ip.dst_addr());
                Some(sharding.owner_of_v6(ids.proto, client, dport))
            });
            return Steering {
                owner,
                ..Steering::default()
            };
        }
        let Some(ids) = l4_ids(upper, l4, IpVersion::V6) else {
            return Steering::default();
        };
        let (Some(sport), Some(dport)) = (try_be16(l4, ids.src_at), try_be16(l4, ids.dst_at))
        else {
            return Steering::default();
        };
        let hairpin = self
            .pool6()
            .extract(dst6)
            .filter(|d4| sharding.is_pool4(*d4))
            .and_then(|d4| sharding.owner_of_v4(ids.proto, d4, dport));
        Steering {
            owner: Some(sharding.owner_of_v6(ids.proto, src6, sport)),
            hairpin,
            ..Steering::default()
        }
    }
}

fn steer_v4(sharding: &Sharding, pkt: &[u8]) -> Option<usize> {
    let ip = Ipv4Packet::new_checked_header(pkt).ok()?;
    if ip.is_fragment() {
        // RFC 6146 §3.4: one worker collects the datagram, named by its identity.
        let (src, dst) = (ip.src_addr().into(), ip.dst_addr().into());
        return Some(sharding.collector_v4(src, dst, ip.protocol().0, ip.ident()));
    }
    let (proto, l4) = (ip.protocol(), pkt.get(ip.header_len()..)?);
    let is_echo = |t| {
        matches!(
            icmpv4::Message::from(t),
            icmpv4::Message::EchoRequest | icmpv4::Message::EchoReply
        )
    };
    if proto == IpProtocol::ICMP && l4.get(icmpv4::field::TYPE).is_some_and(|&t| !is_echo(t)) {
        // An ICMPv4 error about a packet we sent from our binding: its source address
        // and port are the pool4 transport address that names the owner.
        let icmp = Icmpv4Packet::new_checked(l4).ok()?;
        let inner = v4_transport(icmp.payload())?;
        let ids = l4_ids(inner.proto, inner.l4, IpVersion::V4)?;
        let binding = Ipv4Addr::from(inner.ip.src_addr());
        return sharding.owner_of_v4(ids.proto, binding, try_be16(inner.l4, ids.src_at)?);
    }
    let ids = l4_ids(proto, l4, IpVersion::V4)?;
    let pool4 = Ipv4Addr::from(ip.dst_addr());
    sharding.owner_of_v4(ids.proto, pool4, try_be16(l4, ids.dst_at)?)
}

/// A packet's IP header, its upper-layer protocol and the transport bytes.
struct Transport<'a, H> {
    ip: H,
    proto: IpProtocol,
    l4: &'a [u8],
}

/// An IPv6 packet's transport, if it carries a transport header (not a non-first
/// fragment).
fn v6_transport(pkt: &[u8]) -> Option<Transport<'_, Ipv6Packet<&[u8]>>> {
    let ip = Ipv6Packet::new_checked_header(pkt).ok()?;
    let chain = ipv6ext::walk(pkt).ok()?;
    if chain.is_fragment() {
        return None;
    }
    let l4 = pkt.get(chain.upper_off..)?;
    Some(Transport {
        ip,
        proto: chain.upper_proto,
        l4,
    })
}

/// An unfragmented IPv4 packet's transport.
fn v4_transport(pkt: &[u8]) -> Option<Transport<'_, Ipv4Packet<&[u8]>>> {
    let ip = Ipv4Packet::new_checked_header(pkt).ok()?;
    if ip.is_fragment() {
        return None;
    }
    let l4 = pkt.get(ip.header_len()..)?;
    Some(Transport {
        ip,
        proto: ip.protocol(),
        l4,
    })
}
