//! Zero-copy views over packet bytes, in the style of smoltcp's `wire` module.
//!
//! Each header type is a view generic over its buffer (`AsRef<[u8]>` to read,
//! `AsMut<[u8]>` to write) with a checked constructor that validates lengths once, so that
//! no accessor can panic afterwards. `new_unchecked` views skip that validation and may
//! panic on short buffers: the translator only builds checked views.

pub mod buf;
pub mod checksum;
pub mod icmpext;
pub mod icmpv4;
pub mod icmpv6;
pub mod ip;
pub mod ipv4;
pub mod ipv6;
pub mod ipv6ext;
pub mod tcp;
pub mod udp;
pub mod vnet;

/// Why a checked constructor refused a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireError {
    /// The buffer is shorter than the fixed header.
    Truncated,
    /// The version nibble is wrong for this view.
    BadVersion,
    /// A header length field is below its minimum or points past the buffer.
    BadHeaderLen,
    /// A total/payload length field disagrees with the buffer.
    BadLength,
}

// Byte helpers. The panicking ones are for views whose checked constructor has already
// proved the field inside the buffer (and for test code); the `try_` ones are for bytes
// nobody validated, where an out-of-range field is an answer, not a bug.

/// Reads a big-endian u16 at `at`; callers guarantee `at + 2 <= b.len()`.
#[inline(always)]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Reads a big-endian u32 at `at`; callers guarantee `at + 4 <= b.len()`.
#[inline(always)]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Writes a big-endian u16 at `at`; callers guarantee `at + 2 <= b.len()`.
#[inline(always)]
pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Writes a big-endian u32 at `at`; callers guarantee `at + 4 <= b.len()`.
#[inline(always)]
pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// Reads a little-endian u16 at `at` (the virtio-net header); callers guarantee
/// `at + 2 <= b.len()`.
#[inline(always)]
pub(crate) fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// Writes a little-endian u16 at `at`; callers guarantee `at + 2 <= b.len()`.
#[inline(always)]
pub(crate) fn put_le16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}

/// The big-endian u16 at `at`, if `b` holds it.
#[inline(always)]
pub(crate) fn try_be16(b: &[u8], at: usize) -> Option<u16> {
    let w = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([w[0], w[1]]))
}

/// Writes a big-endian u16 at `at` if `b` holds it; `None` (nothing written) if not.
#[inline(always)]
pub(crate) fn try_put16(b: &mut [u8], at: usize, v: u16) -> Option<()> {
    b.get_mut(at..at.checked_add(2)?)?
        .copy_from_slice(&v.to_be_bytes());
    Some(())
}

/// The 2-byte field at `at`, if `b` holds it: one bounds check for a read-modify-write
/// (`u16::from_be_bytes(*f)`, then `*f = v.to_be_bytes()`).
#[inline(always)]
pub(crate) fn field16_mut(b: &mut [u8], at: usize) -> Option<&mut [u8; 2]> {
    b.get_mut(at..)?.first_chunk_mut::<2>()
}

