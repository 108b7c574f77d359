//! The I/O shell around the sans-IO translator: TUN device, packet loop, counters.
//!
//! [`sys`] is the only module with `unsafe` code and raw system calls; [`tun`] wraps it
//! in a safe device type, [`worker`] runs the packet loop over it, [`counters`] counts
//! what happened.

pub mod counters;
pub mod handoff;
pub mod nat64;
pub mod sys;
pub mod tun;
pub mod worker;

pub use counters::{Counters, Snapshot};
pub use nat64::{MAX_SESSION_ROWS, Nat64Engine, SessionsReply, SessionsRequest};
pub use sys::{SysError, TunFlags};
pub use tun::Tun;
pub use worker::{Engine, Io, Stop, Worker, WorkerError};

#[cfg(test)]
mod netns_tests;
