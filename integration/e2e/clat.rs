//! 464XLAT end to end (RFC 6877): an IPv4-only app on `phone` reaches the IPv4-only
//! `srv` across the IPv6-only carrier through the CLAT (xlat64 --mode clat on the phone)
//! and the PLAT (xlat64 --mode nat64), with the PLAT prefix given, learned from Router
//! Advertisements (RFC 8781; also by a CLAT holding CAP_NET_ADMIN only, through the
//! kernel's copies of the RA options) and from unbound's DNS64 (RFC 7050). See `lab.rs` for the
//! topology.

use std::time::{Duration, Instant};

use super::scripts::{UDP_ECHO_CLIENT, UDP_ECHO_SERVER};
use super::*;
use crate::lab::{ProcId, Topology, addr464::*};

const PREFIX_A: &str = "2001:db8:64::/96";
const PREFIX_B: &str = "2001:db8:65::/96";
/// RFC 6052 §2.4's /40 example: a prefix that is not a /96.
const PREFIX_40: &str = "2001:db8:100::/40";

fn lab464() -> Lab {
    require_root();
    Lab::with_topology(Topology::Xlat464).unwrap()
}

fn path(lab: &Lab, name: &str) -> String {
    lab.path(name)
}

fn start_plat(lab: &mut Lab, prefix: &str) -> ProcId {
    lab.start_plat(&xlat64_bin(), prefix).unwrap()
}

fn start_clat(lab: &mut Lab, extra: &[&str]) -> ProcId {
    lab.start_clat(&xlat64_bin(), extra).unwrap()
}

/// SIGINT, exit 0, and the final counters.
fn stop(lab: &mut Lab, id: ProcId) -> (BTreeMap<String, u64>, String) {
    lab.signal(id, "INT").unwrap();
    let code = lab.wait(id, Duration::from_secs(10));
    let (out, errout) = lab.output(id);
    assert_eq!(
        code,
        Some(Some(0)),
        "xlat64 did not exit 0:\n{out}\n{errout}"
    );
    (lab::parse_counters(&out), errout)
}

fn counter(c: &BTreeMap<String, u64>, name: &str) -> u64 {
    c.get(name).copied().unwrap_or(0)
}

fn curl_srv(lab: &Lab) -> Output {
    lab.run_timeout(
        Node::Phone,
        Duration::from_secs(10),
        &["curl", "-sS", "--max-time", "3", &format!("http://{SRV4}/")],
    )
    .unwrap()
}

fn start_http(lab: &mut Lab) {
    let dir = path(lab, "www");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(format!("{dir}/index.html"), "hello from srv\n").unwrap();
    lab.spawn(
        Node::Srv,
        "http",
        &[
            "python3",
            "-m",
            "http.server",
            "--bind",
            SRV4,
            "--directory",
            &dir,
            "80",
        ],
    )
    .unwrap();
    lab.wait_listening(Node::Srv, "tcp", 80).unwrap();
}

