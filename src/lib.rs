//! xlat64: a userspace IPv6/IPv4 translation gateway (SIIT, RFC 7915 with RFC 6052 and
//! RFC 7757 address mapping; stateful NAT64, RFC 6146; the 464XLAT CLAT, RFC 6877) on
//! Linux TUN devices.
//!
//! The crate is laid out as the packet pipeline: [`wire`] (zero-copy header views and
//! checksums) and [`addr`] / [`nat64`] (address mappings and NAT64 state, no packets) →
//! [`xlat`] (RFC 7915 and RFC 6146 packet logic; [`clat`]: the CLAT's mapping and how it
//! learns the PLAT prefix) → [`dataplane`] (devices, worker threads, hand-off between
//! them) → [`control`] (CLI, configuration, control socket, logs).
//!
//! Everything up to and including [`xlat`] is sans-IO: pure functions over byte buffers
//! with the time passed in, so the translator is tested with golden packets and fuzzed
//! without a kernel, and the dataplane around it stays a thin shell.

pub mod addr;
pub mod clat;
pub mod control;
pub mod dataplane;
pub mod nat64;
pub mod wire;
pub mod xlat;
