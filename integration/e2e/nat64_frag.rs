//! Stateful NAT64 with fragments and zero UDP checksums (RFC 6146 §3.4), end to end:
//! large pings and UDP datagrams both ways on two workers, a DNS answer larger than the
//! path MTU, IPv4 fragments delivered out of order or too late by a raw-socket server,
//! a server that sends UDP with checksum 0, and a fragment flood that leaves other flows
//! working.

use super::nat64::nat64_lab;
use super::scripts::{UDP_ECHO_CLIENT, UDP_ECHO_SERVER};
use super::*;
use crate::lab::addr;

fn counter(c: &BTreeMap<String, u64>, name: &str) -> u64 {
    c.get(name).copied().unwrap_or(0)
}

/// IPv4 server that answers each request with a UDP datagram it builds and fragments
/// itself, sent on a raw socket in the order the request asks for: `ADDR PORT`.
/// Request: `SIZE ORDER DELAY_MS CSUM` (ORDER like `2,1,0`: fragment indices in sending
/// order, 1 000 payload bytes each; DELAY_MS before the last one sent; CSUM `zero` to
/// send checksum 0). The payload is `i % 251` for byte i.
const FRAG_SERVER: &str = r#"
import random, socket, struct, sys, time
def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind((sys.argv[1], int(sys.argv[2])))
r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
src = socket.inet_aton(sys.argv[1])
while True:
    req, (peer, pport) = u.recvfrom(2048)
    size, order, delay, mode = req.decode().split()
    data = bytes(i % 251 for i in range(int(size)))
    dst = socket.inet_aton(peer)
    udp = struct.pack("!HHHH", int(sys.argv[2]), pport, 8 + len(data), 0) + data
    if mode != "zero":
        c = csum(src + dst + struct.pack("!BBH", 0, 17, len(udp)) + udp) or 0xffff
        udp = udp[:6] + struct.pack("!H", c) + udp[8:]
    ident = random.randrange(1, 65536)
    pieces = [udp[i:i + 1000] for i in range(0, len(udp), 1000)]
    idx = [int(x) for x in order.split(",")]
    for n, i in enumerate(idx):
        if n == len(idx) - 1 and int(delay):
            time.sleep(int(delay) / 1000)
        more = 0x2000 if i < len(pieces) - 1 else 0
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(pieces[i]), ident,
                          more | (i * 1000 // 8), 64, 17, 0, src, dst)
        r.sendto(hdr + pieces[i], (peer, 0))
"#;

/// IPv6 client of `FRAG_SERVER`: `ADDR6 PORT SIZE ORDER DELAY_MS CSUM WAIT_S`. Prints
/// `ok` when the answer arrives whole and right, `timeout` when none does.
const FRAG_CLIENT: &str = r#"
import socket, sys
host, port, size, order, delay, mode, wait = sys.argv[1:8]
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(float(wait))
s.sendto(" ".join([size, order, delay, mode]).encode(), (host, int(port)))
try:
    d, _ = s.recvfrom(65535)
except socket.timeout:
    print("timeout"); sys.exit(0)
want = bytes(i % 251 for i in range(int(size)))
print("ok" if d == want else "WRONG %d bytes" % len(d))
"#;

/// IPv6 first fragments with random Identifications that are never completed, as fast as
/// a raw socket sends them, for `SECONDS`: `SRC6 DST6 SECONDS`.
const FRAG_FLOOD: &str = r#"
import os, socket, struct, sys, time
src, dst, secs = socket.inet_pton(socket.AF_INET6, sys.argv[1]), socket.inet_pton(socket.AF_INET6, sys.argv[2]), float(sys.argv[3])
r = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
body = struct.pack("!HHHH", 40000, 9, 3008, 0) + os.urandom(1224)
n, end = 0, time.time() + secs
while time.time() < end:
    fh = struct.pack("!BBHI", 17, 0, 1, int.from_bytes(os.urandom(4), "big"))
    pkt = struct.pack("!IHBB16s16s", 6 << 28, len(fh) + len(body), 44, 64, src, dst) + fh + body
    try:
        r.sendto(pkt, (sys.argv[2], 0))
        n += 1
    except OSError:
        pass
print("sent", n)
"#;

fn frag_server(lab: &mut Lab) {
    lab.spawn(
        Node::Srv,
        "frag-server",
        &["python3", "-c", FRAG_SERVER, addr::SRV4, "7100"],
    )
    .unwrap();
    lab.wait_listening(Node::Srv, "udp", 7100).unwrap();
}

/// Asks `FRAG_SERVER` for `size` bytes in fragments sent in `order`; the client's answer.
fn ask(lab: &Lab, node: Node, size: usize, order: &str, delay_ms: u32, mode: &str) -> String {
    let (size, delay) = (size.to_string(), delay_ms.to_string());
    let argv = [
        "python3",
        "-c",
        FRAG_CLIENT,
        addr::SRV6,
        "7100",
        &size,
        order,
        &delay,
        mode,
        "5",
    ];
    run_ok_within(lab, node, 20, &argv)
        .stdout
        .trim()
        .to_string()
}

/// RFC 6146 §3.4, on two workers (the fragments of one datagram meet at one worker,
/// whichever queues the kernel puts them on): `ping -s 3000` from the IPv6 client, whose
/// request and reply are both fragmented, and UDP datagrams of 1 to 8 000 bytes echoed
/// byte for byte.
#[test]
fn rfc6146_s3_4_large_pings_and_udp_echo_on_two_workers() {
    let mut lab = nat64_lab(&["--workers", "2"]);
    let out = run_ok(
        &lab,
        Node::Cli,
        &[
            "ping",
            "-n",
            "-c",
            "3",
            "-i",
            "0.2",
            "-w",
            "10",
            "-s",
            "3000",
            addr::SRV6,
        ],
    );
    assert!(out.stdout.contains("3 received"), "{}", out.stdout);
    lab.spawn(
        Node::Srv,
        "udp-echo",
        &["python3", "-c", UDP_ECHO_SERVER, addr::SRV4, "7007"],
    )
    .unwrap();
    lab.wait_listening(Node::Srv, "udp", 7007).unwrap();
    let sizes = "1,8,100,1232,1452,1453,1472,1473,2000,4000,8000";
    run_ok(
        &lab,
        Node::Cli,
        &["python3", "-c", UDP_ECHO_CLIENT, addr::SRV6, "7007", sizes],
    );
    let c = finish(&mut lab);
    assert!(counter(&c, "nat64_fragments_reassembled") >= 6, "{c:?}");
    assert_eq!(counter(&c, "nat64_fragment"), 0, "{c:?}");
}

/// RFC 6146 §3.4: IPv4 fragments that arrive out of order, the first one last, within
/// `fragment-timeout` make the datagram; one whose last fragment comes after it does
/// not, and its fragments are counted as timed out.
#[test]
fn rfc6146_s3_4_out_of_order_fragments_and_the_timeout() {
    let mut lab = nat64_lab(&["--workers", "2", "--fragment-timeout", "2"]);
    frag_server(&mut lab);
    assert_eq!(ask(&lab, Node::Cli, 2500, "0,1,2", 0, "sum"), "ok");
    assert_eq!(ask(&lab, Node::Cli, 2500, "2,1,0", 0, "sum"), "ok");
    assert_eq!(ask(&lab, Node::Cli, 2500, "1,2,0", 300, "sum"), "ok");
    assert_eq!(ask(&lab, Node::Cli, 2500, "0,1,2", 3000, "sum"), "timeout");
    let c = finish(&mut lab);
    assert!(counter(&c, "fragment_timeout") >= 2, "{c:?}");
}

/// RFC 6146 §3.4: a server that sends UDP with checksum 0 is reached from IPv6; the
/// translator computes the checksum, for a whole datagram and for a fragmented one.
#[test]
fn rfc6146_s3_4_udp_checksum_zero_from_the_server() {
    let mut lab = nat64_lab(&[]);
    frag_server(&mut lab);
    assert_eq!(ask(&lab, Node::Cli, 500, "0", 0, "zero"), "ok");
    assert_eq!(ask(&lab, Node::Cli, 2500, "2,0,1", 0, "zero"), "ok");
    let c = finish(&mut lab);
    assert!(counter(&c, "udp_checksum_computed") >= 2, "{c:?}");
    assert_eq!(counter(&c, "udp_checksum_zero"), 0, "{c:?}");
}

/// RFC 6146 §3.4 (resources limited against denial of service): while one client
/// floods the translator with first fragments that never complete, other flows keep
/// working: pings, and fragmented answers from the IPv4 side (another source, with its
/// own share of the fragment table). The flood is held within its share and dropped.
#[test]
fn rfc6146_s3_4_fragment_flood_leaves_other_flows_working() {
    let mut lab = nat64_lab(&["--workers", "2", "--max-fragments", "512"]);
    frag_server(&mut lab);
    let flood = lab
        .spawn(
            Node::Cli,
            "frag-flood",
            &["python3", "-c", FRAG_FLOOD, addr::CLI6, addr::SRV6, "4"],
        )
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    ping(&lab, Node::Cli2, addr::SRV6, 3);
    // The flood also loads the TUN queue and both CPUs, where anything may be lost:
    // like any UDP application, the client asks again.
    for _ in 0..3 {
        let ok = (0..3).any(|_| ask(&lab, Node::Cli2, 3000, "0,1,2,3", 0, "sum") == "ok");
        assert!(ok, "no answer in three tries during the flood");
    }
    lab.wait_for_output(flood, "sent", std::time::Duration::from_secs(20))
        .unwrap();
    let c = finish(&mut lab);
    let limited = counter(&c, "fragment_source_limit") + counter(&c, "fragment_limit");
    assert!(limited > 0, "the flood never hit a limit: {c:?}");
    assert!(counter(&c, "nat64_fragments_reassembled") >= 3, "{c:?}");
}

/// RFC 6146 §3.4 with a real application: a DNS answer of about 3 000 bytes (TXT),
/// larger than the server's MTU, comes back over UDP in IPv4 fragments and reaches the
/// IPv6 client complete, without truncation and without falling back to TCP.
#[test]
fn rfc6146_s3_4_large_dns_answer_over_udp() {
    let mut lab = nat64_lab(&["--workers", "2"]);
    let chunk = "x".repeat(250);
    let txt = format!(
        "--txt-record=big.example.test,{}",
        [chunk.as_str(); 12].join(",")
    );
    let listen = format!("--listen-address={}", addr::SRV4);
    let pid = lab
        .dir()
        .join("dnsmasq-big.pid")
        .to_string_lossy()
        .into_owned();
    let pid_flag = format!("--pid-file={pid}");
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
            &txt,
            "--edns-packet-max=4096",
            &pid_flag,
            "--user=root",
            "--log-facility=-",
        ],
    )
    .unwrap();
    lab.wait_listening(Node::Srv, "udp", 53).unwrap();
    let server = format!("@{}", addr::SRV6);
    let out = run_ok_within(
        &lab,
        Node::Cli,
        20,
        &[
            "dig",
            &server,
            "+notcp",
            "+ignore",
            "+bufsize=4096",
            "+time=2",
            "+tries=3",
            "big.example.test",
            "TXT",
        ],
    );
    assert!(out.stdout.contains("status: NOERROR"), "{}", out.stdout);
    assert!(!out.stdout.contains(" tc "), "truncated: {}", out.stdout);
    assert_eq!(out.stdout.matches(&chunk).count(), 12, "{}", out.stdout);
    let c = finish(&mut lab);
    assert!(counter(&c, "nat64_fragments_reassembled") >= 1, "{c:?}");
}
