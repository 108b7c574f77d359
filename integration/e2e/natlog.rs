//! NAT logging end to end (RFC 6888 REQ-12): port blocks (RFC 7422) make one record per
//! block, not per session; `xlat64 trace` maps (address, port, time) back to the
//! subscriber from the JSON-lines log, from the live table and from the deterministic
//! formula; the IPFIX export (RFC 7011, RFC 8158 elements) is read by a real
//! collector's decoder (tshark's IPFIX/cflow dissector).

use super::*;
use crate::lab::addr;

const POOL4: &str = "203.0.113.16/31";
const SUBSCRIBERS: usize = 200;
const FLOWS: usize = 5;
const IPFIX_PORT: &str = "4739";

/// UDP echo server that prints each datagram's sender and payload: `ADDR PORT`.
const ECHO_PEERS: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    d, a = s.recvfrom(2048)
    print("peer %s:%d %s" % (a[0], a[1], d.decode(errors="replace")), flush=True)
    s.sendto(d, a)
"#;

/// From each subscriber `2001:db8:100:I::3` (I < N), FLOWS UDP flows (one socket
/// each) that each complete an echo: `SERVER6 PORT N FLOWS`; prints `ok I F` or
/// `fail I F`.
const FLOWS_PY: &str = r#"
import socket, sys
server, port, n, flows = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
socks = []
for i in range(n):
    for f in range(flows):
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind(("2001:db8:100:%x::3" % i, 0))
        s.settimeout(0.3)
        want = b"s%d-%d" % (i, f)
        ok = False
        for _ in range(8):
            s.sendto(want, (server, port))
            try:
                ok = s.recvfrom(2048)[0] == want
            except socket.timeout:
                continue
            if ok:
                break
        socks.append(s)
        print("%s %d %d" % ("ok" if ok else "fail", i, f), flush=True)
"#;

/// One UDP echo from subscriber 200 (`2001:db8:100:c8::3`): `SERVER6 PORT`.
const FLOWS_PY_ONE: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("2001:db8:100:c8::3", 0))
s.settimeout(0.5)
for _ in range(8):
    s.sendto(b"s200-0", (sys.argv[1], int(sys.argv[2])))
    try:
        if s.recvfrom(2048)[0] == b"s200-0":
            sys.exit(0)
    except socket.timeout:
        pass
sys.exit(1)
"#;

/// (pool4 address, port, subscriber index) of each flow the server saw.
fn seen_flows(server_out: &str) -> Vec<(String, u16, usize)> {
    let mut v = Vec::new();
    for l in server_out.lines() {
        let mut w = l.split_whitespace();
        let (Some("peer"), Some(peer), Some(what)) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        let Some((a, p)) = peer.rsplit_once(':') else {
            continue;
        };
        let Some(i) = what
            .strip_prefix('s')
            .and_then(|x| x.split_once('-'))
            .and_then(|(i, _)| i.parse().ok())
        else {
            continue;
        };
        if let Ok(p) = p.parse() {
            v.push((a.to_string(), p, i));
        }
    }
    v.sort_unstable();
    v.dedup();
    v
}

fn subscriber(i: usize) -> String {
    let p = std::net::Ipv6Addr::new(0x2001, 0xdb8, 0x100, i as u16, 0, 0, 0, 0);
    format!("{p}/64")
}

/// The lab for these tests: cli2 holds one address in each of SUBSCRIBERS /64s of
/// 2001:db8:100::/56, and an echo server listens on srv.
fn lab_with_subscribers(args: &[&str], before: impl FnOnce(&mut Lab)) -> (Lab, lab::ProcId) {
    require_root();
    let mut lab = Lab::new().unwrap();
    before(&mut lab);
    let mut argv = vec!["--mode", "nat64", "--pool4", POOL4, "--workers", "2"];
    argv.extend_from_slice(args);
    lab.start_translator(&Translator::xlat64(xlat64_bin(), &argv))
        .unwrap();
    lab.ip(Node::Xlt, &format!("route replace {POOL4} dev xlat64"))
        .unwrap();
    lab.ip(
        Node::Xlt,
        &format!("-6 route add 2001:db8:100::/56 via {}", addr::CLI2_6),
    )
    .unwrap();
    let script: String = (0..SUBSCRIBERS)
        .map(|i| format!("addr add 2001:db8:100:{i:x}::3/128 dev eth0 nodad\n"))
        .collect();
    let batch = lab.dir().join("addrs.batch");
    std::fs::write(&batch, script).unwrap();
    lab.ip(Node::Cli2, &format!("-batch {}", batch.display()))
        .unwrap();
    let server = lab
        .spawn(
            Node::Srv,
            "echo",
            &["python3", "-c", ECHO_PEERS, addr::SRV4, "7090"],
        )
        .unwrap();
    lab.wait_listening(Node::Srv, "udp", 7090).unwrap();
    (lab, server)
}

