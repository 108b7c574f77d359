//! Destinations that must never be emitted (issue 9), end to end in SIIT and NAT64 mode:
//! the client sends UDP to the prefix with 255.255.255.255, 224.0.0.1, 127.0.0.1 and
//! 0.0.0.1 written into it. The translator must drop and count every datagram
//! (`mapped_ipv4_bad_destination`), and no IPv4 packet to those addresses may come out
//! of it: captures on the TUN (everything the translator writes crosses it) and on the
//! server's link show none, while a ping to the server, sent afterwards, shows the
//! captures see translated traffic.

use super::*;
use crate::lab::{TUN, addr};
use std::time::Duration;

/// (IPv4 address embedded in the lab prefix 2001:db8:64::/96, the IPv6 form tcpdump
/// prints).
const TARGETS: [(&str, &str); 4] = [
    ("255.255.255.255", "2001:db8:64::ffff:ffff"),
    ("224.0.0.1", "2001:db8:64::e000:1"),
    ("127.0.0.1", "2001:db8:64::7f00:1"),
    ("0.0.0.1", "2001:db8:64::1"),
];

/// Datagrams sent to each target.
const EACH: u64 = 3;

/// UDP port the datagrams go to.
const PORT: &str = "7090";

/// `PORT COUNT ADDR...`: COUNT datagrams to each IPv6 address, 50 ms apart.
const SEND: &str = r#"
import socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
for _ in range(count):
    for a in sys.argv[3:]:
        s.sendto(b"never emitted", (a, port))
    time.sleep(0.05)
"#;

/// A running capture writing to a file in the lab directory.
struct Capture {
    id: crate::lab::ProcId,
    node: Node,
    pcap: String,
}

fn capture(lab: &mut Lab, node: Node, dev: &str, name: &str) -> Capture {
    let pcap = lab.dir().join(format!("{name}.pcap"));
    let pcap = pcap.to_str().unwrap().to_string();
    // --immediate-mode: otherwise captured packets wait in the ring for a block to fill
    // and are lost when tcpdump is stopped.
    let argv = ["tcpdump", "--immediate-mode", "-U", "-ni", dev, "-w", &pcap];
    let id = lab.spawn(node, name, &argv).unwrap();
    lab.wait_for_output(id, "listening on", Duration::from_secs(10))
        .unwrap();
    Capture { id, node, pcap }
}

/// Stops the capture and returns tcpdump's one-line summaries of what it saw.
fn lines(lab: &mut Lab, c: Capture) -> Vec<String> {
    lab.signal(c.id, "INT").unwrap();
    lab.wait(c.id, Duration::from_secs(5));
    let read = run_ok(lab, c.node, &["tcpdump", "-nr", &c.pcap]);
    read.stdout.lines().map(str::to_string).collect()
}

/// IPv4 packets (tcpdump's ` IP ` lines) to one of the targets.
fn leaked(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .filter(|l| l.contains(" IP "))
        .filter(|l| {
            TARGETS
                .iter()
                .any(|(v4, _)| l.contains(&format!("> {v4}.")) || l.contains(&format!("> {v4}:")))
        })
        .collect()
}

/// Sends to the targets, then pings the server (from an IPv4 address starting with
/// `pinged_from`), and checks the captures and the counters.
fn send_and_capture(mut lab: Lab, pinged_from: &str) {
    let tun = capture(&mut lab, Node::Xlt, TUN, "tun");
    let srv = capture(&mut lab, Node::Srv, "eth0", "srv");
    let each = EACH.to_string();
    let mut argv = vec!["python3", "-c", SEND, PORT, &each];
    argv.extend(TARGETS.iter().map(|(_, v6)| *v6));
    run_ok(&lab, Node::Cli, &argv);
    // The positive control: translated traffic shows in both captures.
    ping(&lab, Node::Cli, addr::SRV6, 2);
    std::thread::sleep(Duration::from_millis(300));
    assert!(lab.translator_alive(), "the translator died");
    let tun = lines(&mut lab, tun);
    let srv = lines(&mut lab, srv);
    let counters = finish(&mut lab);

    let all = tun.join("\n");
    for (v4, v6) in TARGETS {
        let arrived = tun
            .iter()
            .filter(|l| l.contains(" IP6 ") && l.contains(&format!("> {v6}.{PORT}")))
            .count() as u64;
        assert_eq!(
            arrived, EACH,
            "the TUN capture should show the {EACH} datagrams to {v6} ({v4}) going in:\n{all}"
        );
    }
    let (from, to) = (
        format!(" IP {pinged_from}"),
        format!("> {}: ICMP echo request", addr::SRV4),
    );
    for (name, l) in [("TUN", &tun), ("server", &srv)] {
        assert!(
            l.iter().any(|l| l.contains(&from) && l.contains(&to)),
            "the {name} capture should show the translated ping ({from} {to}):\n{}",
            l.join("\n")
        );
        let bad = leaked(l);
        assert!(
            bad.is_empty(),
            "IPv4 packets to never-emitted addresses on the {name} capture:\n{bad:?}"
        );
    }
    assert!(
        !srv.iter().any(|l| l.contains(&format!(".{PORT}:"))),
        "the server saw datagrams to port {PORT}:\n{}",
        srv.join("\n")
    );
    let got = counters
        .get("mapped_ipv4_bad_destination")
        .copied()
        .unwrap_or(0);
    assert_eq!(
        got,
        EACH * TARGETS.len() as u64,
        "mapped_ipv4_bad_destination; all counters: {counters:?}"
    );
}

/// SIIT (RFC 7915 §1.4 → RFC 1812 §5.3.7; RFC 6052 §2.2 /96 embedding): packets to
/// 2001:db8:64::255.255.255.255, ::224.0.0.1, ::127.0.0.1 and ::0.0.0.1 are dropped and
/// counted, and nothing goes to those IPv4 addresses.
#[test]
fn siit_never_emits_special_ipv4_destinations() {
    let lab = lab_with_translator(&[]);
    send_and_capture(lab, addr::CLI4);
}

/// The same through NAT64 (`--mode nat64 --pool4 203.0.113.16/28`; RFC 6146 §3.5.4
/// extracts the IPv4 destination from pool6): refused before any session is created.
#[test]
fn nat64_never_emits_special_ipv4_destinations() {
    let lab = super::nat64::nat64_lab(&[]);
    // The ping's source is a pool4 address; tcpdump prints it, so match any of them.
    send_and_capture(lab, "203.0.113.");
}
