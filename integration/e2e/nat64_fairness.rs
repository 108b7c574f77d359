//! NAT64 with a small pool: one subscriber flooding new UDP flows must not take the
//! pool4 ports of the other subscribers of its worker (the default per-subscriber
//! limits follow one worker's share).

use super::*;
use crate::lab::addr;

/// One address, 1024 ports, two workers: 512 ports per worker and protocol.
const POOL4: &str = "203.0.113.16/32";
const PORTS: &str = "1024-2047";
/// Worker 0's UDP slice is 1024-1535, worker 1's 1536-2047.
const SLICE: u16 = 512;

/// Innocent subscribers: cli2 gets one address in each of this many /64s of
/// 2001:db8:100::/56 (cli and cli2 share 2001:db8:1::/64, one subscriber).
const INNOCENTS: usize = 16;

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

/// UDP flood: `SERVER6 PORT SECONDS`. A new flow every half millisecond or so (a new
/// socket on the next source port), one datagram each, for SECONDS.
const UDP_FLOOD: &str = r#"
import socket, sys, time
end = time.time() + float(sys.argv[3])
i = 0
while time.time() < end:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("::", 10000 + i % 50000))
    s.sendto(b"flood", (sys.argv[1], int(sys.argv[2])))
    s.close()
    i += 1
    if i % 100 == 0:
        time.sleep(0.05)
print("flows %d" % i, flush=True)
"#;

/// UDP echo from each innocent address: `SERVER6 PORT N`; prints `ok I` or `fail I`.
const PROBES: &str = r#"
import socket, sys
server, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(n):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("2001:db8:100:%x::3" % i, 0))
    s.settimeout(0.5)
    want = b"probe-%d" % i
    ok = False
    for _ in range(6):
        s.sendto(want, (server, port))
        try:
            ok = s.recvfrom(2048)[0] == want
        except socket.timeout:
            continue
        if ok:
            break
    print("%s %d" % ("ok" if ok else "fail", i), flush=True)
"#;

/// The pool4 ports the server saw for datagrams whose payload is `what`.
fn ports_of(server_out: &str, what: &str) -> Vec<u16> {
    server_out
        .lines()
        .filter(|l| l.ends_with(&format!(" {what}")))
        .filter_map(|l| {
            l.split_whitespace()
                .nth(1)?
                .rsplit(':')
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

fn worker_of(port: u16) -> u16 {
    (port - 1024) / SLICE
}

/// RFC 6146 §3.5.1.1 lets the NAT64 refuse new sessions when it has no room; it must
/// not run out of room for everyone because of one subscriber. With a 512-port slice
/// per worker the defaults are 64 sessions per subscriber and 32 per address: `cli`
/// floods new UDP flows and is held to 32 of its worker's ports, while 16 other
/// subscribers (some of them on the flooder's worker) each complete a UDP echo during
/// the flood, and no worker runs out of ports.
#[test]
fn rfc6146_s3_5_1_1_flooding_subscriber_leaves_its_workers_ports_to_the_others() {
    require_root();
    if using_tayga() {
        println!("skipped under TAYGA: stateless, no pool4");
        return;
    }
    let mut lab = Lab::new().unwrap();
    let xlat = lab
        .start_translator(&Translator::xlat64(
            xlat64_bin(),
            &[
                "--mode",
                "nat64",
                "--pool4",
                POOL4,
                "--pool4-ports",
                PORTS,
                "--workers",
                "2",
            ],
        ))
        .unwrap();
    lab.ip(Node::Xlt, &format!("route replace {POOL4} dev xlat64"))
        .unwrap();
    lab.ip(
        Node::Xlt,
        &format!("-6 route add 2001:db8:100::/56 via {}", addr::CLI2_6),
    )
    .unwrap();
    for i in 0..INNOCENTS {
        lab.ip(
            Node::Cli2,
            &format!("addr add 2001:db8:100:{i:x}::3/128 dev eth0 nodad"),
        )
        .unwrap();
    }
    let (_, log) = lab.output(xlat);
    assert!(
        log.contains(
            "nat64 limits: max-sessions-per-subscriber = 64, max-sessions-per-address = 32"
        ),
        "{log}"
    );

    let server = lab
        .spawn(
            Node::Srv,
            "echo",
            &["python3", "-c", ECHO_PEERS, addr::SRV4, "7090"],
        )
        .unwrap();
    lab.wait_listening(Node::Srv, "udp", 7090).unwrap();
    let flood = lab
        .spawn(
            Node::Cli,
            "flood",
            &["python3", "-c", UDP_FLOOD, addr::SRV6, "7090", "20"],
        )
        .unwrap();
    lab.wait_for_output(server, " flood", Duration::from_secs(10))
        .unwrap();
    // Long enough for the flood to have filled a 512-port slice many times over.
    std::thread::sleep(Duration::from_secs(2));

    let probes = run_ok_within(
        &lab,
        Node::Cli2,
        120,
        &[
            "python3",
            "-c",
            PROBES,
            addr::SRV6,
            "7090",
            &INNOCENTS.to_string(),
        ],
    );
    let failed: Vec<&str> = probes
        .stdout
        .lines()
        .filter(|l| !l.starts_with("ok "))
        .collect();
    assert!(
        failed.is_empty() && probes.stdout.lines().count() == INNOCENTS,
        "innocent subscribers lost UDP during the flood: {}",
        probes.stdout
    );
    assert!(lab.alive(flood), "the flood ended before the probes did");

    let (seen, _) = lab.output(server);
    let flooder = ports_of(&seen, "flood");
    let worker = worker_of(flooder[0]);
    assert!(
        flooder.iter().all(|&p| worker_of(p) == worker),
        "one subscriber, one worker: {flooder:?}"
    );
    assert!(
        flooder.len() <= 32,
        "{} flows of the flooder got through (limit 32 per address)",
        flooder.len()
    );
    let neighbours = (0..INNOCENTS)
        .filter(|i| {
            ports_of(&seen, &format!("probe-{i}"))
                .first()
                .is_some_and(|&p| worker_of(p) == worker)
        })
        .count();
    println!(
        "flooder on worker {worker} ({} flows through); {neighbours} of {INNOCENTS} innocents \
         on the same worker",
        flooder.len()
    );
    assert!(
        neighbours > 0,
        "no innocent subscriber landed on the flooder's worker (1 chance in 65536)"
    );
    lab.kill(flood);
    let c = finish(&mut lab);
    let counter = |name: &str| c.get(name).copied().unwrap_or(0);
    assert!(counter("nat64_subscriber_limit") > 100, "{c:?}");
    assert_eq!(counter("nat64_pool_exhausted"), 0, "{c:?}");
}
