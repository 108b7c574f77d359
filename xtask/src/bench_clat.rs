//! `cargo xtask bench` rows for 464XLAT (issue 10), in the 464XLAT lab (`lab.rs`,
//! phone ── carrier ── plat ── srv), one worker per translator, rows interleaved round by
//! round, medians at the end:
//! - `464 clat+plat`: xlat64 `--mode clat` on the phone and xlat64 `--mode nat64` on
//!   the PLAT box, an IPv4 client on the phone (two translations, the 464XLAT path);
//! - `464 tayga clat+plat`: the same with TAYGA as the CLAT (its usual role on Linux
//!   hosts and CPEs), xlat64 still the PLAT;
//! - `464 siit alone`: the same wires with one translation: an IPv6 client on the phone
//!   and xlat64 `--mode siit` on the PLAT box (the phone's address as an EAM).
//!
//! Figures at the receiver: TCP Gbit/s (one iperf3 stream) and 64-byte UDP packets per
//! second (iperf3, 4 streams, `-b 0`). Ratios are to `siit alone` and to TAYGA in the
//! same run.

use std::path::Path;
use std::time::Duration;

use crate::bench::{Options, first_line, iperf_error, tcp_receiver_bps, udp_received_pps};
use crate::lab::{self, Lab, Node, ProcId, Topology, addr464::*};

const PREFIX: &str = "2001:db8:64::/96";
/// srv (198.51.100.130) in PREFIX.
const SRV_VIA_PREFIX: &str = "2001:db8:64::c633:6482";
/// The phone's IPv6 address as seen from IPv4 in the SIIT row (EAM).
const PHONE_EAM: &str = "2001:db8:a::2/128=198.51.100.2/32";
const TCP_PORT: u16 = 5301;
const UDP_PORT: u16 = 5302;
const UDP_STREAMS: &str = "4";
/// Row names; `--rows 464` selects them all.
pub const ROWS: [&str; 3] = ["464 clat+plat", "464 tayga clat+plat", "464 siit alone"];

#[derive(Clone, Copy, Default)]
struct Figures {
    tcp_gbps: Option<f64>,
    udp_pps: Option<f64>,
}

/// Runs the rows `wanted` (names from [`ROWS`]).
pub fn run(o: &Options, bin: &Path, wanted: &[&str]) -> Result<(), String> {
    let e = |e: lab::LabError| e.to_string();
    let mut lab = Lab::with_topology(Topology::Xlat464).map_err(e)?;
    for port in [TCP_PORT, UDP_PORT] {
        let p = port.to_string();
        lab.spawn(Node::Srv, "iperf3", &["iperf3", "-s", "-p", &p])
            .map_err(e)?;
        lab.wait_listening(Node::Srv, "tcp", port).map_err(e)?;
    }
    println!(
        "\n== 464XLAT: {} round(s), {} s per figure, TCP 1 stream, UDP 64-byte payloads over \
         {UDP_STREAMS} streams, one worker per translator",
        o.rounds, o.seconds
    );
    let mut all: Vec<Vec<Figures>> = Vec::new();
    for round in 1..=o.rounds {
        println!("\n==== 464XLAT round {round} of {}", o.rounds);
        let figs: Vec<Figures> = wanted
            .iter()
            .map(|row| {
                measure_row(&mut lab, o, bin, row).unwrap_or_else(|err| {
                    println!("{row}: {err}");
                    Figures::default()
                })
            })
            .collect();
        all.push(figs);
    }
    let med = |i: usize, f: fn(&Figures) -> Option<f64>| {
        let mut v: Vec<f64> = all.iter().filter_map(|r| f(&r[i])).collect();
        v.sort_by(f64::total_cmp);
        (!v.is_empty()).then(|| v[v.len() / 2])
    };
    let base = wanted.iter().position(|r| *r == ROWS[2]);
    let tayga = wanted.iter().position(|r| *r == ROWS[1]);
    println!(
        "\n== 464XLAT, median of {} round(s)\n{:<22} {:>9} {:>11} {:>14} {:>14}",
        o.rounds, "row", "TCP Gb/s", "UDP64 kpps", "vs siit alone", "vs tayga clat"
    );
    for (i, row) in wanted.iter().enumerate() {
        let (t, u) = (med(i, |f| f.tcp_gbps), med(i, |f| f.udp_pps));
        let vs = |j: Option<usize>| match j {
            Some(j) if j != i => format!(
                "{}/{}",
                ratio(t, med(j, |f| f.tcp_gbps)),
                ratio(u, med(j, |f| f.udp_pps))
            ),
            _ => "-".into(),
        };
        println!(
            "{row:<22} {:>9} {:>11} {:>14} {:>14}",
            t.map_or("-".into(), |v| format!("{v:.2}")),
            u.map_or("-".into(), |v| format!("{:.0}", v / 1e3)),
            vs(base),
            vs(tayga)
        );
    }
    println!("(ratios: TCP/UDP)");
    Ok(())
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "-".into(),
    }
}

