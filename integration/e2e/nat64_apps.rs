//! Stateful NAT64 (RFC 6146) with real applications: DNS over UDP and TCP, 200
//! concurrent HTTP connections, iperf3, hairpinning between two IPv6 clients and the
//! per-address session limit. One worker, pool4 203.0.113.16/28, as in `nat64.rs`.

use super::nat64::nat64_lab;
use super::*;
use crate::lab::addr;

fn counter(c: &BTreeMap<String, u64>, name: &str) -> u64 {
    c.get(name).copied().unwrap_or(0)
}

/// RFC 6146 §3.5.1 (UDP) and §3.5.2 (TCP): `dig` from an IPv6-only client reaches an
/// IPv4-only DNS server (dnsmasq) over both transports.
#[test]
fn rfc6146_s3_5_dns_over_udp_and_tcp() {
    let mut lab = nat64_lab(&[]);
    let pid = lab.dir().join("dnsmasq.pid").to_string_lossy().into_owned();
    let pid_flag = format!("--pid-file={pid}");
    let listen = format!("--listen-address={}", addr::SRV4);
    let answer = format!("--address=/example.test/{}", addr::SRV4);
    lab.spawn(
        Node::Srv,
        "dnsmasq",
        &[
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--bind-interfaces",
            &listen,
            "--port=53",
            &answer,
            &pid_flag,
            "--user=root",
            "--log-facility=-",
        ],
    )
    .unwrap();
    lab.wait_listening(Node::Srv, "udp", 53).unwrap();
    lab.wait_listening(Node::Srv, "tcp", 53).unwrap();
    let server = format!("@{}", addr::SRV6);
    for transport in ["+notcp", "+tcp"] {
        let out = run_ok_within(
            &lab,
            Node::Cli,
            20,
            &[
                "dig",
                &server,
                transport,
                "+short",
                "+time=2",
                "+tries=3",
                "example.test",
                "A",
            ],
        );
        assert_eq!(out.stdout.trim(), addr::SRV4, "dig {transport}: {out:?}");
    }
    let c = finish(&mut lab);
    assert!(counter(&c, "nat64_sessions") >= 2, "{c:?}");
}

/// HTTP server that answers "ok" from a thread per connection, with a listen backlog
/// deep enough for 200 simultaneous connects: `ADDR PORT`.
const HTTP_SERVER: &str = r#"
import http.server, socket, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET
    request_queue_size = 512
S((sys.argv[1], int(sys.argv[2])), H).serve_forever()
"#;

/// RFC 6146 §3.5.2: 200 concurrent TCP connections (`curl`) from one client all
/// succeed, each through its own session (the sessions stay, closed ones in the
/// 4-minute transitory state).
#[test]
fn rfc6146_s3_5_2_two_hundred_concurrent_http_connections() {
    let mut lab = nat64_lab(&[]);
    lab.spawn(
        Node::Srv,
        "http",
        &["python3", "-c", HTTP_SERVER, addr::SRV4, "7030"],
    )
    .unwrap();
    lab.wait_listening(Node::Srv, "tcp", 7030).unwrap();
    let script = format!(
        "seq 200 | xargs -P 200 -I{{}} curl -g -sS -o /dev/null -m 30 \
         -w '%{{http_code}}\\n' 'http://[{}]:7030/?{{}}'",
        addr::SRV6
    );
    let out = run_ok_within(&lab, Node::Cli, 60, &["sh", "-c", &script]);
    let ok = out.stdout.lines().filter(|l| l.trim() == "200").count();
    assert_eq!(ok, 200, "{out:?}");
    let c = finish(&mut lab);
    assert!(counter(&c, "nat64_sessions") >= 200, "{c:?}");
}

