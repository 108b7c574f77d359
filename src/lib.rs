//! xlat64: a userspace IPv6/IPv4 translation gateway.
//!
//! The crate is laid out as the packet pipeline: [`wire`] (zero-copy header views and
//! checksums) → [`addr`] (RFC 6052 / RFC 7757 address mapping) → [`xlat`] (RFC 7915
//! translation, sans-IO) → [`dataplane`] (TUN device and packet loop) → [`control`]
//! (CLI, configuration, logs).
//!
//! Everything up to and including [`xlat`] is sans-IO: pure functions over byte buffers,
//! so the translator can be tested with golden packets and fuzzed without a kernel.

pub mod addr;
pub mod control;
pub mod dataplane;
pub mod nat64;
pub mod wire;
pub mod xlat;
