//! Operator interface: CLI, configuration, logging, signals, routes, and the `run`
//! sequence that ties them to the dataplane.

pub mod clat;
pub mod cli;
pub mod config;
pub mod ctl;
pub mod deadline;
pub mod instance;
pub mod metrics;
pub mod natlog;
pub mod notify;
pub mod reload;
pub mod routes;
pub mod signals;

use std::io::IsTerminal;
use std::path::Path;

use std::sync::Arc;
use std::sync::mpsc::SyncSender;

use clap::Parser;
use tracing::{info, warn};

use crate::dataplane::{self, Counters, RunError, Snapshot, Spec, Started, Stop, TunSpec};
use crate::nat64::NatEvent;
use crate::xlat::{Nat64Translator, Translator};
use cli::{Cli, Command, QueryArgs, RunArgs, TraceArgs};
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
        Command::Reload(q) => ask(&q, ctl::Query::Reload),
        Command::Sessions(s) => s
            .query()
            .map_err(|e| Failure {
                code: EXIT_USAGE,
                msg: e,
            })
            .and_then(|q| ask(&s.query_args, ctl::Query::Sessions(q))),
        Command::Trace(t) => trace(&t),
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
    let (path, target) = match &q.control_socket {
        Some(p) => (p.clone(), ctl::Target::Socket),
        None => (config::default_control_socket(tun), ctl::Target::Tun(tun)),
    };
    let answer = ctl::query(
        &path,
        target,
        ctl::Request {
            query,
            json: q.json,
        },
    )
    .map_err(runtime)?;
    stdout(&answer);
    Ok(())
}

/// `xlat64 trace`: the log, else the deterministic formula, else the live table.
fn trace(t: &TraceArgs) -> Result<(), Failure> {
    use natlog::trace::{Question, from_formula, from_log_file, from_sessions_json, render};
    let usage = |msg: String| Failure {
        code: EXIT_USAGE,
        msg,
    };
    let q = Question::parse(&t.target, t.at.as_deref(), t.proto.as_deref()).map_err(usage)?;
    let cfg = match &t.config {
        Some(p) => Some(Config::resolve(Partial::from_file(p)?, Partial::default())?),
        None => None,
    };
    if let Some(log) = &t.log {
        let spans = from_log_file(log, &q).map_err(runtime)?;
        if spans.is_empty() {
            return Err(runtime(format!(
                "no record in {} of {}:{}{}",
                log.display(),
                q.v4,
                q.port,
                if q.at.is_some() { " at that time" } else { "" }
            )));
        }
        stdout(&render(&q, &spans));
        return Ok(());
    }
    if let Some(d) = cfg.as_ref().and_then(Config::deterministic) {
        let line = from_formula(&d, &q).ok_or_else(|| {
            runtime(format!(
                "{}:{} is no port of a deterministic block of this configuration",
                q.v4, q.port
            ))
        })?;
        stdout(&format!("{line}\n"));
        return Ok(());
    }
    let tun = t.tun.as_deref().unwrap_or(config::default::TUN);
    let (path, target) = match &t.control_socket {
        Some(p) => (p.clone(), ctl::Target::Socket),
        None => (config::default_control_socket(tun), ctl::Target::Tun(tun)),
    };
    let req = ctl::Request {
        // Only the sessions on the traced address: no page limit gets in the way.
        query: ctl::Query::Sessions(dataplane::SessionsQuery {
            filter: dataplane::SessionFilter {
                pool4: Some(q.v4),
                ..Default::default()
            },
            ..Default::default()
        }),
        json: true,
    };
    let answer = ctl::query(&path, target, req).map_err(runtime)?;
    let len = cfg.as_ref().map_or(64, |c| c.subscriber_prefix_len);
    let out = from_sessions_json(&answer, &q, len).map_err(runtime)?;
    if out.is_empty() {
        return Err(runtime(format!(
            "no live session on {}:{}; for the past, give --log FILE (nat-log-file)",
            q.v4, q.port
        )));
    }
    stdout(&out);
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
/// Returns what a reload calls to change the level (None while RUST_LOG rules it).
fn init_logging(cfg: &Config) -> Option<reload::LogLevelSetter> {
    use tracing_subscriber::EnvFilter;
    let level = cfg.log_level.as_str();
    let from_env = cfg.source("log-level") != Some(Source::Flag)
        && std::env::var_os(EnvFilter::DEFAULT_ENV).is_some();
    let filter = match cfg.source("log-level") {
        Some(Source::Flag) => EnvFilter::new(level),
        _ => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level)),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .with_filter_reloading();
    let handle = builder.reload_handle();
    builder.try_init().ok()?;
    if from_env {
        return None;
    }
    Some(Box::new(move |level: &str| {
        handle
            .reload(EnvFilter::new(level))
            .map_err(|e| format!("cannot change log-level: {e}"))
    }))
}