/// RFC 6877 §6.3 with the prefix given (`--plat-prefix`): from the phone's IPv4 side,
/// curl and ping an IPv4 literal, iperf3 TCP and UDP, UDP echo of 1 to 8000 bytes
/// (fragments through both translators, RFC 7915 §4.1/§5.1.1), and TTL expiry answered
/// with ICMPv4 Time Exceeded (RFC 7915 §4.2 → §5.2 and the CLAT's own, RFC 792).
#[test]
fn rfc6877_clat_plat_prefix_given_ipv4_apps_work() {
    let mut lab = lab464();
    let plat = start_plat(&mut lab, PREFIX_A);
    let clat = start_clat(&mut lab, &["--plat-prefix", PREFIX_A]);
    let (_, log) = lab.output(clat);
    assert!(log.contains(&format!("CLAT IPv6 address {CLAT6}")), "{log}");
    // --setup-routes: the host's address and default route on the TUN.
    let a = lab
        .ip(Node::Phone, "-4 addr show dev xlat64")
        .unwrap()
        .stdout;
    assert!(a.contains("192.0.0.1/29"), "{a}");
    let mtu = lab.ip(Node::Phone, "link show dev xlat64").unwrap().stdout;
    assert!(
        mtu.contains("mtu 1480"),
        "uplink 1500 − 20 (RFC 6877 §6.3): {mtu}"
    );

    start_http(&mut lab);
    let out = curl_srv(&lab);
    assert_eq!(out.stdout, "hello from srv\n", "{out:?}");
    ping(&lab, Node::Phone, SRV4, 3);

    lab.spawn(
        Node::Srv,
        "udp-echo",
        &["python3", "-c", UDP_ECHO_SERVER, SRV4, "7007"],
    )
    .unwrap();
    lab.wait_listening(Node::Srv, "udp", 7007).unwrap();
    let sizes = "1,8,100,512,1000,1232,1400,1432,1452,1453,1472,1473,2000,4000,8000";
    let out = run_ok_within(
        &lab,
        Node::Phone,
        60,
        &["python3", "-c", UDP_ECHO_CLIENT, SRV4, "7007", sizes],
    );
    println!("{}", out.stdout);

    let summary = "import json, sys; e = json.load(sys.stdin)['end']; \
                   s = e.get('sum_received') or e['sum']; print(s['bits_per_second'])";
    for (name, port, extra) in [("tcp", "7040", ""), ("udp", "7041", "-u -b 50M")] {
        lab.spawn(
            Node::Srv,
            &format!("iperf3-{name}"),
            &["iperf3", "-s", "-1", "-B", SRV4, "-p", port],
        )
        .unwrap();
        lab.wait_listening(Node::Srv, "tcp", port.parse().unwrap())
            .unwrap();
        let script =
            format!("iperf3 -c {SRV4} -p {port} {extra} -t 2 -J | python3 -c \"{summary}\"");
        let out = run_ok_within(&lab, Node::Phone, 30, &["sh", "-c", &script]);
        let bps: f64 = out.stdout.trim().parse().unwrap_or(0.0);
        println!("iperf3 {name} through CLAT + PLAT: {:.1} Mbit/s", bps / 1e6);
        assert!(bps > 0.0, "iperf3 {name}: {out:?}");
    }

    // TTL 1: the CLAT itself answers (from 192.0.0.2); TTL 2: the carrier's ICMPv6
    // Time Exceeded comes back translated to ICMPv4.
    for ttl in ["1", "2"] {
        let out = lab
            .run(
                Node::Phone,
                &["ping", "-n", "-c", "1", "-W", "2", "-t", ttl, SRV4],
            )
            .unwrap();
        assert!(
            out.stdout.contains("Time to live exceeded"),
            "ttl {ttl}: {out:?}"
        );
        if ttl == "1" {
            assert!(out.stdout.contains(&format!("From {CLAT4}")), "{out:?}");
        }
    }

    // Bad input from the host: multicast is dropped and counted, never sent.
    let _ = lab.run(
        Node::Phone,
        &["ping", "-n", "-c", "1", "-W", "1", "239.1.2.3"],
    );

    let (c, log) = stop(&mut lab, clat);
    assert!(counter(&c, "ipv4_ttl_exceeded") >= 1, "{c:?}");
    assert!(counter(&c, "ipv4_bad_destination") >= 1, "multicast: {c:?}");
    println!("CLAT counters: {c:?}");
    // Teardown: address, default route and proxy NDP gone with it.
    let r = lab.ip(Node::Phone, "-4 route show default").unwrap().stdout;
    assert!(r.trim().is_empty(), "{r}\n{log}");
    let p = lab.ip(Node::Phone, "-6 neigh show proxy").unwrap().stdout;
    assert!(!p.contains(CLAT6), "{p}");
    stop(&mut lab, plat);
}

fn spec_file(lab: &Lab, lines: &str) -> String {
    let f = path(lab, "pref64.spec");
    std::fs::write(&f, lines).unwrap();
    f
}

fn start_ra(lab: &mut Lab, spec: &str) -> ProcId {
    lab.spawn(
        Node::Carrier,
        "ra-sender",
        &["python3", "-c", lab::RA_SENDER, "c", "1", spec],
    )
    .unwrap()
}

/// Waits until `cond` holds for the process's log (stderr).
fn wait_log(lab: &mut Lab, id: ProcId, needle: &str, secs: u64) {
    lab.wait_for_output(id, needle, Duration::from_secs(secs))
        .unwrap_or_else(|e| panic!("{e}\n{}", lab.output(id).1));
}

