//! What the CLAT reads of the host: the uplink's MTU and global /64, the resolvers in
//! resolv.conf, and an RFC 7050 query sent to them.

use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use ipnet::Ipv6Net;

use crate::clat::rfc7050::{self, Discovered};

/// The uplink's MTU (sysfs).
pub fn mtu(uplink: &str) -> io::Result<u16> {
    let s = std::fs::read_to_string(format!("/sys/class/net/{uplink}/mtu"))?;
    s.trim()
        .parse::<u32>()
        .map(|m| m.min(u32::from(u16::MAX)) as u16)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// A number from sysfs or procfs.
fn read_number(path: &str) -> io::Result<i64> {
    std::fs::read_to_string(path)?
        .trim()
        .parse::<i64>()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The uplink's interface index (sysfs), which the kernel's RA option messages name.
pub fn ifindex(uplink: &str) -> io::Result<u32> {
    let i = read_number(&format!("/sys/class/net/{uplink}/ifindex"))?;
    u32::try_from(i).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// Whether the kernel processes Router Advertisements on `uplink` (and so passes their
/// PREF64 options on): `accept_ra` 1 without forwarding, or 2 (net/ipv6/addrconf.h
/// `ipv6_accept_ra`).
pub fn accepts_ra(uplink: &str) -> io::Result<bool> {
    let conf = format!("/proc/sys/net/ipv6/conf/{uplink}");
    let accept = read_number(&format!("{conf}/accept_ra"))?;
    let forwarding = read_number(&format!("{conf}/forwarding"))?;
    Ok(ra_accepted(accept, forwarding))
}

fn ra_accepted(accept_ra: i64, forwarding: i64) -> bool {
    accept_ra == 2 || (accept_ra == 1 && forwarding == 0)
}

/// The first global /64 on `uplink`, from /proc/net/if_inet6 (address, index, prefix
/// length, scope, flags, name; scope 00 is global).
pub fn global_64(uplink: &str) -> io::Result<Option<Ipv6Net>> {
    Ok(global_64_in(
        &std::fs::read_to_string("/proc/net/if_inet6")?,
        uplink,
    ))
}

fn global_64_in(table: &str, uplink: &str) -> Option<Ipv6Net> {
    table.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        let [hex, _, plen, scope, flags, name] = f[..] else {
            return None;
        };
        // 0x08 is IFA_F_DADFAILED: another node holds that address, so its /64 says
        // nothing about ours.
        let flags = u32::from_str_radix(flags, 16).ok()?;
        if name != uplink || scope != "00" || plen != "40" || flags & 0x08 != 0 {
            return None;
        }
        let bits = u128::from_str_radix(hex, 16).ok()?;
        Ipv6Net::new(Ipv6Addr::from(bits), 64)
            .ok()
            .map(|n| n.trunc())
    })
}

/// The `nameserver` lines of a resolv.conf.
pub fn nameservers(path: &Path) -> io::Result<Vec<IpAddr>> {
    Ok(nameservers_in(&std::fs::read_to_string(path)?))
}

fn nameservers_in(text: &str) -> Vec<IpAddr> {
    text.lines()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            (w.next()? == "nameserver").then_some(())?;
            // A scoped address ("fe80::1%eth0") is taken without its zone.
            w.next()?.split('%').next()?.parse().ok()
        })
        .collect()
}

/// One RFC 7050 query to `server`, waiting at most `timeout`.
pub fn ask(server: IpAddr, id: u16, timeout: Duration) -> Result<Discovered, String> {
    let fail = |e: io::Error| format!("{server}: {e}");
    let bind: SocketAddr = match server {
        IpAddr::V4(_) => "0.0.0.0:0".parse().map_err(|_| "bind".to_string())?,
        IpAddr::V6(_) => "[::]:0".parse().map_err(|_| "bind".to_string())?,
    };
    let sock = UdpSocket::bind(bind).map_err(fail)?;
    sock.set_read_timeout(Some(timeout)).map_err(fail)?;
    sock.connect((server, 53)).map_err(fail)?;
    sock.send(&rfc7050::query(id)).map_err(fail)?;
    let mut buf = [0u8; 1500];
    loop {
        let n = sock.recv(&mut buf).map_err(fail)?;
        match rfc7050::parse_response(id, &buf[..n]) {
            // A stray datagram (another id): keep waiting for ours.
            Err(rfc7050::DnsError::Malformed("not the response to our query")) => continue,
            r => return r.map_err(|e| format!("{server}: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ip-sysctl.rst, accept_ra: 0 never, 1 unless forwarding, 2 even when forwarding.
    #[test]
    fn accept_ra_with_and_without_forwarding() {
        assert!(ra_accepted(1, 0));
        assert!(!ra_accepted(1, 1));
        assert!(ra_accepted(2, 1));
        assert!(!ra_accepted(0, 0));
    }

    #[test]
    fn global_64_skips_link_local_other_devices_and_tentative() {
        let t = "\
fe800000000000000000000000000001 03 40 20 80     eth0
20010db8000a00010000000000000002 03 40 00 c8     eth0
20010db8000b00010000000000000002 04 40 00 80     eth1
20010db8000c00010000000000000002 03 40 00 80     eth0
";
        assert_eq!(
            global_64_in(t, "eth0"),
            Some("2001:db8:c:1::/64".parse().unwrap())
        );
        assert_eq!(global_64_in(t, "eth2"), None);
    }

    #[test]
    fn nameservers_of_resolv_conf() {
        let t = "# x\nsearch lab\nnameserver 2001:db8::53\nnameserver fe80::1%eth0\nnameserver 192.0.2.53\noptions edns0\n";
        let want: Vec<IpAddr> = ["2001:db8::53", "fe80::1", "192.0.2.53"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(nameservers_in(t), want);
    }
}
