//! Rate limits on the ICMP errors the translator originates (RFC 4443 §2.4(f), RFC 1812
//! §4.3.2.8): a flood of packets whose hop limit or TTL expires in the translator draws
//! at most a bucket's burst plus its rate times the flood's duration of Time Exceeded,
//! and the translator counts the rest as `icmp_errors_rate_limited`.

use super::*;
use crate::lab::addr;

/// Sends `N` UDP datagrams with hop limit (TTL) `HOPS` to `DST PORT`, paced evenly over
/// `SECONDS`, and counts the ICMP Time Exceeded (code 0) that arrive from `FROM` on a raw
/// socket until a second after the last one. Prints `sent N received M seconds S`, S the
/// time the sending took.
const FLOOD: &str = r#"
import select, socket, sys, time
dst, port, n, hops, secs, src = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
v6 = ":" in dst
if v6:
    raw = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    udp = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    udp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, hops)
else:
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, hops)
raw.setblocking(False)
got = 0
def drain():
    global got
    while True:
        try:
            d, a = raw.recvfrom(2048)
        except BlockingIOError:
            return
        if not v6:
            d = d[(d[0] & 15) * 4:]
        # ICMPv6 Time Exceeded is type 3, ICMPv4 type 11; code 0: in transit.
        if a[0] == src and len(d) > 1 and d[0] == (3 if v6 else 11) and d[1] == 0:
            got += 1
t0 = time.monotonic()
for i in range(n):
    udp.sendto(b"rate-limit probe", (dst, port))
    target = t0 + (i + 1) * secs / n
    while True:
        drain()
        now = time.monotonic()
        if now >= target:
            break
        select.select([raw], [], [], target - now)
t1 = time.monotonic()
while time.monotonic() < t1 + 1.0:
    select.select([raw], [], [], 0.05)
    drain()
print("sent %d received %d seconds %.3f" % (n, got, t1 - t0), flush=True)
"#;

/// What the flood script saw.
struct Flood {
    sent: u64,
    received: u64,
    seconds: f64,
}

/// Runs [`FLOOD`] in `node`: `n` datagrams to `dst` over about a second.
fn flood(lab: &Lab, node: Node, dst: &str, hops: &str, n: u64, from: &str) -> Flood {
    let n = n.to_string();
    let out = run_ok_within(
        lab,
        node,
        60,
        &["python3", "-c", FLOOD, dst, "9", &n, hops, "1.0", from],
    );
    let words: Vec<&str> = out.stdout.split_whitespace().collect();
    let [_, sent, _, received, _, seconds] = words[..] else {
        panic!("unexpected flood output: {out:?}");
    };
    let f = Flood {
        sent: sent.parse().unwrap(),
        received: received.parse().unwrap(),
        seconds: seconds.parse().unwrap(),
    };
    println!(
        "flood: {} sent in {:.3} s, {} Time Exceeded received",
        f.sent, f.seconds, f.received
    );
    f
}

/// The most errors a bucket of `burst` refilled at `rate`/s lets out while the flood
/// lasts, with a second of margin for packets still queued towards the translator.
fn bound(burst: u64, rate: u64, seconds: f64) -> u64 {
    burst + (rate as f64 * (seconds + 1.0)).ceil() as u64
}

fn count(c: &BTreeMap<String, u64>, name: &str) -> u64 {
    c.get(name).copied().unwrap_or(0)
}

/// Checks the translator's counters against the flood: every expired packet was
/// dropped with one error built, which was either sent or rate-limited, and at most
/// `limit` were sent.
fn check_counters(c: &BTreeMap<String, u64>, f: &Flood, reason: &str, limit: u64) {
    let expired = count(c, reason);
    let sent = count(c, "icmp_errors_sent");
    let limited = count(c, "icmp_errors_rate_limited");
    assert!(
        expired >= f.sent * 9 / 10,
        "{expired} {reason} of {} sent: {c:?}",
        f.sent
    );
    assert_eq!(sent + limited, expired, "{c:?}");
    assert!(
        sent <= limit,
        "{sent} errors sent, at most {limit} allowed: {c:?}"
    );
    assert!(f.received <= sent, "{} received, {sent} sent", f.received);
    assert!(limited >= expired - limit, "{c:?}");
}

