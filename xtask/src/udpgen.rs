//! `cargo xtask udpgen`: a 64-byte UDP flood over an exact number of flows, for the bench.
//!
//! iperf3 opens a socket per stream, so it cannot make 100 000 flows, nor a new flow per
//! packet. This generator sends from one raw IPv6 socket per thread (`SOCK_RAW`,
//! `IPPROTO_UDP`: the kernel writes the IPv6 header, we write the UDP header and its
//! checksum), so a flow costs nothing but a port pair, and batches the sends with
//! `sendmmsg`.
//!
//! Flow `k` is the port pair ([`tuple`]): source ports run fastest over 1024-65535,
//! destination ports count up from 10000 (at most 64 of them), so `--flows F` cycles
//! through exactly F distinct 5-tuples and `--new-flows` never repeats one (up to
//! [`MAX_TUPLES`]).
//!
//! `udpgen --sink`, run on the receiver, binds those 64 destination ports and never
//! reads: the kernel drops what overflows the sockets' buffers, which costs far less
//! than answering every datagram with an ICMP port unreachable (since Linux 6.11 the
//! per-destination ICMP rate limit, and its route lookup, comes before the global one).
//! The bench counts what reaches the receiver's interface.
//!
//! The syscalls live here, not in src/dataplane/sys.rs: this is test tooling and xtask
//! does not link the xlat64 library.

use std::net::{Ipv6Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// UDP payload bytes (the "64-byte UDP" of the bench).
pub const PAYLOAD: usize = 64;
const UDP_HEADER: usize = 8;
const DATAGRAM: usize = UDP_HEADER + PAYLOAD;
/// Datagrams per `sendmmsg` call.
const BATCH: usize = 64;
const SPORT_FIRST: u64 = 1024;
const SPORTS: u64 = 65536 - SPORT_FIRST;
/// Destination ports start here, above the bench's iperf3 ports (5201...) ...
const DPORT_FIRST: u64 = 10000;
/// ... and there are this many, so that a sink can bind them all.
const DPORTS: u64 = 64;
/// Distinct port pairs [`tuple`] can make.
pub const MAX_TUPLES: u64 = SPORTS * DPORTS;

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Flows {
    /// Cycle through exactly this many 5-tuples.
    Fixed(u64),
    /// Every packet a 5-tuple not used before in this run.
    New,
}

#[derive(Debug, PartialEq)]
pub struct Options {
    /// Receive side: bind the destination ports and wait to be killed.
    sink: bool,
    dst: Ipv6Addr,
    seconds: f64,
    flows: Flows,
    threads: u32,
    /// Stop after this many packets even if time is left (a NAT64 session budget).
    max_packets: u64,
}

pub const USAGE: &str = "udpgen --dst IPV6 --seconds S (--flows N | --new-flows) \
                         [--threads N] [--max-packets N] | udpgen --sink";

impl Options {
    pub fn parse(rest: &[String]) -> Result<Options, String> {
        let mut dst = None;
        let mut o = Options {
            sink: false,
            dst: Ipv6Addr::UNSPECIFIED,
            seconds: 5.0,
            flows: Flows::Fixed(64),
            threads: 1,
            max_packets: u64::MAX,
        };
        let mut it = rest.iter();
        while let Some(flag) = it.next() {
            if flag == "--new-flows" {
                o.flows = Flows::New;
                continue;
            }
            if flag == "--sink" {
                o.sink = true;
                continue;
            }
            let value = it
                .next()
                .ok_or_else(|| format!("`{flag}` needs a value\nusage: {USAGE}"))?;
            let bad = |what: &str| format!("`{flag}` needs {what}, got `{value}`");
            let count = || {
                value
                    .parse::<u64>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| bad("a positive whole number"))
            };
            match flag.as_str() {
                "--dst" => dst = Some(value.parse().map_err(|_| bad("an IPv6 address"))?),
                "--seconds" => {
                    o.seconds = value
                        .parse::<f64>()
                        .ok()
                        .filter(|s| *s > 0.0 && *s < 86400.0)
                        .ok_or_else(|| bad("a number of seconds above 0"))?
                }
                "--flows" => {
                    let n = count()?;
                    if n > MAX_TUPLES {
                        return Err(bad(&format!("at most {MAX_TUPLES} flows")));
                    }
                    o.flows = Flows::Fixed(n);
                }
                "--threads" => o.threads = u32::try_from(count()?).map_err(|_| bad("< 2^32"))?,
                "--max-packets" => o.max_packets = count()?,
                _ => return Err(format!("unknown option `{flag}`\nusage: {USAGE}")),
            }
        }
        if o.sink {
            return Ok(o);
        }
        o.dst = dst.ok_or_else(|| format!("`--dst IPV6` is required\nusage: {USAGE}"))?;
        Ok(o)
    }
}

