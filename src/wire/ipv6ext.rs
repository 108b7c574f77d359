//! IPv6 extension headers (RFC 8200 §4): Hop-by-Hop Options, Routing, Fragment,
//! Destination Options, and a walker over the header chain.
//!
//! ```text
//! Options / Routing:                       Fragment (RFC 8200 §4.5):
//! +---------------+---------------+----    +-------------+----------+-------------+---+-+
//! |  Next Header  |  Hdr Ext Len  | ...    | Next Header | Reserved | Frag Offset |Res|M|
//! +---------------+---------------+----    |                 Identification             |
//! Routing: | Routing Type | Segments Left |
//! ```

use super::ip::IpProtocol;
use super::{WireError, be16, be32, ipv6};

/// Field offsets of the Options headers (RFC 8200 §4.3, §4.6) and the Routing header
/// (§4.4).
pub mod field {
    pub const NEXT_HEADER: usize = 0;
    /// Header length in 8-octet units, not counting the first 8 octets.
    pub const HDR_EXT_LEN: usize = 1;
    /// Routing header only.
    pub const ROUTING_TYPE: usize = 2;
    /// Routing header only.
    pub const SEGMENTS_LEFT: usize = 3;
}

/// Field offsets of the Fragment header (RFC 8200 §4.5).
pub mod frag_field {
    use core::ops::Range;
    pub const NEXT_HEADER: usize = 0;
    pub const RESERVED: usize = 1;
    /// Fragment Offset (13 bits), 2 reserved bits, M flag.
    pub const OFF_M: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..8;
}

/// Length of the Fragment header.
pub const FRAG_HEADER_LEN: usize = 8;

/// Options and Routing header lengths count in units of this many octets.
const LEN_UNIT: usize = 8;

/// Headers with the common `Next Header | Hdr Ext Len (8-octet units, minus one)` layout:
/// Hop-by-Hop Options, Destination Options and Routing.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6OptionsHeader<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6OptionsHeader<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv6OptionsHeader { buffer }
    }
    /// Checks that the whole header (as its length field says) is in the buffer.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < LEN_UNIT {
            return Err(WireError::Truncated);
        }
        if (usize::from(b[field::HDR_EXT_LEN]) + 1) * LEN_UNIT > b.len() {
            return Err(WireError::BadHeaderLen);
        }
        Ok(Ipv6OptionsHeader { buffer })
    }
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[field::NEXT_HEADER])
    }
    /// Header length in bytes.
    pub fn header_len(&self) -> usize {
        (usize::from(self.buffer.as_ref()[field::HDR_EXT_LEN]) + 1) * LEN_UNIT
    }
    /// Routing header only (RFC 8200 §4.4): routing type.
    pub fn routing_type(&self) -> u8 {
        self.buffer.as_ref()[field::ROUTING_TYPE]
    }
    /// Routing header only (RFC 8200 §4.4): segments left.
    pub fn segments_left(&self) -> u8 {
        self.buffer.as_ref()[field::SEGMENTS_LEFT]
    }
}

/// Fragment header view (RFC 8200 §4.5).
#[derive(Debug, Clone, Copy)]
pub struct Ipv6FragHeader<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6FragHeader<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv6FragHeader { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < FRAG_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(Ipv6FragHeader { buffer })
    }
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[frag_field::NEXT_HEADER])
    }
    /// Fragment offset in 8-octet units.
    pub fn frag_offset(&self) -> u16 {
        be16(self.buffer.as_ref(), frag_field::OFF_M.start) >> 3
    }
    pub fn more_frags(&self) -> bool {
        be16(self.buffer.as_ref(), frag_field::OFF_M.start) & 1 != 0
    }
    pub fn ident(&self) -> u32 {
        be32(self.buffer.as_ref(), frag_field::IDENT.start)
    }
}

/// Fragment header fields, for writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragRepr {
    pub next_header: IpProtocol,
    /// 8-octet units.
    pub offset: u16,
    pub more: bool,
    pub ident: u32,
}

impl FragRepr {
    /// Writes the 8-byte header into `b[..8]`; false if `b` is too short.
    pub fn emit(&self, b: &mut [u8]) -> bool {
        let Some(h) = b.get_mut(..FRAG_HEADER_LEN) else {
            return false;
        };
        let om = ((self.offset & 0x1fff) << 3) | u16::from(self.more);
        h[frag_field::NEXT_HEADER] = self.next_header.0;
        h[frag_field::RESERVED] = 0;
        h[frag_field::OFF_M].copy_from_slice(&om.to_be_bytes());
        h[frag_field::IDENT].copy_from_slice(&self.ident.to_be_bytes());
        true
    }
}

