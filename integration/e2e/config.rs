//! `xlat64 check-config`: the configuration file validator.

use super::*;
use std::process::Command;

fn check_config(path: &std::path::Path) -> std::process::Output {
    Command::new(xlat64_bin())
        .arg("check-config")
        .arg(path)
        .output()
        .expect("run xlat64 check-config")
}

/// The TOML keys mirror the command-line flags (one key per flag). A valid file passes
/// with exit 0; a bad value fails with exit 2 and a message that names the key
/// (the brief's rule: errors say which key is wrong and what form it expects).
/// The prefix length 95 is invalid per RFC 6052 §2.2 (32, 40, 48, 56, 64 or 96 only).
#[test]
fn rfc6052_s2_2_check_config_accepts_good_rejects_bad() {
    let dir = std::env::temp_dir().join(format!("{}{}-config", lab::PREFIX, std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(
        &good,
        "tun = \"xlat64\"\n\
         mode = \"siit\"\n\
         prefix = \"2001:db8:64::/96\"\n\
         ipv4-addr = \"203.0.113.1\"\n\
         ipv6-addr = \"2001:db8:64::cb00:7101\"\n\
         mtu = 1500\n",
    )
    .unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "prefix = \"2001:db8:64::/95\"\n").unwrap();

    let ok = check_config(&good);
    let rejected = check_config(&bad);
    let _ = std::fs::remove_dir_all(&dir);

    assert_eq!(
        ok.status.code(),
        Some(0),
        "a valid file must pass; stderr:\n{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let msg = format!(
        "{}{}",
        String::from_utf8_lossy(&rejected.stdout),
        String::from_utf8_lossy(&rejected.stderr)
    );
    assert_eq!(
        rejected.status.code(),
        Some(2),
        "a bad prefix must exit 2:\n{msg}"
    );
    assert!(
        msg.contains("prefix"),
        "the message must name the key `prefix`:\n{msg}"
    );
}
