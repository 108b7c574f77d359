//! Stateful NAT64 (RFC 6146) end to end: `--mode nat64` with pool4 203.0.113.16/28,
//! on the default workers (one per core). The lab routes the EAM prefix and 203.0.113.1 into the TUN; pool4 is
//! routed here.

use super::scripts::{TCP_SINK, TCP_UPLOAD};
use super::*;
use crate::lab::addr;

const POOL4: &str = "203.0.113.16/28";

/// UDP server: `ADDR PORT N`. Echoes N datagrams and prints each sender `ip:port`.
const UDP_PEERS: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
for _ in range(int(sys.argv[3])):
    d, a = s.recvfrom(2048)
    print("peer %s:%d" % a, flush=True)
    s.sendto(d, a)
"#;

/// UDP client: `ADDR6 PORT SPORT`. Sends from source port SPORT until the echo arrives.
const UDP_FROM_PORT: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::", int(sys.argv[3])))
s.settimeout(1)
for _ in range(5):
    s.sendto(b"hello", (sys.argv[1], int(sys.argv[2])))
    try:
        d, _ = s.recvfrom(2048)
        sys.exit(0 if d == b"hello" else 1)
    except socket.timeout:
        pass
sys.exit(1)
"#;

/// A lab with xlat64 in nat64 mode on `POOL4`, routed into the TUN (shared with nat64_apps).
pub(super) fn nat64_lab(extra: &[&str]) -> Lab {
    require_root();
    let mut args = vec!["--mode", "nat64", "--pool4", POOL4];
    args.extend_from_slice(extra);
    let mut lab = Lab::new().unwrap();
    if using_xdp() {
        args.extend(xdp_args(&lab, extra));
    }
    lab.start_translator(&Translator::xlat64(xlat64_bin(), &args))
        .unwrap();
    if !using_xdp() {
        lab.ip(Node::Xlt, &format!("route replace {POOL4} dev xlat64"))
            .unwrap();
    }
    lab
}

fn in_pool4(a: &str) -> bool {
    a.parse::<std::net::Ipv4Addr>()
        .is_ok_and(|a| a.octets()[..3] == [203, 0, 113] && (16..32).contains(&a.octets()[3]))
}

/// RFC 6146 §3.5.3 (ICMP echo through a session), §3.5.2 (TCP), §3.5.4 (pool6
/// destination); IPv4 packets to pool4 with no mapping are dropped (§3.5.1: no BIB
/// entry, no translation) and counted.
#[test]
fn rfc6146_s3_5_ping_tcp_and_unsolicited_ipv4() {
    let mut lab = nat64_lab(&[]);
    let out = ping(&lab, Node::Cli, addr::SRV6, 3);
    assert!(
        out.stdout.contains(&format!("from {}", addr::SRV6)),
        "{}",
        out.stdout
    );
    lab.spawn(
        Node::Srv,
        "tcp-sink",
        &["python3", "-c", TCP_SINK, addr::SRV4, "7010"],
    )
    .unwrap();
    lab.wait_listening(Node::Srv, "tcp", 7010).unwrap();
    run_ok_within(
        &lab,
        Node::Cli,
        60,
        &["python3", "-c", TCP_UPLOAD, addr::SRV6, "7010", "1000000"],
    );
    // Nobody behind the translator asked for this: no mapping, dropped.
    let _ = lab.run(
        Node::Srv,
        &[
            "ping",
            "-n",
            "-c",
            "2",
            "-i",
            "0.2",
            "-W",
            "1",
            "203.0.113.20",
        ],
    );
    let c = finish(&mut lab);
    assert!(
        c.get("translated_v6_to_v4").copied().unwrap_or(0) >= 3,
        "{c:?}"
    );
    assert!(
        c.get("nat64_no_mapping").copied().unwrap_or(0) >= 2,
        "{c:?}"
    );
    assert!(c.get("nat64_sessions").copied().unwrap_or(0) >= 2, "{c:?}");
}

/// RFC 6146 §3.5.1 / RFC 4787 REQ-1: two clients using the same UDP source port get
/// distinct IPv4 transport addresses, and both get their replies.
#[test]
fn rfc6146_s3_5_1_two_clients_same_source_port() {
    let mut lab = nat64_lab(&[]);
    let srv = lab
        .spawn(
            Node::Srv,
            "udp-peers",
            &["python3", "-c", UDP_PEERS, addr::SRV4, "7011", "2"],
        )
        .unwrap();
    lab.wait_listening(Node::Srv, "udp", 7011).unwrap();
    for node in [Node::Cli, Node::Cli2] {
        run_ok_within(
            &lab,
            node,
            20,
            &["python3", "-c", UDP_FROM_PORT, addr::SRV6, "7011", "40000"],
        );
    }
    lab.wait(srv, Duration::from_secs(5));
    let (stdout, _) = lab.output(srv);
    let peers: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("peer "))
        .collect();
    assert_eq!(peers.len(), 2, "{stdout}");
    assert_ne!(peers[0], peers[1], "{stdout}");
    for p in &peers {
        let (ip, _) = p.split_once(':').unwrap();
        assert!(in_pool4(ip), "peer {p} is not in pool4 {POOL4}");
    }
    finish(&mut lab);
}

