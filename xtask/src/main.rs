//! `cargo xtask <command>`: the project's developer commands.
//!
//! - `demo`: build, create the lab, show an IPv6-only client reaching an IPv4-only server.
//! - `test`: everything CI checks (fmt, clippy, build, unit, end-to-end, fuzz).
//! - `bench`: microbenchmarks, then kernel forwarding vs xlat64 vs TAYGA in namespaces.
//! - `fuzz --seconds N`: bounded fuzz runs.
//! - `deb`: a Debian package (binary, systemd unit, sample config, man page).
//! - `udpgen`: the bench's UDP load generator (run inside the client namespace).
//!
//! Few dependencies on purpose: it must build fast on a fresh machine and share `lab.rs`
//! with the integration tests. libc is for `udpgen`'s raw socket and `sendmmsg`;
//! serde_json reads iperf3's `--json` reports for the bench, and is worth its place
//! because xlat64 and its end-to-end tests use it too: CI builds it once for all three.

#[allow(dead_code)]
#[path = "../../integration/lab.rs"]
mod lab;

mod bench;
mod bench_clat;
mod deb;
mod demo;
mod deps;
mod fraggen;
mod fuzz;
mod suite;
mod udpgen;

use std::path::PathBuf;
use std::process::{Command, ExitCode};

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  demo [--tayga]            build, create the lab, ping and curl an IPv4-only server
                            from an IPv6-only client through xlat64, print its counters;
                            then 464XLAT: an IPv4-only app on an IPv6-only phone through
                            CLAT and PLAT (--tayga: the first part with TAYGA, to check
                            the lab itself)
  test                      fmt, clippy, release build, unit tests, end-to-end tests, fuzz
  bench [--seconds N] [--rounds N] [--streams N] [--workers N] [--gen-threads N]
        [--rows NAME,NAME] [--no-micro]
                            cargo bench, then, interleaved over rounds (medians shown):
                            kernel IPv6 forwarding with and without GSO, TAYGA, xlat64
                            with 1 queue and no offloads, with offloads, with N queues,
                            stateful NAT64 with 1 and N queues: TCP Gbit/s (1 and N
                            streams), 64-byte UDP packets/s over 64 flows (iperf3, and
                            udpgen) and over 100 000 flows, NAT64 new sessions/s,
                            translator CPU ns per packet; with
                            XLAT64_BASELINE_BIN=PATH also every xlat64 row with that
                            binary (rows named base ...) and the ratios to it;
                            --rows runs only the rows whose name contains one of
                            the words (=NAME: that row only), --no-micro skips
                            cargo bench
  fuzz [--seconds N]        bounded fuzz runs
  deb                       build target/deb/xlat64_VERSION_ARCH.deb: release binary,
                            systemd unit and sample config (xtask/dist/), man page
                            generated from the clap help; needs dpkg-deb
  udpgen --dst IPV6 --seconds S (--flows N | --new-flows) [--threads N] [--max-packets N]
                            (used by bench) 64-byte UDP from a raw socket over exactly N
                            flows, or a new flow every packet; needs root
  udpgen --sink             (used by bench) bind udpgen's destination ports, never read
  fraggen --src4 A --dst4 A --sport N --dport N --seconds S
                            (used by bench) 1400-byte UDP datagrams as two IPv4
                            fragments each, from a raw socket; needs root
  fraggen --sink PORT [--prime IPV6:PORT]
                            (used by bench) bind the receiving port, optionally send one
                            datagram first (to open a NAT64 session), never read

demo, test and bench install missing Debian packages when run as root.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let result = match cmd.as_str() {
        "demo" => match rest {
            [] => demo::run(false),
            [flag] if flag == "--tayga" => demo::run(true),
            _ => no_options(rest),
        },
        "test" => no_options(rest).and_then(|()| suite::run()),
        "bench" => bench::Options::parse(rest).and_then(bench::run),
        "fuzz" => fuzz::seconds_option(rest).and_then(fuzz::run),
        "deb" => no_options(rest).and_then(|()| deb::run()),
        "udpgen" => udpgen::Options::parse(rest).and_then(udpgen::run),
        "fraggen" => fraggen::Options::parse(rest).and_then(fraggen::run),
        "help" | "-h" | "--help" => {
            println!("{USAGE}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("xtask: {msg}");
            ExitCode::FAILURE
        }
    }
}

fn no_options(rest: &[String]) -> Result<(), String> {
    match rest.first() {
        None => Ok(()),
        Some(a) => Err(format!("unexpected argument `{a}`\n\n{USAGE}")),
    }
}

/// Parses `--name N` pairs into (name, number) with a clear error for anything else.
fn numeric_options(rest: &[String], allowed: &[&str]) -> Result<Vec<(String, u32)>, String> {
    let mut out = Vec::new();
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let name = flag.trim_start_matches("--");
        if !flag.starts_with("--") || !allowed.contains(&name) {
            return Err(format!(
                "unknown option `{flag}` (expected one of: {})",
                allowed
                    .iter()
                    .map(|a| format!("--{a} N"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let value = it
            .next()
            .ok_or_else(|| format!("`{flag}` needs a number, e.g. `{flag} 5`"))?;
        let n = value
            .parse::<u32>()
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| format!("`{flag}` needs a positive whole number, got `{value}`"))?;
        out.push((name.to_string(), n));
    }
    Ok(out)
}

/// The workspace root (the parent of `xtask/`).
fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// `cargo` (the one running us), in the workspace root.
fn cargo(args: &[&str]) -> Command {
    let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    c.args(args).current_dir(root());
    c
}

/// Where cargo puts build outputs.
fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => root().join(d),
        None => root().join("target"),
    }
}

/// Builds the release binary and returns its path; `$XLAT64_BIN` names another binary
/// to use instead (as for the integration tests).
fn build_release() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("XLAT64_BIN") {
        println!("using XLAT64_BIN={}", PathBuf::from(&bin).display());
        return Ok(PathBuf::from(bin));
    }
    println!("$ cargo build --release --bin xlat64");
    let status = cargo(&["build", "--release", "--bin", "xlat64"])
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("cargo build --release failed".into());
    }
    Ok(target_dir().join("release").join("xlat64"))
}
