//! Running as a service (issue 11): the systemd unit in the repository, the readiness
//! notification it relies on, and a translator without root holding CAP_NET_ADMIN only,
//! as the unit runs it.

use super::*;
use crate::lab::addr;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;

fn unit() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("xtask/dist/xlat64.service")
}

/// `systemd-analyze verify` accepts the unit (with the binary under test in place of
/// /usr/bin/xlat64, which it checks exists); skipped where systemd-analyze is missing.
#[test]
fn systemd_unit_passes_systemd_analyze_verify() {
    let text = std::fs::read_to_string(unit()).unwrap();
    for must in [
        "Type=notify",
        "AmbientCapabilities=CAP_NET_ADMIN",
        "CapabilityBoundingSet=CAP_NET_ADMIN",
        "DynamicUser=yes",
        "NoNewPrivileges=yes",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(text.contains(must), "{must} missing from the unit");
    }
    let dir = std::env::temp_dir().join(format!("xlat64-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("xlat64.service");
    let bin = xlat64_bin().to_string_lossy().into_owned();
    std::fs::write(&copy, text.replace("/usr/bin/xlat64", &bin)).unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&copy)
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let Ok(out) = out else {
        eprintln!("note: skipping: no systemd-analyze");
        return;
    };
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}

/// The translator as the unit runs it: user nobody, CAP_NET_ADMIN its only capability
/// (ambient, bounding set reduced to it), no new privileges. It creates its TUN,
/// translates a ping (RFC 7915), and tells systemd READY=1 over $NOTIFY_SOCKET once it
/// does; it stops cleanly on SIGINT.
#[test]
fn rfc7915_unprivileged_with_cap_net_admin_only_translates_and_notifies_ready() {
    if using_tayga() {
        return;
    }
    require_root();
    let _tun = TunOpenToAll::ensure();
    let mut lab = Lab::new().unwrap();
    let notify = lab.dir().join("notify.sock");
    let rx = UnixDatagram::bind(&notify).unwrap();
    std::fs::set_permissions(&notify, std::fs::Permissions::from_mode(0o777)).unwrap();
    rx.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let env = format!("NOTIFY_SOCKET={}", notify.display());
    let wrapper = cap_net_admin_only(&lab, &env);
    // A directory this user may not create: it runs without a control socket.
    let sock = lab.dir().join("root-only").join("ctl.sock");
    let sock = sock.to_string_lossy().into_owned();
    lab.start_translator(&Translator::xlat64(&wrapper, &["--control-socket", &sock]))
        .unwrap();
    let mut buf = [0u8; 512];
    let n = rx.recv(&mut buf).expect("no READY=1 from the translator");
    let msg = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        msg.starts_with("READY=1\nSTATUS=translating (siit)"),
        "{msg}"
    );
    let id = lab.translator().unwrap();
    assert_cap_net_admin_only(&lab, id);
    ping(&lab, Node::Cli, addr::SRV6, 3);
    let c = finish(&mut lab);
    assert!(
        c.get("translated_v6_to_v4").is_some_and(|&n| n >= 3),
        "{c:?}"
    );
}

/// A script in the lab's directory that runs the binary under test (with `env`
/// assignments before it) as the unit does: user nobody, CAP_NET_ADMIN its only
/// capability (ambient, bounding set reduced to it), no new privileges.
pub(super) fn cap_net_admin_only(lab: &Lab, env: &str) -> PathBuf {
    let wrapper = lab.dir().join("unprivileged.sh");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\n{env} exec setpriv --reuid=65534 --regid=65534 \
             --clear-groups --inh-caps=-all,+net_admin --ambient-caps=-all,+net_admin \
             --bounding-set=-all,+net_admin --no-new-privs {} \"$@\"\n",
            xlat64_bin().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    wrapper
}

/// The process's effective capabilities are CAP_NET_ADMIN (bit 12) alone, its user 65534.
pub(super) fn assert_cap_net_admin_only(lab: &Lab, id: crate::lab::ProcId) {
    let pid = lab.pid(id);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    assert_eq!(field("CapEff:"), "0000000000001000", "{status}");
    assert_eq!(field("Uid:"), "65534", "{status}");
}

/// The kernel creates /dev/net/tun with mode 0666 (TUNSETIFF itself is what needs
/// CAP_NET_ADMIN); some containers make it 0600, which keeps every non-root user out
/// whatever its capabilities. For the test's duration the node gets the kernel's mode,
/// and its own back afterwards.
pub(super) struct TunOpenToAll(Option<u32>);

impl TunOpenToAll {
    const NODE: &str = "/dev/net/tun";

    pub(super) fn ensure() -> TunOpenToAll {
        let mode = std::fs::metadata(Self::NODE)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o666);
        if mode & 0o006 == 0o006 {
            return TunOpenToAll(None);
        }
        eprintln!("note: /dev/net/tun is mode {mode:04o} here; 0666 (the kernel's) for this test");
        std::fs::set_permissions(Self::NODE, std::fs::Permissions::from_mode(0o666)).unwrap();
        TunOpenToAll(Some(mode))
    }
}

impl Drop for TunOpenToAll {
    fn drop(&mut self) {
        if let Some(mode) = self.0 {
            let _ = std::fs::set_permissions(Self::NODE, std::fs::Permissions::from_mode(mode));
        }
    }
}
