//! Next-hop MACs for translated frames, from the kernel's tables, cached per worker;
//! and the kernel path for what the cache cannot send.
//!
//! A miss costs two netlink requests (route, then neighbour), so results are kept in a
//! direct-mapped table keyed by destination for [`TTL_MS`] (a changed neighbour or
//! route is followed within that time). A destination whose neighbour the kernel has not
//! resolved, or whose route leaves through another interface, is sent through a raw
//! socket instead: the kernel routes it, resolves the neighbour (ARP/ND) on the way,
//! and the next lookup after [`RETRY_MS`] finds it resolved.

use std::io::{self, IoSlice};
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::nl::{Netlink, Route};

const SLOTS: usize = 4096;
pub const TTL_MS: u64 = 2000;
pub const RETRY_MS: u64 = 100;

/// How a translated frame leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hop {
    /// On our socket of that family, to this MAC.
    Direct([u8; 6]),
    /// Through the kernel (raw socket).
    Kernel,
}

#[derive(Clone, Copy)]
struct Slot {
    dst: [u8; 16],
    hop: Hop,
    expires: u64,
}

const EMPTY: Slot = Slot {
    dst: [0; 16],
    hop: Hop::Kernel,
    expires: 0,
};

pub struct NextHops {
    slots: Box<[Slot]>,
    nl: Netlink,
    /// The interface each family leaves through: IPv4 on [0], IPv6 on [1].
    oif: [u32; 2],
    seed: u64,
}

fn key(dst: IpAddr) -> [u8; 16] {
    match dst {
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
        IpAddr::V6(a) => a.octets(),
    }
}

impl NextHops {
    pub fn new(ipv4_oif: u32, ipv6_oif: u32, seed: u64) -> io::Result<NextHops> {
        Ok(NextHops {
            slots: vec![EMPTY; SLOTS].into_boxed_slice(),
            nl: Netlink::open()?,
            oif: [ipv4_oif, ipv6_oif],
            seed,
        })
    }

    fn index(&self, k: &[u8; 16]) -> usize {
        let (a, b) = k.split_at(8);
        let x = u64::from_ne_bytes(a.try_into().unwrap_or_default())
            ^ u64::from_ne_bytes(b.try_into().unwrap_or_default()).rotate_left(29);
        let h = (x ^ self.seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        (h >> 52) as usize % SLOTS
    }

    /// How a frame to `dst` leaves at `now` (ms).
    #[inline]
    pub fn get(&mut self, dst: IpAddr, now: u64) -> Hop {
        let k = key(dst);
        let i = self.index(&k);
        if let Some(s) = self.slots.get(i)
            && s.dst == k
            && s.expires > now
        {
            return s.hop;
        }
        let (hop, ttl) = self.resolve(dst);
        if let Some(s) = self.slots.get_mut(i) {
            *s = Slot {
                dst: k,
                hop,
                expires: now + ttl,
            };
        }
        hop
    }

    #[cold]
    fn resolve(&mut self, dst: IpAddr) -> (Hop, u64) {
        let want = self.oif[usize::from(dst.is_ipv6())];
        let Ok(Some(Route { oif, next_hop })) = self.nl.route(dst) else {
            return (Hop::Kernel, TTL_MS);
        };
        if oif != want {
            return (Hop::Kernel, TTL_MS);
        }
        match self.nl.neighbour(oif, next_hop) {
            Ok(Some(mac)) => (Hop::Direct(mac), TTL_MS),
            _ => (Hop::Kernel, RETRY_MS),
        }
    }
}

/// Raw sockets that hand whole IP packets to the kernel's output path.
pub struct KernelPath {
    v4: OwnedFd,
    v6: OwnedFd,
}

fn raw_socket(family: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); IPPROTO_RAW means "we write the IP header" (IP_HDRINCL
    // for IPv4, and the same for IPv6 since Linux 4.5).
    let raw = unsafe {
        libc::socket(
            family,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            libc::IPPROTO_RAW,
        )
    };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

impl KernelPath {
    pub fn open() -> io::Result<KernelPath> {
        Ok(KernelPath {
            v4: raw_socket(libc::AF_INET)?,
            v6: raw_socket(libc::AF_INET6)?,
        })
    }

    /// Sends the packet `parts` (concatenated) to `dst` through the kernel.
    pub fn send(&self, dst: IpAddr, parts: &[IoSlice<'_>]) -> io::Result<usize> {
        // SAFETY: all-zero is a valid sockaddr_storage.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let (fd, len) = match dst {
            IpAddr::V4(a) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: 0,
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(a.octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is large and aligned enough for any sockaddr.
                unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin) };
                (&self.v4, std::mem::size_of::<libc::sockaddr_in>())
            }
            IpAddr::V6(a) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: 0,
                    sin6_flowinfo: 0,
                    sin6_addr: libc::in6_addr {
                        s6_addr: a.octets(),
                    },
                    sin6_scope_id: 0,
                };
                // SAFETY: as above.
                unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin6) };
                (&self.v6, std::mem::size_of::<libc::sockaddr_in6>())
            }
        };
        // SAFETY: all-zero is a valid msghdr; the pointers set below outlive the call.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&mut ss as *mut libc::sockaddr_storage).cast();
        msg.msg_namelen = len as libc::socklen_t;
        msg.msg_iov = parts.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = parts.len() as _;
        // SAFETY: IoSlice is ABI-compatible with iovec (std guarantees it on Unix); the
        // kernel only reads the buffers.
        let r = unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, libc::MSG_DONTWAIT) };
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r as usize)
        }
    }
}
