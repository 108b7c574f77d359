//! The end-to-end tests and what they share: building a lab, choosing the translator,
//! stopping it and reading its counters.

mod clat;
mod config;
mod control;
mod hairpin;
mod icmp_errors;
mod icmp_ext;
mod icmp_ratelimit;
mod instance;
mod malformed;
mod metrics;
mod nat64;
mod nat64_apps;
mod nat64_fairness;
mod nat64_frag;
mod nat64_static;
mod natlog;
mod offload;
mod ping;
mod pmtu;
mod reload;
mod routes;
mod scripts;
mod service;
mod special_addresses;
mod tcp;
mod udp;
mod xdp;

use crate::lab::{self, Lab, Node, Output, Translator};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Fails the test with an actionable message unless we are root.
pub fn require_root() {
    assert!(
        lab::is_root(),
        "the end-to-end tests need root (network namespaces, veth pairs, a TUN device).\n\
         Run them as root: `sudo -E cargo test --release --test integration -- --test-threads=1` \
         or `sudo -E cargo xtask test`; plain unit tests: `cargo test --workspace -- --skip e2e::`"
    );
}

/// The binary under test: `$XLAT64_BIN`, else the one cargo built with this test target
/// (the release binary under `cargo test --release`).
pub fn xlat64_bin() -> PathBuf {
    match std::env::var_os("XLAT64_BIN") {
        Some(p) => PathBuf::from(p),
        None => PathBuf::from(env!("CARGO_BIN_EXE_xlat64")),
    }
}

/// True when `XLAT64_E2E_TRANSLATOR=tayga` asks to check the lab against TAYGA.
pub fn using_tayga() -> bool {
    std::env::var("XLAT64_E2E_TRANSLATOR").is_ok_and(|v| v == "tayga")
}

/// The translator for the traffic tests: xlat64 with its built-in defaults plus `args`
/// (which match the lab's addresses), or TAYGA when asked.
pub fn translator(args: &[&str]) -> Translator {
    if using_tayga() {
        return Translator::Tayga;
    }
    let mut all = args.to_vec();
    let tun_io = tun_io();
    if let Some(how) = tun_io.as_deref()
        && !args.contains(&"--dataplane")
        && !args.contains(&"--tun-io")
    {
        all.extend(["--tun-io", how]);
    }
    Translator::xlat64(xlat64_bin(), &all)
}

/// `XLAT64_E2E_TUN_IO=io-uring` runs the TUN traffic tests with `--tun-io io-uring`.
pub fn tun_io() -> Option<String> {
    std::env::var("XLAT64_E2E_TUN_IO")
        .ok()
        .filter(|v| !v.is_empty())
}

/// True when `XLAT64_E2E_DATAPLANE=xdp` asks to run the traffic tests over the AF_XDP
/// dataplane instead of the TUN device.
pub fn using_xdp() -> bool {
    std::env::var("XLAT64_E2E_DATAPLANE").is_ok_and(|v| v == "xdp") && !using_tayga()
}

/// A full lab with the translator running and routed (or, over XDP, attached).
pub fn lab_with_translator(args: &[&str]) -> Lab {
    require_root();
    let mut lab = Lab::new().unwrap();
    let mut all: Vec<&str> = args.to_vec();
    if using_xdp() {
        all.extend(xdp_args(&lab, args));
    }
    lab.start_translator(&translator(&all)).unwrap();
    lab
}

/// The flags that put xlat64 on the lab's XDP dataplane, with one worker unless `args`
/// choose (a veth has one queue).
pub fn xdp_args(lab: &Lab, args: &[&str]) -> Vec<&'static str> {
    let mut v = lab.xdp_args().to_vec();
    if !args.contains(&"--workers") {
        v.extend(["--workers", "1"]);
    }
    v
}

/// Runs `argv` in `node` and fails the test if it does not exit 0.
pub fn run_ok(lab: &Lab, node: Node, argv: &[&str]) -> Output {
    let out = lab.run(node, argv).unwrap();
    if !out.success() {
        panic!("{}", out.failure());
    }
    out
}

/// Same, with a time limit.
pub fn run_ok_within(lab: &Lab, node: Node, secs: u64, argv: &[&str]) -> Output {
    let out = lab
        .run_timeout(node, Duration::from_secs(secs), argv)
        .unwrap();
    if !out.success() {
        panic!("{}", out.failure());
    }
    out
}

/// Pings until `count` replies arrived (10 s at most); fails the test otherwise.
pub fn ping(lab: &Lab, node: Node, target: &str, count: u32) -> Output {
    let count = count.to_string();
    run_ok(
        lab,
        node,
        &["ping", "-n", "-c", &count, "-i", "0.2", "-w", "10", target],
    )
}

/// Stops the translator with SIGINT and returns its counters. xlat64 must exit 0.
pub fn finish(lab: &mut Lab) -> BTreeMap<String, u64> {
    let alive = lab.translator_alive();
    let stopped = lab.stop_translator().unwrap();
    println!("translator stdout:\n{}", stopped.stdout);
    if !using_tayga() {
        assert!(alive, "xlat64 died during the test: {}", stopped.stderr);
        assert_eq!(
            stopped.code,
            Some(0),
            "xlat64 should exit 0 on SIGINT; stderr:\n{}",
            stopped.stderr
        );
    }
    lab::parse_counters(&stopped.stdout)
}

/// SHA-256 of a file, via coreutils `sha256sum`.
pub fn sha256(lab: &Lab, node: Node, path: &str) -> String {
    let out = run_ok(lab, node, &["sha256sum", path]);
    out.stdout
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}
