//! ICMPv6 header (RFC 4443; RFC 4884 length field).
//!
//! ```text
//! |     Type      |     Code      |          Checksum             |
//! |   message body (identifier/sequence, MTU, pointer...)         |
//! ```

use super::ip::IpProtocol;
use super::{WireError, be16, be32, enum_with_unknown, icmp_view, put16};
use crate::wire::checksum;

pub mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    pub const REST: Range<usize> = 4..8;
    /// Echo identifier and sequence number (RFC 4443 §4).
    pub const ECHO_IDENT: Range<usize> = 4..6;
    pub const ECHO_SEQ: Range<usize> = 6..8;
    /// Packet Too Big MTU (32 bits).
    pub const MTU: Range<usize> = 4..8;
    /// Parameter Problem pointer (32 bits).
    pub const POINTER: Range<usize> = 4..8;
    /// RFC 4884 length of the original datagram in 64-bit words (types 1 and 3).
    pub const LENGTH: usize = 4;
}

pub const HEADER_LEN: usize = 8;

enum_with_unknown! {
    /// Message types (RFC 4443 §2.1; MLD RFC 2710 §3; Neighbor Discovery RFC 4861 §4;
    /// IANA "ICMPv6 Type Numbers").
    pub enum Message(u8) {
        DstUnreachable = 1,
        PktTooBig = 2,
        TimeExceeded = 3,
        ParamProblem = 4,
        EchoRequest = 128,
        EchoReply = 129,
        MldQuery = 130,
        MldReport = 131,
        MldDone = 132,
        RouterSolicit = 133,
        RouterAdvert = 134,
        NeighborSolicit = 135,
        NeighborAdvert = 136,
        Redirect = 137,
    }
}

impl Message {
    /// Error messages have a zero high-order bit in their type, types 0–127 (RFC 4443
    /// §2.1).
    #[inline]
    pub fn is_error(self) -> bool {
        u8::from(self) & 0x80 == 0
    }

    /// The errors whose fifth octet is the RFC 4884 length attribute, the only ones an
    /// ICMP Extension Structure may follow (RFC 4884 §4: Destination Unreachable and Time
    /// Exceeded; Packet Too Big and Parameter Problem use those bits).
    #[inline]
    pub fn has_length_attribute(self) -> bool {
        matches!(self, Message::DstUnreachable | Message::TimeExceeded)
    }
}

enum_with_unknown! {
    /// Destination Unreachable codes (RFC 4443 §3.1).
    pub enum DstUnreachable(u8) {
        /// No route to destination.
        NoRoute = 0,
        /// Communication with destination administratively prohibited.
        AdminProhibit = 1,
        /// Beyond scope of source address.
        BeyondScope = 2,
        /// Address unreachable.
        AddrUnreachable = 3,
        /// Port unreachable.
        PortUnreachable = 4,
        /// Source address failed ingress/egress policy.
        FailedPolicy = 5,
        /// Reject route to destination.
        RejectRoute = 6,
    }
}

enum_with_unknown! {
    /// Time Exceeded codes (RFC 4443 §3.3).
    pub enum TimeExceeded(u8) {
        /// Hop limit exceeded in transit.
        HopLimitExceeded = 0,
        /// Fragment reassembly time exceeded.
        FragReassemblyExceeded = 1,
    }
}

enum_with_unknown! {
    /// Parameter Problem codes (RFC 4443 §3.4).
    pub enum ParamProblem(u8) {
        /// Erroneous header field encountered.
        ErroneousHeaderField = 0,
        /// Unrecognized Next Header type encountered.
        UnrecognizedNextHeader = 1,
        /// Unrecognized IPv6 option encountered.
        UnrecognizedOption = 2,
    }
}

/// An error message's type with its code, typed per type: what the translator emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorMessage {
    DstUnreachable(DstUnreachable),
    /// Its code is 0 (RFC 4443 §3.2).
    PktTooBig,
    TimeExceeded(TimeExceeded),
    ParamProblem(ParamProblem),
}

impl ErrorMessage {
    #[inline]
    pub fn msg_type(self) -> Message {
        match self {
            ErrorMessage::DstUnreachable(_) => Message::DstUnreachable,
            ErrorMessage::PktTooBig => Message::PktTooBig,
            ErrorMessage::TimeExceeded(_) => Message::TimeExceeded,
            ErrorMessage::ParamProblem(_) => Message::ParamProblem,
        }
    }
    #[inline]
    pub fn code(self) -> u8 {
        match self {
            ErrorMessage::DstUnreachable(c) => c.into(),
            ErrorMessage::PktTooBig => 0,
            ErrorMessage::TimeExceeded(c) => c.into(),
            ErrorMessage::ParamProblem(c) => c.into(),
        }
    }
}

icmp_view!(Icmpv6Packet);

