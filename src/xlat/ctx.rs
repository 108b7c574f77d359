//! The mapping behind the RFC 7915 code: which addresses (and, for stateful NAT64, which
//! ports or ICMP identifiers) a translated packet gets.
//!
//! The header rules of RFC 7915 are the same for SIIT and NAT64 (RFC 6146 §3.7 defers
//! to them); only the mapping differs. `v6_to_v4`, `v4_to_v6`, `icmp_error` and
//! `hairpin` are generic over [`MapCtx`] and monomorphised per implementation, so SIIT
//! ([`Siit`], a zero-sized type reading the translator's `AddrMapper`) compiles to the
//! same code as before the trait existed: its transport hooks return constants that
//! the optimiser folds away.
//!
//! Hooks come in two phases per direction because SIIT maps addresses before the
//! checks that may refuse a packet (so that, e.g., no ICMP error ever goes to an
//! unmapped source) while NAT64 must create state only for a packet that survives them
//! (`*_bind`, called right before the packet is rewritten).

use crate::addr::MappedBy;
use crate::wire::field16_mut;
use crate::wire::ip::IpProtocol;

use super::common::{v4, v6};
use super::icmp_error::{OuterV4, OuterV6};
use super::{DropReason, Translator};

use DropReason as R;

/// A 16-bit transport identifier (port or ICMP query identifier) to overwrite, and the
/// checksum that covers it (updated incrementally, RFC 1624). Offsets are from the
/// start of the transport header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PortRewrite {
    pub at: usize,
    pub csum_at: usize,
    pub value: u16,
    /// UDP: a zero checksum means "none" and stays zero.
    pub zero_means_none: bool,
}

impl PortRewrite {
    /// Applies the rewrite to `l4` (which may be a truncated quote: fields outside it
    /// are left alone).
    #[inline]
    pub fn apply(&self, l4: &mut [u8]) {
        let Some(f) = field16_mut(l4, self.at) else {
            return;
        };
        let old = u16::from_be_bytes(*f);
        *f = self.value.to_be_bytes();
        let Some(c) = field16_mut(l4, self.csum_at) else {
            return;
        };
        let cs = u16::from_be_bytes(*c);
        if self.zero_means_none && cs == 0 {
            return;
        }
        let mut n = crate::wire::checksum::update(cs, old, self.value);
        if self.zero_means_none && n == 0 {
            n = 0xffff;
        }
        *c = n.to_be_bytes();
    }
}

/// The addresses of a packet quoted in an ICMPv4 error, mapped to IPv6, and the rewrite
/// of its quoted transport header.
pub(super) type InnerV6 = ([u8; 16], [u8; 16], Option<PortRewrite>);

/// The IPv6 twin of [`InnerV6`].
pub(super) type InnerV4 = ([u8; 4], [u8; 4], Option<PortRewrite>);

/// Mapping operations the RFC 7915 code needs. `t` is the translator running the
/// packet (configuration, RFC 6052 prefix).
pub(super) trait MapCtx {
    /// Whether `v6_bind` sets the IPv4 source and `v4_bind` the IPv6 destination (NAT64
    /// takes them from a session); until then those are placeholders, so the address
    /// rules (`addr::validity`) apply to them only after the bind.
    const BIND_SETS_ADDRESS: bool = false;

    /// Outer IPv6 destination → IPv4, with the rule that mapped it.
    fn v6_dst(&mut self, t: &Translator, dst6: [u8; 16]) -> Option<([u8; 4], MappedBy)>;

    /// Outer IPv6 source → IPv4. `is_icmp_error`: the packet is an ICMPv6 error (whose
    /// source may be a router without a mapping).
    fn v6_src(
        &mut self,
        t: &Translator,
        src6: [u8; 16],
        is_icmp_error: bool,
    ) -> Result<[u8; 4], DropReason>;

    /// Whether the IPv4 form must come straight back to IPv6 (RFC 7757 §4, RFC 6146
    /// §3.8).
    fn v6_hairpin(&mut self, t: &Translator, dst4: [u8; 4], by: MappedBy) -> bool;

