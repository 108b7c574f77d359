//! Operator interface: CLI, configuration, logging, signals, routes, and the `run`
//! sequence that ties them to the dataplane.

pub mod cli;
pub mod config;
pub mod ctl;
pub mod instance;
pub mod routes;
pub mod signals;

use std::io::IsTerminal;
use std::path::Path;

use std::sync::Arc;

use clap::Parser;
use tracing::{info, warn};

use crate::dataplane::{self, Counters, RunError, Snapshot, Spec, Started, Stop, TunSpec};
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
fn spec(cfg: &Config) -> Result<Spec, Failure> {
    let xc = cfg.xlat_config()?;
    let mode = match cfg.mode {
        Mode::Siit => dataplane::Mode::Siit(dataplane::Live::new(Translator::new(xc))),
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
        },
    };
    Ok(Spec {
        tun: TunSpec {
            name: cfg.tun.clone(),
            queues: cfg.workers,
            offload: cfg.offload,
            mtu: cfg.mtu,
            txqueuelen: cfg.txqueuelen,
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
    routes: Option<Routes>,
    control: Option<std::thread::JoinHandle<()>>,
}

/// Once the queues are open: routes (`--setup-routes`) and the control socket's thread.
fn started(cfg: &Config, stop: &Stop, s: Started<'_>) -> Result<Around, RunError> {
    routes::warn_if_forwarding_disabled();
    let routes = if cfg.setup_routes && cfg.dataplane == config::Dataplane::Xdp {
        warn!(
            "--setup-routes does nothing with --dataplane xdp: the XDP programs pick what \
             to translate, no route is needed"
        );
        None
    } else if cfg.setup_routes {
        let plan = routes::plan(cfg);
        Some(Routes::install(s.device, &plan).map_err(RunError::System)?)
    } else {
        None
    };
    let workers = s.counters.len();
    info!(
        "translating ({}) on '{}' with {workers} worker{}; stop with Ctrl-C or SIGTERM",
        cfg.mode,
        s.device,
        if workers == 1 { "" } else { "s" }
    );
    let state = ctl::State {
        counters: s.counters.to_vec(),
        sessions: s.sessions,
    };
    let control = control_socket(cfg).and_then(|sock| {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("xlat64-control".into())
            .spawn(move || sock.serve(&state, &stop))
            .map_err(|e| warn!("cannot start the control thread: {e}"))
            .ok()
    });
    Ok(Around { routes, control })
}

/// After the workers stopped (the stop flag is up), before the device closes: the
/// control thread removes its socket, then the routes go.
fn stopping(around: Around) {
    if let Some(h) = around.control {
        let _ = h.join();
    }
    if let Some(r) = around.routes {
        r.remove();
    }
}

fn run(args: &RunArgs) -> Result<(), Failure> {
    let cfg = load(args)?;
    init_logging(&cfg);
    log_config(&cfg);
    let spec = spec(&cfg)?;
    // Before anything is opened, bound or routed; held until the routes are gone.
    let _claim = instance::Claim::take(&cfg.tun, &cfg.control_socket).map_err(runtime)?;
    let stop = Stop::new();
    signals::install(&stop).map_err(|e| runtime(format!("cannot install signal handlers: {e}")))?;
    let finished = dataplane::run(spec, &stop, |s| started(&cfg, &stop, s), stopping)?;
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