/// iperf3 through NAT64 for 2 s, TCP then UDP at 50 Mbit/s: both complete and carry
/// data (RFC 6146 §3.5.2 and §3.5.1).
#[test]
fn rfc6146_s3_5_iperf3_tcp_and_udp() {
    let mut lab = nat64_lab(&[]);
    let summary = "import json, sys; e = json.load(sys.stdin)['end']; \
                   s = e.get('sum_received') or e['sum']; print(s['bits_per_second'])";
    for (name, port, extra) in [("tcp", "7040", ""), ("udp", "7041", "-u -b 50M")] {
        lab.spawn(
            Node::Srv,
            &format!("iperf3-{name}"),
            &["iperf3", "-s", "-1", "-B", addr::SRV4, "-p", port],
        )
        .unwrap();
        lab.wait_listening(Node::Srv, "tcp", port.parse().unwrap())
            .unwrap();
        let script = format!(
            "iperf3 -c {} -p {port} {extra} -t 2 -J | python3 -c \"{summary}\"",
            addr::SRV6
        );
        let out = run_ok_within(&lab, Node::Cli, 30, &["sh", "-c", &script]);
        let bps: f64 = out.stdout.trim().parse().unwrap_or(0.0);
        println!("iperf3 {name}: {:.1} Mbit/s", bps / 1e6);
        assert!(bps > 0.0, "iperf3 {name}: {out:?}");
    }
    finish(&mut lab);
}

/// UDP server: `ADDR PORT`. Answers every datagram with the sender's `ip:port`.
const UDP_WHOAMI: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    d, a = s.recvfrom(2048)
    s.sendto(("%s:%d" % a).encode(), a)
"#;

/// Hairpin peer: `SERVER6 PORT`. Learns its own pool4 mapping from the server, prints
/// `mapping IP:PORT`, then prints `got DATA` for the next datagram from anyone else.
const UDP_LEARN_AND_WAIT: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::", 40200))
s.settimeout(1)
for _ in range(5):
    s.sendto(b"who", (sys.argv[1], int(sys.argv[2])))
    try:
        d, _ = s.recvfrom(2048)
        break
    except socket.timeout:
        pass
else:
    sys.exit("no answer from the server")
print("mapping " + d.decode(), flush=True)
s.settimeout(15)
while True:
    d, a = s.recvfrom(2048)
    if d != b"who" and a[0] != sys.argv[1]:
        print("got %s from %s" % (d.decode(), a[0]), flush=True)
        break
"#;

/// The pool6 address (2001:db8:64::/96) of an IPv4 address.
fn pool6(v4: std::net::Ipv4Addr) -> String {
    let o = v4.octets();
    format!(
        "2001:db8:64::{:x}:{:x}",
        u16::from_be_bytes([o[0], o[1]]),
        u16::from_be_bytes([o[2], o[3]])
    )
}

/// RFC 6146 §3.8 hairpinning: cli2 gets a mapping by talking to the IPv4 server; cli
/// then sends to that mapping's pool6 address and cli2 receives it (endpoint-independent
/// filtering lets the new peer in), seen as coming from cli's own pool6 ∘ pool4 address.
#[test]
fn rfc6146_s3_8_hairpin_between_two_ipv6_clients() {
    let mut lab = nat64_lab(&[]);
    lab.spawn(
        Node::Srv,
        "whoami",
        &["python3", "-c", UDP_WHOAMI, addr::SRV4, "7060"],
    )
    .unwrap();
    lab.wait_listening(Node::Srv, "udp", 7060).unwrap();
    let peer = lab
        .spawn(
            Node::Cli2,
            "peer",
            &["python3", "-c", UDP_LEARN_AND_WAIT, addr::SRV6, "7060"],
        )
        .unwrap();
    lab.wait_for_output(peer, "mapping ", Duration::from_secs(10))
        .unwrap();
    let (stdout, _) = lab.output(peer);
    let mapping = stdout
        .lines()
        .find_map(|l| l.strip_prefix("mapping "))
        .unwrap()
        .trim()
        .to_string();
    let (ip, port) = mapping.split_once(':').unwrap();
    let target = pool6(ip.parse().unwrap());
    let send = format!(
        "import socket, time\n\
         s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)\n\
         for _ in range(10):\n    s.sendto(b'hairpin', ('{target}', {port})); time.sleep(0.3)"
    );
    run_ok_within(&lab, Node::Cli, 20, &["python3", "-c", &send]);
    assert_eq!(
        lab.wait(peer, Duration::from_secs(5)),
        Some(Some(0)),
        "{:?}",
        lab.output(peer)
    );
    let (stdout, _) = lab.output(peer);
    let from = stdout
        .lines()
        .find_map(|l| l.strip_prefix("got hairpin from "))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        from.starts_with("2001:db8:64::cb00:71"),
        "cli should appear as pool6 ∘ pool4, not {from}"
    );
    let c = finish(&mut lab);
    assert!(counter(&c, "hairpinned") >= 1, "{c:?}");
}

