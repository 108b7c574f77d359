//! `cargo xtask bench`: microbenchmarks, then an end-to-end comparison in namespaces.
//!
//! Same topology for every row (cli ── xlt ── srv, no router), rows interleaved round by
//! round, medians at the end:
//! - kernel IPv6 forwarding (the ceiling: no translation at all), with the veths'
//!   offloads on (GSO/TSO/GRO, set when the lab is built, so every row runs on the same
//!   path whichever rows `--rows` selects) and with them off on every veth
//!   of the path (cli eth0, xlt c1 and v4, srv eth0: `ethtool -K DEV gso off tso off gro
//!   off`), so that every packet is MTU-sized end to end, as a translator without
//!   offloads sees them;
//! - TAYGA (single-threaded, no offloads);
//! - xlat64 SIIT with one queue and no offloads, with one queue and offloads, with N
//!   queues;
//! - xlat64 SIIT and NAT64 on one queue with `--tun-io io-uring` (`1q uring`, `1q nooff
//!   uring`, `nat64 1q uring`), compared with the same rows on syscalls;
//! - xlat64 SIIT on one queue with GRO and UDP GRO forwarding on the box's legs
//!   (`1q udpgro`: does the kernel hand the TUN small-UDP super-packets?);
//! - xlat64 on the AF_XDP dataplane, SIIT and NAT64, one worker (`xdp 1q`, `xdp nat64
//!   1q`), the senders computing their checksums meanwhile (a veth hands XDP partial
//!   ones);
//! - xlat64 stateful NAT64 (`--mode nat64`, pool4 [`POOL4`], session limits raised so
//!   that no test is refused) with one queue and with N queues (while xlat64 refuses
//!   more than one worker in nat64 mode, that row shows the refusal as its note).
//!
//! Figures are what the receiver got:
//! - TCP Gbit/s (iperf3, receiver side) with 1 and `--streams` streams;
//! - 64-byte UDP packets per second over 64 flows from two iperf3 clients with 32
//!   streams each, counted at the server's interface and in iperf3, and the translator's
//!   CPU time (utime + stime from /proc/PID/stat) during that run per packet that reached
//!   the server;
//! - 64-byte UDP packets per second at the server's interface from `cargo xtask udpgen`
//!   (a raw-socket generator, see udpgen.rs) over exactly 64 flows and over exactly
//!   100 000 flows, each after a warm-up of two passes over the same flows (so NAT64's
//!   sessions exist: these are steady-state rates), with the translator's CPU ns per
//!   packet;
//! - NAT64 rows only: new flows per second, a udpgen run in which every packet carries a
//!   5-tuple never seen before, so every packet delivered is a session set up (at most
//!   [`NEW_FLOWS_BUDGET`] packets, below the session limit: the run ends early if the
//!   generator is that fast).
//!
//! The summary prints each xlat64 row's ratios to TAYGA and the NAT64 targets of issue
//! #3: 100 000 flows >= 90% of 64 flows, new flows >= 50% of 64 flows, and each NAT64
//! figure >= TAYGA's stateless one.
//!
//! The server runs `udpgen --sink`, which binds udpgen's destination ports and never
//! reads them: the server's kernel drops the datagrams at the full socket buffers, which
//! costs less than an ICMP port unreachable for each (see udpgen.rs).
//!
//! udpgen sends with `--gen-threads` threads (default: half the CPUs, at least one). In
//! the kernel rows one thread carries the whole path (sending, forwarding, receiving
//! all run in its softirq), so there the udpgen figure is the generator's ceiling, not
//! the kernel's: iperf3's UDP figure, from two processes, is the kernel baseline. A
//! translator row whose udpgen run delivered 99% or more of what was sent is marked
//! "udpgen-bound" with the figures concerned: the translator kept up, so the figure is
//! a lower bound (raise `--gen-threads` where there are CPUs to spare).

use crate::lab::{self, Lab, Node, Translator, addr};
use serde_json::Value;
use std::time::Duration;

pub struct Options {
    pub(crate) seconds: u32,
    /// Rounds of all rows, interleaved; the table shows each figure's median. Shared,
    /// noisy machines make single runs swing by ±30%.
    pub(crate) rounds: u32,
    streams: u32,
    workers: Option<u32>,
    /// Sender threads of udpgen; by default half the CPUs (at least one), leaving the
    /// rest to the translator.
    gen_threads: Option<u32>,
    /// Only the rows whose name contains one of these, or is exactly one given as
    /// `=NAME` (all rows when empty).
    only: Vec<String>,
    /// Skip `cargo bench` (the microbenchmarks) before the end-to-end rows.
    no_micro: bool,
}

impl Options {
    pub fn parse(rest: &[String]) -> Result<Options, String> {
        let mut o = Options {
            seconds: 5,
            rounds: 3,
            streams: 8,
            workers: None,
            gen_threads: None,
            only: Vec::new(),
            no_micro: false,
        };
        let mut numeric = Vec::new();
        let mut it = rest.iter();
        while let Some(a) = it.next() {
            if a == "--no-micro" {
                o.no_micro = true;
            } else if a == "--rows" {
                let v = it
                    .next()
                    .ok_or("`--rows` needs a list, e.g. `--rows tayga,nat64`")?;
                o.only = v.split(',').map(str::to_string).collect();
            } else {
                numeric.push(a.clone());
            }
        }
        let names = ["seconds", "rounds", "streams", "workers", "gen-threads"];
        for (name, n) in crate::numeric_options(&numeric, &names)? {
            match name.as_str() {
                "seconds" => o.seconds = n,
                "rounds" => o.rounds = n.max(1),
                "streams" => o.streams = n.max(1),
                "gen-threads" => o.gen_threads = Some(n.max(1)),
                _ => o.workers = Some(n.max(1)),
            }
        }
        Ok(o)
    }

    fn gen_threads(&self) -> u32 {
        self.gen_threads.unwrap_or_else(|| {
            let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u32);
            (cpus / 2).max(1)
        })
    }
}