    /// Last step before an IPv6 packet (not an ICMP error) is rewritten: may change the
    /// IPv4 source and ask for a transport identifier rewrite. `l4` holds at least the
    /// transport header's minimum length (TCP 20, UDP 8, ICMPv6 echo 8) unless
    /// `fragment`.
    #[allow(clippy::too_many_arguments)]
    fn v6_bind(
        &mut self,
        src6: [u8; 16],
        src4: &mut [u8; 4],
        dst4: [u8; 4],
        upper: IpProtocol,
        l4: &[u8],
        fragment: bool,
    ) -> Result<Option<PortRewrite>, DropReason>;

    /// Outer IPv4 source and destination → IPv6, and whether the packet is hairpinned.
    fn v4_addrs(
        &mut self,
        t: &Translator,
        src4: [u8; 4],
        dst4: [u8; 4],
        from_hairpin: bool,
    ) -> Result<([u8; 16], [u8; 16], bool), DropReason>;

    /// Whether the translator may answer this IPv4 packet with an ICMP error of its own
    /// (Time Exceeded, source route failed) before it is bound: SIIT always (its
    /// addresses mapped); NAT64 only for a packet to a pool4 transport address with a
    /// binding, so that a scan of pool4 draws no errors (`icmp-on-refusal` decides that).
    #[inline(always)]
    fn v4_may_answer(&mut self, proto: IpProtocol, dst4: [u8; 4], l4: &[u8]) -> bool {
        let _ = (proto, dst4, l4);
        true
    }

    /// Last step before an IPv4 packet (not an ICMP error) is rewritten, as
    /// [`v6_bind`](Self::v6_bind).
    #[allow(clippy::too_many_arguments)]
    fn v4_bind(
        &mut self,
        src4: [u8; 4],
        dst4: [u8; 4],
        dst6: &mut [u8; 16],
        proto: IpProtocol,
        l4: &[u8],
        fragment: bool,
    ) -> Result<Option<PortRewrite>, DropReason>;

    /// Addresses of the IPv4 packet quoted in an ICMPv4 error (it travelled IPv6→IPv4,
    /// the opposite way), plus a rewrite for its quoted transport header. `l4`: the
    /// quoted transport bytes (possibly truncated), `proto` its IPv4 protocol. Errs with
    /// the reason the error is dropped (usually `IcmpInnerUntranslatable`).
    fn inner_v4(
        &mut self,
        t: &Translator,
        s4: [u8; 4],
        d4: [u8; 4],
        hairpin: bool,
        proto: IpProtocol,
        l4: &[u8],
    ) -> Result<InnerV6, DropReason>;

    /// The IPv6 twin of [`inner_v4`](Self::inner_v4), for ICMPv6 errors.
    fn inner_v6(
        &mut self,
        t: &Translator,
        s6: [u8; 16],
        d6: [u8; 16],
        upper: IpProtocol,
        l4: &[u8],
    ) -> Result<InnerV4, DropReason>;

    /// Adjusts the outer header of a translated ICMPv4→ICMPv6 error once its inner
    /// packet is mapped (NAT64 delivers it to the inner source's client).
    #[inline(always)]
    fn error_outer_v6(&mut self, o: &mut OuterV6, inner_s6: [u8; 16], inner_d6: [u8; 16]) {
        let _ = (o, inner_s6, inner_d6);
    }

    /// As [`error_outer_v6`](Self::error_outer_v6) for ICMPv6→ICMPv4.
    #[inline(always)]
    fn error_outer_v4(&mut self, o: &mut OuterV4, inner_s4: [u8; 4], inner_d4: [u8; 4]) {
        let _ = (o, inner_s4, inner_d4);
    }
}

/// Stateless SIIT: RFC 6052 prefix and EAM table of the translator's `AddrMapper`,
/// RFC 6791 pool for untranslatable ICMPv6 error sources, RFC 7757 hairpinning.
pub(super) struct Siit;

impl MapCtx for Siit {
    #[inline(always)]
    fn v6_dst(&mut self, t: &Translator, dst6: [u8; 16]) -> Option<([u8; 4], MappedBy)> {
        t.cfg.map.to_v4(v6(dst6)).map(|(a, by)| (a.octets(), by))
    }

    #[inline(always)]
    fn v6_src(
        &mut self,
        t: &Translator,
        src6: [u8; 16],
        is_icmp_error: bool,
    ) -> Result<[u8; 4], DropReason> {
        let src4 = match t.cfg.map.to_v4(v6(src6)) {
            Some((a, _)) => a,
            // RFC 7915 §5.1 / RFC 6791: an ICMPv6 error from an IPv6 router without an
            // IPv4 mapping takes a source from the RFC 6791 pool (or the translator's
            // address).
            None if is_icmp_error => t
                .pool6791
                .pick(super::common::hash_v6(src6))
                .unwrap_or(t.cfg.ipv4_addr),
            None => return Err(R::Ipv6SourceUnmapped),
        };
        Ok(src4.octets())
    }