/// RFC 4443 §2.4(f): "an IPv6 node MUST limit the rate of ICMPv6 error messages it
/// originates", with "a token bucket, limiting the average rate of transmission to N
/// ... but allowing up to B error messages to be transmitted in a burst"; "The
/// rate-limiting parameters SHOULD be configurable." 5000 datagrams with hop limit 2
/// in a second (RFC 7915 §5.1: the hop limit expires in the translator) against
/// `--icmp-error-rate 200 --icmp-error-burst 20` (no per-destination limit): at most
/// 20 + 200 × (duration + 1 s) Time Exceeded, at least the burst, the rest counted.
#[test]
fn rfc4443_s2_4_f_time_exceeded_flood_is_limited_to_burst_plus_rate() {
    if using_tayga() {
        return;
    }
    let mut lab = lab_with_translator(&[
        "--workers",
        "1",
        "--icmp-error-rate",
        "200",
        "--icmp-error-burst",
        "20",
        "--icmp-error-destination-rate",
        "0",
    ]);
    ping(&lab, Node::Cli, addr::SRV6, 1);
    let f = flood(&lab, Node::Cli, addr::SRV6, "2", 5000, addr::XLAT_IPV6);
    let limit = bound(20, 200, f.seconds);
    assert!(f.received <= limit, "{} > {limit}", f.received);
    // The burst at once, then about 200/s while the flood lasts.
    let floor = 20 + (100.0 * f.seconds) as u64;
    assert!(f.received >= floor, "{} < {floor}", f.received);
    let c = finish(&mut lab);
    check_counters(&c, &f, "ipv6_hop_limit_exceeded", limit);
}

/// With the default limits, one client flooding is held to its destination /64's
/// share (`icmp-error-destination-rate` 10/s in bursts of 10), and a second later a
/// single probe gets its Time Exceeded again: ping and traceroute keep working.
#[test]
fn default_limits_hold_one_destination_to_its_share_and_recover() {
    if using_tayga() {
        return;
    }
    let mut lab = lab_with_translator(&["--workers", "1"]);
    ping(&lab, Node::Cli, addr::SRV6, 1);
    let f = flood(&lab, Node::Cli, addr::SRV6, "2", 5000, addr::XLAT_IPV6);
    let limit = bound(10, 10, f.seconds);
    assert!(f.received <= limit, "{} > {limit}", f.received);
    assert!(f.received >= 10, "{}", f.received);
    // The flood script waited a second after its last datagram: 10 tokens back.
    let out = lab
        .run(
            Node::Cli,
            &["ping", "-n", "-c", "1", "-W", "2", "-t", "2", addr::SRV6],
        )
        .unwrap();
    assert!(
        out.stdout.contains(&format!("From {} ", addr::XLAT_IPV6))
            && out.stdout.contains("Time exceeded"),
        "{out:?}"
    );
    let c = finish(&mut lab);
    check_counters(&c, &f, "ipv6_hop_limit_exceeded", limit + 1);
}

/// A NAT64 pool4 scan with expiring TTLs (3: the IPv4 router and the translator box
/// each take one, RFC 7915 §4.1 the last) from the IPv4 server, without
/// `icmp-on-refusal`: the ports have no binding, so the translator sends no Time
/// Exceeded at all (a pool4 scan must not turn it into an ICMP source); the packets are
/// counted as `ipv4_ttl_exceeded` and nothing is rate-limited because nothing is sent.
#[test]
fn pool4_scan_with_expiring_ttl_draws_no_errors() {
    if using_tayga() {
        return;
    }
    let mut lab = super::nat64::nat64_lab(&["--workers", "1"]);
    let f = flood(&lab, Node::Srv, "203.0.113.20", "3", 3000, addr::XLAT_IPV4);
    assert_eq!(f.received, 0, "Time Exceeded for unmapped pool4 ports");
    let c = finish(&mut lab);
    assert!(count(&c, "ipv4_ttl_exceeded") >= 2900, "{c:?}");
    assert_eq!(count(&c, "icmp_errors_sent"), 0, "{c:?}");
    assert_eq!(count(&c, "icmp_errors_rate_limited"), 0, "{c:?}");
}