/// UDP flows of the packet-rate figure: this many iperf3 clients (one server each) ...
const UDP_CLIENTS: u32 = 2;
/// ... with this many streams each.
const UDP_STREAMS_PER_CLIENT: u32 = 32;
/// First iperf3 server port in `srv`.
const IPERF_PORT: u16 = 5201;
/// The flow counts of udpgen's steady-state runs (issue #4: "64 flows and 100 000
/// flows").
const FEW_FLOWS: u64 = 64;
const MANY_FLOWS: u64 = 100_000;
/// A translator row's udpgen figure delivered at least this share of what was sent is
/// flagged as generator-bound.
const GEN_BOUND: f64 = 0.99;
/// Warm-up before each steady-state udpgen run, not counted: this many passes over the
/// flows (so that every NAT64 session exists before the measurement) ...
const WARMUP_PASSES: u64 = 2;
/// ... unless this many seconds run out first.
const WARMUP_MAX_SECS: &str = "30";
/// NAT64 pool4 in the bench lab (as in the NAT64 end-to-end tests): 16 addresses x
/// 64 512 ports, more mappings than any run here makes.
pub const POOL4: &str = "203.0.113.16/28";
/// NAT64 session limit of the bench, per address and per subscriber as well (one
/// client, one address): room for the new-flows run on top of the steady-state flows.
const NAT64_MAX_SESSIONS: u64 = 4_000_000;
/// Most packets (new sessions) one new-flows run sends: below the session limit with
/// the 100 000 steady-state flows, so that no packet is refused for want of room.
const NEW_FLOWS_BUDGET: u64 = 3_500_000;

/// One row of the table; `None` where the measurement failed or does not apply.
struct Row {
    name: String,
    tcp1_gbps: Option<f64>,
    tcpn_gbps: Option<f64>,
    /// Packets per second that reached the server's interface (the translator's output,
    /// before any loss in the receiving sockets).
    udp_if_pps: Option<f64>,
    /// Datagrams iperf3's receivers got per second.
    udp_pps: Option<f64>,
    /// Translator CPU nanoseconds per UDP packet delivered.
    cpu_ns_per_pkt: Option<f64>,
    /// udpgen over [`FEW_FLOWS`] flows: packets/s at the server's interface ...
    few_pps: Option<f64>,
    /// ... and translator CPU ns per delivered packet.
    few_ns: Option<f64>,
    /// The same over [`MANY_FLOWS`] flows.
    many_pps: Option<f64>,
    many_ns: Option<f64>,
    /// NAT64: packets/s delivered when each opens a new session (session setup rate).
    new_pps: Option<f64>,
    new_ns: Option<f64>,
    /// 1 400-byte UDP datagrams sent by the server as two IPv4 fragments each
    /// (`fraggen`): datagrams per second delivered to the client, and translator CPU ns
    /// per datagram.
    frag_pps: Option<f64>,
    frag_ns: Option<f64>,
    /// The udpgen figures (" 64", " 100k", " new") for which the translator delivered
    /// [`GEN_BOUND`] of what udpgen sent or more: it kept up, so the figure is the
    /// generator's rate, a lower bound of the translator's.
    gen_bound: String,
    note: String,
}

impl Row {
    fn new(name: &str) -> Row {
        Row {
            name: name.to_string(),
            tcp1_gbps: None,
            tcpn_gbps: None,
            udp_if_pps: None,
            udp_pps: None,
            cpu_ns_per_pkt: None,
            few_pps: None,
            few_ns: None,
            many_pps: None,
            many_ns: None,
            new_pps: None,
            new_ns: None,
            frag_pps: None,
            frag_ns: None,
            gen_bound: String::new(),
            note: String::new(),
        }
    }
}

/// What runs in `xlt` for one row.
enum Setup {
    Kernel {
        offloads: bool,
    },
    Translator(Translator),
    /// The same, with GRO and UDP GRO forwarding on the translator box's two legs
    /// (`ethtool -K DEV gro on rx-udp-gro-forwarding on`): the kernel may then hand the
    /// TUN super-packets of small same-flow UDP datagrams.
    UdpGro(Translator),
    /// xlat64 in nat64 mode: pool4 is routed into the TUN, new flows are measured.
    Nat64(Translator),
}

