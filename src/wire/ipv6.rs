//! IPv6 fixed header (RFC 8200 §3).
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |           Flow Label                  |
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! |                         Source Address (128)                  |
//! |                      Destination Address (128)                |
//! ```

use super::ip::IpProtocol;
use super::{WireError, be16, be32, put16, put32};

pub mod field {
    use core::ops::Range;
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
}

/// Length of the fixed IPv6 header.
pub const HEADER_LEN: usize = 40;

#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Validates the version and that Payload Length fits the buffer (extra trailing
    /// bytes are allowed and ignored by [`payload`](Self::payload)).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let p = Self::new_checked_header(buffer)?;
        if p.total_len() > p.buffer.as_ref().len() {
            return Err(WireError::BadLength);
        }
        Ok(p)
    }

    /// Validates only the fixed header (packets quoted in ICMP errors are truncated).
    pub fn new_checked_header(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[0] >> 4 != 6 {
            return Err(WireError::BadVersion);
        }
        Ok(Ipv6Packet { buffer })
    }

    pub fn into_inner(self) -> T {
        self.buffer
    }
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }
    pub fn traffic_class(&self) -> u8 {
        let b = self.buffer.as_ref();
        (b[0] << 4) | (b[1] >> 4)
    }
    pub fn flow_label(&self) -> u32 {
        be32(self.buffer.as_ref(), field::VER_TC_FLOW.start) & 0x000f_ffff
    }
    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PAYLOAD_LEN.start)
    }
    /// Length of the whole packet by its header: the fixed header plus Payload Length.
    pub fn total_len(&self) -> usize {
        HEADER_LEN + usize::from(self.payload_len())
    }
    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(self.buffer.as_ref()[field::NEXT_HEADER])
    }
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }
    pub fn src_addr(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        a
    }
    pub fn dst_addr(&self) -> [u8; 16] {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        a
    }
    /// Bytes after the fixed header up to Payload Length or the end of the buffer.
    pub fn payload(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        let end = self.total_len().min(b.len());
        b.get(HEADER_LEN..end).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Sets version 6, the traffic class and the flow label.
    pub fn set_ver_tc_flow(&mut self, tc: u8, flow: u32) {
        let v = (6u32 << 28) | (u32::from(tc) << 20) | (flow & 0x000f_ffff);
        put32(self.buffer.as_mut(), field::VER_TC_FLOW.start, v);
    }
    pub fn set_payload_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::PAYLOAD_LEN.start, v);
    }
    pub fn set_next_header(&mut self, v: IpProtocol) {
        self.buffer.as_mut()[field::NEXT_HEADER] = v.0;
    }
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }
    pub fn set_src_addr(&mut self, a: [u8; 16]) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a);
    }
    pub fn set_dst_addr(&mut self, a: [u8; 16]) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a);
    }
}

/// Fields of a fixed IPv6 header, for writing a fresh header in one go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Repr {
    pub traffic_class: u8,
    pub flow_label: u32,
    pub payload_len: u16,
    pub next_header: IpProtocol,
    pub hop_limit: u8,
    pub src: [u8; 16],
    pub dst: [u8; 16],
}

impl Ipv6Repr {
    /// Writes the 40-byte header into `b[..40]`; false (nothing written) if too short.
    #[inline]
    pub fn emit(&self, b: &mut [u8]) -> bool {
        let Some(h) = b.get_mut(..HEADER_LEN) else {
            return false;
        };
        let v =
            (6u32 << 28) | (u32::from(self.traffic_class) << 20) | (self.flow_label & 0x000f_ffff);
        h[field::VER_TC_FLOW].copy_from_slice(&v.to_be_bytes());
        h[field::PAYLOAD_LEN].copy_from_slice(&self.payload_len.to_be_bytes());
        h[field::NEXT_HEADER] = self.next_header.0;
        h[field::HOP_LIMIT] = self.hop_limit;
        h[field::SRC].copy_from_slice(&self.src);
        h[field::DST].copy_from_slice(&self.dst);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Hand-built from the RFC 8200 §3 diagram: TC 0xb8, flow 0x12345, payload 8, UDP,
    // hop limit 64, 2001:db8:1::2 → 2001:db8:64::c633:6402, then 8 payload bytes.
    fn golden() -> Vec<u8> {
        let mut v = vec![0x6b, 0x81, 0x23, 0x45, 0x00, 0x08, 17, 64];
        v.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        v.extend_from_slice(&[
            0x20, 0x01, 0x0d, 0xb8, 0, 0x64, 0, 0, 0, 0, 0, 0, 0xc6, 0x33, 0x64, 2,
        ]);
        v.extend_from_slice(&[0x04, 0xd2, 0x16, 0x2e, 0x00, 0x08, 0x00, 0x00]);
        v
    }

    #[test]
    fn rfc8200_s3_parse() {
        let g = golden();
        let p = Ipv6Packet::new_checked(&g[..]).unwrap();
        assert_eq!(p.version(), 6);
        assert_eq!(p.traffic_class(), 0xb8);
        assert_eq!(p.flow_label(), 0x12345);
        assert_eq!(p.payload_len(), 8);
        assert_eq!(p.next_header(), IpProtocol(17));
        assert_eq!(p.total_len(), 48);
        assert_eq!(p.hop_limit(), 64);
        assert_eq!(p.payload().len(), 8);
        let (h, _) = etherparse::Ipv6Header::from_slice(&g).unwrap();
        assert_eq!(h.source, p.src_addr());
        assert_eq!(h.destination, p.dst_addr());
        assert_eq!(h.traffic_class, 0xb8);
        assert_eq!(u32::from(h.flow_label), 0x12345);
    }

    #[test]
    fn rfc8200_s3_emit() {
        let g = golden();
        let r = Ipv6Repr {
            traffic_class: 0xb8,
            flow_label: 0x12345,
            payload_len: 8,
            next_header: IpProtocol(17),
            hop_limit: 64,
            src: Ipv6Packet::new_unchecked(&g[..]).src_addr(),
            dst: Ipv6Packet::new_unchecked(&g[..]).dst_addr(),
        };
        let mut b = [0u8; 40];
        assert!(r.emit(&mut b));
        assert_eq!(&b[..], &g[..40]);
        let mut b2 = g.clone();
        let mut p = Ipv6Packet::new_unchecked(&mut b2[..]);
        p.set_ver_tc_flow(0xb8, 0x12345);
        p.set_payload_len(8);
        assert_eq!(b2, g);
    }

    #[test]
    fn checked_rejects() {
        let g = golden();
        assert_eq!(
            Ipv6Packet::new_checked(&g[..39]).err(),
            Some(WireError::Truncated)
        );
        assert_eq!(
            Ipv6Packet::new_checked(&g[..47]).err(),
            Some(WireError::BadLength)
        );
        let mut b = g.clone();
        b[0] = 0x4b;
        assert_eq!(
            Ipv6Packet::new_checked(&b[..]).err(),
            Some(WireError::BadVersion)
        );
        assert!(Ipv6Packet::new_checked_header(&g[..40]).is_ok());
    }
}
