//! The AF_XDP dataplane in the lab: no TUN device, no route into the translator; XDP
//! programs on the translator box's interfaces hand it what it translates.
//!
//! The rest of the suite runs over XDP too with `XLAT64_E2E_DATAPLANE=xdp`.

use super::*;
use crate::lab::addr;

fn xdp_lab(extra: &[&str]) -> Lab {
    require_root();
    let mut lab = Lab::new().unwrap();
    let mut args = xdp_args(&lab, extra);
    args.extend_from_slice(extra);
    lab.start_translator(&Translator::xlat64(xlat64_bin(), &args))
        .unwrap();
    lab
}

/// RFC 7915 §4.2 / §5.2 over XDP: echo both ways.
#[test]
fn rfc7915_s4_2_s5_2_ping_both_directions_over_xdp() {
    let mut lab = xdp_lab(&[]);
    let out = ping(&lab, Node::Cli, addr::SRV6, 3);
    assert!(
        out.stdout.contains(&format!("from {}", addr::SRV6)),
        "{}",
        out.stdout
    );
    let out = ping(&lab, Node::Srv, addr::CLI4, 3);
    assert!(
        out.stdout.contains(&format!("from {}", addr::CLI4)),
        "{}",
        out.stdout
    );
    let c = finish(&mut lab);
    assert!(
        c.get("translated_v6_to_v4").copied().unwrap_or(0) >= 6,
        "{c:?}"
    );
    // Issue 12: translated in place in the UMEM and sent from the same frame (but
    // the first packet each way, which may go through the kernel to resolve the
    // neighbour).
    assert!(
        c.get("xdp_tx_in_place").copied().unwrap_or(0) >= 10,
        "{c:?}"
    );
}

/// Whether an XDP program is attached to `dev` in the translator box.
fn xdp_attached(lab: &Lab, dev: &str) -> bool {
    let out = lab
        .ip(Node::Xlt, &format!("-d link show dev {dev}"))
        .unwrap();
    out.stdout.contains("prog/xdp")
}

/// Runs `xlat64 run ARGS` in the translator box to its end (it must fail at start).
fn run_xlat64(lab: &Lab, wrap: &[&str], args: &[&str]) -> Output {
    let bin = xlat64_bin();
    let bin = bin.to_str().unwrap();
    let mut argv: Vec<&str> = wrap.to_vec();
    argv.extend([bin, "run", "--dataplane", "xdp", "--ipv6-iface", "br0"]);
    argv.extend_from_slice(args);
    if !args.contains(&"--workers") {
        argv.extend(["--workers", "1"]);
    }
    if !args.contains(&"--ipv4-iface") {
        argv.extend(["--ipv4-iface", "v4"]);
    }
    lab.run_timeout(Node::Xlt, Duration::from_secs(20), &argv)
        .unwrap()
}

/// The last line of stderr, which is the error.
fn error_line(out: &Output) -> &str {
    out.stderr.lines().last().unwrap_or_default()
}

/// Bad input is refused with one line that says what to do, exit status 2, and nothing
/// left attached: an MTU an AF_XDP frame cannot hold, an interface smaller than `mtu`,
/// more workers than queues, a missing interface, missing capabilities.
#[test]
fn bad_input_one_line_exit_2_nothing_attached() {
    require_root();
    let lab = Lab::new().unwrap();
    lab.ip(Node::Xlt, "link set dev v4 mtu 9000").unwrap();
    let out = run_xlat64(&lab, &[], &[]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let e = error_line(&out);
    assert!(e.contains("MTU 9000") && e.contains("mtu 3826"), "{e}");
    lab.ip(Node::Xlt, "link set dev v4 mtu 1400").unwrap();
    let out = run_xlat64(&lab, &[], &[]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(error_line(&out).contains("--mtu 1400"), "{}", out.stderr);
    lab.ip(Node::Xlt, "link set dev v4 mtu 1500").unwrap();

    let out = run_xlat64(&lab, &[], &["--workers", "2"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(error_line(&out).contains("--workers 1"), "{}", out.stderr);

    let out = run_xlat64(&lab, &[], &["--ipv4-iface", "nope0"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        error_line(&out).contains("no interface \"nope0\""),
        "{}",
        out.stderr
    );

    // capsh hands what follows "--" to bash: exec the binary with its arguments.
    let drop = [
        "capsh",
        "--drop=cap_bpf,cap_sys_admin,cap_net_admin",
        "--",
        "-c",
        "exec \"$0\" \"$@\"",
    ];
    let out = run_xlat64(&lab, &drop, &[]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    let e = error_line(&out);
    assert!(e.contains("CAP_NET_ADMIN and CAP_BPF"), "{e}");
    for dev in ["br0", "v4"] {
        assert!(!xdp_attached(&lab, dev), "XDP program left on {dev}");
    }
}

/// The programs hang on BPF links: a SIGKILLed translator leaves nothing attached, and
/// the next one starts cleanly.
#[test]
fn sigkill_detaches_and_a_restart_works() {
    let mut lab = xdp_lab(&[]);
    assert!(xdp_attached(&lab, "v4") && xdp_attached(&lab, "br0"));
    let id = lab.translator().unwrap();
    lab.signal(id, "KILL").unwrap();
    lab.wait(id, Duration::from_secs(5));
    let _ = lab.stop_translator();
    // The kernel releases the links once the process's descriptors are gone.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while (xdp_attached(&lab, "v4") || xdp_attached(&lab, "br0"))
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!xdp_attached(&lab, "v4") && !xdp_attached(&lab, "br0"));
    let mut args = xdp_args(&lab, &[]);
    args.push("--log-level=info");
    lab.start_translator(&Translator::xlat64(xlat64_bin(), &args))
        .unwrap();
    ping(&lab, Node::Cli, addr::SRV6, 2);
    finish(&mut lab);
}

/// The bench topology: both sides are plain veths, so both programs run in native
/// mode. RFC 7915 §5.5 / §4.5 (TCP checksums follow the new pseudo-header): a TCP
/// upload arrives complete.
#[test]
fn rfc7915_s5_5_tcp_upload_native_xdp_on_both_sides() {
    use super::scripts::{TCP_SINK, TCP_UPLOAD};
    require_root();
    let mut lab = Lab::new_bench().unwrap();
    let args = xdp_args(&lab, &[]);
    lab.start_translator(&Translator::xlat64(xlat64_bin(), &args))
        .unwrap();
    lab.spawn(
        Node::Srv,
        "tcp-sink",
        &["python3", "-c", TCP_SINK, addr::SRV4, "7031"],
    )
    .unwrap();
    lab.wait_listening(Node::Srv, "tcp", 7031).unwrap();
    run_ok_within(
        &lab,
        Node::Cli,
        60,
        &["python3", "-c", TCP_UPLOAD, addr::SRV6, "7031", "1000000"],
    );
    finish(&mut lab);
}