pub fn run(o: Options) -> Result<(), String> {
    crate::deps::ensure()?;
    if !o.no_micro {
        micro_benches()?;
    }
    if !lab::is_root() {
        return Err("the end-to-end bench creates network namespaces: run it as root".into());
    }
    let bin = crate::build_release()?;
    // The 464XLAT rows run in a lab of their own: only when no row is named or a name
    // says 464 (`--rows tayga` means the SIIT lab's TAYGA row, not "464 tayga ...").
    let clat_wanted = |name: &str| {
        o.only.is_empty()
            || o.only
                .iter()
                .any(|w| w.contains("464") && row_matches(name, w))
    };
    let clat_rows: Vec<&str> = crate::bench_clat::ROWS
        .into_iter()
        .filter(|r| clat_wanted(r))
        .collect();
    if !o.only.is_empty() && o.only.iter().all(|w| w.contains("464")) {
        return crate::bench_clat::run(&o, &bin, &clat_rows);
    }
    let mut lab = Lab::new_bench().map_err(|e| e.to_string())?;
    // Every row starts from the same path, whichever rows `--rows` selects: offloads on,
    // as the kernel row leaves them (a veth comes up with GRO off).
    set_path_offloads(&lab, true)?;
    for k in 0..UDP_CLIENTS {
        let port = (IPERF_PORT + k as u16).to_string();
        lab.spawn(Node::Srv, "iperf3", &["iperf3", "-s", "-p", &port])
            .map_err(|e| e.to_string())?;
        lab.wait_listening(Node::Srv, "tcp", IPERF_PORT + k as u16)
            .map_err(|e| e.to_string())?;
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find udpgen: {e}"))?;
    let exe = exe.to_string_lossy();
    let sink = lab
        .spawn(Node::Srv, "udpgen-sink", &[&exe, "udpgen", "--sink"])
        .map_err(|e| e.to_string())?;
    lab.wait_for_output(sink, "udpgen: sink on", Duration::from_secs(10))
        .map_err(|e| e.to_string())?;

    let n = o
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
    let n_s = n.to_string();
    let limit = NAT64_MAX_SESSIONS.to_string();
    let mut rows: Vec<(String, Setup)> = vec![
        ("kernel fwd".into(), Setup::Kernel { offloads: true }),
        ("kernel fwd nogso".into(), Setup::Kernel { offloads: false }),
        ("tayga".into(), Setup::Translator(Translator::Tayga)),
    ];
    let baseline = std::env::var_os("XLAT64_BASELINE_BIN").map(std::path::PathBuf::from);
    for (bin, label) in
        std::iter::once((&bin, "xlat64")).chain(baseline.iter().map(|b| (b, "base")))
    {
        let xlat = |args: &[&str]| Setup::Translator(Translator::xlat64(bin, args));
        let nat64_with = |workers: &str, extra: &[&str]| {
            let mut args = vec![
                "--mode",
                "nat64",
                "--pool4",
                POOL4,
                "--workers",
                workers,
                "--max-sessions",
                &limit,
                "--max-sessions-per-subscriber",
                &limit,
                "--max-sessions-per-address",
                &limit,
            ];
            args.extend_from_slice(extra);
            Setup::Nat64(Translator::xlat64(bin, &args))
        };
        let nat64 = |workers: &str| nat64_with(workers, &[]);
        // NAT logging on (issue 11): every mapping logged, or one record per port block.
        // udpgen is one subscriber, which blocks keep on one address: its 100k-flow
        // figure cannot fit (64 512 ports), the others compare with the row above.
        let log = nat_log_path(&lab);
        let log = log.as_str();
        let xdp = [
            "--dataplane",
            "xdp",
            "--ipv6-iface",
            "c1",
            "--ipv4-iface",
            "v4",
        ];
        let with_xdp = |args: &[&str]| -> Vec<String> {
            xdp.iter().chain(args).map(|a| a.to_string()).collect()
        };
        let nat64_xdp = {
            let Setup::Nat64(Translator::Xlat64 { bin, args }) = nat64("1") else {
                unreachable!("nat64() builds a NAT64 xlat64 row")
            };
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            Setup::Nat64(Translator::Xlat64 {
                bin,
                args: with_xdp(&args),
            })
        };
        rows.extend([
            (
                format!("{label} xdp 1q"),
                Setup::Translator(Translator::Xlat64 {
                    bin: bin.clone(),
                    args: with_xdp(&["--workers", "1"]),
                }),
            ),
            (format!("{label} xdp nat64 1q"), nat64_xdp),
            (
                format!("{label} 1q nooff"),
                xlat(&["--workers", "1", "--offload", "false"]),
            ),
            (format!("{label} 1q"), xlat(&["--workers", "1"])),
            (
                format!("{label} 1q uring"),
                xlat(&["--workers", "1", "--tun-io", "io-uring"]),
            ),
            (
                format!("{label} 1q nooff uring"),
                xlat(&[
                    "--workers",
                    "1",
                    "--offload",
                    "false",
                    "--tun-io",
                    "io-uring",
                ]),
            ),
            (
                format!("{label} 1q udpgro"),
                Setup::UdpGro(Translator::xlat64(bin, &["--workers", "1"])),
            ),
            (format!("{label} {n}q"), xlat(&["--workers", &n_s])),
            (format!("{label} nat64 1q"), nat64("1")),
            (
                format!("{label} nat64 1q uring"),
                nat64_with("1", &["--tun-io", "io-uring"]),
            ),
            (
                format!("{label} nat64 1q session+log"),
                nat64_with("1", &["--nat-log-file", log]),
            ),
            (
                format!("{label} nat64 1q block+log"),
                nat64_with(
                    "1",
                    &[
                        "--port-allocation",
                        "block",
                        "--max-blocks-per-subscriber",
                        "1024",
                        "--nat-log-file",
                        log,
                    ],
                ),
            ),
            (format!("{label} nat64 {n}q"), nat64(&n_s)),
        ]);
    }
    if let Some(b) = &baseline {
        println!(
            "baseline rows (\"base ...\"): XLAT64_BASELINE_BIN={}",
            b.display()
        );
    }
    if !o.only.is_empty() {
        rows.retain(|(name, _)| o.only.iter().any(|w| row_matches(name, w)));
    }
    println!(
        "\n== end-to-end: {} round(s), {} s per figure, TCP with 1 and {} stream(s), UDP \
         64-byte payloads over {} iperf3 flows, udpgen ({} thread(s)) over {FEW_FLOWS} and \
         {MANY_FLOWS} flows and new flows (NAT64), xlat64 N = {n} queue(s)",
        o.rounds,
        o.seconds,
        o.streams,
        UDP_CLIENTS * UDP_STREAMS_PER_CLIENT,
        o.gen_threads(),
    );
    let mut rounds = Vec::new();
    for round in 1..=o.rounds {
        println!("\n==== round {round} of {}", o.rounds);
        let results: Vec<Row> = rows
            .iter()
            .map(|(name, setup)| measure(&mut lab, &o, name, setup))
            .collect();
        print_table(&format!("round {round}"), &results);
        rounds.push(results);
    }
    drop(lab);
    print_table(
        &format!("median of {} round(s)", o.rounds),
        &medians(&rounds),
    );
    if clat_rows.is_empty() {
        return Ok(());
    }
    crate::bench_clat::run(&o, &bin, &clat_rows)
}

/// Where the NAT logging rows write their records (in the lab's directory, removed
/// with it).
fn nat_log_path(lab: &Lab) -> String {
    lab.dir().join("nat.jsonl").to_string_lossy().into_owned()
}

/// Row by row, the median of each figure over the rounds (rounds that failed a figure
/// are left out of that figure's median).
fn medians(rounds: &[Vec<Row>]) -> Vec<Row> {
    let Some(first) = rounds.first() else {
        return Vec::new();
    };
    (0..first.len())
        .map(|i| {
            let col = |f: fn(&Row) -> Option<f64>| {
                let mut v: Vec<f64> = rounds.iter().filter_map(|r| f(&r[i])).collect();
                v.sort_by(f64::total_cmp);
                (!v.is_empty()).then(|| v[v.len() / 2])
            };
            Row {
                name: first[i].name.clone(),
                tcp1_gbps: col(|r| r.tcp1_gbps),
                tcpn_gbps: col(|r| r.tcpn_gbps),
                udp_if_pps: col(|r| r.udp_if_pps),
                udp_pps: col(|r| r.udp_pps),
                cpu_ns_per_pkt: col(|r| r.cpu_ns_per_pkt),
                few_pps: col(|r| r.few_pps),
                few_ns: col(|r| r.few_ns),
                many_pps: col(|r| r.many_pps),
                many_ns: col(|r| r.many_ns),
                new_pps: col(|r| r.new_pps),
                new_ns: col(|r| r.new_ns),
                frag_pps: col(|r| r.frag_pps),
                frag_ns: col(|r| r.frag_ns),
                gen_bound: rounds
                    .iter()
                    .map(|r| r[i].gen_bound.as_str())
                    .max_by_key(|g| g.len())
                    .unwrap_or_default()
                    .to_string(),
                note: rounds
                    .iter()
                    .map(|r| r[i].note.as_str())
                    .find(|n| !n.is_empty())
                    .unwrap_or_default()
                    .to_string(),
            }
        })
        .collect()
}

/// `cargo bench` over the bench targets in benches/, if there are any yet.
fn micro_benches() -> Result<(), String> {
    let dir = crate::root().join("benches");
    let has_benches = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "rs"))
        })
        .unwrap_or(false);
    if !has_benches {
        println!("== microbenchmarks: none yet (benches/ has no bench targets), skipped");
        return Ok(());
    }
    println!("== microbenchmarks\n$ cargo bench --benches");
    let status = crate::cargo(&["bench", "--benches"])
        .status()
        .map_err(|e| format!("cannot run cargo bench: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err("cargo bench failed".into())
    }
}

