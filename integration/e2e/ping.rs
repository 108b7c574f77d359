//! Echo in both directions through the translator.

use super::*;
use crate::lab::addr;

/// RFC 7915 §5.2 (ICMPv6 Echo Request/Reply → ICMPv4 types 8/0) and §4.2 (the reverse),
/// with RFC 6052 §2.2 (/96 embedding) and RFC 7757 EAM address mapping:
/// the IPv6-only client pings the IPv4-only server at 2001:db8:64::c633:6482, and the
/// server pings the client at its EAM address 192.0.2.2.
#[test]
fn rfc7915_s4_2_s5_2_ping_both_directions() {
    let mut lab = lab_with_translator(&[]);
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
    finish(&mut lab);
}