/// Sets the row up, measures, tears it down (whatever the measurement gave).
fn measure_row(lab: &mut Lab, o: &Options, bin: &Path, row: &str) -> Result<Figures, String> {
    println!("\n-- {row}");
    let e = |e: lab::LabError| e.to_string();
    let (procs, target) = match row {
        "464 clat+plat" => {
            let plat = lab.start_plat(bin, PREFIX).map_err(e)?;
            let clat = lab.start_clat(bin, &["--plat-prefix", PREFIX]).map_err(e)?;
            (vec![clat, plat], SRV4)
        }
        "464 tayga clat+plat" => {
            let plat = lab.start_plat(bin, PREFIX).map_err(e)?;
            let tayga = start_tayga_clat(lab).inspect_err(|_| stop(lab, &[plat]))?;
            (vec![tayga, plat], SRV4)
        }
        _ => (vec![start_siit(lab, bin)?], SRV_VIA_PREFIX),
    };
    let figs = measure(lab, o, target);
    stop(lab, &procs);
    if row == ROWS[1] {
        let _ = lab.ip(Node::Phone, &format!("-6 neigh del proxy {CLAT6} dev eth0"));
    }
    figs
}

fn stop(lab: &mut Lab, procs: &[ProcId]) {
    for &id in procs {
        let _ = lab.signal(id, "INT");
        if lab.wait(id, Duration::from_secs(10)).is_none() {
            lab.kill(id);
        }
    }
}

/// TAYGA as the phone's CLAT, set up by hand as people do: its TUN with 192.0.0.1/29
/// and the IPv4 default route, the CLAT address routed into it and proxied on eth0.
fn start_tayga_clat(lab: &mut Lab) -> Result<ProcId, String> {
    let e = |e: lab::LabError| e.to_string();
    let conf = lab.path("tayga-clat.conf");
    std::fs::write(
        &conf,
        format!("tun-device clat0\nipv4-addr {CLAT4}\nprefix {PREFIX}\nmap {HOST4} {CLAT6}\n"),
    )
    .map_err(|e| e.to_string())?;
    let id = lab
        .spawn(Node::Phone, "tayga", &["tayga", "-c", &conf, "--nodetach"])
        .map_err(e)?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while lab.ip(Node::Phone, "link show dev clat0").is_err() {
        if std::time::Instant::now() > deadline || !lab.alive(id) {
            return Err(format!("tayga did not create clat0: {:?}", lab.output(id)));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for cmd in [
        "link set clat0 mtu 1480 up".to_string(),
        format!("addr add {HOST4}/29 dev clat0"),
        "route add default dev clat0".to_string(),
        format!("-6 route add {CLAT6} dev clat0"),
        format!("-6 neigh add proxy {CLAT6} dev eth0"),
    ] {
        lab.ip(Node::Phone, &cmd).map_err(e)?;
    }
    Ok(id)
}

/// xlat64 SIIT on the PLAT box: the phone's IPv6 address mapped by EAM, srv by PREFIX.
fn start_siit(lab: &mut Lab, bin: &Path) -> Result<ProcId, String> {
    let e = |e: lab::LabError| e.to_string();
    let bin = bin.to_string_lossy().into_owned();
    let sock = lab.path("siit.sock");
    let argv = [
        bin.as_str(),
        "run",
        "--mode",
        "siit",
        "--prefix",
        PREFIX,
        "--eam",
        PHONE_EAM,
        "--workers",
        "1",
        "--setup-routes",
        "--control-socket",
        &sock,
    ];
    let id = lab.spawn(Node::Plat, "siit", &argv).map_err(e)?;
    lab.wait_for_output(id, "translating (siit)", Duration::from_secs(10))
        .map_err(e)?;
    lab.ip(
        Node::Carrier,
        &format!("-6 route replace {PREFIX} via {PLAT6}"),
    )
    .map_err(e)?;
    Ok(id)
}

fn measure(lab: &Lab, o: &Options, target: &str) -> Result<Figures, String> {
    let secs = o.seconds.to_string();
    let limit = Duration::from_secs(u64::from(o.seconds) + 30);
    let tcp_port = TCP_PORT.to_string();
    let udp_port = UDP_PORT.to_string();
    let runs: [Vec<&str>; 2] = [
        vec!["iperf3", "-c", target, "-p", &tcp_port, "-t", &secs, "-J"],
        vec![
            "iperf3",
            "-c",
            target,
            "-p",
            &udp_port,
            "-t",
            &secs,
            "-J",
            "-u",
            "-l",
            "64",
            "-b",
            "0",
            "-P",
            UDP_STREAMS,
        ],
    ];
    let mut f = Figures::default();
    for (k, argv) in runs.iter().enumerate() {
        println!("[phone]$ {}", lab::shell_words(argv));
        let out = lab
            .run_timeout(Node::Phone, limit, argv)
            .map_err(|e| e.to_string())?;
        if let Some(msg) = iperf_error(&out.stdout) {
            return Err(first_line(&format!("iperf3: {msg}")));
        }
        if k == 0 {
            f.tcp_gbps = tcp_receiver_bps(&out.stdout).map(|b| b / 1e9);
            println!("TCP {:.2} Gbit/s", f.tcp_gbps.unwrap_or(0.0));
        } else {
            f.udp_pps = udp_received_pps(&out.stdout);
            println!("UDP 64 B {:.0} packets/s", f.udp_pps.unwrap_or(0.0));
        }
    }
    Ok(f)
}
