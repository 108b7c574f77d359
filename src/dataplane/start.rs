//! Start-up and shutdown of the dataplane: state, device queues, hand-off rings, worker
//! threads and their CPUs, in one call ([`run`]) that the control plane makes with a
//! [`Spec`] built from its configuration.
//!
//! The order matters and lives here once: the NAT64 tables are allocated (and refused,
//! if the configuration does not fit) before any device is opened; the control plane
//! gets its look at the running dataplane (device name for routes, counters and session
//! channels for the control socket) once every queue is open; and when the workers
//! stop, it tidies up (routes first) while the devices are still open, because closing
//! the last queue of a non-persistent TUN destroys the device and its routes with it.

use std::os::fd::AsFd;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, channel};

use tracing::{debug, info, warn};

use super::counters::Counters;
use super::device::Device;
use super::engine::{Engine, SiitEngine};
use super::handoff;
use super::live::Live;
use super::nat64::{
    Nat64Engine, SessionsLink, SessionsRequest, WorkerControl, advise_shard_hugepages,
};
use super::ratelimit::IcmpErrorLimits;
use super::steer;
use super::stop::Stop;
use super::sys::{self, OffloadFlags, TunFlags};
use super::tun::Tun;
use super::uring::{self, UringTun};
use super::worker::{Worker, WorkerError};
use super::xdp;
use super::xdp::setup::XdpSpec;
use crate::nat64::{
    Deterministic, NatEvent, PortAllocation, Proto, Shard, ShardConfig, Sharding, StaticBib,
};
use crate::xlat::reassembly;
use crate::xlat::{Nat64Translator, Translator};

/// The TUN device the workers share, one queue each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TunSpec {
    pub name: String,
    /// Queues, one worker each (IFF_MULTI_QUEUE when more than one).
    pub queues: u16,
    /// IFF_VNET_HDR and TUNSETOFFLOAD: super-packets and partial checksums.
    pub offload: bool,
    pub mtu: u16,
    pub txqueuelen: u32,
    /// Drive each queue through an io_uring (`tun-io = "io-uring"`, see [`UringTun`]).
    pub io_uring: bool,
}

/// The translation the workers run.
// Built once per process and moved into `run`: boxing the big variant buys nothing.
#[allow(clippy::large_enum_variant)]
pub enum Mode {
    /// Stateless: SIIT, and the CLAT (SIIT with the host's address mapped 1:1 and the
    /// PLAT's prefix), whose translator the control plane may replace while it runs.
    Siit(Arc<Live<Translator>>),
    Nat64 {
        xlat: Nat64Translator,
        /// The state of the whole translator; each worker gets its share.
        shards: ShardConfig,
        /// Operator mappings (RFC 6146 §3.1 static BIB entries), each installed in the
        /// shard of the worker that owns it.
        static_bib: Vec<StaticBib>,
        fragments: Fragments,
        /// One bounded queue per worker to the NAT logging thread (empty: no
        /// logging).
        nat_log: Vec<SyncSender<NatEvent>>,
    },
}

/// NAT64 reassembly (RFC 6146 §3.4), for the whole translator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragments {
    /// Fragments held at most, over all workers (`max-fragments`).
    pub max: u32,
    /// How long a datagram may take to complete (`fragment-timeout`), in ms.
    pub timeout_ms: u64,
}

pub struct Spec {
    /// The TUN device; with `xdp`, only its queue count (workers) and MTU are used.
    pub tun: TunSpec,
    /// The AF_XDP dataplane instead of the TUN device.
    pub xdp: Option<XdpSpec>,
    /// Pin worker i to usable CPU i (modulo their number).
    pub pin: bool,
    pub mode: Mode,
    /// Each worker's limits on the ICMP errors it originates.
    pub icmp_errors: IcmpErrorLimits,
}