/// The veths a packet crosses in the bench topology.
const PATH_DEVICES: [(Node, &str); 4] = [
    (Node::Cli, "eth0"),
    (Node::Xlt, "c1"),
    (Node::Xlt, "v4"),
    (Node::Srv, "eth0"),
];

/// Turns GSO, TSO and GRO on or off on every veth of the path.
fn set_path_offloads(lab: &Lab, on: bool) -> Result<(), String> {
    let v = if on { "on" } else { "off" };
    for (node, dev) in PATH_DEVICES {
        let argv = ["ethtool", "-K", dev, "gso", v, "tso", v, "gro", v];
        let out = lab.run(node, &argv).map_err(|e| e.to_string())?;
        if !out.success() {
            return Err(first_line(&format!("ethtool: {}", out.stderr)));
        }
    }
    Ok(())
}

/// GRO and UDP GRO forwarding on the translator box's legs (Linux 5.12+; on a veth GRO
/// also turns on its NAPI receive path, which GRO needs).
fn set_udp_gro_forwarding(lab: &Lab, on: bool) -> Result<(), String> {
    let v = if on { "on" } else { "off" };
    for dev in ["c1", "v4"] {
        let argv = ["ethtool", "-K", dev, "gro", v, "rx-udp-gro-forwarding", v];
        let out = lab.run(Node::Xlt, &argv).map_err(|e| e.to_string())?;
        if !out.success() {
            return Err(first_line(&format!("ethtool: {}", out.stderr)));
        }
    }
    Ok(())
}

fn measure(lab: &mut Lab, o: &Options, name: &str, setup: &Setup) -> Row {
    let mut row = Row::new(name);
    let target = match setup {
        Setup::Kernel { .. } => addr::SRV6_NATIVE,
        Setup::Translator(_) | Setup::UdpGro(_) | Setup::Nat64(_) => addr::SRV6,
    };
    println!("\n-- {name} (client → {target})");
    if let Err(e) = prepare(lab, setup) {
        println!("cannot set up {name}: {e}");
        row.note = e;
        return row;
    }
    let pid = lab.translator().map(|id| lab.pid(id));
    let note = |row: &mut Row, e: String| {
        if row.note.is_empty() {
            row.note = e;
        }
    };
    match iperf_tcp(lab, o, target, 1) {
        Ok(json) => row.tcp1_gbps = tcp_receiver_bps(&json).map(|b| b / 1e9),
        Err(e) => note(&mut row, e),
    }
    match iperf_tcp(lab, o, target, o.streams) {
        Ok(json) => row.tcpn_gbps = tcp_receiver_bps(&json).map(|b| b / 1e9),
        Err(e) => note(&mut row, e),
    }
    let before = Sample::take(lab, pid);
    // The figure is what reached the server's interface during the flood. iperf3 3.12
    // sometimes loses its control connection under a 64-flow flood (the translator's
    // queue drops it like any other packet) and then reports an error after sending:
    // keep the interface figure, note the error.
    match iperf_udp(lab, o, target) {
        Ok(jsons) => row.udp_pps = jsons.iter().map(|j| udp_received_pps(j)).sum(),
        Err(e) => note(&mut row, e),
    }
    if let Some((pps, ns)) = before.rates(&Sample::take(lab, pid), f64::from(o.seconds)) {
        row.udp_if_pps = Some(pps);
        row.cpu_ns_per_pkt = ns;
    }
    let translated = !matches!(setup, Setup::Kernel { .. });
    let gen_figure =
        |flows: Flows, label: &str, row: &mut Row| match udpgen(lab, o, target, flows, pid) {
            Ok(g) => {
                if translated && g.delivered >= GEN_BOUND * g.sent {
                    row.gen_bound.push_str(&format!(" {label}"));
                }
                (Some(g.pps), g.cpu_ns)
            }
            Err(e) => {
                note(row, e);
                (None, None)
            }
        };
    (row.few_pps, row.few_ns) = gen_figure(Flows::Steady(FEW_FLOWS), "64", &mut row);
    (row.many_pps, row.many_ns) = gen_figure(Flows::Steady(MANY_FLOWS), "100k", &mut row);
    if let Setup::Nat64(_) = setup {
        (row.new_pps, row.new_ns) = gen_figure(Flows::New, "new", &mut row);
    }
    if translated {
        match frag_figure(lab, o, setup, pid) {
            Ok((pps, ns)) => (row.frag_pps, row.frag_ns) = (Some(pps), ns),
            Err(e) => note(&mut row, e),
        }
    }
    match setup {
        Setup::Kernel { offloads: false } => {
            if let Err(e) = set_path_offloads(lab, true) {
                println!("cannot turn offloads back on: {e}");
            }
        }
        Setup::Kernel { .. } => {}
        Setup::Translator(_) | Setup::UdpGro(_) | Setup::Nat64(_) => {
            match lab.stop_translator() {
                Ok(s) => print!("{name} counters:\n{}", s.stdout),
                Err(e) => println!("{e}"),
            }
            if let Setup::UdpGro(_) = setup
                && let Err(e) = set_udp_gro_forwarding(lab, false)
            {
                println!("cannot turn UDP GRO forwarding back off: {e}");
            }
        }
    }
    println!(
        "{name}: TCP {} / {} Gbit/s (1 / {} streams), iperf3 UDP {} packets/s at the \
         server's interface, {} in iperf3, {} ns CPU per packet; udpgen {} / {} packets/s \
         over {FEW_FLOWS} / {MANY_FLOWS} flows ({} / {} ns CPU per packet), new flows {}/s",
        fmt_opt(row.tcp1_gbps, 2),
        fmt_opt(row.tcpn_gbps, 2),
        o.streams,
        fmt_opt(row.udp_if_pps, 0),
        fmt_opt(row.udp_pps, 0),
        fmt_opt(row.cpu_ns_per_pkt, 0),
        fmt_opt(row.few_pps, 0),
        fmt_opt(row.many_pps, 0),
        fmt_opt(row.few_ns, 0),
        fmt_opt(row.many_ns, 0),
        fmt_opt(row.new_pps, 0),
    );
    row
}

