//! Operator interface: CLI, configuration, logging, signals, routes, and the `run`
//! sequence that ties them to the dataplane.

pub mod cli;
pub mod config;
pub mod routes;
pub mod signals;

use std::io::IsTerminal;
use std::path::Path;

use clap::Parser;
use tracing::{info, warn};

use crate::dataplane::{Stop, Tun, TunFlags, Worker};
use crate::xlat::Translator;
use cli::{Cli, Command, RunArgs};
use config::{Config, ConfigError, LogLevel, Partial, Source};
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
}

fn run(args: &RunArgs) -> Result<(), Failure> {
    let cfg = load(args)?;
    init_logging(&cfg);
    log_config(&cfg);
    let translator = Translator::new(cfg.xlat_config()?);

    let stop = Stop::new();
    signals::install(&stop).map_err(|e| runtime(format!("cannot install signal handlers: {e}")))?;

    let tun = Tun::open(&cfg.tun, TunFlags::default()).map_err(runtime)?;
    let link = tun
        .configure(u32::from(cfg.mtu), cfg.txqueuelen)
        .map_err(runtime)?;
    info!(
        "TUN device '{}' up: mtu {}{}, txqueuelen {}{}",
        tun.name(),
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
    routes::warn_if_forwarding_disabled();

    let mut worker = Worker::new(tun, &stop).map_err(runtime)?;
    // Declared after the worker so that, on any exit path, routes go before the device.
    let routes = if cfg.setup_routes {
        let plan = routes::plan(&cfg);
        Some(Routes::install(worker.tun().name(), &plan).map_err(runtime)?)
    } else {
        None
    };

    info!(
        "translating ({}) on '{}'; stop with Ctrl-C or SIGTERM",
        cfg.mode,
        worker.tun().name()
    );
    let result = worker.run(&translator, &stop);
    if let Some(r) = routes {
        r.remove();
    }
    let snapshot = match &result {
        Ok(s) => *s,
        Err(_) => worker.counters().snapshot(),
    };
    stdout(&snapshot.render_table(cfg.log_level >= LogLevel::Debug));
    result.map(|_| ()).map_err(runtime)?;
    info!("stopped");
    Ok(())
}
