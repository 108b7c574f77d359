//! `xlat64 stats` and `xlat64 sessions` ask a running translator through its control
//! socket (one per lab, in the lab's directory, so labs never share one).

use super::*;
use crate::lab::addr;
use std::path::Path;

const POOL4: &str = "203.0.113.16/28";

/// A lab whose translator (xlat64 only) listens on a control socket in the lab dir.
fn lab_with_control(args: &[&str]) -> (Lab, String) {
    require_root();
    let mut lab = Lab::new().unwrap();
    let sock = lab.dir().join("ctl.sock").to_string_lossy().into_owned();
    let mut all = vec!["--control-socket", sock.as_str()];
    all.extend_from_slice(args);
    lab.start_translator(&Translator::xlat64(xlat64_bin(), &all))
        .unwrap();
    // The socket is bound right after the device and routes are up.
    for _ in 0..100 {
        if Path::new(&sock).exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (lab, sock)
}

/// Runs `xlat64 ARGS --control-socket SOCK` in the translator's namespace.
fn ask(lab: &Lab, sock: &str, args: &[&str]) -> Output {
    let bin = xlat64_bin().to_string_lossy().into_owned();
    let mut argv = vec![bin.as_str()];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["--control-socket", sock, "--tun", "xlat64"]);
    lab.run(Node::Xlt, &argv).unwrap()
}

fn ask_ok(lab: &Lab, sock: &str, args: &[&str]) -> String {
    let out = ask(lab, sock, args);
    assert!(out.success(), "{}", out.failure());
    out.stdout
}

fn in_pool4(a: &str) -> bool {
    a.parse::<std::net::Ipv4Addr>()
        .is_ok_and(|a| a.octets()[..3] == [203, 0, 113] && (16..32).contains(&a.octets()[3]))
}

/// RFC 6146 §3.5.3: the ICMP query session a ping creates shows up with the client's
/// IPv6 address and a pool4 address; stats count the translated packets.
#[test]
fn rfc6146_s3_5_3_sessions_and_stats_over_the_control_socket() {
    if using_tayga() {
        return;
    }
    // Two workers: the sessions answer merges both shards.
    let (mut lab, sock) =
        lab_with_control(&["--mode", "nat64", "--pool4", POOL4, "--workers", "2"]);
    lab.ip(Node::Xlt, &format!("route replace {POOL4} dev xlat64"))
        .unwrap();
    ping(&lab, Node::Cli, addr::SRV6, 3);

    let json = ask_ok(&lab, &sock, &["sessions", "--json"]);
    let v6 = format!("\"ipv6\": \"[{}]:", addr::CLI6);
    let row = json
        .split("}, {")
        .find(|r| r.contains("\"proto\": \"icmp\"") && r.contains(&v6))
        .unwrap_or_else(|| panic!("no ICMP session of {} in {json}", addr::CLI6));
    let v4 = row
        .split("\"ipv4\": \"")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .unwrap_or("");
    assert!(in_pool4(v4), "ipv4 {v4} not in pool4: {row}");
    assert!(
        row.contains(&format!("\"remote\": \"{}\"", addr::SRV4)),
        "{row}"
    );
    assert!(row.contains("\"expires_in_s\": "), "{row}");

    let text = ask_ok(&lab, &sock, &["sessions"]);
    assert!(text.starts_with("PROTO"), "{text}");
    assert!(text.contains(&format!("[{}]:", addr::CLI6)), "{text}");

    let stats = ask_ok(&lab, &sock, &["stats", "--json"]);
    let translated: u64 = stats
        .split("\"translated_v6_to_v4\": ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(translated >= 3, "{stats}");
    assert!(stats.contains("\"drops\": {"), "{stats}");
    assert!(stats.contains("\"workers\": 2}"), "{stats}");

    // Only root may open the socket.
    let bin = xlat64_bin().to_string_lossy().into_owned();
    let out = lab
        .run(
            Node::Xlt,
            &[
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                &bin,
                "stats",
                "--control-socket",
                &sock,
            ],
        )
        .unwrap();
    assert_eq!(out.code, Some(1), "{}", out.failure());
    assert!(
        out.stderr.contains("permission denied") && out.stderr.contains("root"),
        "{}",
        out.stderr
    );

    finish(&mut lab);
    assert!(!Path::new(&sock).exists(), "control socket removed on exit");
    let out = ask(&lab, &sock, &["stats"]);
    assert_eq!(out.code, Some(1), "{}", out.failure());
    assert!(
        out.stderr
            .contains("no xlat64 running for TUN 'xlat64' (no control socket at"),
        "{}",
        out.stderr
    );
}

/// SIIT is stateless (RFC 7915): stats work, sessions say there are none to show.
#[test]
fn rfc7915_siit_stats_work_and_sessions_say_stateless() {
    if using_tayga() {
        return;
    }
    let (mut lab, sock) = lab_with_control(&[]);
    ping(&lab, Node::Cli, addr::SRV6, 2);
    let stats = ask_ok(&lab, &sock, &["stats"]);
    assert!(stats.contains("translated_v6_to_v4"), "{stats}");
    assert!(stats.contains("drop reasons:"), "{stats}");
    let s = ask_ok(&lab, &sock, &["sessions"]);
    assert_eq!(s, "no sessions: mode siit is stateless\n");
    finish(&mut lab);
}
