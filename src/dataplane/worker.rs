//! The packet loop: wait for the TUN fd, read packets, translate, write frames, count.
//!
//! Stopping: a [`Stop`] is a shared flag plus one `mio::Waker` per worker. The signal
//! thread (see `control`) calls [`Stop::request`], which sets the flag and wakes every
//! registered worker out of `poll`; a busy worker also checks the flag between batches.
//! So the loop blocks in `poll` with no timeout and no periodic wake-ups, yet stops
//! within one batch of the signal.
//!
//! Multi-queue: one worker per TUN queue, each on its own thread with its own buffers
//! and counters; they share only the (read-only) [`Translator`]. SIIT is stateless, so
//! whichever queue the kernel picks for a packet can translate it and no packet is ever
//! handed between workers. Stateful NAT64 hands each packet to the worker owning its
//! session (see `handoff`); the loop only gives its engine a chance to serve those
//! hand-offs after every batch and before blocking (`Engine::park`).

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tracing::warn;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use super::counters::{Counters, Snapshot};
use super::tun::{SendError, Tun};
use crate::wire::buf::PacketBuf;
use crate::wire::vnet::{Offload, gso};
use crate::xlat::{Output, Translator, Verdict};

/// Set once the first refused offload frame was logged, so the log says it once per
/// process, not once per packet.
static OFFLOAD_REFUSAL_LOGGED: AtomicBool = AtomicBool::new(false);

/// Packets handled between two checks of the stop flag and two clock readings.
pub const BATCH: usize = 64;

const TUN: Token = Token(0);
const WAKE: Token = Token(1);

/// A stop request shared by the signal handler thread and the workers.
#[derive(Clone, Default)]
pub struct Stop {
    flag: Arc<AtomicBool>,
    wakers: Arc<Mutex<Vec<Arc<Waker>>>>,
}

impl Stop {
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks every worker to stop. Safe to call from any thread, any number of times.
    pub fn request(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let wakers = self.wakers.lock().unwrap_or_else(|p| p.into_inner());
        for w in wakers.iter() {
            // A failed wake only delays the stop to the next batch or packet.
            let _ = w.wake();
        }
    }

    pub fn is_requested(&self) -> bool {
        self.flag.load(Ordering::Relaxed)
    }

    fn attach(&self, w: Arc<Waker>) {
        self.wakers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(w);
    }
}

/// Why the loop ended abnormally.
#[derive(Debug)]
pub enum WorkerError {
    /// Setting up the poller failed.
    Poll(io::Error),
    /// Reading the TUN device failed in a way that will not go away (e.g. the device was
    /// deleted under us).
    Read { dev: String, source: io::Error },
    /// A worker thread panicked (a bug).
    Panicked,
}

impl std::fmt::Display for WorkerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WorkerError::Poll(e) => write!(f, "event loop failed: {e}"),
            WorkerError::Read { dev, source } if source.raw_os_error() == Some(libc::EBADFD) => {
                write!(
                    f,
                    "TUN device '{dev}' went away (deleted with `ip link del`?): {source}"
                )
            }
            WorkerError::Read { dev, source } => {
                write!(f, "reading TUN device '{dev}' failed: {source}")
            }
            WorkerError::Panicked => {
                write!(f, "a worker thread panicked (a bug: please report it)")
            }
        }
    }
}

impl std::error::Error for WorkerError {}

/// What a worker runs packets through: SIIT (stateless, shared) or NAT64 (a shard of
/// state owned by the worker). The loop is generic over it, so the SIIT loop compiles to
/// what it was before NAT64 existed: its timer hooks are empty and inlined away.
pub trait Engine {
    /// How long `poll` may block with nothing to read: `None` for ever (no timers),
    /// else the timers' resolution.
    fn idle_timeout(&self) -> Option<Duration>;

    /// Translates one received packet into `io.out` (cleared by the callee). None: the
    /// engine passed the packet on (to the NAT64 worker owning its flow) and counted it.
    fn translate(&mut self, io: &mut Io, offload: Offload, now: u64) -> Option<Verdict>;

    /// Runs after the frames of a translated packet were written, with `io.pkt` free to
    /// reuse: e.g. the NAT64 release of a held SYN.
    fn after_packet(&mut self, io: &mut Io, now: u64);

