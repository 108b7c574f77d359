//! The 464XLAT part of the lab (see `lab.rs`'s topology): its addresses, the wiring of
//! phone ── carrier ── plat ── srv, the RA sender, and how the tests and xtask start the
//! PLAT and the CLAT.

use std::path::Path;
use std::time::Duration;

use super::{Lab, Node, ProcId, Result};

/// 464XLAT lab addresses (documentation prefixes only, plus RFC 7335's 192.0.0.0/29).
pub mod addr464 {
    pub const PHONE6: &str = "2001:db8:a::2";
    /// The CLAT address the phone derives from its /64 (interface identifier ::c1a7).
    pub const CLAT6: &str = "2001:db8:a::c1a7";
    pub const CARRIER_PHONE6: &str = "2001:db8:a::1";
    pub const CARRIER_PLAT6: &str = "2001:db8:b::1";
    pub const PLAT6: &str = "2001:db8:b::2";
    pub const PLAT4: &str = "198.51.100.129";
    pub const SRV4: &str = "198.51.100.130";
    /// The PLAT's pool4 (RFC 6146).
    pub const POOL4: &str = "198.51.100.0/28";
    /// The host's IPv4 address on the phone and the CLAT's own (RFC 7335).
    pub const HOST4: &str = "192.0.0.1";
    pub const CLAT4: &str = "192.0.0.2";
}

/// The 464XLAT lab's RA sender (Debian's radvd 2.19 predates PREF64): `DEV INTERVAL
/// SPECFILE [HOPS]`. Every INTERVAL seconds sends an RA (RFC 4861 §4.2, router lifetime 0: it
/// offers no default route) to ff02::1 on DEV with one PREF64 option (RFC 8781 §4, 16
/// bytes) per line of SPECFILE, `PREFIX/LEN LIFETIME [PLC]` (PLC overrides the code, to
/// send an undefined one); HOPS (default 255, RFC 4861 §6.1.2) sets the hop limit, to
/// send an RA no host may accept. SPECFILE is read anew each time, so the test changes the
/// prefix by rewriting it. The kernel fills in the ICMPv6 checksum.
pub const RA_SENDER: &str = r#"
import ipaddress, socket, struct, sys, time
dev, interval, spec = sys.argv[1], float(sys.argv[2]), sys.argv[3]
hops = int(sys.argv[4]) if len(sys.argv) > 4 else 255
idx = socket.if_nametoindex(dev)
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hops)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
PLC = {96: 0, 64: 1, 56: 2, 48: 3, 40: 4, 32: 5}
while True:
    opts = b""
    for line in open(spec).read().splitlines():
        w = line.split()
        if not w:
            continue
        net, life = ipaddress.IPv6Network(w[0]), int(w[1])
        plc = int(w[2]) if len(w) > 2 else PLC[net.prefixlen]
        scaled = (life + 7) // 8
        opts += struct.pack("!BBH", 38, 2, (scaled << 3) | plc) + net.network_address.packed[:12]
    ra = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 0, 0, 0) + opts
    s.sendto(ra, ("ff02::1", 0, 0, idx))
    sys.stdout.write("sent %d options\n" % (len(opts) // 16))
    sys.stdout.flush()
    time.sleep(interval)
"#;

impl Lab {
    pub(super) fn build_464(&mut self) -> Result<()> {
        use Node::*;
        use addr464::*;
        self.veth(Phone, "eth0", Carrier, "c")?;
        self.veth(Carrier, "p", Plat, "eth0")?;
        self.veth(Plat, "v4", Srv, "eth0")?;

        // The phone: IPv6 on the wire only. It forwards between the CLAT's TUN and its
        // uplink and answers Neighbor Solicitations for the CLAT address (proxy NDP).
        self.ip(Phone, &format!("addr add {PHONE6}/64 dev eth0 nodad"))?;
        self.ip(Phone, "link set eth0 up")?;
        self.ip(Phone, &format!("-6 route add default via {CARRIER_PHONE6}"))?;
        self.sysctl(
            Phone,
            &[
                "net.ipv6.conf.all.forwarding=1",
                "net.ipv6.conf.eth0.proxy_ndp=1",
            ],
        )?;

        // The carrier: an IPv6 router; the tests route PLAT prefixes to `plat`.
        self.ip(
            Carrier,
            &format!("addr add {CARRIER_PHONE6}/64 dev c nodad"),
        )?;
        self.ip(Carrier, &format!("addr add {CARRIER_PLAT6}/64 dev p nodad"))?;
        self.ip(Carrier, "link set c up")?;
        self.ip(Carrier, "link set p up")?;
        self.forwarding(Carrier)?;

        // The PLAT box: IPv6 towards the carrier, IPv4 towards the server.
        self.ip(Plat, &format!("addr add {PLAT6}/64 dev eth0 nodad"))?;
        self.ip(Plat, "link set eth0 up")?;
        self.ip(Plat, &format!("-6 route add default via {CARRIER_PLAT6}"))?;
        self.ip(Plat, &format!("addr add {PLAT4}/25 dev v4"))?;
        self.ip(Plat, "link set v4 up")?;
        self.forwarding(Plat)?;

        self.ip(Srv, &format!("addr add {SRV4}/25 dev eth0"))?;
        self.ip(Srv, "link set eth0 up")?;
        self.ip(Srv, &format!("route add default via {PLAT4}"))?;
        Ok(())
    }

    /// 464XLAT: the PLAT (`bin run --mode nat64`, one worker, pool4, its own routes) on
    /// `prefix`, and the carrier's route of that prefix to it.
    pub fn start_plat(&mut self, bin: &Path, prefix: &str) -> Result<ProcId> {
        let bin = bin.to_string_lossy().into_owned();
        let sock = self.path(&format!("plat-{}.sock", prefix.replace([':', '/'], "-")));
        let argv = [
            bin.as_str(),
            "run",
            "--mode",
            "nat64",
            "--prefix",
            prefix,
            "--pool4",
            addr464::POOL4,
            "--workers",
            "1",
            "--setup-routes",
            "--control-socket",
            &sock,
        ];
        let id = self.spawn(Node::Plat, "plat", &argv)?;
        self.wait_for_output(id, "translating (nat64)", Duration::from_secs(10))?;
        self.ip(
            Node::Carrier,
            &format!("-6 route replace {prefix} via {}", addr464::PLAT6),
        )?;
        Ok(id)
    }

    /// 464XLAT: the CLAT on the phone (`bin run --mode clat --uplink eth0`, one worker,
    /// its own routes) with `extra` arguments.
    pub fn start_clat(&mut self, bin: &Path, extra: &[&str]) -> Result<ProcId> {
        let bin = bin.to_string_lossy().into_owned();
        let sock = self.path("clat.sock");
        let mut argv = vec![
            bin.as_str(),
            "run",
            "--mode",
            "clat",
            "--uplink",
            "eth0",
            "--workers",
            "1",
            "--setup-routes",
            "--control-socket",
            &sock,
        ];
        argv.extend_from_slice(extra);
        let id = self.spawn(Node::Phone, "clat", &argv)?;
        self.wait_for_output(id, "translating (clat)", Duration::from_secs(10))?;
        Ok(id)
    }
}