/// Sets up `xlt` for a row: offloads for the kernel rows, the translator (and for NAT64
/// the route of pool4 into its TUN) for the others. The error is the row's note.
fn prepare(lab: &mut Lab, setup: &Setup) -> Result<(), String> {
    let t = match setup {
        Setup::Kernel { offloads } => return set_path_offloads(lab, *offloads),
        Setup::Translator(t) | Setup::Nat64(t) => t,
        Setup::UdpGro(t) => {
            set_udp_gro_forwarding(lab, true)?;
            t
        }
    };
    lab.start_translator(t)
        .map_err(|e| start_failure(&e.to_string()))?;
    if let Setup::Nat64(t) = setup
        && !t.is_xdp()
    {
        // The server answers pool4 through its default route (xlt); xlt sends it on.
        let route = format!("route replace {POOL4} dev {}", lab::TUN);
        if let Err(e) = lab.ip(Node::Xlt, &route) {
            let _ = lab.stop_translator();
            return Err(first_line(&e.to_string()));
        }
    }
    Ok(())
}

/// The row's note for a translator that would not start: xlat64's own complaint (the
/// `error:` line of its stderr) when there is one, e.g. its refusal of several workers
/// in nat64 mode.
fn start_failure(msg: &str) -> String {
    let complaint = msg.lines().map(str::trim).find_map(|l| {
        let l = l.strip_prefix("xlat64: ").unwrap_or(l);
        l.strip_prefix("error: ")
    });
    match complaint {
        Some(l) => format!("not run: {l}"),
        None => first_line(msg),
    }
}

/// Counters read before and after a flood.
struct Sample {
    rx: Option<u64>,
    cpu: Option<u64>,
}

impl Sample {
    fn take(lab: &Lab, pid: Option<u32>) -> Sample {
        Sample {
            rx: srv_rx_packets(lab),
            cpu: pid.and_then(cpu_ticks),
        }
    }

    /// Packets per second that reached the server between `self` and `after`, over
    /// `secs`, and the translator's CPU ns per such packet.
    fn rates(&self, after: &Sample, secs: f64) -> Option<(f64, Option<f64>)> {
        let packets = after.rx?.saturating_sub(self.rx?);
        if packets == 0 || secs <= 0.0 {
            return None;
        }
        let ns = match (self.cpu, after.cpu) {
            (Some(c0), Some(c1)) => {
                let cpu_secs = c1.saturating_sub(c0) as f64 / clock_ticks_per_sec();
                Some(cpu_secs * 1e9 / packets as f64)
            }
            _ => None,
        };
        Some((packets as f64 / secs, ns))
    }
}

/// Which flows a udpgen run sends.
#[derive(Clone, Copy)]
enum Flows {
    /// This many flows, after a warm-up over the same flows.
    Steady(u64),
    /// A new flow every packet, at most [`NEW_FLOWS_BUDGET`] packets.
    New,
}

/// What one udpgen run measured.
struct GenFigure {
    /// Packets per second at the server's interface, over udpgen's own sending time.
    pps: f64,
    /// Translator CPU ns per packet delivered.
    cpu_ns: Option<f64>,
    sent: f64,
    delivered: f64,
}

/// One udpgen run from `cli` to `target`.
fn udpgen(
    lab: &Lab,
    o: &Options,
    target: &str,
    flows: Flows,
    pid: Option<u32>,
) -> Result<GenFigure, String> {
    let exe = std::env::current_exe().map_err(|e| format!("udpgen: {e}"))?;
    let exe = exe.to_string_lossy();
    let (secs, threads) = (o.seconds.to_string(), o.gen_threads().to_string());
    let budget = NEW_FLOWS_BUDGET.to_string();
    let count;
    let mode: Vec<&str> = match flows {
        Flows::Steady(n) => {
            count = n.to_string();
            vec!["--flows", &count]
        }
        Flows::New => vec!["--new-flows", "--max-packets", &budget],
    };
    let argv = |secs: &str, extra: &[&str]| -> Vec<String> {
        let mut v = vec![&*exe, "udpgen", "--dst", target, "--seconds", secs];
        v.extend(["--threads", &threads]);
        v.extend(&mode);
        v.extend(extra);
        v.into_iter().map(String::from).collect()
    };
    let limit = Duration::from_secs(u64::from(o.seconds) + 30);
    let run = |argv: &[String]| -> Result<String, String> {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        println!(
            "[cli]$ {}",
            lab::shell_words(&argv[1..]).replacen("udpgen", "cargo xtask udpgen", 1,)
        );
        let out = lab
            .run_timeout(Node::Cli, limit, &argv)
            .map_err(|e| e.to_string())?;
        print!("{}", out.stdout);
        if out.success() {
            Ok(out.stdout)
        } else {
            Err(first_line(&format!("udpgen: {}{}", out.stderr, out.stdout)))
        }
    };
    if let Flows::Steady(n) = flows {
        let packets = (n * WARMUP_PASSES).to_string();
        run(&argv(WARMUP_MAX_SECS, &["--max-packets", &packets]))?;
    }
    let before = Sample::take(lab, pid);
    let out = run(&argv(&secs, &[]))?;
    let after = Sample::take(lab, pid);
    let (sent, sent_secs) = crate::udpgen::parse_report(&out)
        .ok_or_else(|| format!("udpgen: no summary line in {out:?}"))?;
    match before.rates(&after, sent_secs) {
        Some((pps, cpu_ns)) => Ok(GenFigure {
            pps,
            cpu_ns,
            sent: sent as f64,
            delivered: pps * sent_secs,
        }),
        None => Err("udpgen: nothing reached the server".into()),
    }
}

/// utime + stime of a process, in clock ticks (fields 14 and 15 of /proc/PID/stat,
/// counted after the parenthesised command name, which may contain spaces).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After ")": state is field 3, so utime (14) and stime (15) are at 11 and 12.
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// USER_HZ: the unit of /proc/PID/stat times (100 on every Linux we know of).
fn clock_ticks_per_sec() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Packets received so far on the server's interface.
fn srv_rx_packets(lab: &Lab) -> Option<u64> {
    let out = lab
        .run(
            Node::Srv,
            &["cat", "/sys/class/net/eth0/statistics/rx_packets"],
        )
        .ok()?;
    out.stdout.trim().parse().ok()
}

/// The client's UDP port the fragment row sends to, and the server's it sends from.
const FRAG_PORT: u16 = 40000;
const FRAG_SPORT: u16 = 9999;

