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
//! Packets no shard can own (fragments, malformed, other protocols, ports outside
//! pool4) get no owner: whichever worker read them drops or answers them as the
//! single-worker translator would.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::nat64::Sharding;
use crate::wire::ipv6ext;

use super::Nat64Translator;
use super::stateful::{be16, l4_ids};

/// Where one packet goes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Steering {
    /// The worker owning the packet's flow; None: any worker may handle it.
    pub owner: Option<usize>,
    /// For an IPv6 packet to pool6 ∘ pool4 (§3.8): the owner of the hairpin's IPv4
    /// half.
    pub hairpin: Option<usize>,
}

const ECHO6: [u8; 2] = [128, 129];
const ECHO4: [u8; 2] = [8, 0];

impl Nat64Translator {
    /// Reads the owner of `pkt` (an IP packet as received) from its headers. Never
    /// panics; a packet it cannot read gets [`Steering::default`].
    pub fn steer(&self, sharding: &Sharding, pkt: &[u8]) -> Steering {
        match pkt.first().map(|b| b >> 4) {
            Some(6) => self.steer_v6(sharding, pkt),
            Some(4) => Steering {
                owner: steer_v4(sharding, pkt),
                hairpin: None,
            },
            _ => Steering::default(),
        }
    }

    fn steer_v6(&self, sharding: &Sharding, pkt: &[u8]) -> Steering {
        let Some((upper, l4)) = v6_transport(pkt) else {
            return Steering::default();
        };
        let (Some(src6), Some(dst6)) = (v6_addr(pkt, 8), v6_addr(pkt, 24)) else {
            return Steering::default();
        };
        if upper == 58 && l4.first().is_some_and(|&t| t < 128) {
            // An ICMPv6 error about a packet we sent to our client: the client (the
            // quoted destination) and its port name the session.
            let owner = l4.get(8..).and_then(|inner| {
                let (iu, il4) = v6_transport(inner)?;
                let ids = l4_ids(iu, il4, ECHO6)?;
                let dport = be16(il4, ids.dst_at)?;
                Some(sharding.owner_of_v6(ids.proto, v6_addr(inner, 24)?, dport))
            });
            return Steering {
                owner,
                hairpin: None,
            };
        }
        let Some(ids) = l4_ids(upper, l4, ECHO6) else {
            return Steering::default();
        };
        let (Some(sport), Some(dport)) = (be16(l4, ids.src_at), be16(l4, ids.dst_at)) else {
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
        }
    }
}

fn steer_v4(sharding: &Sharding, pkt: &[u8]) -> Option<usize> {
    let (proto, l4) = v4_transport(pkt)?;
    if proto == 1 && l4.first().is_some_and(|t| !ECHO4.contains(t)) {
        // An ICMPv4 error about a packet we sent from our binding: its source address
        // and port are the pool4 transport address that names the owner.
        let inner = l4.get(8..)?;
        let (ip, il4) = v4_transport(inner)?;
        let ids = l4_ids(ip, il4, ECHO4)?;
        return sharding.owner_of_v4(ids.proto, v4_addr(inner, 12)?, be16(il4, ids.src_at)?);
    }
    let ids = l4_ids(proto, l4, ECHO4)?;
    sharding.owner_of_v4(ids.proto, v4_addr(pkt, 16)?, be16(l4, ids.dst_at)?)
}

/// The upper protocol and transport bytes of an IPv6 packet, if it carries a transport
/// header (not a non-first fragment).
fn v6_transport(pkt: &[u8]) -> Option<(u8, &[u8])> {
    if pkt.len() < 40 {
        return None;
    }
    let chain = ipv6ext::walk(pkt).ok()?;
    if chain.is_fragment() {
        return None;
    }
    Some((chain.upper_proto, pkt.get(chain.upper_off..)?))
}

/// The protocol and transport bytes of an unfragmented IPv4 packet.
fn v4_transport(pkt: &[u8]) -> Option<(u8, &[u8])> {
    let ihl = usize::from(pkt.first()? & 0x0f) * 4;
    let frag = be16(pkt, 6)?;
    if ihl < 20 || frag & 0x3fff != 0 {
        return None;
    }
    Some((*pkt.get(9)?, pkt.get(ihl..)?))
}

fn v6_addr(pkt: &[u8], at: usize) -> Option<Ipv6Addr> {
    let b: [u8; 16] = pkt.get(at..at + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(b))
}

fn v4_addr(pkt: &[u8], at: usize) -> Option<Ipv4Addr> {
    let b: [u8; 4] = pkt.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(b))
}
