//! `cargo xtask fraggen`: UDP datagrams sent as two IPv4 fragments, for the bench's
//! fragment row (issue 9: 1 400-byte datagrams through NAT64, against TAYGA's
//! stateless handling of the same fragments).
//!
//! One raw IPv4 socket (`IPPROTO_RAW`, so the kernel takes our IPv4 headers as they
//! are, fragment fields included), a new Identification per datagram, both fragments
//! in one `sendmmsg` batch with others. `fraggen --sink PORT` binds the receiving port
//! (IPv6) and never reads, and with `--prime IPV6:PORT` first sends one datagram from it
//! there, so that a NAT64 has a session to map the replies by.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// UDP payload bytes of each datagram.
pub const PAYLOAD: usize = 1400;
/// Payload bytes of the first fragment (a multiple of 8); the rest go in the second.
const FIRST: usize = 1000;
const IP_HEADER: usize = 20;
const UDP_HEADER: usize = 8;
/// Datagrams per `sendmmsg` call (two messages each).
const BATCH: usize = 32;

pub const USAGE: &str = "fraggen --src4 A --dst4 A --sport N --dport N --seconds S \
                         | fraggen --sink PORT [--prime IPV6:PORT]";

#[derive(Debug, PartialEq)]
pub enum Options {
    Send {
        src: Ipv4Addr,
        dst: Ipv4Addr,
        sport: u16,
        dport: u16,
        seconds: f64,
    },
    Sink {
        port: u16,
        prime: Option<SocketAddr>,
    },
}

impl Options {
    pub fn parse(rest: &[String]) -> Result<Options, String> {
        let mut v = std::collections::HashMap::new();
        let mut it = rest.iter();
        while let Some(flag) = it.next() {
            let value = it
                .next()
                .ok_or_else(|| format!("`{flag}` needs a value\nusage: {USAGE}"))?;
            v.insert(flag.trim_start_matches("--").to_string(), value.clone());
        }
        let get = |k: &str| {
            v.get(k)
                .ok_or_else(|| format!("`--{k}` is missing\nusage: {USAGE}"))
        };
        let bad = |k: &str| format!("`--{k}` has a bad value\nusage: {USAGE}");
        if let Some(port) = v.get("sink") {
            let prime = match v.get("prime") {
                Some(p) => Some(p.parse().map_err(|_| bad("prime"))?),
                None => None,
            };
            return Ok(Options::Sink {
                port: port.parse().map_err(|_| bad("sink"))?,
                prime,
            });
        }
        Ok(Options::Send {
            src: get("src4")?.parse().map_err(|_| bad("src4"))?,
            dst: get("dst4")?.parse().map_err(|_| bad("dst4"))?,
            sport: get("sport")?.parse().map_err(|_| bad("sport"))?,
            dport: get("dport")?.parse().map_err(|_| bad("dport"))?,
            seconds: get("seconds")?
                .parse::<f64>()
                .ok()
                .filter(|s| *s > 0.0)
                .ok_or_else(|| bad("seconds"))?,
        })
    }
}

pub fn run(o: Options) -> Result<(), String> {
    match o {
        Options::Sink { port, prime } => sink(port, prime),
        Options::Send {
            src,
            dst,
            sport,
            dport,
            seconds,
        } => send(src, dst, sport, dport, seconds),
    }
}

fn sink(port: u16, prime: Option<SocketAddr>) -> Result<(), String> {
    let s = UdpSocket::bind(("::", port)).map_err(|e| format!("fraggen: bind [::]:{port}: {e}"))?;
    if let Some(to) = prime {
        s.send_to(b"prime", to)
            .map_err(|e| format!("fraggen: send to {to}: {e}"))?;
    }
    println!("fraggen: sink on UDP port {port}");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// RFC 1071 sum of big-endian words, folded.
fn fold_sum(bytes: &[u8]) -> u16 {
    let mut s: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(c.get(1).copied().unwrap_or(0)))
        .sum();
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// The UDP datagram (header with its RFC 768 checksum, payload).
fn datagram(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16) -> Vec<u8> {
    let len = (UDP_HEADER + PAYLOAD) as u16;
    let mut d = Vec::with_capacity(usize::from(len));
    for v in [sport, dport, len, 0] {
        d.extend_from_slice(&v.to_be_bytes());
    }
    d.extend((0..PAYLOAD).map(|i| i as u8));
    let mut pseudo = [src.octets(), dst.octets()].concat();
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&len.to_be_bytes());
    pseudo.extend_from_slice(&d);
    let c = !fold_sum(&pseudo);
    d[6..8].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
    d
}

/// The two fragments' IPv4 headers (RFC 791; the kernel fills in the checksum).
fn header(src: Ipv4Addr, dst: Ipv4Addr, len: usize, id: u16, first: bool) -> [u8; IP_HEADER] {
    let mut h = [0u8; IP_HEADER];
    h[0] = 0x45;
    h[2..4].copy_from_slice(&((IP_HEADER + len) as u16).to_be_bytes());
    h[4..6].copy_from_slice(&id.to_be_bytes());
    let fo: u16 = if first { 0x2000 } else { (FIRST / 8) as u16 };
    h[6..8].copy_from_slice(&fo.to_be_bytes());
    h[8] = 64;
    h[9] = 17;
    h[12..16].copy_from_slice(&src.octets());
    h[16..20].copy_from_slice(&dst.octets());
    h
}

