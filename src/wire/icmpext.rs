//! RFC 4884 multi-part ICMP messages: the length attribute of the original datagram and
//! the ICMP Extension Structure that follows it (MPLS label stacks, RFC 4950; interface
//! information, RFC 5837).
//!
//! ```text
//! RFC 4884 §7, the extension header, then one or more objects:
//! |Version|       (Reserved)      |           Checksum            |
//! RFC 4884 §8, each object's header, then its payload:
//! |            Length             |   Class-Num   |    C-Type     |
//! ```
//!
//! The translator never interprets objects: it only decides whether a valid structure
//! follows the original datagram, so that it can be carried over byte for byte.

use super::{WireError, be16, checksum};

pub mod field {
    use core::ops::Range;
    /// Version in the high nibble; the low nibble and the next byte are reserved.
    pub const VERSION: usize = 0;
    pub const CHECKSUM: Range<usize> = 2..4;
}

pub mod object_field {
    use core::ops::Range;
    /// Length of the object in octets, object header included.
    pub const LENGTH: Range<usize> = 0..2;
    pub const CLASS_NUM: usize = 2;
    pub const C_TYPE: usize = 3;
}

pub const HEADER_LEN: usize = 4;
pub const OBJECT_HEADER_LEN: usize = 4;
/// RFC 4884 §7: "ICMP extension version number. This is version 2."
pub const VERSION: u8 = 2;
/// RFC 4884 §4: when an extension structure is appended, "the 'original datagram' field
/// MUST contain at least 128 octets", so that classic receivers still find the quoted
/// headers where they expect them.
pub const ORIGINAL_DATAGRAM_MIN: usize = 128;
/// RFC 4884 §4: "For ICMPv4 messages, the length attribute represents 32-bit words."
pub const ICMPV4_LENGTH_UNIT: usize = 4;
/// RFC 4884 §4: the ICMPv6 length attribute represents 64-bit words.
pub const ICMPV6_LENGTH_UNIT: usize = 8;

/// A view of an ICMP Extension Structure: everything after the original datagram field.
#[derive(Debug, Clone, Copy)]
pub struct ExtensionStructure<T> {
    buffer: T,
}

impl<T: AsRef<[u8]>> ExtensionStructure<T> {
    pub fn new_unchecked(buffer: T) -> Self {
        ExtensionStructure { buffer }
    }

    /// Checks the structure's form (RFC 4884 §7: "exactly one Extension Header followed by
    /// one or more objects"): version 2, and objects whose Length fields (at least the
    /// object header each) tile the buffer to its last byte. The checksum is separate:
    /// [`verify_checksum`](Self::verify_checksum).
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN + OBJECT_HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if b[field::VERSION] >> 4 != VERSION {
            return Err(WireError::BadVersion);
        }
        let mut at = HEADER_LEN;
        while at < b.len() {
            let len =
                super::try_be16(b, at + object_field::LENGTH.start).ok_or(WireError::BadLength)?;
            let len = usize::from(len);
            if len < OBJECT_HEADER_LEN || len > b.len() - at {
                return Err(WireError::BadLength);
            }
            at += len;
        }
        Ok(ExtensionStructure { buffer })
    }

    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION] >> 4
    }

    pub fn checksum(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// RFC 4884 §7: the checksum is "the one's complement of the one's complement sum of
    /// the data structure", and "an all-zeros value means that no checksum was
    /// transmitted", which is not an error.
    pub fn verify_checksum(&self) -> bool {
        self.checksum() == 0 || checksum::ones_sum(self.buffer.as_ref()) == 0xffff
    }

    /// The objects, in order (a checked view has at least one).
    pub fn objects(&self) -> Objects<'_> {
        Objects {
            rest: self.buffer.as_ref().get(HEADER_LEN..).unwrap_or(&[]),
        }
    }

    /// The whole structure, header included.
    pub fn as_bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// One extension object (RFC 4884 §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Object<'a> {
    pub class_num: u8,
    pub c_type: u8,
    /// The object payload, after its 4-byte header.
    pub payload: &'a [u8],
}

/// Iterator over the objects of an extension structure; stops at the first object whose
/// Length does not fit (only possible on an unchecked view).
#[derive(Debug, Clone)]
pub struct Objects<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Objects<'a> {
    type Item = Object<'a>;

    fn next(&mut self) -> Option<Object<'a>> {
        let len = usize::from(super::try_be16(self.rest, object_field::LENGTH.start)?);
        let obj = self.rest.get(..len).filter(|_| len >= OBJECT_HEADER_LEN)?;
        self.rest = &self.rest[len..];
        Some(Object {
            class_num: obj[object_field::CLASS_NUM],
            c_type: obj[object_field::C_TYPE],
            payload: &obj[OBJECT_HEADER_LEN..],
        })
    }
}

