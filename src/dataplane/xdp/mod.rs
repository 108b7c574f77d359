//! The AF_XDP dataplane: an XDP program on each interface sends the frames xlat64
//! translates to one AF_XDP socket per queue and worker; everything else goes to the
//! kernel.

pub mod bpf;
pub mod nexthop;
pub mod nl;
pub mod port;
pub mod prog;
pub mod setup;
pub mod xsk;
