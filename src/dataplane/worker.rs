//! The packet loop: wait for the device, read packets, translate, write frames, count.
//!
//! Multi-queue: one worker per device queue, each on its own thread with its own buffers
//! and counters; they share only the (read-only) translator. SIIT is stateless, so
//! whichever queue the kernel picks for a packet can translate it and no packet is ever
//! handed between workers. Stateful NAT64 hands each packet to the worker owning its
//! session (see `handoff`); the loop only gives its engine a chance to serve those
//! hand-offs after every batch and before blocking (`Engine::park`).

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};

use super::counters::{Counters, Snapshot};
use super::device::Device;
use super::engine::Engine;
use super::io::Io;
use super::ratelimit::{IcmpErrorLimiter, IcmpErrorLimits};
use super::stop::Stop;
use crate::wire::buf::PacketBuf;
use crate::wire::vnet::{Offload, gso};

/// Packets handled between two checks of the stop flag and two clock readings.
pub const BATCH: usize = 64;

const DEVICE: Token = Token(0);
const WAKE: Token = Token(1);

/// Why the loop ended abnormally.
#[derive(Debug)]
pub enum WorkerError {
    /// Setting up the poller failed.
    Poll(io::Error),
    /// Reading the device failed in a way that will not go away (e.g. the device was
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

/// One packet loop on one device queue, with its preallocated buffers and counters.
pub struct Worker<D> {
    io: Io<D>,
    /// Receive buffers beyond `io.pkt`, swapped in one by one: none when the device
    /// reads one packet at a time (it then reads straight into `io.pkt`).
    rx: Box<[PacketBuf]>,
    meta: Box<[Offload]>,
    poll: Poll,
    events: Events,
    epoch: Instant,
    waker: Arc<Waker>,
}

impl<D: Device> Worker<D> {
    /// Registers the device and a waker with a new poller and attaches the waker to
    /// `stop`. Everything the loop needs is allocated here.
    pub fn new(dev: D, stop: &Stop) -> Result<Worker<D>, WorkerError> {
        let poll = Poll::new().map_err(WorkerError::Poll)?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE).map_err(WorkerError::Poll)?);
        stop.attach(Arc::clone(&waker));
        poll.registry()
            .register(&mut SourceFd(&dev.wake_fd()), DEVICE, Interest::READABLE)
            .map_err(WorkerError::Poll)?;
        let batch = dev.batch_size().clamp(1, BATCH);
        let extra = if batch == 1 { 0 } else { batch };
        let mut io = Io::new(dev);
        let counters = Arc::clone(&io.counters);
        io.dev.attach_counters(&counters);
        Ok(Worker {
            io,
            rx: (0..extra).map(|_| PacketBuf::new()).collect(),
            meta: vec![Offload::NONE; batch].into_boxed_slice(),
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
    /// idle tick, and how hand-offs reach a parked owner.
    pub fn waker(&self) -> Arc<Waker> {
        Arc::clone(&self.waker)
    }

    /// Limits the ICMP errors this worker sends (no limit until this is called).
    pub fn limit_icmp_errors(&mut self, limits: IcmpErrorLimits) {
        self.io.icmp_limit = IcmpErrorLimiter::new(limits);
    }

    pub fn device(&self) -> &D {
        &self.io.dev
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Runs until `stop` is requested; returns the final counters.
    pub fn run<E: Engine>(&mut self, engine: &mut E, stop: &Stop) -> Result<Snapshot, WorkerError> {
        // The device registration is edge-triggered: packets queued before we first poll
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
            let readable = self.events.iter().any(|e| e.token() == DEVICE);
            if readable {
                self.drain(engine, stop)?;
            } else {
                let now = self.now_ms();
                self.io.icmp_limit.set_now(now);
                engine.tick(&mut self.io, now);
                // What the timers sent (a device may queue it, see `Device::flush`).
                let _ = self.io.dev.flush();
            }
        }
        Ok(self.io.counters.snapshot())
    }

    /// Reads until the device has nothing more (required with edge-triggered
    /// readiness), [`BATCH`] packets between checks of the stop flag and the clock and
    /// runs of the engine's timers.
    fn drain<E: Engine>(&mut self, engine: &mut E, stop: &Stop) -> Result<(), WorkerError> {
        loop {
            let now = self.now_ms();
            self.io.icmp_limit.set_now(now);
            let mut left = BATCH;
            while left > 0 {
                match self.recv(left) {
                    Ok(n) => {
                        self.handle_batch(engine, n, now);
                        left = left.saturating_sub(n.max(1));
                    }
                    Err(e) => match e.kind() {
                        io::ErrorKind::WouldBlock => {
                            engine.tick(&mut self.io, now);
                            let _ = self.io.dev.flush();
                            return Ok(());
                        }
                        io::ErrorKind::Interrupted => left -= 1,
                        _ => {
                            self.io.counters.read_errors.add(1);
                            return Err(WorkerError::Read {
                                dev: self.io.dev.name().to_string(),
                                source: e,
                            });
                        }
                    },
                }
            }
            engine.tick(&mut self.io, now);
            let _ = self.io.dev.flush();
            if stop.is_requested() {
                return Ok(());
            }
        }
    }

    /// Reads at most `max` packets: into `io.pkt` when the device reads one at a time,
    /// else into the batch buffers.
    #[inline]
    fn recv(&mut self, max: usize) -> io::Result<usize> {
        if self.rx.is_empty() {
            let one = std::slice::from_mut(&mut self.io.pkt);
            return self.io.dev.recv_batch(one, &mut self.meta[..1]);
        }
        let n = max.min(self.rx.len());
        self.io
            .dev
            .recv_batch(&mut self.rx[..n], &mut self.meta[..n])
    }

    /// Translates the `n` packets just read, writes what the translator produced, and
    /// flushes the device.
    #[inline]
    fn handle_batch<E: Engine>(&mut self, engine: &mut E, n: usize, now: u64) {
        for i in 0..n {
            let offload = self.meta.get(i).copied().unwrap_or(Offload::NONE);
            if self.rx.is_empty() {
                self.handle(engine, offload, now);
            } else if let Some(buf) = self.rx.get_mut(i) {
                std::mem::swap(&mut self.io.pkt, buf);
                self.handle(engine, offload, now);
                if let Some(buf) = self.rx.get_mut(i) {
                    std::mem::swap(&mut self.io.pkt, buf);
                }
            }
        }
        // A failed flush loses frames the device already counted as written; the
        // next batch tries again with new ones.
        let _ = self.io.dev.flush();
    }

    /// Translates the packet in `io.pkt` and writes what the translator produced. A runt
    /// the device delivered empty (shorter than its offload header) is not a packet.
    #[inline]
    fn handle<E: Engine>(&mut self, engine: &mut E, offload: Offload, now: u64) {
        let n = self.io.pkt.len();
        if n == 0 {
            return;
        }
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