/// Source and destination port of flow `k` (`k` < [`MAX_TUPLES`]).
pub fn tuple(k: u64) -> (u16, u16) {
    let sport = SPORT_FIRST + k % SPORTS;
    let dport = DPORT_FIRST + (k / SPORTS) % DPORTS;
    (sport as u16, dport as u16)
}

/// One's-complement sum of big-endian 16-bit words, not yet folded.
fn sum16(bytes: &[u8]) -> u32 {
    bytes
        .chunks(2)
        .map(|c| u32::from(c[0]) << 8 | u32::from(c.get(1).copied().unwrap_or(0)))
        .sum()
}

fn fold(mut s: u32) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// The parts of the UDP checksum (RFC 8200 §8.1 pseudo-header, RFC 768) that do not
/// depend on the ports: addresses, length, next header and payload.
fn base_sum(src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8]) -> u32 {
    let len = (UDP_HEADER + payload.len()) as u32;
    sum16(&src.octets()) + sum16(&dst.octets()) + 2 * len + 17 + sum16(payload)
}

/// Writes ports, length and checksum into the UDP header at the start of `dgram`.
fn write_header(dgram: &mut [u8; DATAGRAM], base: u32, sport: u16, dport: u16) {
    let csum = !fold(base + u32::from(sport) + u32::from(dport));
    // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
    let csum = if csum == 0 { 0xffff } else { csum };
    dgram[0..2].copy_from_slice(&sport.to_be_bytes());
    dgram[2..4].copy_from_slice(&dport.to_be_bytes());
    dgram[4..6].copy_from_slice(&(DATAGRAM as u16).to_be_bytes());
    dgram[6..8].copy_from_slice(&csum.to_be_bytes());
}

/// What one sender thread did.
#[derive(Default)]
struct Sent {
    packets: u64,
    errors: u64,
    first_error: Option<String>,
}

pub fn run(o: Options) -> Result<(), String> {
    if o.sink {
        return sink();
    }
    let src = source_for(o.dst)?;
    let payload = [0x5a_u8; PAYLOAD];
    let base = base_sum(src, o.dst, &payload);
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(o.seconds);
    let threads = u64::from(o.threads);
    let results: Vec<Result<Sent, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let budget = o.max_packets / threads + u64::from(t < o.max_packets % threads);
                let o = &o;
                s.spawn(move || send_loop(o, src, base, &payload, t, budget, deadline))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err("sender thread panicked".into()))
            })
            .collect()
    });
    let secs = start.elapsed().as_secs_f64();
    let mut total = Sent::default();
    for r in results {
        let r = r?;
        total.packets += r.packets;
        total.errors += r.errors;
        total.first_error = total.first_error.or(r.first_error);
    }
    let flows = match o.flows {
        Flows::Fixed(f) => f.min(total.packets),
        Flows::New => total.packets,
    };
    println!("{}", report(total.packets, flows, secs, total.errors));
    if let Some(e) = total.first_error {
        println!("udpgen: first send error: {e}");
    }
    if total.packets == 0 {
        return Err(format!("udpgen: nothing sent to {}", o.dst));
    }
    Ok(())
}

