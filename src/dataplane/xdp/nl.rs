//! The kernel's tables over rtnetlink, as the XDP dataplane needs them: the route and
//! the neighbour (next-hop MAC) for a destination, an interface's index and MAC, and
//! the removal of a stale XDP program.
//!
//! Only single get requests (no dumps): a lookup is one request and one reply in a
//! buffer allocated once per socket, so a worker can call it on a cache miss.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

const NLMSG_HDR: usize = 16;
const NLMSG_ERROR: u16 = 2;
const RTM_NEWROUTE: u16 = 24;
const RTM_SETLINK: u16 = 19;
const RTN_UNICAST: u8 = 1;
const IFLA_XDP: u16 = 43;
const IFLA_XDP_FD: u16 = 1;
const IFLA_XDP_FLAGS: u16 = 3;
const XDP_FLAGS_SKB_MODE: u32 = 1 << 1;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
const NLA_F_NESTED: u16 = 1 << 15;
/// Neighbour states whose link-layer address can be used (include/uapi/linux/neighbour.h).
const NUD_USABLE: u16 = libc::NUD_REACHABLE
    | libc::NUD_STALE
    | libc::NUD_DELAY
    | libc::NUD_PROBE
    | libc::NUD_PERMANENT
    | libc::NUD_NOARP;

/// Where the kernel would send a packet for a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub oif: u32,
    /// The next hop: the gateway, or the destination itself when on-link.
    pub next_hop: IpAddr,
}

/// A NETLINK_ROUTE socket with its buffers.
pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
    req: Vec<u8>,
    buf: Vec<u8>,
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn push_attr(v: &mut Vec<u8>, ty: u16, data: &[u8]) {
    let len = 4 + data.len();
    v.extend_from_slice(&(len as u16).to_ne_bytes());
    v.extend_from_slice(&ty.to_ne_bytes());
    v.extend_from_slice(data);
    v.resize(align4(v.len()), 0);
}

/// The attributes (type, payload) that follow a fixed header of `fixed` bytes.
fn attrs(msg: &[u8], fixed: usize) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = msg.get(align4(fixed)..).unwrap_or_default();
    std::iter::from_fn(move || {
        let len = usize::from(u16::from_ne_bytes([*rest.first()?, *rest.get(1)?]));
        let ty = u16::from_ne_bytes([*rest.get(2)?, *rest.get(3)?]);
        let data = rest.get(4..len)?;
        rest = rest.get(align4(len)..).unwrap_or_default();
        Some((ty & 0x3fff, data))
    })
}

fn addr_bytes(a: IpAddr) -> ([u8; 16], usize, u8) {
    let mut b = [0u8; 16];
    match a {
        IpAddr::V4(v) => {
            b[..4].copy_from_slice(&v.octets());
            (b, 4, libc::AF_INET as u8)
        }
        IpAddr::V6(v) => (v.octets(), 16, libc::AF_INET6 as u8),
    }
}

fn ip_from(data: &[u8]) -> Option<IpAddr> {
    match data.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(data).ok()?)),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(data).ok()?)),
        _ => None,
    }
}

