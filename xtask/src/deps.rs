//! Debian packages the lab needs, installed on demand.

use std::process::Command;

/// Debian packages and a command each provides (for systems without dpkg).
const PACKAGES: &[(&str, &str)] = &[
    ("iproute2", "ip"),
    ("iputils-ping", "ping"),
    ("iperf3", "iperf3"),
    ("curl", "curl"),
    ("tcpdump", "tcpdump"),
    // IPFIX decoding (cflow dissector) for the NAT logging end-to-end test.
    ("tshark", "tshark"),
    ("tayga", "tayga"),
    ("python3", "python3"),
    ("procps", "sysctl"),
    ("ethtool", "ethtool"),
    // e2e::xdp runs the translator without its capabilities.
    ("libcap2-bin", "capsh"),
    // The NAT64 application tests: a DNS server on the IPv4 side and its client.
    ("dnsmasq-base", "dnsmasq"),
    ("bind9-dnsutils", "dig"),
    // 464XLAT: the carrier's DNS64 resolver (RFC 7050 discovery, DNS64 for IPv6 apps).
    ("unbound", "unbound"),
    // `promtool check metrics` lints what metrics-listen serves.
    ("prometheus", "promtool"),
    // libFuzzer (libfuzzer-sys) is C++, built from source by the fuzz step.
    ("g++", "g++"),
];

/// Makes sure every package is installed: as root, installs what is missing with
/// apt-get; otherwise says exactly what to run.
pub fn ensure() -> Result<(), String> {
    if !has_command("dpkg-query") {
        let missing: Vec<&str> = PACKAGES
            .iter()
            .filter(|(_, cmd)| !has_command(cmd))
            .map(|(_, cmd)| *cmd)
            .collect();
        return if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "missing commands: {} (not a Debian system: install them with your package manager)",
                missing.join(" ")
            ))
        };
    }
    let missing: Vec<&str> = PACKAGES
        .iter()
        .map(|(pkg, _)| *pkg)
        .filter(|pkg| !dpkg_installed(pkg))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let install = format!("apt-get install -y {}", missing.join(" "));
    if !crate::lab::is_root() {
        return Err(format!(
            "missing Debian packages: {}\nrun as root:\n  apt-get update && {install}",
            missing.join(" ")
        ));
    }
    println!("xtask: installing missing packages: {}", missing.join(" "));
    apt(&["update"])?;
    let mut args = vec!["install", "-y", "--no-install-recommends"];
    args.extend(&missing);
    apt(&args)
}

fn apt(args: &[&str]) -> Result<(), String> {
    println!("$ apt-get {}", args.join(" "));
    let status = Command::new("apt-get")
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .map_err(|e| format!("cannot run apt-get: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`apt-get {}` failed", args.join(" ")))
    }
}

fn dpkg_installed(pkg: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Abbrev}", pkg])
        .output()
        .map(|o| o.status.success() && o.stdout.starts_with(b"ii"))
        .unwrap_or(false)
}

fn has_command(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(cmd).is_file()))
        || ["/usr/sbin", "/sbin"]
            .iter()
            .any(|d| std::path::Path::new(d).join(cmd).is_file())
}