    /// Timer work, bounded per call; called after every batch and on idle wake-ups.
    fn tick(&mut self, io: &mut Io, now: u64);

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

/// The stateless translator needs no state and no timers.
impl Engine for &Translator {
    #[inline]
    fn idle_timeout(&self) -> Option<Duration> {
        None
    }

    #[inline]
    fn translate(&mut self, io: &mut Io, offload: Offload, now: u64) -> Option<Verdict> {
        let t: &Translator = self;
        if offload.gso_type != gso::NONE && t.udp_needs_split(io.pkt.data(), offload) {
            io.split_udp(offload, |p, o| t.translate(p, o, now));
            return None;
        }
        Some((**self).translate_offload(&mut io.pkt, offload, &mut io.out, now))
    }

    #[inline(always)]
    fn after_packet(&mut self, _io: &mut Io, _now: u64) {}

    #[inline(always)]
    fn tick(&mut self, _io: &mut Io, _now: u64) {}
}

/// The device and the buffers a worker reads into and writes from, plus its counters.
pub struct Io {
    pub tun: Tun,
    pub pkt: PacketBuf,
    pub out: Output,
    pub counters: Arc<Counters>,
    /// Where a UDP super-packet's datagrams are built one at a time (see `split_udp`).
    pub seg: PacketBuf,
}

impl Io {
    /// Translates the UDP super-packet in `pkt` datagram by datagram with `translate`
    /// (a plain translator: each datagram has its own complete checksum) and writes
    /// each result: for super-packets whose datagrams RFC 7915 fragments, which one
    /// offload header cannot describe. Each datagram is counted as a packet of its own.
    pub fn split_udp(
        &mut self,
        offload: Offload,
        mut translate: impl FnMut(&mut PacketBuf, &mut Output) -> Verdict,
    ) {
        self.counters.udp_split.add(1);
        let mut i = 0;
        while Translator::udp_datagram(self.pkt.data(), offload, i, &mut self.seg) {
            std::mem::swap(&mut self.pkt, &mut self.seg);
            let v = translate(&mut self.pkt, &mut self.out);
            let dropped = self.account(v);
            self.send_out(dropped);
            std::mem::swap(&mut self.pkt, &mut self.seg);
            i += 1;
        }
    }

    /// Counts what the translator did with one input packet; returns whether it was
    /// dropped (so that its frames, if any, are ICMP errors).
    #[inline]
    pub fn account(&self, verdict: Verdict) -> bool {
        let c = &*self.counters;
        match verdict {
            Verdict::V6ToV4 => {
                c.v6_to_v4.add(1);
                false
            }
            Verdict::V4ToV6 => {
                c.v4_to_v6.add(1);
                false
            }
            Verdict::Hairpinned => {
                c.hairpinned.add(1);
                false
            }
            Verdict::Drop(reason) => {
                c.drop(reason);
                true
            }
        }
    }

