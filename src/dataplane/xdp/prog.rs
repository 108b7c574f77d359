//! The XDP program, hand-assembled: which received frames go to the translator.
//!
//! A frame goes to the worker's AF_XDP socket when its destination is one xlat64
//! translates: an IPv6 destination inside the RFC 6052 prefix or an EAM's IPv6 side
//! (SIIT), an IPv4 destination inside an EAM's IPv4 side or pool4 (NAT64), or the
//! translator's own addresses. Everything else (ARP, ND, routing protocols, the box's
//! management traffic, VLAN-tagged frames) passes to the kernel untouched, so the box
//! keeps working as a router and host.
//!
//! The destinations live in two LPM tries the control plane fills ([`Maps`]); the
//! program only looks them up, so the same instructions serve any configuration. The
//! socket is chosen by the receive queue (one socket per queue and worker): a queue
//! without a socket passes the frame to the kernel (`bpf_redirect_map`'s default action
//! in its flags, Linux 5.6+).
//!
//! Written as instructions rather than C compiled by clang so that the build needs no
//! BPF toolchain; the program is short and its tests (BPF_PROG_TEST_RUN) run it in the
//! kernel against golden frames.

use std::io;

use ipnet::{Ipv4Net, Ipv6Net};

use super::asm::{Asm, HELPER_MAP_LOOKUP, HELPER_REDIRECT_MAP, op};
use super::bpf::{self, Map, Prog};

pub const XDP_PASS: u32 = 2;
pub const XDP_TX: u32 = 3;
pub const XDP_REDIRECT: u32 = 4;

/// Largest number of queues (sockets) per interface.
pub const MAX_QUEUES: u32 = 256;
/// Largest number of destination prefixes per family.
const MAX_PREFIXES: u32 = 1024;

const ETH_LEN: i16 = 14;
/// Offsets of `struct xdp_md` fields.
const MD_DATA: i16 = 0;
const MD_DATA_END: i16 = 4;
const MD_RX_QUEUE: i16 = 16;

/// The maps the program reads: translatable destinations per family (value unused),
/// and the interface's sockets by receive queue.
pub struct Maps {
    pub dst4: Map,
    pub dst6: Map,
}

impl Maps {
    pub fn new() -> io::Result<Maps> {
        Ok(Maps {
            dst4: Map::create("xlat64_dst4", bpf::MAP_LPM_TRIE, 8, 4, MAX_PREFIXES)?,
            dst6: Map::create("xlat64_dst6", bpf::MAP_LPM_TRIE, 20, 4, MAX_PREFIXES)?,
        })
    }

    pub fn add_v4(&self, net: Ipv4Net) -> io::Result<()> {
        let mut key = [0u8; 8];
        key[..4].copy_from_slice(&u32::from(net.prefix_len()).to_ne_bytes());
        key[4..].copy_from_slice(&net.network().octets());
        self.dst4.update(&key, &1u32.to_ne_bytes())
    }

    pub fn add_v6(&self, net: Ipv6Net) -> io::Result<()> {
        let mut key = [0u8; 20];
        key[..4].copy_from_slice(&u32::from(net.prefix_len()).to_ne_bytes());
        key[4..].copy_from_slice(&net.network().octets());
        self.dst6.update(&key, &1u32.to_ne_bytes())
    }

    pub fn add_addr(&self, a: std::net::IpAddr) -> io::Result<()> {
        match a {
            std::net::IpAddr::V4(a) => self.add_v4(Ipv4Net::from(a)),
            std::net::IpAddr::V6(a) => self.add_v6(Ipv6Net::from(a)),
        }
    }
}

/// An interface's socket map: queue → AF_XDP socket.
pub fn xskmap() -> io::Result<Map> {
    Map::create("xlat64_xsks", bpf::MAP_XSKMAP, 4, 4, MAX_QUEUES)
}