/// RFC 8781: the prefix from the PREF64 option of the carrier's RAs (an RA with hop
/// limit 64, RFC 4861 §6.1.2, and an option with an undefined prefix length code are
/// ignored with a warning naming the router); then the provider moves the PLAT to another prefix while traffic runs, the
/// RAs carry the new one, and new connections succeed within the RA interval without
/// a restart of the CLAT.
#[test]
fn rfc8781_prefix_from_router_advertisements_follows_a_change() {
    let mut lab = lab464();
    let plat = start_plat(&mut lab, PREFIX_A);
    start_http(&mut lab);
    // An empty resolver list: RFC 7050 finds nothing, only the RAs can give a prefix.
    std::fs::write(path(&lab, "resolv.conf"), "").unwrap();
    let resolv = path(&lab, "resolv.conf");
    let spec = spec_file(&lab, &format!("{PREFIX_B} 600 6\n{PREFIX_A} 600\n"));
    let clat = start_clat(&mut lab, &["--resolv-conf", &resolv]);
    // First an RA that did not come from the link (hop limit 64): ignored, named.
    let rogue = path(&lab, "rogue.spec");
    std::fs::write(&rogue, format!("{PREFIX_B} 600\n")).unwrap();
    let r = lab
        .spawn(
            Node::Carrier,
            "ra-rogue",
            &["python3", "-c", lab::RA_SENDER, "c", "1", &rogue, "64"],
        )
        .unwrap();
    wait_log(&mut lab, clat, "read on a raw ICMPv6 socket", 5);
    wait_log(&mut lab, clat, "hop limit 64 instead of 255", 10);
    lab.kill(r);
    start_ra(&mut lab, &spec);
    wait_log(
        &mut lab,
        clat,
        &format!("PLAT prefix none -> {PREFIX_A}"),
        10,
    );
    let (_, log) = lab.output(clat);
    assert!(
        log.contains("Router Advertisement from fe80::")
            && log.contains("prefix length code 6, which RFC 8781 §4 does not define"),
        "{log}"
    );
    let out = curl_srv(&lab);
    assert_eq!(out.stdout, "hello from srv\n", "{out:?}");

    // Traffic while the provider moves: a ping stream from the phone.
    let pinger = lab
        .spawn(
            Node::Phone,
            "ping-stream",
            &["ping", "-n", "-i", "0.2", "-c", "40", SRV4],
        )
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    stop(&mut lab, plat);
    let plat = start_plat(&mut lab, PREFIX_B);
    spec_file(&lab, &format!("{PREFIX_B} 600\n"));
    let moved = Instant::now();
    wait_log(
        &mut lab,
        clat,
        &format!("PLAT prefix {PREFIX_A} -> {PREFIX_B}"),
        5,
    );
    // New connections within the RA interval (1 s) plus a margin for the lab.
    let mut ok = false;
    while moved.elapsed() < Duration::from_secs(5) && !ok {
        ok = curl_srv(&lab).stdout == "hello from srv\n";
    }
    assert!(ok, "no new connection through the new prefix within 5 s");
    println!(
        "new connection {} ms after the move",
        moved.elapsed().as_millis()
    );
    let _ = lab.wait(pinger, Duration::from_secs(15));
    println!("{}", lab.output(pinger).0);
    assert!(lab.alive(clat), "the CLAT was not restarted");
    let (c, _) = stop(&mut lab, clat);
    assert!(counter(&c, "tx_packets") > 0, "{c:?}");
    stop(&mut lab, plat);
}