/// Splits the body of an ICMP error that has a length attribute (`original_len` bytes:
/// the attribute times its unit) into the original datagram field and, when one is
/// there, a valid extension structure.
///
/// RFC 4884 §5 makes a length attribute of zero mean "no extensions": the whole body is
/// the original datagram. A non-zero attribute delimits the original datagram; what
/// follows is returned as an extension only when it is one a compliant receiver would
/// accept: the original datagram field holds at least 128 octets (§4), and the rest has
/// a valid version and checksum (§5, §7). Anything else is non-compliant: the original
/// datagram is still what the attribute delimits, and the trailing bytes are no
/// extension. An attribute pointing at or past the end of the message delimits nothing:
/// the whole body is the original datagram, without extensions.
pub fn split(body: &[u8], original_len: usize) -> (&[u8], Option<&[u8]>) {
    if original_len == 0 || original_len >= body.len() {
        return (body, None);
    }
    let (original, rest) = body.split_at(original_len);
    let valid = original_len >= ORIGINAL_DATAGRAM_MIN
        && ExtensionStructure::new_checked(rest).is_ok_and(|e| e.verify_checksum());
    (original, valid.then_some(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4884 §7 header with the checksum filled in, then `objects`.
    fn structure(objects: &[u8]) -> Vec<u8> {
        let mut v = vec![VERSION << 4, 0, 0, 0];
        v.extend_from_slice(objects);
        let c = checksum::checksum(&v);
        v[2..4].copy_from_slice(&c.to_be_bytes());
        v
    }

    /// RFC 4950 §7 MPLS Label Stack object (Class-Num 1, C-Type 1, "Incoming MPLS label
    /// stack") with one entry: label 16005, Exp 0, S = 1, TTL 1.
    const MPLS_OBJECT: [u8; 8] = [0, 8, 1, 1, 0x03, 0xe8, 0x51, 0x01];

    // RFC 4884 §7/§8: version 2 header, then objects whose Length includes their header.
    #[test]
    fn rfc4884_s7_s8_structure() {
        let s = structure(&MPLS_OBJECT);
        let e = ExtensionStructure::new_checked(&s[..]).unwrap();
        assert_eq!(e.version(), 2);
        assert!(e.verify_checksum());
        let objs: Vec<_> = e.objects().collect();
        assert_eq!(
            objs,
            [Object {
                class_num: 1,
                c_type: 1,
                payload: &MPLS_OBJECT[4..]
            }]
        );
        // RFC 4950 §7: label in the top 20 bits of the entry, then Exp, S, TTL.
        let entry = u32::from_be_bytes(objs[0].payload.try_into().unwrap());
        assert_eq!((entry >> 12, (entry >> 8) & 1, entry & 0xff), (16005, 1, 1));
    }

    // RFC 4884 §7: a wrong checksum fails; all zeros means none was transmitted.
    #[test]
    fn rfc4884_s7_checksum() {
        let mut s = structure(&MPLS_OBJECT);
        s[7] ^= 1;
        assert!(
            !ExtensionStructure::new_checked(&s[..])
                .unwrap()
                .verify_checksum()
        );
        s[2] = 0;
        s[3] = 0;
        assert!(
            ExtensionStructure::new_checked(&s[..])
                .unwrap()
                .verify_checksum()
        );
    }

    // Version other than 2, no object, object lengths that do not tile the structure.
    #[test]
    fn rfc4884_s7_malformed() {
        let mut s = structure(&MPLS_OBJECT);
        s[0] = 0x10;
        assert_eq!(
            ExtensionStructure::new_checked(&s[..]).unwrap_err(),
            WireError::BadVersion
        );
        assert_eq!(
            ExtensionStructure::new_checked(&structure(&[])[..]).unwrap_err(),
            WireError::Truncated
        );
        for bad in [[0u8, 3, 1, 1], [0, 12, 1, 1], [0, 0, 1, 1]] {
            let mut o = MPLS_OBJECT;
            o[..4].copy_from_slice(&bad);
            let s = structure(&o);
            assert_eq!(
                ExtensionStructure::new_checked(&s[..]).unwrap_err(),
                WireError::BadLength,
                "{bad:?}"
            );
        }
        // Two bytes left over: not an object header.
        let mut o = MPLS_OBJECT.to_vec();
        o.extend_from_slice(&[0, 4]);
        assert_eq!(
            ExtensionStructure::new_checked(&structure(&o)[..]).unwrap_err(),
            WireError::BadLength
        );
    }

    // RFC 4884 §4/§5: zero attribute, attribute past the end, short original datagram,
    // bad checksum, and a compliant message.
    #[test]
    fn rfc4884_split() {
        let mut body = vec![0x45u8; 128];
        body.extend_from_slice(&structure(&MPLS_OBJECT));
        assert_eq!(split(&body, 0), (&body[..], None));
        assert_eq!(split(&body, 140), (&body[..], None));
        assert_eq!(split(&body, 400), (&body[..], None));
        assert_eq!(split(&body, 128), (&body[..128], Some(&body[128..])));
        assert_eq!(split(&body, 136), (&body[..136], None));
        assert_eq!(split(&body, 124), (&body[..124], None));
        body[138] ^= 0xff;
        assert_eq!(split(&body, 128), (&body[..128], None));
    }
}