/// RFC 6146 §3.5.1.1 / RFC 4787 REQ-3 with the default `pool4-ports` (1-65535), on two
/// workers: a flow from a well-known source port (123) keeps a well-known pool4 port,
/// one from a high port (40000) gets a high one; both keep their parity (REQ-4).
#[test]
fn rfc6146_s3_5_1_1_well_known_source_ports_stay_well_known() {
    if using_xdp() {
        println!("skipped over XDP: the lab's veths have one queue, so one worker");
        return;
    }
    let mut lab = nat64_lab(&["--workers", "2"]);
    let srv = lab
        .spawn(
            Node::Srv,
            "udp-peers",
            &["python3", "-c", UDP_PEERS, addr::SRV4, "7012", "2"],
        )
        .unwrap();
    lab.wait_listening(Node::Srv, "udp", 7012).unwrap();
    for sport in ["123", "40000"] {
        let argv = ["python3", "-c", UDP_FROM_PORT, addr::SRV6, "7012", sport];
        run_ok_within(&lab, Node::Cli, 20, &argv);
    }
    lab.wait(srv, Duration::from_secs(5));
    let (stdout, _) = lab.output(srv);
    let ports: Vec<u16> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("peer "))
        .filter_map(|p| p.rsplit_once(':')?.1.parse().ok())
        .collect();
    assert_eq!(ports.len(), 2, "{stdout}");
    assert!(ports[0] < 1024 && ports[0] % 2 == 1, "{stdout}");
    assert!(ports[1] >= 1024 && ports[1].is_multiple_of(2), "{stdout}");
    finish(&mut lab);
}

/// RFC 6146 §3.5.3: an ICMP query session expires after ICMP_DEFAULT (here 2 s) even
/// without traffic (the idle worker's timer sweeps it).
#[test]
fn rfc6146_s3_5_3_icmp_session_expires() {
    let mut lab = nat64_lab(&["--icmp-timeout", "2"]);
    ping(&lab, Node::Cli, addr::SRV6, 1);
    std::thread::sleep(Duration::from_secs(5));
    let c = finish(&mut lab);
    assert_eq!(c.get("nat64_sessions").copied(), Some(0), "{c:?}");
    assert!(
        c.get("translated_v4_to_v6").copied().unwrap_or(0) >= 1,
        "{c:?}"
    );
}

/// UDP client: `ADDR6 PORT N`. Sends one datagram from each of N sockets (N source
/// ports, so N flows) and waits until every one has its echo; exit 0 if all came back.
const UDP_MANY_FLOWS: &str = r#"
import socket, sys, select, time
n = int(sys.argv[3])
socks = [socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) for _ in range(n)]
left = set(range(n))
deadline = time.time() + 20
while left and time.time() < deadline:
    for i in left:
        socks[i].sendto(b"flow%d" % i, (sys.argv[1], int(sys.argv[2])))
    end = time.time() + 1
    while left and time.time() < end:
        r, _, _ = select.select([socks[i] for i in left], [], [], 0.2)
        for s in r:
            d, _ = s.recvfrom(2048)
            left.discard(socks.index(s))
print("missing", len(left))
sys.exit(1 if left else 0)
"#;

/// Two workers, each owning a shard of the state and a slice of pool4's ports
/// (RFC 6146 §3.5.1.1 port allocation per slice): flows the kernel delivers on the
/// other worker's queue are handed to their owner, in both directions, and all of them
/// work: 48 UDP flows from two clients, ping, and a TCP upload.
#[test]
fn rfc6146_two_workers_hand_packets_to_the_owner() {
    if using_xdp() {
        println!("skipped over XDP: the lab's veths have one queue, so one worker");
        return;
    }
    let mut lab = nat64_lab(&["--workers", "2"]);
    lab.spawn(
        Node::Srv,
        "udp-echo",
        &[
            "python3",
            "-u",
            "-c",
            UDP_PEERS,
            addr::SRV4,
            "7020",
            "100000",
        ],
    )
    .unwrap();
    lab.wait_listening(Node::Srv, "udp", 7020).unwrap();
    for node in [Node::Cli, Node::Cli2] {
        run_ok_within(
            &lab,
            node,
            30,
            &["python3", "-c", UDP_MANY_FLOWS, addr::SRV6, "7020", "24"],
        );
    }
    let out = ping(&lab, Node::Cli, addr::SRV6, 3);
    assert!(out.stdout.contains(" 0% packet loss"), "{}", out.stdout);
    lab.spawn(
        Node::Srv,
        "tcp-sink",
        &["python3", "-c", TCP_SINK, addr::SRV4, "7021"],
    )
    .unwrap();
    lab.wait_listening(Node::Srv, "tcp", 7021).unwrap();
    run_ok_within(
        &lab,
        Node::Cli,
        60,
        &["python3", "-c", TCP_UPLOAD, addr::SRV6, "7021", "1000000"],
    );
    // Let both workers' 1 s ticks refresh the session gauges.
    std::thread::sleep(Duration::from_secs(2));
    let c = finish(&mut lab);
    let get = |k: &str| c.get(k).copied().unwrap_or(0);
    // The kernel puts every packet on its owner's queue (TUNSETSTEERINGEBPF): nothing
    // to hand over. Without the steering, 48 flows over two queues all landing on the
    // owner's queue has odds of 2^-48 (the log says when steering is off).
    assert_eq!(get("nat64_handed_off"), 0, "{c:?}");
    assert_eq!(get("nat64_handoff_full"), 0, "{c:?}");
    assert!(get("nat64_sessions") >= 49, "{c:?}");
}