/// Binds every destination port [`tuple`] uses, on IPv6 and IPv4, and sleeps; the
/// sockets are never read.
fn sink() -> Result<(), String> {
    let mut socks = Vec::new();
    for port in DPORT_FIRST..DPORT_FIRST + DPORTS {
        let port = port as u16;
        let v6 =
            UdpSocket::bind(("::", port)).map_err(|e| format!("udpgen: bind [::]:{port}: {e}"))?;
        socks.push(v6);
        // Already covered when [::] is dual-stack (net.ipv6.bindv6only = 0).
        if let Ok(v4) = UdpSocket::bind(("0.0.0.0", port)) {
            socks.push(v4);
        }
    }
    println!(
        "udpgen: sink on UDP ports {DPORT_FIRST}-{}",
        DPORT_FIRST + DPORTS - 1
    );
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// The summary line the bench reads back with [`parse_report`].
fn report(packets: u64, flows: u64, secs: f64, errors: u64) -> String {
    format!(
        "udpgen: sent {packets} packets over {flows} flows in {secs:.3} s ({:.0} packets/s), \
         {errors} send errors",
        packets as f64 / secs.max(1e-9)
    )
}

/// (packets sent, seconds) from the summary line of a run's output.
pub fn parse_report(out: &str) -> Option<(u64, f64)> {
    let line = out.lines().find(|l| l.starts_with("udpgen: sent "))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let packets = words.get(2)?.parse().ok()?;
    let at = words.iter().position(|w| *w == "in")?;
    let secs = words.get(at + 1)?.parse().ok()?;
    Some((packets, secs))
}

/// The address the kernel picks as source towards `dst` (what the raw socket will use
/// too, and what the checksum must cover).
fn source_for(dst: Ipv6Addr) -> Result<Ipv6Addr, String> {
    let probe = UdpSocket::bind("[::]:0").map_err(|e| format!("udpgen: socket: {e}"))?;
    probe
        .connect(SocketAddr::from((dst, 9)))
        .map_err(|e| format!("udpgen: no route to {dst}: {e}"))?;
    match probe.local_addr() {
        Ok(SocketAddr::V6(a)) => Ok(*a.ip()),
        Ok(a) => Err(format!("udpgen: unexpected source {a}")),
        Err(e) => Err(format!("udpgen: getsockname: {e}")),
    }
}

/// Thread `t` of `o.threads` sends flows `t`, `t + threads`, ... until the deadline or
/// its `budget` of packets.
fn send_loop(
    o: &Options,
    src: Ipv6Addr,
    base: u32,
    payload: &[u8; PAYLOAD],
    t: u64,
    budget: u64,
    deadline: Instant,
) -> Result<Sent, String> {
    let sock = RawUdp6::open(src, o.dst)?;
    let threads = u64::from(o.threads);
    let mut bufs = [[0u8; DATAGRAM]; BATCH];
    for b in &mut bufs {
        b[UDP_HEADER..].copy_from_slice(payload);
    }
    let mut sent = Sent::default();
    let mut k = t;
    while sent.packets < budget && Instant::now() < deadline {
        let n = usize::try_from(budget - sent.packets).map_or(BATCH, |left| left.min(BATCH));
        for b in &mut bufs[..n] {
            let flow = match o.flows {
                Flows::Fixed(f) => k % f,
                Flows::New if k >= MAX_TUPLES => return Ok(sent),
                Flows::New => k,
            };
            let (sport, dport) = tuple(flow);
            write_header(b, base, sport, dport);
            k += threads;
        }
        match sock.send_batch(&bufs[..n]) {
            Ok(done) => {
                sent.packets += done as u64;
                // Flows of the datagrams not taken are skipped, not resent: in the
                // new-flows mode a tuple must never come twice.
            }
            Err(e) => {
                sent.errors += 1;
                sent.first_error.get_or_insert_with(|| e.to_string());
                if sent.errors > 1_000_000 && sent.packets == 0 {
                    return Err(format!("udpgen: sendmmsg keeps failing: {e}"));
                }
            }
        }
    }
    Ok(sent)
}

/// A raw IPv6 socket for protocol UDP, bound to `src` and connected to `dst`.
struct RawUdp6 {
    fd: libc::c_int,
}

fn sockaddr(a: Ipv6Addr) -> libc::sockaddr_in6 {
    // SAFETY: sockaddr_in6 is plain old data; all zeroes is a valid value.
    let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sa.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    sa.sin6_addr.s6_addr = a.octets();
    sa
}

impl RawUdp6 {
    fn open(src: Ipv6Addr, dst: Ipv6Addr) -> Result<RawUdp6, String> {
        // SAFETY: socket(2) takes no pointers.
        let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_RAW, libc::IPPROTO_UDP) };
        if fd < 0 {
            return Err(format!(
                "udpgen: raw IPv6 socket: {} (needs root or CAP_NET_RAW)",
                std::io::Error::last_os_error()
            ));
        }
        let sock = RawUdp6 { fd };
        let len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        let (s, d) = (sockaddr(src), sockaddr(dst));
        // SAFETY: `s` and `d` are valid sockaddr_in6 values that outlive the calls, and
        // `len` is their size.
        let rc = unsafe {
            if libc::bind(fd, (&raw const s).cast(), len) < 0 {
                -1
            } else {
                libc::connect(fd, (&raw const d).cast(), len)
            }
        };
        if rc < 0 {
            return Err(format!(
                "udpgen: bind {src} / connect {dst}: {}",
                std::io::Error::last_os_error()
            ));
        }
        let sndbuf: libc::c_int = 4 << 20;
        // SAFETY: the option value is a c_int that outlives the call; its size is given.
        // A refused size only leaves the default, so the result is not checked.
        unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                (&raw const sndbuf).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
        Ok(sock)
    }

    /// Sends the datagrams with one `sendmmsg`; returns how many the kernel took.
    fn send_batch(&self, dgrams: &[[u8; DATAGRAM]]) -> std::io::Result<usize> {
        let mut iovs: Vec<libc::iovec> = dgrams
            .iter()
            .map(|d| libc::iovec {
                iov_base: d.as_ptr() as *mut libc::c_void,
                iov_len: d.len(),
            })
            .collect();
        let mut msgs: Vec<libc::mmsghdr> = iovs
            .iter_mut()
            .map(|iov| {
                // SAFETY: mmsghdr is plain old data; all zeroes is a valid value (no
                // name, no control data, no flags).
                let mut m: libc::mmsghdr = unsafe { std::mem::zeroed() };
                m.msg_hdr.msg_iov = iov;
                m.msg_hdr.msg_iovlen = 1;
                m
            })
            .collect();
        // SAFETY: `msgs` holds `msgs.len()` initialised headers whose iovecs point into
        // `iovs` and `dgrams`, all alive and unmoved until the call returns; the kernel
        // only reads them (and writes msg_len).
        let rc = unsafe { libc::sendmmsg(self.fd, msgs.as_mut_ptr(), msgs.len() as u32, 0) };
        if rc < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(rc as usize)
        }
    }
}