fn send(src: Ipv4Addr, dst: Ipv4Addr, sport: u16, dport: u16, secs: f64) -> Result<(), String> {
    let sock = RawIp4::open()?;
    let d = datagram(src, dst, sport, dport);
    let (first, second) = d.split_at(FIRST);
    let mut heads = vec![[0u8; IP_HEADER]; 2 * BATCH];
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(secs);
    let (mut sent, mut errors, mut id) = (0u64, 0u64, 1u16);
    while Instant::now() < deadline {
        for pair in heads.chunks_mut(2) {
            pair[0] = header(src, dst, first.len(), id, true);
            pair[1] = header(src, dst, second.len(), id, false);
            id = id.wrapping_add(1).max(1);
        }
        match sock.send_batch(&heads, first, second, dst) {
            Ok(n) => sent += n as u64 / 2,
            Err(_) => errors += 1,
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "fraggen: sent {sent} datagrams in {secs:.3} s ({:.0} datagrams/s), {errors} send errors",
        sent as f64 / secs.max(1e-9)
    );
    Ok(())
}

/// (datagrams sent, seconds) from the summary line.
pub fn parse_report(out: &str) -> Option<(u64, f64)> {
    let line = out.lines().find(|l| l.starts_with("fraggen: sent "))?;
    let w: Vec<&str> = line.split_whitespace().collect();
    Some((w.get(2)?.parse().ok()?, w.get(5)?.parse().ok()?))
}

/// A raw IPv4 socket that sends our headers as they are (`IPPROTO_RAW` implies
/// `IP_HDRINCL`).
struct RawIp4 {
    fd: libc::c_int,
}

impl RawIp4 {
    fn open() -> Result<RawIp4, String> {
        // SAFETY: socket(2) takes no pointers.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, libc::IPPROTO_RAW) };
        if fd < 0 {
            return Err(format!(
                "fraggen: raw IPv4 socket: {} (needs root or CAP_NET_RAW)",
                std::io::Error::last_os_error()
            ));
        }
        Ok(RawIp4 { fd })
    }

    /// Sends `heads` in pairs (first fragment's header + `first`, second's + `second`)
    /// to `dst`; returns how many messages the kernel took.
    fn send_batch(
        &self,
        heads: &[[u8; IP_HEADER]],
        first: &[u8],
        second: &[u8],
        dst: Ipv4Addr,
    ) -> std::io::Result<usize> {
        // SAFETY: sockaddr_in is plain old data; all zeroes is a valid value.
        let mut to: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        to.sin_family = libc::AF_INET as libc::sa_family_t;
        to.sin_addr.s_addr = u32::from_ne_bytes(dst.octets());
        let mut iovs: Vec<[libc::iovec; 2]> = heads
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let body = if i % 2 == 0 { first } else { second };
                [
                    libc::iovec {
                        iov_base: h.as_ptr() as *mut libc::c_void,
                        iov_len: h.len(),
                    },
                    libc::iovec {
                        iov_base: body.as_ptr() as *mut libc::c_void,
                        iov_len: body.len(),
                    },
                ]
            })
            .collect();
        let mut msgs: Vec<libc::mmsghdr> = iovs
            .iter_mut()
            .map(|iov| {
                // SAFETY: mmsghdr is plain old data; all zeroes is a valid value.
                let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
                m.msg_hdr.msg_name = (&raw mut to).cast();
                m.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as u32;
                m.msg_hdr.msg_iov = iov.as_mut_ptr();
                m.msg_hdr.msg_iovlen = 2;
                m
            })
            .collect();
        // SAFETY: `msgs` holds initialised headers whose name and iovecs point into `to`,
        // `iovs`, `heads`, `first` and `second`, all alive and unmoved until the call
        // returns; the kernel only reads them (and writes msg_len).
        let rc = unsafe { libc::sendmmsg(self.fd, msgs.as_mut_ptr(), msgs.len() as u32, 0) };
        if rc < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(rc as usize)
        }
    }
}

impl Drop for RawIp4 {
    fn drop(&mut self) {
        // SAFETY: `fd` is a socket this value owns and nothing else closes.
        unsafe { libc::close(self.fd) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 791: the first fragment has MF and offset 0, the second offset FIRST/8 and no
    /// MF; both carry the same Identification and their lengths add up to the datagram.
    #[test]
    fn fragments_describe_one_datagram() {
        let (s, d) = (
            Ipv4Addr::new(198, 51, 100, 130),
            Ipv4Addr::new(192, 0, 2, 2),
        );
        let a = header(s, d, FIRST, 7, true);
        let b = header(s, d, UDP_HEADER + PAYLOAD - FIRST, 7, false);
        assert_eq!(u16::from_be_bytes([a[6], a[7]]), 0x2000);
        assert_eq!(u16::from_be_bytes([b[6], b[7]]), (FIRST / 8) as u16);
        assert_eq!(a[4..6], b[4..6]);
        let total = u16::from_be_bytes([a[2], a[3]]) + u16::from_be_bytes([b[2], b[3]]);
        assert_eq!(usize::from(total), 2 * IP_HEADER + UDP_HEADER + PAYLOAD);
        let dg = datagram(s, d, 9, 40000);
        let mut pseudo = [s.octets(), d.octets()].concat();
        pseudo.extend_from_slice(&[0, 17, 0x05, 0x80]);
        pseudo.extend_from_slice(&dg);
        assert_eq!(fold_sum(&pseudo), 0xffff);
        let line = "fraggen: sent 1000 datagrams in 2.000 s (500 datagrams/s), 0 send errors";
        assert_eq!(parse_report(line), Some((1000, 2.0)));
    }
}
