//! `cargo xtask bench`: microbenchmarks, then an end-to-end comparison in namespaces.
//!
//! Same topology for every row (cli ── xlt ── srv, no router), rows interleaved round by
//! round, medians at the end:
//! - kernel IPv6 forwarding (the ceiling: no translation at all), with the veths'
//!   segmentation offloads as they come (GSO/TSO/GRO on) and with them off on every veth
//!   of the path (cli eth0, xlt c1 and v4, srv eth0: `ethtool -K DEV gso off tso off gro
//!   off`), so that every packet is MTU-sized end to end, as a translator without
//!   offloads sees them;
//! - TAYGA (single-threaded, no offloads);
//! - xlat64 with one queue and no offloads, with one queue and offloads, with N queues.
//!
//! Figures are what the receiver got: TCP Gbit/s (iperf3, receiver side) with 1 and
//! `--streams` streams; 64-byte UDP packets per second over 64 flows (two iperf3
//! clients with 32 streams each, sending as fast as they can) counted at the server's
//! interface and in iperf3; and the translator's CPU time (utime + stime from
//! /proc/PID/stat) during the UDP run divided by the packets that reached the server.
//! The UDP figure with 100 000 flows belongs with stateful NAT64 (where flows cost
//! table entries) and is not measured here.

use crate::lab::{self, Lab, Node, Translator, addr};
use std::time::Duration;

pub struct Options {
    seconds: u32,
    /// Rounds of all rows, interleaved; the table shows each figure's median. Shared,
    /// noisy machines make single runs swing by ±30%.
    rounds: u32,
    streams: u32,
    workers: Option<u32>,
}

impl Options {
    pub fn parse(rest: &[String]) -> Result<Options, String> {
        let mut o = Options {
            seconds: 5,
            rounds: 3,
            streams: 8,
            workers: None,
        };
        for (name, n) in crate::numeric_options(rest, &["seconds", "rounds", "streams", "workers"])?
        {
            match name.as_str() {
                "seconds" => o.seconds = n,
                "rounds" => o.rounds = n.max(1),
                "streams" => o.streams = n.max(1),
                _ => o.workers = Some(n.max(1)),
            }
        }
        Ok(o)
    }
}

/// UDP flows of the packet-rate figure: this many iperf3 clients (one server each) ...
const UDP_CLIENTS: u32 = 2;
/// ... with this many streams each.
const UDP_STREAMS_PER_CLIENT: u32 = 32;
/// First iperf3 server port in `srv`.
const IPERF_PORT: u16 = 5201;

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
            note: String::new(),
        }
    }
}

/// What runs in `xlt` for one row.
enum Setup {
    Kernel { offloads: bool },
    Translator(Translator),
}

