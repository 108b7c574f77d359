//! Operator interface: CLI, configuration, logging, signals, routes, and the `run`
//! sequence that ties them to the dataplane.

pub mod cli;
pub mod config;
pub mod ctl;
pub mod routes;
pub mod signals;

use std::io::IsTerminal;
use std::path::Path;

use clap::Parser;
use std::sync::Arc;

use tracing::{debug, info, warn};

use crate::dataplane::handoff;
use crate::dataplane::sys::OffloadFlags;
use crate::dataplane::{
    Counters, Engine, Nat64Engine, Snapshot, Stop, Tun, TunFlags, Worker, WorkerError,
};
use crate::nat64::{Shard, Sharding};
use crate::xlat::{Nat64Translator, Translator};
use cli::{Cli, Command, QueryArgs, RunArgs};
use config::{Config, ConfigError, LogLevel, Mode, Partial, Source};
use routes::Routes;

/// Exit status for configuration and usage errors (clap uses 2 as well).
pub const EXIT_USAGE: i32 = 2;
/// Exit status for runtime failures (device, privileges, routes).
pub const EXIT_FAILURE: i32 = 1;

/// A failure with its exit status; `main` prints `xlat64: error: {msg}`.
#[derive(Debug)]
struct Failure {
    code: i32,
    msg: String,
}

impl From<ConfigError> for Failure {
    fn from(e: ConfigError) -> Self {
        Failure {
            code: EXIT_USAGE,
            msg: e.0,
        }
    }
}

fn runtime(msg: impl std::fmt::Display) -> Failure {
    Failure {
        code: EXIT_FAILURE,
        msg: msg.to_string(),
    }
}

/// Entry point of the `xlat64` binary; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            // --help/--version print to stdout and exit 0; usage errors exit 2.
            let _ = e.print();
            return e.exit_code();
        }
    };
    let res = match cli.command {
        Command::Run(args) => run(&args),
        Command::CheckConfig { file } => check_config(&file),
        Command::Stats(q) => ask(&q, ctl::Query::Stats),
        Command::Sessions(q) => ask(&q, ctl::Query::Sessions),
    };
    match res {
        Ok(()) => 0,
        Err(f) => {
            eprintln!("xlat64: error: {}", f.msg);
            f.code
        }
    }
}

/// Writes to stdout, ignoring a closed pipe (`xlat64 ... | head` must not panic).
fn stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Loads `--config` (if any) under the flags.
fn load(args: &RunArgs) -> Result<Config, ConfigError> {
    let flags = args.to_partial()?;
    let file = match &args.config {
        Some(path) => Partial::from_file(path)?,
        None => Partial::default(),
    };
    Config::resolve(file, flags)
}

fn check_config(path: &Path) -> Result<(), Failure> {
    let cfg = Config::resolve(Partial::from_file(path)?, Partial::default())?;
    stdout(&cfg.render_toml());
    Ok(())
}

/// `xlat64 stats` / `xlat64 sessions`: asks the running translator, prints its answer.
fn ask(q: &QueryArgs, query: ctl::Query) -> Result<(), Failure> {
    let tun = q.tun.as_deref().unwrap_or(config::default::TUN);
    if let Some(t) = &q.tun {
        config::parse_tun("tun", t)?;
    }
    let path = q
        .control_socket
        .clone()
        .unwrap_or_else(|| config::default_control_socket(tun));
    let answer = ctl::query(
        &path,
        tun,
        ctl::Request {
            query,
            json: q.json,
        },
    )
    .map_err(runtime)?;
    stdout(&answer);
    Ok(())
}

/// The control socket, or None (with a warning) if it cannot be set up: the
/// translator is more useful running without it than not running.
fn control_socket(cfg: &Config) -> Option<ctl::ControlSocket> {
    match ctl::ControlSocket::bind(&cfg.control_socket) {
        Ok(s) => {
            info!(
                "control socket {} (xlat64 stats, xlat64 sessions)",
                cfg.control_socket.display()
            );
            Some(s)
        }
        Err(e) => {
            warn!("{e}; running without a control socket");
            None
        }
    }
}

