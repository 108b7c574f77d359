//! ICMPv6 header (RFC 4443; RFC 4884 length field).
//!
//! ```text
//! |     Type      |     Code      |          Checksum             |
//! |   message body (identifier/sequence, MTU, pointer...)         |
//! ```

use super::{WireError, be16, be32, put16};
use crate::wire::checksum;

pub mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const REST: Range<usize> = 4..8;
    /// Packet Too Big MTU (32 bits).
    pub const MTU: Range<usize> = 4..8;
    /// Parameter Problem pointer (32 bits).
    pub const POINTER: Range<usize> = 4..8;
    /// RFC 4884 length of the original datagram in 64-bit words (types 1 and 3).
    pub const LENGTH: usize = 4;
}

pub const HEADER_LEN: usize = 8;

/// Message types (RFC 4443 §2.1 and the IANA registry).
pub mod ty {
    pub const DEST_UNREACHABLE: u8 = 1;
    pub const PACKET_TOO_BIG: u8 = 2;
    pub const TIME_EXCEEDED: u8 = 3;
    pub const PARAM_PROBLEM: u8 = 4;
    pub const ECHO_REQUEST: u8 = 128;
    pub const ECHO_REPLY: u8 = 129;
}

/// Error messages have types 0–127 (RFC 4443 §2.1).
pub fn is_error(t: u8) -> bool {
    t < 128
}

#[derive(Debug, Clone, Copy)]
pub struct Icmpv6Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Icmpv6Packet { buffer }
    }
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(Icmpv6Packet { buffer })
    }
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }
    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), 2)
    }
    pub fn echo_ident(&self) -> u16 {
        be16(self.buffer.as_ref(), 4)
    }
    pub fn echo_seq(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }
    pub fn mtu(&self) -> u32 {
        be32(self.buffer.as_ref(), 4)
    }
    pub fn pointer(&self) -> u32 {
        be32(self.buffer.as_ref(), 4)
    }
    /// RFC 4884 original-datagram length in 64-bit words (0: no extension).
    pub fn length(&self) -> u8 {
        self.buffer.as_ref()[field::LENGTH]
    }
    pub fn rest(&self) -> [u8; 4] {
        let b = self.buffer.as_ref();
        [b[4], b[5], b[6], b[7]]
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
    /// Verifies the checksum with the IPv6 pseudo-header (RFC 4443 §2.3).
    pub fn verify_checksum(&self, src: [u8; 16], dst: [u8; 16]) -> bool {
        let b = self.buffer.as_ref();
        let ph = checksum::pseudo_v6(src, dst, 58, b.len() as u32);
        checksum::add(ph, checksum::ones_sum(b)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    pub fn set_msg_type(&mut self, v: u8) {
        self.buffer.as_mut()[field::TYPE] = v;
    }
    pub fn set_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }
    pub fn set_checksum(&mut self, v: u16) {
        put16(self.buffer.as_mut(), 2, v);
    }
    pub fn set_rest(&mut self, r: [u8; 4]) {
        self.buffer.as_mut()[field::REST].copy_from_slice(&r);
    }
    /// Computes the checksum over the whole buffer plus the IPv6 pseudo-header.
    pub fn fill_checksum(&mut self, src: [u8; 16], dst: [u8; 16]) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let ph = checksum::pseudo_v6(src, dst, 58, b.len() as u32);
        let c = !checksum::add(ph, checksum::ones_sum(b));
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4443 §4.1 echo request, hand-built, checked against etherparse.
    #[test]
    fn rfc4443_s4_1_echo() {
        let src = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
        let dst = [
            0x20, 0x01, 0x0d, 0xb8, 0, 0x64, 0, 0, 0, 0, 0, 0, 0xc6, 0x33, 0x64, 2,
        ];
        let mut b = [128u8, 0, 0, 0, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c'];
        let mut p = Icmpv6Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum(src, dst);
        assert!(p.verify_checksum(src, dst));
        assert_eq!(
            (p.msg_type(), p.echo_ident(), p.echo_seq()),
            (128, 0x1234, 1)
        );
        let (e, _) = etherparse::Icmpv6Header::from_slice(&b).unwrap();
        assert_eq!(
            e.checksum,
            e.icmp_type.calc_checksum(src, dst, b"abc").unwrap()
        );
    }

    // RFC 4443 §3.2 Packet Too Big: 32-bit MTU.
    #[test]
    fn rfc4443_s3_2_mtu() {
        let b = [2u8, 0, 0, 0, 0, 0, 0x05, 0x00];
        let p = Icmpv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.mtu(), 1280);
        assert!(is_error(2) && !is_error(128));
        assert!(Icmpv6Packet::new_checked(&b[..7]).is_err());
    }
}
