//! Stateful NAT64 (RFC 6146) towards IPv6 servers and unsolicited IPv4 traffic: static
//! BIB entries from the configuration, the IPv4 SYN held for a simultaneous open and then
//! refused with ICMP port unreachable, and the optional ICMP "administratively
//! prohibited" for IPv4 packets with no mapping. One worker, pool4 203.0.113.16/28, as in
//! `nat64.rs`; the translator answers `xlat64 stats` / `sessions` on a socket in the lab
//! directory (never the shared default path).

use super::*;
use crate::lab::addr;
use std::path::Path;

const POOL4: &str = "203.0.113.16/28";

/// A NAT64 lab (pool4 routed into the TUN) whose translator listens on a control socket
/// in the lab directory; returns the lab and the socket path.
fn nat64_lab_with_control(extra: &[&str]) -> (Lab, String) {
    require_root();
    let mut lab = Lab::new().unwrap();
    let sock = lab.dir().join("ctl.sock").to_string_lossy().into_owned();
    let mut args = vec![
        "--mode",
        "nat64",
        "--pool4",
        POOL4,
        "--control-socket",
        sock.as_str(),
    ];
    args.extend_from_slice(extra);
    lab.start_translator(&Translator::xlat64(xlat64_bin(), &args))
        .unwrap();
    lab.ip(Node::Xlt, &format!("route replace {POOL4} dev xlat64"))
        .unwrap();
    for _ in 0..100 {
        if Path::new(&sock).exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (lab, sock)
}

/// `xlat64 ARGS --control-socket SOCK` in the translator's namespace; must exit 0.
fn ask_ok(lab: &Lab, sock: &str, args: &[&str]) -> String {
    let bin = xlat64_bin().to_string_lossy().into_owned();
    let mut argv = vec![bin.as_str()];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["--control-socket", sock]);
    run_ok(lab, Node::Xlt, &argv).stdout
}

/// Counter or drop reason `name` in `xlat64 stats --json` output; panics when the
/// answer is not JSON or has no such key.
fn json_count(json: &str, name: &str) -> u64 {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    v["counters"][name]
        .as_u64()
        .or_else(|| v["drops"][name].as_u64())
        .unwrap_or_else(|| panic!("no counter or drop reason {name} in {json}"))
}

/// IPv6 HTTP server: `ADDR6 PORT`; answers every GET with "static ok".
pub(super) const HTTP6_SERVER: &str = r#"
import http.server, socket, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"static ok\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
class S(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
S((sys.argv[1], int(sys.argv[2])), H).serve_forever()
"#;

/// IPv6 UDP echo server: `ADDR6 PORT`.
const UDP6_ECHO: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    d, a = s.recvfrom(2048)
    s.sendto(d, a)
"#;

/// IPv4 UDP client: `ADDR PORT`. Sends until the echo arrives; prints `echo from IP:PORT`.
const UDP4_ASK: &str = r#"
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1)
for _ in range(5):
    s.sendto(b"static", (sys.argv[1], int(sys.argv[2])))
    try:
        d, a = s.recvfrom(2048)
    except socket.timeout:
        continue
    if d == b"static":
        print("echo from %s:%d" % a, flush=True)
        sys.exit(0)
sys.exit("no echo")
"#;