/// Why the dataplane could not run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// The configuration does not fit what the state can hold (a usage error).
    Config(String),
    /// The system refused: device, privileges, threads, randomness.
    System(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Config(m) | RunError::System(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for RunError {}

/// What the control plane sees of the dataplane once its devices are open.
pub struct Started<'a> {
    /// The device name the kernel gave (for routes).
    pub device: &'a str,
    /// Each worker's live counters.
    pub counters: &'a [Arc<Counters>],
    /// NAT64: how to ask each worker for its sessions; None in SIIT mode (stateless).
    pub sessions: Option<Vec<SessionsLink>>,
    /// NAT64: which worker owns a flow, for a reload that changes the static entries.
    pub sharding: Option<Arc<Live<Sharding>>>,
}

/// How the workers ended.
pub struct Finished {
    /// Each worker's counters, final.
    pub counters: Vec<Arc<Counters>>,
    /// The first worker failure, if any (the others were stopped because of it).
    pub error: Option<WorkerError>,
}

/// Builds the state, opens the device queues and runs one worker thread per queue until
/// `stop`. `started` runs once the queues are open and the workers about to start (an
/// error from it stops everything); `stopping` gets its value back after the workers
/// have stopped, before the queues are closed.
pub fn run<S>(
    spec: Spec,
    stop: &Stop,
    started: impl FnOnce(Started<'_>) -> Result<S, RunError>,
    stopping: impl FnOnce(S),
) -> Result<Finished, RunError> {
    let nat64 = match &spec.mode {
        Mode::Siit(_) => None,
        Mode::Nat64 {
            shards, static_bib, ..
        } => Some(nat64_shards(shards, spec.tun.queues, static_bib)?),
    };
    match &spec.xdp {
        None => {
            let queues = open_queues(&spec.tun)?;
            if let (Some((_, sharding)), Some(first)) = (&nat64, queues.first())
                && queues.len() > 1
            {
                steer_to_owners(first, sharding);
            }
            if spec.tun.io_uring {
                let rings = queues
                    .into_iter()
                    .map(uring_queue)
                    .collect::<Result<Vec<_>, _>>()?;
                info!(
                    "TUN I/O through io_uring: {} reads queued per queue",
                    uring::DEPTH
                );
                return run_on(spec, nat64, rings, stop, started, stopping);
            }
            run_on(spec, nat64, queues, stop, started, stopping)
        }
        Some(x) => {
            let (attached, ports) = xdp::setup::open(x, spec.tun.queues)?;
            let done = run_on(spec, nat64, ports, stop, started, stopping);
            // The programs stay attached until every worker has stopped.
            drop(attached);
            done
        }
    }
}

/// [`run`] once the devices are open.
fn run_on<D: Device, S>(
    spec: Spec,
    nat64: Option<(Vec<Shard>, Arc<Sharding>)>,
    devices: Vec<D>,
    stop: &Stop,
    started: impl FnOnce(Started<'_>) -> Result<S, RunError>,
    stopping: impl FnOnce(S),
) -> Result<Finished, RunError> {
    let workers = devices
        .into_iter()
        .map(|q| {
            let mut w = Worker::new(q, stop)?;
            w.limit_icmp_errors(spec.icmp_errors);
            Ok(w)
        })
        .collect::<Result<Vec<_>, WorkerError>>()
        .map_err(|e| RunError::System(e.to_string()))?;
    let counters: Vec<Arc<Counters>> = workers.iter().map(Worker::counters).collect();
    let (links, requests) = session_links(&workers, nat64.is_some());
    let nat64 = nat64.map(|(shards, sh)| (shards, Live::new(Arc::unwrap_or_clone(sh))));
    let live_sharding = nat64.as_ref().map(|(_, sh)| Arc::clone(sh));
    let device = workers
        .first()
        .map(|w| w.device().name().to_string())
        .unwrap_or_default();
    let guard = started(Started {
        device: &device,
        counters: &counters,
        sessions: links,
        sharding: live_sharding.clone(),
    })?;
    let (workers, results) = match (&spec.mode, nat64) {
        (Mode::Siit(t), _) => run_workers(
            workers
                .into_iter()
                .map(|w| (w, SiitEngine::new(t)))
                .collect(),
            stop,
            spec.pin,
        ),
        (
            Mode::Nat64 {
                xlat,
                fragments,
                nat_log,
                ..
            },
            Some((shards, sharding)),
        ) => {
            let limits = fragment_limits(fragments, &spec.tun, &shards);
            let mut engines = nat64_engines(xlat, &workers, shards, sharding, requests, limits);
            for (e, q) in engines.iter_mut().zip(nat_log) {
                e.log_to(q.clone());
            }
            run_workers(workers.into_iter().zip(engines).collect(), stop, spec.pin)
        }
        // Built together above; never apart.
        (Mode::Nat64 { .. }, None) => (workers, Vec::new()),
    };
    stop.request();
    stopping(guard);
    drop(workers);
    Ok(Finished {
        counters,
        error: results.into_iter().find_map(Result::err),
    })
}

/// What a NAT64 worker hears from the control thread: sessions requests, reloaded limits.
type WorkerRx = (Receiver<SessionsRequest>, Receiver<WorkerControl>);

/// One sessions channel per worker for the control thread, when the mode has sessions.
fn session_links<D: Device>(
    workers: &[Worker<D>],
    stateful: bool,
) -> (Option<Vec<SessionsLink>>, Vec<WorkerRx>) {
    if !stateful {
        return (None, Vec::new());
    }
    let (links, rxs) = workers
        .iter()
        .map(|w| {
            let (tx, rx) = channel();
            let (ltx, lrx) = channel();
            let link = SessionsLink {
                requests: tx,
                control: ltx,
                waker: w.waker(),
            };
            (link, (rx, lrx))
        })
        .unzip();
    (Some(links), rxs)
}

/// Each NAT64 worker's engine: its shard, its reassembly buffers, the rings to its
/// peers, its session requests.
fn nat64_engines<'a, D: Device>(
    xlat: &'a Nat64Translator,
    workers: &[Worker<D>],
    shards: Vec<Shard>,
    sharding: Arc<Live<Sharding>>,
    requests: Vec<WorkerRx>,
    frags: reassembly::Limits,
) -> Vec<Nat64Engine<'a>> {
    let wakers: Vec<_> = workers.iter().map(Worker::waker).collect();
    // A datagram reassembled by one worker may be another's: every hand-off buffer
    // holds the largest packet.
    let buf_cap = crate::wire::buf::MAX_PACKET;
    let slots = handoff_slots(buf_cap, wakers.len());
    let handoffs = handoff::mesh(&wakers, slots, buf_cap);
    shards
        .into_iter()
        .zip(handoffs)
        .zip(requests)
        .map(|((s, h), (rx, limits))| {
            let mut e = Nat64Engine::new(xlat, s, frags).with_handoff(&sharding, h);
            e.serve_sessions(rx, limits);
            e
        })
        .collect()
}

/// Each worker's share of `max-fragments` (at least 64), in buffers of one device MTU:
/// fragments never arrive larger.
fn fragment_limits(f: &Fragments, tun: &TunSpec, shards: &[Shard]) -> reassembly::Limits {
    let workers = shards.len().max(1);
    let limits = reassembly::Limits {
        slots: (f.max as usize / workers).max(64),
        slot_len: usize::from(tun.mtu).max(1280),
        timeout_ms: f.timeout_ms,
        subscriber_prefix_len: shards
            .first()
            .map_or(64, |s| s.config().subscriber_prefix_len),
    };
    info!(
        "nat64: reassembly of up to {} fragments per worker ({} per source), {} ms, {} MB \
         reserved in all",
        limits.slots,
        limits.share(),
        limits.timeout_ms,
        limits.slots * limits.slot_len * workers / (1024 * 1024)
    );
    limits
}

/// The NAT64 state: one shard per worker, each with its slice of pool4's ports and its
/// share of `max-sessions`, and the `Sharding` that says which worker owns a packet.
/// Hashes are keyed with per-process random seeds.
fn nat64_shards(
    base: &ShardConfig,
    workers: u16,
    static_bib: &[StaticBib],
) -> Result<(Vec<Shard>, Arc<Sharding>), RunError> {
    let seed = || {
        sys::random_u64().map_err(|e| {
            RunError::System(format!(
                "cannot read random bytes for the NAT64 tables: {e}"
            ))
        })
    };
    let workers = usize::from(workers).max(1);
    let det = (base.blocks.mode == PortAllocation::Deterministic)
        .then(|| {
            Deterministic::new(
                &base.pool,
                Proto::Tcp,
                &base.blocks,
                base.subscriber_prefix_len,
            )
        })
        .flatten();
    let mut sharding = Sharding::new(&base.pool, workers, base.subscriber_prefix_len, seed()?)
        .with_deterministic(det);
    let mut shards = Vec::with_capacity(workers);
    for w in 0..workers {
        let mut sc = base.clone();
        sc.worker = w;
        sc.workers = workers;
        sc.max_sessions = base.max_sessions.div_ceil(workers);
        sc.max_subscribers = base.max_subscribers.div_ceil(workers).max(64);
        let shard = Shard::new(sc, seed()?).map_err(|e| RunError::Config(e.to_string()))?;
        // Huge pages halve the TLB misses of lookups in big tables; without them
        // (THP off) everything works on 4 KiB pages, only slower.
        if let Err(e) = advise_shard_hugepages(&shard)
            && w == 0
        {
            info!("nat64: no huge pages for the session tables ({e}); using 4 KiB pages");
        }
        shards.push(shard);
    }
    add_static_bibs(static_bib, &mut sharding, &mut shards)?;
    let bytes: usize = shards.iter().map(Shard::reserved_bytes).sum();
    let addrs = base.pool.addrs.len();
    info!(
        "nat64: {addrs} pool4 address{}, ports {}-{}, tables for {} sessions in {workers} \
         shard{} ({} MB)",
        if addrs == 1 { "" } else { "es" },
        base.pool.tcp.first,
        base.pool.tcp.last,
        base.max_sessions,
        if workers == 1 { "" } else { "s" },
        bytes / (1024 * 1024)
    );
    Ok((shards, Arc::new(sharding)))
}

/// Installs the operator's static BIB entries, each in the shard of the worker
/// `sharding` gives it (and steers both its directions to). The configuration has
/// checked them (pool4 addresses, no clashes), so a refusal here is a bug worth a clear
/// exit rather than a silently missing mapping.
fn add_static_bibs(
    entries: &[StaticBib],
    sharding: &mut Sharding,
    shards: &mut [Shard],
) -> Result<(), RunError> {
    for st in entries {
        let w = sharding.add_static(st);
        let Some(shard) = shards.get_mut(w) else {
            return Err(RunError::System(format!(
                "static BIB entry {st}: no worker {w}"
            )));
        };
        shard.add_static(st).map_err(|r| {
            RunError::Config(format!(
                "invalid value for 'static-bib': \"{st}\": cannot install it ({})",
                r.name()
            ))
        })?;
        info!("nat64: static BIB entry {st}");
    }
    Ok(())
}

/// Hand-off ring slots per ordered pair of NAT64 workers: a burst of this many packets
/// for one owner is absorbed before packets are dropped (`nat64_handoff_full`). Each
/// worker keeps as many spare buffers per peer, so the count shrinks with 64 KB
/// (offload) buffers and many workers to keep the stock near `HANDOFF_STOCK_BYTES`.
fn handoff_slots(buf_cap: usize, workers: usize) -> usize {
    const MAX: usize = 256;
    const MIN: usize = 32;
    const HANDOFF_STOCK_BYTES: usize = 32 << 20;
    let peers = workers.saturating_sub(1).max(1);
    (HANDOFF_STOCK_BYTES / (buf_cap.max(1) * peers)).clamp(MIN, MAX)
}

/// Opens the TUN device once per worker (IFF_MULTI_QUEUE when more than one), turns on
/// the offloads the kernel accepts, and configures the link.
fn open_queues(spec: &TunSpec) -> Result<Vec<Tun>, RunError> {
    let sys_err = |e: sys::SysError| RunError::System(e.to_string());
    let flags = TunFlags {
        multi_queue: spec.queues > 1,
        vnet_hdr: spec.offload,
    };
    let mut queues = Vec::with_capacity(usize::from(spec.queues));
    for _ in 0..spec.queues {
        queues.push(Tun::open(&spec.name, flags).map_err(sys_err)?);
    }
    let Some(first) = queues.first() else {
        return Err(RunError::System(
            "no TUN queue to open (workers = 0)".into(),
        ));
    };
    if spec.offload {
        log_offloads(first.enable_offloads());
    } else {
        info!("TUN offloads off (offload = false): plain packets, no virtio-net header");
    }
    let link = first
        .configure(u32::from(spec.mtu), spec.txqueuelen)
        .map_err(sys_err)?;
    info!(
        "TUN device '{}' up: {} queue{}, mtu {}{}, txqueuelen {}{}",
        first.name(),
        queues.len(),
        if queues.len() == 1 { "" } else { "s" },
        link.mtu,
        if link.mtu_changed {
            ""
        } else {
            " (already set)"
        },
        link.txqueuelen,
        if link.txqueuelen_changed {
            ""
        } else {
            " (already set)"
        },
    );
    Ok(queues)
}

/// Puts a TUN queue behind an io_uring; a kernel that refuses is a usage error with what
/// to do about it, since the operator chose io-uring and a silent fallback would hide it.
fn uring_queue(q: Tun) -> Result<UringTun, RunError> {
    UringTun::new(q).map_err(uring_refused)
}

fn uring_refused(e: std::io::Error) -> RunError {
    let why = match e.raw_os_error() {
        Some(libc::ENOSYS) => "this kernel has no io_uring",
        Some(libc::EPERM) => "io_uring is disabled (sysctl kernel.io_uring_disabled)",
        Some(libc::EINVAL | libc::EOPNOTSUPP) => {
            "this kernel lacks the io_uring features used (multishot read: Linux 6.7+)"
        }
        _ => "the kernel refused to set up io_uring",
    };
    RunError::Config(format!(
        "tun-io = \"io-uring\": {why} ({e}); use --tun-io syscalls (tun-io = \"syscalls\")"
    ))
}

/// NAT64 on several queues: has the kernel put each packet on its owner's queue
/// (TUNSETSTEERINGEBPF, see [`steer`]); without it the workers hand packets over.
fn steer_to_owners(queue: &Tun, sharding: &Sharding) {
    if sharding.is_deterministic() {
        info!(
            "nat64: no steering to owners' queues with a deterministic mapping (the program \
             copies only the hashed owners); packets are handed to their owner"
        );
        return;
    }
    let done = steer::load(sharding).and_then(|(prog, _owners)| {
        steer::attach(queue.as_fd(), &prog)?;
        Ok(())
    });
    match done {
        Ok(()) => {
            info!("nat64: the kernel steers each packet to its owner's queue (TUNSETSTEERINGEBPF)")
        }
        Err(e) => warn!(
            "nat64: no steering to owners' queues ({e}); packets on another worker's queue \
             are handed to their owner"
        ),
    }
}

fn log_offloads(on: OffloadFlags) {
    let refused = OffloadFlags(OffloadFlags::ALL.0 & !on.0);
    if refused == OffloadFlags::NONE {
        info!("TUN offloads on: {}", on.describe());
    } else {
        info!(
            "TUN offloads on: {} (the kernel refused: {}; UDP segmentation needs Linux 6.2+)",
            on.describe(),
            refused.describe()
        );
    }
}

/// Runs each worker on its own thread (pinned to a CPU if asked) until `stop`; a worker
/// that fails stops the others. Returns the workers (their devices still open, so routes
/// can be removed first) and each one's result.
fn run_workers<D: Device, E: Engine + Send>(
    workers: Vec<(Worker<D>, E)>,
    stop: &Stop,
    pin: bool,
) -> (Vec<Worker<D>>, Vec<Result<(), WorkerError>>) {
    let cpus = sys::usable_cpus();
    std::thread::scope(|scope| {
        let handles: Vec<_> = workers
            .into_iter()
            .enumerate()
            .map(|(i, (mut w, mut engine))| {
                let cpu = cpus.get(i % cpus.len().max(1)).copied().filter(|_| pin);
                std::thread::Builder::new()
                    .name(format!("xlat64-q{i}"))
                    .spawn_scoped(scope, move || {
                        if let Some(cpu) = cpu {
                            pin_worker(i, cpu);
                        }
                        let res = w.run(&mut engine, stop).map(|_| ());
                        if res.is_err() {
                            stop.request();
                        }
                        (w, res)
                    })
            })
            .collect();
        let mut done = Vec::new();
        let mut results = Vec::new();
        for h in handles {
            match h {
                Ok(h) => match h.join() {
                    Ok((w, r)) => {
                        done.push(w);
                        results.push(r);
                    }
                    Err(_) => results.push(Err(WorkerError::Panicked)),
                },
                Err(e) => {
                    stop.request();
                    results.push(Err(WorkerError::Poll(e)));
                }
            }
        }
        (done, results)
    })
}

fn pin_worker(i: usize, cpu: usize) {
    match sys::pin_current_thread(cpu) {
        Ok(()) => debug!("worker {i} pinned to CPU {cpu}"),
        Err(e) => warn!("cannot pin worker {i} to CPU {cpu}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A kernel that refuses io_uring is a usage error (exit 2) that names the key, the
    /// reason and the way out.
    #[test]
    fn io_uring_refusal_says_why_and_what_to_do() {
        for (errno, why) in [
            (libc::ENOSYS, "no io_uring"),
            (libc::EPERM, "kernel.io_uring_disabled"),
            (libc::EOPNOTSUPP, "Linux 6.7+"),
        ] {
            let RunError::Config(m) = uring_refused(std::io::Error::from_raw_os_error(errno))
            else {
                panic!("not a usage error");
            };
            assert!(m.starts_with("tun-io = \"io-uring\": "), "{m}");
            assert!(m.contains(why) && m.contains("--tun-io syscalls"), "{m}");
            assert!(!m.contains('\n'), "{m}");
        }
    }
}