    /// Writes every frame in `out`; `errors` says they are ICMP errors the translator
    /// generated (counted as such).
    #[inline]
    pub fn send_out(&self, errors: bool) {
        let c = &*self.counters;
        for f in self.out.frames() {
            match self.tun.send_frame(&self.out, &self.pkt, f) {
                Ok(len) => {
                    c.tx_packets.add(1);
                    c.tx_bytes.add(len as u64);
                    if errors {
                        c.icmp_errors.add(1);
                    }
                }
                Err(SendError::Io(e)) => {
                    c.write_errors.add(1);
                    if !f.offload.is_none() && e.raw_os_error() == Some(libc::EINVAL) {
                        c.offload_write_errors.add(1);
                        log_offload_refusal(f.offload);
                    }
                }
                Err(SendError::BadFrame) => c.bad_frames.add(1),
            }
        }
    }
}

/// One packet loop on one TUN queue, with its preallocated buffers and counters.
pub struct Worker {
    io: Io,
    poll: Poll,
    events: Events,
    epoch: Instant,
    waker: Arc<Waker>,
}

impl Worker {
    /// Registers the TUN fd and a waker with a new poller and attaches the waker to
    /// `stop`. Everything the loop needs is allocated here.
    pub fn new(tun: Tun, stop: &Stop) -> Result<Worker, WorkerError> {
        let poll = Poll::new().map_err(WorkerError::Poll)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE).map_err(WorkerError::Poll)?);
        stop.attach(Arc::clone(&waker));
        poll.registry()
            .register(&mut SourceFd(&tun.as_raw_fd()), TUN, Interest::READABLE)
            .map_err(WorkerError::Poll)?;
        Ok(Worker {
            io: Io {
                tun,
                pkt: PacketBuf::new(),
                out: Output::new(),
                counters: Arc::new(Counters::new()),
                seg: PacketBuf::new(),
            },
            poll,
            events: Events::with_capacity(8),
            epoch: Instant::now(),
            waker,
        })
    }

    /// The live counters, for readers on other threads.
    pub fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.io.counters)
    }

    /// Wakes this worker out of `poll` (its engine's `tick` then runs): how the control
    /// thread gets a NAT64 worker to answer a sessions request without waiting for the
    /// idle tick.
    pub fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    pub fn tun(&self) -> &Tun {
        &self.io.tun
    }

    /// Gives back the device (e.g. to remove routes before closing it).
    pub fn into_tun(self) -> Tun {
        self.io.tun
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Runs until `stop` is requested; returns the final counters.
    pub fn run<E: Engine>(&mut self, engine: &mut E, stop: &Stop) -> Result<Snapshot, WorkerError> {
        // The TUN registration is edge-triggered: packets queued before we first poll
        // would raise no event, so drain once up front.
        self.drain(engine, stop)?;
        let timeout = engine.idle_timeout();
        while !stop.is_requested() {
            let wait = if engine.park() {
                timeout
            } else {
                Some(Duration::ZERO)
            };
            let polled = self.poll.poll(&mut self.events, wait);
            engine.unpark();
            match polled {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(WorkerError::Poll(e)),
            }
            let readable = self.events.iter().any(|e| e.token() == TUN);
            if readable {
                self.drain(engine, stop)?;
            } else {
                let now = self.now_ms();
                engine.tick(&mut self.io, now);
            }
        }
        Ok(self.io.counters.snapshot())
    }

    /// Reads until EAGAIN (required with edge-triggered readiness), in batches of
    /// [`BATCH`] between which the stop flag and the clock are checked and the engine's
    /// timers run.
    fn drain<E: Engine>(&mut self, engine: &mut E, stop: &Stop) -> Result<(), WorkerError> {
        loop {
            let now = self.now_ms();
            for _ in 0..BATCH {
                match self.io.tun.recv(&mut self.io.pkt) {
                    Ok((0, _)) => {}
                    Ok((n, offload)) => self.handle(engine, n, offload, now),
                    Err(e) => match e.kind() {
                        io::ErrorKind::WouldBlock => {
                            engine.tick(&mut self.io, now);
                            return Ok(());
                        }
                        io::ErrorKind::Interrupted => {}
                        _ => {
                            self.io.counters.read_errors.add(1);
                            return Err(WorkerError::Read {
                                dev: self.io.tun.name().to_string(),
                                source: e,
                            });
                        }
                    },
                }
            }
            engine.tick(&mut self.io, now);
            if stop.is_requested() {
                return Ok(());
            }
        }
    }

    /// Translates one received packet and writes what the translator produced.
    #[inline]
    fn handle<E: Engine>(&mut self, engine: &mut E, n: usize, offload: Offload, now: u64) {
        let c = &*self.io.counters;
        c.rx_packets.add(1);
        c.rx_bytes.add(n as u64);
        if offload.gso_type != gso::NONE {
            c.rx_gso_packets.add(1);
        }
        if let Some(verdict) = engine.translate(&mut self.io, offload, now) {
            let dropped = self.io.account(verdict);
            self.io.send_out(dropped);
        }
        engine.after_packet(&mut self.io, now);
    }
}

/// Logs the first frame whose offload metadata the kernel refused; later ones are only
/// counted (`offload_write_errors`).
#[cold]
fn log_offload_refusal(o: Offload) {
    if !OFFLOAD_REFUSAL_LOGGED.swap(true, Ordering::Relaxed) {
        warn!(
            "the kernel refused a frame with offload metadata {o:?} (EINVAL); such frames \
             are counted in offload_write_errors and not logged again; if this repeats, \
             run with --offload false and report it"
        );
    }
}
