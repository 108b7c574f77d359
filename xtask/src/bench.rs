//! `cargo xtask bench`: microbenchmarks, then an end-to-end comparison in namespaces.
//!
//! Same topology for every row (cli ── xlt ── srv, no router), one run, side by side:
//! kernel IPv6 forwarding (the ceiling: no translation at all), xlat64 and TAYGA.
//! Figures are what the receiver got: TCP Gbit/s (iperf3, receiver side) and packets per
//! second for 64-byte UDP payloads sent as fast as the client can (`-b 0`).

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
            streams: 1,
            workers: None,
        };
        for (name, n) in crate::numeric_options(rest, &["seconds", "rounds", "streams", "workers"])?
        {
            match name.as_str() {
                "seconds" => o.seconds = n,
                "rounds" => o.rounds = n.max(1),
                "streams" => o.streams = n,
                _ => o.workers = Some(n),
            }
        }
        Ok(o)
    }
}

/// One row of the table; `None` where the measurement failed.
struct Row {
    name: &'static str,
    tcp_gbps: Option<f64>,
    /// Datagrams iperf3's receiver got per second.
    udp_pps: Option<f64>,
    /// Packets per second that reached the server's interface (the translator's output,
    /// before any loss in the receiving socket).
    udp_if_pps: Option<f64>,
    note: String,
}

pub fn run(o: Options) -> Result<(), String> {
    crate::deps::ensure()?;
    micro_benches()?;
    if !lab::is_root() {
        return Err("the end-to-end bench creates network namespaces: run it as root".into());
    }
    let bin = crate::build_release()?;
    let mut lab = Lab::new_bench().map_err(|e| e.to_string())?;
    lab.spawn(Node::Srv, "iperf3", &["iperf3", "-s"])
        .map_err(|e| e.to_string())?;
    lab.wait_listening(Node::Srv, "tcp", 5201)
        .map_err(|e| e.to_string())?;

    let mut args = Vec::new();
    let workers = o.workers.map(|w| w.to_string());
    if let Some(w) = &workers {
        args.extend(["--workers", w.as_str()]);
    }
    println!(
        "\n== end-to-end: {} round(s), {} s per figure, {} TCP stream(s){}",
        o.rounds,
        o.seconds,
        o.streams,
        workers
            .as_ref()
            .map(|w| format!(", xlat64 --workers {w}"))
            .unwrap_or_default()
    );
    let mut rounds = Vec::new();
    for round in 1..=o.rounds {
        println!("\n==== round {round} of {}", o.rounds);
        let rows = vec![
            measure(&mut lab, &o, "kernel IPv6 fwd", None, addr::SRV6_NATIVE),
            measure(
                &mut lab,
                &o,
                "xlat64",
                Some(Translator::xlat64(&bin, &args)),
                addr::SRV6,
            ),
            measure(&mut lab, &o, "tayga", Some(Translator::Tayga), addr::SRV6),
        ];
        print_table(&format!("round {round}"), &rows);
        rounds.push(rows);
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
                name: first[i].name,
                tcp_gbps: col(|r| r.tcp_gbps),
                udp_pps: col(|r| r.udp_pps),
                udp_if_pps: col(|r| r.udp_if_pps),
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

fn measure(
    lab: &mut Lab,
    o: &Options,
    name: &'static str,
    translator: Option<Translator>,
    target: &str,
) -> Row {
    println!("\n-- {name} (client → {target})");
    let mut row = Row {
        name,
        tcp_gbps: None,
        udp_pps: None,
        udp_if_pps: None,
        note: String::new(),
    };
    if let Some(t) = &translator
        && let Err(e) = lab.start_translator(t)
    {
        row.note = first_line(&e.to_string());
        println!("cannot start {name}: {e}");
        return row;
    }
    match iperf(lab, o, target, false) {
        Ok(json) => row.tcp_gbps = tcp_receiver_bps(&json).map(|b| b / 1e9),
        Err(e) => row.note = e,
    }
    let rx_before = srv_rx_packets(lab);
    match iperf(lab, o, target, true) {
        Ok(json) => {
            row.udp_pps = udp_received_pps(&json);
            if let (Some(a), Some(b)) = (rx_before, srv_rx_packets(lab)) {
                row.udp_if_pps = Some(b.saturating_sub(a) as f64 / f64::from(o.seconds));
            }
        }
        Err(e) if row.note.is_empty() => row.note = e,
        Err(_) => {}
    }
    if translator.is_some() {
        match lab.stop_translator() {
            Ok(s) => print!("{name} counters:\n{}", s.stdout),
            Err(e) => println!("{e}"),
        }
    }
    println!(
        "{name}: TCP {} Gbit/s, UDP {} packets/s at the server's interface, {} in iperf3",
        fmt_opt(row.tcp_gbps, 2),
        fmt_opt(row.udp_if_pps, 0),
        fmt_opt(row.udp_pps, 0)
    );
    row
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

/// Runs one iperf3 test from `cli` and returns its JSON report.
fn iperf(lab: &Lab, o: &Options, target: &str, udp: bool) -> Result<String, String> {
    let secs = o.seconds.to_string();
    let streams = o.streams.to_string();
    let mut argv = vec!["iperf3", "-c", target, "-t", &secs, "-J"];
    if udp {
        argv.extend(["-u", "-l", "64", "-b", "0"]);
    } else {
        argv.extend(["-P", &streams]);
    }
    println!("[cli]$ {}", lab::shell_words(&argv));
    let limit = Duration::from_secs(u64::from(o.seconds) + 30);
    let out = lab
        .run_timeout(Node::Cli, limit, &argv)
        .map_err(|e| e.to_string())?;
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
        "{:<16} {:>11} {:>15} {:>15}  note",
        "", "TCP Gbit/s", "UDP-64 pkt/s", "UDP-64 pkt/s"
    );
    println!(
        "{:<16} {:>11} {:>15} {:>15}",
        "", "(receiver)", "(srv iface)", "(iperf3 rcv)"
    );
    for r in rows {
        println!(
            "{:<16} {:>11} {:>15} {:>15}  {}",
            r.name,
            fmt_opt(r.tcp_gbps, 2),
            fmt_opt(r.udp_if_pps, 0),
            fmt_opt(r.udp_pps, 0),
            r.note
        );
    }
    let find = |n: &str| rows.iter().find(|r| r.name == n);
    if let (Some(x), Some(t), Some(k)) = (find("xlat64"), find("tayga"), find("kernel IPv6 fwd")) {
        for (label, other) in [("xlat64/tayga", t), ("xlat64/kernel", k)] {
            println!(
                "{:<16} {:>11} {:>15} {:>15}",
                label,
                ratio(x.tcp_gbps, other.tcp_gbps),
                ratio(x.udp_if_pps, other.udp_if_pps),
                ratio(x.udp_pps, other.udp_pps)
            );
        }
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
        assert_eq!(
            json_string("{\"error\": \"unable to connect\"}", "\"error\""),
            Some("unable to connect".into())
        );
    }
}
