//! IPv4 header (RFC 791 §3.1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |Type of Service|          Total Length         |
//! |         Identification        |Flags|      Fragment Offset    |
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! |                       Source Address                          |
//! |                    Destination Address                        |
//! |                    Options                    |    Padding    |
//! ```

use super::ip::IpProtocol;
use super::{WireError, be16, put16};
use crate::wire::checksum;

pub mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = 20;
/// Don't Fragment flag in the flags/offset word.
pub const FLAG_DF: u16 = 0x4000;
/// More Fragments flag in the flags/offset word.
pub const FLAG_MF: u16 = 0x2000;
/// Fragment offset mask (8-byte units) in the flags/offset word.
pub const OFFSET_MASK: u16 = 0x1fff;

/// Option types that matter to a translator (RFC 791 §3.1).
pub mod option {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const LSRR: u8 = 131;
    pub const SSRR: u8 = 137;
}

#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Validates version, IHL and Total Length against the buffer. Bytes past Total
    /// Length are allowed (link padding); the payload accessors ignore them.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_checked_header(buffer)?;
        let total = usize::from(p.total_len());
        if total < p.header_len() {
            return Err(WireError::BadLength);
        }
        if total > p.buffer.as_ref().len() {
            return Err(WireError::BadLength);
        }
        Ok(p)
    }

    /// Validates only that the header itself (options included) is present: for packets
    /// quoted inside ICMP errors, which are usually truncated.
    pub fn new_checked_header(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[0] >> 4 != 4 {
            return Err(WireError::BadVersion);
        }
        let hl = usize::from(b[0] & 0x0f) * 4;
        if hl < HEADER_LEN || hl > b.len() {
            return Err(WireError::BadHeaderLen);
        }
        Ok(Ipv4Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }
    /// Header length in bytes (IHL × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }
    pub fn tos(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }
    pub fn total_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }
    pub fn ident(&self) -> u16 {
        be16(self.buffer.as_ref(), field::IDENT.start)
    }
    fn flg_off(&self) -> u16 {
        be16(self.buffer.as_ref(), field::FLG_OFF.start)
    }
    pub fn dont_frag(&self) -> bool {
        self.flg_off() & FLAG_DF != 0
    }
    pub fn more_frags(&self) -> bool {
        self.flg_off() & FLAG_MF != 0
    }
    /// Fragment offset in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        self.flg_off() & OFFSET_MASK
    }
    /// True for any fragment (first, middle or last) of a fragmented datagram.
    pub fn is_fragment(&self) -> bool {
        self.flg_off() & (FLAG_MF | OFFSET_MASK) != 0
    }
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[field::PROTOCOL])
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
    pub fn src_addr(&self) -> [u8; 4] {
        let b = self.buffer.as_ref();
        let s = field::SRC.start;
        [b[s], b[s + 1], b[s + 2], b[s + 3]]
    }
    pub fn dst_addr(&self) -> [u8; 4] {
        let b = self.buffer.as_ref();
        let d = field::DST.start;
        [b[d], b[d + 1], b[d + 2], b[d + 3]]
    }
    /// Option bytes (between the fixed header and IHL × 4).
    pub fn options(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(HEADER_LEN..self.header_len()).unwrap_or(&[])
    }
    /// The header checksum verifies (RFC 1071: the sum over the header is all ones).
    pub fn verify_checksum(&self) -> bool {
        let b = self.buffer.as_ref();
        b.get(..self.header_len())
            .is_some_and(|h| checksum::ones_sum(h) == 0xffff)
    }
    /// Payload bytes: after the header, up to Total Length or the end of the buffer,
    /// whichever comes first (quoted packets are truncated).
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = usize::from(self.total_len()).min(b.len());
        b.get(self.header_len()..end).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    pub fn set_version_ihl(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ((header_len / 4) as u8 & 0x0f);
    }
    pub fn set_tos(&mut self, v: u8) {
        self.buffer.as_mut()[field::TOS] = v;
    }
    pub fn set_total_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::LENGTH.start, v);
    }
    pub fn set_ident(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::IDENT.start, v);
    }
    /// Sets DF, MF and the fragment offset (8-byte units) at once.
    pub fn set_frag(&mut self, df: bool, mf: bool, offset: u16) {
        let v = (if df { FLAG_DF } else { 0 })
            | (if mf { FLAG_MF } else { 0 })
            | (offset & OFFSET_MASK);
        put16(self.buffer.as_mut(), field::FLG_OFF.start, v);
    }
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }
    pub fn set_protocol(&mut self, v: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = v.0;
    }
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }
    pub fn set_src_addr(&mut self, a: [u8; 4]) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a);
    }
    pub fn set_dst_addr(&mut self, a: [u8; 4]) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a);
    }
    /// Computes and stores the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len();
        let c = checksum::checksum(&self.buffer.as_ref()[..hl]);
        self.set_checksum(c);
    }
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        let end = usize::from(self.total_len()).min(self.buffer.as_ref().len());
        self.buffer.as_mut().get_mut(hl..end).unwrap_or(&mut [])
    }
}