fn run_flows(lab: &Lab) {
    let n = SUBSCRIBERS.to_string();
    let flows = FLOWS.to_string();
    let out = run_ok_within(
        lab,
        Node::Cli2,
        300,
        &["python3", "-c", FLOWS_PY, addr::SRV6, "7090", &n, &flows],
    );
    let failed: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| !l.starts_with("ok "))
        .collect();
    assert!(failed.is_empty(), "flows failed: {failed:?}");
    assert_eq!(out.stdout.lines().count(), SUBSCRIBERS * FLOWS);
}

fn xlat64(lab: &Lab, args: &[&str]) -> Output {
    let bin = xlat64_bin();
    let mut argv = vec![bin.to_str().unwrap()];
    argv.extend_from_slice(args);
    lab.run(Node::Xlt, &argv).unwrap()
}

/// RFC 7422 / RFC 6888 REQ-12: 200 subscribers (distinct /64s), 5 UDP flows each,
/// `port-allocation = "block"`: the log holds one `block-alloc` per subscriber and no
/// per-session record; `xlat64 trace` maps sampled (address, port, time) triples back
/// to the right subscriber, from the log and from the live table; the IPFIX export of
/// the same records decodes in tshark with the RFC 8158 fields, and its sequence
/// numbers raise no complaint.
#[test]
fn rfc7422_block_mode_logs_one_record_per_block_and_trace_finds_subscribers() {
    if using_tayga() {
        println!("skipped under TAYGA: no NAT logging");
        return;
    }
    require_root();
    // The collector side: tshark captures what reaches the IPFIX port on the
    // translator's namespace (its own address: through `lo`).
    let log_dir = tempdir();
    let log = log_dir.join("nat.jsonl");
    let sock = log_dir.join("ctl.sock");
    let collector = format!("{}:{IPFIX_PORT}", addr::XLT4);
    let (log_s, sock_s) = (log.to_str().unwrap(), sock.to_str().unwrap());
    // Templates go with the first message: the capture starts before the translator.
    let mut cap = None;
    let mut pcap_s = String::new();
    let (mut lab, server) = lab_with_subscribers(
        &[
            "--port-allocation",
            "block",
            "--nat-log-file",
            log_s,
            "--ipfix-collector",
            &collector,
            "--control-socket",
            sock_s,
        ],
        |lab| {
            pcap_s = lab.dir().join("ipfix.pcap").to_str().unwrap().to_string();
            let filter = format!("udp port {IPFIX_PORT}");
            let argv = ["tshark", "-n", "-i", "lo", "-f", &filter, "-w", &pcap_s];
            let id = lab.spawn(Node::Xlt, "tshark", &argv).unwrap();
            lab.wait_for_output(id, "Capturing on", Duration::from_secs(20))
                .unwrap();
            cap = Some(id);
        },
    );
    let cap = cap.unwrap();
    run_flows(&lab);
    let (seen, _) = lab.output(server);
    let flows = seen_flows(&seen);
    assert_eq!(flows.len(), SUBSCRIBERS * FLOWS, "{seen}");
    // The logging thread flushes every 50 ms.
    std::thread::sleep(Duration::from_millis(500));

    let text = std::fs::read_to_string(&log).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let allocs = records
        .iter()
        .filter(|r| r["event"] == "block-alloc")
        .count();
    println!(
        "{} sessions, {} records, {} bytes of log",
        flows.len(),
        records.len(),
        text.len()
    );
    assert_eq!(allocs, SUBSCRIBERS, "one block per subscriber:\n{text}");
    assert_eq!(records.len(), SUBSCRIBERS, "no per-session record:\n{text}");
    for (a, p, i) in &flows {
        let r = records
            .iter()
            .find(|r| r["subscriber"] == subscriber(*i).as_str())
            .unwrap_or_else(|| panic!("no block record for subscriber {i}"));
        assert_eq!(r["v4"], a.as_str(), "RFC 4787 pairing: one address");
        let (f, l) = (
            r["port_first"].as_u64().unwrap(),
            r["port_last"].as_u64().unwrap(),
        );
        assert!((f..=l).contains(&u64::from(*p)), "{a}:{p} outside {r}");
    }

    // Sampled triples back to their subscribers: from the log at a time, and live.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        // A record of this very second is later than its start.
        + 1;
    let now = now.to_string();
    for (a, p, i) in flows.iter().step_by(97) {
        let target = format!("{a}:{p}");
        let out = xlat64(
            &lab,
            &[
                "trace", &target, "--proto", "udp", "--at", &now, "--log", log_s,
            ],
        );
        assert!(out.success(), "{}", out.failure());
        assert!(
            out.stdout
                .contains(&format!("subscriber {} (port block", subscriber(*i))),
            "{}",
            out.stdout
        );
        assert_eq!(out.stdout.lines().count(), 1, "{}", out.stdout);
        let live = xlat64(&lab, &["trace", &target, "--control-socket", sock_s]);
        assert!(live.success(), "{}", live.failure());
        assert!(
            live.stdout
                .contains(&format!("subscriber {}", subscriber(*i))),
            "{}",
            live.stdout
        );
    }
    // logrotate: the file moved away, SIGHUP, the next record goes to a new file and
    // the translator keeps running.
    let rotated = log_dir.join("nat.jsonl.1");
    std::fs::rename(&log, &rotated).unwrap();
    let xlat = lab.translator().unwrap();
    lab.signal(xlat, "HUP").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    lab.ip(Node::Cli2, "addr add 2001:db8:100:c8::3/128 dev eth0 nodad")
        .unwrap();
    run_ok_within(
        &lab,
        Node::Cli2,
        60,
        &["python3", "-c", FLOWS_PY_ONE, addr::SRV6, "7090"],
    );
    std::thread::sleep(Duration::from_millis(500));
    let after = std::fs::read_to_string(&log).expect("nat-log-file reopened after SIGHUP");
    assert_eq!(after.lines().count(), 1, "{after}");
    assert!(
        after.contains("\"subscriber\":\"2001:db8:100:c8::/64\""),
        "{after}"
    );
    assert!(
        lab.translator_alive(),
        "SIGHUP must not stop the translator"
    );
    // A port nobody held: exit 1 and say so.
    let none = xlat64(&lab, &["trace", "203.0.113.16:1000", "--log", log_s]);
    assert_eq!(none.code, Some(1), "{}", none.stdout);

    lab.signal(cap, "INT").unwrap();
    lab.wait(cap, Duration::from_secs(10));
    let decoded = lab
        .run(
            Node::Xlt,
            &[
                "tshark",
                "-n",
                "-r",
                &pcap_s,
                "-d",
                &format!("udp.port=={IPFIX_PORT},cflow"),
                "-T",
                "fields",
                "-E",
                "separator=;",
                "-e",
                "cflow.nat_event",
                "-e",
                "cflow.post_natsource_ipv4_address",
                "-e",
                "cflow.port_range_start",
                "-e",
                "cflow.port_range_end",
                "-e",
                "cflow.srcaddrv6",
            ],
        )
        .unwrap();
    assert!(decoded.success(), "{}", decoded.failure());
    // One line per message, fields with several records joined by commas.
    let mut starts = Vec::new();
    for line in decoded.stdout.lines() {
        let cols: Vec<&str> = line.split(';').collect();
        if cols.len() < 5 || cols[0].is_empty() {
            continue;
        }
        let events: Vec<&str> = cols[0].split(',').collect();
        assert!(
            events.iter().all(|e| *e == "14"),
            "natEvent 14 (port block allocation): {line}"
        );
        starts.extend(cols[2].split(',').map(|s| s.parse::<u16>().unwrap()));
    }
    // The 200 subscribers and the one after SIGHUP.
    assert_eq!(starts.len(), SUBSCRIBERS + 1, "{}", decoded.stdout);
    for r in records.iter().filter(|r| r["event"] == "block-alloc") {
        let f = r["port_first"].as_u64().unwrap() as u16;
        assert!(starts.contains(&f), "block {f} missing from IPFIX");
    }
    let expert = lab
        .run(
            Node::Xlt,
            &[
                "tshark",
                "-n",
                "-r",
                &pcap_s,
                "-d",
                &format!("udp.port=={IPFIX_PORT},cflow"),
                "-z",
                "expert,warn",
            ],
        )
        .unwrap();
    assert!(
        !expert.stdout.contains("Unexpected flow sequence"),
        "RFC 7011 §3.1 sequence numbers: {}",
        expert.stdout
    );
    let c = finish(&mut lab);
    assert_eq!(c.get("nat_log_lost").copied().unwrap_or(0), 0, "{c:?}");
    assert_eq!(
        c.get("nat_log_records").copied(),
        Some(SUBSCRIBERS as u64 + 1),
        "{c:?}"
    );
    let _ = std::fs::remove_dir_all(&log_dir);
}