/// The fragment row (issue 9): the server sends 1 400-byte UDP datagrams as two IPv4
/// fragments each to the client (for NAT64, to the pool4 address and port of a session
/// the client opened first) for `o.seconds`; the figure is datagrams per second reaching
/// the client's interface (each arrives as two IPv6 packets, fragmented by either
/// translator), with the translator's CPU ns per datagram.
fn frag_figure(
    lab: &mut Lab,
    o: &Options,
    setup: &Setup,
    pid: Option<u32>,
) -> Result<(f64, Option<f64>), String> {
    let exe = std::env::current_exe().map_err(|e| format!("fraggen: {e}"))?;
    let exe = exe.to_string_lossy().into_owned();
    let port = FRAG_PORT.to_string();
    let prime = format!("[{}]:{FRAG_SPORT}", addr::SRV6);
    let mut argv = vec![exe.as_str(), "fraggen", "--sink", &port];
    if let Setup::Nat64(_) = setup {
        argv.extend(["--prime", &prime]);
    }
    let sink = lab
        .spawn(Node::Cli, "fraggen-sink", &argv)
        .map_err(|e| e.to_string())?;
    let result = frag_run(lab, o, setup, pid, &exe, sink);
    lab.kill(sink);
    result
}

fn frag_run(
    lab: &mut Lab,
    o: &Options,
    setup: &Setup,
    pid: Option<u32>,
    exe: &str,
    sink: lab::ProcId,
) -> Result<(f64, Option<f64>), String> {
    lab.wait_for_output(sink, "fraggen: sink on", Duration::from_secs(10))
        .map_err(|e| e.to_string())?;
    let (dst, dport) = match setup {
        Setup::Nat64(Translator::Xlat64 { bin, .. }) => nat64_mapping(lab, bin, FRAG_PORT)?,
        _ => (addr::CLI4.to_string(), FRAG_PORT.to_string()),
    };
    let secs = o.seconds.to_string();
    let sport = FRAG_SPORT.to_string();
    let argv = [
        exe,
        "fraggen",
        "--src4",
        addr::SRV4,
        "--dst4",
        &dst,
        "--sport",
        &sport,
        "--dport",
        &dport,
        "--seconds",
        &secs,
    ];
    println!("[srv]$ cargo xtask {}", lab::shell_words(&argv[1..]));
    let before = (cli_rx_packets(lab), pid.and_then(cpu_ticks));
    let limit = Duration::from_secs(u64::from(o.seconds) + 30);
    let out = lab
        .run_timeout(Node::Srv, limit, &argv)
        .map_err(|e| e.to_string())?;
    let after = (cli_rx_packets(lab), pid.and_then(cpu_ticks));
    print!("{}", out.stdout);
    let (_, ran) = crate::fraggen::parse_report(&out.stdout)
        .ok_or_else(|| first_line(&format!("fraggen: {}{}", out.stderr, out.stdout)))?;
    let packets = after.0.zip(before.0).map(|(a, b)| a.saturating_sub(b));
    let datagrams = packets
        .filter(|&p| p > 0)
        .ok_or("fraggen: nothing arrived")? as f64
        / 2.0;
    let ns = match (before.1, after.1) {
        (Some(c0), Some(c1)) => {
            Some(c1.saturating_sub(c0) as f64 / clock_ticks_per_sec() * 1e9 / datagrams)
        }
        _ => None,
    };
    Ok((datagrams / ran.max(1e-9), ns))
}

/// The pool4 address and port of the UDP session the client opened from `port`, from
/// `xlat64 sessions --json`.
fn nat64_mapping(lab: &Lab, bin: &std::path::Path, port: u16) -> Result<(String, String), String> {
    let bin = bin.to_string_lossy();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let out = lab
            .run(Node::Xlt, &[&bin, "sessions", "--json"])
            .map_err(|e| e.to_string())?;
        // A page object ({"sessions": [...], ...}); a baseline binary from before
        // paging answers the bare array.
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
        let rows = match v.get("sessions").unwrap_or(&v) {
            serde_json::Value::Array(rows) => rows.clone(),
            _ => Vec::new(),
        };
        let suffix = format!("]:{port}");
        let found = rows.iter().find(|r| {
            r["proto"] == "udp" && r["ipv6"].as_str().is_some_and(|a| a.ends_with(&suffix))
        });
        if let Some((a, p)) = found
            .and_then(|r| r["ipv4"].as_str())
            .and_then(|v4| v4.rsplit_once(':'))
        {
            return Ok((a.to_string(), p.to_string()));
        }
        if std::time::Instant::now() >= deadline {
            return Err(format!("no NAT64 session from port {port}: {}", out.stdout));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Packets the client's interface received (the fragment row's output side).
fn cli_rx_packets(lab: &Lab) -> Option<u64> {
    let out = lab
        .run(
            Node::Cli,
            &["cat", "/sys/class/net/eth0/statistics/rx_packets"],
        )
        .ok()?;
    out.stdout.trim().parse().ok()
}

/// One TCP iperf3 test with `streams` parallel streams; returns its JSON report.
fn iperf_tcp(lab: &Lab, o: &Options, target: &str, streams: u32) -> Result<String, String> {
    let (secs, streams) = (o.seconds.to_string(), streams.to_string());
    let argv = ["iperf3", "-c", target, "-t", &secs, "-J", "-P", &streams];
    println!("[cli]$ {}", lab::shell_words(&argv));
    let limit = Duration::from_secs(u64::from(o.seconds) + 30);
    let out = lab
        .run_timeout(Node::Cli, limit, &argv)
        .map_err(|e| e.to_string())?;
    iperf_result(out)
}

/// 64-byte UDP as fast as possible from [`UDP_CLIENTS`] iperf3 clients at once (iperf3
/// before 3.16 runs all streams on one thread); returns their JSON reports.
fn iperf_udp(lab: &Lab, o: &Options, target: &str) -> Result<Vec<String>, String> {
    let secs = o.seconds.to_string();
    let streams = UDP_STREAMS_PER_CLIENT.to_string();
    let clients: Vec<String> = (0..UDP_CLIENTS)
        .map(|k| {
            let port = (IPERF_PORT + k as u16).to_string();
            let argv = [
                "iperf3", "-c", target, "-p", &port, "-t", &secs, "-J", "-u", "-l", "64", "-b",
                "0", "-P", &streams,
            ];
            lab::shell_words(&argv)
        })
        .collect();
    let dir = lab.dir().to_string_lossy().into_owned();
    let script = clients
        .iter()
        .enumerate()
        .map(|(k, c)| format!("{c} > {dir}/udp{k}.json &"))
        .collect::<Vec<_>>()
        .join(" ")
        + " wait";
    println!("[cli]$ {script}");
    let limit = Duration::from_secs(u64::from(o.seconds) + 30);
    lab.run_timeout(Node::Cli, limit, &["sh", "-c", &script])
        .map_err(|e| e.to_string())?;
    (0..clients.len())
        .map(|k| {
            let path = lab.dir().join(format!("udp{k}.json"));
            let json = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            match iperf_error(&json) {
                Some(msg) => Err(first_line(&format!("iperf3: {msg}"))),
                None => Ok(json),
            }
        })
        .collect()
}

fn iperf_result(out: lab::Output) -> Result<String, String> {
    if out.success() {
        Ok(out.stdout)
    } else {
        let msg = iperf_error(&out.stdout).unwrap_or_else(|| out.stderr.clone());
        println!("iperf3 failed: {msg}");
        Err(first_line(&format!("iperf3: {msg}")))
    }
}

/// `end.sum_received` of an iperf3 `--json` report: the totals the receiver counted.
pub(crate) fn sum_received(json: &str) -> Option<Value> {
    let mut report: Value = serde_json::from_str(json).ok()?;
    Some(report["end"]["sum_received"].take())
}

/// TCP: bits per second as counted by the receiver.
pub(crate) fn tcp_receiver_bps(json: &str) -> Option<f64> {
    sum_received(json)?["bits_per_second"].as_f64()
}

/// UDP: datagrams the receiver got (sent − lost) per second.
pub(crate) fn udp_received_pps(json: &str) -> Option<f64> {
    let sum = sum_received(json)?;
    let packets = sum["packets"].as_f64()?;
    let lost = sum["lost_packets"].as_f64()?;
    let secs = sum["seconds"].as_f64()?;
    (secs > 0.0).then(|| (packets - lost) / secs)
}

/// The `error` an iperf3 `--json` report carries when the run failed.
pub(crate) fn iperf_error(json: &str) -> Option<String> {
    let report: Value = serde_json::from_str(json).ok()?;
    report.get("error")?.as_str().map(str::to_string)
}

pub(crate) fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

fn fmt_opt(v: Option<f64>, decimals: usize) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.decimals$}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".into(),
    }
}