fn log_config(cfg: &Config) {
    info!("xlat64 {} starting", env!("CARGO_PKG_VERSION"));
    for (key, value, src) in cfg.entries() {
        let value = if value.is_empty() {
            "(not set)"
        } else {
            &value
        };
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
    for (warning, note) in config::limits::notes(cfg) {
        if warning {
            warn!("{note}");
        } else {
            info!("{note}");
        }
    }
}

/// What the dataplane runs for `cfg`. The translator is built here, before any device
/// is opened, so that a configuration it refuses fails early.
fn spec(
    cfg: &Config,
    clat: Option<&clat::Clat>,
    nat_log: Vec<SyncSender<NatEvent>>,
) -> Result<Spec, Failure> {
    let xc = cfg.xlat_config()?;
    let mode = match cfg.mode {
        Mode::Siit => dataplane::Mode::Siit(dataplane::Live::new(Translator::new(xc))),
        // The SIIT engine, following the translator the discovery thread replaces.
        Mode::Clat => match clat {
            Some(c) => dataplane::Mode::Siit(Arc::clone(&c.live)),
            None => return Err(runtime("clat mode without its preparation")),
        },
        Mode::Nat64 => dataplane::Mode::Nat64 {
            xlat: Nat64Translator::new(xc, cfg.icmp_on_refusal).map_err(|e| Failure {
                code: EXIT_USAGE,
                msg: e.to_string(),
            })?,
            shards: cfg.shard_config(),
            static_bib: cfg.static_bib.clone(),
            fragments: dataplane::Fragments {
                max: cfg.max_fragments,
                timeout_ms: u64::from(cfg.fragment_timeout) * 1000,
            },
            nat_log,
        },
    };
    Ok(Spec {
        tun: TunSpec {
            name: cfg.tun.clone(),
            queues: cfg.workers,
            offload: cfg.offload,
            mtu: cfg.mtu,
            txqueuelen: cfg.txqueuelen,
            io_uring: cfg.tun_io == config::TunIo::IoUring,
        },
        xdp: xdp_spec(cfg),
        pin: cfg.pin,
        mode,
        icmp_errors: dataplane::IcmpErrorLimits {
            rate: cfg.icmp_error_rate,
            burst: cfg.icmp_error_burst,
            destination_rate: cfg.icmp_error_destination_rate,
        },
    })
}

/// The XDP dataplane's interfaces and the destinations its programs send to the
/// translator: what `--setup-routes` would route into the TUN, and the translator's
/// own IPv6 address.
fn xdp_spec(cfg: &Config) -> Option<dataplane::XdpSpec> {
    if cfg.dataplane != config::Dataplane::Xdp {
        return None;
    }
    let mut destinations = routes::plan(cfg);
    let own6 = std::net::IpAddr::V6(cfg.ipv6_addr);
    if !destinations.iter().any(|n| n.contains(&own6)) {
        destinations.push(ipnet::IpNet::from(own6));
    }
    Some(dataplane::XdpSpec {
        ipv6_iface: cfg.ipv6_iface.clone(),
        ipv4_iface: cfg.ipv4_iface.clone(),
        destinations,
        mtu: cfg.mtu,
    })
}

impl From<RunError> for Failure {
    fn from(e: RunError) -> Self {
        match e {
            RunError::Config(msg) => Failure {
                code: EXIT_USAGE,
                msg,
            },
            RunError::System(msg) => runtime(msg),
        }
    }
}

/// What the control plane set up around the running workers, undone when they stop.
struct Around {
    routes: routes::SharedRoutes,
    control: Option<std::thread::JoinHandle<()>>,
    /// The CLAT's PLAT prefix discovery.
    discovery: Option<std::thread::JoinHandle<()>>,
    metrics: Option<std::thread::JoinHandle<()>>,
}

/// `metrics-listen`: binds it (a failure stops the start: the operator asked for it)
/// and serves `/metrics` on its own thread until `stop`.
fn metrics(
    cfg: &Config,
    stop: &Stop,
    counters: &[Arc<Counters>],
) -> Result<Option<std::thread::JoinHandle<()>>, RunError> {
    let Some(addr) = cfg.metrics_listen.0 else {
        return Ok(None);
    };
    let server = metrics::MetricsServer::bind(addr).map_err(RunError::System)?;
    let exporter = metrics::Exporter {
        counters: counters.to_vec(),
        pool4: match cfg.mode {
            Mode::Nat64 => cfg.pool4_addrs(),
            Mode::Siit | Mode::Clat => Vec::new(),
        },
        mode: cfg.mode.to_string(),
    };
    info!("metrics on http://{}/metrics", server.addr());
    let registry = metrics::registry(exporter);
    let stop = stop.clone();
    std::thread::Builder::new()
        .name("xlat64-metrics".into())
        .spawn(move || server.serve(&registry, &stop))
        .map(Some)
        .map_err(|e| RunError::System(format!("cannot start the metrics thread: {e}")))
}

/// Once the queues are open: routes (`--setup-routes`) and the control socket's thread.
fn started(
    cfg: &Config,
    clat: Option<&clat::Clat>,
    stop: &Stop,
    setup: &ReloadSetup,
    s: Started<'_>,
) -> Result<Around, RunError> {
    // First: a port in use stops the start before any route is installed.
    let metrics = metrics(cfg, stop, s.counters)?;
    routes::warn_if_forwarding_disabled(cfg.mode);
    let routes = match (cfg.setup_routes, clat) {
        (false, _) => None,
        (true, _) if cfg.dataplane == config::Dataplane::Xdp => {
            warn!(
                "--setup-routes does nothing with --dataplane xdp: the XDP programs pick what \
                 to translate, no route is needed"
            );
            None
        }
        (true, None) => {
            let plan = routes::plan(cfg);
            Some(Routes::install(s.device, &plan).map_err(RunError::System)?)
        }
        (true, Some(c)) => {
            let plan = routes::clat_plan(cfg, &c.mapping);
            Some(Routes::install_clat(s.device, &plan).map_err(RunError::System)?)
        }
    };
    let routes: routes::SharedRoutes = Arc::new(std::sync::Mutex::new(routes));
    let discovery = clat.and_then(|c| c.spawn_discovery(stop));
    let workers = s.counters.len();
    info!(
        "translating ({}) on '{}' with {workers} worker{}; stop with Ctrl-C or SIGTERM",
        cfg.mode,
        s.device,
        if workers == 1 { "" } else { "s" }
    );
    let reloader = Arc::new(
        reload::Reloader::new(
            setup.file.clone(),
            setup.flags.clone(),
            // As loaded: a CLAT's MTU from its uplink is no change a reload should see.
            clat.map_or(cfg, |c| &c.loaded).clone(),
            setup.siit.clone(),
            s.sessions.clone(),
            setup.log_level.lock().ok().and_then(|mut l| l.take()),
        )
        .with_natlog(setup.natlog_sinks.clone())
        .with_sharding(s.sharding.clone())
        .with_routes(Arc::clone(&routes)),
    );
    if let Some(flag) = setup.natlog_reopen.clone() {
        reloader.on_reload(Box::new(move |_| {
            flag.store(true, std::sync::atomic::Ordering::Relaxed);
            Ok(())
        }));
    }
    let _ = setup.slot.set(Arc::clone(&reloader));
    let state = ctl::State {
        counters: s.counters.to_vec(),
        sessions: s.sessions,
        reload: Some(reloader),
    };
    let control = control_socket(cfg).and_then(|sock| {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("xlat64-control".into())
            .spawn(move || sock.serve(&state, &stop))
            .map_err(|e| warn!("cannot start the control thread: {e}"))
            .ok()
    });
    let ready = format!(
        "READY=1\nSTATUS=translating ({}) on {} with {workers} worker(s)",
        cfg.mode, s.device
    );
    if let Err(e) = notify::notify(&ready) {
        warn!("{e}");
    }
    Ok(Around {
        routes,
        control,
        discovery,
        metrics,
    })
}

/// After the workers stopped (the stop flag is up), before the device closes: the
/// control thread removes its socket, then the routes go.
fn stopping(around: Around) {
    let _ = notify::notify("STOPPING=1");
    for h in [around.control, around.discovery, around.metrics]
        .into_iter()
        .flatten()
    {
        let _ = h.join();
    }
    let routes = around.routes.lock().ok().and_then(|mut r| r.take());
    if let Some(r) = routes {
        r.remove();
    }
}

/// What `started` needs to build the [`reload::Reloader`], and where it leaves it for
/// the signal thread (SIGHUP before the translator runs is logged and ignored).
struct ReloadSetup {
    file: Option<std::path::PathBuf>,
    flags: Partial,
    siit: Option<Arc<dataplane::Live<Translator>>>,
    log_level: std::sync::Mutex<Option<reload::LogLevelSetter>>,
    slot: Arc<std::sync::OnceLock<Arc<reload::Reloader>>>,
    /// Set to have the NAT log files reopened (after `xlat64 reload` too, not only
    /// SIGHUP, which sets it itself whatever the outcome).
    natlog_reopen: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// Where a reload hands new NAT log sinks to the logging thread.
    natlog_sinks: Option<natlog::SinkSwitch>,
}

fn run(args: &RunArgs) -> Result<(), Failure> {
    let cfg = load(args)?;
    let log_level = init_logging(&cfg);
    log_config(&cfg);
    let clat = match cfg.mode {
        Mode::Clat => Some(clat::prepare(&cfg).map_err(|e| match e {
            clat::PrepareError::Config(e) => Failure::from(e),
            clat::PrepareError::System(m) => runtime(m),
        })?),
        _ => None,
    };
    // The CLAT's MTU may come from its uplink.
    let cfg = clat.as_ref().map_or(cfg, |c| c.cfg.clone());
    // Before anything is opened, bound or routed; held until the routes are gone.
    let _claim = instance::Claim::take(&cfg.tun, &cfg.control_socket).map_err(runtime)?;
    let (logger, queues) =
        match natlog::Logger::start(&cfg, usize::from(cfg.workers)).map_err(|msg| Failure {
            code: EXIT_USAGE,
            msg,
        })? {
            Some((l, q)) => (Some(l), q),
            None => (None, Vec::new()),
        };
    let spec = spec(&cfg, clat.as_ref(), queues)?;
    let stop = Stop::new();
    let setup = ReloadSetup {
        file: args.config.clone(),
        flags: args.to_partial()?,
        // A reload changes the SIIT translator's EAMs; the CLAT's mapping is its own.
        siit: match &spec.mode {
            dataplane::Mode::Siit(live) if cfg.mode == Mode::Siit => Some(Arc::clone(live)),
            _ => None,
        },
        log_level: std::sync::Mutex::new(log_level),
        slot: Arc::new(std::sync::OnceLock::new()),
        natlog_reopen: logger.as_ref().map(natlog::Logger::reopen_flag),
        natlog_sinks: logger.as_ref().map(natlog::Logger::sink_switch),
    };
    let slot = Arc::clone(&setup.slot);
    let reopen = logger.as_ref().map(natlog::Logger::reopen_flag);
    signals::install(&stop, move || {
        // logrotate: the NAT log files are reopened whatever the reload's outcome.
        if let Some(f) = &reopen {
            f.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        match slot.get() {
            Some(r) => r.reload_and_log(),
            None => warn!("SIGHUP before the translator runs: ignored"),
        }
    })
    .map_err(|e| runtime(format!("cannot install signal handlers: {e}")))?;
    let finished = dataplane::run(
        spec,
        &stop,
        |s| started(&cfg, clat.as_ref(), &stop, &setup, s),
        stopping,
    )?;
    if let Some(l) = logger {
        l.finish();
    }
    let counters = &finished.counters;
    let snapshot = Snapshot::sum(counters.iter().map(|c| &**c));
    stdout(&snapshot.render_table(cfg.log_level >= LogLevel::Debug));
    if counters.len() > 1 {
        stdout(&per_worker_table(counters));
    }
    if let Some(e) = finished.error {
        return Err(runtime(e));
    }
    info!("stopped");
    Ok(())
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