/// RFC 7422 §2 deterministic allocation: no log at all; every mapping lies in the
/// block the documented formula gives its subscriber, `xlat64 trace --config` answers
/// from the formula alone, and the live table (through the control socket) agrees.
#[test]
fn rfc7422_deterministic_mode_trace_from_the_formula_agrees_with_live_sessions() {
    if using_tayga() {
        println!("skipped under TAYGA: no port blocks");
        return;
    }
    let dir = tempdir();
    let sock = dir.join("ctl.sock");
    let sock_s = sock.to_str().unwrap();
    let (lab, server) = lab_with_subscribers(
        &[
            "--port-allocation",
            "deterministic",
            "--deterministic-subscribers",
            "2001:db8:100::/56",
            "--control-socket",
            sock_s,
        ],
        |_| {},
    );
    let conf = dir.join("xlat64.toml");
    std::fs::write(
        &conf,
        format!(
            "mode = \"nat64\"\npool4 = [\"{POOL4}\"]\nport-allocation = \"deterministic\"\n\
             deterministic-subscribers = [\"2001:db8:100::/56\"]\n"
        ),
    )
    .unwrap();
    run_flows(&lab);
    let (seen, _) = lab.output(server);
    let flows = seen_flows(&seen);
    assert_eq!(flows.len(), SUBSCRIBERS * FLOWS);
    // The formula (README, "NAT logging"): 2 addresses, ports 1024-65535, blocks of
    // 128, K = 504 per address; subscriber i: address 203.0.113.16 + i / 504, ports
    // 1024 + (i % 504) * 128 ..= + 127.
    for (a, p, i) in &flows {
        let want_addr = format!("203.0.113.{}", 16 + i / 504);
        let first = 1024 + (i % 504) as u16 * 128;
        assert_eq!(a, &want_addr);
        assert!(
            (first..=first + 127).contains(p),
            "subscriber {i} got {a}:{p}"
        );
    }
    let conf_s = conf.to_str().unwrap();
    for (a, p, i) in flows.iter().step_by(53) {
        let target = format!("{a}:{p}");
        let out = xlat64(&lab, &["trace", &target, "--config", conf_s]);
        assert!(out.success(), "{}", out.failure());
        assert!(
            out.stdout
                .contains(&format!("subscriber {}", subscriber(*i))),
            "{}",
            out.stdout
        );
        let live = xlat64(&lab, &["trace", &target, "--control-socket", sock_s]);
        assert!(live.success(), "{}", live.failure());
        assert!(
            live.stdout
                .contains(&format!("subscriber {}", subscriber(*i))),
            "{}",
            live.stdout
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A private directory for files the translator writes (it runs as root in the lab's
/// namespace, but the file system is shared).
fn tempdir() -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let d = std::env::temp_dir().join(format!(
        "x64-natlog-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}