/// stderr logging. Precedence: --log-level, then RUST_LOG, then the file, then info.
fn init_logging(cfg: &Config) {
    use tracing_subscriber::EnvFilter;
    let level = cfg.log_level.as_str();
    let filter = match cfg.source("log-level") {
        Some(Source::Flag) => EnvFilter::new(level),
        _ => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level)),
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

fn log_config(cfg: &Config) {
    info!("xlat64 {} starting", env!("CARGO_PKG_VERSION"));
    for (key, value, src) in cfg.entries() {
        info!("config {key} = {value} ({})", src.describe());
    }
    for key in cfg.lab_defaults() {
        warn!(
            "using built-in lab default for '{key}': fine for the demo lab only; set --{key} \
             or '{key}' in the config file for a real network"
        );
    }
    for key in cfg.ignored_keys() {
        warn!("'{key}' is ignored in {} mode", cfg.mode);
    }
}

/// The translator of the configured mode, built before any device is opened so that a
/// configuration it refuses fails early.
enum Xlat {
    Siit(Translator),
    Nat64(Nat64Translator),
}

impl Xlat {
    fn new(cfg: &Config) -> Result<Xlat, Failure> {
        let xc = cfg.xlat_config()?;
        Ok(match cfg.mode {
            Mode::Siit => Xlat::Siit(Translator::new(xc)),
            Mode::Nat64 => Xlat::Nat64(Nat64Translator::new(xc, cfg.icmp_on_refusal).map_err(
                |e| Failure {
                    code: EXIT_USAGE,
                    msg: e.to_string(),
                },
            )?),
        })
    }
}

