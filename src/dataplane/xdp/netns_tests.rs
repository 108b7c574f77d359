//! Root-only tests of the XDP dataplane's kernel-facing parts, each in a fresh network
//! namespace owned by the test thread. Without root they print a note and pass.

use std::net::IpAddr;
use std::process::Command;
use std::thread;

use super::bpf;
use super::nexthop::{Hop, NextHops};
use super::nl::{self, Netlink};
use super::prog::{self, Maps, XDP_PASS};
use super::setup;
use crate::dataplane::sys;

fn in_netns(name: &'static str, f: impl FnOnce() + Send + 'static) {
    if !sys::is_root() {
        eprintln!("note: skipping {name}: needs root");
        return;
    }
    thread::spawn(move || {
        if let Err(e) = sys::unshare_netns() {
            eprintln!("note: skipping {name}: cannot create a network namespace: {e}");
            return;
        }
        f()
    })
    .join()
    .expect("test thread panicked");
}

fn ip(args: &str) {
    let st = Command::new("ip")
        .args(args.split_whitespace())
        .status()
        .expect("run ip");
    assert!(st.success(), "ip {args} failed");
}

/// Two veth pairs: `xa` (IPv4, 192.0.2.1/24) and `xc` (IPv6, 2001:db8:1::1/64).
fn links() -> (u32, u32) {
    ip("link add name xa type veth peer name xb");
    ip("link add name xc type veth peer name xd");
    for l in ["xa", "xb", "xc", "xd"] {
        ip(&format!("link set {l} up"));
    }
    ip("addr add 192.0.2.1/24 dev xa");
    ip("addr add 2001:db8:1::1/64 dev xc nodad");
    (nl::ifindex("xa").unwrap(), nl::ifindex("xc").unwrap())
}

/// Next hops come from the kernel's tables: a resolved neighbour (on-link, or the
/// gateway of a route) gives its MAC; an unresolved one, or a route through another
/// interface than the family's, goes through the kernel.
#[test]
fn next_hops_follow_the_kernel_tables() {
    in_netns("next_hops_follow_the_kernel_tables", || {
        let (a, c) = links();
        ip("neigh add 192.0.2.9 lladdr 02:00:00:00:00:09 dev xa nud permanent");
        ip("route add 198.51.100.0/24 via 192.0.2.9");
        ip("neigh add 2001:db8:1::9 lladdr 02:00:00:00:00:19 dev xc nud permanent");
        ip("route add 203.0.113.0/24 dev xc");
        let mut h = NextHops::new(a, c, 1).unwrap();
        let at = |s: &str| s.parse::<IpAddr>().unwrap();
        let mac = |last| Hop::Direct([2, 0, 0, 0, 0, last]);
        assert_eq!(h.get(at("192.0.2.9"), 0), mac(9));
        assert_eq!(h.get(at("198.51.100.7"), 0), mac(9));
        assert_eq!(h.get(at("2001:db8:1::9"), 0), mac(0x19));
        assert_eq!(h.get(at("192.0.2.10"), 0), Hop::Kernel);
        assert_eq!(h.get(at("203.0.113.5"), 0), Hop::Kernel);
        assert_eq!(h.get(at("2001:db8:2::1"), 0), Hop::Kernel);
        // A changed neighbour is followed once the cached answer expires.
        ip("neigh replace 192.0.2.9 lladdr 02:00:00:00:00:0a dev xa nud permanent");
        assert_eq!(h.get(at("192.0.2.9"), 1), mac(9));
        assert_eq!(h.get(at("192.0.2.9"), 1 + super::nexthop::TTL_MS), mac(10));
    });
}

fn attached(dev: &str) -> bool {
    let out = Command::new("ip")
        .args(["-d", "link", "show", "dev", dev])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).contains("prog/xdp")
}

/// A program attached without a link (by another tool, or an older xlat64 that was
/// killed) is replaced at start; ours goes away with its link.
#[test]
fn a_stale_program_is_replaced_and_ours_leaves_with_its_link() {
    in_netns("a_stale_program_is_replaced", || {
        let (a, _) = links();
        let maps = Maps::new().unwrap();
        let xsks = prog::xskmap().unwrap();
        let stale = prog::load(&maps, &xsks, XDP_PASS).unwrap();
        let mut nl = Netlink::open().unwrap();
        nl.attach_xdp_legacy(a, stale.raw_fd(), bpf::XDP_FLAGS_SKB_MODE)
            .unwrap();
        assert!(attached("xa"));
        let ours = prog::load(&maps, &xsks, XDP_PASS).unwrap();
        let link = setup::attach_for_test(&ours, "xa", a, &mut nl).unwrap();
        assert!(attached("xa"));
        drop(link);
        assert!(!attached("xa"), "our program stayed after its link closed");
    });
}