/// A field enum whose every value is valid on the wire: named variants for the values
/// the RFCs define, `Unknown` for the rest, lossless `From` conversions both ways (as
/// smoltcp's macro of the same name). Build values with `From`: `Unknown` is meant to
/// hold values that have no name.
///
/// The conversions are `#[inline(always)]`: left to itself the optimiser calls them out
/// of line, and a `match` on a freshly converted value then costs a call and a switch
/// more than the byte compare it replaces.
macro_rules! enum_with_unknown {
    (
        $(#[$enum_attr:meta])*
        pub enum $name:ident(u8) {
            $(
                $(#[$variant_attr:meta])*
                $variant:ident = $value:expr
            ),+ $(,)?
        }
    ) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        $(#[$enum_attr])*
        pub enum $name {
            $(
                $(#[$variant_attr])*
                $variant,
            )+
            /// A value without a name here.
            Unknown(u8),
        }

        impl ::core::convert::From<u8> for $name {
            #[inline(always)]
            fn from(value: u8) -> Self {
                match value {
                    $($value => $name::$variant,)+
                    other => $name::Unknown(other),
                }
            }
        }

        impl ::core::convert::From<$name> for u8 {
            #[inline(always)]
            fn from(value: $name) -> Self {
                match value {
                    $($name::$variant => $value,)+
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}
pub(crate) use enum_with_unknown;

/// The view both ICMP versions share: RFC 792 and RFC 4443 lay out the first eight bytes
/// alike (type, code, checksum, four bytes of "rest"), so the struct and its common
/// accessors are written once. The calling module provides `field`, `HEADER_LEN`,
/// `Message` and `ErrorMessage`; its own `impl` adds what differs (MTU and pointer
/// widths, the checksum's pseudo-header).
macro_rules! icmp_view {
    ($(#[$attr:meta])* $name:ident) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy)]
        pub struct $name<T> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> $name<T> {
            pub fn new_unchecked(buffer: T) -> Self {
                $name { buffer }
            }
            /// Checks that the 8-byte header is present.
            pub fn new_checked(buffer: T) -> Result<Self, WireError> {
                if buffer.as_ref().len() < HEADER_LEN {
                    return Err(WireError::Truncated);
                }
                Ok($name { buffer })
            }
            #[inline]
            pub fn msg_type(&self) -> Message {
                Message::from(self.buffer.as_ref()[field::TYPE])
            }
            /// The code, whose meaning depends on the type.
            pub fn code(&self) -> u8 {
                self.buffer.as_ref()[field::CODE]
            }
            pub fn checksum(&self) -> u16 {
                be16(self.buffer.as_ref(), field::CHECKSUM.start)
            }
            pub fn echo_ident(&self) -> u16 {
                be16(self.buffer.as_ref(), field::ECHO_IDENT.start)
            }
            pub fn echo_seq(&self) -> u16 {
                be16(self.buffer.as_ref(), field::ECHO_SEQ.start)
            }
            /// RFC 4884 original-datagram length, in 32-bit words for ICMPv4 and 64-bit
            /// words for ICMPv6 (0: no extension).
            pub fn length(&self) -> u8 {
                self.buffer.as_ref()[field::LENGTH]
            }
            pub fn rest(&self) -> [u8; 4] {
                let b = self.buffer.as_ref();
                let r = field::REST.start;
                [b[r], b[r + 1], b[r + 2], b[r + 3]]
            }
            pub fn payload(&self) -> &[u8] {
                &self.buffer.as_ref()[HEADER_LEN..]
            }
        }

        impl<T: AsRef<[u8]> + AsMut<[u8]>> $name<T> {
            pub fn set_msg_type(&mut self, v: Message) {
                self.buffer.as_mut()[field::TYPE] = v.into();
            }
            pub fn set_code(&mut self, v: u8) {
                self.buffer.as_mut()[field::CODE] = v;
            }
            /// Sets the type and code of an error message.
            #[inline]
            pub fn set_error(&mut self, e: ErrorMessage) {
                self.set_msg_type(e.msg_type());
                self.set_code(e.code());
            }
            pub fn set_checksum(&mut self, v: u16) {
                put16(self.buffer.as_mut(), field::CHECKSUM.start, v);
            }
            pub fn set_rest(&mut self, r: [u8; 4]) {
                self.buffer.as_mut()[field::REST].copy_from_slice(&r);
            }
            /// Sets the RFC 4884 length attribute (in the unit of [`Self::length`]); only
            /// meaningful for the types of [`Message::has_length_attribute`].
            pub fn set_length(&mut self, words: u8) {
                self.buffer.as_mut()[field::LENGTH] = words;
            }
        }
    };
}
pub(crate) use icmp_view;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_helpers() {
        let mut b = [0u8; 6];
        put16(&mut b, 0, 0x1234);
        put32(&mut b, 2, 0xdead_beef);
        assert_eq!(b, [0x12, 0x34, 0xde, 0xad, 0xbe, 0xef]);
        assert_eq!((be16(&b, 0), be32(&b, 2)), (0x1234, 0xdead_beef));
        assert_eq!(try_be16(&b, 4), Some(0xbeef));
        assert_eq!(try_be16(&b, 5), None);
        assert_eq!(try_be16(&b, usize::MAX), None);
        assert_eq!(try_put16(&mut b, 4, 0x0102), Some(()));
        assert_eq!(try_put16(&mut b, 5, 0xffff), None);
        assert_eq!(try_put16(&mut b, usize::MAX, 0xffff), None);
        assert_eq!(b[4..], [0x01, 0x02]);
        assert_eq!(field16_mut(&mut b, 4).map(|f| *f), Some([0x01, 0x02]));
        assert_eq!(field16_mut(&mut b, 5), None);
        assert_eq!(field16_mut(&mut b, usize::MAX), None);
        put_le16(&mut b, 0, 0x1234);
        assert_eq!((&b[..2], le16(&b, 0)), (&[0x34, 0x12][..], 0x1234));
    }
}
