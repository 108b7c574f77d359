//! RFC 7915 IP/ICMP translation, sans-IO.
//!
//! Input: a [`PacketBuf`] holding one IPv4 or IPv6 packet. Output: zero or more frames in
//! an [`Output`] (the translated packet, its fragments, or a generated ICMP error) and a
//! [`Verdict`]. No syscalls, clocks, threads, locks or allocation happen here; the
//! translator never panics on any input bytes.
//!
//! Layout: `v6_to_v4` (RFC 7915 §5) and `v4_to_v6` (§4) handle the common path in
//! place; `icmp` holds the §4.2/§5.2 type and pointer tables and echo rewriting;
//! `icmp_error` translates ICMP errors with their inner packet (§4.3/§5.3) in the
//! output scratch; `error` generates the translator's own ICMP errors (§4.4/§5.4);
//! `frag` splits packets too big for the next hop; `hairpin` is RFC 7757 §4.
//!
//! Choices where the RFCs leave room (each is also noted where it is implemented):
//! - IPv6→IPv4 without a Fragment header: DF=0 and a stateless hashed Identification
//!   up to 1260 bytes, DF=1 and Identification 0 above (RFC 7915 §5.1).
//! - IPv6→IPv4 result larger than `mtu`: DF=1 → ICMPv6 Packet Too Big with
//!   max(mtu + 20, 1280); DF=0 (small packets, fragments) → IPv4 fragmentation.
//! - IPv4→IPv6, DF=1 and larger than `mtu` after translation: ICMPv4 Fragmentation
//!   Needed with mtu − 20. DF=0 and larger than min(lowest-ipv6-mtu, mtu): IPv6
//!   fragments. Atomic fragments are never generated (RFC 8021).
//! - Translated Packet Too Big: min(MTU + 20, mtu), at least 1280, RFC 1191 plateau for
//!   MTU 0. Translated Fragmentation Needed: min(MTU − 20, mtu − 20), both − 28 when
//!   the quoted packet had a Fragment header, at least 68.
//! - RFC 4884 extensions in translated ICMP errors are kept when RFC 4884 makes them
//!   valid (non-zero length attribute inside the message, original datagram of at least
//!   128 bytes, extension version 2, checksum right or zero = "not transmitted", objects
//!   filling the structure) and the translated type has a length attribute (not ICMPv6
//!   Packet Too Big or Parameter Problem): the original datagram is zero-padded to the
//!   new unit and to 128 bytes, the extension follows unchanged, the attribute is
//!   rewritten. Over 1280/576 bytes the original datagram is cut, never the extension;
//!   if not 128 bytes of it would fit, the extension is dropped. Dropped or invalid
//!   extensions leave the attribute 0 and only the datagram the attribute delimits; an
//!   attribute of 0 means no extension (pre-RFC 4884 senders that append one after 128
//!   bytes without setting it, RFC 4884 §5, are not second-guessed).
//! - Packets dropped for unmapped or illegal addresses get no ICMP error (RFC 7915
//!   §4.4/§5.4 make that a SHOULD-be-able-to; not reflecting errors at whatever a
//!   scanner sends is the safer default).
//! - Fragmented ICMP/ICMPv6 is dropped: its checksum covers a pseudo-header (IPv6) or
//!   the whole message (type change), which needs the whole datagram.
//! - Hairpinned packets consume one hop, and generate no ICMP errors on the way back.

use crate::addr::pool6791::Pool6791;
use crate::wire::buf::PacketBuf;
use crate::wire::vnet::Offload;

mod common;
mod ctx;
mod error;
mod frag;
/// Fuzz entry for fragment sequences through NAT64 reassembly (test and fuzzing builds).
#[cfg(any(test, fuzzing))]
pub mod fragcheck;
mod hairpin;
mod held;
mod icmp;
mod icmp_error;
mod mss;
mod nat64_core;
mod offload;
mod output;
mod owner;
mod probe;
mod reason;
pub mod reassembly;
/// Test support shared by the unit tests and the fuzz targets (`--cfg fuzzing`, set by
/// `cargo xtask fuzz`); not part of the release library.
#[cfg(any(test, fuzzing))]
pub mod selfcheck;
mod stateful;
mod v4_to_v6;
mod v6_to_v4;

#[cfg(test)]
mod tests;

pub use nat64_core::{Generated, Nat64Core};
pub use output::{Frame, MAX_FRAMES, Output, SCRATCH_LEN};
pub use owner::Steering;
pub use reason::DropReason;
pub use stateful::{HeldSynKey, Nat64ConfigError, Nat64Translator, Nat64Verdict};

/// What happened to one input packet. Frames queued in the [`Output`] are sent whatever
/// the verdict (a dropped packet may still produce an ICMP error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// IPv6 packet translated to IPv4 (frames hold the result).
    V6ToV4,
    /// IPv4 packet translated to IPv6.
    V4ToV6,
    /// IPv6 packet translated to IPv4 and straight back to IPv6 (RFC 7757 §4 hairpinning).
    Hairpinned,
    /// The packet was dropped for this reason.
    Drop(DropReason),
    /// Not translated and not a fault: the packet is addressed to the link itself
    /// (link-scope multicast such as the MLD reports the kernel sends into a TUN when it
    /// forwards, IGMP to 224.0.0.0/24), which no router forwards (RFC 4291 §2.7, RFC
    /// 5771 §4). Counted apart from drops so that an idle translator shows none.
    LinkScope,
}