impl Drop for RawUdp6 {
    fn drop(&mut self) {
        // SAFETY: `fd` is a socket this value owns and nothing else closes.
        unsafe { libc::close(self.fd) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn parses_options() {
        let o = Options::parse(&args(
            "--dst 2001:db8:64::c633:6482 --seconds 2.5 --flows 100000",
        ))
        .unwrap();
        assert_eq!(o.dst, "2001:db8:64::c633:6482".parse::<Ipv6Addr>().unwrap());
        assert_eq!(
            (o.seconds, o.flows, o.threads),
            (2.5, Flows::Fixed(100000), 1)
        );
        let o = Options::parse(&args("--dst ::1 --new-flows --threads 2 --max-packets 9")).unwrap();
        assert_eq!((o.flows, o.threads, o.max_packets), (Flows::New, 2, 9));
        assert!(Options::parse(&args("--sink")).unwrap().sink);
        for bad in [
            "--seconds 1",
            "--dst 192.0.2.1",
            "--dst ::1 --flows 0",
            "--dst ::1 --bogus 1",
            "--dst ::1 --flows",
            "--dst ::1 --flows 5000000",
        ] {
            assert!(Options::parse(&args(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn tuples_are_distinct_and_avoid_low_destination_ports() {
        let mut seen = std::collections::HashSet::new();
        for k in (0..200_000).chain(MAX_TUPLES - 200_000..MAX_TUPLES) {
            let (s, d) = tuple(k);
            assert!(s >= 1024 && d >= 10000);
            assert!(seen.insert((s, d)), "flow {k} repeats");
        }
        assert_eq!(tuple(0), (1024, 10000));
        assert_eq!(tuple(SPORTS), (1024, 10001));
        assert_eq!(tuple(MAX_TUPLES - 1), (65535, 10063));
        assert_eq!(tuple(MAX_TUPLES), tuple(0));
    }

    /// RFC 768 / RFC 8200 §8.1: summing the pseudo-header and the whole datagram,
    /// checksum field included, gives 0xffff.
    #[test]
    fn udp_checksum_verifies() {
        let src: Ipv6Addr = "2001:db8:1::2".parse().unwrap();
        let dst: Ipv6Addr = "2001:db8:64::c633:6482".parse().unwrap();
        let payload = [0x5a_u8; PAYLOAD];
        let mut d = [0u8; DATAGRAM];
        d[UDP_HEADER..].copy_from_slice(&payload);
        for k in [0, 1, 12345, MAX_TUPLES - 1] {
            let (sp, dp) = tuple(k);
            write_header(&mut d, base_sum(src, dst, &payload), sp, dp);
            let total = sum16(&src.octets()) + sum16(&dst.octets()) + DATAGRAM as u32 + 17;
            assert_eq!(fold(total + sum16(&d)), 0xffff, "flow {k}");
        }
    }

    #[test]
    fn report_round_trips() {
        let line = report(1_000_000, 64, 2.0, 0);
        assert_eq!(
            parse_report(&format!("noise\n{line}\n")),
            Some((1_000_000, 2.0))
        );
        assert_eq!(parse_report("nothing"), None);
    }
}
