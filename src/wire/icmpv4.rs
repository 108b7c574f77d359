//! ICMPv4 header (RFC 792; RFC 1191 Next-Hop MTU; RFC 4884 length field).
//!
//! ```text
//! |     Type      |     Code      |          Checksum             |
//! |        rest of header (identifier/sequence, pointer, MTU...)  |
//! |                  data (for errors: the original datagram)     |
//! ```

use super::{WireError, be16, enum_with_unknown, icmp_view, put16};
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

enum_with_unknown! {
    /// Message types (RFC 792 and the IANA "ICMP Type Numbers" registry).
    pub enum Message(u8) {
        EchoReply = 0,
        DstUnreachable = 3,
        /// Deprecated (RFC 6633).
        SourceQuench = 4,
        Redirect = 5,
        /// Deprecated (RFC 6918).
        AltHostAddress = 6,
        EchoRequest = 8,
        /// RFC 1256.
        RouterAdvert = 9,
        /// RFC 1256.
        RouterSolicit = 10,
        TimeExceeded = 11,
        ParamProblem = 12,
        Timestamp = 13,
        TimestampReply = 14,
        /// Deprecated (RFC 6918).
        InfoRequest = 15,
        /// Deprecated (RFC 6918).
        InfoReply = 16,
        /// RFC 950; deprecated (RFC 6918).
        AddrMaskRequest = 17,
        /// RFC 950; deprecated (RFC 6918).
        AddrMaskReply = 18,
    }
}

impl Message {
    /// Error messages: those that quote an offending datagram (RFC 792, RFC 1122
    /// §3.2.2), as opposed to queries.
    #[inline]
    pub fn is_error(self) -> bool {
        matches!(
            self,
            Message::DstUnreachable
                | Message::SourceQuench
                | Message::Redirect
                | Message::TimeExceeded
                | Message::ParamProblem
        )
    }

    /// The errors whose sixth octet is the RFC 4884 length attribute, the only ones an
    /// ICMP Extension Structure may follow (RFC 4884 §4: Destination Unreachable, Time
    /// Exceeded, Parameter Problem).
    #[inline]
    pub fn has_length_attribute(self) -> bool {
        matches!(
            self,
            Message::DstUnreachable | Message::TimeExceeded | Message::ParamProblem
        )
    }
}

enum_with_unknown! {
    /// Destination Unreachable codes (RFC 792; 6–12 RFC 1122 §3.2.2.1; 13–15 RFC 1812
    /// §5.2.7.1).
    pub enum DstUnreachable(u8) {
        NetUnreachable = 0,
        HostUnreachable = 1,
        ProtoUnreachable = 2,
        PortUnreachable = 3,
        /// Fragmentation needed and DF set; the Next-Hop MTU is in the header (RFC 1191).
        FragRequired = 4,
        SrcRouteFailed = 5,
        DstNetUnknown = 6,
        DstHostUnknown = 7,
        SrcHostIsolated = 8,
        /// Communication with the destination network administratively prohibited.
        NetProhibited = 9,
        /// Communication with the destination host administratively prohibited.
        HostProhibited = 10,
        /// Network unreachable for the type of service.
        NetUnreachToS = 11,
        /// Host unreachable for the type of service.
        HostUnreachToS = 12,
        /// Communication administratively prohibited.
        CommProhibited = 13,
        /// Host precedence violation.
        HostPrecedViol = 14,
        /// Precedence cutoff in effect.
        PrecedCutoff = 15,
    }
}

enum_with_unknown! {
    /// Time Exceeded codes (RFC 792).
    pub enum TimeExceeded(u8) {
        /// Time to live exceeded in transit.
        TtlExpired = 0,
        /// Fragment reassembly time exceeded.
        FragExpired = 1,
    }
}

enum_with_unknown! {
    /// Parameter Problem codes (RFC 792; 1 RFC 1108; 2 RFC 1812 §5.2.7.3).
    pub enum ParamProblem(u8) {
        /// The pointer indicates the error.
        AtPointer = 0,
        /// Missing a required option.
        MissingOption = 1,
        /// Bad length.
        BadLength = 2,
    }
}

/// An error message's type with its code, typed per type: what the translator emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorMessage {
    DstUnreachable(DstUnreachable),
    TimeExceeded(TimeExceeded),
    ParamProblem(ParamProblem),
}

impl ErrorMessage {
    #[inline]
    pub fn msg_type(self) -> Message {
        match self {
            ErrorMessage::DstUnreachable(_) => Message::DstUnreachable,
            ErrorMessage::TimeExceeded(_) => Message::TimeExceeded,
            ErrorMessage::ParamProblem(_) => Message::ParamProblem,
        }
    }
    #[inline]
    pub fn code(self) -> u8 {
        match self {
            ErrorMessage::DstUnreachable(c) => c.into(),
            ErrorMessage::TimeExceeded(c) => c.into(),
            ErrorMessage::ParamProblem(c) => c.into(),
        }
    }
}

icmp_view!(Icmpv4Packet);