/// Translator settings derived from the operator's configuration (see `control::config`).
#[derive(Debug, Clone)]
pub struct XlatConfig {
    /// Address mapping: RFC 6052 prefix and RFC 7757 EAM table.
    pub map: crate::addr::AddrMapper,
    /// Source of ICMPv4 errors the translator itself generates.
    pub ipv4_addr: std::net::Ipv4Addr,
    /// Source of ICMPv6 errors the translator itself generates.
    pub ipv6_addr: std::net::Ipv6Addr,
    /// RFC 6791 pool: sources for ICMPv4 errors translated from IPv6 routers whose
    /// address cannot be mapped. Empty: use `ipv4_addr`.
    pub pool6791: Vec<ipnet::Ipv4Net>,
    /// MTU of the TUN device; translated packets larger than this are fragmented or
    /// refused with an ICMP error.
    pub mtu: u16,
    /// RFC 7915 §4 `lowest-ipv6-mtu`: IPv4 packets with DF=0 larger than this after
    /// translation are fragmented.
    pub lowest_ipv6_mtu: u16,
    /// Compute the checksum of unfragmented IPv4 UDP packets whose checksum is zero
    /// instead of dropping them (RFC 7915 §4.5).
    pub amend_udp_checksum_zero: bool,
    /// RFC 7915 §4.1 "Traffic Class": set the IPv6 Traffic Class to zero instead of
    /// copying the IPv4 TOS, for IPv4 networks that still use the pre-RFC 2474 meaning.
    /// Default false (copy).
    pub reset_traffic_class: bool,
    /// RFC 7915 §5.1 "Type of Service": set the IPv4 TOS to zero instead of copying the
    /// IPv6 Traffic Class. Default false (copy).
    pub reset_tos: bool,
    /// Lower the MSS option of TCP SYN and SYN-ACK segments so full-sized segments fit
    /// `mtu` after translation (IPv6→IPv4: mtu − 40, IPv4→IPv6: mtu − 60). Default true.
    pub mss_clamp: bool,
}

impl Default for XlatConfig {
    /// No mappings, unspecified error sources, MTU 1500, lowest IPv6 MTU 1280, RFC 7915
    /// defaults for the flags. The control layer fills in the operator's values.
    fn default() -> Self {
        XlatConfig {
            map: crate::addr::AddrMapper::default(),
            ipv4_addr: std::net::Ipv4Addr::UNSPECIFIED,
            ipv6_addr: std::net::Ipv6Addr::UNSPECIFIED,
            pool6791: Vec::new(),
            mtu: 1500,
            lowest_ipv6_mtu: 1280,
            amend_udp_checksum_zero: false,
            reset_traffic_class: false,
            reset_tos: false,
            mss_clamp: true,
        }
    }
}

/// The stateless translator. Immutable once built, so worker threads can share it.
#[derive(Debug, Clone)]
pub struct Translator {
    cfg: XlatConfig,
    pool6791: Pool6791,
}

impl Translator {
    pub fn new(cfg: XlatConfig) -> Self {
        let pool6791 = Pool6791::new(&cfg.pool6791);
        Translator { cfg, pool6791 }
    }

    pub fn config(&self) -> &XlatConfig {
        &self.cfg
    }

    /// Translates one packet. `out` is cleared first; on return it holds the frames to
    /// write to the device. `now_ms` is a monotonic clock reading (unused by SIIT, part of
    /// the signature so stateful modes share it).
    pub fn translate(&self, pkt: &mut PacketBuf, out: &mut Output, now_ms: u64) -> Verdict {
        let _ = now_ms;
        out.clear();
        match pkt.data().first().map(|b| b >> 4) {
            Some(6) => v6_to_v4::translate(self, &mut ctx::Siit, pkt, out),
            Some(4) => v4_to_v6::translate(self, &mut ctx::Siit, pkt, out, false),
            _ => Verdict::Drop(DropReason::UnknownVersion),
        }
    }

    /// Whether the UDP super-packet `pkt` must be split into datagrams before it is
    /// translated (its datagrams get fragmented): see `offload::udp_needs_split`.
    #[inline]
    pub fn udp_needs_split(&self, pkt: &[u8], offload: Offload) -> bool {
        offload.gso_type & !crate::wire::vnet::gso::ECN == crate::wire::vnet::gso::UDP_L4
            && offload::udp_needs_split(self, pkt, offload)
    }

    /// Datagram `i` of the UDP super-packet `pkt` as a plain packet in `dst` (false past
    /// the last one): what the caller translates when [`udp_needs_split`](Self::udp_needs_split).
    pub fn udp_datagram(pkt: &[u8], offload: Offload, i: usize, dst: &mut PacketBuf) -> bool {
        offload::udp_datagram(pkt, offload, i, dst)
    }

    /// Translates one packet that arrived with TUN offload metadata (IFF_VNET_HDR): a GSO
    /// super-packet and/or a packet whose checksum is only a partial pseudo-header sum
    /// (NEEDS_CSUM). The translated packet's frame carries the rewritten metadata in
    /// [`Frame::offload`]. With [`Offload::NONE`] this is exactly [`translate`](Self::translate).
    /// Behaviour and the choices made are described in the `offload` module.
    pub fn translate_offload(
        &self,
        pkt: &mut PacketBuf,
        offload: Offload,
        out: &mut Output,
        now_ms: u64,
    ) -> Verdict {
        if offload.is_none() {
            return self.translate(pkt, out, now_ms);
        }
        offload::translate(self, pkt, offload, out, |p, o| self.translate(p, o, now_ms))
    }
}