/// The program for one interface: frames to translatable destinations go to
/// `xsks[rx_queue]`, or `miss` when that queue has no socket (XDP_PASS in service;
/// tests use XDP_TX to tell "would redirect" from "passed").
pub fn program(maps: &Maps, xsks: &Map, miss: u32) -> Vec<u64> {
    use op::*;
    let mut a = Asm::new();
    let (pass, v4, v6, redirect) = (a.label(), a.label(), a.label(), a.label());
    // r6 = ctx; r2 = data; r3 = data_end
    a.emit(MOV64_X, 6, 1, 0, 0);
    a.emit(LDX_W, 2, 6, MD_DATA, 0);
    a.emit(LDX_W, 3, 6, MD_DATA_END, 0);
    // Ethernet header + the shorter of the two IP headers' address fields.
    a.emit(MOV64_X, 4, 2, 0, 0);
    a.emit(ADD64_K, 4, 0, 0, i32::from(ETH_LEN + 20));
    a.jump(JGT_X, 4, 3, 0, pass);
    a.emit(LDX_H, 5, 2, 12, 0);
    // EtherType in network order, read as a little-endian u16 on the host.
    a.jump(JEQ_K, 5, 0, i32::from(u16::from_ne_bytes([0x08, 0x00])), v4);
    a.jump(
        JNE_K,
        5,
        0,
        i32::from(u16::from_ne_bytes([0x86, 0xdd])),
        pass,
    );

    a.bind(v6);
    a.emit(MOV64_X, 4, 2, 0, 0);
    a.emit(ADD64_K, 4, 0, 0, i32::from(ETH_LEN + 40));
    a.jump(JGT_X, 4, 3, 0, pass);
    // LPM key on the stack at fp-24: prefixlen 128, then the destination address.
    a.emit(ST_W, 10, 0, -24, 128);
    for i in 0..4i16 {
        a.emit(LDX_W, 5, 2, ETH_LEN + 24 + 4 * i, 0);
        a.emit(STX_W, 10, 5, -20 + 4 * i, 0);
    }
    a.ld_map(1, &maps.dst6);
    a.emit(MOV64_X, 2, 10, 0, 0);
    a.emit(ADD64_K, 2, 0, 0, -24);
    a.emit(CALL, 0, 0, 0, HELPER_MAP_LOOKUP);
    a.jump(JEQ_K, 0, 0, 0, pass);
    a.jump(JA, 0, 0, 0, redirect);

    a.bind(v4);
    a.emit(ST_W, 10, 0, -24, 32);
    a.emit(LDX_W, 5, 2, ETH_LEN + 16, 0);
    a.emit(STX_W, 10, 5, -20, 0);
    a.ld_map(1, &maps.dst4);
    a.emit(MOV64_X, 2, 10, 0, 0);
    a.emit(ADD64_K, 2, 0, 0, -24);
    a.emit(CALL, 0, 0, 0, HELPER_MAP_LOOKUP);
    a.jump(JEQ_K, 0, 0, 0, pass);

    a.bind(redirect);
    a.emit(LDX_W, 2, 6, MD_RX_QUEUE, 0);
    a.ld_map(1, xsks);
    a.emit(MOV64_K, 3, 0, 0, miss as i32);
    a.emit(CALL, 0, 0, 0, HELPER_REDIRECT_MAP);
    a.emit(EXIT, 0, 0, 0, 0);

    a.bind(pass);
    a.emit(MOV64_K, 0, 0, 0, XDP_PASS as i32);
    a.emit(EXIT, 0, 0, 0, 0);
    a.finish()
}

