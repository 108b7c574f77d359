//! The keys a shard looks flows up by, one per side of the translator.
//!
//! Each of a flow's five values (protocol, two addresses, two ports) has a named
//! place, so that a swapped port or address does not compile (an IPv6 endpoint where
//! an IPv4 one belongs) or reads as wrong (`remote:` holding the pool4 address). The
//! tuples are built with their field names on purpose: they have no positional
//! constructor. They are `Copy` values that the hot lookups unpack in an inlined
//! wrapper, so the compiled lookup is the same code as with five loose arguments:
//! building a tuple costs nothing.
//!
//! Fields are named by role in the session (RFC 6146 §3.1), not by the packet's
//! source and destination, because ICMP errors quote packets going the other way
//! (§3.4): their inner destination is the session's IPv6 host.
//!
//! ```
//! use std::net::{Ipv4Addr, Ipv6Addr};
//! use xlat64::nat64::{Endpoint4, Endpoint6, Proto, Tuple6};
//!
//! let flow = Tuple6 {
//!     proto: Proto::Udp,
//!     v6: Endpoint6::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 5000),
//!     remote: Endpoint4::new(Ipv4Addr::new(198, 51, 100, 1), 53),
//! };
//! # let _ = flow;
//! ```
//!
//! The IPv4 peer where the IPv6 host belongs does not compile:
//!
//! ```compile_fail
//! use std::net::{Ipv4Addr, Ipv6Addr};
//! use xlat64::nat64::{Endpoint4, Endpoint6, Proto, Tuple6};
//!
//! let flow = Tuple6 {
//!     proto: Proto::Udp,
//!     v6: Endpoint4::new(Ipv4Addr::new(198, 51, 100, 1), 53),
//!     remote: Endpoint6::new(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 5000),
//! };
//! ```

use std::net::{Ipv4Addr, Ipv6Addr};

use super::config::Proto;

/// An IPv6 transport address: address and port (or ICMP identifier, §3.5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint6 {
    pub addr: Ipv6Addr,
    pub port: u16,
}

impl Endpoint6 {
    #[inline]
    pub const fn new(addr: Ipv6Addr, port: u16) -> Self {
        Endpoint6 { addr, port }
    }
}

/// An IPv4 transport address: address and port (or ICMP identifier, §3.5.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint4 {
    pub addr: Ipv4Addr,
    pub port: u16,
}

impl Endpoint4 {
    #[inline]
    pub const fn new(addr: Ipv4Addr, port: u16) -> Self {
        Endpoint4 { addr, port }
    }
}

/// A flow seen from the IPv6 side: the IPv6 host's transport address and the IPv4
/// peer's (the IPv4 address embedded in the pool6 destination, RFC 6052).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tuple6 {
    pub proto: Proto,
    /// The IPv6 host (the source of an IPv6 packet).
    pub v6: Endpoint6,
    /// The IPv4 peer. Its port is ignored for ICMP: the identifier is the host's.
    pub remote: Endpoint4,
}

/// A flow seen from the IPv4 side: the IPv4 peer's transport address and the pool4
/// transport address it talks to (the binding's IPv4 side).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tuple4 {
    pub proto: Proto,
    /// The IPv4 peer (the source of an IPv4 packet). Its port is ignored for ICMP.
    pub remote: Endpoint4,
    /// The pool4 address and port (the destination of an IPv4 packet).
    pub pool4: Endpoint4,
}
