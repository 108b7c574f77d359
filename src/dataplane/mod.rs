//! The I/O shell around the sans-IO translator: devices, the packet loop, NAT64
//! hand-off between workers, counters, and the start-up that ties them together.
//!
//! [`start::run`] is the one entry point: the control plane builds a [`Spec`] from its
//! configuration and calls it. [`live::Live`] carries what the control plane replaces
//! while the workers run. [`device::Device`] is what a worker reads from and writes
//! to; [`tun::Tun`] is its implementation over a TUN queue (one system call per
//! packet), [`uring::UringTun`] over a TUN queue driven through io_uring (`tun-io`), [`xdp::port::XdpPort`] over a
//! pair of AF_XDP sockets (`--dataplane xdp`, see [`xdp`]). The system calls live in
//! [`sys`] and, for the XDP dataplane, one module per concern under [`xdp`] (bpf(2),
//! AF_XDP sockets, rtnetlink, raw sockets); `unsafe` code lives there and in [`ring`]
//! (the lock-free SPSC ring of the NAT64 hand-off), each block with its SAFETY argument.

pub mod counters;
pub mod device;
pub mod engine;
pub mod handoff;
pub mod io;
pub mod live;
pub mod nat64;
pub mod ratelimit;
pub mod ring;
pub mod start;
pub mod steer;
pub mod stop;
pub mod sys;
pub mod tun;
pub mod uring;
pub mod worker;
pub mod xdp;

pub use counters::{Counters, Snapshot};
pub use device::{Device, SendError};
pub use engine::{Engine, SiitEngine};
pub use io::Io;
pub use live::{Follower, Live};
pub use nat64::{
    MAX_SESSION_ROWS, Nat64Engine, Nat64Limits, SessionFilter, SessionsLink, SessionsQuery,
    SessionsReply, SessionsRequest, StaticChange, WorkerControl, add_pool4, change_statics,
    collect_sessions, send_limits,
};
pub use ratelimit::{IcmpErrorLimiter, IcmpErrorLimits};
pub use start::{Finished, Fragments, Mode, RunError, Spec, Started, TunSpec, run};
pub use stop::Stop;
pub use sys::{SysError, TunFlags};
pub use tun::Tun;
pub use worker::{Worker, WorkerError};
pub use xdp::setup::XdpSpec;

#[cfg(test)]
mod netns_tests;
