//! NAT64 owner steering on the TUN (TUNSETSTEERINGEBPF): a socket-filter program that
//! gives the kernel, for each packet it writes into the TUN, the queue of the worker
//! owning its session, so that no packet has to be handed between workers.
//!
//! The program copies [`Sharding`]: an IPv4 packet's owner is the pool4 port slice of
//! its destination port (TCP and UDP) or echo identifier (ICMP), looked up in an array
//! the control plane fills; an IPv6 packet's owner is the keyed hash of its source's
//! subscriber prefix, the same folded multiply `Sharding` computes, with the 64×64→128
//! multiply done in 32-bit halves (BPF has no high multiply). Static BIB entries and
//! IPv4 fragments after the first are not steered: they land where the kernel's queue
//! choice puts them and the hand-off still carries them to their owner.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

use crate::dataplane::xdp::asm::{Asm, HELPER_MAP_LOOKUP, op};
use crate::dataplane::xdp::bpf::{self, Map, Prog};
use crate::nat64::{Proto, Sharding, owner_of_port};

/// The owner of every port of every protocol class (TCP, UDP, ICMP), as
/// [`Sharding::owner_of_v4`] gives it without static entries.
fn port_owners(sh: &Sharding) -> io::Result<Map> {
    let map = Map::create("xlat64_owners", bpf::MAP_ARRAY, 4, 4, 3 * 65536)?;
    for (c, proto) in Proto::ALL.iter().enumerate() {
        let range = sh.pool().range(*proto);
        for port in 0..=u16::MAX {
            // No owner (outside pool4's ports) stays 0, the array's initial value: queue
            // 0, where the worker drops it as it would anywhere.
            let w = owner_of_port(range, sh.workers(), port).map_or(0, |w| w as u32);
            if w != 0 {
                let key = (c as u32) * 65536 + u32::from(port);
                map.update(&key.to_ne_bytes(), &w.to_ne_bytes())?;
            }
        }
    }
    Ok(map)
}

const LD_ABS_B: u8 = 0x30;
const LD_ABS_H: u8 = 0x28;
const LD_ABS_W: u8 = 0x20;
const LD_IND_H: u8 = 0x48;
const RSH64_K: u8 = 0x77;
const LSH64_K: u8 = 0x67;
const AND64_K: u8 = 0x57;
const AND64_X: u8 = 0x5f;
const OR64_X: u8 = 0x4f;
const XOR64_X: u8 = 0xaf;
const ADD64_X: u8 = 0x0f;
const MUL64_X: u8 = 0x2f;
const MUL64_K: u8 = 0x27;
const MOV32_X: u8 = 0xbc;

/// r0 = fold(r1, r2): the low and high halves of the 128-bit product, xored
/// (`nat64::hash`). Clobbers r1–r5.
fn fold(a: &mut Asm) {
    a.emit(MOV32_X, 3, 1, 0, 0); // a_lo
    a.emit(RSH64_K, 1, 0, 0, 32); // a_hi
    a.emit(MOV32_X, 4, 2, 0, 0); // b_lo
    a.emit(RSH64_K, 2, 0, 0, 32); // b_hi
    a.emit(op::MOV64_X, 5, 3, 0, 0);
    a.emit(MUL64_X, 5, 4, 0, 0); // ll
    a.emit(MUL64_X, 3, 2, 0, 0); // lh
    a.emit(MUL64_X, 4, 1, 0, 0); // hl
    a.emit(MUL64_X, 1, 2, 0, 0); // hh
    a.emit(op::MOV64_X, 2, 5, 0, 0);
    a.emit(RSH64_K, 2, 0, 0, 32);
    a.emit(MOV32_X, 0, 3, 0, 0);
    a.emit(ADD64_X, 2, 0, 0, 0);
    a.emit(MOV32_X, 0, 4, 0, 0);
    a.emit(ADD64_X, 2, 0, 0, 0); // mid
    a.emit(MOV32_X, 5, 5, 0, 0);
    a.emit(op::MOV64_X, 0, 2, 0, 0);
    a.emit(LSH64_K, 0, 0, 0, 32);
    a.emit(OR64_X, 5, 0, 0, 0); // lo
    a.emit(RSH64_K, 3, 0, 0, 32);
    a.emit(ADD64_X, 1, 3, 0, 0);
    a.emit(RSH64_K, 4, 0, 0, 32);
    a.emit(ADD64_X, 1, 4, 0, 0);
    a.emit(RSH64_K, 2, 0, 0, 32);
    a.emit(ADD64_X, 1, 2, 0, 0); // hi
    a.emit(op::MOV64_X, 0, 5, 0, 0);
    a.emit(XOR64_X, 0, 1, 0, 0);
}