pub fn run(o: Options) -> Result<(), String> {
    crate::deps::ensure()?;
    micro_benches()?;
    if !lab::is_root() {
        return Err("the end-to-end bench creates network namespaces: run it as root".into());
    }
    let bin = crate::build_release()?;
    let mut lab = Lab::new_bench().map_err(|e| e.to_string())?;
    for k in 0..UDP_CLIENTS {
        let port = (IPERF_PORT + k as u16).to_string();
        lab.spawn(Node::Srv, "iperf3", &["iperf3", "-s", "-p", &port])
            .map_err(|e| e.to_string())?;
        lab.wait_listening(Node::Srv, "tcp", IPERF_PORT + k as u16)
            .map_err(|e| e.to_string())?;
    }

    let n = o
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get() as u32));
    let n_s = n.to_string();
    let xlat = |args: &[&str]| Setup::Translator(Translator::xlat64(&bin, args));
    let rows: Vec<(String, Setup)> = vec![
        ("kernel fwd".into(), Setup::Kernel { offloads: true }),
        ("kernel fwd nogso".into(), Setup::Kernel { offloads: false }),
        ("tayga".into(), Setup::Translator(Translator::Tayga)),
        (
            "xlat64 1q nooff".into(),
            xlat(&["--workers", "1", "--offload", "false"]),
        ),
        ("xlat64 1q".into(), xlat(&["--workers", "1"])),
        (format!("xlat64 {n}q"), xlat(&["--workers", &n_s])),
    ];
    println!(
        "\n== end-to-end: {} round(s), {} s per figure, TCP with 1 and {} stream(s), UDP \
         64-byte payloads over {} flows, xlat64 N = {n} queue(s)\n   (UDP with 100 000 \
         flows: measured with the NAT64 work, skipped here)",
        o.rounds,
        o.seconds,
        o.streams,
        UDP_CLIENTS * UDP_STREAMS_PER_CLIENT
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
    Ok(())
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

fn measure(lab: &mut Lab, o: &Options, name: &str, setup: &Setup) -> Row {
    let mut row = Row::new(name);
    let target = match setup {
        Setup::Kernel { .. } => addr::SRV6_NATIVE,
        Setup::Translator(_) => addr::SRV6,
    };
    println!("\n-- {name} (client → {target})");
    match setup {
        Setup::Kernel { offloads } => {
            if let Err(e) = set_path_offloads(lab, *offloads) {
                row.note = e;
                println!("cannot set offloads: {}", row.note);
                return row;
            }
        }
        Setup::Translator(t) => {
            if let Err(e) = lab.start_translator(t) {
                row.note = first_line(&e.to_string());
                println!("cannot start {name}: {e}");
                return row;
            }
        }
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
    let rx_before = srv_rx_packets(lab);
    let cpu_before = pid.and_then(cpu_ticks);
    // The figure is what reached the server's interface during the flood. iperf3 3.12
    // sometimes loses its control connection under a 64-flow flood (the translator's
    // queue drops it like any other packet) and then reports an error after sending:
    // keep the interface figure, note the error.
    match iperf_udp(lab, o, target) {
        Ok(jsons) => row.udp_pps = jsons.iter().map(|j| udp_received_pps(j)).sum(),
        Err(e) => note(&mut row, e),
    }
    if let (Some(a), Some(b)) = (rx_before, srv_rx_packets(lab)) {
        let packets = b.saturating_sub(a);
        if packets > 0 {
            row.udp_if_pps = Some(packets as f64 / f64::from(o.seconds));
            if let (Some(c0), Some(c1)) = (cpu_before, pid.and_then(cpu_ticks)) {
                let secs = c1.saturating_sub(c0) as f64 / clock_ticks_per_sec();
                row.cpu_ns_per_pkt = Some(secs * 1e9 / packets as f64);
            }
        }
    }
    match setup {
        Setup::Kernel { offloads: false } => {
            if let Err(e) = set_path_offloads(lab, true) {
                println!("cannot turn offloads back on: {e}");
            }
        }
        Setup::Kernel { .. } => {}
        Setup::Translator(_) => match lab.stop_translator() {
            Ok(s) => print!("{name} counters:\n{}", s.stdout),
            Err(e) => println!("{e}"),
        },
    }
    println!(
        "{name}: TCP {} / {} Gbit/s (1 / {} streams), UDP {} packets/s at the server's \
         interface, {} in iperf3, {} ns CPU per packet",
        fmt_opt(row.tcp1_gbps, 2),
        fmt_opt(row.tcpn_gbps, 2),
        o.streams,
        fmt_opt(row.udp_if_pps, 0),
        fmt_opt(row.udp_pps, 0),
        fmt_opt(row.cpu_ns_per_pkt, 0),
    );
    row
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
            match json_string(&json, "\"error\"") {
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
        let msg = json_string(&out.stdout, "\"error\"").unwrap_or_else(|| out.stderr.clone());
        println!("iperf3 failed: {msg}");
        Err(first_line(&format!("iperf3: {msg}")))
    }
}

/// TCP: bits per second as counted by the receiver.
fn tcp_receiver_bps(json: &str) -> Option<f64> {
    json_number(json, "\"sum_received\"", "bits_per_second")
}

/// UDP: datagrams the receiver got (sent − lost) per second.
fn udp_received_pps(json: &str) -> Option<f64> {
    let anchor = "\"sum_received\"";
    let packets = json_number(json, anchor, "packets")?;
    let lost = json_number(json, anchor, "lost_packets")?;
    let secs = json_number(json, anchor, "seconds")?;
    (secs > 0.0).then(|| (packets - lost) / secs)
}

/// The number at `"key":` in the object that starts at `anchor` (iperf3's JSON is
/// regular enough that this avoids a JSON dependency).
fn json_number(json: &str, anchor: &str, key: &str) -> Option<f64> {
    let start = json.find(anchor)?;
    let body = &json[start..];
    let body = &body[..body.find('}')?];
    let pat = format!("\"{key}\":");
    let at = body.find(&pat)? + pat.len();
    let num: String = body[at..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit() || ".eE+-".contains(*c))
        .collect();
    num.parse().ok()
}

fn json_string(json: &str, key: &str) -> Option<String> {
    let at = json.find(key)? + key.len();
    let rest = json[at..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_string())
}

fn first_line(s: &str) -> String {
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
    println!(
        "{:<18} {:>8} {:>8} {:>13} {:>13} {:>9}  note",
        "", "TCP x1", "TCP xN", "UDP-64 pkt/s", "UDP-64 pkt/s", "CPU ns"
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
    let Some(tayga) = rows.iter().find(|r| r.name == "tayga") else {
        return;
    };
    for x in rows.iter().filter(|r| r.name.starts_with("xlat64")) {
        println!(
            "{:<18} {:>8} {:>8} {:>13} {:>13} {:>9}",
            format!("{}/tayga", x.name.trim_start_matches("xlat64 ")),
            ratio(x.tcp1_gbps, tayga.tcp1_gbps),
            ratio(x.tcpn_gbps, tayga.tcpn_gbps),
            ratio(x.udp_if_pps, tayga.udp_if_pps),
            ratio(x.udp_pps, tayga.udp_pps),
            ratio(x.cpu_ns_per_pkt, tayga.cpu_ns_per_pkt),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UDP: &str = "\"end\": {\"sum\": {\"packets\": 5}, \"sum_received\":\t{\n\
        \"start\":\t0,\n\"seconds\":\t2.0,\n\"bits_per_second\":\t1.5e6,\n\
        \"lost_packets\":\t100,\n\"packets\":\t1100,\n\"sender\":\tfalse\n}}";

    #[test]
    fn reads_iperf3_receiver_figures() {
        assert_eq!(udp_received_pps(UDP), Some(500.0));
        assert_eq!(tcp_receiver_bps(UDP), Some(1.5e6));
        assert_eq!(cpu_ticks(std::process::id()).map(|_| ()), Some(()));
        assert_eq!(
            json_string("{\"error\": \"unable to connect\"}", "\"error\""),
            Some("unable to connect".into())
        );
    }
}