/// RFC 6146 §3.1 static BIB entries: an IPv4 host reaches IPv6 servers through a pool4
/// address:port the operator configured (TCP: curl to an HTTP server; UDP: an echo that
/// comes back from the same pool4 transport address), and `xlat64 sessions` shows the
/// sessions as static.
#[test]
fn rfc6146_s3_1_static_bib_forwards_ipv4_initiated_tcp_and_udp() {
    if using_tayga() {
        return;
    }
    let tcp = format!("tcp 203.0.113.16:8080 [{}]:80", addr::CLI6);
    let udp = format!("udp 203.0.113.17:5353 [{}]:7053", addr::CLI6);
    let (mut lab, sock) = nat64_lab_with_control(&["--static-bib", &tcp, "--static-bib", &udp]);
    lab.spawn(
        Node::Cli,
        "http6",
        &["python3", "-c", HTTP6_SERVER, addr::CLI6, "80"],
    )
    .unwrap();
    lab.spawn(
        Node::Cli,
        "udp6-echo",
        &["python3", "-c", UDP6_ECHO, addr::CLI6, "7053"],
    )
    .unwrap();
    lab.wait_listening(Node::Cli, "tcp", 80).unwrap();
    lab.wait_listening(Node::Cli, "udp", 7053).unwrap();

    let out = run_ok_within(
        &lab,
        Node::Srv,
        30,
        &["curl", "-sS", "-m", "10", "http://203.0.113.16:8080/"],
    );
    assert_eq!(out.stdout.trim(), "static ok", "{out:?}");
    let out = run_ok_within(
        &lab,
        Node::Srv,
        20,
        &["python3", "-c", UDP4_ASK, "203.0.113.17", "5353"],
    );
    assert_eq!(out.stdout.trim(), "echo from 203.0.113.17:5353", "{out:?}");

    let json = ask_ok(&lab, &sock, &["sessions", "--json"]);
    let page: serde_json::Value =
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let rows = page["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("no sessions array in {json}"));
    for (proto, v6, v4) in [
        ("tcp", format!("[{}]:80", addr::CLI6), "203.0.113.16:8080"),
        ("udp", format!("[{}]:7053", addr::CLI6), "203.0.113.17:5353"),
    ] {
        let row = rows
            .iter()
            .find(|r| r["proto"] == proto && r["ipv4"] == v4)
            .unwrap_or_else(|| panic!("no {proto} session on {v4} in {json}"));
        assert_eq!(row["ipv6"], v6.as_str(), "{row}");
        let remote = row["remote"].as_str().unwrap_or("");
        assert!(remote.starts_with(&format!("{}:", addr::SRV4)), "{row}");
        assert_eq!(row["static"], true, "{row}");
    }
    let text = ask_ok(&lab, &sock, &["sessions"]);
    assert!(text.contains("203.0.113.16:8080"), "{text}");
    assert!(text.contains("static"), "{text}");
    let c = finish(&mut lab);
    assert!(
        c.get("translated_v4_to_v6").copied().unwrap_or(0) >= 2,
        "{c:?}"
    );
}

/// IPv4 TCP client: `ADDR PORT`. Connects once (15 s at most) and prints how it ended and
/// after how many seconds: `refused 2.1`, `timeout 15.0`, `connected 0.1`, `error ...`.
const TCP4_CONNECT_TIMED: &str = r#"
import errno, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(15)
t = time.monotonic()
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    how = "connected"
except ConnectionRefusedError:
    how = "refused"
except socket.timeout:
    how = "timeout"
except OSError as e:
    how = "error %s" % errno.errorcode.get(e.errno, e.errno)
print("%s %.1f" % (how, time.monotonic() - t), flush=True)
"#;

/// RFC 6146 §3.5.2.2: an IPv4 SYN to a pool4 address:port with no mapping is held for
/// TCP_INCOMING_SYN (here `--tcp-incoming-syn-timeout 2`) waiting for a simultaneous
/// open, then answered with ICMP port unreachable (3/3), which Linux reports to the
/// connecting socket as "connection refused". Counted as a held SYN and an ICMP error.
#[test]
fn rfc6146_s3_5_2_2_unmapped_ipv4_syn_held_then_port_unreachable() {
    if using_tayga() {
        return;
    }
    let (mut lab, sock) = nat64_lab_with_control(&["--tcp-incoming-syn-timeout", "2"]);
    let out = run_ok_within(
        &lab,
        Node::Srv,
        30,
        &["python3", "-c", TCP4_CONNECT_TIMED, "203.0.113.20", "4000"],
    );
    let line = out.stdout.trim();
    let (how, secs) = line.split_once(' ').unwrap_or((line, ""));
    let secs: f64 = secs.parse().unwrap_or(-1.0);
    println!("IPv4 connect to an unmapped pool4 port: {line}");
    assert_eq!(how, "refused", "{out:?}");
    // Held for the configured 2 s (the worker checks every second, so up to ~3 s), not
    // refused at once and not left to time out.
    assert!(
        (1.5..8.0).contains(&secs),
        "refused after {secs} s: {out:?}"
    );

    let stats = ask_ok(&lab, &sock, &["stats", "--json"]);
    assert!(json_count(&stats, "nat64_held_syn") >= 1, "{stats}");
    assert!(json_count(&stats, "icmp_errors_sent") >= 1, "{stats}");
    finish(&mut lab);
}

/// IPv4 UDP client: `ADDR PORT`. A connected socket sends and waits for an answer; prints
/// `unreachable` when an ICMP error reports EHOSTUNREACH (what Linux makes of 3/13),
/// `silence` when nothing comes back.
const UDP4_EXPECT_UNREACHABLE: &str = r#"
import errno, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((sys.argv[1], int(sys.argv[2])))
s.settimeout(1)
for _ in range(3):
    s.send(b"anyone?")
    try:
        s.recv(2048)
        print("answered", flush=True)
        sys.exit(0)
    except socket.timeout:
        continue
    except OSError as e:
        print("unreachable" if e.errno == errno.EHOSTUNREACH else "error %d" % e.errno, flush=True)
        sys.exit(0)
print("silence", flush=True)
"#;

/// RFC 6146 §3.5.1: an IPv4 packet with no BIB entry is discarded; with
/// `--icmp-on-refusal` the sender gets ICMP destination unreachable, communication
/// administratively prohibited (3/13), which Linux reports as EHOSTUNREACH. Without it the
/// same packet is dropped silently (the default, covered in `nat64.rs`).
#[test]
fn rfc6146_s3_5_1_icmp_on_refusal_answers_unmapped_udp_with_3_13() {
    if using_tayga() {
        return;
    }
    let (mut lab, _sock) = nat64_lab_with_control(&["--icmp-on-refusal"]);
    let out = run_ok_within(
        &lab,
        Node::Srv,
        20,
        &[
            "python3",
            "-c",
            UDP4_EXPECT_UNREACHABLE,
            "203.0.113.20",
            "4001",
        ],
    );
    assert_eq!(out.stdout.trim(), "unreachable", "{out:?}");
    let c = finish(&mut lab);
    assert!(
        c.get("nat64_no_mapping").copied().unwrap_or(0) >= 1,
        "{c:?}"
    );
    assert!(
        c.get("icmp_errors_sent").copied().unwrap_or(0) >= 1,
        "{c:?}"
    );
}

/// `--static-bib` with an IPv4 address outside pool4 is refused at start (exit 2) with a
/// message that names the key and says why.
#[test]
fn static_bib_outside_pool4_is_refused() {
    let out = std::process::Command::new(xlat64_bin())
        .args([
            "run",
            "--mode",
            "nat64",
            "--pool4",
            POOL4,
            "--static-bib",
            "tcp 198.51.100.7:80 [2001:db8:1::2]:80",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid value for 'static-bib'")
            && err.contains("198.51.100.7 is not in pool4 (203.0.113.16/28)"),
        "{err}"
    );
}
