//! `xlat64 run --setup-routes`: the translator routes what it translates into its TUN.

use super::*;
use crate::lab::{TUN, TunSetup, addr};
use std::time::{Duration, Instant};

/// Waits until `ip [-6] route show dev xlat64` in `xlt` lists `prefix`.
fn wait_for_route(lab: &Lab, family: &str, prefix: &str) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let out = run_ok(lab, Node::Xlt, &["ip", family, "route", "show", "dev", TUN]);
        if out.stdout.lines().any(|l| l.starts_with(prefix)) {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "no route {prefix} dev {TUN} after 5 s; routes through {TUN}:\n{}",
                out.stdout
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// With `--setup-routes` and no routes from the lab, the translator itself routes the
/// RFC 6052 prefix 2001:db8:64::/96 (RFC 6052 §2: IPv4-embedded destinations) and the
/// EAM's IPv4 block 192.0.2.0/24 (RFC 7757 §3: traffic towards EAM-mapped hosts) into
/// its TUN, and traffic then flows both ways.
#[test]
fn rfc6052_rfc7757_setup_routes_routes_prefix_and_eam_into_tun() {
    require_root();
    if using_tayga() {
        println!("skipped under TAYGA: --setup-routes is an xlat64 flag");
        return;
    }
    let mut lab = Lab::new().unwrap();
    lab.start_translator_with(&translator(&["--setup-routes"]), TunSetup::ByTranslator)
        .unwrap();
    let missing: Vec<String> = [("-6", addr::PREFIX6), ("-4", addr::EAM4)]
        .iter()
        .filter_map(|(family, prefix)| wait_for_route(&lab, family, prefix).err())
        .collect();
    assert!(missing.is_empty(), "{}", missing.join("\n"));
    ping(&lab, Node::Cli, addr::SRV6, 2);
    ping(&lab, Node::Srv, addr::CLI4, 2);
    finish(&mut lab);
}