    #[inline(always)]
    fn v6_hairpin(&mut self, t: &Translator, dst4: [u8; 4], by: MappedBy) -> bool {
        // An EAM-mapped destination lies in an EAM IPv4 prefix by construction; only an
        // RFC 6052 one needs the lookup. A CLAT's EAM is its IPv4 host: no hairpin.
        // The CLAT's flag last: SIIT's common packet (no EAM destination) never reads it.
        (by == MappedBy::Eam || t.cfg.map.is_eam_v4(v4(dst4))) && t.cfg.map.hairpins()
    }

    #[inline(always)]
    fn v6_bind(
        &mut self,
        _src6: [u8; 16],
        _src4: &mut [u8; 4],
        _dst4: [u8; 4],
        _upper: IpProtocol,
        _l4: &[u8],
        _fragment: bool,
    ) -> Result<Option<PortRewrite>, DropReason> {
        Ok(None)
    }

    #[inline(always)]
    fn v4_addrs(
        &mut self,
        t: &Translator,
        src4: [u8; 4],
        dst4: [u8; 4],
        from_hairpin: bool,
    ) -> Result<([u8; 16], [u8; 16], bool), DropReason> {
        let map = &t.cfg.map;
        // RFC 7757 §4: a hairpinned packet's source is translated with RFC 6052 only. An
        // IPv4 packet with both addresses in EAM prefixes is one that another box routed
        // back to us (§4.2.1 simple hairpinning).
        // `to_v6` maps by EAM exactly when the address is inside an EAM IPv4 prefix, so
        // its answer doubles as the hairpin test (one lookup per address).
        let mapped_src = map.to_v6(v4(src4));
        let mapped_dst = map.to_v6(v4(dst4));
        let hairpin = from_hairpin
            || (matches!(mapped_src, Some((_, MappedBy::Eam)))
                && matches!(mapped_dst, Some((_, MappedBy::Eam))));
        let src6 = if hairpin {
            map.to_v6_rfc6052(v4(src4))
        } else {
            mapped_src.map(|m| m.0)
        };
        let Some(src6) = src6 else {
            return Err(R::Ipv4SourceUnmapped);
        };
        let Some((dst6, _)) = mapped_dst else {
            return Err(R::Ipv4DestinationUnmapped);
        };
        Ok((src6.octets(), dst6.octets(), hairpin))
    }

    #[inline(always)]
    fn v4_bind(
        &mut self,
        _src4: [u8; 4],
        _dst4: [u8; 4],
        _dst6: &mut [u8; 16],
        _proto: IpProtocol,
        _l4: &[u8],
        _fragment: bool,
    ) -> Result<Option<PortRewrite>, DropReason> {
        Ok(None)
    }

    #[inline]
    fn inner_v4(
        &mut self,
        t: &Translator,
        s4: [u8; 4],
        d4: [u8; 4],
        hairpin: bool,
        _proto: IpProtocol,
        _l4: &[u8],
    ) -> Result<InnerV6, DropReason> {
        let map = &t.cfg.map;
        let src6 = map.to_v6(v4(s4)).map(|m| m.0);
        let dst6 = if hairpin {
            map.to_v6_rfc6052(v4(d4))
        } else {
            map.to_v6(v4(d4)).map(|m| m.0)
        };
        let (Some(src6), Some(dst6)) = (src6, dst6) else {
            return Err(R::IcmpInnerUntranslatable);
        };
        Ok((src6.octets(), dst6.octets(), None))
    }

    #[inline]
    fn inner_v6(
        &mut self,
        t: &Translator,
        s6: [u8; 16],
        d6: [u8; 16],
        _upper: IpProtocol,
        _l4: &[u8],
    ) -> Result<InnerV4, DropReason> {
        let map = &t.cfg.map;
        let (Some((s4, _)), Some((d4, _))) = (map.to_v4(v6(s6)), map.to_v4(v6(d6))) else {
            return Err(R::IcmpInnerUntranslatable);
        };
        Ok((s4.octets(), d4.octets(), None))
    }
}
