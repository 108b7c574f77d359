//! The raw ICMPv6 socket on which the CLAT hears Router Advertisements (RFC 8781 PREF64).
//!
//! Bound to the uplink (SO_BINDTODEVICE) and filtered in the kernel to type 134
//! (ICMP6_FILTER, RFC 3542 §3.2), so it wakes only for RAs of that link. The kernel
//! verifies the ICMPv6 checksum of raw ICMPv6 sockets itself. Opening it needs
//! CAP_NET_RAW (which container runtimes grant by default); without it the CLAT reads
//! the kernel's copies of the RA options instead (`super::useropt_socket`).

use std::io;
use std::mem::size_of;
use std::net::Ipv6Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use super::sock::{cvt, raw_socket, set_recv_timeout, setsockopt};

/// `ICMP6_FILTER` (linux/icmpv6.h); libc does not export it.
const ICMP6_FILTER: libc::c_int = 1;

/// One message read by [`RaSocket::recv`].
pub struct Received {
    pub len: usize,
    pub from: Ipv6Addr,
    pub hop_limit: Option<u8>,
}

/// The IPV6_HOPLIMIT control message of a `recvmsg` result.
fn hop_limit(msg: &libc::msghdr) -> Option<u8> {
    // SAFETY: `msg` was filled in by recvmsg; CMSG_FIRSTHDR/NXTHDR stay within its
    // control buffer and return null at its end, and CMSG_DATA of an IPV6_HOPLIMIT
    // message holds an int (RFC 3542 §6.3), read unaligned.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::IPPROTO_IPV6 && (*c).cmsg_type == libc::IPV6_HOPLIMIT {
                let v = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::c_int>());
                return u8::try_from(v).ok();
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    None
}

pub struct RaSocket {
    fd: OwnedFd,
    ifindex: u32,
}

impl RaSocket {
    /// Opens the socket on `uplink`, reads waiting at most `timeout` per call.
    pub fn open(uplink: &str, timeout: Duration) -> io::Result<RaSocket> {
        let fd = raw_socket(libc::AF_INET6, libc::IPPROTO_ICMPV6)?;
        // RFC 3542 §3.2: a set bit blocks the type; pass only Router Advertisements.
        let mut filter = [u32::MAX; 8];
        let t = usize::from(crate::clat::pref64::ROUTER_ADVERTISEMENT);
        filter[t >> 5] &= !(1u32 << (t & 31));
        setsockopt(&fd, libc::IPPROTO_ICMPV6, ICMP6_FILTER, &filter)?;
        let name = uplink.as_bytes();
        // SAFETY: `name` is live for the call; SO_BINDTODEVICE takes its bytes and
        // length (no NUL needed).
        cvt(unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                name.as_ptr().cast(),
                name.len() as libc::socklen_t,
            )
        })?;
        set_recv_timeout(&fd, timeout)?;
        // The hop limit of each RA comes with it (RFC 3542 §6.3), for RFC 4861 §6.1.2.
        let on: libc::c_int = 1;
        setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, &on)?;
        // RFC 4861 §6.1.1: routers drop a solicitation whose hop limit is not 255.
        let hops: libc::c_int = 255;
        setsockopt(&fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, &hops)?;
        let name = std::ffi::CString::new(uplink).map_err(|_| io::ErrorKind::InvalidInput)?;
        // SAFETY: `name` is a NUL-terminated string live for the call.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        if ifindex == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(RaSocket { fd, ifindex })
    }

    /// Sends a Router Solicitation (RFC 4861 §4.1, no options) to all-routers, so that
    /// the routers answer now rather than at their next periodic RA (minutes).
    pub fn solicit(&self) -> io::Result<()> {
        let rs = [133u8, 0, 0, 0, 0, 0, 0, 0];
        // SAFETY: all-zero is a valid sockaddr_in6.
        let mut to: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        to.sin6_family = libc::AF_INET6 as libc::sa_family_t;
        to.sin6_addr.s6_addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2).octets();
        to.sin6_scope_id = self.ifindex;
        // SAFETY: `rs` and `to` are live for the call and their lengths are given; the
        // kernel fills in the ICMPv6 checksum of raw ICMPv6 sockets.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                rs.as_ptr().cast(),
                rs.len(),
                0,
                (&to as *const libc::sockaddr_in6).cast(),
                size_of::<libc::sockaddr_in6>() as libc::socklen_t,
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }

    /// One ICMPv6 message (from its type byte), its source and the hop limit it
    /// arrived with (None if the kernel did not say), or None when the timeout passed
    /// first.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        // SAFETY: all-zero is a valid sockaddr_in6, iovec and msghdr.
        let mut from: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
        // Room for one IPV6_HOPLIMIT control message (an int), u64-aligned.
        let mut control = [0u64; 8];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: as above.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_name = (&mut from as *mut libc::sockaddr_in6).cast();
        msg.msg_namelen = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = size_of::<[u64; 8]>() as _;
        // SAFETY: every pointer in `msg` refers to a live, writable buffer of the length
        // given next to it (`buf`, `from`, `control`), all outliving the call.
        let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock
                | io::ErrorKind::TimedOut
                | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        Ok(Some(Received {
            len: n as usize,
            from: Ipv6Addr::from(from.sin6_addr.s6_addr),
            hop_limit: hop_limit(&msg),
        }))
    }
}