/// Loads [`program`]; a refusal is a bug here, reported with the verifier's log.
pub fn load(maps: &Maps, xsks: &Map, miss: u32) -> io::Result<Prog> {
    Prog::load_xdp("xlat64", &program(maps, xsks, miss)).map_err(|(e, log)| {
        if e.raw_os_error() == Some(libc::EPERM) {
            return e;
        }
        io::Error::new(e.kind(), format!("{e}; verifier log: {}", log.trim()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::PacketBuilder;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn privileged() -> bool {
        crate::dataplane::sys::is_root()
    }

    fn frame6(dst: Ipv6Addr) -> Vec<u8> {
        let src: Ipv6Addr = "2001:db8:1::2".parse().unwrap();
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv6(src.octets(), dst.octets(), 64)
            .udp(40000, 53);
        let mut v = Vec::new();
        b.write(&mut v, b"q").unwrap();
        v
    }

    fn frame4(dst: Ipv4Addr) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv4([198, 51, 100, 130], dst.octets(), 64)
            .udp(53, 40000);
        let mut v = Vec::new();
        b.write(&mut v, b"a").unwrap();
        v
    }

    /// The lab's SIIT destinations: the RFC 6052 prefix (RFC 6052 §2.2, /96) and the
    /// EAM 2001:db8:1::/120 = 192.0.2.0/24 (RFC 7757 §3.2), plus the translator's own
    /// IPv4 address. With no socket in the map, "would redirect" shows as XDP_TX.
    fn lab_prog() -> Option<Prog> {
        if !privileged() {
            eprintln!("skipped: needs root (bpf)");
            return None;
        }
        let maps = Maps::new().unwrap();
        maps.add_v6("2001:db8:64::/96".parse().unwrap()).unwrap();
        maps.add_v6("2001:db8:1::/120".parse().unwrap()).unwrap();
        maps.add_v4("192.0.2.0/24".parse().unwrap()).unwrap();
        maps.add_addr("203.0.113.1".parse().unwrap()).unwrap();
        let xsks = xskmap().unwrap();
        Some(load(&maps, &xsks, XDP_TX).unwrap())
    }

    /// RFC 6052 §2.2: 2001:db8:64::c633:6482 embeds 198.51.100.130 in a /96 prefix: a
    /// destination the translator owns; a neighbour's address outside it is not.
    #[test]
    fn rfc6052_s2_2_prefix_destinations_go_to_the_translator() {
        let Some(p) = lab_prog() else { return };
        let inside = frame6("2001:db8:64::c633:6482".parse().unwrap());
        assert_eq!(p.test_run(&inside, 0).unwrap(), XDP_TX);
        let outside = frame6("2001:db8:65::1".parse().unwrap());
        assert_eq!(p.test_run(&outside, 0).unwrap(), XDP_PASS);
    }

    /// RFC 7757 §3.2: the EAM's IPv4 side (192.0.2.0/24) is translated, the rest of the
    /// IPv4 Internet passes to the kernel; so is the translator's own IPv4 address.
    #[test]
    fn rfc7757_s3_2_eam_destinations_go_to_the_translator() {
        let Some(p) = lab_prog() else { return };
        assert_eq!(
            p.test_run(&frame4([192, 0, 2, 9].into()), 0).unwrap(),
            XDP_TX
        );
        assert_eq!(
            p.test_run(&frame4([203, 0, 113, 1].into()), 0).unwrap(),
            XDP_TX
        );
        assert_eq!(
            p.test_run(&frame4([198, 51, 100, 1].into()), 0).unwrap(),
            XDP_PASS
        );
        let eam6 = frame6("2001:db8:1::7".parse().unwrap());
        assert_eq!(p.test_run(&eam6, 0).unwrap(), XDP_TX);
    }

    /// What is not IPv4 or IPv6 (ARP, RFC 826), and runts cut inside the IP header,
    /// pass to the kernel: the box keeps resolving neighbours itself.
    #[test]
    fn rfc826_arp_and_runts_pass_to_the_kernel() {
        let Some(p) = lab_prog() else { return };
        let mut arp = vec![0xffu8; 6];
        arp.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x06]);
        arp.extend_from_slice(&[0u8; 28]);
        assert_eq!(p.test_run(&arp, 0).unwrap(), XDP_PASS);
        let full = frame6("2001:db8:64::c633:6482".parse().unwrap());
        assert_eq!(p.test_run(&full[..14 + 39], 0).unwrap(), XDP_PASS);
        let v4 = frame4([192, 0, 2, 9].into());
        assert_eq!(p.test_run(&v4[..14 + 19], 0).unwrap(), XDP_PASS);
    }

    /// In service the miss action is XDP_PASS: with no socket on the queue the frame
    /// goes to the kernel rather than being lost.
    #[test]
    fn a_queue_without_a_socket_passes_to_the_kernel() {
        if !privileged() {
            return;
        }
        let maps = Maps::new().unwrap();
        maps.add_v6("2001:db8:64::/96".parse().unwrap()).unwrap();
        let xsks = xskmap().unwrap();
        let p = load(&maps, &xsks, XDP_PASS).unwrap();
        let inside = frame6("2001:db8:64::c633:6482".parse().unwrap());
        assert_eq!(p.test_run(&inside, 0).unwrap(), XDP_PASS);
    }
}