/// Issue 10, a sidecar holding CAP_NET_ADMIN only: without CAP_NET_RAW for the raw
/// ICMPv6 socket the CLAT reads the PREF64 option (RFC 8781 §4) from the kernel's
/// copies of the RA options (rtnetlink RTNLGRP_ND_USEROPT), the uplink accepting RAs
/// (accept_ra=2 with forwarding on, as the README asks). It says which source it uses
/// and that it sends no Router Solicitation, names the router, ignores the RA's option
/// with an undefined prefix length code, and translates a curl and a ping (RFC 6877
/// §6.3).
#[test]
fn rfc8781_prefix_without_cap_net_raw_from_the_kernels_ra_options() {
    let mut lab = lab464();
    let _tun = super::service::TunOpenToAll::ensure();
    lab.sysctl(Node::Phone, &["net.ipv6.conf.eth0.accept_ra=2"])
        .unwrap();
    let plat = start_plat(&mut lab, PREFIX_A);
    start_http(&mut lab);
    // An empty resolver list: RFC 7050 finds nothing, only the RAs can give a prefix.
    std::fs::write(path(&lab, "resolv.conf"), "").unwrap();
    let resolv = path(&lab, "resolv.conf");
    let spec = spec_file(&lab, &format!("{PREFIX_B} 600 6\n{PREFIX_A} 600\n"));
    let wrapper = super::service::cap_net_admin_only(&lab, "");
    let clat = lab
        .start_clat(&wrapper, &["--resolv-conf", &resolv])
        .unwrap();
    super::service::assert_cap_net_admin_only(&lab, clat);
    wait_log(&mut lab, clat, "RTNLGRP_ND_USEROPT", 5);
    start_ra(&mut lab, &spec);
    wait_log(
        &mut lab,
        clat,
        &format!(
            "PLAT prefix none -> {PREFIX_A} (from PREF64 in a Router Advertisement from fe80::"
        ),
        10,
    );
    let (_, log) = lab.output(clat);
    assert!(
        log.contains("no Router Solicitation without CAP_NET_RAW")
            && log.contains("prefix length code 6, which RFC 8781 §4 does not define")
            && !log.contains("does not accept Router Advertisements"),
        "{log}"
    );
    println!("{log}");
    let out = curl_srv(&lab);
    assert_eq!(out.stdout, "hello from srv\n", "{out:?}");
    let out = lab
        .run(Node::Phone, &["ping", "-n", "-c", "3", "-W", "2", SRV4])
        .unwrap();
    assert!(out.stdout.contains("3 received"), "{out:?}");
    let (c, _) = stop(&mut lab, clat);
    assert!(counter(&c, "tx_packets") > 0, "{c:?}");
    stop(&mut lab, plat);
}

/// Without `accept_ra=2` on the uplink (forwarding is on) the kernel drops the RAs
/// before it passes their options on (ip-sysctl.rst, accept_ra): the CLAT holding
/// CAP_NET_ADMIN only says so, naming the sysctl; once the operator sets it, the next RA
/// gives the prefix (RFC 8781), with no restart.
#[test]
fn rfc8781_without_cap_net_raw_names_accept_ra_when_the_kernel_ignores_ras() {
    let mut lab = lab464();
    let _tun = super::service::TunOpenToAll::ensure();
    std::fs::write(path(&lab, "resolv.conf"), "").unwrap();
    let resolv = path(&lab, "resolv.conf");
    let spec = spec_file(&lab, &format!("{PREFIX_A} 600\n"));
    let wrapper = super::service::cap_net_admin_only(&lab, "");
    let clat = lab
        .start_clat(&wrapper, &["--resolv-conf", &resolv])
        .unwrap();
    wait_log(&mut lab, clat, "set net.ipv6.conf.eth0.accept_ra=2", 5);
    start_ra(&mut lab, &spec);
    std::thread::sleep(Duration::from_secs(2));
    let (_, log) = lab.output(clat);
    assert!(!log.contains("PLAT prefix none ->"), "{log}");
    lab.sysctl(Node::Phone, &["net.ipv6.conf.eth0.accept_ra=2"])
        .unwrap();
    wait_log(
        &mut lab,
        clat,
        &format!("PLAT prefix none -> {PREFIX_A}"),
        10,
    );
    stop(&mut lab, clat);
}

/// unbound as the carrier's DNS64 resolver (RFC 6147) for `prefix`: `ipv4only.arpa` has
/// the well-known addresses (RFC 7050 §2.2), `srv.lab.example` the server's. Served
/// as an upstream zone so that the DNS64 module synthesises the AAAA records.
fn start_unbound(lab: &mut Lab, prefix: &str) -> ProcId {
    start_unbound_with(lab, prefix, &["192.0.0.170", "192.0.0.171"], 300)
}