/// Fields of an IPv4 header without options, for writing a fresh header in one go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Repr {
    pub tos: u8,
    pub total_len: u16,
    pub ident: u16,
    pub df: bool,
    pub mf: bool,
    pub frag_offset: u16,
    pub ttl: u8,
    pub protocol: IpProtocol,
    pub src: [u8; 4],
    pub dst: [u8; 4],
}

impl Ipv4Repr {
    /// Writes a 20-byte header with a valid checksum into `b[..20]`. Returns false (and
    /// writes nothing) if `b` is too short.
    ///
    /// The checksum is summed from the fields as 16-bit words (RFC 1071 §2(B) allows
    /// any grouping) rather than over the assembled bytes: it is on every translated
    /// packet's path.
    #[inline]
    pub fn emit(&self, b: &mut [u8]) -> bool {
        let Some(h) = b.first_chunk_mut::<HEADER_LEN>() else {
            return false;
        };
        let flg = (if self.df { FLAG_DF } else { 0 })
            | (if self.mf { FLAG_MF } else { 0 })
            | (self.frag_offset & OFFSET_MASK);
        let (src, dst) = (u32::from_be_bytes(self.src), u32::from_be_bytes(self.dst));
        let sum = 0x4500
            + u64::from(self.tos)
            + u64::from(self.total_len)
            + u64::from(self.ident)
            + u64::from(flg)
            + (u64::from(self.ttl) << 8)
            + u64::from(self.protocol.0)
            + u64::from(src)
            + u64::from(dst);
        let c = !checksum::fold(sum);
        let w0 = 0x4500_0000 | (u32::from(self.tos) << 16) | u32::from(self.total_len);
        let w1 = (u32::from(self.ident) << 16) | u32::from(flg);
        let w2 = (u32::from(self.ttl) << 24) | (u32::from(self.protocol.0) << 16) | u32::from(c);
        h[0..4].copy_from_slice(&w0.to_be_bytes());
        h[4..8].copy_from_slice(&w1.to_be_bytes());
        h[8..12].copy_from_slice(&w2.to_be_bytes());
        h[12..16].copy_from_slice(&self.src);
        h[16..20].copy_from_slice(&self.dst);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Hand-built from the RFC 791 §3.1 diagram: version 4, IHL 5, TOS 0xb8, total 28,
    // ID 0x1234, DF, TTL 64, UDP, 192.0.2.1 → 198.51.100.2, checksum filled below.
    const GOLDEN: [u8; 28] = [
        0x45, 0xb8, 0x00, 0x1c, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 192, 0, 2, 1, 198,
        51, 100, 2, 0x04, 0xd2, 0x16, 0x2e, 0x00, 0x08, 0x00, 0x00,
    ];

    #[test]
    fn rfc791_parse_fields() {
        let p = Ipv4Packet::new_checked(&GOLDEN[..]).unwrap();
        assert_eq!(p.version(), 4);
        assert_eq!(p.header_len(), 20);
        assert_eq!(p.tos(), 0xb8);
        assert_eq!(p.total_len(), 28);
        assert_eq!(p.ident(), 0x1234);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        assert_eq!(p.ttl(), 64);
        assert_eq!(p.protocol(), IpProtocol(17));
        assert_eq!(p.src_addr(), [192, 0, 2, 1]);
        assert_eq!(p.dst_addr(), [198, 51, 100, 2]);
        assert_eq!(p.payload().len(), 8);
    }

    #[test]
    fn rfc791_checksum_and_etherparse() {
        let mut b = GOLDEN;
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        assert!(p.verify_checksum());
        let (h, _) = etherparse::Ipv4Header::from_slice(&b).unwrap();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        assert_eq!(h.identification, 0x1234);
        assert!(h.dont_fragment);
    }

    #[test]
    fn repr_emit_matches_view() {
        let r = Ipv4Repr {
            tos: 0xb8,
            total_len: 28,
            ident: 0x1234,
            df: true,
            mf: false,
            frag_offset: 0,
            ttl: 64,
            protocol: IpProtocol(17),
            src: [192, 0, 2, 1],
            dst: [198, 51, 100, 2],
        };
        let mut b = GOLDEN;
        assert!(r.emit(&mut b));
        let mut g = GOLDEN;
        Ipv4Packet::new_unchecked(&mut g[..]).fill_checksum();
        assert_eq!(b, g);
        assert!(!r.emit(&mut [0u8; 19]));
    }

    // RFC 1071: the field-wise checksum equals the checksum over the emitted bytes,
    // including carries (all-ones fields).
    #[test]
    fn rfc1071_emit_checksum_fieldwise() {
        for (v, f) in [(0u8, false), (0xff, true), (0x5a, false)] {
            let r = Ipv4Repr {
                tos: v,
                total_len: u16::from(v) * 257,
                ident: u16::from(v) * 255,
                df: f,
                mf: !f,
                frag_offset: 0x1fff,
                ttl: v,
                protocol: IpProtocol(v),
                src: [v; 4],
                dst: [0xff; 4],
            };
            let mut b = [0u8; 20];
            assert!(r.emit(&mut b));
            assert_eq!(checksum::ones_sum(&b), 0xffff);
        }
    }

    #[test]
    fn checked_rejects() {
        assert_eq!(
            Ipv4Packet::new_checked(&GOLDEN[..19]).err(),
            Some(WireError::Truncated)
        );
        let mut b = GOLDEN;
        b[0] = 0x44;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).err(),
            Some(WireError::BadHeaderLen)
        );
        b[0] = 0x4f;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).err(),
            Some(WireError::BadHeaderLen)
        );
        b[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).err(),
            Some(WireError::BadVersion)
        );
        let mut b = GOLDEN;
        b[3] = 29;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).err(),
            Some(WireError::BadLength)
        );
        b[3] = 19;
        assert_eq!(
            Ipv4Packet::new_checked(&b[..]).err(),
            Some(WireError::BadLength)
        );
        // Truncated quoted packet: header-only check passes, payload is clamped.
        let p = Ipv4Packet::new_checked_header(&GOLDEN[..24]).unwrap();
        assert_eq!(p.payload().len(), 4);
    }

    #[test]
    fn fragment_fields() {
        let mut b = GOLDEN;
        let mut p = Ipv4Packet::new_checked(&mut b[..]).unwrap();
        p.set_frag(false, true, 185);
        assert!(p.more_frags() && !p.dont_frag() && p.is_fragment());
        assert_eq!(p.frag_offset(), 185);
        assert_eq!(&b[6..8], &[0x20, 0xb9]);
    }
}