/// What a walk over the extension header chain found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtChain {
    /// Next Header value that ended the chain: the upper-layer protocol (or, for a
    /// non-first fragment, the protocol of the datagram the fragment belongs to).
    pub upper_proto: IpProtocol,
    /// Offset, from the start of the IPv6 header, of the upper-layer header (or the
    /// fragment data).
    pub upper_off: usize,
    /// The Fragment header, if any.
    pub frag: Option<FragRepr>,
}

impl ExtChain {
    /// True for a fragment other than an atomic one (RFC 8021): offset ≠ 0 or M set.
    pub fn is_fragment(&self) -> bool {
        self.frag.is_some_and(|f| f.offset != 0 || f.more)
    }
    /// True when the transport header is expected in this packet (no fragment header,
    /// or the first fragment).
    pub fn has_transport_header(&self) -> bool {
        self.frag.is_none_or(|f| f.offset == 0)
    }
}

/// Why a chain walk stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainError {
    /// A header extends past the bytes given.
    Truncated,
    /// Malformed chain (a second Fragment header, an options header after the Fragment
    /// header, or too many headers).
    Malformed,
    /// A Routing header with Segments Left ≠ 0; `pointer` is the offset of that byte
    /// from the start of the IPv6 header (RFC 7915 §5.1).
    SegmentsLeft { pointer: usize },
}

/// Most extension headers walked before giving up (bounds the work per packet).
const MAX_EXT_HEADERS: usize = 8;

