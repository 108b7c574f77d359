//! Zero-copy views over packet bytes, in the style of smoltcp's `wire` module.
//!
//! Each header type is a view generic over its buffer (`AsRef<[u8]>` to read,
//! `AsMut<[u8]>` to write) with a checked constructor that validates lengths once, so that
//! no accessor can panic afterwards.

pub mod buf;
