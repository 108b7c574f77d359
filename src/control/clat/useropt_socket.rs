//! The rtnetlink socket on which the CLAT hears the kernel's copies of Router
//! Advertisement options (RTM_NEWNDUSEROPT, group RTNLGRP_ND_USEROPT): the PREF64
//! source when the raw ICMPv6 socket cannot be opened for lack of CAP_NET_RAW.
//!
//! Joining the group needs no capability. The messages are parsed sans-IO in
//! [`crate::clat::useropt`]; only those sent by the kernel (port id 0) are returned, as
//! another process of the namespace could send to the group.

use std::io;
use std::mem::size_of;
use std::os::fd::{AsRawFd, OwnedFd};
use std::time::Duration;

use super::sock::{cvt, raw_socket, set_recv_timeout, setsockopt};

pub struct UseroptSocket {
    fd: OwnedFd,
}

impl UseroptSocket {
    /// Opens a NETLINK_ROUTE socket in RTNLGRP_ND_USEROPT; a blocking read waits at
    /// most `timeout`.
    pub fn open(timeout: Duration) -> io::Result<UseroptSocket> {
        let fd = raw_socket(libc::AF_NETLINK, libc::NETLINK_ROUTE)?;
        // SAFETY: all-zero is a valid sockaddr_nl (port id 0: the kernel picks one).
        let mut sa: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        sa.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `sa` is live for the call and its length is given.
        cvt(unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_nl).cast(),
                size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        })?;
        let group = libc::RTNLGRP_ND_USEROPT;
        setsockopt(&fd, libc::SOL_NETLINK, libc::NETLINK_ADD_MEMBERSHIP, &group)?;
        set_recv_timeout(&fd, timeout)?;
        Ok(UseroptSocket { fd })
    }

    /// One datagram from the kernel into `buf`: its length, or None when nothing came
    /// (the timeout passed, or with `wait` false nothing was queued). Datagrams from
    /// other senders are dropped.
    pub fn recv(&self, buf: &mut [u8], wait: bool) -> io::Result<Option<usize>> {
        loop {
            // SAFETY: all-zero is a valid sockaddr_nl.
            let mut from: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
            let mut len = size_of::<libc::sockaddr_nl>() as libc::socklen_t;
            let flags = if wait { 0 } else { libc::MSG_DONTWAIT };
            // SAFETY: `buf` and `from` are live, writable and as long as the lengths
            // given next to them for the whole call.
            let n = unsafe {
                libc::recvfrom(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    flags,
                    (&mut from as *mut libc::sockaddr_nl).cast(),
                    &mut len,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::WouldBlock
                    | io::ErrorKind::TimedOut
                    | io::ErrorKind::Interrupted => Ok(None),
                    _ => Err(e),
                };
            }
            if from.nl_pid == 0 {
                return Ok(Some(n as usize));
            }
        }
    }
}