fn print_table(title: &str, rows: &[Row]) {
    println!("\n== results: {title}");
    print_iperf_table(rows);
    println!();
    print_udpgen_table(rows);
    println!();
    print_frag_table(rows);
    print_nat64_targets(rows);
}

/// The fragment row (issue 9): 1 400-byte UDP datagrams from the server as two IPv4
/// fragments each, and each xlat64 row's ratios (see [`comparisons`]).
fn print_frag_table(rows: &[Row]) {
    println!(
        "{:<18} {:>13} {:>10}",
        "1400 B as 2 frags", "datagrams/s", "CPU ns"
    );
    println!(
        "{:<18} {:>13} {:>10}",
        "(cli iface)", "delivered", "per dgram"
    );
    for r in rows.iter().filter(|r| r.frag_pps.is_some()) {
        println!(
            "{:<18} {:>13} {:>10}",
            r.name,
            fmt_opt(r.frag_pps, 0),
            fmt_opt(r.frag_ns, 0)
        );
    }
    for (x, reference, label) in comparisons(rows) {
        if x.frag_pps.is_some() {
            println!(
                "{:<18} {:>13} {:>10}",
                label,
                ratio(x.frag_pps, reference.frag_pps),
                ratio(x.frag_ns, reference.frag_ns)
            );
        }
    }
}

/// TCP and iperf3's 64-flow UDP, and each xlat64 row's ratios (see [`comparisons`]).
fn print_iperf_table(rows: &[Row]) {
    println!(
        "{:<18} {:>8} {:>8} {:>13} {:>13} {:>9}  note",
        "iperf3", "TCP x1", "TCP xN", "UDP-64 pkt/s", "UDP-64 pkt/s", "CPU ns"
    );
    println!(
        "{:<18} {:>8} {:>8} {:>13} {:>13} {:>9}",
        "", "Gbit/s", "Gbit/s", "(srv iface)", "(iperf3 rcv)", "per pkt"
    );
    for r in rows {
        println!(
            "{:<18} {:>8} {:>8} {:>13} {:>13} {:>9}  {}",
            r.name,
            fmt_opt(r.tcp1_gbps, 2),
            fmt_opt(r.tcpn_gbps, 2),
            fmt_opt(r.udp_if_pps, 0),
            fmt_opt(r.udp_pps, 0),
            fmt_opt(r.cpu_ns_per_pkt, 0),
            r.note
        );
    }
    for (x, reference, label) in comparisons(rows) {
        println!(
            "{:<18} {:>8} {:>8} {:>13} {:>13} {:>9}",
            label,
            ratio(x.tcp1_gbps, reference.tcp1_gbps),
            ratio(x.tcpn_gbps, reference.tcpn_gbps),
            ratio(x.udp_if_pps, reference.udp_if_pps),
            ratio(x.udp_pps, reference.udp_pps),
            ratio(x.cpu_ns_per_pkt, reference.cpu_ns_per_pkt),
        );
    }
}

/// udpgen's packet rates at the server's interface, and each xlat64 row's ratio to
/// TAYGA (new flows against TAYGA's 64-flow rate: stateless, it sets nothing up).
fn print_udpgen_table(rows: &[Row]) {
    println!(
        "{:<18} {:>13} {:>8} {:>13} {:>8} {:>11} {:>8}",
        "udpgen UDP-64", "pkt/s", "CPU ns", "pkt/s", "CPU ns", "new flows", "CPU ns"
    );
    println!(
        "{:<18} {:>13} {:>8} {:>13} {:>8} {:>11} {:>8}",
        "(srv iface)", "64 flows", "per pkt", "100k flows", "per pkt", "per s", "per flow"
    );
    for r in rows {
        let note = match (r.gen_bound.as_str(), r.note.as_str()) {
            ("", n) => n.to_string(),
            (b, "") => format!("udpgen-bound:{b}"),
            (b, n) => format!("udpgen-bound:{b}; {n}"),
        };
        println!(
            "{:<18} {:>13} {:>8} {:>13} {:>8} {:>11} {:>8}  {note}",
            r.name,
            fmt_opt(r.few_pps, 0),
            fmt_opt(r.few_ns, 0),
            fmt_opt(r.many_pps, 0),
            fmt_opt(r.many_ns, 0),
            fmt_opt(r.new_pps, 0),
            fmt_opt(r.new_ns, 0),
        );
    }
    for (x, reference, label) in comparisons(rows) {
        println!(
            "{:<18} {:>13} {:>8} {:>13} {:>8} {:>11} {:>8}",
            label,
            ratio(x.few_pps, reference.few_pps),
            ratio(x.few_ns, reference.few_ns),
            ratio(x.many_pps, reference.many_pps),
            ratio(x.many_ns, reference.many_ns),
            ratio(x.new_pps, reference.few_pps),
            ratio(x.new_ns, reference.few_ns),
        );
    }
}

