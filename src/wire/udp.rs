//! UDP header (RFC 768).
//!
//! ```text
//! |          Source Port          |       Destination Port        |
//! |            Length             |           Checksum            |
//! ```

use super::{WireError, be16, put16};
use crate::wire::checksum;

pub mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

pub const HEADER_LEN: usize = 8;

#[derive(Debug, Clone, Copy)]
pub struct UdpPacket<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        UdpPacket { buffer }
    }
    /// Checks that the 8-byte header is present (the Length field is not checked: in a
    /// first fragment or a quoted packet the datagram continues elsewhere).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(UdpPacket { buffer })
    }
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT.start)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT.start)
    }
    pub fn len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::LENGTH.start)
    }
    pub fn is_empty(&self) -> bool {
        self.len() as usize <= HEADER_LEN
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT.start, v);
    }
    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT.start, v);
    }
    pub fn set_len(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::LENGTH.start, v);
    }
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }
    /// Computes the checksum over the whole buffer (header and data, so the datagram
    /// must be complete) plus `pseudo`, the pseudo-header sum. A computed zero is sent
    /// as all ones: zero means "no checksum" (RFC 768).
    pub fn fill_checksum(&mut self, pseudo: u16) {
        self.set_checksum(0);
        let c = match !checksum::add(pseudo, checksum::ones_sum(self.buffer.as_ref())) {
            0 => 0xffff,
            c => c,
        };
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ip::IpProtocol;

    // RFC 768 layout, hand-built: ports 1234 → 5678, length 12, checksum 0xabcd.
    #[test]
    fn rfc768_fields() {
        let b = [0x04, 0xd2, 0x16, 0x2e, 0x00, 0x0c, 0xab, 0xcd, 1, 2, 3, 4];
        let u = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            (u.src_port(), u.dst_port(), u.len(), u.checksum()),
            (1234, 5678, 12, 0xabcd)
        );
        let (e, _) = etherparse::UdpHeader::from_slice(&b).unwrap();
        assert_eq!(
            (e.source_port, e.destination_port, e.length, e.checksum),
            (1234, 5678, 12, 0xabcd)
        );
        assert!(UdpPacket::new_checked(&b[..7]).is_err());
        let mut m = b;
        let mut u = UdpPacket::new_checked(&mut m[..]).unwrap();
        u.set_checksum(0xffff);
        u.set_src_port(1);
        assert_eq!(&m[..2], &[0, 1]);
        assert_eq!(&m[6..8], &[0xff, 0xff]);
    }

    // RFC 768: the checksum over pseudo-header, header and data; one that computes to
    // zero is transmitted as all ones.
    #[test]
    fn rfc768_fill_checksum() {
        let mut b = [0x04, 0xd2, 0x16, 0x2e, 0x00, 0x0c, 0xab, 0xcd, 1, 2, 3, 4];
        let ph = checksum::pseudo_v4([192, 0, 2, 1], [198, 51, 100, 2], IpProtocol(17), 12);
        UdpPacket::new_checked(&mut b[..])
            .unwrap()
            .fill_checksum(ph);
        assert_eq!(checksum::add(ph, checksum::ones_sum(&b)), 0xffff);
        // Data that sums to all ones with the header: the checksum would be zero.
        let mut z = [0u8; 10];
        let s = checksum::ones_sum(&z);
        z[8..10].copy_from_slice(&(!s).to_be_bytes());
        UdpPacket::new_checked(&mut z[..]).unwrap().fill_checksum(0);
        assert_eq!(&z[6..8], &[0xff, 0xff]);
    }
}
