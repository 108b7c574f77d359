//! `xlat64 stats` and `xlat64 sessions` ask a running translator through its control
//! socket (one per lab, in the lab's directory, so labs never share one).

use super::*;
use crate::lab::addr;
use serde_json::Value;
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
    let page: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(page["truncated"], false, "{json}");
    let rows = page["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("{json}"));
    assert_eq!(page["total"].as_u64(), Some(rows.len() as u64), "{json}");
    let v6 = format!("[{}]:", addr::CLI6);
    let row = rows
        .iter()
        .find(|r| r["proto"] == "icmp" && r["ipv6"].as_str().is_some_and(|a| a.starts_with(&v6)))
        .unwrap_or_else(|| panic!("no ICMP session of {} in {json}", addr::CLI6));
    let v4 = row["ipv4"]
        .as_str()
        .and_then(|a| a.split(':').next())
        .unwrap_or("");
    assert!(in_pool4(v4), "ipv4 {v4} not in pool4: {row}");
    assert_eq!(row["remote"], addr::SRV4, "{row}");
    assert!(row["expires_in_s"].is_u64(), "{row}");
    assert_eq!(row["state"], Value::Null, "{row}");

    let text = ask_ok(&lab, &sock, &["sessions"]);
    assert!(text.starts_with("PROTO"), "{text}");
    assert!(text.contains(&format!("[{}]:", addr::CLI6)), "{text}");

    // Issue 11: filters by subscriber and by pool4 address, and paging.
    let mine = format!("{}/64", addr::CLI6);
    let json = ask_ok(&lab, &sock, &["sessions", "--json", "--subscriber", &mine]);
    let v: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert!(v["matched"].as_u64().is_some_and(|n| n >= 1), "{json}");
    let json = ask_ok(
        &lab,
        &sock,
        &["sessions", "--json", "--subscriber", "2001:db8:ffff::/48"],
    );
    let v: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(v["matched"], 0, "{json}");
    let json = ask_ok(&lab, &sock, &["sessions", "--json", "--pool4", v4]);
    let v: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert!(
        v["sessions"].as_array().is_some_and(|r| !r.is_empty()),
        "{json}"
    );
    let json = ask_ok(
        &lab,
        &sock,
        &["sessions", "--json", "--limit", "1", "--offset", "0"],
    );
    let v: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(v["sessions"].as_array().map(Vec::len), Some(1), "{json}");
    assert_eq!(
        v["truncated"],
        v["matched"].as_u64().is_some_and(|n| n > 1),
        "{json}"
    );
    let bad = ask(&lab, &sock, &["sessions", "--limit", "0"]);
    assert_eq!(bad.code, Some(2), "{}", bad.failure());
    assert!(bad.stderr.contains("invalid --limit '0'"), "{}", bad.stderr);

    // Idle clients (connected, silent) do not hold up `xlat64 stats`: it is answered
    // while they are still connected, waiting for their own deadline.
    let idle: Vec<std::os::unix::net::UnixStream> = (0..3)
        .map(|_| std::os::unix::net::UnixStream::connect(&sock).unwrap())
        .collect();
    let stats = ask_ok(&lab, &sock, &["stats"]);
    assert!(stats.starts_with("workers: 2\n"), "{stats}");
    for c in &idle {
        use std::io::Read;
        c.set_nonblocking(true).unwrap();
        let e = (&*c).read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(
            e.kind(),
            std::io::ErrorKind::WouldBlock,
            "idle client closed early"
        );
    }
    drop(idle);

    let stats = ask_ok(&lab, &sock, &["stats", "--json"]);
    let v: Value = serde_json::from_str(&stats).unwrap_or_else(|e| panic!("{e}: {stats}"));
    let translated = v["counters"]["translated_v6_to_v4"].as_u64();
    assert!(translated.is_some_and(|n| n >= 3), "{stats}");
    assert!(v["drops"].is_object(), "{stats}");
    assert_eq!(v["workers"], 2, "{stats}");

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
    // The lab directory is open to all: the socket's own mode is what is in the way.
    assert!(
        out.stderr.contains("the socket is root's (mode 0600)")
            && !out.stderr.contains("directory"),
        "{}",
        out.stderr
    );

    finish(&mut lab);
    assert!(!Path::new(&sock).exists(), "control socket removed on exit");
    let out = ask(&lab, &sock, &["stats"]);
    assert_eq!(out.code, Some(1), "{}", out.failure());
    assert!(
        out.stderr
            .contains(&format!("no xlat64 running with control socket {sock}\n")),
        "{}",
        out.stderr
    );
}

/// A translator killed with SIGKILL leaves its socket file behind: `stats` says the file
/// is stale (nobody listens) and exits 1; the next `xlat64 run` replaces it.
#[test]
fn stale_control_socket_is_named_as_such_and_replaced() {
    if using_tayga() {
        return;
    }
    let (mut lab, sock) = lab_with_control(&[]);
    let id = lab.translator().unwrap();
    lab.signal(id, "KILL").unwrap();
    assert!(
        lab.wait(id, Duration::from_secs(10)).is_some(),
        "SIGKILL ignored"
    );
    let _ = lab.stop_translator();
    assert!(
        Path::new(&sock).exists(),
        "a killed translator leaves its socket"
    );
    let out = ask(&lab, &sock, &["stats"]);
    assert_eq!(out.code, Some(1), "{}", out.failure());
    assert!(
        out.stderr.contains(&format!(
            "no xlat64 is listening on control socket {sock} (a stale socket file: the \
             translator that made it has exited; `xlat64 run` replaces it on start)"
        )),
        "{}",
        out.stderr
    );
    lab.start_translator(&Translator::xlat64(
        xlat64_bin(),
        &["--control-socket", sock.as_str()],
    ))
    .unwrap();
    let mut stats = ask(&lab, &sock, &["stats"]);
    for _ in 0..100 {
        if stats.success() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        stats = ask(&lab, &sock, &["stats"]);
    }
    assert!(stats.success(), "{}", stats.failure());
    assert!(
        stats.stdout.starts_with("workers: ") && stats.stdout.contains("\ncounters:\n"),
        "{}",
        stats.stdout
    );
    finish(&mut lab);
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
    assert!(stats.contains("  dropped "), "{stats}");
    // The text lists the non-zero drop reasons only; the JSON, asked after it (counters
    // only grow), has every reason, and each one the text shows is non-zero there too.
    let json = ask_ok(&lab, &sock, &["stats", "--json"]);
    let v: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    let drops = v["drops"].as_object().unwrap_or_else(|| panic!("{json}"));
    assert!(drops.contains_key("unknown_version"), "{json}");
    let shown: Vec<(&str, u64)> = stats
        .split_once("drop reasons (non-zero):\n")
        .map_or("", |(_, rest)| rest)
        .lines()
        .map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [name, n] => (name, n.parse().unwrap_or(0)),
            _ => panic!("not a reason row: {l}"),
        })
        .collect();
    for (name, n) in &shown {
        assert!(*n > 0, "{name} shown as zero: {stats}");
        assert!(
            drops[*name].as_u64().is_some_and(|j| j >= *n),
            "{name}: {json}"
        );
    }
    let s = ask_ok(&lab, &sock, &["sessions"]);
    assert_eq!(s, "no sessions: mode siit is stateless\n");
    finish(&mut lab);
}