/// As [`start_unbound`], with `ipv4only.arpa`'s A records and their TTL given.
fn start_unbound_with(lab: &mut Lab, prefix: &str, wka: &[&str], ttl: u32) -> ProcId {
    let dir = path(lab, "unbound");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        format!("{dir}/ipv4only.zone"),
        "$ORIGIN ipv4only.arpa.\n\
         @ 300 IN SOA ns.ipv4only.arpa. hostmaster.ipv4only.arpa. 1 3600 600 86400 60\n\
         @ 300 IN NS ns\nns 300 IN AAAA 2001:db8:a::1\n"
            .to_string()
            + &wka
                .iter()
                .map(|a| format!("@ {ttl} IN A {a}\n"))
                .collect::<String>(),
    )
    .unwrap();
    std::fs::write(
        format!("{dir}/lab.zone"),
        format!(
            "$ORIGIN lab.example.\n\
             @ 300 IN SOA ns.lab.example. hostmaster.lab.example. 1 3600 600 86400 60\n\
             @ 300 IN NS ns\nns 300 IN AAAA 2001:db8:a::1\nsrv 300 IN A {SRV4}\n"
        ),
    )
    .unwrap();
    let conf = format!(
        "server:\n  interface: {CARRIER_PHONE6}\n  port: 53\n  do-daemonize: no\n  \
         username: \"\"\n  chroot: \"\"\n  directory: \"{dir}\"\n  pidfile: \"{dir}/unbound.pid\"\n  \
         use-syslog: no\n  logfile: \"\"\n  verbosity: 1\n  access-control: ::/0 allow\n  \
         module-config: \"dns64 iterator\"\n  dns64-prefix: {prefix}\n  \
         do-not-query-localhost: no\n  qname-minimisation: no\n\
         auth-zone:\n  name: \"ipv4only.arpa.\"\n  zonefile: \"{dir}/ipv4only.zone\"\n  \
         for-upstream: yes\n  for-downstream: no\n\
         auth-zone:\n  name: \"lab.example.\"\n  zonefile: \"{dir}/lab.zone\"\n  \
         for-upstream: yes\n  for-downstream: no\n"
    );
    let conf_path = format!("{dir}/unbound.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let id = lab
        .spawn(
            Node::Carrier,
            "unbound",
            &["unbound", "-d", "-c", &conf_path],
        )
        .unwrap();
    lab.wait_listening(Node::Carrier, "udp", 53).unwrap();
    id
}

/// RFC 7050 through unbound's DNS64, with `prefix` (a /96 and a /40): the CLAT finds
/// the prefix from the well-known addresses, the IPv4-only app reaches srv through CLAT
/// and PLAT, and next to it an IPv6-capable app resolves srv's name through DNS64 and
/// reaches it through the PLAT directly.
fn rfc7050_discovery(prefix: &str) {
    let mut lab = lab464();
    let plat = start_plat(&mut lab, prefix);
    start_unbound(&mut lab, prefix);
    start_http(&mut lab);
    let resolv = path(&lab, "resolv.conf");
    std::fs::write(&resolv, format!("nameserver {CARRIER_PHONE6}\n")).unwrap();
    let clat = start_clat(&mut lab, &["--resolv-conf", &resolv]);
    wait_log(
        &mut lab,
        clat,
        &format!("PLAT prefix none -> {prefix} (from RFC 7050"),
        20,
    );
    let out = curl_srv(&lab);
    assert_eq!(out.stdout, "hello from srv\n", "IPv4-only app: {out:?}");

    let server = format!("@{CARRIER_PHONE6}");
    let out = run_ok_within(
        &lab,
        Node::Phone,
        20,
        &[
            "dig",
            &server,
            "+short",
            "+time=2",
            "+tries=3",
            "srv.lab.example",
            "AAAA",
        ],
    );
    let aaaa = out.stdout.trim().to_string();
    assert!(
        !aaaa.is_empty() && aaaa.contains(':'),
        "synthesised AAAA: {out:?}"
    );
    let url = format!("http://[{aaaa}]/");
    let out = run_ok_within(
        &lab,
        Node::Phone,
        10,
        &["curl", "-sS", "--max-time", "3", &url],
    );
    assert_eq!(
        out.stdout, "hello from srv\n",
        "IPv6 app via DNS64: {out:?}"
    );
    let (c, _) = stop(&mut lab, clat);
    assert!(counter(&c, "tx_packets") > 0, "{c:?}");
    stop(&mut lab, plat);
}

