//! Hairpinning between two IPv6 clients through the IPv4 view of one of them.

use super::*;
use crate::lab::{TUN, addr};
use std::time::Duration;

/// RFC 7757 §4 (hairpinning): cli pings 2001:db8:64::c000:203, the RFC 6052 form of
/// 192.0.2.3, which the EAM table maps back to cli2 (2001:db8:1::3). The translator must
/// turn the packet around to cli2 itself, and cli2's reply must come back the same way.
/// A capture on the TUN proves the IPv4 form (192.0.2.2 ↔ 192.0.2.3) never left the
/// translator: a loop through the kernel's IPv4 routing would not be hairpinning.
#[test]
fn rfc7757_s4_hairpinning_between_clients() {
    let mut lab = lab_with_translator(&[]);
    let pcap = lab.dir().join("hairpin.pcap");
    let pcap = pcap.to_str().unwrap().to_string();
    // Over XDP there is no TUN: the IPv4 form must not leave by the IPv4 interface.
    let dev = if using_xdp() { "v4" } else { TUN };
    // --immediate-mode: otherwise captured packets wait in the ring for a block to fill
    // and are lost when tcpdump is stopped.
    let dump = lab
        .spawn(
            Node::Xlt,
            "tcpdump",
            &["tcpdump", "--immediate-mode", "-U", "-ni", dev, "-w", &pcap],
        )
        .unwrap();
    lab.wait_for_output(dump, "listening on", Duration::from_secs(10))
        .unwrap();

    let out = ping(&lab, Node::Cli, addr::CLI2_VIA_PREFIX, 3);
    assert!(
        out.stdout
            .contains(&format!("from {}", addr::CLI2_VIA_PREFIX)),
        "{}",
        out.stdout
    );

    lab.signal(dump, "INT").unwrap();
    lab.wait(dump, Duration::from_secs(5));
    let read = run_ok(&lab, Node::Xlt, &["tcpdump", "-nr", &pcap]);
    let ipv4: Vec<&str> = read
        .stdout
        .lines()
        .filter(|l| l.contains(" IP ") && l.contains(addr::CLI2_4))
        .collect();
    assert!(
        ipv4.is_empty(),
        "IPv4 packets to/from {} crossed the TUN: the translator did not hairpin them \
         itself:\n{}",
        addr::CLI2_4,
        ipv4.join("\n")
    );
    finish(&mut lab);
}