/// The steering program for `sh`'s workers, reading port owners from `owners`.
pub fn program(sh: &Sharding, owners: &Map) -> Vec<u64> {
    use op::*;
    let ([k0, k1, k2], pi, mask) = sh.v6_owner_params();
    let workers = sh.workers() as i32;
    let mut a = Asm::new();
    let (zero, v6, icmp, port, lookup) = (a.label(), a.label(), a.label(), a.label(), a.label());
    a.emit(MOV64_X, 6, 1, 0, 0);
    a.emit(LD_ABS_B, 0, 0, 0, 0);
    a.emit(MOV64_X, 7, 0, 0, 0);
    a.emit(RSH64_K, 7, 0, 0, 4);
    a.jump(JEQ_K, 7, 0, 6, v6);
    a.jump(JNE_K, 7, 0, 4, zero);
    // IPv4: only a first (or only) fragment has ports.
    a.emit(LD_ABS_H, 0, 0, 0, 6);
    a.emit(AND64_K, 0, 0, 0, 0x1fff);
    a.jump(JNE_K, 0, 0, 0, zero);
    a.emit(LD_ABS_B, 0, 0, 0, 0);
    a.emit(AND64_K, 0, 0, 0, 0xf);
    a.emit(LSH64_K, 0, 0, 0, 2);
    a.emit(MOV64_X, 7, 0, 0, 0); // header length
    a.emit(LD_ABS_B, 0, 0, 0, 9);
    a.emit(MOV64_K, 8, 0, 0, 0);
    a.jump(JEQ_K, 0, 0, 6, port);
    a.emit(MOV64_K, 8, 0, 0, 1);
    a.jump(JEQ_K, 0, 0, 17, port);
    a.emit(MOV64_K, 8, 0, 0, 2);
    a.jump(JEQ_K, 0, 0, 1, icmp);
    a.jump(JA, 0, 0, 0, zero);
    a.bind(icmp);
    a.emit(LD_IND_H, 0, 7, 0, 4); // echo identifier
    a.jump(JA, 0, 0, 0, lookup);
    a.bind(port);
    a.emit(LD_IND_H, 0, 7, 0, 2); // destination port
    a.bind(lookup);
    a.emit(LSH64_K, 8, 0, 0, 16);
    a.emit(ADD64_X, 8, 0, 0, 0);
    a.emit(op::STX_W, 10, 8, -4, 0);
    a.ld_map(1, owners);
    a.emit(MOV64_X, 2, 10, 0, 0);
    a.emit(ADD64_K, 2, 0, 0, -4);
    a.emit(CALL, 0, 0, 0, HELPER_MAP_LOOKUP);
    a.jump(JEQ_K, 0, 0, 0, zero);
    a.emit(LDX_W, 0, 0, 0, 0);
    a.emit(EXIT, 0, 0, 0, 0);

    // IPv6: the source address, in host order, as (high, low) 64-bit halves.
    a.bind(v6);
    a.emit(LD_ABS_W, 0, 0, 0, 8);
    a.emit(MOV64_X, 7, 0, 0, 0);
    a.emit(LSH64_K, 7, 0, 0, 32);
    a.emit(LD_ABS_W, 0, 0, 0, 12);
    a.emit(OR64_X, 7, 0, 0, 0);
    a.emit(LD_ABS_W, 0, 0, 0, 16);
    a.emit(MOV64_X, 8, 0, 0, 0);
    a.emit(LSH64_K, 8, 0, 0, 32);
    a.emit(LD_ABS_W, 0, 0, 0, 20);
    a.emit(OR64_X, 8, 0, 0, 0);
    // h2(low ^ k0, high ^ k1) of the prefix, then fold with k2 and the constant.
    a.ld_imm64(1, mask as u64);
    a.emit(AND64_X, 8, 1, 0, 0);
    a.ld_imm64(1, (mask >> 64) as u64);
    a.emit(AND64_X, 7, 1, 0, 0);
    a.ld_imm64(1, k0);
    a.emit(XOR64_X, 1, 8, 0, 0);
    a.ld_imm64(2, k1);
    a.emit(XOR64_X, 2, 7, 0, 0);
    fold(&mut a);
    a.ld_imm64(1, k2);
    a.emit(XOR64_X, 1, 0, 0, 0);
    a.ld_imm64(2, pi);
    fold(&mut a);
    // (h * workers) >> 64 in 32-bit halves.
    a.emit(MOV32_X, 1, 0, 0, 0);
    a.emit(MUL64_K, 1, 0, 0, workers);
    a.emit(RSH64_K, 1, 0, 0, 32);
    a.emit(RSH64_K, 0, 0, 0, 32);
    a.emit(MUL64_K, 0, 0, 0, workers);
    a.emit(ADD64_X, 0, 1, 0, 0);
    a.emit(RSH64_K, 0, 0, 0, 32);
    a.emit(EXIT, 0, 0, 0, 0);

    a.bind(zero);
    a.emit(MOV64_K, 0, 0, 0, 0);
    a.emit(EXIT, 0, 0, 0, 0);
    a.finish()
}