#[test]
fn rfc7050_prefix_through_unbound_dns64_96() {
    rfc7050_discovery(PREFIX_A);
}

#[test]
fn rfc7050_prefix_through_unbound_dns64_40() {
    rfc7050_discovery(PREFIX_40);
}

/// RFC 7050 §3: an answer for ipv4only.arpa without the well-known addresses (a DNS64
/// that synthesises from a wrong A record) is ignored with a warning naming the
/// resolver; with nothing else to go on the CLAT says what it tried, translates nothing
/// through the PLAT (counted) and keeps trying.
#[test]
fn rfc7050_answer_without_well_known_addresses_is_not_used() {
    let mut lab = lab464();
    let plat = start_plat(&mut lab, PREFIX_A);
    start_unbound_with(&mut lab, PREFIX_A, &["192.0.2.1"], 300);
    let resolv = path(&lab, "resolv.conf");
    std::fs::write(&resolv, format!("nameserver {CARRIER_PHONE6}\n")).unwrap();
    let clat = start_clat(&mut lab, &["--resolv-conf", &resolv]);
    wait_log(
        &mut lab,
        clat,
        &format!("RFC 7050: {CARRIER_PHONE6}: ipv4only.arpa AAAA answer"),
        10,
    );
    wait_log(&mut lab, clat, "no PLAT prefix found", 15);
    let out = curl_srv(&lab);
    assert!(!out.success(), "{out:?}");
    let (c, log) = stop(&mut lab, clat);
    assert!(!log.contains("PLAT prefix none ->"), "{log}");
    assert!(counter(&c, "ipv4_destination_unmapped") > 0, "{c:?}");
    stop(&mut lab, plat);
}

/// CPE mode (`--clat-prefix`): a LAN prefix (192.168.1.0/24; its 192.168.1.1 on the
/// phone's loopback stands for a host of the LAN behind a CPE) is translated 1:1 onto a dedicated /120
/// that the carrier routes to the CPE (RFC 6877 §6.3 with an EAM-like mapping, no
/// NAT44): a LAN address reaches srv, and srv sees the PLAT's pool4, as for a host.
#[test]
fn rfc6877_cpe_mode_lan_prefix_one_to_one() {
    let mut lab = lab464();
    let plat = start_plat(&mut lab, PREFIX_A);
    start_http(&mut lab);
    lab.ip(Node::Phone, "addr add 192.168.1.1/32 dev lo")
        .unwrap();
    lab.ip(
        Node::Carrier,
        &format!("-6 route add 2001:db8:aa::/120 via {PHONE6}"),
    )
    .unwrap();
    let clat = start_clat(
        &mut lab,
        &[
            "--plat-prefix",
            PREFIX_A,
            "--clat-ipv4",
            "192.168.1.0/24",
            "--clat-prefix",
            "2001:db8:aa::/120",
        ],
    );
    let r = lab
        .ip(Node::Phone, "-6 route show dev xlat64")
        .unwrap()
        .stdout;
    assert!(r.contains("2001:db8:aa::/120"), "{r}");
    let url = format!("http://{SRV4}/");
    let out = run_ok_within(
        &lab,
        Node::Phone,
        10,
        &[
            "curl",
            "-sS",
            "--max-time",
            "3",
            "--interface",
            "192.168.1.1",
            &url,
        ],
    );
    assert_eq!(out.stdout, "hello from srv\n", "{out:?}");
    let (c, log) = stop(&mut lab, clat);
    assert!(counter(&c, "translated_v4_to_v6") > 0, "{c:?}");
    assert!(
        !log.contains("neigh add proxy"),
        "no proxy NDP for a routed prefix: {log}"
    );
    stop(&mut lab, plat);
}