/// The NAT64 state: one shard per worker, each with its slice of pool4's ports and its
/// share of `max-sessions`, and the `Sharding` that says which worker owns a packet.
/// Hashes are keyed with per-process random seeds.
fn nat64_shards(cfg: &Config) -> Result<(Vec<Shard>, Arc<Sharding>), Failure> {
    let seed = || {
        crate::dataplane::sys::random_u64().map_err(|e| {
            runtime(format!(
                "cannot read random bytes for the NAT64 tables: {e}"
            ))
        })
    };
    let workers = usize::from(cfg.workers).max(1);
    let base = cfg.shard_config();
    let mut sharding = Sharding::new(&base.pool, workers, base.subscriber_prefix_len, seed()?);
    let mut shards = Vec::with_capacity(workers);
    for w in 0..workers {
        let mut sc = base.clone();
        sc.worker = w;
        sc.workers = workers;
        sc.max_sessions = base.max_sessions.div_ceil(workers);
        sc.max_subscribers = base.max_subscribers.div_ceil(workers).max(64);
        let shard = Shard::new(sc, seed()?).map_err(|e| Failure {
            code: EXIT_USAGE,
            msg: e.to_string(),
        })?;
        // Huge pages halve the TLB misses of lookups in big tables; without them
        // (THP off) everything works on 4 KiB pages, only slower.
        if let Err(e) = crate::dataplane::nat64::advise_shard_hugepages(&shard)
            && w == 0
        {
            info!("nat64: no huge pages for the session tables ({e}); using 4 KiB pages");
        }
        shards.push(shard);
    }
    add_static_bibs(cfg, &mut sharding, &mut shards)?;
    let bytes: usize = shards.iter().map(Shard::reserved_bytes).sum();
    info!(
        "nat64: {} pool4 address{}, ports {}-{}, tables for {} sessions in {} shard{} ({} MB)",
        cfg.pool4_addrs().len(),
        if cfg.pool4_addrs().len() == 1 {
            ""
        } else {
            "es"
        },
        cfg.pool4_ports.first,
        cfg.pool4_ports.last,
        cfg.max_sessions,
        workers,
        if workers == 1 { "" } else { "s" },
        bytes / (1024 * 1024)
    );
    Ok((shards, Arc::new(sharding)))
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

/// Installs the operator's static BIB entries (`static-bib`), each in the shard of the
/// worker `sharding` gives it (and steers both its directions to). The config has
/// checked them (pool4 addresses, no clashes), so a refusal here is a bug worth a clear
/// exit rather than a silently missing mapping.
fn add_static_bibs(
    cfg: &Config,
    sharding: &mut Sharding,
    shards: &mut [Shard],
) -> Result<(), Failure> {
    for st in &cfg.static_bib {
        let entry = config::static_bib_string(st);
        let w = sharding.add_static(st);
        let Some(shard) = shards.get_mut(w) else {
            return Err(runtime(format!("static BIB entry {entry}: no worker {w}")));
        };
        shard.add_static(st).map_err(|r| Failure {
            code: EXIT_USAGE,
            msg: format!(
                "invalid value for 'static-bib': {entry:?}: cannot install it ({})",
                r.name()
            ),
        })?;
        info!("nat64: static BIB entry {entry}");
    }
    Ok(())
}

fn run(args: &RunArgs) -> Result<(), Failure> {
    let cfg = load(args)?;
    init_logging(&cfg);
    log_config(&cfg);
    let translator = Xlat::new(&cfg)?;
    let nat64 = match translator {
        Xlat::Nat64(_) => Some(nat64_shards(&cfg)?),
        Xlat::Siit(_) => None,
    };

    let stop = Stop::new();
    signals::install(&stop).map_err(|e| runtime(format!("cannot install signal handlers: {e}")))?;

    let queues = open_queues(&cfg)?;
    let workers = queues
        .into_iter()
        .map(|q| Worker::new(q, &stop))
        .collect::<Result<Vec<Worker>, _>>()
        .map_err(runtime)?;
    let dev = workers
        .first()
        .map(|w| w.tun().name().to_string())
        .unwrap_or_default();
    routes::warn_if_forwarding_disabled();
    // Declared after the workers so that, on any exit path, routes go before the device.
    let routes = if cfg.setup_routes {
        let plan = routes::plan(&cfg);
        Some(Routes::install(&dev, &plan).map_err(runtime)?)
    } else {
        None
    };

    info!(
        "translating ({}) on '{dev}' with {} worker{}; stop with Ctrl-C or SIGTERM",
        cfg.mode,
        workers.len(),
        if workers.len() == 1 { "" } else { "s" }
    );
    let counters: Vec<Arc<Counters>> = workers.iter().map(Worker::counters).collect();
    let mut sessions_rx = Vec::new();
    let links: Vec<ctl::SessionsLink> = workers
        .iter()
        .map(|w| {
            let (tx, rx) = std::sync::mpsc::channel();
            sessions_rx.push(rx);
            ctl::SessionsLink {
                requests: tx,
                waker: w.waker(),
            }
        })
        .collect();
    let state = ctl::State {
        counters: counters.clone(),
        sessions: matches!(translator, Xlat::Nat64(_)).then_some(links),
    };
    let control = control_socket(&cfg).map(|sock| {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("xlat64-control".into())
            .spawn(move || sock.serve(&state, &stop))
    });
    let (workers, results) = match (&translator, nat64) {
        (Xlat::Siit(t), _) => run_workers(
            workers.into_iter().map(|w| (w, t)).collect(),
            &stop,
            cfg.pin,
        ),
        // Built together above; never apart.
        (Xlat::Nat64(_), None) => (workers, Vec::new()),
        (Xlat::Nat64(t), Some((shards, sharding))) => {
            let wakers: Vec<_> = workers.iter().map(Worker::waker).collect();
            let cap = handoff_buf_cap(&cfg);
            let slots = handoff_slots(cap, wakers.len());
            let handoffs = handoff::mesh(&wakers, slots, cap);
            let paired = workers
                .into_iter()
                .zip(shards)
                .zip(handoffs)
                .zip(sessions_rx)
                .map(|(((w, s), h), rx)| {
                    let mut e = Nat64Engine::new(t, s).with_handoff(Arc::clone(&sharding), h);
                    e.serve_sessions(rx);
                    (w, e)
                })
                .collect();
            run_workers(paired, &stop, cfg.pin)
        }
    };
    // The workers are done: stop the control thread too (it removes its socket).
    stop.request();
    match control {
        Some(Ok(h)) => {
            let _ = h.join();
        }
        Some(Err(e)) => warn!("cannot start the control thread: {e}"),
        None => {}
    }
    if let Some(r) = routes {
        r.remove();
    }
    drop(workers);
    let snapshot = Snapshot::sum(counters.iter().map(|c| &**c));
    stdout(&snapshot.render_table(cfg.log_level >= LogLevel::Debug));
    if counters.len() > 1 {
        stdout(&per_worker_table(&counters));
    }
    if let Some(e) = results.into_iter().find_map(Result::err) {
        return Err(runtime(e));
    }
    info!("stopped");
    Ok(())
}

/// Largest packet a NAT64 hand-off buffer must hold: what the device delivers (MTU
/// sized packets without offloads; 64 KB super-packets with them).
fn handoff_buf_cap(cfg: &Config) -> usize {
    if cfg.offload {
        crate::wire::buf::MAX_PACKET
    } else {
        usize::from(cfg.mtu).max(1280) + 64
    }
}

/// Packets in and out per worker, to see how the kernel spread flows over the queues.
fn per_worker_table(counters: &[Arc<Counters>]) -> String {
    use std::fmt::Write as _;
    let mut s = String::from("per worker:\n");
    for (i, c) in counters.iter().enumerate() {
        let snap = c.snapshot();
        for (what, v) in [
            ("rx_packets", snap.rx_packets),
            ("tx_packets", snap.tx_packets),
        ] {
            let _ = writeln!(s, "  {:<34} {v:>16}", format!("worker{i}_{what}"));
        }
    }
    s
}

/// Opens the TUN device once per worker (IFF_MULTI_QUEUE when more than one), turns on
/// the offloads the kernel accepts, and configures the link.
fn open_queues(cfg: &Config) -> Result<Vec<Tun>, Failure> {
    let flags = TunFlags {
        multi_queue: cfg.workers > 1,
        vnet_hdr: cfg.offload,
    };
    let mut queues = Vec::with_capacity(usize::from(cfg.workers));
    for _ in 0..cfg.workers {
        queues.push(Tun::open(&cfg.tun, flags).map_err(runtime)?);
    }
    let Some(first) = queues.first() else {
        return Err(runtime("no TUN queue to open (workers = 0)"));
    };
    if cfg.offload {
        let on = first.enable_offloads();
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
    } else {
        info!("TUN offloads off (offload = false): plain packets, no virtio-net header");
    }
    let link = first
        .configure(u32::from(cfg.mtu), cfg.txqueuelen)
        .map_err(runtime)?;
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

/// Runs each worker on its own thread (pinned to a CPU if asked) until `stop`; a worker
/// that fails stops the others. Returns the workers (their devices still open, so routes
/// can be removed first) and each one's result.
fn run_workers<E: Engine + Send>(
    workers: Vec<(Worker, E)>,
    stop: &Stop,
    pin: bool,
) -> (Vec<Worker>, Vec<Result<(), WorkerError>>) {
    let cpus = crate::dataplane::sys::usable_cpus();
    std::thread::scope(|scope| {
        let handles: Vec<_> = workers
            .into_iter()
            .enumerate()
            .map(|(i, (mut w, mut engine))| {
                let cpu = cpus.get(i % cpus.len().max(1)).copied();
                std::thread::Builder::new()
                    .name(format!("xlat64-q{i}"))
                    .spawn_scoped(scope, move || {
                        if let (true, Some(cpu)) = (pin, cpu) {
                            match crate::dataplane::sys::pin_current_thread(cpu) {
                                Ok(()) => debug!("worker {i} pinned to CPU {cpu}"),
                                Err(e) => warn!("cannot pin worker {i} to CPU {cpu}: {e}"),
                            }
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
