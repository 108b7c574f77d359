//! The AF_XDP dataplane (`--dataplane xdp`): an XDP program on each interface sends the
//! frames xlat64 translates to one AF_XDP socket per queue and worker; everything else
//! goes to the kernel, which keeps routing, ARP/ND and management.
//!
//! - [`bpf`]: the bpf(2) system call (maps, program load, links, test runs);
//! - [`prog`]: the XDP program, assembled here (no BPF toolchain), and its maps;
//! - [`xsk`]: AF_XDP sockets, their rings and the UMEM a worker's two sockets share;
//! - [`nl`]: the kernel's route and neighbour tables over rtnetlink;
//! - [`nexthop`]: next-hop MACs cached per worker, and the raw-socket path through the
//!   kernel for what the cache cannot send;
//! - [`port`]: a worker's [`Device`](super::Device): its sockets on both interfaces;
//! - [`setup`]: checks, attachment (BPF links, so any exit detaches) and start-up.
//!
//! The worker loop, the engines and the NAT64 hand-off are the TUN dataplane's, and
//! the translation is the same sans-IO code: a received frame becomes the worker's
//! packet buffer's view (`PacketBuf::set_external`), translated in place in the UMEM
//! and sent from the same frame (see [`port`]).

pub mod asm;
pub mod bpf;
pub mod nexthop;
pub mod nl;
pub mod port;
pub mod prog;
pub mod setup;
pub mod xsk;

#[cfg(test)]
mod netns_tests;