impl<T: AsRef<[u8]>> Icmpv6Packet<T> {
    pub fn mtu(&self) -> u32 {
        be32(self.buffer.as_ref(), field::MTU.start)
    }
    pub fn pointer(&self) -> u32 {
        be32(self.buffer.as_ref(), field::POINTER.start)
    }
    /// Verifies the checksum with the IPv6 pseudo-header (RFC 4443 §2.3).
    pub fn verify_checksum(&self, src: [u8; 16], dst: [u8; 16]) -> bool {
        let b = self.buffer.as_ref();
        let ph = checksum::pseudo_v6(src, dst, IpProtocol::ICMPV6, b.len() as u32);
        checksum::add(ph, checksum::ones_sum(b)) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv6Packet<T> {
    /// Computes the checksum over the whole buffer plus the IPv6 pseudo-header.
    pub fn fill_checksum(&mut self, src: [u8; 16], dst: [u8; 16]) {
        self.set_checksum(0);
        let b = self.buffer.as_ref();
        let ph = checksum::pseudo_v6(src, dst, IpProtocol::ICMPV6, b.len() as u32);
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
            (Message::EchoRequest, 0x1234, 1)
        );
        let (e, _) = etherparse::Icmpv6Header::from_slice(&b).unwrap();
        assert_eq!(
            e.checksum,
            e.icmp_type.calc_checksum(src, dst, b"abc").unwrap()
        );
    }

    // RFC 4884 §4: the length attribute (64-bit words) is the fifth octet of Destination
    // Unreachable and Time Exceeded, and of no other type.
    #[test]
    fn rfc4884_s4_length_attribute() {
        for v in 0..=255u8 {
            let m = Message::from(v);
            assert_eq!(m.has_length_attribute(), matches!(v, 1 | 3), "type {v}");
        }
        let mut b = [3u8, 0, 0, 0, 0, 0, 0, 0];
        let mut p = Icmpv6Packet::new_checked(&mut b[..]).unwrap();
        p.set_length(19);
        assert_eq!(p.length(), 19);
        assert_eq!(b[4..8], [19, 0, 0, 0]);
    }

    // RFC 4443 §3.2 Packet Too Big: 32-bit MTU.
    #[test]
    fn rfc4443_s3_2_mtu() {
        let b = [2u8, 0, 0, 0, 0, 0, 0x05, 0x00];
        let p = Icmpv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.mtu(), 1280);
        assert_eq!(p.msg_type(), Message::PktTooBig);
        assert!(Icmpv6Packet::new_checked(&b[..7]).is_err());
    }

    // Type numbers: RFC 4443 §2.1 (1–4, 128, 129), RFC 2710 §3 (130–132), RFC 4861 §4
    // (133–137).
    #[test]
    fn rfc4443_s2_1_types() {
        let golden = [
            (Message::DstUnreachable, 1u8),
            (Message::PktTooBig, 2),
            (Message::TimeExceeded, 3),
            (Message::ParamProblem, 4),
            (Message::EchoRequest, 128),
            (Message::EchoReply, 129),
            (Message::MldQuery, 130),
            (Message::MldReport, 131),
            (Message::MldDone, 132),
            (Message::RouterSolicit, 133),
            (Message::RouterAdvert, 134),
            (Message::NeighborSolicit, 135),
            (Message::NeighborAdvert, 136),
            (Message::Redirect, 137),
        ];
        for (m, v) in golden {
            assert_eq!((u8::from(m), Message::from(v)), (v, m));
        }
        // RFC 4443 §2.1: types 0–127 are errors, 128–255 informational.
        for v in 0..=255u8 {
            let m = Message::from(v);
            assert_eq!(u8::from(m), v);
            assert_eq!(m.is_error(), v <= 127, "type {v}");
        }
        assert_eq!(Message::from(0), Message::Unknown(0));
    }

    // Codes: RFC 4443 §3.1 (Destination Unreachable), §3.3 (Time Exceeded), §3.4
    // (Parameter Problem); §3.2: Packet Too Big has code 0.
    #[test]
    fn rfc4443_s3_codes() {
        use DstUnreachable as U;
        let unreach = [
            (U::NoRoute, 0u8),
            (U::AdminProhibit, 1),
            (U::BeyondScope, 2),
            (U::AddrUnreachable, 3),
            (U::PortUnreachable, 4),
            (U::FailedPolicy, 5),
            (U::RejectRoute, 6),
        ];
        for (c, v) in unreach {
            assert_eq!((u8::from(c), U::from(v)), (v, c));
        }
        assert_eq!(U::from(7), U::Unknown(7));
        for (c, v) in [
            (TimeExceeded::HopLimitExceeded, 0u8),
            (TimeExceeded::FragReassemblyExceeded, 1),
        ] {
            assert_eq!((u8::from(c), TimeExceeded::from(v)), (v, c));
        }
        for (c, v) in [
            (ParamProblem::ErroneousHeaderField, 0u8),
            (ParamProblem::UnrecognizedNextHeader, 1),
            (ParamProblem::UnrecognizedOption, 2),
        ] {
            assert_eq!((u8::from(c), ParamProblem::from(v)), (v, c));
        }
        let e = ErrorMessage::PktTooBig;
        assert_eq!((e.msg_type(), e.code()), (Message::PktTooBig, 0));
        let e = ErrorMessage::DstUnreachable(U::AddrUnreachable);
        assert_eq!((e.msg_type(), e.code()), (Message::DstUnreachable, 3));
        let e = ErrorMessage::ParamProblem(ParamProblem::UnrecognizedNextHeader);
        assert_eq!((e.msg_type(), e.code()), (Message::ParamProblem, 1));
        let e = ErrorMessage::TimeExceeded(TimeExceeded::HopLimitExceeded);
        assert_eq!((e.msg_type(), e.code()), (Message::TimeExceeded, 0));
        let mut b = [0xffu8; 8];
        Icmpv6Packet::new_checked(&mut b[..])
            .unwrap()
            .set_error(ErrorMessage::PktTooBig);
        assert_eq!(b[..2], [2, 0]);
    }
}
