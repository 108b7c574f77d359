//! Live reload (issue 11): SIGHUP and `xlat64 reload` re-read the configuration file
//! while traffic flows; live keys change without dropping a session, restart-only keys
//! and bad files are refused and the running configuration stays.

use super::*;
use crate::lab::addr;
use serde_json::Value;
use std::path::Path;

const POOL4: &str = "203.0.113.16/28";

fn wait_for(path: &str) {
    for _ in 0..100 {
        if Path::new(path).exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn xlat64(lab: &Lab, args: &[&str]) -> Output {
    let bin = xlat64_bin().to_string_lossy().into_owned();
    let mut argv = vec![bin.as_str()];
    argv.extend_from_slice(args);
    lab.run(Node::Xlt, &argv).unwrap()
}

/// The TCP sessions of `xlat64 sessions --json`.
fn tcp_sessions(lab: &Lab, sock: &str) -> Vec<Value> {
    let out = xlat64(lab, &["sessions", "--json", "--control-socket", sock]);
    assert!(out.success(), "{}", out.failure());
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    v["sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("{}", out.stdout))
        .iter()
        .filter(|s| s["proto"] == "tcp")
        .cloned()
        .collect()
}

/// RFC 6146 §3.5.2.2 TCP_EST changed by SIGHUP in the middle of an iperf3 run, with an
/// EAM added to the file (ignored in NAT64 mode, so allowed): the run completes
/// without a reset, the session is still listed and now expires within the new
/// timeout; a file with a bad value or a changed restart-only key is refused, logged,
/// and changes nothing.
#[test]
fn rfc6146_s3_5_2_2_sighup_changes_a_timeout_during_iperf3_without_a_reset() {
    if using_tayga() {
        return;
    }
    require_root();
    let mut lab = Lab::new().unwrap();
    let sock = lab.dir().join("ctl.sock").to_string_lossy().into_owned();
    let file = lab.dir().join("xlat64.toml");
    let base = format!(
        "mode = \"nat64\"\npool4 = [\"{POOL4}\"]\ncontrol-socket = \"{sock}\"\n\
         tcp-est-timeout = 7440\n"
    );
    std::fs::write(&file, &base).unwrap();
    let file_s = file.to_string_lossy().into_owned();
    let id = lab
        .start_translator(&Translator::xlat64(xlat64_bin(), &["--config", &file_s]))
        .unwrap();
    lab.ip(Node::Xlt, &format!("route replace {POOL4} dev xlat64"))
        .unwrap();
    wait_for(&sock);
    lab.spawn(
        Node::Srv,
        "iperf3-server",
        &["iperf3", "-s", "-1", "-B", addr::SRV4, "-p", "7050"],
    )
    .unwrap();
    lab.wait_listening(Node::Srv, "tcp", 7050).unwrap();
    let client = lab
        .spawn(
            Node::Cli,
            "iperf3-client",
            &["iperf3", "-c", addr::SRV6, "-p", "7050", "-t", "6"],
        )
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let before = tcp_sessions(&lab, &sock);
    assert!(!before.is_empty(), "no TCP session during iperf3");
    assert!(
        before
            .iter()
            .all(|s| s["expires_in_s"].as_u64() > Some(3600)),
        "{before:?}"
    );

    std::fs::write(
        &file,
        base.replace("7440", "3600") + "eam = [\"2001:db8:5::/124=203.0.113.240/28\"]\n",
    )
    .unwrap();
    lab.signal(id, "HUP").unwrap();
    std::thread::sleep(Duration::from_secs(1));
    assert!(lab.translator_alive(), "SIGHUP killed the translator");
    let after = tcp_sessions(&lab, &sock);
    assert!(!after.is_empty(), "sessions gone after the reload");
    assert!(
        after
            .iter()
            .all(|s| s["expires_in_s"].as_u64() <= Some(3600)),
        "the new tcp-est-timeout is not in force: {after:?}"
    );

    // A bad value, then a restart-only key: both refused, both logged.
    std::fs::write(&file, base.replace("7440", "\"long\"")).unwrap();
    lab.signal(id, "HUP").unwrap();
    // The signal thread reads the file on its own time: let it, before the next write.
    std::thread::sleep(Duration::from_secs(1));
    std::fs::write(&file, base.replace("nat64", "siit")).unwrap();
    let out = xlat64(&lab, &["reload", "--control-socket", &sock]);
    assert_eq!(out.code, Some(1), "{}", out.failure());
    assert!(
        out.stderr.contains("mode") && out.stderr.contains("restart it to apply"),
        "{}",
        out.stderr
    );
    // The EAM goes again (NAT64 ignores it, so it is no change), a timeout changes.
    std::fs::write(
        &file,
        base.replace("7440", "3600") + "tcp-trans-timeout = 300\n",
    )
    .unwrap();
    let out = xlat64(&lab, &["reload", "--control-socket", &sock]);
    assert!(out.success(), "{}", out.failure());
    assert!(
        out.stdout.ends_with(": tcp-trans-timeout changed\n"),
        "{}",
        out.stdout
    );

    let done = lab.wait(client, Duration::from_secs(20));
    let (cout, cerr) = lab.output(client);
    assert_eq!(
        done,
        Some(Some(0)),
        "iperf3 did not complete after the reloads:\n{cout}\n{cerr}"
    );
    assert!(!cerr.contains("reset"), "{cerr}");
    finish(&mut lab);
    let (_, log) = lab.output(id);
    assert!(log.contains(": tcp-est-timeout changed"), "{log}");
    let refused = log
        .lines()
        .find(|l| l.contains("SIGHUP: reload refused: "))
        .unwrap_or_else(|| panic!("the bad file was not logged: {log}"));
    assert!(
        refused.contains("invalid value for 'tcp-est-timeout'")
            && refused.ends_with("the running configuration is kept"),
        "{log}"
    );
}

/// SIIT: an EAM added by `xlat64 reload` is in force at once (RFC 7757 §3: a new
/// mapping translates the very next packet) while the old ones keep working.
#[test]
fn rfc7757_reload_adds_an_eam_live() {
    if using_tayga() {
        return;
    }
    require_root();
    let mut lab = Lab::new().unwrap();
    let sock = lab.dir().join("ctl.sock").to_string_lossy().into_owned();
    let file = lab.dir().join("xlat64.toml");
    let base = format!("control-socket = \"{sock}\"\n");
    std::fs::write(&file, &base).unwrap();
    let file_s = file.to_string_lossy().into_owned();
    lab.start_translator(&Translator::xlat64(xlat64_bin(), &["--config", &file_s]))
        .unwrap();
    wait_for(&sock);
    ping(&lab, Node::Cli, addr::SRV6, 2);
    std::fs::write(
        &file,
        base + "eam = [\"2001:db8:1::/120=192.0.2.0/24\", \
                 \"2001:db8:5::/124=203.0.113.240/28\"]\n",
    )
    .unwrap();
    let out = xlat64(&lab, &["reload", "--control-socket", &sock]);
    assert!(out.success(), "{}", out.failure());
    assert!(out.stdout.contains(": eam changed"), "{}", out.stdout);
    ping(&lab, Node::Cli, addr::SRV6, 2);
    finish(&mut lab);
}

/// Issue 11's "pool4 additions", "static BIB additions" and "log sinks" (RFC 6146
/// §3.5.1 manual BIB entries): with two workers and an iperf3 run in progress, SIGHUP
/// adds a pool4 address and moves the NAT log to another file, then a reload adds a
/// static BIB entry on the new address. The run completes without a reset, an IPv4
/// host reaches the IPv6 server through the new entry at once, and new mappings are
/// logged to the new file. Both changes in one reload, an entry clashing with a live
/// mapping, removing the entry while its session lives and removing a pool4 address
/// are refused, naming the key.
#[test]
fn rfc6146_s3_5_1_reloads_add_pool4_and_a_static_bib_entry_and_move_the_log_during_iperf3() {
    if using_tayga() {
        return;
    }
    require_root();
    let mut lab = Lab::new().unwrap();
    let sock = lab.dir().join("ctl.sock").to_string_lossy().into_owned();
    let (log_a, log_b) = (lab.dir().join("a.log"), lab.dir().join("b.log"));
    let file = lab.dir().join("xlat64.toml");
    let conf = |pool4: &str| {
        // setup-routes: the added address is routed into the TUN by the reload itself.
        format!(
            "mode = \"nat64\"\npool4 = [{pool4}]\ncontrol-socket = \"{sock}\"\nworkers = 2\n\
             setup-routes = true\n"
        )
    };
    let base = conf("\"203.0.113.16/29\"");
    let grown = conf("\"203.0.113.16/29\", \"203.0.113.24/32\"");
    let with_log = |log: &Path| format!("{base}nat-log-file = [{:?}]\n", log.to_string_lossy());
    std::fs::write(&file, with_log(&log_a)).unwrap();
    let file_s = file.to_string_lossy().into_owned();
    let id = lab
        .start_translator(&Translator::xlat64(xlat64_bin(), &["--config", &file_s]))
        .unwrap();
    wait_for(&sock);
    lab.spawn(
        Node::Cli,
        "http6",
        &[
            "python3",
            "-c",
            super::nat64_static::HTTP6_SERVER,
            addr::CLI6,
            "80",
        ],
    )
    .unwrap();
    lab.wait_listening(Node::Cli, "tcp", 80).unwrap();
    lab.spawn(
        Node::Srv,
        "iperf3-server",
        &["iperf3", "-s", "-1", "-B", addr::SRV4, "-p", "7051"],
    )
    .unwrap();
    lab.wait_listening(Node::Srv, "tcp", 7051).unwrap();
    let client = lab
        .spawn(
            Node::Cli,
            "iperf3-client",
            &["iperf3", "-c", addr::SRV6, "-p", "7051", "-t", "6"],
        )
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let before = tcp_sessions(&lab, &sock);
    let mapped6 = before
        .first()
        .and_then(|s| s["ipv6"].as_str())
        .unwrap_or_else(|| panic!("no TCP session during iperf3: {before:?}"))
        .to_string();

    // An entry whose IPv6 side is the iperf3 client's live mapping: refused, by name.
    let clash = format!(
        "{}static-bib = [\"tcp 203.0.113.20:9000 {mapped6}\"]\n",
        with_log(&log_a)
    );
    std::fs::write(&file, clash).unwrap();
    let out = xlat64(&lab, &["reload", "--control-socket", &sock]);
    assert_eq!(out.code, Some(1), "{}", out.failure());
    assert!(
        out.stderr.contains("invalid value for 'static-bib'")
            && out.stderr.contains("already mapped"),
        "{}",
        out.stderr
    );

    let grown_log_b = format!("{grown}nat-log-file = [{:?}]\n", log_b.to_string_lossy());
    let entry = format!("tcp 203.0.113.24:8080 [{}]:80", addr::CLI6);
    let added = format!("{grown_log_b}static-bib = [\"{entry}\"]\n");
    std::fs::write(&file, &added).unwrap();
    let out = xlat64(&lab, &["reload", "--control-socket", &sock]);
    assert_eq!(out.code, Some(1), "{}", out.failure());
    assert!(
        out.stderr.contains("pool4 and static-bib changed together"),
        "{}",
        out.stderr
    );

    std::fs::write(&file, &grown_log_b).unwrap();
    lab.signal(id, "HUP").unwrap();
    std::thread::sleep(Duration::from_secs(1));
    assert!(lab.translator_alive(), "SIGHUP killed the translator");
    std::fs::write(&file, &added).unwrap();
    let out = xlat64(&lab, &["reload", "--control-socket", &sock]);
    assert!(out.success(), "{}", out.failure());
    assert!(
        out.stdout.contains(": static-bib changed"),
        "{}",
        out.stdout
    );
    let out = run_ok_within(
        &lab,
        Node::Srv,
        30,
        &["curl", "-sS", "-m", "10", "http://203.0.113.24:8080/"],
    );
    assert_eq!(out.stdout.trim(), "static ok", "{out:?}");
    ping(&lab, Node::Cli, addr::SRV6, 2);
    assert!(!tcp_sessions(&lab, &sock).is_empty(), "sessions gone");

    // The entry's session (the curl's, closing) still lives: it cannot go.
    std::fs::write(&file, &grown_log_b).unwrap();
    let out = xlat64(&lab, &["reload", "--control-socket", &sock]);
    assert_eq!(out.code, Some(1), "{}", out.failure());
    assert!(
        out.stderr.contains("'static-bib'") && out.stderr.contains("holds sessions"),
        "{}",
        out.stderr
    );

    // Nor can a pool4 address.
    std::fs::write(
        &file,
        format!(
            "{}static-bib = [\"{entry}\"]\n",
            conf("\"203.0.113.17/32\", \"203.0.113.24/32\"")
        ),
    )
    .unwrap();
    let out = xlat64(&lab, &["reload", "--control-socket", &sock]);
    assert_eq!(out.code, Some(1), "{}", out.failure());
    assert!(
        out.stderr.contains("pool4 changed, but 203.0.113.16") && out.stderr.contains("restart"),
        "{}",
        out.stderr
    );

    let done = lab.wait(client, Duration::from_secs(20));
    let (cout, cerr) = lab.output(client);
    assert_eq!(
        done,
        Some(Some(0)),
        "iperf3 did not complete after the reloads:\n{cout}\n{cerr}"
    );
    assert!(!cerr.contains("reset"), "{cerr}");
    finish(&mut lab);
    let (_, log) = lab.output(id);
    assert!(log.contains(": pool4, nat-log-file changed"), "{log}");
    let (a, b) = (
        std::fs::read_to_string(&log_a).unwrap_or_default(),
        std::fs::read_to_string(&log_b).unwrap_or_default(),
    );
    assert!(
        a.contains("\"tcp\""),
        "the iperf3 mapping is not in the first log: {a}"
    );
    assert!(
        b.contains("\"icmp\""),
        "the ping after the reload is not in the new log: {b}"
    );
}