impl<T: AsRef<[u8]>> Icmpv4Packet<T> {
    pub fn pointer(&self) -> u8 {
        self.buffer.as_ref()[field::POINTER]
    }
    pub fn mtu(&self) -> u16 {
        be16(self.buffer.as_ref(), field::MTU.start)
    }
    /// The checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::ones_sum(self.buffer.as_ref()) == 0xffff
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Icmpv4Packet<T> {
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
            (Message::EchoRequest, 0, 0x1234, 1)
        );
        assert_eq!(p.payload(), b"abcd");
        let (e, _) = etherparse::Icmpv4Header::from_slice(&b).unwrap();
        assert_eq!(e.checksum, e.icmp_type.calc_checksum(b"abcd"));
    }

    // RFC 4884 §4: the length attribute (32-bit words) is the sixth octet of Destination
    // Unreachable, Time Exceeded and Parameter Problem, and of no other type.
    #[test]
    fn rfc4884_s4_length_attribute() {
        for v in 0..=255u8 {
            let m = Message::from(v);
            assert_eq!(
                m.has_length_attribute(),
                matches!(v, 3 | 11 | 12),
                "type {v}"
            );
        }
        let mut b = [12u8, 0, 0, 0, 9, 0, 0, 0];
        let mut p = Icmpv4Packet::new_checked(&mut b[..]).unwrap();
        p.set_length(32);
        assert_eq!((p.length(), p.pointer()), (32, 9));
        assert_eq!(b[4..8], [9, 32, 0, 0]);
    }

    // RFC 1191 §4: Fragmentation Needed carries the Next-Hop MTU in the low 16 bits.
    #[test]
    fn rfc1191_s4_mtu() {
        let b = [3u8, 4, 0, 0, 0, 0, 0x05, 0xdc];
        let p = Icmpv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.mtu(), 1500);
        assert_eq!(p.msg_type(), Message::DstUnreachable);
        assert_eq!(DstUnreachable::from(p.code()), DstUnreachable::FragRequired);
        assert!(Icmpv4Packet::new_checked(&b[..7]).is_err());
    }

    // Type numbers: RFC 792 (0, 3, 4, 5, 8, 11–16), RFC 1256 (9, 10), RFC 950 (17, 18),
    // IANA "ICMP Type Numbers" (6).
    #[test]
    fn rfc792_iana_types() {
        let golden = [
            (Message::EchoReply, 0u8),
            (Message::DstUnreachable, 3),
            (Message::SourceQuench, 4),
            (Message::Redirect, 5),
            (Message::AltHostAddress, 6),
            (Message::EchoRequest, 8),
            (Message::RouterAdvert, 9),
            (Message::RouterSolicit, 10),
            (Message::TimeExceeded, 11),
            (Message::ParamProblem, 12),
            (Message::Timestamp, 13),
            (Message::TimestampReply, 14),
            (Message::InfoRequest, 15),
            (Message::InfoReply, 16),
            (Message::AddrMaskRequest, 17),
            (Message::AddrMaskReply, 18),
        ];
        for (m, v) in golden {
            assert_eq!((u8::from(m), Message::from(v)), (v, m));
        }
        // RFC 792: the messages that carry "Internet Header + 64 bits of Original Data
        // Datagram" are the errors.
        for v in 0..=255u8 {
            let m = Message::from(v);
            assert_eq!(u8::from(m), v);
            assert_eq!(m.is_error(), matches!(v, 3 | 4 | 5 | 11 | 12), "type {v}");
        }
        assert_eq!(Message::from(7), Message::Unknown(7));
    }

    // Codes: Destination Unreachable 0–5 RFC 792, 6–12 RFC 1122 §3.2.2.1, 13–15 RFC 1812
    // §5.2.7.1; Time Exceeded RFC 792; Parameter Problem 0 RFC 792, 1 RFC 1108, 2
    // RFC 1812 §5.2.7.3 (as the IANA registry lists them).
    #[test]
    fn rfc792_rfc1122_rfc1812_codes() {
        use DstUnreachable as U;
        let unreach = [
            (U::NetUnreachable, 0u8),
            (U::HostUnreachable, 1),
            (U::ProtoUnreachable, 2),
            (U::PortUnreachable, 3),
            (U::FragRequired, 4),
            (U::SrcRouteFailed, 5),
            (U::DstNetUnknown, 6),
            (U::DstHostUnknown, 7),
            (U::SrcHostIsolated, 8),
            (U::NetProhibited, 9),
            (U::HostProhibited, 10),
            (U::NetUnreachToS, 11),
            (U::HostUnreachToS, 12),
            (U::CommProhibited, 13),
            (U::HostPrecedViol, 14),
            (U::PrecedCutoff, 15),
        ];
        for (c, v) in unreach {
            assert_eq!((u8::from(c), U::from(v)), (v, c));
        }
        assert_eq!(U::from(16), U::Unknown(16));
        for (c, v) in [
            (TimeExceeded::TtlExpired, 0u8),
            (TimeExceeded::FragExpired, 1),
        ] {
            assert_eq!((u8::from(c), TimeExceeded::from(v)), (v, c));
        }
        for (c, v) in [
            (ParamProblem::AtPointer, 0u8),
            (ParamProblem::MissingOption, 1),
            (ParamProblem::BadLength, 2),
        ] {
            assert_eq!((u8::from(c), ParamProblem::from(v)), (v, c));
        }
        let e = ErrorMessage::DstUnreachable(U::CommProhibited);
        assert_eq!((e.msg_type(), e.code()), (Message::DstUnreachable, 13));
        let e = ErrorMessage::TimeExceeded(TimeExceeded::Unknown(7));
        assert_eq!((e.msg_type(), e.code()), (Message::TimeExceeded, 7));
        let e = ErrorMessage::ParamProblem(ParamProblem::BadLength);
        assert_eq!((e.msg_type(), e.code()), (Message::ParamProblem, 2));
        let mut b = [0u8; 8];
        Icmpv4Packet::new_checked(&mut b[..])
            .unwrap()
            .set_error(ErrorMessage::DstUnreachable(U::PortUnreachable));
        assert_eq!(b[..2], [3, 3]);
    }
}
