//! Copies of the IPv4 SYNs held for a simultaneous open (RFC 6146 §3.5.2.2).
//!
//! A held SYN is the one packet whose life outlasts its translation: the shard only
//! remembers the flow (`nat64::Shard` holds its key and its timer), so the translator
//! keeps the bytes, to translate them if the IPv6 side opens the same connection in
//! time, or to quote them in the ICMP Port Unreachable when the hold expires (the
//! sender's TCP matches the error to its connection by the quoted sequence number).
//! The store is allocated once and bounded; a SYN that does not fit is still held by
//! the shard and answered from its key alone.

use std::net::Ipv4Addr;

use crate::wire::ipv4::Ipv4Packet;
use crate::wire::tcp::TcpPacket;
use crate::wire::vnet::Offload;

use super::stateful::HeldSynKey;

/// Bytes kept per held SYN: IPv4 header with options (60) + TCP header with options
/// (60) and some room; a SYN carrying more data (TCP Fast Open) is answered from its key.
pub const HELD_SLOT: usize = 256;

/// Preallocated copies of held IPv4 SYNs, looked up by linear scan: a rare path (one
/// scan per held SYN, per simultaneous open and per expiry), bounded by the shard's
/// `max_held_syns`.
pub struct HeldSyns {
    keys: Vec<Option<HeldSynKey>>,
    lens: Vec<usize>,
    /// The offload metadata each SYN was read with (a partial checksum must be
    /// translated as one when the SYN is released).
    offloads: Vec<Offload>,
    bytes: Vec<[u8; HELD_SLOT]>,
}

impl HeldSyns {
    pub fn new(slots: usize) -> Self {
        HeldSyns {
            keys: vec![None; slots],
            lens: vec![0; slots],
            offloads: vec![Offload::NONE; slots],
            bytes: vec![[0; HELD_SLOT]; slots],
        }
    }

    /// Keeps a copy of `pkt` under `key` (replacing an older copy of the same flow);
    /// false if it does not fit.
    pub fn insert(&mut self, key: HeldSynKey, pkt: &[u8], offload: Offload) -> bool {
        if pkt.len() > HELD_SLOT {
            return false;
        }
        let slot = self
            .keys
            .iter()
            .position(|k| *k == Some(key))
            .or_else(|| self.keys.iter().position(Option::is_none));
        let Some(i) = slot else { return false };
        let (Some(k), Some(l), Some(o), Some(b)) = (
            self.keys.get_mut(i),
            self.lens.get_mut(i),
            self.offloads.get_mut(i),
            self.bytes.get_mut(i),
        ) else {
            return false;
        };
        *k = Some(key);
        *l = pkt.len();
        *o = offload;
        b[..pkt.len()].copy_from_slice(pkt);
        true
    }

    /// Removes the copy held under `key`, handing its bytes and offload metadata to `f`.
    pub fn take<R>(&mut self, key: HeldSynKey, f: impl FnOnce(&[u8], Offload) -> R) -> Option<R> {
        let i = self.keys.iter().position(|k| *k == Some(key))?;
        *self.keys.get_mut(i)? = None;
        let b = self.bytes.get(i)?.get(..*self.lens.get(i)?)?;
        Some(f(b, self.offloads.get(i).copied().unwrap_or(Offload::NONE)))
    }
}

/// The flow key of an IPv4 TCP packet, as the shard names held SYNs.
pub fn held_key(pkt: &[u8]) -> Option<HeldSynKey> {
    let ip = Ipv4Packet::new_checked_header(pkt).ok()?;
    let tcp = TcpPacket::new_checked(pkt.get(ip.header_len()..)?).ok()?;
    Some(HeldSynKey {
        src: Ipv4Addr::from(ip.src_addr()),
        dst: Ipv4Addr::from(ip.dst_addr()),
        sport: tcp.src_port(),
        dport: tcp.dst_port(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(sport: u16) -> HeldSynKey {
        HeldSynKey {
            src: Ipv4Addr::new(198, 51, 100, 130),
            sport,
            dst: Ipv4Addr::new(203, 0, 113, 16),
            dport: 2000,
        }
    }

    /// RFC 6146 §3.5.2.2: held SYNs are kept (bounded) and handed back once.
    #[test]
    fn rfc6146_3_5_2_2_held_store_is_bounded_and_take_once() {
        let mut h = HeldSyns::new(2);
        let n = Offload::NONE;
        assert!(h.insert(key(1), &[1, 2, 3], n));
        assert!(h.insert(key(2), &[4], n));
        assert!(!h.insert(key(3), &[5], n));
        assert!(h.insert(key(1), &[9, 9], n));
        assert!(!h.insert(key(4), &[0; HELD_SLOT + 1], n));
        assert_eq!(h.take(key(1), |b, _| b.to_vec()), Some(vec![9, 9]));
        assert_eq!(h.take(key(1), |b, _| b.to_vec()), None);
        assert!(h.insert(key(3), &[5], n));
    }

    /// RFC 6146 §3.5.2.2 names held SYNs by the IPv4 flow: source, destination, ports.
    #[test]
    fn rfc6146_3_5_2_2_held_key_from_ipv4_tcp() {
        let mut p = [0u8; 40];
        p[0] = 0x45;
        p[12..16].copy_from_slice(&[198, 51, 100, 130]);
        p[16..20].copy_from_slice(&[203, 0, 113, 16]);
        p[20..22].copy_from_slice(&7u16.to_be_bytes());
        p[22..24].copy_from_slice(&2000u16.to_be_bytes());
        assert_eq!(held_key(&p), Some(key(7)));
        assert_eq!(held_key(&p[..22]), None);
        assert_eq!(held_key(&[]), None);
    }
}
