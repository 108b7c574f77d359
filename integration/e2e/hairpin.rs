//! Hairpinning between two IPv6 clients through the IPv4 view of one of them.

use super::*;
use crate::lab::addr;

/// RFC 7757 §4 (hairpinning): cli pings 2001:db8:64::c000:203, the RFC 6052 form of
/// 192.0.2.3, which the EAM table maps back to cli2 (2001:db8:1::3). The translator must
/// turn the packet around to cli2, and cli2's reply must come back the same way.
#[test]
fn rfc7757_s4_hairpinning_between_clients() {
    let mut lab = lab_with_translator(&[]);
    let out = ping(&lab, Node::Cli, addr::CLI2_VIA_PREFIX, 3);
    assert!(
        out.stdout
            .contains(&format!("from {}", addr::CLI2_VIA_PREFIX)),
        "{}",
        out.stdout
    );
    finish(&mut lab);
}