/// Walks the chain of `pkt` (a whole IPv6 packet, maybe truncated) starting with the
/// fixed header's Next Header. Hop-by-Hop, Destination Options and Routing headers with
/// Segments Left 0 are skipped (RFC 7915 §5.1); the walk stops at the first other header.
/// After a Fragment header the walk stops too: headers behind it belong to the
/// fragmentable part, whose offsets the other fragments count from, so they cannot be
/// removed; an options header there makes the chain [`ChainError::Malformed`].
pub fn walk(pkt: &[u8]) -> Result<ExtChain, ChainError> {
    let first = pkt.get(ipv6::field::NEXT_HEADER);
    let mut next = IpProtocol(*first.ok_or(ChainError::Truncated)?);
    let mut off = ipv6::HEADER_LEN;
    for _ in 0..MAX_EXT_HEADERS {
        match next {
            IpProtocol::HOP_BY_HOP | IpProtocol::DEST_OPTS | IpProtocol::ROUTING => {
                let rest = pkt.get(off..).ok_or(ChainError::Truncated)?;
                let h = Ipv6OptionsHeader::new_checked(rest).map_err(|_| ChainError::Truncated)?;
                if next == IpProtocol::ROUTING && h.segments_left() != 0 {
                    return Err(ChainError::SegmentsLeft {
                        pointer: off + field::SEGMENTS_LEFT,
                    });
                }
                next = h.next_header();
                off += h.header_len();
            }
            IpProtocol::FRAGMENT => {
                let rest = pkt.get(off..).ok_or(ChainError::Truncated)?;
                let h = Ipv6FragHeader::new_checked(rest).map_err(|_| ChainError::Truncated)?;
                let frag = FragRepr {
                    next_header: h.next_header(),
                    offset: h.frag_offset(),
                    more: h.more_frags(),
                    ident: h.ident(),
                };
                if matches!(
                    frag.next_header,
                    IpProtocol::HOP_BY_HOP
                        | IpProtocol::DEST_OPTS
                        | IpProtocol::ROUTING
                        | IpProtocol::FRAGMENT
                ) {
                    return Err(ChainError::Malformed);
                }
                return Ok(ExtChain {
                    upper_proto: frag.next_header,
                    upper_off: off + FRAG_HEADER_LEN,
                    frag: Some(frag),
                });
            }
            _ => {
                return Ok(ExtChain {
                    upper_proto: next,
                    upper_off: off,
                    frag: None,
                });
            }
        }
    }
    Err(ChainError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use IpProtocol as nh;

    fn hdr(nh0: IpProtocol) -> Vec<u8> {
        let mut v = vec![0x60, 0, 0, 0, 0, 0, nh0.0, 64];
        v.extend_from_slice(&[0u8; 32]);
        v
    }

    // RFC 8200 §4.5: Fragment header bytes, offset 185 (×8 = 1480), M=1, ID 0xdeadbeef.
    #[test]
    fn rfc8200_s4_5_fragment_header() {
        let b = [17u8, 0, 0x05, 0xc9, 0xde, 0xad, 0xbe, 0xef];
        let f = Ipv6FragHeader::new_checked(&b[..]).unwrap();
        assert_eq!(f.next_header(), IpProtocol(17));
        assert_eq!(f.frag_offset(), 185);
        assert!(f.more_frags());
        assert_eq!(f.ident(), 0xdeadbeef);
        let mut o = [0u8; 8];
        assert!(
            FragRepr {
                next_header: IpProtocol(17),
                offset: 185,
                more: true,
                ident: 0xdeadbeef
            }
            .emit(&mut o)
        );
        assert_eq!(o, b);
        // Our layout is RFC 8200's (and Linux's: `frag_off = htons(byte_offset | IP6_MF)`).
        // etherparse 0.16 reads M from bit 7 of byte 3 and the offset's low bits from
        // bits 4..0 (JulianSchmid/etherparse#150, fixed in 0.20), so only the fields it
        // reads correctly are compared with it; offsets are checked against the RFC.
        let (e, _) = etherparse::Ipv6FragmentHeader::from_slice(&b).unwrap();
        assert_eq!(e.next_header, etherparse::IpNumber::UDP);
        assert_eq!(e.identification, 0xdeadbeef);
    }

    // RFC 8200 §4.5 bit layout, field by field: the offset occupies the 13 high bits of
    // bytes 2..4, then 2 reserved bits, then M in the lowest bit.
    #[test]
    fn rfc8200_s4_5_fragment_bit_layout() {
        let emit = |offset, more| {
            let mut o = [0u8; 8];
            FragRepr {
                next_header: IpProtocol(6),
                offset,
                more,
                ident: 1,
            }
            .emit(&mut o);
            [o[2], o[3]]
        };
        assert_eq!(emit(0, true), [0x00, 0x01]);
        assert_eq!(emit(1, false), [0x00, 0x08]);
        assert_eq!(emit(0x1fff, false), [0xff, 0xf8]);
        assert_eq!(emit(0x1fff, true), [0xff, 0xf9]);
        // Reserved bits set by a sender are ignored on reading.
        let f = Ipv6FragHeader::new_checked(&[6u8, 0, 0x00, 0x0f, 0, 0, 0, 1][..]).unwrap();
        assert_eq!((f.frag_offset(), f.more_frags()), (1, true));
    }

    // RFC 7915 §5.1: HbH, Destination Options and Routing (Segments Left 0) are skipped.
    #[test]
    fn rfc7915_s5_1_walk_skips_options() {
        let mut p = hdr(nh::HOP_BY_HOP);
        p.extend_from_slice(&[nh::ROUTING.0, 0, 1, 0, 0, 0, 0, 0]); // HbH, 8 bytes
        p.extend_from_slice(&[nh::DEST_OPTS.0, 0, 0, 0, 0, 0, 0, 0]); // Routing, SL 0
        p.extend_from_slice(&[nh::UDP.0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]); // 16 bytes
        p.extend_from_slice(&[0u8; 8]);
        let c = walk(&p).unwrap();
        assert_eq!(c.upper_proto, nh::UDP);
        assert_eq!(c.upper_off, 40 + 8 + 8 + 16);
        assert_eq!(c.frag, None);
    }

    // RFC 7915 §5.1: Segments Left ≠ 0 → pointer at the Segments Left byte.
    #[test]
    fn rfc7915_s5_1_routing_segments_left() {
        let mut p = hdr(nh::DEST_OPTS);
        p.extend_from_slice(&[nh::ROUTING.0, 0, 0, 0, 0, 0, 0, 0]);
        p.extend_from_slice(&[nh::UDP.0, 0, 0, 2, 0, 0, 0, 0]);
        assert_eq!(
            walk(&p),
            Err(ChainError::SegmentsLeft {
                pointer: 40 + 8 + 3
            })
        );
    }

    #[test]
    fn walk_fragment_and_errors() {
        let mut p = hdr(nh::FRAGMENT);
        p.extend_from_slice(&[nh::TCP.0, 0, 0x00, 0x08, 0, 0, 0, 7]);
        let c = walk(&p).unwrap();
        assert_eq!(c.upper_proto, nh::TCP);
        assert_eq!(c.upper_off, 48);
        assert!(c.is_fragment() && !c.has_transport_header());
        // Atomic fragment (RFC 8021): offset 0, M 0 is not a fragment.
        let mut a = hdr(nh::FRAGMENT);
        a.extend_from_slice(&[nh::TCP.0, 0, 0, 0, 0, 0, 0, 7]);
        let c = walk(&a).unwrap();
        assert!(!c.is_fragment() && c.has_transport_header());
        // Truncated option header.
        let mut t = hdr(nh::HOP_BY_HOP);
        t.extend_from_slice(&[nh::UDP.0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(walk(&t), Err(ChainError::Truncated));
        // Options behind the fragment header.
        let mut m = hdr(nh::FRAGMENT);
        m.extend_from_slice(&[nh::DEST_OPTS.0, 0, 0, 0, 0, 0, 0, 7]);
        assert_eq!(walk(&m), Err(ChainError::Malformed));
        // Endless chain.
        let mut e = hdr(nh::DEST_OPTS);
        for _ in 0..10 {
            e.extend_from_slice(&[nh::DEST_OPTS.0, 0, 0, 0, 0, 0, 0, 0]);
        }
        assert_eq!(walk(&e), Err(ChainError::Malformed));
        assert_eq!(walk(&[]), Err(ChainError::Truncated));
    }
}
