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
}
