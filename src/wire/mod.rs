//! Zero-copy views over packet bytes, in the style of smoltcp's `wire` module.
//!
//! Each header type is a view generic over its buffer (`AsRef<[u8]>` to read,
//! `AsMut<[u8]>` to write) with a checked constructor that validates lengths once, so that
//! no accessor can panic afterwards. `new_unchecked` views skip that validation and may
//! panic on short buffers: the translator only builds checked views.

pub mod buf;
pub mod checksum;
pub mod icmpv4;
pub mod icmpv6;
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

#[inline(always)]
pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[allow(dead_code)]
#[inline(always)]
pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}
