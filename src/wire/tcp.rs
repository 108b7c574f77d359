//! TCP header (RFC 9293 §3.1).
//!
//! ```text
//! |          Source Port          |       Destination Port        |
//! |                        Sequence Number                        |
//! |                    Acknowledgment Number                      |
//! |  Data |       |C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//! |           Checksum            |         Urgent Pointer        |
//! ```

use super::{WireError, be16, be32, put16};

pub mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ: Range<usize> = 4..8;
    pub const ACK: Range<usize> = 8..12;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
}

pub const HEADER_LEN: usize = 20;

pub mod flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
    pub const ECE: u8 = 0x40;
    pub const CWR: u8 = 0x80;
}

/// Option kinds (RFC 9293 §3.2).
pub mod option {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    /// Maximum Segment Size: kind, length 4, 16-bit value.
    pub const MSS: u8 = 2;
    pub const MSS_LEN: u8 = 4;
}

#[derive(Debug, Clone, Copy)]
pub struct TcpPacket<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        TcpPacket { buffer }
    }
    /// Checks that the fixed 20-byte header is present. The data offset is not checked
    /// against the buffer (a quoted or first-fragment segment may be cut short): the
    /// option accessors return nothing when it points past the buffer.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(TcpPacket { buffer })
    }
    pub fn src_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::SRC_PORT.start)
    }
    pub fn dst_port(&self) -> u16 {
        be16(self.buffer.as_ref(), field::DST_PORT.start)
    }
    pub fn seq(&self) -> u32 {
        be32(self.buffer.as_ref(), field::SEQ.start)
    }
    pub fn ack(&self) -> u32 {
        be32(self.buffer.as_ref(), field::ACK.start)
    }
    /// Header length in bytes from the data offset field.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }
    pub fn window(&self) -> u16 {
        be16(self.buffer.as_ref(), field::WINDOW.start)
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }
    pub fn urgent(&self) -> u16 {
        be16(self.buffer.as_ref(), field::URGENT.start)
    }
    /// Option bytes (between the fixed header and the data offset); empty when the
    /// data offset is below 5 or points past the buffer.
    pub fn options(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(HEADER_LEN..self.header_len()).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    pub fn set_src_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::SRC_PORT.start, v);
    }
    pub fn set_dst_port(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::DST_PORT.start, v);
    }
    /// Sets the data offset for a header of `header_len` bytes (a multiple of 4), the
    /// reserved bits zero.
    pub fn set_header_len(&mut self, header_len: usize) {
        self.buffer.as_mut()[field::DATA_OFF] = ((header_len / 4) as u8) << 4;
    }
    pub fn set_flags(&mut self, v: u8) {
        self.buffer.as_mut()[field::FLAGS] = v;
    }
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), field::CHECKSUM.start, v);
    }
    /// The option bytes, writable (see [`options`](Self::options)).
    pub fn options_mut(&mut self) -> &mut [u8] {
        let hl = self.header_len();
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..hl)
            .unwrap_or(&mut [])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Hand-built from the RFC 9293 §3.1 diagram: SYN from 49152 to 80.
    #[test]
    fn rfc9293_s3_1_fields() {
        let b = [
            0xc0, 0x00, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0x12, 0x34, 0,
            0,
        ];
        let t = TcpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            (t.src_port(), t.dst_port(), t.seq(), t.ack()),
            (49152, 80, 1, 0)
        );
        assert_eq!(
            (t.header_len(), t.flags(), t.window(), t.checksum()),
            (20, flags::SYN, 0xffff, 0x1234)
        );
        let (e, _) = etherparse::TcpHeader::from_slice(&b).unwrap();
        assert!(e.syn && !e.ack);
        assert_eq!(e.checksum, 0x1234);
        assert!(TcpPacket::new_checked(&b[..19]).is_err());
        assert!(t.options().is_empty());
    }

    // RFC 9293 §3.1/§3.2: data offset 6 with an MSS option (kind 2, length 4, 1460);
    // written through the setters.
    #[test]
    fn rfc9293_s3_2_mss_option_and_setters() {
        let mut b = [0u8; 24];
        let mut t = TcpPacket::new_checked(&mut b[..]).unwrap();
        t.set_src_port(49152);
        t.set_dst_port(80);
        t.set_header_len(24);
        t.set_flags(flags::SYN | flags::ACK);
        t.set_checksum(0xabcd);
        t.options_mut()
            .copy_from_slice(&[option::MSS, option::MSS_LEN, 0x05, 0xb4]);
        assert_eq!(t.options(), &[2, 4, 0x05, 0xb4]);
        assert_eq!(
            b,
            [
                0xc0, 0x00, 0x00, 0x50, 0, 0, 0, 0, 0, 0, 0, 0, 0x60, 0x12, 0, 0, 0xab, 0xcd, 0, 0,
                2, 4, 0x05, 0xb4
            ]
        );
        // A data offset past the buffer: no options rather than a panic.
        b[12] = 0xf0;
        assert!(TcpPacket::new_checked(&b[..]).unwrap().options().is_empty());
    }
}
