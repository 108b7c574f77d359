//! RFC 7757 §4 hairpinning: an IPv6 packet whose IPv4 destination lies in an EAM IPv4
//! prefix belongs to the IPv6 side; after translation to IPv4 it is translated straight
//! back to IPv6 (source by RFC 6052, destination by EAM: see `addr::AddrMapper`).
//!
//! Rare path: it simply runs the IPv4→IPv6 translator on the intermediate IPv4 packet.

use core::ops::Range;

use crate::wire::buf::PacketBuf;

use super::ctx::MapCtx;
use super::{DropReason, Output, Translator, Verdict, v4_to_v6};

/// The IPv4 form sits in `pkt` (bounds set): translate it back.
pub(super) fn from_packet<M: MapCtx>(
    t: &Translator,
    m: &mut M,
    pkt: &mut PacketBuf,
    out: &mut Output,
) -> Verdict {
    out.clear();
    v4_to_v6::translate(t, m, pkt, out, true)
}

/// The IPv4 form is a translated ICMP error in `out`'s scratch: copy it into the packet
/// buffer (it is at most 576 bytes), then translate it back.
pub(super) fn from_scratch<M: MapCtx>(
    t: &Translator,
    m: &mut M,
    pkt: &mut PacketBuf,
    out: &mut Output,
    r: Range<usize>,
) -> Verdict {
    let len = r.len();
    let Some(src) = out.scratch().get(r) else {
        return Verdict::Drop(DropReason::OutputOverflow);
    };
    let Some(dst) = pkt.receive_area().get_mut(..len) else {
        return Verdict::Drop(DropReason::OutputOverflow);
    };
    dst.copy_from_slice(src);
    pkt.set_received(len);
    from_packet(t, m, pkt, out)
}
