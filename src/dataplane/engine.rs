//! What a worker runs packets through: SIIT (stateless, shared by all workers) or NAT64
//! (a shard of state owned by the worker, see [`super::nat64`]).
//!
//! The loop is generic over both the [`Engine`] and the [`Device`], so the SIIT loop
//! compiles to straight-line translate-and-write code: its timer hooks are empty and
//! inlined away.

use std::sync::Arc;
use std::time::Duration;

use super::device::Device;
use super::io::Io;
use super::live::{Follower, Live};
use crate::wire::vnet::{Offload, gso};
use crate::xlat::{Translator, Verdict};

pub trait Engine {
    /// How long `poll` may block with nothing to read: `None` for ever (no timers),
    /// else the timers' resolution.
    fn idle_timeout(&self) -> Option<Duration>;

    /// Translates the packet in `io.pkt` into `io.out` (cleared by the callee). None: the
    /// engine passed the packet on (to the NAT64 worker owning its flow, or split it
    /// and sent the pieces itself) and counted it.
    fn translate<D: Device>(
        &mut self,
        io: &mut Io<D>,
        offload: Offload,
        now: u64,
    ) -> Option<Verdict>;

    /// Runs after the frames of a translated packet were written, with `io.pkt` free to
    /// reuse: e.g. the NAT64 release of a held SYN.
    fn after_packet<D: Device>(&mut self, io: &mut Io<D>, now: u64);

    /// Timer work, bounded per call; called after every batch and on idle wake-ups.
    fn tick<D: Device>(&mut self, io: &mut Io<D>, now: u64);

    /// Called before the loop blocks in `poll`: false if work is already waiting (the
    /// loop then polls without blocking and calls `tick`).
    #[inline(always)]
    fn park(&mut self) -> bool {
        true
    }

    /// Called when `poll` returns.
    #[inline(always)]
    fn unpark(&mut self) {}
}

/// The stateless translator: no state, no timers, shared by every worker, replaced
/// as a whole while the workers run (a CLAT's new PLAT prefix, a reload).
pub struct SiitEngine {
    xlat: Follower<Translator>,
}

impl SiitEngine {
    pub fn new(xlat: &Arc<Live<Translator>>) -> Self {
        SiitEngine {
            xlat: xlat.follow(),
        }
    }
}

impl Engine for SiitEngine {
    #[inline]
    fn idle_timeout(&self) -> Option<Duration> {
        None
    }

    #[inline]
    fn translate<D: Device>(
        &mut self,
        io: &mut Io<D>,
        offload: Offload,
        now: u64,
    ) -> Option<Verdict> {
        let t = self.xlat.get();
        if offload.gso_type != gso::NONE && t.udp_needs_split(io.pkt.data(), offload) {
            io.split_udp(offload, |p, o| t.translate(p, o, now));
            return None;
        }
        Some(t.translate_offload(&mut io.pkt, offload, &mut io.out, now))
    }

    #[inline(always)]
    fn after_packet<D: Device>(&mut self, _io: &mut Io<D>, _now: u64) {}

    #[inline(always)]
    fn tick<D: Device>(&mut self, _io: &mut Io<D>, _now: u64) {}
}
