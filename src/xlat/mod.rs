//! RFC 7915 IP/ICMP translation, sans-IO.
//!
//! Input: a [`PacketBuf`] holding one IPv4 or IPv6 packet. Output: zero or more frames in
//! an [`Output`] (the translated packet, its fragments, or a generated ICMP error) and a
//! [`Verdict`]. No syscalls, clocks, threads, locks or allocation happen here; the
//! translator never panics on any input bytes.

use crate::wire::buf::PacketBuf;

mod output;
mod reason;

pub use output::{Frame, Output, MAX_FRAMES, SCRATCH_LEN};
pub use reason::DropReason;

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
}

/// The stateless translator. Immutable once built, so worker threads can share it.
#[derive(Debug, Clone)]
pub struct Translator {
    cfg: XlatConfig,
}

impl Translator {
    pub fn new(cfg: XlatConfig) -> Self {
        Translator { cfg }
    }

    pub fn config(&self) -> &XlatConfig {
        &self.cfg
    }

    /// Translates one packet. `out` is cleared first; on return it holds the frames to
    /// write to the device. `now_ms` is a monotonic clock reading (unused by SIIT, part of
    /// the signature so stateful modes share it).
    pub fn translate(&self, pkt: &mut PacketBuf, out: &mut Output, now_ms: u64) -> Verdict {
        let _ = (pkt, now_ms);
        out.clear();
        Verdict::Drop(DropReason::UnknownVersion)
    }
}
