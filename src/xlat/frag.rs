//! Splitting a translated packet into fragments (per-fragment translation, no
//! reassembly).
//!
//! Each fragment is one output frame: its headers are written in the output scratch and
//! its data is a slice of the original payload, never copied. Offsets are in 8-byte
//! units; when the input was itself a fragment, the pieces' offsets start at its offset
//! and only the last piece inherits its More Fragments flag.

use core::ops::Range;

use crate::wire::ip::IpProtocol;
use crate::wire::ipv4::{self, Ipv4Repr};
use crate::wire::ipv6::{self, Ipv6Repr};
use crate::wire::ipv6ext::{FRAG_HEADER_LEN, FragRepr};

use super::{DropReason, MAX_FRAMES, Output};

/// Largest fragment offset (13 bits, 8-byte units).
const MAX_OFFSET: usize = 0x1fff;

/// Fragment offsets count in units of this many bytes (RFC 791, RFC 8200 §4.5).
const OFFSET_UNIT: usize = 8;

/// Headers in front of each IPv6 fragment's data.
const V6_FRAG_HEADERS: usize = ipv6::HEADER_LEN + FRAG_HEADER_LEN;

/// Data bytes per fragment: the room after `headers`, rounded down to the offset unit
/// (at least one unit).
fn chunk_len(mtu: usize, headers: usize) -> usize {
    (mtu.saturating_sub(headers) / OFFSET_UNIT * OFFSET_UNIT).max(OFFSET_UNIT)
}

/// Whether `len` data bytes starting at `offset` (8-byte units) split for `limit`-byte
/// IPv6 fragments fit the frame budget and the 13-bit offset field.
pub(super) fn fits_v6(len: usize, limit: usize, offset: u16) -> bool {
    fits(len, chunk_len(limit, V6_FRAG_HEADERS), offset)
}

fn fits(len: usize, chunk: usize, offset: u16) -> bool {
    let n = len.div_ceil(chunk);
    let last_off = usize::from(offset) + (n.saturating_sub(1) * chunk) / OFFSET_UNIT;
    n <= MAX_FRAMES && last_off <= MAX_OFFSET
}

/// RFC 7915 §4.1: IPv6 fragments of at most `limit` bytes (lowest-ipv6-mtu), each with
/// a Fragment header carrying the IPv4 Identification. `data` is the payload's range in
/// the packet buffer; `base` the IPv6 header (payload length and next header are set
/// here); `fr` the fragment fields of the original (offset, MF, ID, protocol).
pub(super) fn fragment_v6(
    out: &mut Output,
    data: Range<usize>,
    base: &Ipv6Repr,
    fr: &FragRepr,
    limit: usize,
) -> Result<(), DropReason> {
    let chunk = chunk_len(limit, V6_FRAG_HEADERS);
    if !fits(data.len(), chunk, fr.offset)
        || out.frames().len() + data.len().div_ceil(chunk) > MAX_FRAMES
    {
        return Err(DropReason::FragmentOverflow);
    }
    let mut at = data.start;
    while at < data.end {
        let end = (at + chunk).min(data.end);
        let head = out
            .alloc_scratch(V6_FRAG_HEADERS)
            .ok_or(DropReason::OutputOverflow)?;
        let buf = &mut out.scratch_mut()[head.clone()];
        let mut ip = *base;
        ip.payload_len = (FRAG_HEADER_LEN + end - at) as u16;
        ip.next_header = IpProtocol::FRAGMENT;
        ip.emit(buf);
        let piece = FragRepr {
            offset: fr.offset + ((at - data.start) / OFFSET_UNIT) as u16,
            more: end < data.end || fr.more,
            ..*fr
        };
        piece.emit(&mut buf[ipv6::HEADER_LEN..]);
        out.push(head, at..end);
        at = end;
    }
    Ok(())
}

/// IPv6 → IPv4 for a DF=0 result larger than the IPv4 `mtu` (RFC 7915 §5: the
/// translator, a router, fragments): IPv4 fragments with `base`'s Identification.
pub(super) fn fragment_v4(
    out: &mut Output,
    data: Range<usize>,
    base: &Ipv4Repr,
    mtu: usize,
) -> Result<(), DropReason> {
    let chunk = chunk_len(mtu, ipv4::HEADER_LEN);
    if !fits(data.len(), chunk, base.frag_offset)
        || out.frames().len() + data.len().div_ceil(chunk) > MAX_FRAMES
    {
        return Err(DropReason::FragmentOverflow);
    }
    let mut at = data.start;
    while at < data.end {
        let end = (at + chunk).min(data.end);
        let head = out
            .alloc_scratch(ipv4::HEADER_LEN)
            .ok_or(DropReason::OutputOverflow)?;
        let ip = Ipv4Repr {
            total_len: (ipv4::HEADER_LEN + end - at) as u16,
            df: false,
            mf: end < data.end || base.mf,
            frag_offset: base.frag_offset + ((at - data.start) / OFFSET_UNIT) as u16,
            ..*base
        };
        ip.emit(&mut out.scratch_mut()[head.clone()]);
        out.push(head, at..end);
        at = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunking() {
        assert_eq!(chunk_len(1280, 48), 1232);
        assert_eq!(chunk_len(1500, 20), 1480);
        assert_eq!(chunk_len(10, 48), 8);
        assert!(fits(1232 * 3, 1232, 0));
        assert!(!fits(1232 * 3, 1232, 8191));
        assert!(!fits(8 * 65, 8, 0));
    }
}