/// UDP client: `SERVER6 PORT N`. Opens N flows (N sockets, so N source ports), sends
/// on each three times, prints `answered K`.
const UDP_MANY_FLOWS: &str = r#"
import socket, sys, time
socks = [socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) for _ in range(int(sys.argv[3]))]
answered = set()
for _ in range(3):
    for i, s in enumerate(socks):
        if i not in answered:
            s.sendto(b"x", (sys.argv[1], int(sys.argv[2])))
    time.sleep(0.5)
    for i, s in enumerate(socks):
        s.setblocking(False)
        try:
            while True:
                s.recv(2048)
                answered.add(i)
        except BlockingIOError:
            pass
print("answered %d" % len(answered), flush=True)
"#;

/// RFC 6146 §3.5.1.1 lets the NAT64 refuse new sessions it cannot create; the
/// per-address limit of 20 keeps one client to 20 sessions (the other 20 flows are
/// refused and counted) while its neighbour keeps working.
#[test]
fn rfc6146_s3_5_1_1_per_address_session_limit() {
    let mut lab = nat64_lab(&["--max-sessions-per-address", "20"]);
    lab.spawn(
        Node::Srv,
        "whoami",
        &["python3", "-c", UDP_WHOAMI, addr::SRV4, "7070"],
    )
    .unwrap();
    lab.wait_listening(Node::Srv, "udp", 7070).unwrap();
    let out = run_ok_within(
        &lab,
        Node::Cli,
        20,
        &["python3", "-c", UDP_MANY_FLOWS, addr::SRV6, "7070", "40"],
    );
    let answered: usize = out
        .stdout
        .trim()
        .strip_prefix("answered ")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{out:?}"));
    println!("{answered} of 40 flows answered");
    assert!(
        (1..=20).contains(&answered),
        "{answered} of 40 flows answered"
    );
    ping(&lab, Node::Cli2, addr::SRV6, 2);
    let out = run_ok_within(
        &lab,
        Node::Cli2,
        20,
        &["python3", "-c", UDP_MANY_FLOWS, addr::SRV6, "7070", "1"],
    );
    assert_eq!(out.stdout.trim(), "answered 1", "{out:?}");
    let c = finish(&mut lab);
    assert!(counter(&c, "nat64_subscriber_limit") >= 20, "{c:?}");
}

/// Same refusal, per subscriber: cli and cli2 share one /64, so with
/// `--max-sessions-per-subscriber 20` their 15 + 15 flows get 20 sessions between them.
#[test]
fn rfc6146_s3_5_1_1_per_subscriber_session_limit() {
    let mut lab = nat64_lab(&[
        "--max-sessions-per-subscriber",
        "20",
        "--subscriber-prefix-len",
        "64",
    ]);
    lab.spawn(
        Node::Srv,
        "whoami",
        &["python3", "-c", UDP_WHOAMI, addr::SRV4, "7080"],
    )
    .unwrap();
    lab.wait_listening(Node::Srv, "udp", 7080).unwrap();
    let mut total = 0;
    for node in [Node::Cli, Node::Cli2] {
        let out = run_ok_within(
            &lab,
            node,
            20,
            &["python3", "-c", UDP_MANY_FLOWS, addr::SRV6, "7080", "15"],
        );
        total += out
            .stdout
            .trim()
            .strip_prefix("answered ")
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("{out:?}"));
    }
    println!("{total} of 30 flows of one /64 answered");
    assert!((1..=20).contains(&total), "{total} of 30 flows answered");
    let c = finish(&mut lab);
    assert!(counter(&c, "nat64_subscriber_limit") >= 10, "{c:?}");
}