impl Netlink {
    pub fn open() -> io::Result<Netlink> {
        // SAFETY: plain socket(2); the descriptor is checked and owned right after.
        let raw = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                libc::NETLINK_ROUTE,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Netlink {
            // SAFETY: a fresh descriptor nobody else owns.
            fd: unsafe { OwnedFd::from_raw_fd(raw) },
            seq: 0,
            req: Vec::with_capacity(256),
            buf: vec![0u8; 8192],
        })
    }

    /// Starts a request of type `ty` in `self.req`.
    fn begin(&mut self, ty: u16, flags: u16) {
        self.seq = self.seq.wrapping_add(1);
        self.req.clear();
        self.req.extend_from_slice(&0u32.to_ne_bytes());
        self.req.extend_from_slice(&ty.to_ne_bytes());
        self.req
            .extend_from_slice(&((libc::NLM_F_REQUEST as u16) | flags).to_ne_bytes());
        self.req.extend_from_slice(&self.seq.to_ne_bytes());
        self.req.extend_from_slice(&0u32.to_ne_bytes());
    }

    /// Sends `self.req` and returns the reply's payload (after the netlink header) and
    /// type; a netlink error becomes an `io::Error`.
    fn call(&mut self) -> io::Result<(u16, &[u8])> {
        let len = self.req.len() as u32;
        self.req[..4].copy_from_slice(&len.to_ne_bytes());
        // SAFETY: sends our initialised request buffer; the kernel reads `len` bytes.
        let r = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                self.req.as_ptr().cast(),
                self.req.len(),
                0,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        loop {
            // SAFETY: receives into our buffer, at most its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    self.buf.as_mut_ptr().cast(),
                    self.buf.len(),
                    0,
                )
            };
            if n < 0 {
                return Err(io::Error::last_os_error());
            }
            let msg = self.buf.get(..n as usize).unwrap_or_default();
            if msg.len() < NLMSG_HDR {
                return Err(io::Error::other("short netlink reply"));
            }
            let ty = u16::from_ne_bytes([msg[4], msg[5]]);
            let seq = u32::from_ne_bytes([msg[8], msg[9], msg[10], msg[11]]);
            if seq != self.seq {
                continue;
            }
            let mlen =
                (u32::from_ne_bytes([msg[0], msg[1], msg[2], msg[3]]) as usize).min(msg.len());
            let body = msg.get(NLMSG_HDR..mlen).unwrap_or_default();
            if ty == NLMSG_ERROR {
                let err = i32::from_ne_bytes(
                    body.get(..4)
                        .and_then(|b| b.try_into().ok())
                        .unwrap_or([0; 4]),
                );
                if err != 0 {
                    return Err(io::Error::from_raw_os_error(-err));
                }
            }
            let len = body.len();
            let start = NLMSG_HDR;
            return Ok((ty, self.buf.get(start..start + len).unwrap_or_default()));
        }
    }

    /// The kernel's route for `dst` (RTM_GETROUTE): None for anything but a unicast
    /// route (local, unreachable, blackhole, no route).
    pub fn route(&mut self, dst: IpAddr) -> io::Result<Option<Route>> {
        let (b, alen, family) = addr_bytes(dst);
        self.begin(libc::RTM_GETROUTE, 0);
        // struct rtmsg: family, dst_len, src_len, tos, table, protocol, scope, type, flags.
        self.req
            .extend_from_slice(&[family, (alen * 8) as u8, 0, 0, 0, 0, 0, 0]);
        self.req.extend_from_slice(&0u32.to_ne_bytes());
        push_attr(&mut self.req, libc::RTA_DST, &b[..alen]);
        let (ty, body) = match self.call() {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ENETUNREACH | libc::EHOSTUNREACH)
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if ty != RTM_NEWROUTE || body.get(7) != Some(&RTN_UNICAST) {
            return Ok(None);
        }
        let (mut oif, mut gw) = (None, None);
        for (t, d) in attrs(body, 12) {
            match t {
                libc::RTA_OIF => oif = d.try_into().ok().map(u32::from_ne_bytes),
                libc::RTA_GATEWAY => gw = ip_from(d),
                _ => {}
            }
        }
        Ok(oif.map(|oif| Route {
            oif,
            next_hop: gw.unwrap_or(dst),
        }))
    }

    /// The usable link-layer address of `addr` on `ifindex` (RTM_GETNEIGH); None while
    /// the kernel has not resolved it.
    pub fn neighbour(&mut self, ifindex: u32, addr: IpAddr) -> io::Result<Option<[u8; 6]>> {
        let (b, alen, family) = addr_bytes(addr);
        self.begin(libc::RTM_GETNEIGH, 0);
        // struct ndmsg: family, pad1, pad2, ifindex, state, flags, type.
        self.req.extend_from_slice(&[family, 0, 0, 0]);
        self.req.extend_from_slice(&(ifindex as i32).to_ne_bytes());
        self.req.extend_from_slice(&[0, 0, 0, 0]);
        push_attr(&mut self.req, libc::NDA_DST, &b[..alen]);
        let body = match self.call() {
            Ok((_, body)) => body,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => return Ok(None),
            Err(e) => return Err(e),
        };
        let state = u16::from_ne_bytes([*body.get(8).unwrap_or(&0), *body.get(9).unwrap_or(&0)]);
        if state & NUD_USABLE == 0 {
            return Ok(None);
        }
        Ok(attrs(body, 12)
            .find(|(t, _)| *t == libc::NDA_LLADDR)
            .and_then(|(_, d)| <[u8; 6]>::try_from(d).ok()))
    }

    /// Attaches a program without a link, as `ip link set dev X xdpgeneric fd N` does:
    /// how the tests make the stale program a start-up must replace.
    #[cfg(test)]
    pub fn attach_xdp_legacy(&mut self, ifindex: u32, prog_fd: i32, flags: u32) -> io::Result<()> {
        self.set_xdp_fd(ifindex, prog_fd, flags)
    }

    /// Removes an XDP program attached without a link (by `ip link set dev X xdp ...`,
    /// or by an older tool), in generic and in native mode (a request without a mode
    /// removes only the native one). A program attached through a BPF link cannot be
    /// removed this way and needs none (it went with its process).
    pub fn detach_xdp(&mut self, ifindex: u32) -> io::Result<()> {
        // A device without native XDP refuses the native request: enough if one worked.
        let generic = self.set_xdp_fd(ifindex, -1, XDP_FLAGS_SKB_MODE);
        let native = self.set_xdp_fd(ifindex, -1, XDP_FLAGS_DRV_MODE);
        generic.or(native)
    }

    /// IFLA_XDP with a program descriptor (-1: none) and mode flags.
    fn set_xdp_fd(&mut self, ifindex: u32, fd: i32, flags: u32) -> io::Result<()> {
        self.begin(RTM_SETLINK, libc::NLM_F_ACK as u16);
        // struct ifinfomsg: family, pad, type, index, flags, change.
        self.req
            .extend_from_slice(&[libc::AF_UNSPEC as u8, 0, 0, 0]);
        self.req.extend_from_slice(&(ifindex as i32).to_ne_bytes());
        self.req.extend_from_slice(&[0u8; 8]);
        let mut nested = Vec::new();
        push_attr(&mut nested, IFLA_XDP_FD, &fd.to_ne_bytes());
        push_attr(&mut nested, IFLA_XDP_FLAGS, &flags.to_ne_bytes());
        push_attr(&mut self.req, IFLA_XDP | NLA_F_NESTED, &nested);
        self.call().map(|_| ())
    }
}

/// An interface's index, or None if there is no such interface.
pub fn ifindex(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// An interface's MAC address (SIOCGIFHWADDR).
pub fn hwaddr(name: &str) -> io::Result<[u8; 6]> {
    // SAFETY: all-zero is a valid ifreq (a name array and a union of plain data).
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(name.bytes().take(15)) {
        *d = s as libc::c_char;
    }
    // SAFETY: plain socket(2).
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nobody else owns.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: SIOCGIFHWADDR reads and writes one `struct ifreq`, live for the call.
    let r = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFHWADDR, &mut req) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFHWADDR filled the union's sockaddr member.
    let sa = unsafe { req.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (d, s) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *d = *s as u8;
    }
    Ok(mac)
}