/// The loaded program (with its map) for `sh`.
pub fn load(sh: &Sharding) -> io::Result<(Prog, Map)> {
    let owners = port_owners(sh)?;
    let prog = Prog::load(
        bpf::PROG_TYPE_SOCKET_FILTER,
        "xlat64_steer",
        &program(sh, &owners),
    )
    .map_err(|(e, log)| io::Error::new(e.kind(), format!("{e}; verifier log: {}", log.trim())))?;
    Ok((prog, owners))
}

/// TUNSETSTEERINGEBPF on a queue of the device (the setting is device-wide): the
/// kernel keeps its own reference to the program.
pub fn attach(queue: BorrowedFd<'_>, prog: &Prog) -> io::Result<()> {
    const TUNSETSTEERINGEBPF: libc::Ioctl = 0x8004_54e0_u32 as libc::Ioctl;
    let fd: libc::c_int = prog.raw_fd();
    // SAFETY: TUNSETSTEERINGEBPF reads one int (a program descriptor) through the
    // pointer, live for the call; `queue` is a valid TUN fd.
    let rc = unsafe { libc::ioctl(queue.as_raw_fd(), TUNSETSTEERINGEBPF, &fd) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nat64::Pool4;
    use etherparse::PacketBuilder;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn eth() -> etherparse::Ethernet2Header {
        etherparse::Ethernet2Header::default()
    }

    fn frame6(src: Ipv6Addr) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
            .ipv6(
                src.octets(),
                [
                    0x20, 1, 0xd, 0xb8, 0, 0x64, 0, 0, 0, 0, 0, 0, 198, 51, 100, 1,
                ],
                64,
            )
            .udp(40000, 53);
        let mut v = Vec::new();
        b.write(&mut v, b"q").unwrap();
        v
    }

    fn frame4(dport: u16, tcp: bool) -> Vec<u8> {
        let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]).ipv4(
            [198, 51, 100, 1],
            [203, 0, 113, 16],
            64,
        );
        let mut v = Vec::new();
        if tcp {
            b.tcp(80, dport, 1, 1000).write(&mut v, b"").unwrap();
        } else {
            b.udp(53, dport).write(&mut v, b"a").unwrap();
        }
        v
    }

    /// The kernel's choice equals `Sharding`'s for IPv6 sources (RFC 6146 §3.5: the
    /// worker holding a subscriber's sessions) and pool4 ports (the slice the mapping
    /// was taken from), for three workers and a /56 subscriber prefix.
    #[test]
    fn rfc6146_s3_5_steering_picks_the_owner() {
        if !crate::dataplane::sys::is_root() {
            eprintln!("skipped: needs root (bpf)");
            return;
        }
        let _ = eth();
        let pool = Pool4::new(vec![Ipv4Addr::new(203, 0, 113, 16)]);
        let sh = Sharding::new(&pool, 3, 56, 0x1234_5678_9abc_def0);
        let (prog, _owners) = load(&sh).unwrap();
        let mut seen = [0usize; 3];
        for i in 0..300u32 {
            let x = i.wrapping_mul(2_654_435_761);
            let src = Ipv6Addr::new(0x2001, 0xdb8, (x >> 16) as u16, x as u16, 1, 2, 3, 4);
            let want = sh.owner_of_v6(Proto::Udp, src, 40000);
            assert_eq!(
                prog.test_run_skb(&frame6(src)).unwrap() as usize,
                want,
                "{src}"
            );
            seen[want] += 1;
        }
        assert!(seen.iter().all(|&n| n > 50), "{seen:?}");
        for port in [1024u16, 5000, 20000, 30000, 43000, 50000, 65535] {
            for tcp in [true, false] {
                let proto = if tcp { Proto::Tcp } else { Proto::Udp };
                let want = sh.owner_of_v4(proto, Ipv4Addr::new(203, 0, 113, 16), port);
                let got = prog.test_run_skb(&frame4(port, tcp)).unwrap() as usize;
                assert_eq!(Some(got), want.or(Some(0)), "port {port}");
            }
        }
    }
}