/// Whether a `--rows` word selects row `name`: `=NAME` that row alone, else any row
/// whose name contains the word.
fn row_matches(name: &str, word: &str) -> bool {
    match word.strip_prefix('=') {
        Some(exact) => name == exact,
        None => name.contains(word),
    }
}

/// The ratio lines under a table: each xlat64 row against TAYGA, then, when the bench
/// ran a baseline binary (`XLAT64_BASELINE_BIN`), each xlat64 row against the same row
/// of the baseline ("base ..."). Yields (row, reference row, label).
fn comparisons(rows: &[Row]) -> Vec<(&Row, &Row, String)> {
    let xlat64 = || rows.iter().filter(|r| r.name.starts_with("xlat64"));
    let short = |r: &Row| r.name.trim_start_matches("xlat64 ").to_string();
    let mut v = Vec::new();
    if let Some(tayga) = rows.iter().find(|r| r.name == "tayga") {
        v.extend(xlat64().map(|x| (x, tayga, format!("{}/tayga", short(x)))));
    }
    for x in xlat64() {
        // `tun-io = "io-uring"` rows against the same row with one syscall per packet.
        if let Some(plain) = x.name.strip_suffix(" uring")
            && let Some(p) = rows.iter().find(|r| r.name == plain)
        {
            v.push((x, p, format!("{}/syscalls", short(x))));
        }
    }
    for x in xlat64() {
        let base_name = x.name.replacen("xlat64", "base", 1);
        if let Some(b) = rows.iter().find(|r| r.name == base_name) {
            v.push((x, b, format!("{}/base", short(x))));
        }
    }
    v
}

/// The stateful NAT64 targets of issue #3, row by row, each with its verdict.
fn print_nat64_targets(rows: &[Row]) {
    let tayga = rows.iter().find(|r| r.name == "tayga");
    let t = |f: fn(&Row) -> Option<f64>| tayga.and_then(f);
    for x in rows.iter().filter(|r| r.name.starts_with("xlat64 nat64")) {
        println!("\nNAT64 targets (issue #3), {}:", x.name);
        let checks = [
            ("100k flows / 64 flows", x.many_pps, x.few_pps, 0.90),
            ("new flows / 64 flows", x.new_pps, x.few_pps, 0.50),
            (
                "64 flows / tayga 64 flows",
                x.few_pps,
                t(|r| r.few_pps),
                1.0,
            ),
            (
                "100k flows / tayga 100k flows",
                x.many_pps,
                t(|r| r.many_pps),
                1.0,
            ),
            (
                "new flows / tayga 64 flows",
                x.new_pps,
                t(|r| r.few_pps),
                1.0,
            ),
        ];
        for (what, a, b, target) in checks {
            println!(
                "  {what:<31} {:>6}  (target >= {target:.2}){}",
                ratio(a, b),
                verdict(a, b, target)
            );
        }
    }
}

/// "  met" / "  MISSED" when both figures exist, nothing otherwise.
fn verdict(a: Option<f64>, b: Option<f64>, target: f64) -> &'static str {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 && a / b >= target => "  met",
        (Some(_), Some(b)) if b > 0.0 => "  MISSED",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UDP: &str = "{\"start\": {\"version\": \"iperf 3.12\"}, \"intervals\": [],\n\
        \"end\": {\"sum\": {\"packets\": 5}, \"sum_received\":\t{\n\
        \"start\":\t0,\n\"seconds\":\t2.0,\n\"bits_per_second\":\t1.5e6,\n\
        \"lost_packets\":\t100,\n\"packets\":\t1100,\n\"sender\":\tfalse\n}}}";

    /// Each xlat64 row is compared with TAYGA and with its own baseline row.
    #[test]
    fn compares_with_tayga_and_the_baseline_row() {
        let rows: Vec<Row> = [
            "tayga",
            "xlat64 1q",
            "xlat64 2q",
            "base 1q",
            "xlat64 1q uring",
        ]
        .iter()
        .map(|n| Row::new(n))
        .collect();
        let labels: Vec<String> = comparisons(&rows).into_iter().map(|c| c.2).collect();
        assert_eq!(
            labels,
            [
                "1q/tayga",
                "2q/tayga",
                "1q uring/tayga",
                "1q uring/syscalls",
                "1q/base"
            ]
        );
    }

    #[test]
    fn rows_match_by_word_or_exactly() {
        assert!(row_matches("xlat64 1q udpgro", "xlat64 1q"));
        assert!(!row_matches("xlat64 1q udpgro", "=xlat64 1q"));
        assert!(row_matches("xlat64 1q", "=xlat64 1q"));
    }

    #[test]
    fn parses_options() {
        let args: Vec<String> = ["--gen-threads", "3", "--workers", "2"]
            .iter()
            .map(|a| a.to_string())
            .collect();
        let o = Options::parse(&args).unwrap();
        assert_eq!((o.gen_threads(), o.workers, o.seconds), (3, Some(2), 5));
        assert!(Options::parse(&["--gen-threads".to_string()]).is_err());
    }

    #[test]
    fn notes_why_a_translator_did_not_start() {
        let msg = "xlat64 exited (Some(2)) before creating TUN xlat64\n--- stdout ---\n\
                   --- stderr ---\nxlat64: error: invalid value for 'workers': nat64 runs \
                   on one worker for now; use --workers 1\n";
        assert_eq!(
            start_failure(msg),
            "not run: invalid value for 'workers': nat64 runs on one worker for now; use \
             --workers 1"
        );
        assert_eq!(start_failure("no tun\nmore"), "no tun");
    }

    #[test]
    fn judges_targets() {
        assert_eq!(verdict(Some(95.0), Some(100.0), 0.9), "  met");
        assert_eq!(verdict(Some(85.0), Some(100.0), 0.9), "  MISSED");
        assert_eq!(verdict(None, Some(100.0), 0.9), "");
        assert_eq!(ratio(Some(1.0), Some(4.0)), "0.25");
    }

    #[test]
    fn reads_iperf3_receiver_figures() {
        assert_eq!(udp_received_pps(UDP), Some(500.0));
        assert_eq!(tcp_receiver_bps(UDP), Some(1.5e6));
        assert_eq!(cpu_ticks(std::process::id()).map(|_| ()), Some(()));
        assert_eq!(
            iperf_error("{\"start\": {}, \"error\": \"unable to connect\"}"),
            Some("unable to connect".into())
        );
        assert_eq!(iperf_error(UDP), None);
        // A report cut short (iperf3 killed) has no figures and no error.
        let cut = &UDP[..UDP.len() / 2];
        assert_eq!((udp_received_pps(cut), iperf_error(cut)), (None, None));
        assert_eq!(tcp_receiver_bps("{\"end\": {}}"), None);
    }
}
