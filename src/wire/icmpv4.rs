//! ICMPv4 header (RFC 792; RFC 1191 Next-Hop MTU; RFC 4884 length field).
//!
//! ```text
//! |     Type      |     Code      |          Checksum             |
//! |        rest of header (identifier/sequence, pointer, MTU...)  |
//! |                  data (for errors: the original datagram)     |
//! ```

use super::{WireError, be16, put16};
use crate::wire::checksum;

pub mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const REST: Range<usize> = 4..8;
    /// Echo identifier and sequence number.
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQ: Range<usize> = 6..8;
    /// Parameter Problem pointer (one byte).
    pub const POINTER: usize = 4;
    /// RFC 4884 length of the original datagram, in 32-bit words (types 3, 11, 12).
    pub const LENGTH: usize = 5;
    /// RFC 1191 Next-Hop MTU (type 3 code 4).
    pub const MTU: Range<usize> = 6..8;
}

pub const HEADER_LEN: usize = 8;

/// Message types (RFC 792 and the IANA registry).
pub mod ty {
    pub const ECHO_REPLY: u8 = 0;
    pub const DEST_UNREACHABLE: u8 = 3;
    pub const SOURCE_QUENCH: u8 = 4;
    pub const REDIRECT: u8 = 5;
    pub const ALT_HOST_ADDRESS: u8 = 6;
    pub const ECHO_REQUEST: u8 = 8;
    pub const ROUTER_ADVERT: u8 = 9;
    pub const ROUTER_SOLICIT: u8 = 10;
    pub const TIME_EXCEEDED: u8 = 11;
    pub const PARAM_PROBLEM: u8 = 12;
    pub const TIMESTAMP: u8 = 13;
    pub const TIMESTAMP_REPLY: u8 = 14;
    pub const INFO_REQUEST: u8 = 15;
    pub const INFO_REPLY: u8 = 16;
    pub const ADDR_MASK_REQUEST: u8 = 17;
    pub const ADDR_MASK_REPLY: u8 = 18;
}

/// True for ICMPv4 error messages (those that quote an offending datagram).
pub fn is_error(t: u8) -> bool {
    matches!(
        t,
        ty::DEST_UNREACHABLE
            | ty::SOURCE_QUENCH
            | ty::REDIRECT
            | ty::TIME_EXCEEDED
            | ty::PARAM_PROBLEM
    )
}

#[derive(Debug, Clone, Copy)]
pub struct Icmpv4Packet<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        Icmpv4Packet { buffer }
    }
    /// Checks that the 8-byte header is present.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        if buffer.as_ref().len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        Ok(Icmpv4Packet { buffer })
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
    pub fn pointer(&self) -> u8 {
        self.buffer.as_ref()[field::POINTER]
    }
    /// RFC 4884 original-datagram length in 32-bit words (0: no extension).
    pub fn length(&self) -> u8 {
        self.buffer.as_ref()[field::LENGTH]
    }
    pub fn mtu(&self) -> u16 {
        be16(self.buffer.as_ref(), 6)
    }
    pub fn rest(&self) -> [u8; 4] {
        let b = self.buffer.as_ref();
        [b[4], b[5], b[6], b[7]]
    }
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
    /// The checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::ones_sum(self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
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
    /// Computes the checksum over the whole buffer (ICMPv4 has no pseudo-header).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 792 echo request, hand-built: type 8, code 0, id 0x1234, seq 1, data "abcd".
    #[test]
    fn rfc792_echo() {
        let mut b = [8u8, 0, 0, 0, 0x12, 0x34, 0x00, 0x01, b'a', b'b', b'c', b'd'];
        let mut p = Icmpv4Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(
            (p.msg_type(), p.code(), p.echo_ident(), p.echo_seq()),
            (8, 0, 0x1234, 1)
        );
        assert_eq!(p.payload(), b"abcd");
        let (e, _) = etherparse::Icmpv4Header::from_slice(&b).unwrap();
        assert_eq!(e.checksum, e.icmp_type.calc_checksum(b"abcd"));
    }

    // RFC 1191 §4: Fragmentation Needed carries the Next-Hop MTU in the low 16 bits.
    #[test]
    fn rfc1191_s4_mtu() {
        let b = [3u8, 4, 0, 0, 0, 0, 0x05, 0xdc];
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.mtu(), 1500);
        assert!(is_error(p.msg_type()) && !is_error(ty::ECHO_REQUEST));
        assert!(Icmpv4Packet::new_checked(&b[..7]).is_err());
    }
}