/// RFC 7050 re-discovery: the answer's TTL (10 s here) runs out and the CLAT asks again;
/// the provider has meanwhile moved DNS64 and the PLAT to another prefix, and the CLAT
/// follows (logged old → new), without a restart and without a gap in which it knows no
/// prefix.
#[test]
fn rfc7050_rediscovery_follows_a_new_dns64_prefix() {
    let mut lab = lab464();
    let plat = start_plat(&mut lab, PREFIX_A);
    let dns = start_unbound_with(&mut lab, PREFIX_A, &["192.0.0.170", "192.0.0.171"], 10);
    start_http(&mut lab);
    let resolv = path(&lab, "resolv.conf");
    std::fs::write(&resolv, format!("nameserver {CARRIER_PHONE6}\n")).unwrap();
    let clat = start_clat(&mut lab, &["--resolv-conf", &resolv]);
    wait_log(
        &mut lab,
        clat,
        &format!("PLAT prefix none -> {PREFIX_A}"),
        10,
    );
    assert_eq!(curl_srv(&lab).stdout, "hello from srv\n");
    lab.kill(dns);
    stop(&mut lab, plat);
    let plat = start_plat(&mut lab, PREFIX_B);
    start_unbound_with(&mut lab, PREFIX_B, &["192.0.0.170", "192.0.0.171"], 10);
    wait_log(
        &mut lab,
        clat,
        &format!("PLAT prefix {PREFIX_A} -> {PREFIX_B} (from RFC 7050"),
        20,
    );
    assert_eq!(curl_srv(&lab).stdout, "hello from srv\n");
    let (_, log) = stop(&mut lab, clat);
    assert!(!log.contains("-> none"), "no gap: {log}");
    stop(&mut lab, plat);
}

/// RFC 7915 §5.2 (Packet Too Big → Fragmentation Needed, MTU − 20) through the CLAT:
/// the carrier's link to the PLAT has MTU 1400, the carrier's ICMPv6 Packet Too Big for
/// the CLAT address reaches the host as ICMPv4 Fragmentation Needed with 1380, the host
/// learns that path MTU, and a TCP upload completes.
#[test]
fn rfc7915_5_2_path_mtu_through_the_clat() {
    let mut lab = lab464();
    let plat = start_plat(&mut lab, PREFIX_A);
    let clat = start_clat(&mut lab, &["--plat-prefix", PREFIX_A]);
    lab.ip(Node::Carrier, "link set p mtu 1400").unwrap();
    lab.ip(Node::Plat, "link set eth0 mtu 1400").unwrap();
    lab.spawn(
        Node::Srv,
        "iperf3",
        &["iperf3", "-s", "-1", "-B", SRV4, "-p", "7050"],
    )
    .unwrap();
    lab.wait_listening(Node::Srv, "tcp", 7050).unwrap();
    let out = run_ok_within(
        &lab,
        Node::Phone,
        30,
        &["iperf3", "-c", SRV4, "-p", "7050", "-t", "2"],
    );
    assert!(out.stdout.contains("receiver"), "{out:?}");
    let route = lab
        .ip(Node::Phone, &format!("route get {SRV4}"))
        .unwrap()
        .stdout;
    assert!(route.contains("mtu 1380"), "learned path MTU: {route}");
    let (c, _) = stop(&mut lab, clat);
    assert!(counter(&c, "translated_v6_to_v4") > 0, "{c:?}");
    stop(&mut lab, plat);
}

/// `xlat64 reload` in clat mode: a changed `log-level` applies; the MTU the CLAT took
/// from its uplink (1480, not the file's default) is no change that needs a restart.
#[test]
fn reload_applies_log_level_to_a_running_clat() {
    let mut lab = lab464();
    let plat = start_plat(&mut lab, PREFIX_A);
    let conf = path(&lab, "clat.toml");
    let text = format!("mode = \"clat\"\nplat-prefix = \"{PREFIX_A}\"\nlog-level = \"info\"\n");
    std::fs::write(&conf, &text).unwrap();
    let clat = start_clat(&mut lab, &["--config", &conf]);
    std::fs::write(&conf, text.replace("\"info\"", "\"debug\"")).unwrap();
    let bin = xlat64_bin().to_string_lossy().into_owned();
    let sock = path(&lab, "clat.sock");
    let out = run_ok(
        &lab,
        Node::Phone,
        &[&bin, "reload", "--control-socket", &sock],
    );
    assert!(out.stdout.contains("log-level changed"), "{out:?}");
    stop(&mut lab, clat);
    stop(&mut lab, plat);
}
